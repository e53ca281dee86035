"""The analyzer against the real-traffic capture suite: every connection of every capture in
pcaps/ gets the verdict, closer, error codes and findings its scenario produced.

The expected files were written from what each scenario did (pcaps/README.md), never from
mysqlwire's output; this test runs the `analyze` command exactly as a user would.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mysqlwire.cli import main

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
EXPECTED = sorted(PCAPS.glob("*.expected.json"))

# Facts the scenario knows but the capture cannot show, per capture: (fields, why).
INVISIBLE = {
    "tls.pcap": ({"user", "database"}, "the login is sent inside TLS"),
    "truncated_snaplen.pcap": (
        {"database"},
        "tcpdump -s 128 cut the login packet before the database name (the thread id and the "
        "user are read from the cut greeting and login)",
    ),
}


def analyze(capture: Path, options: list[str]) -> tuple[list[dict], dict]:
    result = CliRunner().invoke(main, ["analyze", str(capture), "--format", "jsonl", *options])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    connections = [r for r in records if r["type"] == "connection"]
    summary = next(r for r in records if r["type"] == "summary")
    return connections, summary


@pytest.fixture(scope="module", params=EXPECTED, ids=lambda p: p.name.split(".")[0])
def scenario(request: pytest.FixtureRequest) -> tuple[dict, list[dict], dict]:
    expected = json.loads(request.param.read_text())
    connections, summary = analyze(PCAPS / expected["capture"], expected["analyze_options"])
    return expected, connections, summary


def test_connection_count(scenario: tuple[dict, list[dict], dict]) -> None:
    expected, connections, summary = scenario
    assert len(connections) == expected["connection_count"]
    assert summary["connections"] == expected["connection_count"]


def test_every_expected_connection_is_reported_once(scenario) -> None:
    expected, connections, _ = scenario
    for conn in expected["connections"]:
        matches = [
            c
            for c in connections
            if c["client"] == conn["client"] and c["server"] == conn["server"]
        ]
        assert len(matches) == 1, f"{conn['client']} -> {conn['server']}"


def _reported(connections: list[dict], conn: dict) -> dict:
    return next(
        c for c in connections if c["client"] == conn["client"] and c["server"] == conn["server"]
    )


def test_verdict_and_closer(scenario) -> None:
    expected, connections, _ = scenario
    for conn in expected["connections"]:
        got = _reported(connections, conn)
        assert (got["close"], got["closed_by"]) == (conn["close"], conn["closed_by"]), (
            f"{conn['client']}: {got['close_reason']}"
        )


def test_error_codes_in_order(scenario) -> None:
    expected, connections, _ = scenario
    for conn in expected["connections"]:
        assert _reported(connections, conn)["error_codes"] == conn["error_codes"], conn["client"]


def test_required_findings_present(scenario) -> None:
    expected, connections, _ = scenario
    for conn in expected["connections"]:
        kinds = {f["kind"] for f in _reported(connections, conn)["findings"]}
        assert set(conn["findings"]) <= kinds, conn["client"]


def test_identity_fields(scenario) -> None:
    expected, connections, _ = scenario
    invisible, _why = INVISIBLE.get(expected["capture"], (set(), ""))
    for conn in expected["connections"]:
        if not conn.get("handshake_captured", True):
            continue  # greeting and login happened before the capture began
        got = _reported(connections, conn)
        for key in ("thread_id", "user", "database"):
            if conn.get(key) is not None and key not in invisible:
                assert got[key] == conn[key], f"{conn['client']} {key}"


def test_invisible_fields_are_really_absent() -> None:
    """The exemptions above must stay true: if the tool learns to read these fields, the
    table of exemptions has to shrink."""
    for capture, (fields, why) in INVISIBLE.items():
        expected = json.loads((PCAPS / capture.replace(".pcap", ".expected.json")).read_text())
        connections, _ = analyze(PCAPS / capture, expected["analyze_options"])
        for conn in expected["connections"]:
            got = _reported(connections, conn)
            for key in fields:
                assert got[key] is None, f"{capture} {key} is now visible ({why})"


@pytest.mark.parametrize("first", [10, 14, 20])
def test_a_capture_begun_mid_exchange_is_no_capture_gap(tmp_path: Path, first: int) -> None:
    # tcpdump started during the conversation: the bytes before the first packet boundary
    # (the end of a reply to a command sent earlier) are passed over, but nothing is missing,
    # so no warning (a CI run with --fail-on warning must not fail on it)
    import dpkt

    source = PCAPS / "multi_statements.pcap"
    cut = tmp_path / f"from_{first}.pcap"
    with open(source, "rb") as raw, open(cut, "wb") as out:
        reader = dpkt.pcap.Reader(raw)
        writer = dpkt.pcap.Writer(out, linktype=reader.datalink())
        for number, (ts, frame) in enumerate(reader, 1):
            if number >= first:
                writer.writepkt(frame, ts=ts)
    result = CliRunner().invoke(main, ["analyze", str(cut), "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    for record in map(json.loads, result.stdout.splitlines()):
        if record["type"] == "connection":
            kinds = {(f["kind"], f["severity"]) for f in record["findings"]}
            assert not any(severity in ("warning", "error") for _kind, severity in kinds), kinds
