"""Framing: 4-byte headers, 16 MB split packets joined into one logical packet, the empty
packet, and the retention cap that keeps memory bounded."""

from __future__ import annotations

import tracemalloc

from mysqlwire.protocol import MySQLDecoder
from mysqlwire.protocol.constants import CLIENT, MAX_PAYLOAD, SERVER
from mysqlwire.protocol.events import (
    Command,
    IncompletePacket,
    LocalInfileEnd,
    MalformedPacket,
    PayloadCapped,
    ResultSetEnd,
    SequenceError,
)
from mysqlwire.protocol.framing import PacketFramer
from tests.mysql_builder import (
    Conversation,
    column,
    frame,
    header,
    local_infile_request,
    ok,
    query,
    result_set,
    wire_packets,
)
from tests.protocol.helpers import decode, of, one, problems

BIG = MAX_PAYLOAD  # 16,777,215


def framed(data: bytes, chunk: int | None = None, retain_limit: int = 1 << 20) -> list:
    framer = PacketFramer(retain_limit)
    out = []
    pieces = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    for number, piece in enumerate(pieces, start=1):
        framer.receive(piece, number, float(number))
        while (packet := framer.next_packet()) is not None:
            out.append(packet)
    return out


# --- plain packets ------------------------------------------------------------------------


def test_a_packet_is_a_3_byte_length_a_sequence_id_and_the_payload():
    (packet,) = framed(frame(b"\x03select 1", seq=7))
    assert (packet.seq, packet.size, packet.payload, packet.wire_packets) == (
        7,
        9,
        b"\x03select 1",
        1,
    )


def test_several_packets_in_one_chunk_come_out_one_by_one():
    packets = framed(frame(b"one", 1) + frame(b"two", 2) + frame(b"three", 3))
    assert [p.payload for p in packets] == [b"one", b"two", b"three"]


def test_a_packet_cut_anywhere_is_joined_and_starts_at_the_frame_of_its_header():
    data = frame(b"x" * 100, 0) + frame(b"y" * 50, 1)
    packets = framed(data, chunk=3)
    assert [p.size for p in packets] == [100, 50]
    assert packets[0].frame == 1  # header bytes 0-2 arrived in frame 1
    assert packets[1].frame == 35  # its header began at byte 104 = frame 35 (3 bytes each)
    assert packets[0].end_frame == 35


def test_a_header_cut_in_two_keeps_the_frame_where_it_began():
    data = frame(b"abc", 0)
    framer = PacketFramer()
    framer.receive(data[:2], 10, 10.0)
    assert framer.next_packet() is None
    assert framer.pending() == (4, 2)
    framer.receive(data[2:], 11, 11.0)
    packet = framer.next_packet()
    assert (packet.frame, packet.end_frame, packet.payload) == (10, 11, b"abc")


def test_a_header_cut_over_four_chunks_keeps_the_frame_where_it_began():
    (packet,) = framed(frame(b"abc", 0), chunk=1)
    assert (packet.frame, packet.end_frame) == (1, 7)  # one byte a frame: header in 1-4


# --- split packets ------------------------------------------------------------------------


def test_a_payload_of_0xffffff_or_more_is_split_and_joined_back():
    payload = b"q" * (BIG + 10)
    wire = frame(payload, 3)
    assert len(wire_packets(payload, 3)) == 2
    (packet,) = framed(wire, chunk=1 << 16, retain_limit=BIG + 100)
    assert (packet.size, packet.wire_packets, packet.seq, packet.last_seq) == (BIG + 10, 2, 3, 4)
    assert packet.payload == payload


def test_a_payload_of_exactly_0xffffff_ends_with_an_empty_packet():
    payload = b"e" * BIG
    pieces = wire_packets(payload, 0)
    assert [len(p) for p in pieces] == [4 + BIG, 4]
    packets = framed(b"".join(pieces) + frame(b"next", 2), chunk=1 << 20)
    assert [(p.size, p.wire_packets) for p in packets] == [(BIG, 2), (4, 1)]


