"""What the capture layer hands to its consumer: TCP facts, knowing nothing of MySQL.

These records are the contract between `capture/` and whatever decodes the streams.
A consumer receives ordered payload bytes per direction plus the lifecycle facts below, and
from them alone must be able to tell who opened, who closed, how (FIN or RST), whether the
closing packet really came from the endpoint it claims to come from, and where bytes are
missing. Everything here is plain data; the tracker fills it in as frames arrive.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field, fields
from enum import IntEnum
from typing import Any


def reduce_by_fields(record: Any) -> tuple[type, tuple[object, ...]]:
    """A dataclass's `__reduce__`: rebuilt from its fields by its constructor. (`--jobs` pickles
    reports and a sleeping connection is pickled; the compiled build's default pickling calls
    the constructor without arguments, then sets the fields one by one, which a frozen class
    refuses.)"""
    return type(record), tuple(getattr(record, each.name) for each in fields(record))


class Direction(IntEnum):
    """Who sent the bytes. The values index every per-direction pair and list in this module."""

    CLIENT_TO_SERVER = 0
    SERVER_TO_CLIENT = 1

    @property
    def sender(self) -> str:
        return "client" if self is Direction.CLIENT_TO_SERVER else "server"


C2S = Direction.CLIENT_TO_SERVER
S2C = Direction.SERVER_TO_CLIENT


@dataclass(slots=True, frozen=True)
class Endpoint:
    """One side of a TCP connection. `ip` is the packed address (4 or 16 bytes)."""

    ip: bytes
    port: int

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return reduce_by_fields(self)

    @property
    def address(self) -> str:
        if len(self.ip) == 4:
            return socket.inet_ntoa(self.ip)  # the same text, without an ipaddress object
        return str(ipaddress.ip_address(self.ip))  # (RFC 5952, as ipaddress writes it)

    def __str__(self) -> str:
        if len(self.ip) == 16:
            return f"[{self.address}]:{self.port}"
        return f"{self.address}:{self.port}"


@dataclass(slots=True)
class ControlSegment:
    """A SYN, SYN-ACK, FIN or RST exactly as captured.

    TTL (or IPv6 hop limit), window and flags are kept because they are what separates an RST
    sent by the endpoint from one injected by a firewall, NAT or load balancer on the path:
    an injector sits a different number of hops away and rarely copies the endpoint's window.
    """

    kind: str  # "SYN", "SYN-ACK", "FIN" or "RST"
    direction: Direction  # of the sender
    frame: int
    ts: float
    ttl: int
    window: int
    flags: int  # the raw TCP flags byte (FIN=0x01 SYN=0x02 RST=0x04 PSH=0x08 ACK=0x10 URG=0x20)
    has_ack: bool
    seq: int
    ack: int
    stream_offset: int  # sender's stream position (bytes before this segment's payload)

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return reduce_by_fields(self)


@dataclass(slots=True)
class StreamGap:
    """Bytes of one direction that the capture does not hold.

    The stream carries on after the gap: the consumer is told how many bytes are missing and
    where, so it can resynchronise instead of giving up. `size` is exact when both edges of the
    hole were seen; `size_known` is False when the loss ran to the end of the capture or the
    sequence numbers could not tell.
    """

    direction: Direction
    stream_offset: int  # position in the direction's stream where the missing bytes start
    size: int
    frame: int  # the first frame after the hole (or the truncated frame, for snaplen)
    ts: float
    reason: str  # one of GAP_REASONS
    size_known: bool = True

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return reduce_by_fields(self)


GAP_REASONS = {
    "lost_segment": "segments missing from the capture (lost or dropped by the capture)",
    "snaplen": "frame truncated by the capture's snapshot length",
    "reorder_overflow": "out-of-order buffer cap reached before the hole was filled",
    "capture_end": "segments after a hole never arrived before the capture ended",
    "evicted": "the open-connection cap evicted the connection before the hole was filled",
}


@dataclass(slots=True)
class Retransmission:
    """A segment whose bytes had already been delivered, kept as evidence when it disagrees."""

    direction: Direction
    frame: int
    ts: float
    stream_offset: int
    size: int
    conflicting: bool  # the bytes differ from the first copy (the first copy was kept)

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return reduce_by_fields(self)


def bumped(pair: tuple[int, int], direction: int, amount: int) -> tuple[int, int]:
    """`pair` with `amount` added to its `direction` entry."""
    return (pair[0] + amount, pair[1]) if direction == 0 else (pair[0], pair[1] + amount)


@dataclass(slots=True)
class TcpFacts:
    """Everything the capture saw of one TCP connection, per direction where it matters.

    Per-direction counters are (client-to-server, server-to-client) pairs, indexed by
    `Direction`, and replaced when they change (`bumped`): compiled, a pair is stored in the
    record itself, where a list was an object of its own for each counter of each connection.
    The TTL profile is a list of two dicts. Evidence lists are capped (see `EVIDENCE_CAP`);
    counters are never capped, so a count larger than its list is normal.
    """

    conn_id: int
    client: Endpoint
    server: Endpoint
    role_source: str  # "syn" (who sent the SYN), "port" (server port list), "greeting", "guess"
    first_frame: int
    first_ts: float
    last_frame: int = 0
    last_ts: float = 0.0
    syn: ControlSegment | None = None
    syn_ack: ControlSegment | None = None
    fins: list[ControlSegment] = field(default_factory=list)
    rsts: list[ControlSegment] = field(default_factory=list)
    rst_count: int = 0
    fin_count: int = 0  # FIN segments, retransmitted FINs included (`fins` keeps the first few)
    refused: bool = False  # the SYN was answered by an RST
    # The client acknowledged something (an ACK, or an RST carrying one): after a SYN-ACK, the
    # handshake completed. False for a SYN-ACK never answered, or answered by a scanner's RST.
    client_acked: bool = False
    mid_stream: bool = False  # no SYN seen: the capture began after the connection opened
    open_at_capture_end: bool = False
    evicted: bool = False  # dropped by the open-connection cap before it closed
    released_at: int = 0  # the frame being read when it was handed over (frames + 1: the end)
    release_rank: float = 0.0  # order among those handed over at the same frame (see tracker)
    superseded: bool = False  # a new SYN (another ISN) on the same 4-tuple ended it unclosed
    packets: tuple[int, int] = (0, 0)
    frame_bytes: tuple[int, int] = (0, 0)  # wire length of every frame
    payload_bytes: tuple[int, int] = (0, 0)  # unique, in-order bytes
    last_payload_ts: tuple[float, float] = (0.0, 0.0)
    retransmitted_segments: tuple[int, int] = (0, 0)
    retransmitted_bytes: tuple[int, int] = (0, 0)
    # Of the retransmitted segments: how many disagreed with the first copy, and how many could
    # not be compared because the first copy was no longer held (or was never seen).
    conflicting_retransmissions: tuple[int, int] = (0, 0)
    unverified_retransmissions: tuple[int, int] = (0, 0)
    retransmissions: list[Retransmission] = field(default_factory=list)  # conflicting first
    gaps: list[StreamGap] = field(default_factory=list)
    gap_count: int = 0
    gap_bytes: tuple[int, int] = (0, 0)
    zero_windows: list[ControlSegment] = field(default_factory=list)
    zero_window_count: tuple[int, int] = (0, 0)
    # TTL / hop limit of each sender's packets other than RSTs: value -> packet count.
    ttls: list[dict[int, int]] = field(default_factory=lambda: [{}, {}])

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return reduce_by_fields(self)

    def closes(self) -> list[ControlSegment]:
        """FINs and RSTs in capture order: the raw material of every close verdict."""
        return sorted(self.fins + self.rsts, key=lambda c: c.frame)


EVIDENCE_CAP = 16
