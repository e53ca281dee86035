"""The jsonl records are a stable interface (docs/jsonl-schema.md): fields are added, never
renamed or removed. These lists are the promise; extending them is fine, shrinking is not."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from mysqlwire.cli import main
from mysqlwire.report.findings import FINDING_KINDS
from mysqlwire.report.verdicts import VERDICTS

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"

CONNECTION_FIELDS = {
    "type",
    "schema",
    "conn_id",
    "client",
    "server",
    "thread_id",
    "server_version",
    "user",
    "database",
    "client_name",
    "program_name",
    "tls",
    "tls_version",
    "compressed",
    "mid_stream",
    "start",
    "end",
    "duration",
    "commands",
    "bytes_c2s",
    "bytes_s2c",
    "packets_c2s",
    "packets_s2c",
    "close",
    "closed_by",
    "close_frame",
    "close_ts",
    "close_reason",
    "idle_before_close",
    "last_command",
    "severity",
    "server_counter",
    "error_codes",
    "findings",
    "first_frame",
    "last_frame",
    "error_log",
    "finding_counts",
    "tcp_attempt",
    "proxied_client",
}
FINDING_FIELDS = {"kind", "severity", "frame", "ts", "detail"}
SUMMARY_FIELDS = {
    "type",
    "schema",
    "connections",
    "by_verdict",
    "aborted_clients",
    "aborted_connects",
    "errors_by_code",
    "findings_by_kind",
    "connections_by_severity",
    "clients_by_aborted",
    "leaking_clients",
    "clients_not_tallied",
    "not_mysql",
    "tcp_attempts",
    "capture",
    "error_log",
}
CAPTURE_FIELDS = {
    "files",
    "frames",
    "bytes",
    "first_ts",
    "last_ts",
    "tcp_connections",
    "frames_in_connections",
    "skipped",
    "tunnelled",
    "ip_fragments_reassembled",
    "ip_fragments_given_up",
    "unsupported_link_types",
    "interface_drops",
    "connections_evicted",
    "frames_cut_by_snaplen",
    "warnings",
}
DUMP_FIELDS = {
    "type",
    "schema",
    "frame",
    "ts",
    "conn_id",
    "client",
    "server",
    "direction",
    "kind",
    "text",
}
DUMP_PACKET_FIELDS = DUMP_FIELDS | {"seq", "length", "wire_packets"}


def lines(*args: str) -> list[dict]:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_connection_and_summary_records_keep_their_fields() -> None:
    records = lines(
        "analyze",
        str(PCAPS / "go_too_many_connections.pcap"),
        "--format",
        "jsonl",
        "--error-log",
        str(PCAPS / "go_too_many_connections.error.log"),
    )
    *connections, summary = records
    for record in connections:
        assert record.keys() >= CONNECTION_FIELDS
        assert record["type"] == "connection" and record["schema"] == 1
        assert record["close"] in VERDICTS
        for item in record["findings"]:
            assert item.keys() >= FINDING_FIELDS and item["kind"] in FINDING_KINDS
    assert summary.keys() >= SUMMARY_FIELDS
    assert summary["capture"].keys() >= CAPTURE_FIELDS
    assert summary["type"] == "summary"


def test_json_holds_the_same_records() -> None:
    result = CliRunner().invoke(main, ["analyze", str(PCAPS / "busy_mix.pcap"), "--format", "json"])
    document = json.loads(result.stdout)
    assert all(c.keys() >= CONNECTION_FIELDS for c in document["connections"])
    assert document["summary"].keys() >= SUMMARY_FIELDS


def test_dump_records_keep_their_fields() -> None:
    records = lines("dump", str(PCAPS / "clean_quit.pcap"), "--format", "jsonl")
    packets = [r for r in records if r["type"] == "packet"]
    events = [r for r in records if r["type"] == "event"]
    assert packets and events
    assert all(r.keys() >= DUMP_PACKET_FIELDS for r in packets)
    assert all(r.keys() >= DUMP_FIELDS for r in events)
