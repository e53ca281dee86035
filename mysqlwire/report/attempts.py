"""Connection attempts that never got past the TCP handshake: counted, not listed one by one.

A SYN flood, a port scan or a client hammering a server that is down leaves thousands of
"connections" that carried no byte of MySQL: a SYN never answered, a SYN refused by an RST, a
SYN-ACK the client never acknowledged, a scanner's RST right after the SYN-ACK. `tcp_attempt`
names which (None for every connection that got further, or whose start the capture missed).

While a capture holds at most `LISTED_MAX` of them, each is still reported as a connection
like any other (a refused connection is worth its row: a client aimed at the wrong port). Beyond
that they are a flood or a scan, and `analyze` lists none of them: `collapse` takes them out of
the connection counts, and the summary's `tcp_attempts` section says how many of each kind,
between which addresses, what the pattern looks like, with a few examples. They never count
towards the server's `Aborted_connects` (the server never accepted them) nor towards the
per-client tallies and leak suspects (which are about MySQL clients).

Memory stays bounded whatever the flood: counters, at most `MAX_TALLIED` addresses per side,
and `EXAMPLES` example connections (the earliest, so the result does not depend on the order
reports arrive in, as long as fewer than `MAX_TALLIED` addresses are involved).
"""

from __future__ import annotations

import bisect
import ipaddress
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from capture.facts import C2S, TcpFacts

if TYPE_CHECKING:
    from mysqlwire.report.connection_report import ConnectionReport

LISTED_MAX = 20  # attempts still reported one by one; beyond, only counted
EXAMPLES = 5
TOP = 5
MAX_TALLIED = 10_000  # distinct addresses counted per side
PATTERN_MIN = 20  # attempts before a pattern (flood, scan) is named
PATTERN_SHARE = 0.8  # the share one address must have to be "the" source or target
PATTERN_SPREAD = 10  # distinct peers the others must be spread over

ANSWERING_LISTED = 20  # server endpoints that answered with a SYN-ACK, named in the summary

KINDS = {
    "unanswered": "SYN never answered",
    "refused": "SYN refused by an RST (nothing listening)",
    "half_open": "SYN-ACK never acknowledged by the client",
    "reset_after_syn_ack": "reset by the client right after the SYN-ACK (a SYN scan does this)",
}


ANSWERED = frozenset({"half_open", "reset_after_syn_ack"})  # a SYN-ACK came back: listening


def tcp_attempt(facts: TcpFacts) -> str | None:
    """Which kind of attempt that never got past the TCP handshake this connection is: no
    payload either way, no bytes missing, its SYN seen, and the client never acknowledged a
    SYN-ACK. None for anything else."""
    if facts.syn is None or facts.gap_count or facts.payload_bytes[0] or facts.payload_bytes[1]:
        return None
    if facts.refused:
        return "refused"
    if facts.syn_ack is None:
        return "unanswered"
    if facts.client_acked:
        return None
    if any(rst.direction == C2S for rst in facts.rsts):
        return "reset_after_syn_ack"
    return "half_open"


def _host(endpoint: str) -> str:
    """The address of "ip:port" or "[ipv6]:port"."""
    host = endpoint.rsplit(":", 1)[0]
    return host[1:-1] if host.startswith("[") else host