def test_a_payload_of_twice_0xffffff_is_three_wire_packets():
    packets = framed(frame(b"z" * (2 * BIG), 0), chunk=1 << 20)
    assert [(p.size, p.wire_packets, p.last_seq) for p in packets] == [(2 * BIG, 3, 2)]


def test_a_wrong_sequence_id_inside_a_split_packet_is_remembered_once():
    pieces = wire_packets(b"s" * (BIG + 1), 0)
    broken = pieces[0] + header(1, 5) + pieces[1][4:]
    (packet,) = framed(broken, chunk=1 << 20)
    assert packet.seq_break == (1, 5)


def test_a_split_query_is_one_command_with_its_logical_size_and_wire_packet_count():
    talk = Conversation().login()
    talk.command(query("select '" + "a" * BIG + "'"))
    command = one(decode(talk), Command)
    assert command.size == BIG + 10
    assert command.wire_packets == 2
    assert command.query.startswith("select 'aaa")


def test_sequence_ids_continue_across_the_pieces_of_a_split_row():
    talk = Conversation().login()
    talk.command(query("select repeat('a', 16777300)"))
    # count 1, definition 2, EOF 3, the row 4 and 5, EOF 6
    talk.server(*result_set([column("big")], [["a" * BIG]]))
    events = decode(talk)
    assert of(events, SequenceError) == []
    end = one(events, ResultSetEnd)
    assert (end.seq, end.rows, end.row_bytes) == (6, 1, BIG + 4)


# --- empty packets ------------------------------------------------------------------------


def test_an_empty_packet_where_a_command_belongs_is_malformed_like_go_sql_driver_says():
    talk = Conversation().login()
    talk.client(b"", seq=0)
    malformed = one(decode(talk), MalformedPacket)
    assert malformed.size == 0
    assert "ErrMalformPkt" in malformed.reason


def test_an_empty_packet_after_a_local_infile_upload_ends_the_upload():
    talk = Conversation().login()
    talk.command(query("LOAD DATA LOCAL INFILE 'a.csv' INTO TABLE t"))
    talk.server(local_infile_request("a.csv"))
    talk.client(b"1,2\n3,4\n").client(b"")
    talk.server(ok(2))
    events = decode(talk)
    assert problems(events) == []
    assert one(events, LocalInfileEnd).total_bytes == 8


# --- retention ----------------------------------------------------------------------------


def test_a_packet_larger_than_the_retain_limit_is_counted_not_kept():
    talk = Conversation().login()
    talk.command(query("x" * 5000))
    events = decode(talk, retain_limit=1000)
    command = one(events, Command)
    capped = one(events, PayloadCapped)
    assert (command.size, capped.size, capped.kept) == (5001, 5001, 1000)
    assert command.query == "x" * 999


def test_memory_stays_bounded_while_a_16mb_packet_never_arrives():
    decoder = MySQLDecoder(retain_limit=64 * 1024)
    talk = Conversation().login()
    decode_chunks = talk.chunks
    for number, chunk in enumerate(decode_chunks, start=1):
        decoder.receive_data(chunk.side, chunk.data, number, float(number))
    decoder.events()
    tracemalloc.start()
    try:
        decoder.receive_data(CLIENT, header(BIG - 1, 0) + b"\x03", 10, 10.0)
        block = b"x" * 65536
        for number in range(11, 11 + 160):  # 10 MB of the announced 16 MB
            decoder.receive_data(CLIENT, block, number, float(number))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    decoder.receive_eof(500, 500.0)
    incomplete = one(decoder.events(), IncompletePacket)
    assert (incomplete.expected, incomplete.received) == (BIG - 1, 1 + 160 * 65536)


def test_a_header_alone_at_the_end_of_the_stream_is_an_incomplete_packet():
    decoder = MySQLDecoder()
    talk = Conversation().login()
    for number, chunk in enumerate(talk.chunks, start=1):
        decoder.receive_data(chunk.side, chunk.data, number, float(number))
    decoder.receive_data(SERVER, b"\x07\x00", 9, 9.0)
    decoder.receive_eof(10, 10.0)
    incomplete = one(decoder.events(), IncompletePacket)
    assert (incomplete.side, incomplete.expected, incomplete.received) == (SERVER, 4, 2)
