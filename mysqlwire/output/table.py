"""The human report of `analyze`: connections table, findings, summary — 100 columns wide.

Rows are grouped by server and ordered by start. The table shows each connection's verdict and
main finding in brief; the findings section underneath gives every warning and error with its
frame, time and detail, which is what an engineer copies into a ticket.
"""

from __future__ import annotations

import textwrap
from collections import defaultdict
from typing import Any, TextIO

from tabulate import tabulate

from capture import CaptureStats
from mysqlwire.errorlog.join import JoinResult
from mysqlwire.output.describe import format_ts
from mysqlwire.output.schema import capture_record
from mysqlwire.report.attempts import MAX_TALLIED as ATTEMPTS_TALLIED
from mysqlwire.report.connection_report import ConnectionReport
from mysqlwire.report.findings import Finding
from mysqlwire.report.verdicts import VERDICTS

WIDTH = 100
MIN_FINDING_WIDTH = 9  # the header and tabulate's padding; a wider table wraps the finding
MIN_CLIENT_WIDTH = 15  # addresses wrap rather than the page growing past WIDTH
NOT_MYSQL_EXAMPLES = 3
ATTEMPT_EXAMPLES = 3
ANSWERING_SHOWN = 10
MEMBERS_LISTED = 30  # connections named in a paragraph of identical verdicts; the rest counted


def write_table(
    out: TextIO,
    reports: list[ConnectionReport],
    summary: dict[str, object],
    stats: CaptureStats,
    *,
    only_problems: bool = False,
    error_log: JoinResult | None = None,
) -> None:
    shown = [
        r
        for r in reports
        if r.not_mysql is None and (not only_problems or r.severity in ("warning", "error"))
    ]
    shown.sort(key=lambda r: (r.server, r.first_frame))
    # Connections are numbered by conn_id (the frame of their first packet), as in dump and
    # jsonl, so a number in this report finds the connection everywhere else.
    numbers = {id(r): r.conn_id for r in shown}
    if not shown:
        out.write(
            "No connections to show"
            + (" (only problems asked for)" if only_problems else "")
            + ".\n\n"
        )
    by_server: dict[str, list[ConnectionReport]] = defaultdict(list)
    for report in shown:
        by_server[report.server].append(report)
    for server, group in by_server.items():
        version = next((r.server_version for r in group if r.server_version), None)
        out.write(
            f"Server {server}"
            + (f" ({version})" if version else "")
            + f": {len(group)} connection(s)\n"
        )
        out.write(_connections_table(group, numbers) + "\n\n")
    _write_findings(out, shown, numbers)
    if error_log is not None:
        _write_error_log(out, error_log, {r.conn_id: n for r in shown if (n := numbers.get(id(r)))})
    write_summary(out, summary, stats)


def _connections_table(reports: list[ConnectionReport], numbers: dict[int, int]) -> str:
    rows = []
    for report in reports:
        main = report.main_finding
        rows.append(
            [
                numbers[id(report)],
                report.client_label,
                report.thread_id if report.thread_id is not None else "-",
                _user_db(report),
                _duration(report.duration),
                report.commands,
                report.close,
                _brief(main) if main else "",
            ]
        )
    headers = ["#", "client", "thread", "user@db", "dur", "cmds", "close", "finding"]
    # tabulate makes a column at least its header plus 2 wide, and puts 2 spaces between
    # columns. The last column takes what the others leave of WIDTH; long client addresses
    # (IPv6) give up width before it drops below its minimum.
    widths = [
        max(len(header) + 2, *(len(str(row[i])) for row in rows))
        for i, header in enumerate(headers)
    ]
    spare = WIDTH - sum(widths[:-1]) - 2 * (len(headers) - 1)
    client_width = max(MIN_CLIENT_WIDTH, widths[1] - max(0, MIN_FINDING_WIDTH - spare))
    # Wrapped client cells ("<client> via <balancer>") may need less than that: the finding
    # column gets what they leave.
    wrapped = max(
        len(headers[1]) + 2,
        *(len(line) for row in rows for line in textwrap.wrap(str(row[1]), client_width)),
    )
    finding_width = max(MIN_FINDING_WIDTH, spare + widths[1] - wrapped)
    return tabulate(
        rows,
        headers=headers,
        tablefmt="simple",
        disable_numparse=True,
        maxcolwidths=[None, client_width, None, 12, None, None, None, finding_width],
    )  # fmt: skip


