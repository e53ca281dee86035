"""The connection table and the per-frame loop: frames in, per-connection streams out.

`TcpTracker.feed(frame)` takes one `(frame_no, ts, linktype, data, wire_len)` tuple (a live
capture pushes them one at a time); `run(frames)` is the same call over an iterator,
`run_cursor(cursor)` over a capture's records read in place (`capture.cursor`), and
`finish()` ends the capture. Everything a frame can be is accounted for in `CaptureStats`.

Connections are keyed by their 4-tuple as raw bytes (source address, destination address,
source port, destination port); each orientation maps to its sender's `StreamDirection`,
which knows its `Connection` and `Direction`, so one dict lookup finds who sent the segment
and where its bytes go.

Roles: the sender of a SYN is the client (`role_source="syn"`; a SYN-ACK names the client
too); without a handshake a configured server port decides (`"port"`); otherwise the first
sender is taken to be the client (`"guess"`) and the consumer may call `swap_roles()` when
the bytes say otherwise.

Lifecycle: SYN, SYN-ACK, every FIN and RST (capped lists, uncapped counts), zero windows,
refused connections (SYN answered by RST). A new SYN with another ISN on a 4-tuple finishes
the connection there (closed or not) and starts a new one. A closed connection (RST, or a
FIN each way) lingers `linger` seconds of capture time, absorbing late ACKs and
retransmitted FINs, then the consumer gets `on_close` and the connection is released. An
open-connection cap evicts the least recently active connection, bounding a days-long live
run; it is found with a lazily updated heap, so the per-frame path does no bookkeeping for
it beyond the `last_frame` it records anyway.

Idle connections: a pool keeps connections open and silent for minutes, and a database host
has thousands of them, so what a silent connection holds is kept small. Every
`IDLE_SWEEP_INTERVAL` seconds of capture time the tracker looks at the open connections that
are awake. One that has gone `IDLE_AFTER` seconds without new payload either way (bare ACKs
and keep-alive probes do not count: Go's net.Dialer, which its MySQL driver uses, probes an
idle connection every 15 s) drops its retransmission compare windows (each direction's last
delivered segments, up to 16 KB, kept to tell a retransmission with different bytes), its
sink is told (`on_idle`, see consumer.py) so that it can pack its state, and it goes to
sleep: its facts and both directions are packed into a few hundred bytes and its keys leave
the table (capture/dormant.py). A lookup that misses the table looks among the sleeping
connections, so the next packet either way wakes the connection exactly as it was; so do the
end of the capture, an eviction and a new SYN on its ports. A packet without payload wakes
it for one sweep, after which it sleeps again. A retransmission after the silence is still
counted, as unverified: coming 30 s or more after the bytes were first sent, it is a late
copy of its series (the timeout doubles from 0.2-1 s, so it takes five or more unanswered
copies), whose first copies were compared. (A frame whose timestamp lies far ahead of the
others postpones the sweeps until the capture's time catches up; only memory is at stake.)

Half-open connections: a SYN nobody has answered yet, or answered only by a SYN-ACK, is
kept as a `_Handshake` (a few header fields per packet, packed in a bytes object: about 200
bytes) instead of a `Connection` with its facts, streams and sink (several kilobytes with a
decoder). Retransmitted SYNs, SYN-ACKs and an RST that ends the attempt (refused, or a
scanner's reset) stay in it, and a reset one lingers like any closed connection. Any other
packet (the client's ACK, data, a FIN) turns it into a `Connection` by replaying those packets
through the usual code, so the facts and the order in which connections are handed over are
exactly what they would have been; one that never gets there is replayed the same way when it
is released. A SYN flood therefore costs little memory, and when the open-connection cap is
reached these are evicted first, before any established connection. `compact_handshakes=False`
gives every SYN a `Connection` at once (live capture does, so that its per-connection packet
buffer sees the handshake).

Counting: the reader counts `stats.frames`; a live source calling `feed` itself must count
them too for `stats.unaccounted_frames()` to mean anything. The per-packet counters
(`packets`, `frame_bytes`, `payload_bytes`, `last_payload_ts`, `last_frame`, `last_ts`) are
kept on each sender's `StreamDirection` and copied into `TcpFacts` whenever
`connection.facts` is read and before `on_close`; a sink holding on to the facts object
sees them as of its last read (and not at all after the connection slept: it has new ones).
Everything else in the facts is updated as it happens.

The hot path (`feed_record`) is written flat on purpose: the link, IPv4 and TCP header fields
of the usual frame (Ethernet, SLL or SLL2 + IPv4 without options) are read byte by byte where
the reader left the record (`run_cursor`; compiled, no object is made for them), the 4-tuple
key is a single slice, the ports are checked before anything is allocated, and a pure ACK
only moves counters. dpkt's object-per-layer parse costs about 10 µs a frame; this path
costs about 0.5 µs compiled, delivery to a sink included (bench/capture_throughput.py).
Anything unusual (VLAN tags, IPv6, IPv4 options, fragments, loopback and raw link types)
takes the slow path in `linktypes.py` and `ip.py`.
"""

from __future__ import annotations

import heapq
import math
import struct
from collections import deque
from collections.abc import Iterable
from typing import Final

