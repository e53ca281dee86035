"""The capture-wide summary: verdict counts, what the server's abort counters would have
gained, errors by code, the clients that abort most, and the clients that leak connections.

The leak heuristic targets the classic "Too many connections" story: an application that opens
connections (or leaves result sets unread, so its pool opens more) and never closes them. A
client address is a suspect when the server told it 1040 Too many connections, or when it held
several connections open at once and closed fewer than half of them with COM_QUIT.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from mysqlwire.protocol.error_codes import ERROR_NAMES, TOO_MANY_CONNECTIONS
from mysqlwire.report.connection_report import ConnectionReport
from mysqlwire.report.verdicts import ABORTED_CLIENTS, ABORTED_CONNECTS, VERDICTS

LEAK_MIN_OPEN = 5
TOP_CLIENTS = 10
OTHER_EXAMPLES = 20


@dataclass(slots=True)
class ClientTally:
    connections: int = 0
    clean: int = 0
    without_quit: int = 0
    open_at_end: int = 0
    aborted: int = 0
    too_many_connections: int = 0
    spans: list[tuple[float, float]] = field(default_factory=list)

    def max_open(self) -> int:
        edges = sorted(
            [(start, 1) for start, _ in self.spans] + [(end, -1) for _, end in self.spans]
        )
        open_now = peak = 0
        for _, step in edges:
            open_now += step
            peak = max(peak, open_now)
        return peak


class SummaryBuilder:
    def __init__(self) -> None:
        self.by_verdict: Counter[str] = Counter()
        self.counters: Counter[str] = Counter()
        self.errors: Counter[int] = Counter()
        self.findings: Counter[str] = Counter()
        self.severities: Counter[str] = Counter()
        self.clients: defaultdict[str, ClientTally] = defaultdict(ClientTally)
        self.other_protocols: Counter[str] = Counter()
        self.other_examples: list[dict[str, object]] = []
        self.connections = 0

    def add(self, report: ConnectionReport) -> None:
        if report.not_mysql is not None:
            self.other_protocols[report.not_mysql] += 1
            if len(self.other_examples) < OTHER_EXAMPLES:
                self.other_examples.append(
                    {
                        "client": report.client,
                        "server": report.server,
                        "protocol": report.not_mysql,
                        "bytes": report.bytes_c2s + report.bytes_s2c,
                    }
                )
            return
        self.connections += 1
        self.by_verdict[report.close] += 1
        if report.server_counter:
            self.counters[report.server_counter] += 1
        self.errors.update(report.error_codes)
        for item in report.findings:
            self.findings[item.kind] += 1
        if report.severity:
            self.severities[report.severity] += 1
        tally = self.clients[report.client_ip]
        tally.connections += 1
        tally.spans.append((report.start, report.end))
        if report.close == "clean_quit":
            tally.clean += 1
        elif report.close == "still_open_at_capture_end":
            tally.open_at_end += 1
        elif report.close in ("client_fin_no_quit", "client_rst_no_quit"):
            tally.without_quit += 1
        if report.server_counter:
            tally.aborted += 1
        if TOO_MANY_CONNECTIONS in report.error_codes:
            tally.too_many_connections += 1

    def result(self) -> dict[str, object]:
        return {
            "connections": self.connections,
            "by_verdict": {
                name: self.by_verdict[name] for name in VERDICTS if self.by_verdict[name]
            },
            "aborted_clients": self.counters[ABORTED_CLIENTS],
            "aborted_connects": self.counters[ABORTED_CONNECTS],
            "errors_by_code": [
                {"code": code, "name": ERROR_NAMES.get(code, ("", ""))[0] or None, "count": count}
                for code, count in self.errors.most_common()
            ],
            "findings_by_kind": dict(self.findings.most_common()),
            "connections_by_severity": dict(self.severities),
            "clients_by_aborted": self._clients_by_aborted(),
            "leaking_clients": self._leaking_clients(),
            "not_mysql": {
                "connections": sum(self.other_protocols.values()),
                "by_protocol": dict(self.other_protocols),
                "examples": self.other_examples,
            },
        }

    def _clients_by_aborted(self) -> list[dict[str, object]]:
        ranked = sorted(
            ((ip, t) for ip, t in self.clients.items() if t.aborted),
            key=lambda item: (-item[1].aborted, item[0]),
        )
        return [
            {"client": ip, "aborted": t.aborted, "connections": t.connections}
            for ip, t in ranked[:TOP_CLIENTS]
        ]

    def _leaking_clients(self) -> list[dict[str, object]]:
        suspects = []
        for ip, tally in sorted(self.clients.items()):
            peak = tally.max_open()
            unclosed = tally.without_quit + tally.open_at_end
            if not (
                tally.too_many_connections
                or (peak >= LEAK_MIN_OPEN and tally.clean * 2 < tally.connections)
            ):
                continue
            detail = (
                f"{tally.connections} connections, up to {peak} open at once; "
                f"{tally.clean} closed with COM_QUIT, {tally.without_quit} closed without "
                f"it, {tally.open_at_end} still open at the end"
            )
            if tally.too_many_connections:
                detail += (
                    f"; the server answered 1040 Too many connections "
                    f"{tally.too_many_connections} time(s)"
                )
            suspects.append(
                {
                    "client": ip,
                    "connections": tally.connections,
                    "max_open": peak,
                    "closed_with_quit": tally.clean,
                    "unclosed": unclosed,
                    "too_many_connections": tally.too_many_connections,
                    "detail": detail,
                }
            )
        return suspects
