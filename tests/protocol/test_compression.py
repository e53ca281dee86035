"""The compressed protocol: zlib and zstd payloads, payloads stored as is, logical packets
spanning compressed packets and several in one, broken payloads."""

from __future__ import annotations

import pytest

from mysqlwire.protocol import MySQLDecoder
from mysqlwire.protocol.constants import CLIENT, SERVER
from mysqlwire.protocol.events import (
    Command,
    CommandFinished,
    IncompletePacket,
    MalformedPacket,
    ResultSetEnd,
)
from tests.mysql_builder import (
    PING,
    Conversation,
    column,
    compressed_packets,
    frame,
    ok,
    query,
    result_set,
)
from tests.protocol.helpers import decode, of, one, problems, run

ROWS = [[str(i), f"name-{i}" * 3] for i in range(40)]


def session(algorithm: str, piece_size: int = 0xFFFFFF, negotiated: str = "zlib") -> Conversation:
    talk = Conversation().login(compression=negotiated)
    talk.compress(algorithm, piece_size)
    talk.command(query("select id, name from t"))
    talk.server(*result_set([column("id"), column("name")], ROWS))
    talk.command(PING).server(ok())
    return talk


def plain_session() -> Conversation:
    talk = Conversation().login()
    talk.command(query("select id, name from t"))
    talk.server(*result_set([column("id"), column("name")], ROWS))
    talk.command(PING).server(ok())
    return talk


def finished(events) -> list[tuple]:
    return [(f.command, f.outcome, f.rows, f.response_bytes) for f in of(events, CommandFinished)]


@pytest.mark.parametrize("algorithm", ["zlib", "zstd", "stored"])
def test_a_compressed_session_decodes_like_the_plain_one(algorithm):
    negotiated = "zstd" if algorithm == "zstd" else "zlib"
    events = decode(session(algorithm, negotiated=negotiated))
    assert problems(events) == []
    assert finished(events) == finished(decode(plain_session()))


def test_several_logical_packets_share_one_compressed_packet():
    talk = session("zlib")
    # the whole result set went in one compressed packet
    assert talk.chunks[4].data[3] == 1  # compressed sequence id of the reply
    assert one(decode(talk), ResultSetEnd).rows == 40


def test_a_logical_packet_spans_compressed_packets():
    events = decode(session("zlib", piece_size=7))
    assert problems(events) == []
    assert finished(events) == finished(decode(plain_session()))


def test_the_compressed_header_cut_across_segments():
    talk = session("zlib")
    reply = talk.chunks[4]
    cut = [type(reply)(SERVER, reply.data[:3]), type(reply)(SERVER, reply.data[3:])]
    talk.chunks[4:5] = cut
    assert finished(decode(talk)) == finished(decode(plain_session()))


def test_a_payload_that_does_not_inflate_is_malformed_and_decoding_goes_on():
    talk = Conversation().login(compression="zlib")
    talk.command(query("select 1"))
    broken = b"\x0a\x00\x00\x01\x20\x00\x00" + b"not zlib!!"
    talk.raw(SERVER, broken)
    talk.command(PING).server(ok())
    events = decode(talk)
    malformed = one(events, MalformedPacket)
    assert "compressed payload" in malformed.reason
    assert of(events, Command)[-1].name == "COM_PING"


def test_a_payload_that_inflates_to_another_length_than_announced_is_malformed():
    talk = Conversation().login(compression="zlib")
    talk.command(query("select 1"))
    import zlib

    body = zlib.compress(frame(ok(), 1))
    talk.raw(SERVER, len(body).to_bytes(3, "little") + b"\x01" + (999).to_bytes(3, "little") + body)
    assert "header says 999" in one(decode(talk), MalformedPacket).reason


def test_a_compressed_header_alone_at_the_end_is_an_incomplete_packet():
    decoder = MySQLDecoder()
    run(decoder, Conversation().login(compression="zlib"))
    decoder.receive_data(CLIENT, b"\x10\x00\x00", 9, 9.0)
    decoder.receive_eof(10, 10.0)
    incomplete = one(decoder.events(), IncompletePacket)
    assert (incomplete.expected, incomplete.received) == (7, 3)


def test_a_compressed_packet_cut_by_the_end_is_an_incomplete_packet():
    decoder = MySQLDecoder()
    run(decoder, Conversation().login(compression="zlib"))
    packet = compressed_packets(frame(query("select 1" * 20), 0))[0]
    decoder.receive_data(CLIENT, packet[:20], 9, 9.0)
    decoder.receive_eof(10, 10.0)
    incomplete = one(decoder.events(), IncompletePacket)
    assert (incomplete.expected, incomplete.received) == (len(packet) - 7, 13)
