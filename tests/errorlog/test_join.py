"""`analyze --error-log`: each server log line joined to its captured connection and explained.

The logs are the real MariaDB error-log lines written while each capture in pcaps/ was made.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mysqlwire.cli import main

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
LOGGED = sorted(p for p in PCAPS.glob("*.error.log") if p.read_text().strip())

# Captured aborts the server wrote no line for, and why (MariaDB 10.11 behaviour seen when
# the suite was generated: see pcaps/README.md).
SILENT = {
    (
        "go_too_many_connections",
        "server_closed_error",
    ): "MariaDB logs nothing for 1040 sent after the login",
    (
        "max_connections",
        "server_closed_error",
    ): "MariaDB logs nothing for 1040 sent after the login (the greeting-time 1040 is logged)",
    (
        "sequence_error",
        "client_fin_no_quit",
    ): "both legs of the proxy carry the same relayed greeting (thread id); the server logged "
    "one line; MariaDB's one-second timestamps cannot tell which leg it was (they closed "
    "0.1 ms apart), so the other leg is listed without a line",
}


def run(name: str, *extra: str) -> list[dict]:
    expected = json.loads((PCAPS / f"{name}.expected.json").read_text())
    result = CliRunner().invoke(
        main,
        [
            "analyze",
            str(PCAPS / expected["capture"]),
            *expected["analyze_options"],
            "--format",
            "jsonl",
            "--error-log",
            str(PCAPS / f"{name}.error.log"),
            "--log-tz",
            "UTC",
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def names(paths: list[Path]) -> list[str]:
    return [p.name.removesuffix(".error.log") for p in paths]


@pytest.mark.parametrize("name", names(LOGGED))
def test_every_relevant_log_line_is_explained(name: str) -> None:
    summary = run(name)[-1]["error_log"]
    assert summary["unmatched_lines"] == []
    assert summary["matched"] == summary["relevant_lines"] >= 1
    assert summary["inconsistent"] == 0


@pytest.mark.parametrize("name", names(LOGGED))
def test_log_lines_land_on_the_connection_with_their_thread_id(name: str) -> None:
    connections = [r for r in run(name) if r["type"] == "connection"]
    for conn in connections:
        for line in conn["error_log"] or []:
            if line["thread_id"] is not None:
                assert line["thread_id"] == conn["thread_id"]
            assert line["conn_id"] == conn["conn_id"]
            assert line["explanation"]


@pytest.mark.parametrize("name", names(LOGGED))
def test_captured_aborts_without_a_line_are_the_cases_mariadb_does_not_log(name: str) -> None:
    silent = run(name)[-1]["error_log"]["aborts_without_line"]
    for conn in silent:
        assert (name, conn["close"]) in SILENT, conn


def test_fin_without_quit_is_explained_with_its_evidence() -> None:
    conn = next(r for r in run("client_exit_fin") if r["type"] == "connection")
    sentence = conn["error_log"][0]["explanation"]
    assert f"thread {conn['thread_id']}" in sentence
    assert "closed with FIN" in sentence and "without COM_QUIT" in sentence
    assert f"frame {conn['close_frame']}" in sentence
    assert "did not close the connection" in sentence


def test_middlebox_reset_is_explained_by_the_ttl() -> None:
    conn = next(r for r in run("middlebox_rst_server_side") if r["type"] == "connection")
    sentence = conn["error_log"][0]["explanation"]
    assert "TTL" in sentence and "device between the hosts" in sentence


def test_greeting_time_refusal_is_matched_by_address_and_time() -> None:
    records = run("max_connections")
    [line] = records[-1]["error_log"]["explained"]
    assert line["matched_by"] == "address and time"
    conn = next(r for r in records if r.get("conn_id") == line["conn_id"])
    assert conn["thread_id"] is None and conn["error_codes"] == [1040]
    assert conn["error_log"] == [line]


def test_json_attaches_late_matches_to_their_connection() -> None:
    expected = json.loads((PCAPS / "max_connections.expected.json").read_text())
    result = CliRunner().invoke(
        main,
        [
            "analyze",
            str(PCAPS / expected["capture"]),
            "--format",
            "json",
            "--error-log",
            str(PCAPS / "max_connections.error.log"),
            "--log-tz",
            "UTC",
        ],
    )
    joined = [c for c in json.loads(result.stdout)["connections"] if c["error_log"]]
    assert [c["error_codes"] for c in joined] == [[1040]]
    assert joined[0]["error_log"][0]["matched_by"] == "address and time"


def test_log_from_another_time_matches_nothing_by_address(tmp_path: Path) -> None:
    log = tmp_path / "other.log"
    log.write_text(
        "2020-01-01 10:00:00 0 [Warning] Aborted connection 0 to db: 'unconnected' "
        "user: 'unauthenticated' host: 'connecting host' (Too many connections)\n"
    )
    expected = json.loads((PCAPS / "max_connections.expected.json").read_text())
    result = CliRunner().invoke(
        main,
        [
            "analyze",
            str(PCAPS / expected["capture"]),
            "--format",
            "jsonl",
            "--error-log",
            str(log),
            "--log-tz",
            "UTC",
        ],
    )
    summary = json.loads(result.stdout.splitlines()[-1])["error_log"]
    assert summary["matched"] == 0
    assert [u["line"] for u in summary["unmatched_lines"]] == [1]


def analyzed_with_log(tmp_path: Path, capture: str, *lines: str) -> list[dict]:
    """The jsonl records of a capture of pcaps/ joined with an error log of `lines` (UTC)."""
    log = tmp_path / "hand.log"
    log.write_text("".join(line.rstrip("\n") + "\n" for line in lines))
    result = CliRunner().invoke(
        main,
        ["analyze", str(PCAPS / capture), "--format", "jsonl", "--error-log", str(log),
         "--log-tz", "UTC"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_the_same_thread_id_from_another_day_is_another_connection(tmp_path: Path) -> None:
    # Thread ids restart with the server: a long log repeats them. Only the line of the
    # capture's day is this connection's.
    real = (PCAPS / "client_exit_fin.error.log").read_text()
    day = real.split()[0]
    year = int(day[:4])
    older = real.replace(day, f"{year - 2}{day[4:]}")
    records = analyzed_with_log(tmp_path, "client_exit_fin.pcap", *older.splitlines(), real)
    summary = records[-1]["error_log"]
    aborted = 1 + next(i for i, line in enumerate(real.splitlines()) if "Aborted" in line)
    later = aborted + len(real.splitlines())  # the same line in the capture's day
    assert summary["matched"] == 1
    assert [u["line"] for u in summary["unmatched_lines"]] == [aborted]
    [connection] = [r for r in records if r["type"] == "connection"]
    assert [e["line"] for e in connection["error_log"]] == [later]


def test_table_report_lists_each_line_with_its_explanation() -> None:
    expected = json.loads((PCAPS / "wait_timeout.expected.json").read_text())
    result = CliRunner().invoke(
        main,
        [
            "analyze",
            str(PCAPS / expected["capture"]),
            "--error-log",
            str(PCAPS / "wait_timeout.error.log"),
        ],
    )
    assert result.exit_code == 0
    assert "Error log: 1 relevant line(s)" in result.stdout
    assert "Got timeout reading communication packets" in result.stdout
    assert "wait_timeout" in result.stdout


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--error-log", "/nonexistent/mysqld.err", "cannot read error log"),
        ("--log-tz", "Mars/Olympus_Mons", "--log-tz"),
    ],
)
def test_bad_log_options_give_one_line_and_exit_2(option: str, value: str, message: str) -> None:
    args = ["analyze", str(PCAPS / "clean_quit.pcap"), option, value]
    if option == "--log-tz":
        args += ["--error-log", str(PCAPS / "client_exit_fin.error.log")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def joined(tmp_path: Path, capture: str, *lines: str) -> dict:
    """The summary's error_log part for `lines` joined with a capture of pcaps/."""
    return analyzed_with_log(tmp_path, capture, *lines)[-1]["error_log"]


