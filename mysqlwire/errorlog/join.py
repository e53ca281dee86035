"""Joining the server's error log to the captured connections, and explaining each line.

The engineer starts from lines like `Aborted connection 12987912 to db: 'test' user: 'root'
host: '1.2.3.4' (Got an error reading communication packets)`. For each such line we find the
captured connection it is about and say, in one sentence with evidence, what happened on the
wire.

Matching: by thread id first (the greeting carries the connection id the server logs). Lines
without one (MariaDB's "Aborted connection 0 ... 'connecting host' (Too many connections)",
refusals before a thread existed) and connections whose greeting was not captured are matched
by client address, user, database and time, within a window (the log's clock and the capture's
may differ, and naive log timestamps depend on the time zone given). A thread id seen twice
(the server restarted) goes to the line closest in time, and a thread-id match must be
within a day of the connection (THREAD_ID_WINDOW): a line from another day is about another
connection that had the same id.

Then both directions of disagreement are listed: log lines with no captured connection (the
capture started late, or the client was another host) and captured aborts with no line (the
server's log_warnings / log_error_verbosity was too low, or it does not log that case).
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from dataclasses import dataclass, field

from mysqlwire.errorlog.parse import ErrorLog, ErrorLogRecord
from mysqlwire.errorlog.patterns import (
    CONNECTING_HOST,
    UNAUTHENTICATED_USER,
    UNCONNECTED_DB,
    Kind,
    Reason,
)
from mysqlwire.output.describe import format_ts
from mysqlwire.report.connection_report import ConnectionReport

DEFAULT_WINDOW = 2.0
# Thread ids restart with the server, so a long log holds the same id many times: a line
# matches by thread id only within this distance of the connection. A day, not seconds: a
# naive log timestamp read in the wrong time zone is hours off and must still match.
THREAD_ID_WINDOW = 24 * 3600.0
JOINED_KINDS = (
    Kind.ABORTED_CONNECTION,
    Kind.ACCESS_DENIED,
    Kind.HOST_BLOCKED,
    Kind.HOST_NOT_ALLOWED,
)
# What the server's reason says about the close, verdict by verdict; None: anything goes.
ACCESS_REFUSED = frozenset({1044, 1045, 1698})  # ER_DBACCESS_DENIED, ER_ACCESS_DENIED, ...
QUERY_KILLED = frozenset({1317, 1927})  # ER_QUERY_INTERRUPTED, ER_CONNECTION_KILLED
EXPECTED_REASONS: dict[str, set[Reason] | None] = {
    "client_fin_no_quit": {Reason.READ_ERROR},
    "client_rst_no_quit": {Reason.READ_ERROR},
    "middlebox_rst": {Reason.READ_ERROR, Reason.WRITE_ERROR},
    "closed_under_tls": {Reason.READ_ERROR},
    "server_closed_idle": {Reason.READ_TIMEOUT, Reason.KILLED},
    "killed_by_server": {Reason.KILLED, Reason.WRITE_ERROR, Reason.READ_TIMEOUT},
    "handshake_aborted": {
        Reason.NO_AUTHENTICATION,
        Reason.READ_ERROR,
        Reason.READ_TIMEOUT,
        Reason.BAD_HANDSHAKE,
    },
    "server_closed_error": None,
    "auth_failed": None,
    "clean_quit": set(),
    "still_open_at_capture_end": None,
    "connection_refused": set(),
}


@dataclass(slots=True)
class LogExplanation:
    """One error-log line, the connection it is about (if captured) and what happened."""

    record: ErrorLogRecord
    report: ConnectionReport | None
    matched_by: str | None  # "thread id", "address and time", None
    sentence: str
    consistent: bool | None  # does the log's reason agree with the wire? None: cannot say

    def as_dict(self) -> dict[str, object]:
        record = self.record
        return {
            "line": record.line_number,
            "kind": str(record.kind),
            "text": record.raw,
            "thread_id": record.thread_id,
            "reason": record.reason,
            "conn_id": self.report.conn_id if self.report else None,
            "matched_by": self.matched_by,
            "explanation": self.sentence,
            "consistent": self.consistent,
        }


@dataclass(slots=True)
class JoinResult:
    explained: list[LogExplanation] = field(default_factory=list)
    unmatched_lines: list[ErrorLogRecord] = field(default_factory=list)
    aborts_without_line: list[ConnectionReport] = field(default_factory=list)
    lines_read: int = 0
    # an unmatched line without a zone in its timestamp would match a connection but for a
    # whole number of hours (or quarter hours): the log was written in another time zone
    zone_suspect: bool = False

    def summary(self) -> dict[str, object]:
        return {
            "lines_read": self.lines_read,
            "relevant_lines": len(self.explained) + len(self.unmatched_lines),
            "matched": len(self.explained),
            "inconsistent": sum(1 for e in self.explained if e.consistent is False),
            "explained": [e.as_dict() for e in self.explained],
            "unmatched_lines": [
                {"line": r.line_number, "text": r.raw, "thread_id": r.thread_id}
                for r in self.unmatched_lines
            ],
            "aborts_without_line": [
                {
                    "conn_id": r.conn_id,
                    "client": r.client,
                    "thread_id": r.thread_id,
                    "close": r.close,
                }
                for r in self.aborts_without_line
            ],
        }


def join_error_log(
    log: ErrorLog, reports: list[ConnectionReport], window: float = DEFAULT_WINDOW
) -> JoinResult:
    """Explain every relevant line of `log` with the connection it is about, and attach the
    explanations to the reports (`report.error_log`). Needs all reports: a thread id can be on
    two captured connections (a relaying proxy captured on both legs passes the greeting
    through), and then the one that ended closest to the line's time is the one the server
    logged."""
    result = JoinResult(lines_read=log.lines)
    records = sorted(
        (r for r in log.records if r.kind in JOINED_KINDS), key=lambda r: r.line_number
    )
    mysql = [r for r in reports if r.not_mysql is None]
    by_thread: dict[int, list[ConnectionReport]] = defaultdict(list)
    for report in mysql:
        if report.thread_id is not None:
            by_thread[report.thread_id].append(report)
    matched: set[int] = set()  # conn_ids that explain a line already
    later: list[ErrorLogRecord] = []
    for record in records:
        candidates = [
            r
            for r in (by_thread.get(record.thread_id, []) if record.thread_id else [])
            if (_distance(record, r) <= THREAD_ID_WINDOW or record.epoch is None)
            and not _contradicts(record, r)
        ]
        if candidates:
            report = min(
                candidates,
                key=lambda r: (
                    _consistent(record, r) is False,
                    r.conn_id in matched,
                    _distance(record, r),
                    r.conn_id,
                ),
            )
            result.explained.append(_explain(record, report, "thread id"))
            matched.add(report.conn_id)
        else:
            later.append(record)
    for record in later:  # no thread id to go by: address, user, database, time
        fitting = [
            r
            for r in mysql
            if r.conn_id not in matched
            and _same_client(record, r)
            and _compatible(record, r)
            and _distance(record, r) <= window
        ]
        if fitting:
            report = min(fitting, key=lambda r: (_distance(record, r), r.conn_id))
            result.explained.append(_explain(record, report, "address and time"))
            matched.add(report.conn_id)
        else:
            result.unmatched_lines.append(record)
    result.explained.sort(key=lambda e: e.record.line_number)
    for item in result.explained:
        if item.report is not None:
            item.report.error_log = [*(item.report.error_log or []), item.as_dict()]
    result.aborts_without_line = [
        r for r in mysql if r.server_counter is not None and r.conn_id not in matched
    ]
    result.zone_suspect = any(
        _off_by_a_zone(record, r, window)
        for record in result.unmatched_lines[:ZONE_CHECKED_LINES]
        if not record.timestamp_has_zone and record.epoch is not None
        for r in mysql
        if _same_client(record, r) and _compatible(record, r)
    )
    return result


ZONE_CHECKED_LINES = 20
QUARTER_HOUR = 900.0
MAX_ZONE_OFFSET = 14 * 3600.0


def _off_by_a_zone(record: ErrorLogRecord, report: ConnectionReport, window: float) -> bool:
    when = report.close_ts if report.close_ts is not None else report.end
    offset = abs((record.epoch or 0.0) - when)
    nearest = round(offset / QUARTER_HOUR) * QUARTER_HOUR
    return 0 < nearest <= MAX_ZONE_OFFSET and abs(offset - nearest) <= window


def _explain(record: ErrorLogRecord, report: ConnectionReport, how: str) -> LogExplanation:
    consistent = _consistent(record, report)
    sentence = explain(report)
    if consistent is False:
        sentence += f" Note: the log's reason ({record.reason}) does not match what the wire shows."
    return LogExplanation(record, report, how, sentence, consistent)


def _distance(record: ErrorLogRecord, report: ConnectionReport) -> float:
    if record.epoch is None:
        return float("inf")
    when = report.close_ts if report.close_ts is not None else report.end
    return min(abs(record.epoch - when), abs(record.epoch - report.start))


def _same_client(record: ErrorLogRecord, report: ConnectionReport) -> bool:
    if record.host not in (None, CONNECTING_HOST) and not (
        {record.host, record.real_ip} & ({report.client_ip, report.proxied_client_ip} - {None})
    ):
        return False  # a host name the capture cannot resolve never matches by address
    if (
        record.user not in (None, UNAUTHENTICATED_USER)
        and report.user is not None
        and record.user != report.user
    ):
        return False
    return not (
        record.db not in (None, UNCONNECTED_DB)
        and report.database is not None
        and record.db != report.database
    )


def _contradicts(record: ErrorLogRecord, report: ConnectionReport) -> bool:
    """The same thread id on another server, or before a restart: the line names another user
    or another client address than the connection's. (Not the database: a session may have
    changed it since its login.)"""
    if (
        record.user not in (None, UNAUTHENTICATED_USER)
        and report.user is not None
        and record.user != report.user
    ):
        return True
    logged = [a for a in map(_address, (record.host, record.real_ip)) if a is not None]
    captured = {_address(report.client_ip), _address(report.proxied_client_ip)}
    return bool(logged) and not captured & set(logged)


def _address(host: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address written in the log or the capture, IPv4-mapped IPv6 as IPv4; None for a
    host name (which the capture cannot resolve) or nothing."""
    if host is None:
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _compatible(record: ErrorLogRecord, report: ConnectionReport) -> bool:
    """Without a thread id, only a connection whose ending fits the line may match it. A line
    "Aborted connection 0" was written before the server gave the connection a thread, so a
    connection whose greeting carried one is not it; nor is one whose greeting carried
    another id than the line's."""
    if (
        record.thread_id is None
        and report.thread_id is not None
        and record.kind is Kind.ABORTED_CONNECTION
    ):
        return False  # other lines without an id (a pthread id in old MariaDB) may be any
    if record.thread_id and report.thread_id is not None and record.thread_id != report.thread_id:
        return False
    if record.kind is Kind.ACCESS_DENIED:
        return report.close == "auth_failed"
    if record.kind is Kind.HOST_NOT_ALLOWED:
        return 1130 in report.error_codes
    if record.kind is Kind.HOST_BLOCKED:
        return 1129 in report.error_codes
    if record.reason_kind is Reason.TOO_MANY_CONNECTIONS:
        return 1040 in report.error_codes
    if record.reason_kind is Reason.PACKET_TOO_LARGE:
        return 1153 in report.error_codes
    return _consistent(record, report) is not False and report.server_counter is not None


