"""Sequence ids: reset at each command, continued by the reply and by split packets; a
mismatch is reported once, with the side, expected and got, in the words drivers use."""

from __future__ import annotations

from mysqlwire.protocol.constants import CLIENT, MAX_PAYLOAD, SERVER
from mysqlwire.protocol.events import Command, CommandFinished, Err, Ok, SequenceError
from tests.mysql_builder import (
    PING,
    Conversation,
    column,
    column_definition,
    compressed_packets,
    eof,
    err,
    frame,
    greeting,
    handshake_response41,
    header,
    lenenc_int,
    ok,
    query,
    result_set,
    text_row,
    wire_packets,
)
from tests.protocol.helpers import decode, of, one


def login() -> Conversation:
    return Conversation().login()


def test_a_reply_continues_the_sequence_of_its_command():
    talk = login()
    talk.command(query("select 1")).server(*result_set([column("1")], [["1"], ["2"]]))
    talk.command(PING).server(ok())
    assert of(decode(talk), SequenceError) == []


def test_a_reply_ahead_of_the_sequence_is_errpktsyncmul_for_the_client():
    talk = login()
    talk.command(PING).server(ok(), seq=2)
    error = one(decode(talk), SequenceError)
    assert (error.side, error.expected, error.got, error.compressed) == (SERVER, 1, 2, False)
    assert "ErrPktSyncMul" in error.driver_error
    assert "commands out of sync" in error.driver_error
    assert "Packet sequence number wrong - got 2 expected 1" in error.driver_error  # PyMySQL
    assert "2013" in error.driver_error  # libmysqlclient: "Packets out of order" is debug-only


def test_a_reply_behind_the_sequence_is_errpktsync_for_the_client():
    talk = login()
    talk.command(query("select 1"))
    talk.server(lenenc_int(1), column_definition(column("1")), seq=1)
    talk.server(eof(), seq=1)  # should be 3
    error = one(decode(talk), SequenceError)
    assert (error.expected, error.got) == (3, 1)
    assert "ErrPktSync " in error.driver_error or "ErrPktSync (" in error.driver_error
    assert "ErrPktSyncMul" not in error.driver_error


def test_a_command_that_does_not_start_at_zero_is_the_servers_packets_out_of_order():
    talk = login()
    talk.client(PING, seq=3)
    error = one(decode(talk), SequenceError)
    assert (error.side, error.expected, error.got) == (CLIENT, 0, 3)
    assert "1156" in error.driver_error and "out of order" in error.driver_error


def test_one_shifted_packet_is_reported_once_when_the_rest_follow_it():
    talk = login()
    talk.command(query("select a"))
    talk.server(lenenc_int(1), column_definition(column("a")), eof(), seq=1)
    # a proxy shifted the first row by one; every later packet counts on from there
    talk.server(text_row(["1"]), text_row(["2"]), eof(), seq=5)
    events = decode(talk)
    error = one(events, SequenceError)
    assert (error.expected, error.got) == (4, 5)
    assert one(events, CommandFinished).outcome == "result_set"


def test_one_shifted_packet_is_reported_once_when_the_rest_ignore_it():
    talk = login()
    talk.command(query("select a"))
    talk.server(lenenc_int(1), column_definition(column("a")), eof(), seq=1)
    talk.server(text_row(["1"]), seq=9)
    talk.server(text_row(["2"]), eof(), seq=5)  # as if the wrong one had been 4
    error = one(decode(talk), SequenceError)
    assert (error.expected, error.got) == (4, 9)


def test_idle_timeout_err_4031_comes_with_sequence_0_and_is_no_sequence_error():
    talk = login()
    talk.command(PING).server(ok())
    talk.server(
        err(4031, "The client was disconnected by the server because of inactivity.", "HY000"),
        seq=0,
    )
    events = decode(talk)
    assert of(events, SequenceError) == []
    timeout = of(events, Err)[-1]
    assert (timeout.code, timeout.phase, timeout.reply_to) == (4031, "idle", None)