from capture import dormant
from capture.consumer import ConnectionSink, SinkFactory
from capture.cursor import RecordCursor
from capture.facts import (
    C2S,
    EVIDENCE_CAP,
    S2C,
    ControlSegment,
    Endpoint,
    TcpFacts,
    bumped,
)
from capture.fragments import FragmentTable
from capture.ip import locate_tcp
from capture.linktypes import DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, LINKTYPES
from capture.stats import CaptureStats
from capture.tcp_reassembly import (
    DEFAULT_RECENT_SEGMENTS,
    DEFAULT_REORDER_CAP,
    NO_ACK,
    StreamDirection,
)

Frame = tuple[int, float, int, bytes, int]

FIN: Final = 0x01
SYN: Final = 0x02
RST: Final = 0x04
ACK: Final = 0x10
CONTROL_FLAGS: Final = SYN | FIN | RST

DEFAULT_SERVER_PORTS = frozenset({3306})
DEFAULT_LINGER: Final = 5.0  # seconds of capture time a closed connection is kept
DEFAULT_MAX_CONNECTIONS: Final = 200_000
EVICTED_REMEMBERED: Final = 65_536  # keys (two a connection) of evicted connections remembered
# Seconds of silence after which a connection is idle (see the module docstring): long past
# an application's think time between statements and the first retransmissions of a lost
# segment, short against the minutes a pool keeps a connection idle. Checked every
# IDLE_SWEEP_INTERVAL seconds of capture time.
IDLE_AFTER: Final = 30.0
IDLE_SWEEP_INTERVAL: Final = 10.0

TCP_HEADER = struct.Struct("!HHIIBBH")  # ports, seq, ack, data offset, flags, window
TCP_FIELDS_LEN: Final = 16  # TCP_HEADER.size: the bytes of a TCP header the tracker reads

DIRECTIONS = (C2S, S2C)

FNV_OFFSET: Final = 0x1C9DC5  # FNV-1a (32-bit constants, folded to 24 bits): --jobs shards
FNV_PRIME: Final = 0x01000193

# One packet of a half-open connection: frame, ts, sent by the client, flags, seq, ack, window,
# TTL, wire length.
HANDSHAKE_RECORD = struct.Struct("<QdBBIIHBI")
HANDSHAKE_RECORDS: Final = 8  # packets kept before a half-open connection becomes a `Connection`
# The per-direction counter pairs of `TcpFacts` (swap_roles turns them round; the TTL profile,
# a list, is reversed on its own).
PER_DIRECTION_FACTS: Final = (
    "packets",
    "frame_bytes",
    "payload_bytes",
    "last_payload_ts",
    "retransmitted_segments",
    "retransmitted_bytes",
    "conflicting_retransmissions",
    "unverified_retransmissions",
    "gap_bytes",
    "zero_window_count",
)


class Connection:
    """One tracked connection: its facts and its two senders (`StreamDirection`).

    While it sleeps (`dormant`, see capture/dormant.py) it has neither: they are packed in
    `dormant`, and the tracker wakes it before it changes them. Reading `facts` meanwhile
    unpacks a copy, exact since nothing has happened to the connection since it slept."""

    __slots__ = ("_facts", "closed", "dormant", "queued_frame", "released", "sides", "sink")

    def __init__(self, facts: TcpFacts, sides: list[StreamDirection]) -> None:
        self._facts: TcpFacts | None = facts
        self.sides = sides  # indexed by Direction; each side also sits in the table
        self.sink: ConnectionSink | None = None
        self.closed = False
        self.released = False
        self.dormant: bytes | None = None
        self.queued_frame = facts.first_frame  # its key in the tracker's eviction heap
        self.link(sides)

    def link(self, sides: list[StreamDirection]) -> None:
        """Make `sides` this connection's, each the other's peer."""
        self.sides = sides
        for side in sides:
            side.conn = self
        sides[0].peer, sides[1].peer = sides[1], sides[0]

    @property
    def facts(self) -> TcpFacts:
        """The live facts, with the per-packet counters brought up to date on each read."""
        return self.sync_facts()

    def last_frame(self) -> int:
        return max(self.sides[0].last_frame, self.sides[1].last_frame)

    def sync_facts(self) -> TcpFacts:
        """Copy the counters the hot path keeps on each side into the facts."""
        facts = self._facts
        if facts is None:  # asleep: the facts as they were packed, which nothing has changed
            assert self.dormant is not None
            return dormant.unpack(self.dormant, None)[0]
        c2s, s2c = self.sides
        c2s.flush_ttls()
        s2c.flush_ttls()
        facts.packets = (c2s.packets, s2c.packets)
        facts.frame_bytes = (c2s.frame_bytes, s2c.frame_bytes)
        facts.payload_bytes = (c2s.payload_bytes, s2c.payload_bytes)
        facts.last_payload_ts = (c2s.last_payload_ts, s2c.last_payload_ts)
        latest = s2c if s2c.last_frame > c2s.last_frame else c2s  # (max() keeps the first)
        facts.last_frame, facts.last_ts = latest.last_frame, latest.last_ts
        facts.client_acked = self.sides[S2C].peer_ack != NO_ACK  # set by the client's ACKs
        return facts

    def swap_roles(self) -> None:
        """Exchange client and server: the consumer's bytes showed the guess was wrong.

        Meant for before the consumer has used any data; refused when a SYN decided the
        roles, and on a sleeping connection (a sink calls it from `on_data`, when it is
        awake). Every per-direction fact, evidence record and stream follows the swap."""
        facts = self._facts
        if facts is None:
            raise RuntimeError("a sleeping connection's roles cannot be swapped")
        if facts.role_source == "syn":
            raise RuntimeError("roles decided by the SYN cannot be swapped")
        facts.client, facts.server = facts.server, facts.client
        for name in PER_DIRECTION_FACTS:
            client_side, server_side = getattr(facts, name)
            setattr(facts, name, (server_side, client_side))
        facts.ttls.reverse()
        for record in (
            facts.fins + facts.rsts + facts.zero_windows + facts.gaps + facts.retransmissions
        ):
            record.direction = DIRECTIONS[record.direction ^ 1]
        self.sides.reverse()
        for direction, side in zip(DIRECTIONS, self.sides, strict=True):
            side.direction = direction