def _consistent(record: ErrorLogRecord, report: ConnectionReport) -> bool | None:
    if record.kind is Kind.ACCESS_DENIED:  # the login, or a COM_CHANGE_USER, was refused
        return report.close == "auth_failed" or bool(ACCESS_REFUSED & set(report.error_codes))
    if record.kind is not Kind.ABORTED_CONNECTION or record.reason_kind is None:
        return None
    if record.reason_kind is Reason.KILLED and QUERY_KILLED & set(report.error_codes):
        return True  # KILL QUERY: MariaDB logs KILLED; the session got the ERR and went on
    expected = EXPECTED_REASONS.get(report.close)
    if expected is None:
        return None
    return record.reason_kind in expected


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def explain(report: ConnectionReport) -> str:
    """One sentence: what happened to this connection on the wire, with its evidence."""
    thread = f"thread {report.thread_id}: " if report.thread_id is not None else ""
    where = (
        f" (frame {report.close_frame} at {format_ts(report.close_ts)})"
        if report.close_frame
        else ""
    )
    last = f" after its last command ({report.last_command})" if report.last_command else ""
    idle = _ago(report.idle_before_close)
    idle_last = f" {idle}{last}" if idle else last
    client = f"client {report.client_label}"
    sentences = {
        "client_fin_no_quit": f"{client} closed with FIN{idle_last}, without COM_QUIT{where} — "
        "the application did not close the connection",
        "client_rst_no_quit": f"{client} reset the connection (RST){idle_last}, without "
        f"COM_QUIT{where} — the client aborted its socket (SO_LINGER 0, "
        "a crash, or a pool discarding it)",
        "middlebox_rst": f"{report.close_reason}{where}",
        "server_closed_idle": f"the server closed {client}'s connection after {idle or 'a'} "
        f"idle time with no command outstanding{where} — wait_timeout, "
        "or KILL of an idle session",
        "killed_by_server": f"the server closed {client}'s connection while "
        f"{report.last_command or 'a command'} awaited its reply{where} — "
        "KILL, or a server-side timeout",
        "handshake_aborted": f"{report.close_reason}{where}: {client} never logged in",
        "auth_failed": f"{client}: {report.close_reason}{where}",
        "server_closed_error": f"{client}: {report.close_reason}{where}",
        "closed_under_tls": f"{client} closed its TLS connection with FIN{where}; TLS hides "
        "whether it sent COM_QUIT",
        "clean_quit": f"{client} sent COM_QUIT and closed{where}, so the wire shows a clean "
        "goodbye",
        "still_open_at_capture_end": f"{client}'s connection was still open when the capture "
        "ended, so the capture does not show its end",
        "connection_refused": f"{client}'s SYN was refused{where}",
    }
    return thread + sentences.get(report.close, report.close_reason)
