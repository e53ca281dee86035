"""Capture gaps (resynchronise, abandon what was outstanding) and streams that are not MySQL."""

from __future__ import annotations

import pytest

from mysqlwire.protocol import MySQLDecoder, Phase, Transport
from mysqlwire.protocol.constants import CLIENT, SERVER
from mysqlwire.protocol.events import (
    Command,
    CommandFinished,
    Err,
    Greeting,
    HandshakeResponse,
    IncompletePacket,
    NotMySQL,
    Resynchronised,
    StreamGap,
    TlsVersion,
)
from tests.mysql_builder import (
    PING,
    Conversation,
    application_data,
    change_cipher_spec,
    client_hello,
    column,
    err,
    greeting,
    ok,
    query,
    result_set,
    server_hello,
    ssl_request,
)
from tests.protocol.helpers import feed, names, of, one, problems, run

HTTP_REQUEST = b"GET / HTTP/1.1\r\nHost: db.example:3306\r\n\r\n"


def gap(decoder: MySQLDecoder, side: int, size: int = 1000, frame: int = 50) -> list:
    decoder.receive_gap(side, size, frame, float(frame), stream_offset=12345)
    return decoder.events()


# --- gaps ---------------------------------------------------------------------------------


def test_a_gap_inside_a_result_set_abandons_the_command_and_the_next_one_resynchronises():
    decoder = MySQLDecoder()
    talk = Conversation().login().command(query("select a from t"))
    reply = b"".join(
        chunk.data
        for chunk in Conversation()
        .server(*result_set([column("a")], [["x"] * 1] * 20), seq=1)
        .chunks
    )
    talk.raw(SERVER, reply[:30])
    events = run(decoder, talk)
    events += gap(decoder, SERVER)
    later = Conversation()
    later.raw(SERVER, reply[60:])  # the rest of the lost reply: no command to anchor it
    later.command(PING).server(ok())
    events += feed(decoder, later.chunks, first_frame=60)
    shown = one(events, StreamGap)
    assert (shown.side, shown.size, shown.stream_offset) == (SERVER, 1000, 12345)
    assert one(events, IncompletePacket).side == SERVER
    finished = of(events, CommandFinished)
    assert [(f.command, f.outcome) for f in finished] == [("COM_QUERY", "gap"), ("COM_PING", "ok")]
    resync = one(events, Resynchronised)
    assert resync.skipped == len(reply) - 60
    assert not resync.initial  # after a gap: bytes are missing, a capture_gap


def test_a_gap_on_the_client_side_resumes_at_the_next_command():
    decoder = MySQLDecoder()
    events = run(decoder, Conversation().login())
    events += gap(decoder, CLIENT)
    assert decoder.phase is Phase.UNSYNCED
    tail = Conversation().command(query("select 'the middle of a long query'")).chunks[0].data[7:]
    later = Conversation().raw(CLIENT, tail).command(query("select 1"))
    later.server(*result_set([column("1")], [["1"]]))
    events += feed(decoder, later.chunks, first_frame=60)
    assert [c.query for c in of(events, Command)] == ["select 1"]
    assert one(events, CommandFinished).outcome == "result_set"
    assert decoder.phase is Phase.COMMAND


def test_after_a_gap_a_command_later_in_a_segment_is_found():
    decoder = MySQLDecoder()
    run(decoder, Conversation().login().command(PING).server(ok()))
    gap(decoder, CLIENT)
    ping = Conversation().command(PING).chunks[0].data
    decoder.receive_data(CLIENT, b"...rest of something" + ping, 60, 60.0)
    events = decoder.events()
    assert one(events, Command).name == "COM_PING"
    assert one(events, Resynchronised).skipped == len(b"...rest of something")


def test_a_gap_under_compression_resumes_at_the_next_compressed_command():
    decoder = MySQLDecoder()
    talk = Conversation().login(compression="zlib").command(PING).server(ok())
    run(decoder, talk)
    gap(decoder, SERVER)
    later = Conversation().compress("zlib").command(query("select 5")).server(ok())
    events = feed(decoder, later.chunks, first_frame=60)
    assert one(events, Command).query == "select 5"
    assert one(events, CommandFinished).outcome == "ok"
    assert decoder.transport == [Transport.COMPRESSED, Transport.COMPRESSED]


def test_a_gap_in_tls_resumes_at_the_next_record():
    decoder = MySQLDecoder()
    talk = Conversation().server(greeting(), seq=0).client(ssl_request())
    talk.raw(CLIENT, client_hello()).raw(SERVER, server_hello() + change_cipher_spec())
    run(decoder, talk)
    gap(decoder, CLIENT)
    record = application_data(50)
    decoder.receive_data(CLIENT, record[20:] + record, 60, 60.0)
    events = decoder.events()
    assert one(events, Resynchronised).skipped == len(record) - 20
    assert decoder.tls_records[CLIENT] == 2  # the hello, and the record after the gap