def test_idle_timeout_racing_a_command_is_no_sequence_error_either():
    talk = login()
    talk.command(PING)
    talk.server(err(4031, "disconnected because of inactivity"), seq=0)
    events = decode(talk)
    assert of(events, SequenceError) == []
    assert one(events, Err).code == 4031


def test_another_err_with_sequence_0_in_a_reply_is_a_sequence_error():
    talk = login()
    talk.command(PING).server(err(1053, "Server shutdown in progress", "08S01"), seq=0)
    error = one(decode(talk), SequenceError)
    assert (error.expected, error.got) == (1, 0)


def test_a_wrong_id_between_the_pieces_of_a_split_packet_is_reported_at_the_piece():
    talk = login()
    pieces = wire_packets(query("x" * MAX_PAYLOAD), 0)
    talk.raw(CLIENT, pieces[0])
    talk.raw(CLIENT, header(len(pieces[1]) - 4, 7) + pieces[1][4:])
    events = decode(talk)
    error = one(events, SequenceError)
    assert (error.side, error.expected, error.got) == (CLIENT, 1, 7)
    assert error.frame == 5  # where the wrong piece arrived
    assert one(events, Command).wire_packets == 2


def test_the_login_exchange_is_sequenced_from_the_greeting():
    talk = Conversation().server(greeting(), seq=0).client(handshake_response41())
    talk.server(ok(), seq=5)
    error = one(decode(talk), SequenceError)
    assert (error.side, error.expected, error.got) == (SERVER, 2, 5)


# --- compressed protocol ------------------------------------------------------------------


def compressed_login() -> Conversation:
    return Conversation().login(compression="zlib")


def test_under_compression_the_compressed_sequence_is_checked():
    talk = compressed_login()
    talk.command(PING)
    talk.raw(SERVER, b"".join(compressed_packets(frame(ok(), 1), seq=4)))
    events = decode(talk)
    error = one(events, SequenceError)
    assert (error.side, error.expected, error.got, error.compressed) == (SERVER, 1, 4, True)
    assert one(events, CommandFinished).outcome == "ok"


def test_under_compression_the_inner_sequence_is_not_held_to_the_rule():
    talk = compressed_login()
    talk.command(PING)
    talk.raw(SERVER, b"".join(compressed_packets(frame(ok(), 9), seq=1)))
    events = decode(talk)
    assert of(events, SequenceError) == []
    assert len(of(events, Ok)) == 2


def test_under_compression_a_command_spanning_compressed_packets_continues_their_sequence():
    talk = compressed_login()
    stream = frame(query("y" * (MAX_PAYLOAD + 100)), 0)
    talk.raw(CLIENT, b"".join(compressed_packets(stream, seq=0)))  # compressed seq 0 and 1
    talk.raw(SERVER, b"".join(compressed_packets(frame(ok(), 2), seq=2)))
    events = decode(talk)
    assert of(events, SequenceError) == []
    assert one(events, Command).size == MAX_PAYLOAD + 101


def test_under_compression_idle_timeout_4031_restarts_the_compressed_sequence_too():
    talk = compressed_login()
    talk.command(PING).server(ok())
    talk.raw(
        SERVER,
        b"".join(compressed_packets(frame(err(4031, "inactive"), 0), seq=0, algorithm="stored")),
    )
    events = decode(talk)
    assert of(events, SequenceError) == []
    assert of(events, Err)[-1].code == 4031


def test_under_compression_pipelined_commands_each_have_their_own_compressed_sequence():
    talk = compressed_login().compress("zlib", piece_size=6)
    talk.command(query("select 1"), PING)  # 13 bytes: compressed 0, 1, 2; the ping 0
    first, second = talk.pipelined
    assert (first, second) == (3, 1)
    talk.server(*result_set([column("1")], [["1"]]), seq=1, compressed_seq=first)
    talk.server(ok(), seq=1, compressed_seq=second)
    events = decode(talk)
    assert of(events, SequenceError) == []
    assert [f.outcome for f in of(events, CommandFinished)] == ["result_set", "ok"]