def _user_db(report: ConnectionReport) -> str:
    if report.user is None and report.database is None:
        return "?" if report.tls or report.mid_stream else "-"
    database = report.database or ("?" if report.database_unknown else "-")
    text = f"{report.user or '?'}@{database}"
    return text if len(text) <= 12 else text[:11] + "…"


def _duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 3600:
        return f"{seconds:.0f}s"
    return f"{seconds / 3600:.1f}h"


def _brief(item: Finding) -> str:
    """The finding kind plus the one word that matters (an error code, a count)."""
    detail = item.detail
    if item.kind == "mysql_error" and detail.startswith("ERR "):
        code = detail[4:].split(" ", 1)[0]
        return f"{item.severity}: ERR {code}"
    return f"{item.severity}: {item.kind}"


def _write_findings(out: TextIO, reports: list[ConnectionReport], numbers: dict[int, int]) -> None:
    """Connections with warning/error findings in full; connections whose only problem is
    their verdict grouped by verdict, so a hundred identical aborts take one paragraph."""
    lines: list[str] = []
    verdict_only: dict[str, list[ConnectionReport]] = defaultdict(list)
    for report in reports:
        serious = [f for f in report.findings if f.severity in ("warning", "error")]
        if not serious:
            if VERDICTS[report.close].severity is not None:
                verdict_only[report.close].append(report)
            continue
        lines.append(
            textwrap.fill(
                f"#{numbers[id(report)]} {_who(report)}: {report.close} — "
                f"{report.close_reason}{_context(report)}",
                WIDTH,
                subsequent_indent="    ",
            )
        )
        for item in serious:
            where = f"frame {item.frame} at {format_ts(item.ts)}" if item.frame else "overall"
            lines.append(
                textwrap.fill(
                    f"{item.severity} {item.kind} ({where}): {item.detail}",
                    WIDTH,
                    initial_indent="  - ",
                    subsequent_indent="      ",
                )
            )
    for close, group in verdict_only.items():
        first = group[0]
        members = ", ".join(
            f"#{numbers[id(r)]}" + (f" (thread {r.thread_id})" if r.thread_id is not None else "")
            for r in group[:MEMBERS_LISTED]
        )
        if len(group) > MEMBERS_LISTED:
            members += f" and {len(group) - MEMBERS_LISTED:,} more"
        idles = [r.idle_before_close for r in group if r.idle_before_close is not None]
        if not idles:
            idle = ""
        elif min(idles) == max(idles):
            idle = f"; idle {idles[0]:.3f} s before the close"
        else:
            idle = f"; idle {min(idles):.3f}–{max(idles):.3f} s before the close"
        commands = sorted({r.last_command for r in group if r.last_command})
        last = f"; last command {', '.join(commands)}" if commands else ""
        lines.append(
            textwrap.fill(
                f"{close} ×{len(group)}: {first.close_reason}{idle}{last}. Connections: {members}",
                WIDTH,
                subsequent_indent="    ",
            )
        )
    if lines:
        out.write("Findings\n" + "\n".join(lines) + "\n\n")


def _who(report: ConnectionReport) -> str:
    thread = f" thread {report.thread_id}" if report.thread_id is not None else ""
    return f"{report.client_label} -> {report.server}{thread}"


def _context(report: ConnectionReport) -> str:
    parts = []
    if report.last_command:
        parts.append(f"last command {report.last_command}")
    if report.idle_before_close is not None:
        parts.append(f"idle {report.idle_before_close:.3f} s before the close")
    return f" ({', '.join(parts)})" if parts else ""