def test_a_gap_before_the_login_makes_the_rest_mid_stream():
    decoder = MySQLDecoder()
    run(decoder, Conversation().server(greeting(), seq=0))
    gap(decoder, CLIENT)
    events = feed(decoder, Conversation().command(PING).server(ok()).chunks, first_frame=60)
    assert decoder.mid_stream
    assert names(events)[:2] == ["MidStreamStart", "Command"]


def test_a_lost_greeting_still_lets_the_login_and_the_commands_be_read():
    # A connection whose SYN was seen but whose greeting the capture dropped: the capture
    # layer reports the hole at the start of the server's stream before the client's login.
    talk = Conversation().login(user="app", database="shop")
    talk.command(query("select 1")).server(*result_set([column("1")], [["1"]]))
    greeting_bytes = talk.chunks.pop(0).data
    decoder = MySQLDecoder(start_seen=True)
    decoder.receive_gap(SERVER, len(greeting_bytes), 1, 1.0, stream_offset=0)
    events = decoder.events() + feed(decoder, talk.chunks, first_frame=2)
    assert problems(events) == []
    login = one(events, HandshakeResponse)
    assert (login.user, login.database) == ("app", "shop")
    assert one(events, CommandFinished).rows == 1
    assert decoder.phase is Phase.COMMAND and not decoder.mid_stream


def test_after_a_lost_greeting_a_client_speaking_http_is_still_not_mysql():
    decoder = MySQLDecoder(start_seen=True)
    decoder.receive_gap(SERVER, 78, 1, 1.0, stream_offset=0)
    events = decoder.events() + run(decoder, Conversation().raw(CLIENT, HTTP_REQUEST))
    assert one(events, NotMySQL).protocol == "http"


# --- not MySQL ----------------------------------------------------------------------------

X_CAPABILITIES_GET = b"\x01\x00\x00\x00\x01"  # X protocol: length 1, CON_CAPABILITIES_GET


@pytest.mark.parametrize(
    ("first", "protocol"),
    [
        (HTTP_REQUEST, "http"),
        (client_hello(), "tls (without SSLRequest)"),
        (X_CAPABILITIES_GET, "mysqlx (X protocol)"),
        (b"SSH-2.0-OpenSSH_9.6\r\n", "ssh"),
        (bytes(range(200, 256)), "unknown"),
    ],
)
def test_a_client_that_speaks_first_is_not_mysql(first, protocol):
    decoder = MySQLDecoder(start_seen=True)
    events = run(decoder, Conversation().raw(CLIENT, first).raw(SERVER, b"HTTP/1.1 400 Bad\r\n"))
    verdict = one(events, NotMySQL)
    assert (verdict.side, verdict.protocol) == (CLIENT, protocol)
    assert decoder.phase is Phase.NOT_MYSQL
    assert decoder.opaque_bytes == [len(first), 18]
    assert names(events) == ["NotMySQL"]


def test_a_server_whose_first_bytes_are_no_greeting_is_not_mysql():
    decoder = MySQLDecoder(start_seen=True)
    events = run(decoder, Conversation().raw(SERVER, b"SSH-2.0-OpenSSH_9.6\r\n"))
    verdict = one(events, NotMySQL)
    assert (verdict.side, verdict.protocol) == (SERVER, "ssh")


def test_an_http_client_is_recognised_without_the_connection_start():
    decoder = MySQLDecoder(start_seen=False)
    events = run(decoder, Conversation().raw(CLIENT, HTTP_REQUEST))
    assert one(events, NotMySQL).protocol == "http"


def test_tls_without_the_connection_start_is_taken_for_mysql_over_tls():
    # Without the SYN the SSLRequest may simply have been missed: the records are counted as
    # TLS (said to be inferred) rather than declared foreign.
    decoder = MySQLDecoder(start_seen=False)
    talk = Conversation().raw(CLIENT, client_hello()).raw(SERVER, server_hello("TLS 1.3"))
    events = run(decoder, talk)
    assert of(events, NotMySQL) == []
    assert decoder.tls and "tls" in decoder.inferred
    assert one(events, TlsVersion).version == "TLS 1.3"


def test_the_x_protocol_without_the_connection_start_is_recognised_by_its_replies():
    decoder = MySQLDecoder(start_seen=False)
    talk = Conversation()
    for _ in range(3):
        talk.raw(CLIENT, b"\x0b\x00\x00\x00\x0c" + b"\x0a\x08select 1")  # StmtExecute
        talk.raw(SERVER, b"\x05\x00\x00\x00\x0c\x08\x12\x00\x00" + b"\x01\x00\x00\x00\x11")
    events = run(decoder, talk)
    verdict = one(events, NotMySQL)
    assert (verdict.protocol, verdict.side) == ("mysqlx (X protocol)", SERVER)
    assert decoder.phase is Phase.NOT_MYSQL


