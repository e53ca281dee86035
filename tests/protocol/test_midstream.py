"""A capture that began after the connection opened: find packet boundaries, infer what the
missed handshake negotiated (DEPRECATE_EOF, compression, query attributes) and say so."""

from __future__ import annotations

import pytest

from mysqlwire.protocol import MySQLDecoder, Phase, Transport
from mysqlwire.protocol.constants import CLIENT, SERVER
from mysqlwire.protocol.events import (
    Command,
    CommandFinished,
    CompressionStarted,
    MidStreamStart,
    NotMySQL,
    Ok,
    Resynchronised,
    Undecodable,
)
from tests.mysql_builder import (
    LONGLONG,
    PING,
    STRING,
    Conversation,
    Param,
    application_data,
    column,
    column_definition,
    eof,
    ok,
    prepare_ok,
    query,
    result_set,
    stmt_prepare,
)
from tests.protocol.helpers import names, of, one, problems, run


def mid_stream(talk: Conversation, **options) -> tuple[MySQLDecoder, list]:
    decoder = MySQLDecoder(start_seen=False, **options)
    return decoder, run(decoder, talk)


def test_the_first_command_anchors_the_decoding_and_the_start_is_announced():
    talk = Conversation().command(query("select 1")).server(*result_set([column("1")], [["1"]]))
    decoder, events = mid_stream(talk)
    assert names(events)[:2] == ["MidStreamStart", "Command"]
    start = one(events, MidStreamStart)
    assert "handshake" in start.inferred
    assert decoder.mid_stream and decoder.phase is Phase.COMMAND
    assert one(events, CommandFinished).outcome == "result_set"
    assert problems(events) == []


def test_server_bytes_before_any_command_are_skipped_then_resynchronised():
    talk = Conversation().server(*result_set([column("a")], [["x"]]), seq=1)  # tail of a reply
    talk.command(PING).server(ok())
    _decoder, events = mid_stream(talk)
    skipped = one(events, Resynchronised)
    assert (skipped.side, skipped.skipped) == (SERVER, len(talk.chunks[0].data))
    # the evidence points at the skipped bytes (frame 1), the event at where decoding resumed
    assert (skipped.first_frame, skipped.frame) == (1, 3)
    assert skipped.initial  # the tail of a reply sent before the capture: nothing is missing
    assert one(events, CommandFinished).outcome == "ok"


def test_a_client_chunk_that_starts_inside_a_packet_is_skipped():
    tail = Conversation().command(query("select 'a long query text'")).chunks[0].data[9:]
    talk = Conversation().raw(CLIENT, tail).command(PING).server(ok())
    _decoder, events = mid_stream(talk)
    assert [c.name for c in of(events, Command)] == ["COM_PING"]
    assert one(events, Resynchronised).skipped == len(tail)


def test_deprecate_eof_is_inferred_from_an_eof_after_the_column_definitions():
    talk = Conversation().command(query("select 1"))
    talk.server(*result_set([column("1")], [["1"]], deprecate_eof=False))
    decoder, events = mid_stream(talk)
    assert decoder.deprecate_eof is False
    assert decoder.inferred["deprecate_eof"] is False
    assert problems(events) == []


def test_deprecate_eof_is_inferred_from_a_row_right_after_the_column_definitions():
    talk = Conversation().command(query("select 1"))
    talk.server(*result_set([column("1")], [["1"], ["2"]], deprecate_eof=True))
    talk.command(query("select 2")).server(*result_set([column("2")], [["3"]], deprecate_eof=True))
    decoder, events = mid_stream(talk)
    assert decoder.deprecate_eof is True
    assert [e.rows for e in of(events, CommandFinished)] == [2, 1]
    assert problems(events) == []


@pytest.mark.parametrize("algorithm", ["zlib", "zstd", "stored"])
def test_compression_is_inferred_from_the_packet_layout(algorithm):
    talk = Conversation().compress(algorithm)
    talk.command(query("select id from t")).server(*result_set([column("id")], [["1"], ["2"]]))
    decoder, events = mid_stream(talk)
    started = one(events, CompressionStarted)
    assert started.inferred
    assert started.algorithm == ("zstd" if algorithm == "zstd" else "zlib")
    assert decoder.compression == started.algorithm
    assert decoder.transport == [Transport.COMPRESSED, Transport.COMPRESSED]
    assert "compression" in one(events, MidStreamStart).inferred
    assert one(events, Command).query == "select id from t"
    assert one(events, CommandFinished).rows == 2
    assert problems(events) == []