class _Handshake:
    """A connection that is, so far, only its SYN (and retransmissions), maybe the SYN-ACK, and
    maybe an RST: each packet's header fields packed into `records`. `key` is the client's
    4-tuple; `closed` once an RST ended it (it then lingers); `conn` is the `Connection` it
    became while lingering, if it became one."""

    __slots__ = ("closed", "conn", "key", "records", "replayed")

    def __init__(self, key: bytes, record: bytes) -> None:
        self.key = key
        self.records = record
        self.closed = False
        self.replayed = False  # it became a Connection (or was evicted as one)
        self.conn: Connection | None = None

    @property
    def released(self) -> bool:
        """Handed over already (as the `Connection` it became)."""
        return self.conn.released if self.conn is not None else self.replayed

    @property
    def conn_id(self) -> int:
        return HANDSHAKE_RECORD.unpack_from(self.records)[0]  # its first frame


def reverse_key(key: bytes) -> bytes:
    """The other direction's 4-tuple key."""
    half = (len(key) - 4) // 2
    return key[half : 2 * half] + key[:half] + key[-2:] + key[-4:-2]


def in_shard(key: bytes, shard: tuple[int, int]) -> bool:
    """Whether a connection belongs to `shard`, decided from either direction's 4-tuple key
    (source address, destination address, source port, destination port) alike.

    Each endpoint (address and port) is hashed alone (FNV-1a, folded to 24 bits) and the two
    hashes added, so both directions give the same sum; a final mix spreads it over the low
    bits. Arithmetic on the key's bytes, not slices, because a `--jobs N` process runs this for
    every frame of the other processes' connections; 24 bits because compiled code multiplies
    operands below 2**30 in a machine word, and larger ones as Python integer objects."""
    half = (len(key) - 4) // 2
    one = other = FNV_OFFSET
    for at in range(half):
        one = ((one ^ key[at]) * FNV_PRIME) & 0xFFFFFF
        other = ((other ^ key[half + at]) * FNV_PRIME) & 0xFFFFFF
    ports = 2 * half
    for at in range(2):
        one = ((one ^ key[ports + at]) * FNV_PRIME) & 0xFFFFFF
        other = ((other ^ key[ports + 2 + at]) * FNV_PRIME) & 0xFFFFFF
    mixed = (one + other) & 0xFFFFFF
    mixed = ((mixed ^ (mixed >> 12)) * 0x45D9F3) & 0xFFFFFF
    mixed ^= mixed >> 12
    return mixed % shard[1] == shard[0]