# client_exit_fin.pcap: thread 8, user app, db test, client 127.0.0.1, FIN at 09:39:40
ABORTED = (
    "2026-11-24  9:39:40 {thread} [Warning] Aborted connection {thread} to db: 'test' user: "
    "'{user}' host: '{host}' (Got an error reading communication packets)"
)


def test_a_line_with_another_thread_id_is_not_matched_by_address_and_time(tmp_path: Path):
    summary = joined(
        tmp_path, "client_exit_fin.pcap", ABORTED.format(thread=1008, user="app", host="127.0.0.1")
    )
    assert summary["matched"] == 0 and [u["line"] for u in summary["unmatched_lines"]] == [1]


@pytest.mark.parametrize(("user", "host"), [("bob", "127.0.0.1"), ("app", "10.9.9.9")])
def test_a_thread_id_match_needs_the_same_user_and_client_address(tmp_path: Path, user, host):
    # the same thread id on another server, or before a restart
    summary = joined(
        tmp_path, "client_exit_fin.pcap", ABORTED.format(thread=8, user=user, host=host)
    )
    assert summary["matched"] == 0


def test_an_ipv4_mapped_host_is_the_same_client(tmp_path: Path):
    summary = joined(
        tmp_path,
        "client_exit_fin.pcap",
        ABORTED.format(thread=8, user="app", host="::ffff:127.0.0.1"),
    )
    assert summary["matched"] == 1 and summary["explained"][0]["consistent"] is True


def test_access_denied_on_a_connection_that_logged_in_is_flagged(tmp_path: Path):
    # clean_quit.pcap: thread 6 logged in and quit; a refusal for thread 6 is not this wire
    line = (
        "2026-11-24  9:41:59 6 [Warning] Access denied for user 'app'@'127.0.0.1' "
        "(using password: YES)"
    )
    summary = joined(tmp_path, "clean_quit.pcap", line)
    [explained] = summary["explained"]
    assert explained["consistent"] is False


def test_access_denied_logged_with_a_pthread_id_is_matched_by_address_user_and_time(
    tmp_path: Path,
):
    # MariaDB before 10.4 put the pthread id, not the connection id, in the thread column
    line = (
        "2026-11-24  9:39:53 140212345678 [Warning] Access denied for user 'app'@'127.0.0.1' "
        "(using password: YES)"
    )
    summary = joined(tmp_path, "wrong_password.pcap", line)
    [explained] = summary["explained"]
    assert explained["matched_by"] == "address and time" and explained["consistent"] is not False


@pytest.mark.parametrize(("zone", "hinted"), [("America/New_York", True), ("UTC", False)])
def test_a_log_read_in_the_wrong_time_zone_gets_a_hint(zone: str, hinted: bool) -> None:
    # the greeting-time 1040 of max_connections.pcap can only be matched by address and
    # time; its log was written in UTC
    result = CliRunner().invoke(
        main,
        ["analyze", str(PCAPS / "max_connections.pcap"), "--error-log",
         str(PCAPS / "max_connections.error.log"), "--log-tz", zone],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert ("--log-tz" in result.stdout) is hinted