def test_assumed_protocol_41_reads_the_ok_of_a_compressed_mid_stream_capture():
    talk = Conversation().compress("stored").command(query("use `test`")).server(ok())
    _decoder, events = mid_stream(talk)
    answer = one(events, Ok)
    assert (answer.status, answer.warnings, answer.info) == (2, 0, "")


def test_query_attributes_are_inferred_from_the_prefix_of_a_query():
    talk = Conversation().command(query("select 1", attributes=[]))
    decoder, events = mid_stream(talk)
    assert one(events, Command).query == "select 1"
    assert decoder.inferred["query_attributes"] is True


def test_query_attributes_with_values_are_inferred_too():
    attributes = [Param(STRING, "abc", "trace_id"), Param(LONGLONG, 7, "n")]
    talk = Conversation().command(query("select 2", attributes=attributes))
    _decoder, events = mid_stream(talk)
    command = one(events, Command)
    assert command.query == "select 2"
    assert command.arguments == {"attributes": {"trace_id": "abc", "n": "7"}}


def test_a_query_without_attributes_is_read_as_is():
    decoder, events = mid_stream(Conversation().command(query("select 3")))
    assert one(events, Command).query == "select 3"
    assert decoder.inferred["query_attributes"] is False


def test_tls_records_mid_stream_are_counted_as_tls():
    talk = Conversation().raw(CLIENT, application_data(100)).raw(SERVER, application_data(200))
    decoder, events = mid_stream(talk)
    assert decoder.tls and decoder.phase is Phase.TLS
    assert decoder.tls_records == [1, 1]
    assert "tls" in one(events, MidStreamStart).inferred


def test_the_greeting_is_read_when_only_the_syn_was_missed():
    talk = Conversation().login().command(PING).server(ok())
    decoder, events = mid_stream(talk)
    assert of(events, MidStreamStart) == []
    assert decoder.user == "app"
    assert not decoder.mid_stream


def test_mid_stream_garbage_is_reported_undecodable_at_the_end():
    """Mid-stream, unknown bytes may be the inside of a long transfer: keep looking to the end,
    then report every byte that found no boundary (not silently dropped, not called MySQL)."""
    talk = Conversation()
    for index in range(30):
        talk.raw(CLIENT if index % 2 else SERVER, bytes([0x80 + index]) * 50)
    decoder, events = mid_stream(talk)
    assert not [e for e in events if isinstance(e, NotMySQL)]
    decoder.receive_eof(99, 9.0)
    undecodable = [e for e in decoder.events() if isinstance(e, Undecodable)]
    assert sorted((e.side, e.size) for e in undecodable) == [(CLIENT, 750), (SERVER, 750)]


@pytest.mark.parametrize("params", [0, 2])
@pytest.mark.parametrize("deprecate_eof", [True, False])
def test_a_prepare_mid_stream_ends_at_its_last_definition_whether_or_not_an_eof_follows(
    deprecate_eof, params
):
    # Mid-stream the decoder cannot know whether an EOF closes the definitions; when none
    # comes after the last block, the next reply (sequence 1) is not the prepare's, and no
    # sequence error.
    talk = Conversation().command(query("select 0")).server(ok())
    reply = [prepare_ok(7, columns=1, params=params)]
    end = [] if deprecate_eof else [eof()]
    if params:
        reply += [column_definition(column("?"))] * params + end
    reply += [column_definition(column("a")), *end]
    talk.command(stmt_prepare("select a from t where b = ?")).server(*reply)
    talk.command(query("select 1")).server(ok())
    decoder, events = mid_stream(talk)
    assert problems(events) == []
    assert decoder.deprecate_eof is deprecate_eof
    prepare, after = of(events, CommandFinished)[1:]
    assert (prepare.command, prepare.outcome) == ("COM_STMT_PREPARE", "ok")
    assert prepare.response_packets == len(reply)
    assert prepare.frame == 4  # the frame of its reply (chunk 4), not of the next reply
    assert (after.command, after.outcome, after.response_packets) == ("COM_QUERY", "ok", 1)
