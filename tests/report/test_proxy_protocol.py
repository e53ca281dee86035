"""Connections through a load balancer that sends PROXY protocol headers, captured in front of
a real MariaDB (pcaps/proxy_protocol.pcap): each report names the real client the header
carried, the server's counters are tallied by that client, and the server's error log line
(which names that client as its host) joins the connection."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from mysqlwire.cli import main

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
CAPTURE = PCAPS / "proxy_protocol.pcap"
EXPECTED = json.loads((PCAPS / "proxy_protocol.expected.json").read_text())


def analyze(*options: str) -> tuple[list[dict], dict]:
    result = CliRunner().invoke(main, ["analyze", "--format", "jsonl", str(CAPTURE), *options])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    return [r for r in records if r["type"] == "connection"], records[-1]


def claimed(connection: dict) -> str:
    """The client the relay's header named, as the scenario wrote it in its note."""
    match = re.search(r"the client is (\S+)$", connection["note"])
    assert match is not None
    return match.group(1)


def test_each_connection_names_the_client_its_header_carried():
    connections, _ = analyze()
    assert [c["client"] for c in connections] == [c["client"] for c in EXPECTED["connections"]]
    assert [c["proxied_client"] for c in connections] == [
        claimed(c) for c in EXPECTED["connections"]
    ]
    for connection in connections:
        (proxy,) = [f for f in connection["findings"] if f["kind"] == "proxy_header"]
        assert proxy["severity"] == "info"
        assert connection["proxied_client"] in proxy["detail"]
        assert proxy["frame"] > connection["first_frame"]  # after the SYN (and the greeting)


def test_the_server_counters_are_tallied_by_the_real_client():
    _, summary = analyze()
    aborted = claimed(EXPECTED["connections"][1]).rsplit(":", 1)[0]
    assert summary["clients_by_aborted"] == [{"client": aborted, "aborted": 1, "connections": 1}]


def test_the_error_log_line_naming_the_real_client_joins_its_connection():
    connections, summary = analyze("--error-log", str(PCAPS / "proxy_protocol.error.log"))
    aborted = connections[1]
    assert aborted["close"] == "client_fin_no_quit"
    (line,) = aborted["error_log"]
    assert "host: '192.0.2.11' real ip: '127.0.0.1'" in line["text"]
    assert summary["error_log"]["matched"] == 1
