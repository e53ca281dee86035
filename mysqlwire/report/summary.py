"""The capture-wide summary: verdict counts, what the server's abort counters would have
gained, errors by code, the clients that abort most, and the clients that leak connections.

The leak heuristic targets the classic "Too many connections" story: an application that opens
connections (or leaves result sets unread, so its pool opens more) and never closes them. A
client address is a suspect when it held at least `LEAK_MIN_OPEN` connections open at once and
left at least half of its connections unclosed (closed without COM_QUIT, or still open when
the capture ended). A 1040 it received is reported with it, but is not enough on its own: a
well-behaved client can meet a server that others have filled.

Connections that never got past the TCP handshake (attempts.py) are counted among the
connections and verdicts like the others, and tallied in `tcp_attempts`, but they are left out
of the per-client tallies: a flood from one address is not a leaking client.

The result does not depend on the order reports arrive in (`--jobs` merges several processes),
and memory is bounded: per client address, a capped number of connection spans, kept as two
arrays of floats (16 bytes a span, where a tuple of two floats took about 100); addresses
beyond `MAX_CLIENTS` are counted but not tallied one by one.
"""

from __future__ import annotations

import bisect
from array import array
from collections import Counter
from dataclasses import dataclass, field

from mysqlwire.protocol.error_codes import ERROR_NAMES, TOO_MANY_CONNECTIONS
from mysqlwire.report.attempts import AttemptTally
from mysqlwire.report.connection_report import ConnectionReport
from mysqlwire.report.verdicts import ABORTED_CLIENTS, ABORTED_CONNECTS, VERDICTS

LEAK_MIN_OPEN = 5
TOP_CLIENTS = 10
OTHER_EXAMPLES = 20
MAX_CLIENTS = 100_000
SPANS_PER_CLIENT = 4096  # enough to see how many were open at once; more are only counted


@dataclass(slots=True)
class ClientTally:
    connections: int = 0
    clean: int = 0
    without_quit: int = 0
    open_at_end: int = 0
    aborted: int = 0
    too_many_connections: int = 0
    # The connections' spans, (starts[i], ends[i]) in (start, end) order.
    starts: array[float] = field(default_factory=lambda: array("d"))
    ends: array[float] = field(default_factory=lambda: array("d"))

    def add_span(self, start: float, end: float) -> None:
        """Keep the earliest-starting spans, whatever order they arrive in."""
        starts, ends = self.starts, self.ends
        if len(starts) >= SPANS_PER_CLIENT:
            if (start, end) >= (starts[-1], ends[-1]):
                return
            starts.pop()
            ends.pop()
        at = bisect.bisect_right(starts, start)
        while at and starts[at - 1] == start and ends[at - 1] > end:
            at -= 1  # (the same start: in end order)
        starts.insert(at, start)
        ends.insert(at, end)

    def drop_earliest(self, count: int) -> None:
        del self.starts[:count]
        del self.ends[:count]

    def max_open(self) -> int:
        """The most spans open at once (one ending as another starts counts as not open)."""
        edges = sorted([(start, 1) for start in self.starts] + [(end, -1) for end in self.ends])
        open_now = peak = 0
        for _, step in edges:
            open_now += step
            peak = max(peak, open_now)
        return peak

    @property
    def unclosed(self) -> int:
        return self.without_quit + self.open_at_end


class SummaryBuilder:
    tally_factory: type[ClientTally] = ClientTally  # subclasses may bound it further

    def __init__(self) -> None:
        self.by_verdict: Counter[str] = Counter()
        self.counters: Counter[str] = Counter()
        self.errors: Counter[int] = Counter()
        self.findings: Counter[str] = Counter()
        self.severities: Counter[str] = Counter()
        self.clients: dict[str, ClientTally] = {}
        self.clients_not_tallied = 0
        self.other_protocols: Counter[str] = Counter()
        self.other_examples: list[tuple[str, str, str, int]] = []
        self.attempts = AttemptTally()
        self.connections = 0

    def add(self, report: ConnectionReport) -> None:
        if report.not_mysql is not None:
            self._add_other(report)
            return
        self.connections += 1
        self.by_verdict[report.close] += 1
        if report.server_counter:
            self.counters[report.server_counter] += 1
        self.errors.update(report.error_codes)
        self.findings.update(report.finding_counts)
        if report.severity:
            self.severities[report.severity] += 1
        if report.tcp_attempt is not None:  # not a MySQL client's doing: no client tally
            self.attempts.add(report)
            return
        client = report.real_client_ip
        tally = self.clients.get(client)
        if tally is None:
            if len(self.clients) >= MAX_CLIENTS:
                self.clients_not_tallied += 1
                return
            tally = self.clients[client] = self.tally_factory()
        tally.connections += 1
        tally.add_span(report.start, report.end)
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

    def _add_other(self, report: ConnectionReport) -> None:
        self.other_protocols[report.not_mysql or "unknown"] += 1
        example = (
            report.client,
            report.server,
            report.not_mysql or "unknown",
            report.bytes_c2s + report.bytes_s2c,
        )
        if len(self.other_examples) < OTHER_EXAMPLES or example < self.other_examples[-1]:
            bisect.insort(self.other_examples, example)
            del self.other_examples[OTHER_EXAMPLES:]

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
                for code, count in sorted(self.errors.items(), key=lambda i: (-i[1], i[0]))
            ],
            "findings_by_kind": dict(sorted(self.findings.items(), key=lambda i: (-i[1], i[0]))),
            "connections_by_severity": dict(sorted(self.severities.items())),
            "clients_by_aborted": self._clients_by_aborted(),
            "leaking_clients": self._leaking_clients(),
            "clients_not_tallied": self.clients_not_tallied,
            "not_mysql": {
                "connections": sum(self.other_protocols.values()),
                "by_protocol": dict(sorted(self.other_protocols.items())),
                "examples": [
                    {"client": c, "server": s, "protocol": p, "bytes": b}
                    for c, s, p, b in self.other_examples
                ],
            },
            "tcp_attempts": self.attempts.result(),
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
            if tally.unclosed * 2 < tally.connections:
                continue
            peak = tally.max_open()
            if peak < LEAK_MIN_OPEN:
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
                    "unclosed": tally.unclosed,
                    "too_many_connections": tally.too_many_connections,
                    "detail": detail,
                }
            )
        return suspects