class TcpTracker:
    """Turns frames into per-connection ordered streams for the consumer's sinks.

    `server_ports`: connections with neither port in the set are only counted
    (`stats.tcp_other_ports`); None tracks every TCP connection. `linger`: seconds of capture
    time a closed connection stays to absorb late packets. `max_connections`: open
    connections kept before the least recently active is evicted. `reorder_cap`: bytes held
    out of order per direction before a gap is declared. `recent_segments`: delivered
    segments kept per direction to compare retransmissions against. `shard`: (index, count)
    to track only the connections whose endpoint pair hashes to `index` modulo `count`, so that
    `count` processes reading the same capture split its connections between them; the frames
    of the others are counted in `stats.other_shard`. `compact_handshakes`: keep connections
    that are only a SYN (and its answer) in a few hundred bytes until they carry more.
    `idle_after`: seconds of silence after which a connection is idle (see the module
    docstring; `math.inf`: never).
    """

    def __init__(
        self,
        sink_factory: SinkFactory,
        stats: CaptureStats | None = None,
        *,
        server_ports: Iterable[int] | None = DEFAULT_SERVER_PORTS,
        linger: float = DEFAULT_LINGER,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        reorder_cap: int = DEFAULT_REORDER_CAP,
        recent_segments: int = DEFAULT_RECENT_SEGMENTS,
        fragment_timeout: float = 30.0,
        shard: tuple[int, int] | None = None,
        compact_handshakes: bool = True,
        idle_after: float = IDLE_AFTER,
    ) -> None:
        self.sink_factory = sink_factory
        self.stats = stats if stats is not None else CaptureStats()
        self.server_ports = None if server_ports is None else frozenset(server_ports)
        # The one server port, when there is one (the usual case): compiled, comparing two
        # ports with it makes no object, where a set lookup makes one for each.
        self._server_port = (
            next(iter(self.server_ports))
            if self.server_ports is not None and len(self.server_ports) == 1
            else -1
        )
        self.linger = linger
        self.idle_after = idle_after
        self.max_connections = max(1, max_connections)
        self.reorder_cap = reorder_cap
        self.recent_segments = recent_segments
        self.fragments = FragmentTable(self.stats, timeout=fragment_timeout)
        self._table: dict[bytes, StreamDirection] = {}  # sender's 4-tuple -> its side
        self._connections: dict[int, Connection] = {}  # by conn_id, in creation order
        # (frame of last activity when queued, conn_id): a lazy min-heap for eviction.
        self._activity: list[tuple[int, int]] = []
        self._lingering: deque[tuple[float, Connection | _Handshake]] = deque()
        self._linger_due = math.inf  # the first lingering deadline (a float for the hot path)
        # Half-open connections by the client's key, oldest first (see the module docstring).
        self._handshakes: dict[bytes, _Handshake] = {}
        # Sleeping connections by the client's key (see capture/dormant.py): their sides are
        # out of `_table`.
        self._dormant: dict[bytes, Connection] = {}
        self.compact_handshakes = compact_handshakes
        self._replaying: _Handshake | None = None
        # 4-tuple keys of connections the cap evicted, oldest first (see _after_eviction)
        self._evicted: dict[bytes, None] = {}
        self._last_frame = 0
        self._current_frame = 0  # the frame being fed: when a connection is handed over
        self._last_ts = 0.0
        self._next_idle_sweep = -math.inf
        self._warned_linktypes: set[int] = set()
        self.shard = shard if shard is not None and shard[1] > 1 else None

    # -- driving ------------------------------------------------------------------------

    def run(self, frames: Iterable[Frame]) -> None:
        """Feed every frame of an iterator (the same code path as a live `feed`)."""
        for frame_no, ts, linktype, data, wire_len in frames:
            # (compiled, a bound method in a local would be a Python call)
            self.feed_record(data, 0, len(data), frame_no, ts, linktype, wire_len)

    def run_cursor(self, cursor: RecordCursor) -> None:
        """Feed every record of a cursor, read in place: the analysis's hot path (no frame
        tuple and no copy of the record are made). Closes the cursor, however it ends."""
        try:
            while cursor.advance():
                self.feed_record(
                    cursor.buf, cursor.start, cursor.caplen, cursor.frame_no, cursor.ts,
                    cursor.linktype, cursor.wire_len,
                )  # fmt: skip
        finally:
            cursor.close()

    def open_connections(self) -> int:
        """Connections tracked now, half-open ones included."""
        return len(self._connections) + len(self._handshakes)

    def sleeping_connections(self) -> int:
        """Open connections idle long enough to be kept packed (see capture/dormant.py)."""
        return len(self._dormant)

    def half_open_connections(self) -> int:
        """Connections kept compactly: only a SYN, maybe its SYN-ACK or an RST, so far."""
        return len(self._handshakes)

    def feed(self, frame: Frame) -> None:
        """Account one frame: skip it, or update its connection and deliver its bytes."""
        frame_no, ts, linktype, data, wire_len = frame
        self.feed_record(data, 0, len(data), frame_no, ts, linktype, wire_len)

    def feed_record(
        self,
        buf: bytes,
        start: int,
        caplen: int,
        frame_no: int,
        ts: float,
        linktype: int,
        wire_len: int,
    ) -> None:
        """`feed` for the frame at `buf[start:start + caplen]`: the headers are read in place
        and only the payload is copied out."""
        self._current_frame = frame_no
        if ts >= self._linger_due:
            self._release_lingering(ts)
        if ts >= self._next_idle_sweep:
            self._sweep_idle(ts)
        # The usual frame, a fixed-size link header + IPv4 without options + TCP, read byte
        # by byte from where it lies (compiled, no object is made for a header field).
        limit = start + caplen  # the end of the captured bytes
        if linktype == DLT_EN10MB:
            ethertype_at = start + 12
            ip = start + 14
        elif linktype == DLT_LINUX_SLL:
            ethertype_at = start + 14
            ip = start + 16
        elif linktype == DLT_LINUX_SLL2:
            ethertype_at = start
            ip = start + 20
        else:
            ethertype_at = ip = -1
        tcp = ip + 20
        if (
            ip >= 0
            and tcp + TCP_FIELDS_LEN <= limit
            and buf[ethertype_at] == 0x08
            and buf[ethertype_at + 1] == 0x00
            and buf[ip] == 0x45
            and buf[ip + 9] == 6
            and not buf[ip + 6] & 0x3F
            and not buf[ip + 7]
        ):
            total = buf[ip + 2] << 8 | buf[ip + 3]
            end = ip + total if total else limit
            ttl = buf[ip + 8]
            key = buf[ip + 12 : ip + 24]  # addresses and ports are contiguous here
            sport = buf[tcp] << 8 | buf[tcp + 1]
            dport = buf[tcp + 2] << 8 | buf[tcp + 3]
            seq = buf[tcp + 4] << 24 | buf[tcp + 5] << 16 | buf[tcp + 6] << 8 | buf[tcp + 7]
            ack = buf[tcp + 8] << 24 | buf[tcp + 9] << 16 | buf[tcp + 10] << 8 | buf[tcp + 11]
            data_offset = buf[tcp + 12]
            flags = buf[tcp + 13]
            window = buf[tcp + 14] << 8 | buf[tcp + 15]
        else:
            data = buf[start:limit] if start or limit != len(buf) else buf
            parsed = self._parse_slow(linktype, data, ts)
            if parsed is None:
                return
            (key, ttl, buf, tcp, end,
             sport, dport, seq, ack, data_offset, flags, window) = parsed  # fmt: skip
            limit = len(buf)
        server_port = self._server_port
        if server_port >= 0:
            if sport != server_port and dport != server_port:
                self.stats.tcp_other_ports += 1
                return
        elif (ports := self.server_ports) is not None and sport not in ports and dport not in ports:
            self.stats.tcp_other_ports += 1
            return
        if self.shard is not None and key not in self._table and not in_shard(key, self.shard):
            self.stats.other_shard += 1
            return
        payload_start = tcp + (data_offset >> 4) * 4
        if payload_start >= end:
            if payload_start > end or data_offset < 0x50:
                self.stats.malformed += 1
                return
            payload = b""
            missing = 0
        elif end <= limit:
            payload = buf[payload_start:end]
            missing = 0
            if data_offset < 0x50:
                self.stats.malformed += 1
                return
        else:  # the snapshot length cut the frame
            self.stats.cut_by_snaplen += 1
            missing = end - max(limit, payload_start)
            # (a slice whose start is past its end, compiled, fails rather than being empty)
            payload = buf[payload_start:limit] if payload_start < limit else b""

        side = self._table.get(key)
        if side is None and self._dormant:
            side = self._awoken_by(key)
        if (
            side is None
            and self._evicted
            and key in self._evicted
            and self._after_eviction(key, flags)
        ):
            return
        if side is None and self.compact_handshakes:
            if self._handshake_packet(
                key, seq, ack, flags, window, ttl, frame_no, ts, wire_len, len(payload) + missing
            ):
                return
            side = self._table.get(key)  # a half-open connection became a Connection
        if side is None or flags & CONTROL_FLAGS:
            side = self._lifecycle(
                side, key, sport, dport, seq, ack, flags, window, ttl, frame_no, ts,
                len(payload) + missing,
            )  # fmt: skip
        side.packets += 1
        side.frame_bytes += wire_len
        side.last_frame = frame_no
        side.last_ts = ts
        if not flags & RST:
            if ttl == side.ttl_run:
                side.ttl_run_count += 1
            else:
                side.count_ttl(ttl)
            if not window and not flags & SYN:
                self._zero_window(side, frame_no, ts, ttl, flags, seq, ack)
        if flags & ACK:
            peer = side.peer
            assert peer is not None  # (None only once released, and then out of the table)
            peer.peer_ack = ack
            if peer.pending is not None:
                peer.peer_acked(ack, frame_no, ts)
            elif payload and ack != peer.next_seq and peer.sink is not None:
                # The ACK covers bytes of the peer the capture never saw (a dropped greeting,
                # say): declare them lost now, so the consumer gets the two streams in the
                # order they were sent, not this data before a hole found only at the close.
                peer.trailing_loss(frame_no, ts)
        if (payload or missing) and side.sink is not None:
            if flags & SYN:
                seq += 1  # data on a SYN (TCP Fast Open) starts after the ISN
            side.segment(seq, payload, missing, frame_no, ts)
        if flags & (FIN | RST):
            self._closing_flags(side, flags, frame_no, ts)

    def finish(self) -> None:
        """The capture ended: release every connection, lingering ones first, then the others
        oldest first."""
        self._current_frame = self.stats.frames + 1  # after every frame
        while self._lingering:
            deadline, item = self._lingering.popleft()
            self._release_lingered(item, deadline)
        self._linger_due = math.inf
        remaining: list[tuple[int, Connection | _Handshake]] = list(self._connections.items())
        remaining += [(handshake.conn_id, handshake) for handshake in self._handshakes.values()]
        remaining.sort(key=lambda item: item[0])
        for _conn_id, item in remaining:
            if isinstance(item, _Handshake):
                conn = self._replay(item)
            else:
                conn = item
                if conn.dormant is not None:
                    self._wake(conn)
            conn.sync_facts().open_at_capture_end = True
            self._release(conn, "capture_end")
        self.fragments.give_up()

    # -- half-open connections ------------------------------------------------------------

    def _handshake_packet(
        self,
        key: bytes,
        seq: int,
        ack: int,
        flags: int,
        window: int,
        ttl: int,
        frame_no: int,
        ts: float,
        wire_len: int,
        payload_len: int,
    ) -> bool:
        """A packet of no tracked connection: True when a half-open connection took it (a
        new SYN starts one), False when it is for the usual path (having turned the half-open
        connection it belongs to, if any, into a `Connection`)."""
        handshakes = self._handshakes
        handshake = handshakes.get(key)
        from_client = True
        if handshake is None:
            handshake = handshakes.get(reverse_key(key))
            from_client = False
        if handshake is None:
            if flags & (SYN | ACK | FIN | RST) != SYN or payload_len:
                return False
            if len(self._connections) + len(handshakes) >= self.max_connections:
                self._evict_one()
            record = HANDSHAKE_RECORD.pack(frame_no, ts, 1, flags, seq, ack, window, ttl, wire_len)
            handshakes[key] = _Handshake(key, record)
            self.stats.connections += 1
            return True
        kind = flags & (SYN | ACK | FIN | RST)
        if handshake.closed:
            absorbed = not flags & SYN  # late packets of an attempt that was reset
        elif kind == RST or kind == RST | ACK:
            absorbed = True
        elif from_client:
            absorbed = kind == SYN and seq == HANDSHAKE_RECORD.unpack_from(handshake.records)[4]
        else:
            absorbed = kind == SYN | ACK
        if (
            absorbed
            and not payload_len
            and len(handshake.records) < HANDSHAKE_RECORDS * HANDSHAKE_RECORD.size
        ):
            handshake.records += HANDSHAKE_RECORD.pack(
                frame_no, ts, from_client, flags, seq, ack, window, ttl, wire_len
            )
            if flags & RST and not handshake.closed:
                handshake.closed = True
                self._linger(ts + self.linger, handshake)
            return True
        conn = self._replay(handshake)
        if handshake.closed:
            handshake.conn = conn  # its place in the linger queue now stands for conn
        return False

    def _replay(self, handshake: _Handshake) -> Connection:
        """Turn a half-open connection into a `Connection`: its packets go through the same
        steps as in `feed` (there were no payloads), so the facts come out the same."""
        del self._handshakes[handshake.key]
        handshake.replayed = True
        self._replaying = handshake
        client_key, server_key = handshake.key, reverse_key(handshake.key)
        client_port: int
        server_port: int
        client_port, server_port = struct.unpack("!HH", client_key[-4:])
        # Declared so that compiled, the record's fields are machine values, not objects
        # (struct's unpack is typed as returning Any).
        frame_no: int
        ts: float
        from_client: int
        flags: int
        seq: int
        ack: int
        window: int
        ttl: int
        wire_len: int
        side = None
        try:
            for record in HANDSHAKE_RECORD.iter_unpack(handshake.records):
                frame_no, ts, from_client, flags, seq, ack, window, ttl, wire_len = record
                key = client_key if from_client else server_key
                sport, dport = (
                    (client_port, server_port) if from_client else (server_port, client_port)
                )
                side = self._table.get(key)
                if side is None or flags & CONTROL_FLAGS:
                    side = self._lifecycle(
                        side, key, sport, dport, seq, ack, flags, window, ttl, frame_no, ts, 0
                    )
                side.packets += 1
                side.frame_bytes += wire_len
                side.last_frame = frame_no
                side.last_ts = ts
                if not flags & RST:
                    side.count_ttl(ttl)
                    if not window and not flags & SYN:
                        self._zero_window(side, frame_no, ts, ttl, flags, seq, ack)
                if flags & ACK:
                    peer = side.peer
                    assert peer is not None
                    peer.peer_ack = ack
                if flags & (FIN | RST):
                    self._closing_flags(side, flags, frame_no, ts)
        finally:
            self._replaying = None
        assert side is not None and side.conn is not None
        return side.conn

    def _release_lingered(self, item: Connection | _Handshake, deadline: float) -> None:
        """The linger of a closed connection (or reset half-open one) is over: hand it over."""
        if isinstance(item, _Handshake):
            if item.conn is not None:
                conn = item.conn
            elif not item.replayed:
                conn = self._replay(item)
            else:
                return  # evicted meanwhile
        else:
            conn = item
        if not conn.released:
            self._release(conn, "lost_segment", deadline)

    # -- the slow paths -----------------------------------------------------------------

    def _parse_slow(
        self, linktype: int, data: bytes, ts: float
    ) -> tuple[bytes, int, bytes, int, int, int, int, int, int, int, int, int] | None:
        """Frames the fast path does not take: (key, ttl, buffer, TCP offset, IP end, and the
        TCP header fields), or None once the frame is counted."""
        try:
            located = self._locate(linktype, data, ts)
            if located is None:
                return None
            addresses, ttl, data, tcp, end = located
            header = TCP_HEADER.unpack_from(data, tcp)
        except (struct.error, IndexError):
            self.stats.too_short += 1
            return None
        return (addresses + data[tcp : tcp + 4], ttl, data, tcp, end, *header)

    def _locate(
        self, linktype: int, data: bytes, ts: float
    ) -> tuple[bytes, int, bytes, int, int] | None:
        link = LINKTYPES.get(linktype)
        if link is None:
            unsupported = self.stats.unsupported_linktype
            unsupported[linktype] = unsupported.get(linktype, 0) + 1
            if linktype not in self._warned_linktypes:
                self._warned_linktypes.add(linktype)
                self.stats.warn(f"link type {linktype} is not supported: its frames are counted")
            return None
        ethertype, offset = link.locate(data)
        return locate_tcp(ethertype, data, offset, ts, self.stats, self.fragments)

    def _lifecycle(
        self,
        side: StreamDirection | None,
        key: bytes,
        sport: int,
        dport: int,
        seq: int,
        ack: int,
        flags: int,
        window: int,
        ttl: int,
        frame_no: int,
        ts: float,
        payload_len: int,
    ) -> StreamDirection:
        """New connections, port reuse, and the SYN/FIN/RST records."""
        if flags & SYN and not flags & ACK and side is not None:
            conn = side.conn
            assert conn is not None  # (None only once released, and then out of the table)
            syn = side.facts.syn
            if syn is None or syn.seq != seq:  # a new connection on a reused 4-tuple
                if not conn.closed:
                    side.facts.superseded = True
                self._release(conn, "lost_segment")
                side = None
        if side is None:
            side = self._new_connection(key, sport, dport, flags, frame_no, ts)
        if not flags & CONTROL_FLAGS:
            return side
        facts = side.facts
        direction = side.direction
        if flags & SYN:
            if not side.started:
                side.start(seq + 1)
            if not flags & ACK:
                if facts.syn is None:
                    facts.syn = self._control("SYN", side, frame_no, ts, ttl, window, flags, seq,
                                              ack, 0)  # fmt: skip
            elif facts.syn_ack is None:
                facts.syn_ack = self._control("SYN-ACK", side, frame_no, ts, ttl, window, flags,
                                              seq, ack, 0)  # fmt: skip
                peer = side.peer
                assert peer is not None
                if not peer.started:
                    peer.start(ack)
        if flags & (FIN | RST):
            offset = side.position(seq)
            if flags & RST:
                facts.rst_count += 1
                if len(facts.rsts) < EVIDENCE_CAP:
                    facts.rsts.append(self._control("RST", side, frame_no, ts, ttl, window,
                                                    flags, seq, ack, offset))  # fmt: skip
                if direction == S2C and facts.syn is not None and facts.syn_ack is None:
                    facts.refused = True
            else:
                facts.fin_count += 1
                if len(facts.fins) < EVIDENCE_CAP:
                    facts.fins.append(self._control("FIN", side, frame_no, ts, ttl, window,
                                                    flags, seq, ack, offset))  # fmt: skip
                side.note_fin(seq + payload_len)
        return side

    @staticmethod
    def _control(
        kind: str,
        side: StreamDirection,
        frame_no: int,
        ts: float,
        ttl: int,
        window: int,
        flags: int,
        seq: int,
        ack: int,
        offset: int,
    ) -> ControlSegment:
        return ControlSegment(
            kind, side.direction, frame_no, ts, ttl, window, flags, bool(flags & ACK), seq, ack,
            offset,
        )  # fmt: skip

    def _new_connection(
        self,
        key: bytes,
        sport: int,
        dport: int,
        flags: int,
        frame_no: int,
        ts: float,
    ) -> StreamDirection:
        if len(self._connections) + len(self._handshakes) >= self.max_connections:
            self._evict_one()
        addresses = key[:-4]
        half = len(addresses) // 2
        sender = Endpoint(addresses[:half], sport)
        receiver = Endpoint(addresses[half:], dport)
        ports = self.server_ports
        if flags & SYN:
            role = "syn"
            sender_is_client = not flags & ACK
        elif ports is not None and (dport in ports) != (sport in ports):
            role = "port"
            sender_is_client = dport in ports
        else:
            role = "guess"
            sender_is_client = True
        other_key = reverse_key(key)
        if sender_is_client:
            client, server, keys = sender, receiver, (key, other_key)
        else:
            client, server, keys = receiver, sender, (other_key, key)
        facts = TcpFacts(
            conn_id=frame_no,  # unique, and the same whichever process tracks it (--jobs)
            client=client,
            server=server,
            role_source=role,
            first_frame=frame_no,
            first_ts=ts,
            mid_stream=not flags & SYN,
        )
        sides = [
            StreamDirection(direction, facts, None, self.reorder_cap, self.recent_segments)
            for direction in DIRECTIONS
        ]
        conn = Connection(facts, sides)
        table = self._table
        for side, side_key in zip(sides, keys, strict=True):
            side.key = side_key
            table[side_key] = side
        self._connections[facts.conn_id] = conn
        self._queue_activity(frame_no, facts.conn_id)
        if self._replaying is None:  # a half-open connection was counted when it began
            self.stats.connections += 1
        sink = self.sink_factory(conn)
        if sink is not None:
            conn.sink = sink
            for side in conn.sides:
                side.sink = sink
        return table[key]

    def _zero_window(
        self,
        side: StreamDirection,
        frame_no: int,
        ts: float,
        ttl: int,
        flags: int,
        seq: int,
        ack: int,
    ) -> None:
        facts = side.facts
        facts.zero_window_count = bumped(facts.zero_window_count, side.direction, 1)
        if len(facts.zero_windows) < EVIDENCE_CAP:
            facts.zero_windows.append(
                self._control(
                    "ZERO-WINDOW", side, frame_no, ts, ttl, 0, flags, seq, ack,
                    side.position(seq),
                )
            )  # fmt: skip

    def _closing_flags(self, side: StreamDirection, flags: int, frame_no: int, ts: float) -> None:
        """After a FIN or RST's payload was delivered: flush holes on RST, start lingering
        once the connection is closed (RST, or a FIN from each side)."""
        conn = side.conn
        assert conn is not None
        if flags & RST and conn.sink is not None:
            for each in conn.sides:
                each.flush("lost_segment", frame_no, ts)
        if conn.closed:
            return
        if flags & RST or all(each.fin_offset is not None for each in conn.sides):
            conn.closed = True
            replaying = self._replaying
            if replaying is None or not replaying.closed:
                self._linger(ts + self.linger, conn)
            # else: the half-open connection's own place in the linger queue stands for it
            for each in conn.sides:  # lingering should cost little: drop the compare window
                each.forget_recent()

    def _linger(self, deadline: float, item: Connection | _Handshake) -> None:
        lingering = self._lingering
        lingering.append((deadline, item))
        self._linger_due = lingering[0][0]

    def _release_lingering(self, now: float) -> None:
        lingering = self._lingering
        while lingering and lingering[0][0] <= now:
            deadline, item = lingering.popleft()
            self._release_lingered(item, deadline)
        self._linger_due = lingering[0][0] if lingering else math.inf

    def _sweep_idle(self, now: float) -> None:
        """Put the idle connections to sleep: drop their compare windows, tell their sinks."""
        self._next_idle_sweep = now + IDLE_SWEEP_INTERVAL
        idle_before = now - self.idle_after
        for conn in self._connections.values():
            if conn.closed or conn.dormant is not None:
                continue  # lingering (its sink hears on_close soon), or asleep already
            c2s, s2c = conn.sides
            if max(c2s.last_payload_ts, s2c.last_payload_ts, c2s.facts.first_ts) >= idle_before:
                continue
            c2s.forget_recent()
            s2c.forget_recent()
            if conn.sink is not None:
                on_idle = getattr(conn.sink, "on_idle", None)  # (optional: see consumer.py)
                if on_idle is not None:
                    on_idle()
            self._sleep(conn)

    def _sleep(self, conn: Connection) -> None:
        """Keep an idle connection's facts and sides packed until something wakes it (see
        capture/dormant.py). A state that will not pack stays awake: packing only saves."""
        c2s, s2c = conn.sides
        table = self._table
        assert table.get(c2s.key) is c2s and table.get(s2c.key) is s2c  # (open: in the table)
        facts = conn.sync_facts()
        try:
            packed = dormant.pack(facts, conn.sides)
        except Exception:  # (a state the test suites never reached that will not pickle)
            return
        last = conn.last_frame()
        if last > conn.queued_frame:  # a sleeping connection is current in the eviction heap
            conn.queued_frame = last
            self._queue_activity(last, facts.conn_id)
        del table[c2s.key], table[s2c.key]
        self._dormant[c2s.key] = conn
        for side in conn.sides:  # (no cycle left for the garbage collector)
            side.conn = side.peer = side.sink = None
        conn.sides = []
        conn._facts = None
        conn.dormant = packed

    def _wake(self, conn: Connection) -> None:
        """A sleeping connection's facts and sides, back as they were."""
        packed = conn.dormant
        assert packed is not None
        facts, sides = dormant.unpack(packed, conn.sink)
        conn.dormant = None
        conn._facts = facts
        conn.link(sides)
        table = self._table
        for side in sides:
            table[side.key] = side
        del self._dormant[sides[0].key]

    def _awoken_by(self, key: bytes) -> StreamDirection | None:
        """The side sending on `key` if a packet on it wakes a sleeping connection."""
        conn = self._dormant.get(key)
        if conn is None:
            conn = self._dormant.get(reverse_key(key))
            if conn is None:
                return None
        self._wake(conn)
        return self._table[key]

    def _queue_activity(self, frame: int, conn_id: int) -> None:
        """Queue a connection in the eviction heap at `frame`, first rebuilding the heap when
        stale entries (released connections, activity since queued) outnumber the live ones:
        a pool woken by keep-alives and put back to sleep again and again queues each time."""
        activity = self._activity
        if len(activity) > 2 * len(self._connections) + 64:
            activity[:] = [(c.queued_frame, each) for each, c in self._connections.items()]
            heapq.heapify(activity)
        heapq.heappush(activity, (frame, conn_id))

    def _remember_evicted(self, conn: Connection) -> None:
        evicted = self._evicted
        for side in conn.sides:
            evicted[side.key] = None
        while len(evicted) > EVICTED_REMEMBERED:
            del evicted[next(iter(evicted))]

    def _after_eviction(self, key: bytes, flags: int) -> bool:
        """A packet of a connection the cap evicted: count it and say True, until the
        connection ends (FIN or RST) or a new SYN opens another on the same ports."""
        if flags & SYN:
            self._evicted.pop(key, None)
            self._evicted.pop(reverse_key(key), None)
            return False
        self.stats.after_eviction += 1
        if flags & (FIN | RST):
            self._evicted.pop(key, None)
            self._evicted.pop(reverse_key(key), None)
        return True

    def _evict_one(self) -> None:
        """Evict the least recently active connection.

        The heap holds each connection at the frame it was last known active; an entry
        whose connection has been active since is pushed back with its newer frame. The
        first entry found current is the true least recently active connection, because
        every other connection's activity is at least its own heap key.

        Half-open connections go first, oldest first: a SYN flood must not push established
        connections out."""
        if self._handshakes:
            handshake = next(iter(self._handshakes.values()))
            evicted = self._replay(handshake)
            if handshake.closed:
                handshake.conn = evicted
            evicted.sync_facts().evicted = True
            self.stats.connections_evicted += 1
            self._remember_evicted(evicted)
            self._release(evicted, "evicted")
            return
        connections = self._connections
        heap = self._activity
        while True:
            queued, conn_id = heapq.heappop(heap)
            conn = connections.get(conn_id)
            if conn is None or conn.queued_frame != queued:
                continue
            last = conn.queued_frame if conn.dormant is not None else conn.last_frame()
            if last > queued:
                conn.queued_frame = last
                heapq.heappush(heap, (last, conn_id))
                continue
            if conn.dormant is not None:
                self._wake(conn)
            conn.sync_facts().evicted = True
            self.stats.connections_evicted += 1
            self._remember_evicted(conn)
            self._release(conn, "evicted")
            return

    def _release(self, conn: Connection, reason: str, rank: float = math.inf) -> None:
        """Flush what the streams hold, hand the facts over and forget the connection.

        Connections are handed over in the order (released_at, release_rank, conn_id): at each
        frame, lingering ones by the end of their linger, then the others by age. Processes
        that split a capture's connections (--jobs) can thus merge their streams back into
        exactly the order one process gives."""
        if conn.released:
            return
        if conn.dormant is not None:
            self._wake(conn)
        conn.released = True
        facts = conn.sync_facts()
        facts.released_at = self._current_frame
        facts.release_rank = rank
        if conn.sink is not None:
            for side in conn.sides:
                side.flush(reason, facts.last_frame, facts.last_ts)
                side.trailing_loss(facts.last_frame, facts.last_ts)
            facts = conn.sync_facts()
        table = self._table
        for side in conn.sides:
            if table.get(side.key) is side:
                del table[side.key]
        del self._connections[facts.conn_id]
        self.stats.connection_frames += facts.packets[0] + facts.packets[1]
        sink = conn.sink
        # Break the connection <-> sides <-> sink cycles so that reference counting frees
        # the connection now, instead of leaving it to the cyclic garbage collector.
        for side in conn.sides:
            side.conn = side.peer = side.sink = None
        conn.sink = None
        if sink is not None:
            sink.on_close(facts)