def _write_error_log(out: TextIO, joined: JoinResult, numbers: dict[int, int]) -> None:
    """Each relevant server log line, then the connection it is about and what happened."""
    relevant = len(joined.explained) + len(joined.unmatched_lines)
    out.write(
        f"Error log: {relevant} relevant line(s) of {joined.lines_read:,}, "
        f"{len(joined.explained)} matched to captured connections\n"
    )
    for item in joined.explained:
        number = numbers.get(item.report.conn_id) if item.report else None
        out.write(
            textwrap.fill(
                f"line {item.record.line_number}: {item.record.raw}",
                WIDTH,
                initial_indent="  ",
                subsequent_indent="      ",
            )
            + "\n"
        )
        label = f"#{number} " if number else ""
        out.write(
            textwrap.fill(
                f"→ {label}{item.sentence} [matched by {item.matched_by}]",
                WIDTH,
                initial_indent="    ",
                subsequent_indent="      ",
            )
            + "\n"
        )
    if joined.unmatched_lines:
        lines = ", ".join(str(r.line_number) for r in joined.unmatched_lines[:30])
        more = "…" if len(joined.unmatched_lines) > 30 else ""
        _line(
            out,
            f"{len(joined.unmatched_lines)} log line(s) match no captured connection "
            f"(the capture started late or ended early, or the client was another "
            f"host): lines {lines}{more}",
        )
        if joined.zone_suspect:
            _line(
                out,
                "some of them are a whole number of hours off a connection they would "
                "match: the log's times are in another zone than this machine's; give "
                "it with --log-tz (e.g. --log-tz UTC)",
            )
    if joined.aborts_without_line:
        members = ", ".join(
            f"#{numbers[r.conn_id]}" if r.conn_id in numbers else r.client
            for r in joined.aborts_without_line[:30]
        )
        _line(
            out,
            f"{len(joined.aborts_without_line)} captured abort(s) have no log line "
            f"(log_warnings / log_error_verbosity too low, or a case the server does not "
            f"log, e.g. MariaDB's 1040 after login): {members}",
        )
    out.write("\n")


def write_summary(out: TextIO, summary: dict[str, object], stats: CaptureStats) -> None:
    out.write("Summary\n")
    by_verdict = summary["by_verdict"]
    assert isinstance(by_verdict, dict)
    verdicts = ", ".join(f"{name} {count}" for name, count in by_verdict.items())
    _line(out, f"{summary['connections']} MySQL connection(s): {verdicts or 'none'}")
    _line(
        out,
        f"server counters this traffic would raise: Aborted_clients "
        f"+{summary['aborted_clients']}, Aborted_connects +{summary['aborted_connects']}",
    )
    errors = summary["errors_by_code"]
    assert isinstance(errors, list)
    if errors:
        _line(
            out,
            "errors by code: "
            + ", ".join(
                f"{e['code']}{' ' + e['name'] if e['name'] else ''} x{e['count']}" for e in errors
            ),
        )
    aborted = summary["clients_by_aborted"]
    assert isinstance(aborted, list)
    if aborted:
        _line(
            out,
            "clients by aborted connections: "
            + ", ".join(f"{c['client']} {c['aborted']} of {c['connections']}" for c in aborted),
        )
    leaks = summary["leaking_clients"]
    assert isinstance(leaks, list)
    for leak in leaks:
        _line(out, f"connection leak suspect {leak['client']}: {leak['detail']}")
    other = summary["not_mysql"]
    assert isinstance(other, dict)
    if other["connections"]:
        kinds = ", ".join(f"{k} {v}" for k, v in other["by_protocol"].items())
        examples = "; ".join(
            f"{e['client']} -> {e['server']} ({e['protocol']})"
            for e in other["examples"][:NOT_MYSQL_EXAMPLES]
        )
        _line(
            out,
            f"{other['connections']} connection(s) on the MySQL port(s) were not MySQL: {kinds}"
            f" (e.g. {examples})",
        )
    attempts = summary.get("tcp_attempts")
    if isinstance(attempts, dict) and attempts["connections"] and not attempts["listed"]:
        _write_attempts(out, attempts)
    capture = capture_record(stats)
    skipped = {k: v for k, v in capture["skipped"].items() if v}  # type: ignore[union-attr]
    files = len(stats.files)
    _line(
        out,
        f"capture: {stats.frames:,} frames in {files} file(s), {stats.connections:,} "
        f"TCP connection(s) on the MySQL port(s), from {format_ts(stats.first_ts)} to "
        f"{format_ts(stats.last_ts)}",
    )
    if stats.tunnelled:
        _line(
            out,
            "frames unwrapped from tunnels: "
            + ", ".join(f"{name} {count:,}" for name, count in stats.tunnelled.items()),
        )
    if skipped:
        _line(
            out,
            "frames not analysed: "
            + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in skipped.items()),
        )
    for warning in stats.warnings:
        _line(out, f"warning: {warning}")