def test_a_client_answering_the_greeting_with_tls_is_not_mysql_but_the_server_is_heard():
    decoder = MySQLDecoder()
    talk = Conversation().server(greeting(), seq=0).raw(CLIENT, client_hello())
    talk.server(err(1043, "Bad handshake", "08S01"), seq=2)
    events = run(decoder, talk)
    verdict = one(events, NotMySQL)
    assert (verdict.side, verdict.protocol) == (CLIENT, "tls (without SSLRequest)")
    assert one(events, Err).code == 1043
    assert decoder.transport[CLIENT] is Transport.OPAQUE


def test_a_client_answering_the_greeting_with_http_is_not_mysql():
    talk = Conversation().server(greeting(), seq=0).raw(CLIENT, HTTP_REQUEST)
    events = run(MySQLDecoder(), talk)
    assert one(events, NotMySQL).protocol == "http"


def test_a_login_cut_into_tiny_segments_is_still_a_login():
    login = Conversation().login()
    data = login.chunks[1].data
    talk = Conversation().raw(SERVER, login.chunks[0].data)
    for index in range(len(data)):
        talk.raw(CLIENT, data[index : index + 1])
    talk.raw(SERVER, login.chunks[2].data)
    events = run(MySQLDecoder(), talk)
    assert names(events) == ["Greeting", "HandshakeResponse", "Ok"]
    assert problems(events) == []


# --- holes inside a packet (what a snapshot length does) -----------------------------------


def test_a_hole_inside_the_greeting_keeps_version_and_thread_id_and_the_framing():
    decoder = MySQLDecoder()
    hello = Conversation().server(greeting("10.11.6-MariaDB", 45), seq=0).chunks[0].data
    decoder.receive_data(SERVER, hello[:40], 1, 1.0)
    decoder.receive_gap(SERVER, len(hello) - 40, 2, 2.0, 40, True)
    events = decoder.events()
    events += feed(decoder, Conversation().login().chunks[1:], first_frame=3)
    shown = one(events, Greeting)
    assert (shown.server_version, shown.thread_id) == ("10.11.6-MariaDB", 45)
    cut = one(events, IncompletePacket)
    assert (cut.expected, cut.received) == (len(hello) - 4, 36)
    assert names(events)[-2:] == ["HandshakeResponse", "Ok"]
    assert of(events, Resynchronised) == []


def test_a_hole_inside_the_login_keeps_the_user_and_drops_what_it_cut():
    decoder = MySQLDecoder()
    talk = Conversation().login(user="app", database="a_long_database_name")
    login = talk.chunks[1].data
    run(decoder, Conversation().raw(SERVER, talk.chunks[0].data))
    decoder.receive_data(CLIENT, login[:60], 2, 2.0)
    decoder.receive_gap(CLIENT, len(login) - 60, 3, 3.0, 60, True)
    decoder.receive_data(SERVER, talk.chunks[2].data, 4, 4.0)
    events = decoder.events()
    shown = one(events, HandshakeResponse)
    assert (shown.user, shown.database) == ("app", None)  # the name was cut: not guessed
    assert decoder.phase is Phase.COMMAND


def test_a_hole_inside_a_row_keeps_counting_the_result_set():
    decoder = MySQLDecoder()
    run(decoder, Conversation().login().command(query("select v from t")))
    reply = Conversation()
    reply.server(*result_set([column("v")], [["a" * 3000], ["b"], ["c"]]), seq=1)
    data = reply.chunks[0].data
    row_start = data.index(b"a" * 10)
    decoder.receive_data(SERVER, data[: row_start + 100], 10, 10.0)
    decoder.receive_gap(SERVER, 2900, 11, 11.0, row_start + 100, True)
    decoder.receive_data(SERVER, data[row_start + 3000 :], 12, 12.0)
    events = decoder.events()
    finished = one(events, CommandFinished)
    assert (finished.outcome, finished.rows) == ("result_set", 3)
    assert one(events, IncompletePacket).received == 3 + 100
    assert of(events, Resynchronised) == []


def test_a_hole_inside_a_tls_record_keeps_the_record_boundaries():
    decoder = MySQLDecoder()
    talk = Conversation().server(greeting(), seq=0).client(ssl_request())
    talk.raw(CLIENT, client_hello()).raw(SERVER, server_hello() + change_cipher_spec())
    run(decoder, talk)
    record = application_data(1000)
    decoder.receive_data(CLIENT, record[:300], 20, 20.0)
    decoder.receive_gap(CLIENT, 705, 21, 21.0, 0, True)
    decoder.receive_data(CLIENT, application_data(10), 22, 22.0)
    assert of(decoder.events(), Resynchronised) == []
    assert decoder.tls_records[CLIENT] == 3
