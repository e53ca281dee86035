"""Endings a real MariaDB will not produce on demand, crafted packet by packet and run through
`mysqlwire analyze` end to end: MySQL 8's idle-timeout ERR 4031, a malformed reply, a TLS 1.2
close with its encrypted close_notify, a middlebox reset over IPv6, a query error the client
walked away from, and a TLS connection whose capture began mid-stream."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from mysqlwire.cli import main
from mysqlwire.protocol.constants import CLIENT, CLIENT_SSL, SERVER
from tests.craft import TcpSession, pcap_bytes, write_capture
from tests.mysql_builder import (
    CLIENT_BASE,
    Conversation,
    application_data,
    change_cipher_spec,
    client_hello,
    column,
    command,
    encrypted_alert,
    err,
    frame,
    greeting,
    query,
    result_set,
    server_hello,
    ssl_request,
)

CLIENT_ADDR = ("10.0.0.1", 50000)
SERVER_ADDR = ("10.0.0.2", 3306)


def session(talk: Conversation, **addresses: tuple[str, int]) -> TcpSession:
    """The conversation on a TCP connection that opened in the capture."""
    s = TcpSession(
        client=addresses.get("client", CLIENT_ADDR), server=addresses.get("server", SERVER_ADDR)
    )
    s.handshake()
    for chunk in talk.chunks:
        (s.client_send if chunk.side == CLIENT else s.server_send)(chunk.data)
    return s


def analyze(tmp_path: Path, s: TcpSession, *options: str) -> dict:
    capture = write_capture(tmp_path / "crafted.pcap", pcap_bytes(s.frames))
    result = CliRunner().invoke(main, ["analyze", str(capture), "--format", "jsonl", *options])
    assert result.exit_code == 0, result.output
    [connection] = [
        json.loads(line) for line in result.stdout.splitlines() if '"type":"connection"' in line
    ]
    return connection


def kinds(connection: dict) -> set[str]:
    return {f["kind"] for f in connection["findings"]}


def test_mysql8_idle_timeout_err_4031(tmp_path: Path) -> None:
    talk = Conversation().login(version="8.0.36", thread_id=4242, deprecate_eof=True)
    talk.command(query("SELECT 1")).server(*result_set([column("1")], [["1"]], deprecate_eof=True))
    s = session(talk)
    s.wait(28800)  # wait_timeout's default, 8 hours
    s.server_send(
        frame(
            err(4031, "The client was disconnected by the server because of inactivity.", "HY000"),
            0,
        )
    )
    s.server_fin()
    s.client_fin()
    conn = analyze(tmp_path, s)
    assert (conn["close"], conn["closed_by"]) == ("server_closed_idle", "server")
    assert conn["error_codes"] == [4031]
    assert 28799 < conn["idle_before_close"] < 28801  # from the last reply, not from the ERR
    assert conn["severity"] == "warning"  # as MariaDB's silent idle close
    assert "sequence_error" not in kinds(conn)  # 4031 comes with sequence 0 by design


def test_malformed_reply(tmp_path: Path) -> None:
    talk = Conversation().login()
    talk.command(query("UPDATE t SET a = 1"))
    talk.server(b"\x00\xfc")  # an OK whose affected-rows integer is cut short
    talk.command(command(0x01))
    s = session(talk)
    s.client_fin()
    s.server_fin()
    conn = analyze(tmp_path, s)
    assert "malformed_packet" in kinds(conn)
    assert conn["close"] == "clean_quit"


def tls_talk() -> Conversation:
    talk = Conversation()
    talk.server(greeting("8.0.36", 77), seq=0)
    talk.client(ssl_request(CLIENT_BASE | CLIENT_SSL))
    talk.raw(CLIENT, client_hello())
    talk.raw(SERVER, server_hello("TLS 1.2") + change_cipher_spec())
    talk.raw(CLIENT, change_cipher_spec() + application_data(96))
    talk.raw(SERVER, application_data(48))
    return talk


def test_tls_close_with_encrypted_close_notify(tmp_path: Path) -> None:
    talk = tls_talk()
    talk.raw(CLIENT, encrypted_alert())
    s = session(talk)
    s.client_fin()
    s.server_fin()
    conn = analyze(tmp_path, s)
    assert (conn["close"], conn["closed_by"]) == ("closed_under_tls", "client")
    assert conn["tls"] and conn["tls_version"] == "TLS 1.2"
    [tls] = [f for f in conn["findings"] if f["kind"] == "tls"]
    assert "close_notify" in tls["detail"] and "encrypted alert from the client" in tls["detail"]


def test_tls_captured_mid_stream_is_still_tls(tmp_path: Path) -> None:
    s = session(tls_talk())
    s.client_fin()
    s.server_fin()
    # Keep what follows the TLS handshake: the client's ChangeCipherSpec and the data.
    s.frames[:] = s.frames[7:]
    conn = analyze(tmp_path, s)
    assert conn["tls"] is True
    assert conn["close"] == "closed_under_tls"
    [tls] = [f for f in conn["findings"] if f["kind"] == "tls"]
    assert "found mid-stream" in tls["detail"] and "after SSLRequest" not in tls["detail"]


def test_ipv6_middlebox_reset_by_hop_limit(tmp_path: Path) -> None:
    talk = Conversation().login()
    talk.command(query("SELECT 1")).server(*result_set([column("1")], [["1"]]))
    s = session(talk, client=("2001:db8::1", 50000), server=("2001:db8::2", 3306))
    s.client_send(frame(query("SELECT 2"), 0))
    s.server_rst(ttl=61, window=0)  # not the server's hop limit: a device on the path
    conn = analyze(tmp_path, s)
    assert (conn["close"], conn["closed_by"]) == ("middlebox_rst", "middlebox")
    assert conn["client"] == "[2001:db8::1]:50000"
    [finding] = [f for f in conn["findings"] if f["kind"] == "middlebox_rst"]
    assert "TTL 61" in finding["detail"]
    assert f"arrive with TTL {s.ttl['server']}" in finding["detail"]


def test_client_leaving_after_a_query_error_is_the_clients_doing(tmp_path: Path) -> None:
    talk = Conversation().login()
    talk.command(query("SELEC 1")).server(
        err(1064, "You have an error in your SQL syntax", "42000")
    )
    s = session(talk)
    s.client_fin()
    s.server_fin()
    conn = analyze(tmp_path, s)
    assert (conn["close"], conn["closed_by"]) == ("client_fin_no_quit", "client")
    [error] = [f for f in conn["findings"] if f["kind"] == "mysql_error"]
    assert error["severity"] == "warning" and "1064" in error["detail"]


def test_a_capture_that_dropped_the_greeting_still_reports_the_connection(tmp_path: Path):
    talk = Conversation().login(user="app", database="test")
    talk.command(query("select 1")).server(*result_set([column("1")], [["1"]]))
    talk.command(command(0x01))  # COM_QUIT
    s = session(talk)
    s.client_fin()
    s.server_fin()
    s.client_ack()
    s.drop(s.frames[3])  # the greeting: the capture missed it, the client's ACK did not
    connection = analyze(tmp_path, s)
    assert (connection["close"], connection["closed_by"]) == ("clean_quit", "client")
    assert (connection["user"], connection["database"], connection["commands"]) == (
        "app",
        "test",
        2,
    )
    assert connection["thread_id"] is None  # it was in the greeting
    gap = next(f for f in connection["findings"] if f["kind"] == "capture_gap")
    assert "missing at offset 0" in gap["detail"]


def test_kill_query_logged_as_killed_agrees_with_the_err_1317_on_the_wire(tmp_path: Path):
    # MariaDB logs "(KILLED)" for KILL QUERY too; the session gets ERR 1317 and carries on.
    talk = Conversation().login()  # thread 42, app@test
    talk.command(query("SELECT SLEEP(10)")).server(
        err(1317, "Query execution was interrupted", "70100")
    )
    talk.command(command(0x01))  # COM_QUIT
    s = session(talk)
    s.client_fin()
    s.server_fin()
    s.client_ack()
    log = tmp_path / "error.log"
    log.write_text(
        "2023-11-14 22:13:20 43 [Warning] Aborted connection 42 to db: 'test' user: 'app' "
        "host: '10.0.0.1' (KILLED)\n"
    )
    conn = analyze(tmp_path, s, "--error-log", str(log), "--log-tz", "UTC")
    assert conn["close"] == "clean_quit"
    [line] = conn["error_log"]
    assert line["consistent"] is True