ATTEMPT_KINDS = {
    "unanswered": "SYN never answered",
    "refused": "refused (RST)",
    "half_open": "SYN-ACK never acknowledged (half-open)",
    "reset_after_syn_ack": "reset by the client after the SYN-ACK",
}


def _write_attempts(out: TextIO, attempts: dict[str, Any]) -> None:
    """Connections that never got past the TCP handshake, too many to list: counted, with who
    sent them where, the pattern they make, and a few examples."""
    kinds = ", ".join(f"{ATTEMPT_KINDS[k]} {n:,}" for k, n in attempts["by_kind"].items())
    _line(
        out,
        f"{attempts['connections']:,} connection attempt(s) never got past the TCP handshake "
        f"and are not listed above: {kinds}",
    )
    clients, servers = attempts["client_addresses"], attempts["server_endpoints"]
    where = (
        f"from {_at_least(clients)}{clients:,} client address(es)"
        + _most(attempts["top_clients"], "client")
        + f"; to {_at_least(servers)}{servers:,} server port(s) on "
        + f"{attempts['server_addresses']:,} address(es)"
        + _most(attempts["top_servers"], "server")
    )
    pattern = attempts["pattern"]
    if pattern == "flood":
        where += f": this looks like a SYN flood against {attempts['top_servers'][0]['server']}"
    elif pattern == "scan":
        where += f": this looks like a scan from {attempts['top_clients'][0]['client']}"
    _line(out, where, indent=4)
    answering = attempts["answering_examples"][:ANSWERING_SHOWN]
    if answering:
        more = attempts["answering_servers"] - len(answering)
        _line(
            out,
            "answered with a SYN-ACK (something listens there): "
            + ", ".join(answering)
            + (f" and {more:,} more" if more > 0 else ""),
            indent=4,
        )
    examples = "; ".join(
        f"#{e['conn_id']} {e['client']} -> {e['server']} {e['kind']} at {format_ts(e['start'])}"
        for e in attempts["examples"][:ATTEMPT_EXAMPLES]
    )
    _line(out, f"e.g. {examples}", indent=4)


def _at_least(count: int) -> str:
    return "at least " if count >= ATTEMPTS_TALLIED else ""


def _most(top: list[dict[str, Any]], name: str) -> str:
    """ ", most: 10.0.0.1 (900), 10.0.0.2 (50)": the busiest, when any made more than one."""
    shown = [f"{entry[name]} ({entry['attempts']:,})" for entry in top if entry["attempts"] > 1]
    return f", most: {', '.join(shown)}" if shown else ""


def _line(out: TextIO, text: str, indent: int = 2) -> None:
    out.write(
        textwrap.fill(
            text, WIDTH, initial_indent=" " * indent, subsequent_indent=" " * (indent + 2)
        )
        + "\n"
    )