@dataclass(slots=True)
class AttemptTally:
    """Everything the summary says about TCP-only attempts, in bounded memory."""

    count: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    by_verdict: Counter[str] = field(default_factory=Counter)
    by_severity: Counter[str] = field(default_factory=Counter)
    findings: Counter[str] = field(default_factory=Counter)
    clients: dict[str, int] = field(default_factory=dict)  # client address -> attempts
    servers: dict[str, int] = field(default_factory=dict)  # server ip:port -> attempts
    server_hosts: dict[str, int] = field(default_factory=dict)  # server address -> attempts
    answering: dict[str, int] = field(default_factory=dict)  # ip:port that sent a SYN-ACK
    not_tallied: int = 0  # attempts whose client or server came beyond MAX_TALLIED
    examples: list[tuple[int, str, str, str, int, float]] = field(default_factory=list)

    def add(self, report: ConnectionReport) -> None:
        kind = report.tcp_attempt or "unanswered"
        self.count += 1
        self.by_kind[kind] += 1
        self.by_verdict[report.close] += 1
        if report.severity:
            self.by_severity[report.severity] += 1
        self.findings.update(report.finding_counts)
        capped = False
        for table, key in (
            (self.clients, report.client_ip),
            (self.servers, report.server),
            (self.server_hosts, _host(report.server)),
        ):
            if key in table:
                table[key] += 1
            elif len(table) < MAX_TALLIED:
                table[key] = 1
            else:
                capped = True
        if kind in ANSWERED:
            if report.server in self.answering:
                self.answering[report.server] += 1
            elif len(self.answering) < MAX_TALLIED:
                self.answering[report.server] = 1
            else:
                capped = True
        self.not_tallied += capped
        example = (
            report.conn_id,
            report.client,
            report.server,
            kind,
            report.first_frame,
            report.start,
        )
        if len(self.examples) < EXAMPLES or example < self.examples[-1]:
            bisect.insort(self.examples, example)
            del self.examples[EXAMPLES:]

    def result(self) -> dict[str, object]:
        return {
            "connections": self.count,
            "listed": True,
            "by_kind": {kind: self.by_kind[kind] for kind in KINDS if self.by_kind[kind]},
            "by_verdict": dict(sorted(self.by_verdict.items())),
            "by_severity": dict(sorted(self.by_severity.items())),
            "findings_by_kind": dict(sorted(self.findings.items())),
            "client_addresses": len(self.clients),
            "server_endpoints": len(self.servers),
            "server_addresses": len(self.server_hosts),
            "not_tallied": self.not_tallied,
            "top_clients": _top(self.clients, "client"),
            "top_servers": _top(self.servers, "server"),
            "answering_servers": len(self.answering),
            "answering_examples": sorted(self.answering, key=_endpoint_order)[:ANSWERING_LISTED],
            "pattern": self.pattern(),
            "examples": [
                {
                    "conn_id": conn_id,
                    "client": client,
                    "server": server,
                    "kind": kind,
                    "first_frame": frame,
                    "start": start,
                }
                for conn_id, client, server, kind, frame, start in self.examples
            ],
        }

    def pattern(self) -> str | None:
        """ "scan": one client address made most attempts, spread over many server endpoints;
        "flood": one server endpoint got most of them, from many client addresses."""
        if self.count < PATTERN_MIN:
            return None
        top_client = max(self.clients.values(), default=0)
        top_server = max(self.servers.values(), default=0)
        if top_client >= PATTERN_SHARE * self.count and len(self.servers) >= PATTERN_SPREAD:
            return "scan"
        if top_server >= PATTERN_SHARE * self.count and len(self.clients) >= PATTERN_SPREAD:
            return "flood"
        return None


def _endpoint_order(endpoint: str) -> tuple[int, int | str, int]:
    """Sort "ip:port" numerically (IPv4 before IPv6), so the listing does not depend on the
    order the attempts came in."""
    host, _, port = endpoint.rpartition(":")
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return (9, host, int(port or 0))
    return (address.version, int(address), int(port))


def _top(table: dict[str, int], name: str) -> list[dict[str, object]]:
    ranked = sorted(table.items(), key=lambda item: (-item[1], item[0]))[:TOP]
    return [{name: key, "attempts": count} for key, count in ranked]


def collapse(summary: dict[str, object]) -> dict[str, object]:
    """The summary with the TCP-only attempts taken out of the connection counts (they are no
    longer listed one by one): a new dict; `summary` is left as it was."""
    attempts = summary["tcp_attempts"]
    assert isinstance(attempts, dict)
    collapsed = dict(summary)
    collapsed["tcp_attempts"] = {**attempts, "listed": False}
    connections = summary["connections"]
    assert isinstance(connections, int)
    collapsed["connections"] = connections - attempts["connections"]
    for key, taken in (
        ("by_verdict", attempts["by_verdict"]),
        ("connections_by_severity", attempts["by_severity"]),
        ("findings_by_kind", attempts["findings_by_kind"]),
    ):
        counts = summary[key]
        assert isinstance(counts, dict)
        left = {name: count - taken.get(name, 0) for name, count in counts.items()}
        collapsed[key] = {name: count for name, count in left.items() if count > 0}
    return collapsed


__all__ = ["KINDS", "LISTED_MAX", "AttemptTally", "collapse", "tcp_attempt"]
