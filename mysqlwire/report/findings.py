"""Findings: the evidence lines of a connection report, and the table of their kinds.

A finding is one thing worth telling an engineer about a connection, with the frame and time
that prove it. Kinds and their default severities are data (`FINDING_KINDS`), so the jsonl
schema, the docs and `--fail-on` all read one table.
"""

from __future__ import annotations

from dataclasses import dataclass

from capture.facts import reduce_by_fields

SEVERITIES = ("info", "warning", "error")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}


@dataclass(slots=True, frozen=True)
class Finding:
    kind: str
    severity: str
    frame: int | None
    ts: float | None
    detail: str

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return reduce_by_fields(self)

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "frame": self.frame,
            "ts": self.ts,
            "detail": self.detail,
        }


FINDING_KINDS: dict[str, tuple[str, str]] = {
    # kind: (default severity, what it means)
    "mysql_error": ("warning", "the server sent an ERR packet"),
    "sequence_error": ("error", "a packet's sequence id broke the protocol's order"),
    "oversize_packet": ("error", "a packet larger than max_allowed_packet"),
    "split_packet": ("info", "a payload of 16 MB or more, sent as several wire packets"),
    "malformed_packet": ("warning", "a packet that does not parse"),
    "unexpected_packet": ("warning", "a well-formed packet with no place at that point"),
    "incomplete_packet": ("warning", "the stream ended inside a packet"),
    "capture_gap": ("warning", "bytes missing from the capture; what follows may be incomplete"),
    "undecodable": ("warning", "bytes where no MySQL packet boundary could be found"),
    "mid_stream_start": ("info", "the capture began after the connection opened"),
    "mid_stream_skip": (
        "info",
        "bytes before the first packet boundary of a capture that began mid-exchange",
    ),
    "tls": ("info", "TLS after SSLRequest: the contents are invisible"),
    "compressed": ("info", "the compressed protocol is in use"),
    "retransmissions": ("info", "TCP retransmissions"),
    "zero_window": ("warning", "a receiver advertised a zero TCP window (stopped reading)"),
    "rst_after_quit": ("info", "the client reset the connection after COM_QUIT"),
    "connection_refused": ("error", "the SYN was answered by an RST: nothing listening"),
    "middlebox_rst": ("error", "an RST that neither endpoint sent"),
    "payload_capped": ("info", "a packet larger than the decode limit: only its start decoded"),
    "proxy_header": ("info", "a load balancer's PROXY protocol header named the real client"),
}


def finding(
    kind: str, frame: int | None, ts: float | None, detail: str, severity: str | None = None
) -> Finding:
    """A finding of a known kind, at its default severity unless told otherwise."""
    default, _meaning = FINDING_KINDS[kind]
    return Finding(kind, severity or default, frame, ts, detail)


def worst_severity(severities: list[str]) -> str | None:
    if not severities:
        return None
    return max(severities, key=SEVERITY_RANK.__getitem__)
