"""Hostile traffic on the MySQL port: floods and scans are counted, not listed connection by
connection; other protocols and garbage are reported as such, never decoded as MySQL.

Memory under a flood is the capture layer's business (tests/capture/test_half_open.py keeps
the table within its cap and a half-open connection within a few hundred bytes; figures from
bench/synflood_memory.py are in docs/performance.md). Here: what the report says."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from mysqlwire.pipeline import AnalysisOptions, analyze
from mysqlwire.report.attempts import collapse
from mysqlwire.report.summary import SummaryBuilder
from tests.craft import TcpSession
from tests.hardening.captures import START, capture, flat, quiet_login, run, session, syn_flood
from tests.mysql_builder import PING, Conversation, client_hello, err, greeting, ok

LISTED_MAX = 20


def jsonl(result) -> tuple[list[dict], dict]:
    records = [json.loads(line) for line in result.stdout.splitlines()]
    return [r for r in records if r["type"] == "connection"], records[-1]


# -- (a) a SYN flood ---------------------------------------------------------------------


@pytest.mark.parametrize(("answer", "kind"), [("", "unanswered"), ("syn-ack", "half_open")])
def test_a_syn_flood_is_counted_in_the_summary_not_listed(tmp_path: Path, answer, kind):
    path = capture(tmp_path / "flood.pcap", quiet_login(), syn_flood(2000, answer=answer))
    connections, summary = jsonl(run("analyze", "--format", "jsonl", path))
    assert [c["client"] for c in connections] == ["10.0.0.1:50000"]
    assert summary["connections"] == 1 and summary["by_verdict"] == {"clean_quit": 1}
    attempts = summary["tcp_attempts"]
    assert attempts["connections"] == 2000 and not attempts["listed"]
    assert attempts["by_kind"] == {kind: 2000}
    assert attempts["pattern"] == "flood"
    assert attempts["top_servers"] == [{"server": "10.0.0.2:3306", "attempts": 2000}]
    assert attempts["client_addresses"] == 2000
    assert [e["conn_id"] for e in attempts["examples"]] == [
        e["conn_id"] for e in sorted(attempts["examples"], key=lambda e: e["conn_id"])
    ]
    assert len(attempts["examples"]) == 5
    assert summary["leaking_clients"] == [] and summary["aborted_connects"] == 0
    assert summary["capture"]["tcp_connections"] == 2001


def test_the_table_shows_the_real_connection_and_one_paragraph_for_the_flood(tmp_path: Path):
    path = capture(tmp_path / "flood.pcap", quiet_login(), syn_flood(500))
    result = run("analyze", path)
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) < 30
    result.stdout = flat(result.stdout)
    assert "Server 10.0.0.2:3306 (8.0.36): 1 connection(s)" in result.stdout
    assert "still_open_at_capture_end" not in result.stdout
    assert (
        "500 connection attempt(s) never got past the TCP handshake and are not listed above: "
        "SYN never answered 500"
    ) in result.stdout
    assert "this looks like a SYN flood against 10.0.0.2:3306" in result.stdout
    assert "1 MySQL connection(s): clean_quit 1" in result.stdout


def test_a_flood_alone_is_a_report_not_an_error(tmp_path: Path):
    result = run("analyze", capture(tmp_path / "flood.pcap", syn_flood(100, answer="syn-ack")))
    assert result.exit_code == 0
    assert "No connections to show." in result.stdout
    assert "SYN-ACK never acknowledged (half-open) 100" in flat(result.stdout)


def test_jobs_give_the_same_flood_report(tmp_path: Path):
    path = capture(tmp_path / "flood.pcap", quiet_login(), syn_flood(300, answer="rst"))
    one = run("analyze", "--format", "jsonl", path)
    two = run("analyze", "--format", "jsonl", "--jobs", "2", path)
    assert one.stdout == two.stdout


def test_up_to_twenty_attempts_are_still_listed_one_by_one(tmp_path: Path):
    """A few refused connections are a client aimed at a server that is down: worth rows."""
    few = capture(tmp_path / "few.pcap", quiet_login(), syn_flood(LISTED_MAX, answer="rst"))
    records, summary = jsonl(run("analyze", "--format", "jsonl", few))
    assert len(records) == LISTED_MAX + 1 and summary["connections"] == LISTED_MAX + 1
    assert summary["tcp_attempts"]["listed"] is True
    assert summary["by_verdict"]["connection_refused"] == LISTED_MAX
    # held back until the end: they follow the other connections
    assert [r["close"] for r in records] == ["clean_quit"] + ["connection_refused"] * LISTED_MAX
    document = json.loads(run("analyze", "--format", "json", few).stdout)
    assert len(document["connections"]) == LISTED_MAX + 1
    table = flat(run("analyze", few).stdout)
    assert table.count(" connection_refused error: connection_refused") == LISTED_MAX
    assert "never got past the TCP handshake" not in table


def test_beyond_twenty_attempts_none_is_listed_and_the_counts_leave_them_out(tmp_path: Path):
    many = capture(tmp_path / "many.pcap", quiet_login(), syn_flood(LISTED_MAX + 1, answer="rst"))
    records, summary = jsonl(run("analyze", "--format", "jsonl", many))
    assert len(records) == 1 and summary["connections"] == 1
    assert summary["tcp_attempts"]["listed"] is False
    assert summary["by_verdict"] == {"clean_quit": 1}
    assert summary["connections_by_severity"] == {}
    assert "connection_refused" not in summary["findings_by_kind"]
    assert summary["tcp_attempts"]["by_verdict"] == {"connection_refused": LISTED_MAX + 1}
    assert summary["tcp_attempts"]["findings_by_kind"] == {"connection_refused": LISTED_MAX + 1}
    document = json.loads(run("analyze", "--format", "json", many).stdout)
    assert len(document["connections"]) == 1
    assert document["summary"] == summary
    table = flat(run("analyze", many).stdout)
    assert "connection_refused" not in table
    assert "refused (RST) 21" in table


def test_fail_on_still_sees_refused_attempts_that_are_not_listed(tmp_path: Path):
    path = capture(tmp_path / "down.pcap", syn_flood(50, answer="rst"))
    assert run("analyze", "--fail-on", "error", path).exit_code == 1
    flood = capture(tmp_path / "flood.pcap", syn_flood(50))
    assert run("analyze", "--fail-on", "warning", flood).exit_code == 0


# -- (b) scans -----------------------------------------------------------------------------


def port_scan(ports: range, open_ports: set[int]) -> list:
    frames = []
    for port in ports:
        s = TcpSession(
            client=("10.66.6.6", 55555),
            server=("10.0.0.2", port),
            client_isn=port * 1000,
            start_ts=START + port * 0.001,
        )
        s.client_syn()
        if port in open_ports:
            s.server_syn_ack()
            s.client_rst(with_ack=False)  # what a SYN scan sends
        else:
            s.server_rst()
        frames += s.frames
    return frames


def test_a_port_scan_names_its_source_and_what_answered(tmp_path: Path):
    path = capture(tmp_path / "scan.pcap", port_scan(range(1, 201), {22, 80, 111}))
    result = run("analyze", "--port", "any", "--format", "jsonl", path)
    _, summary = jsonl(result)
    attempts = summary["tcp_attempts"]
    assert attempts["by_kind"] == {"refused": 197, "reset_after_syn_ack": 3}
    assert attempts["pattern"] == "scan"
    assert attempts["top_clients"] == [{"client": "10.66.6.6", "attempts": 200}]
    assert attempts["answering_examples"] == ["10.0.0.2:22", "10.0.0.2:80", "10.0.0.2:111"]
    assert (attempts["server_endpoints"], attempts["server_addresses"]) == (200, 1)
    assert summary["aborted_connects"] == 0  # never accepted: no server counter moves
    table = flat(run("analyze", "--port", "any", path).stdout)
    assert "this looks like a scan from 10.66.6.6" in table
    assert "answered with a SYN-ACK (something listens there): 10.0.0.2:22, 10.0.0.2:80" in table


def test_a_sweep_of_addresses_on_the_mysql_port(tmp_path: Path):
    frames = []
    for host in range(1, 101):
        s = TcpSession(
            client=("10.66.6.6", 55556),
            server=(f"10.0.1.{host}", 3306),
            client_isn=host,
            start_ts=START + host * 0.001,
        )
        s.client_syn()
        if host % 2:
            s.server_rst()
        frames += s.frames
    _, summary = jsonl(run("analyze", "--format", "jsonl", capture(tmp_path / "s.pcap", frames)))
    attempts = summary["tcp_attempts"]
    assert attempts["by_kind"] == {"unanswered": 50, "refused": 50}
    assert attempts["pattern"] == "scan" and attempts["server_addresses"] == 100


def test_a_client_hammering_a_server_that_is_down_is_neither_flood_nor_scan(tmp_path: Path):
    frames = []
    for n in range(40):
        s = TcpSession(client=("10.0.0.7", 40000 + n), client_isn=n, start_ts=START + n)
        s.client_syn()
        s.server_rst()
        frames += s.frames
    result = run("analyze", "--format", "jsonl", capture(tmp_path / "down.pcap", frames))
    attempts = jsonl(result)[1]["tcp_attempts"]
    assert attempts["pattern"] is None
    assert attempts["top_clients"] == [{"client": "10.0.0.7", "attempts": 40}]


# -- (c) other protocols on the MySQL port -------------------------------------------------

HTTP_REQUEST = b"GET / HTTP/1.1\r\nHost: db.example:3306\r\n\r\n"


def greeted_then(first_words: bytes, client: tuple[str, int]) -> TcpSession:
    """A MySQL server greets; the client answers with another protocol; the server refuses."""
    talk = Conversation().server(greeting(), seq=0).raw(0, first_words)
    talk.server(err(1043, "Bad handshake", "08S01"), seq=2)
    return session(talk, client)


def test_http_and_tls_without_ssl_request_are_reported_as_not_mysql(tmp_path: Path):
    path = capture(
        tmp_path / "other.pcap",
        quiet_login(),
        greeted_then(HTTP_REQUEST, ("10.0.0.3", 40001)),
        greeted_then(client_hello(), ("10.0.0.4", 40002)),
    )
    connections, summary = jsonl(run("analyze", "--format", "jsonl", path))
    assert [c["client"] for c in connections] == ["10.0.0.1:50000"]
    assert summary["not_mysql"]["by_protocol"] == {"http": 1, "tls (without SSLRequest)": 1}
    table = flat(run("analyze", path).stdout)
    assert "2 connection(s) on the MySQL port(s) were not MySQL: http 1, tls (without" in table
    assert "10.0.0.3:40001 -> 10.0.0.2:3306 (http)" in table
    dump = run("dump", path).stdout
    assert "NOT MYSQL http: the client answered the greeting with http" in dump
    assert "ERR 1043" in dump  # the server's side is still heard


def x_protocol_session(port: int = 33060) -> TcpSession:
    talk = Conversation()
    talk.raw(0, b"\x01\x00\x00\x00\x01")  # CapabilitiesGet
    talk.raw(1, b"\x05\x00\x00\x00\x02\x0a\x00\x00\x00")  # Capabilities
    return session(talk, ("10.0.0.5", 45000), ("10.0.0.2", port))


def test_the_x_protocol_on_33060_is_named_and_explained(tmp_path: Path):
    path = capture(tmp_path / "x.pcap", x_protocol_session())
    result = run("analyze", "--port", "33060", path)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "1 connection(s) there speak something else (mysqlx (X protocol))" in result.stderr
    assert "X protocol" in result.stderr and "3306" in result.stderr
    both = capture(tmp_path / "both.pcap", quiet_login(), x_protocol_session())
    _, summary = jsonl(run("analyze", "-p", "3306", "-p", "33060", "--format", "jsonl", both))
    assert summary["connections"] == 1
    assert summary["not_mysql"]["by_protocol"] == {"mysqlx (X protocol)": 1}


# -- (d) garbage ---------------------------------------------------------------------------


def garbage(seed: int) -> Conversation:
    rng = random.Random(seed)
    talk = Conversation()
    for _ in range(6):
        talk.raw(rng.choice([0, 1]), rng.randbytes(rng.randrange(1, 400)))
    return talk


@pytest.mark.parametrize("seed", range(4))
def test_garbage_after_a_handshake_is_not_mysql(tmp_path: Path, seed: int):
    path = capture(tmp_path / "g.pcap", quiet_login(), session(garbage(seed), ("10.0.0.9", 41000)))
    connections, summary = jsonl(run("analyze", "--format", "jsonl", path))
    assert [c["client"] for c in connections] == ["10.0.0.1:50000"]
    assert summary["not_mysql"]["connections"] == 1


@pytest.mark.parametrize("seed", range(4))
def test_garbage_without_a_handshake_is_never_decoded_into_mysql_facts(tmp_path: Path, seed):
    """With no SYN the decoder looks for packet boundaries mid-stream: random bytes either
    are recognised as something else, or yield nothing but undecodable bytes — never a user,
    a command, an error code."""
    s = session(garbage(seed), ("10.0.0.9", 41000), handshake=False, close=False)
    result = run("analyze", "--format", "jsonl", capture(tmp_path / "g.pcap", quiet_login(), s))
    connections, summary = jsonl(result)
    for connection in connections:
        if connection["client"] == "10.0.0.9:41000":
            assert connection["user"] is None and connection["thread_id"] is None
            assert connection["error_codes"] == []
            assert connection["commands"] <= 1
    assert summary["connections"] + summary["not_mysql"]["connections"] == 2
    assert run("dump", capture(tmp_path / "d.pcap", s)).exit_code in (0, 2)


def test_garbage_between_real_packets_of_a_live_connection_resynchronises(tmp_path: Path):
    talk = Conversation().login()
    talk.raw(0, random.Random(9).randbytes(300))
    talk.command(PING).server(ok())
    result = run("analyze", "--format", "jsonl", capture(tmp_path / "g.pcap", session(talk)))
    (connection,), _ = jsonl(result)
    assert connection["user"] == "app"  # what came before the garbage is kept
    assert result.exit_code == 0


# -- the summary ---------------------------------------------------------------------------


def test_the_attempts_summary_does_not_depend_on_the_order_reports_arrive_in(tmp_path: Path):
    path = capture(tmp_path / "mix.pcap", quiet_login(), port_scan(range(1, 60), {22}))
    reports: list = []
    analyze([path], AnalysisOptions(server_ports=None), reports.append)
    forward, shuffled = SummaryBuilder(), SummaryBuilder()
    for report in reports:
        forward.add(report)
    random.Random(3).shuffle(reports)
    for report in reports:
        shuffled.add(report)
    assert forward.result() == shuffled.result()
    assert forward.result()["tcp_attempts"]["connections"] == 59


def test_collapsing_takes_the_attempts_out_of_every_count_and_nothing_else(tmp_path: Path):
    path = capture(tmp_path / "mix.pcap", quiet_login(), syn_flood(30, answer="rst"))
    _, listed = jsonl(run("analyze", "--format", "jsonl", path))  # collapsed by the CLI
    whole = analyze([path], AnalysisOptions(), lambda report: None).summary
    assert whole["connections"] == 31 and whole["by_verdict"]["connection_refused"] == 30
    collapsed = collapse(whole)
    assert whole["connections"] == 31  # left as it was
    assert collapsed["connections"] == 1 and collapsed["by_verdict"] == {"clean_quit": 1}
    assert collapsed["tcp_attempts"]["listed"] is False
    unchanged = {"aborted_clients", "aborted_connects", "errors_by_code", "not_mysql"}
    assert all(collapsed[key] == whole[key] for key in unchanged)
    assert {k: v for k, v in listed.items() if k != "capture"} == {
        k: v for k, v in collapsed.items() if k not in ("capture", "type", "schema", "error_log")
    } | {"type": "summary", "schema": 1, "error_log": None}
