"""The real MariaDB 10.11 error logs of the capture suite, read against what each scenario did.

pcaps/NAME.error.log holds the lines the suite's server (log_warnings=4) wrote while
NAME.pcap was captured; NAME.expected.json says how each connection ended, with the thread id
the client library reported. These tests pin down which endings MariaDB logs, with which
reason, and how the paired "Could not read packet" line tells FIN from RST from timeout:

- client_fin_no_quit (FIN, no COM_QUIT): read error, errno 11 stale, length 0 (EOF)
- client_rst_no_quit, middlebox_rst (RST): read error, errno 104 ECONNRESET
- closed_under_tls without COM_QUIT: read error, errno 71 EPROTO (no close_notify)
- server_closed_idle by wait_timeout: read *timeout*, errno 110 ETIMEDOUT
- server_closed_idle / killed_by_server by KILL: "(KILLED)", written by the killer's thread
- handshake_aborted: "This connection closed normally without authentication"
- server_closed_error: ERR 1153 logs the oversize packet; ERR 1040 only when it replaced the
  greeting ("Aborted connection 0 ... host: 'connecting host' (Too many connections)")
- clean_quit, auth_failed, still_open_at_capture_end, connection_refused: no Aborted line
  (auth_failed logs "Access denied" instead).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mysqlwire.errorlog import (
    CONNECTING_HOST,
    ErrorLogRecord,
    Kind,
    ReadOutcome,
    Reason,
    read_error_log,
)

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
SCENARIOS = sorted(path.name.removesuffix(".error.log") for path in PCAPS.glob("*.error.log"))

# What MariaDB 10.11 writes in "Aborted connection (...)" for each way a connection ended;
# None: no Aborted connection line for that connection.
ABORT_REASON_BY_CLOSE: dict[str, Reason | None] = {
    "client_fin_no_quit": Reason.READ_ERROR,
    "client_rst_no_quit": Reason.READ_ERROR,
    "middlebox_rst": Reason.READ_ERROR,
    "handshake_aborted": Reason.NO_AUTHENTICATION,
    "killed_by_server": Reason.KILLED,
    "clean_quit": None,
    "auth_failed": None,
    "still_open_at_capture_end": None,
    "connection_refused": None,
}


def expected_abort_reason(scenario: str, connection: dict) -> Reason | None:
    """The reason the log must give for a connection, from how the scenario ended it."""
    close = connection["close"]
    if close == "server_closed_idle":  # the server closed an idle session: by KILL or timeout
        return Reason.KILLED if scenario == "kill_idle" else Reason.READ_TIMEOUT
    if close == "closed_under_tls":  # encrypted: only the note says whether COM_QUIT was sent
        return Reason.READ_ERROR if "without COM_QUIT" in connection.get("note", "") else None
    if close == "server_closed_error":  # 1040 after login is not logged, 1153 is
        return Reason.PACKET_TOO_LARGE if 1153 in connection["error_codes"] else None
    return ABORT_REASON_BY_CLOSE[close]


def expected(scenario: str) -> dict:
    return json.loads((PCAPS / f"{scenario}.expected.json").read_text())


def aborted(scenario: str) -> list[ErrorLogRecord]:
    return read_error_log(PCAPS / f"{scenario}.error.log").of_kind(Kind.ABORTED_CONNECTION)


def thread_ids_with_close(scenario: str, closes: set[str]) -> set[int]:
    return {c["thread_id"] for c in expected(scenario)["connections"] if c["close"] in closes}


def test_the_suite_has_logs_to_read():
    assert {"go_too_many_connections", "busy_mix", "wait_timeout", "tls"} <= set(SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_line_of_the_suite_logs_is_read(scenario):
    log = read_error_log(PCAPS / f"{scenario}.error.log")
    assert log.unmatched_count == 0, log.unmatched
    assert len(log.records) == log.lines


def test_go_leak_logs_exactly_the_connections_the_dead_process_left_with_fin():
    records = aborted("go_too_many_connections")
    assert {r.thread_id for r in records} == thread_ids_with_close(
        "go_too_many_connections", {"client_fin_no_quit"}
    )
    assert len(records) == 10
    assert {r.reason for r in records} == {"Got an error reading communication packets"}
    assert {r.read_outcome for r in records} == {ReadOutcome.EOF}


def test_busy_mix_logs_connections_closed_without_quit_and_no_other():
    records = aborted("busy_mix")
    closed_without_quit = thread_ids_with_close(
        "busy_mix", {"client_fin_no_quit", "client_rst_no_quit"}
    )
    assert {r.thread_id for r in records} == closed_without_quit
    assert len(closed_without_quit) == 5
    assert {r.reason_kind for r in records} == {Reason.READ_ERROR}


def test_busy_mix_tells_fin_from_rst_by_the_paired_read():
    outcome_by_close = {
        "client_fin_no_quit": ReadOutcome.EOF,
        "client_rst_no_quit": ReadOutcome.RESET,
    }
    close_by_thread = {c["thread_id"]: c["close"] for c in expected("busy_mix")["connections"]}
    for record in aborted("busy_mix"):
        assert record.read_outcome is outcome_by_close[close_by_thread[record.thread_id]]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_aborted_connection_lines_match_how_each_connection_ended(scenario):
    logged = {r.thread_id: r.reason_kind for r in aborted(scenario) if r.thread_id is not None}
    wanted = {}
    for connection in expected(scenario)["connections"]:
        reason = expected_abort_reason(scenario, connection)
        if connection["thread_id"] is not None and reason is not None:
            wanted[connection["thread_id"]] = reason
    assert logged == wanted


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_a_refusal_in_place_of_the_greeting_is_logged_as_connection_zero(scenario):
    # No user: the client never logged in (go_too_many_connections' 1040 came after a login
    # whose thread id the Go driver does not report, and is not logged).
    refused = [
        c
        for c in expected(scenario)["connections"]
        if c["user"] is None and c["close"] == "server_closed_error" and c["error_codes"] == [1040]
    ]
    logged = [r for r in aborted(scenario) if r.thread_id is None]
    assert len(logged) == len(refused)
    for record in logged:
        assert record.reason_kind is Reason.TOO_MANY_CONNECTIONS
        assert record.host == CONNECTING_HOST
        assert record.authenticated is False


@pytest.mark.parametrize(
    ("scenario", "outcome", "errno"),
    [
        ("client_exit_fin", ReadOutcome.EOF, 11),
        ("handshake_abandoned_fin", ReadOutcome.EOF, 11),
        ("sequence_error", ReadOutcome.EOF, 11),
        ("linger_rst", ReadOutcome.RESET, 104),
        ("handshake_abandoned_rst", ReadOutcome.RESET, 104),
        ("middlebox_rst_server_side", ReadOutcome.RESET, 104),
        ("wait_timeout", ReadOutcome.TIMEOUT, 110),
        ("tls", ReadOutcome.TLS_ERROR, 71),
    ],
)
def test_the_read_before_an_aborted_connection_says_how_the_socket_ended(scenario, outcome, errno):
    (record,) = aborted(scenario)
    assert record.paired_line_number == record.line_number - 1
    assert (record.read_outcome, record.errno) == (outcome, errno)
    assert record.read_length == 4  # a whole header missing: the client was between commands
    assert record.length == (0 if outcome is ReadOutcome.EOF else -1)


def test_a_read_timeout_has_its_own_reason_and_net_error():
    (record,) = aborted("wait_timeout")
    assert record.reason_kind is Reason.READ_TIMEOUT
    assert record.vio_errno == 1159  # ER_NET_READ_INTERRUPTED, not the socket's errno


def test_an_abandoned_handshake_is_an_unauthenticated_abort():
    for scenario in ("handshake_abandoned_fin", "handshake_abandoned_rst"):
        (record,) = aborted(scenario)
        (connection,) = expected(scenario)["connections"]
        assert record.thread_id == connection["thread_id"]
        assert (record.db, record.user) == ("unconnected", "unauthenticated")
        assert record.authenticated is False


def test_a_kill_is_logged_by_the_killer_thread_about_the_victim():
    (record,) = aborted("kill_idle")
    (connection,) = expected("kill_idle")["connections"]
    assert record.thread_id == connection["thread_id"]
    assert record.logging_thread != record.thread_id
    assert record.reason == "KILLED"
    victim_lines = read_error_log(PCAPS / "kill_idle.error.log").of_kind(Kind.CONNECTION_ERROR)
    assert {(r.thread_id, r.reason) for r in victim_lines} == {
        (connection["thread_id"], "Connection was killed")
    }


def test_killing_a_busy_session_fails_the_victims_write_with_epipe():
    log = read_error_log(PCAPS / "kill_busy.error.log")
    (connection,) = expected("kill_busy")["connections"]
    (write,) = log.of_kind(Kind.COULD_NOT_WRITE_PACKET)
    assert write.thread_id == connection["thread_id"]
    assert (write.errno, write.state, write.vio_errno) == (32, 2, 1160)  # EPIPE, vio shut down
    assert write.reason_kind is Reason.WRITE_ERROR
    (error,) = log.of_kind(Kind.CONNECTION_ERROR)
    assert (error.severity, error.reason) == ("ERROR", "Got an error writing communication packets")


def test_an_oversize_packet_is_logged_as_error_then_as_abort():
    log = read_error_log(PCAPS / "max_allowed_packet.error.log")
    (connection,) = expected("max_allowed_packet")["connections"]
    assert [(r.kind, r.thread_id, r.reason_kind) for r in log.records] == [
        (Kind.CONNECTION_ERROR, connection["thread_id"], Reason.PACKET_TOO_LARGE),
        (Kind.ABORTED_CONNECTION, connection["thread_id"], Reason.PACKET_TOO_LARGE),
    ]


def test_a_wrong_password_logs_access_denied_and_no_abort():
    log = read_error_log(PCAPS / "wrong_password.error.log")
    (connection,) = expected("wrong_password")["connections"]
    (record,) = log.records
    assert record.kind is Kind.ACCESS_DENIED
    assert record.thread_id == connection["thread_id"]
    assert record.user == connection["user"]
    assert record.host == connection["client"].rsplit(":", 1)[0]
    assert record.using_password is True


def test_middlebox_reset_names_the_client_address_the_server_saw():
    (record,) = aborted("middlebox_rst_server_side")
    (connection,) = expected("middlebox_rst_server_side")["connections"]
    assert record.host == connection["client"].rsplit(":", 1)[0]
