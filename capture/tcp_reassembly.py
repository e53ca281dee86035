"""One direction of a TCP connection put back in order: the stream a consumer reads.

`StreamDirection.segment()` takes every segment the capture holds for one direction, in
capture order, and hands the consumer (`ConnectionSink`) each byte exactly once, in sequence
order, with the frame number and timestamp of the segment that carried it:

* Sequence numbers are 32-bit and wrap; positions handed out (`stream_offset`) are plain
  integers counted from the stream start (the byte after the SYN, or the first segment seen
  when the capture began mid-connection), so streams longer than 4 GiB are fine.
* Out-of-order segments wait in a sorted, non-overlapping buffer, allocated on first use and
  capped in bytes (`reorder_cap`). The first copy of a byte wins: a later copy (a
  retransmission or an overlapping segment) is trimmed away and compared with the first;
  one with different bytes is recorded as a conflicting `Retransmission`.
  Delivered segments are compared against a small window of the most recently delivered
  ones (`recent_segments`, at most RECENT_BYTES: a contiguous run ending at the delivery
  point, so only the payloads are kept); a retransmission of older bytes counts as
  unverified rather than keeping unbounded history, or 64 KB segments for every idle
  connection.
* A hole that evidence says will never be filled becomes a `StreamGap` of exact size and
  position, and the bytes after it are delivered: the peer acknowledged past the hole
  (`lost_segment`), the reorder buffer is full (`reorder_overflow`), the connection ended
  (`lost_segment` after RST/FIN, `capture_end` when the capture stopped first). Bytes a
  frame did not hold because of the snapshot length are a `snaplen` gap at their position.
  Bytes at the end of the stream that the peer acknowledged but the capture never saw are a
  `lost_segment` gap as soon as the peer's acknowledgement comes with data of its own
  (`trailing_loss`, called by the tracker), so the consumer still gets the two directions in
  the order they were sent (a lost greeting before the login that answers it).
"""

from __future__ import annotations

from bisect import bisect_right, insort
from typing import TYPE_CHECKING, Final

from capture.consumer import CompiledSink, ConnectionSink
from capture.facts import EVIDENCE_CAP, Direction, Retransmission, StreamGap, TcpFacts, bumped

if TYPE_CHECKING:
    from capture.tracker import Connection

SEQ_MASK: Final = 0xFFFFFFFF
SEQ_HALF: Final = 0x80000000
SEQ_SPACE: Final = 0x100000000

DEFAULT_REORDER_CAP: Final = 4 << 20  # bytes buffered out of order per direction
DEFAULT_RECENT_SEGMENTS: Final = 8  # delivered segments kept to verify retransmissions
RECENT_BYTES: Final = 16 << 10  # and at most this many bytes of them, per direction
NO_ACK: Final = -1  # `peer_ack` before the other side acknowledged anything
TRAILING_LOSS_LIMIT: Final = 1 << 30  # an ACK further ahead than this is not believed


class _Pending:
    """A buffered piece: `payload` then `missing` bytes the frame did not hold (snaplen)."""

    __slots__ = ("end", "frame", "missing", "payload", "start", "ts")

    def __init__(self, start: int, payload: bytes, missing: int, frame: int, ts: float) -> None:
        self.start = start
        self.payload = payload
        self.missing = missing
        self.end = start + len(payload) + missing
        self.frame = frame
        self.ts = ts

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        # (compiled, the default pickling calls the constructor without arguments)
        return _Pending, (self.start, self.payload, self.missing, self.frame, self.ts)


# A `StreamDirection` while its connection sleeps (`asleep()`): every attribute but its links.
SideAsleep = tuple[
    int, bytes, int, int, int, float, int, float, int, int, int, bool, int, int,
    list[_Pending] | None, int, list[bytes], int, int, int, int | None,
]  # fmt: skip


def _start(entry: _Pending) -> int:
    return entry.start


class StreamDirection:
    """One sender of one connection: its ordered byte stream and its per-packet counters.

    The tracker's table maps each 4-tuple orientation straight to its sender's
    `StreamDirection`, so a packet touches this one object (and its `peer` for the ACK).
    The counters (`packets`, `frame_bytes`, `payload_bytes`, `last_payload_ts`,
    `last_frame`, `last_ts`) live here for that reason and are copied into `TcpFacts` by
    `Connection.sync_facts()`; `ttls` is the very dict held in `facts.ttls`, brought up to
    date by the same call.
    """

    __slots__ = (
        "conn",
        "direction",
        "facts",
        "fin_offset",
        "frame_bytes",
        "key",
        "last_frame",
        "last_payload_ts",
        "last_ts",
        "next_seq",
        "offset",
        "packets",
        "payload_bytes",
        "peer",
        "peer_ack",
        "pending",
        "pending_bytes",
        "recent",
        "recent_bytes",
        "recent_limit",
        "reorder_cap",
        "sink",
        "started",
        "ttl_run",
        "ttl_run_count",
        "ttls",
    )

    def __init__(
        self,
        direction: Direction,
        facts: TcpFacts,
        sink: ConnectionSink | None,
        reorder_cap: int = DEFAULT_REORDER_CAP,
        recent_segments: int = DEFAULT_RECENT_SEGMENTS,
    ) -> None:
        self.direction = direction
        self.facts = facts
        self.sink = sink  # None: the consumer ignores the connection, only count
        self.conn: Connection | None = None  # the tracker's (None once released)
        self.key = b""  # the tracker's table key: this sender's 4-tuple
        self.peer: StreamDirection | None = None  # the other direction (None once released)
        self.packets = 0
        self.frame_bytes = 0
        self.payload_bytes = 0
        self.last_payload_ts = 0.0
        self.last_frame = 0
        self.last_ts = 0.0
        self.ttls: dict[int, int] = facts.ttls[direction]
        # The TTL of the latest packets and how many of them are not yet in `ttls`: a sender's
        # TTL rarely changes, so the hot path counts a run and the dict is updated when the
        # TTL changes or the facts are read (`flush_ttls`).
        self.ttl_run = -1
        self.ttl_run_count = 0
        self.reorder_cap = reorder_cap
        self.started = False
        self.next_seq = 0  # sequence number of the next byte to deliver
        self.offset = 0  # stream position of that byte
        self.pending: list[_Pending] | None = None  # sorted by start, never overlapping
        self.pending_bytes = 0
        # The last delivered payloads, contiguous and ending at `offset` (a gap clears it).
        self.recent: list[bytes] = []  # oldest first; a list costs less than a deque
        self.recent_bytes = 0
        self.recent_limit = recent_segments
        self.peer_ack = NO_ACK  # latest ACK number the other side sent (an int: compiled,
        # set on every packet without making an object)
        self.fin_offset: int | None = None

    # -- a sleeping connection (capture/dormant.py) ---------------------------------------

    def asleep(self) -> SideAsleep:
        """What this side is, without its links to the connection, the other side, the facts
        and the sink (made again when it wakes)."""
        return (
            int(self.direction), self.key, self.packets, self.frame_bytes, self.payload_bytes,
            self.last_payload_ts, self.last_frame, self.last_ts, self.ttl_run,
            self.ttl_run_count, self.reorder_cap, self.started, self.next_seq, self.offset,
            self.pending, self.pending_bytes, self.recent, self.recent_bytes, self.recent_limit,
            self.peer_ack, self.fin_offset,
        )  # fmt: skip

    @classmethod
    def awoken(
        cls, state: SideAsleep, facts: TcpFacts, sink: ConnectionSink | None
    ) -> StreamDirection:
        """The side `asleep()` described, linked to `facts` (its TTL profile is the facts'
        own dict) and `sink`; the tracker links it to its connection and the other side."""
        side = cls(Direction(state[0]), facts, sink)
        (_direction, side.key, side.packets, side.frame_bytes, side.payload_bytes,
         side.last_payload_ts, side.last_frame, side.last_ts, side.ttl_run, side.ttl_run_count,
         side.reorder_cap, side.started, side.next_seq, side.offset, side.pending,
         side.pending_bytes, side.recent, side.recent_bytes, side.recent_limit, side.peer_ack,
         side.fin_offset) = state  # fmt: skip
        return side

    # -- the TTL profile -----------------------------------------------------------------

    def count_ttl(self, ttl: int) -> None:
        """One more packet with this TTL (the tracker counts a repeat of the run itself)."""
        if ttl == self.ttl_run:
            self.ttl_run_count += 1
            return
        self.flush_ttls()
        self.ttl_run = ttl
        self.ttl_run_count = 1

    def flush_ttls(self) -> None:
        """Bring `ttls` (the facts' own dict) up to date."""
        if self.ttl_run_count:
            ttls = self.ttls
            ttls[self.ttl_run] = ttls.get(self.ttl_run, 0) + self.ttl_run_count
            self.ttl_run_count = 0

    # -- positions ----------------------------------------------------------------------

    def start(self, seq: int) -> None:
        """Set the sequence number of stream position 0 (ISN + 1, or the first segment)."""
        self.next_seq = seq & SEQ_MASK
        self.started = True

    def position(self, seq: int) -> int:
        """Stream position of sequence number `seq` (nearest to what was delivered)."""
        if not self.started:
            return 0
        delta = (seq - self.next_seq) & SEQ_MASK
        if delta >= SEQ_HALF:
            delta -= SEQ_SPACE
        return self.offset + delta

    def note_fin(self, fin_seq: int) -> None:
        if not self.started:
            self.start(fin_seq)
        if self.fin_offset is None:
            self.fin_offset = self.position(fin_seq)

    # -- segments -----------------------------------------------------------------------

    def segment(self, seq: int, payload: bytes, missing: int, frame: int, ts: float) -> None:
        """One segment's payload (`missing`: bytes the snapshot length cut off its end)."""
        if not self.started:
            self.start(seq)
        if seq == self.next_seq and self.pending is None and not missing:
            size = len(payload)
            if not size:
                return
            self.offset += size
            self.next_seq = (seq + size) & SEQ_MASK
            self._remember(payload, size)
            self.payload_bytes += size
            self.last_payload_ts = ts
            # (the tracker feeds only the sides that have a sink)
            sink = self.sink
            if isinstance(sink, CompiledSink):
                sink.on_data(self.direction, payload, frame, ts)  # compiled: a native call
            else:
                sink.on_data(self.direction, payload, frame, ts)  # type: ignore[union-attr]
            return
        self._segment_slow(seq, payload, missing, frame, ts)

    def _segment_slow(self, seq: int, payload: bytes, missing: int, frame: int, ts: float) -> None:
        start = self.position(seq)
        size = len(payload)
        end = start + size + missing
        if end == start:
            return
        if start < self.offset:
            if end - start <= 1 and end == self.offset:
                return  # a keep-alive probe: one old byte (or none) to get an ACK
            self._retransmitted(start, payload, min(end, self.offset), frame, ts)
            if end <= self.offset:
                return
            cut = self.offset - start
            if cut <= size:
                payload = payload[cut:]
            else:
                missing -= cut - size
                payload = b""
            start = self.offset
        if start == self.offset and self.pending is None:
            self._deliver(start, payload, missing, frame, ts)
            return
        self._buffer(start, payload, missing, frame, ts)
        self._drain()
        if self.pending is not None and self.peer_ack != NO_ACK:
            self.peer_acked(self.peer_ack, frame, ts)
        if self.pending_bytes > self.reorder_cap:
            while self.pending is not None and self.pending_bytes > self.reorder_cap:
                first = self.pending[0]
                self._gap(first.start - self.offset, first.frame, first.ts, "reorder_overflow")
                self._drain()

    # -- evidence that a hole will not be filled ----------------------------------------

    def peer_acked(self, ack: int, frame: int, ts: float) -> None:
        """The other side acknowledged up to `ack`: holes before it were lost by the capture,
        not by the network (the receiver has those bytes)."""
        holes = self.pending is not None  # (a flag: a narrowed attribute would outlive _gap)
        if not holes:
            return
        acked = self.position(ack)
        if self.fin_offset is not None:
            acked = min(acked, self.fin_offset)
        while self.pending is not None and self.offset < acked:
            first = self.pending[0]
            hole_end = min(first.start, acked)
            self._gap(hole_end - self.offset, first.frame, first.ts, "lost_segment")
            self._drain()

    def flush(self, reason: str, frame: int, ts: float) -> None:
        """No more segments will come: every hole before buffered bytes becomes a gap."""
        while self.pending is not None:
            first = self.pending[0]
            self._gap(first.start - self.offset, first.frame, first.ts, reason)
            self._drain()

    def trailing_loss(self, frame: int, ts: float) -> None:
        """Bytes the peer acknowledged beyond the last byte seen were lost (at the close, or
        when the peer's data carries that acknowledgement)."""
        if not self.started or self.peer_ack == NO_ACK:
            return
        acked = self.position(self.peer_ack)
        if self.fin_offset is not None:
            acked = min(acked, self.fin_offset)
        missing = acked - self.offset
        if 0 < missing < TRAILING_LOSS_LIMIT:
            self._gap(missing, frame, ts, "lost_segment")

    # -- internals ----------------------------------------------------------------------

    def _remember(self, payload: bytes, size: int) -> None:
        """Keep a delivered payload to compare retransmissions with, within both caps."""
        recent = self.recent
        recent.append(payload)
        self.recent_bytes += size
        while len(recent) > self.recent_limit or self.recent_bytes > RECENT_BYTES:
            self.recent_bytes -= len(recent[0])
            del recent[0]

    def forget_recent(self) -> None:
        if self.recent:  # (idle connections are swept again and again)
            self.recent = []
            self.recent_bytes = 0

    def _deliver(self, start: int, payload: bytes, missing: int, frame: int, ts: float) -> None:
        size = len(payload)
        if size:
            self._remember(payload, size)
            self.offset = start + size
            self.next_seq = (self.next_seq + size) & SEQ_MASK
            self.payload_bytes += size
            if ts > self.last_payload_ts:  # (a buffered segment, made in order by a later one)
                self.last_payload_ts = ts
            self.sink.on_data(self.direction, payload, frame, ts)  # type: ignore[union-attr]
        if missing:
            self._gap(missing, frame, ts, "snaplen")

    def _gap(self, size: int, frame: int, ts: float, reason: str) -> None:
        if size <= 0:
            return
        gap = StreamGap(self.direction, self.offset, size, frame, ts, reason)
        if ts > self.last_payload_ts:  # new payload too, only not in the capture
            self.last_payload_ts = ts
        self.forget_recent()
        self.offset += size
        self.next_seq = (self.next_seq + size) & SEQ_MASK
        facts = self.facts
        facts.gap_count += 1
        facts.gap_bytes = bumped(facts.gap_bytes, self.direction, size)
        if len(facts.gaps) < EVIDENCE_CAP:
            facts.gaps.append(gap)
        self.sink.on_gap(gap)  # type: ignore[union-attr]

    def _drain(self) -> None:
        pending = self.pending
        while pending and pending[0].start <= self.offset:
            first = pending.pop(0)
            self.pending_bytes -= len(first.payload)
            self._deliver(first.start, first.payload, first.missing, first.frame, first.ts)
        if not pending:
            self.pending = None

    def _buffer(self, start: int, payload: bytes, missing: int, frame: int, ts: float) -> None:
        """Add [start, end) to the reorder buffer, keeping only bytes not already buffered."""
        if self.pending is None:
            self.pending = []
        pending = self.pending
        end = start + len(payload) + missing
        index = bisect_right(pending, start, key=_start) - 1
        if index < 0 or pending[index].end <= start:
            index += 1
        cursor = start
        pieces = []
        conflicting = False
        overlap = 0
        while index < len(pending) and pending[index].start < end:
            held = pending[index]
            if held.start > cursor:
                pieces.append((cursor, held.start))
            low, high = max(cursor, held.start), min(end, held.end)
            if high > low:
                overlap += high - low
                conflicting |= _differs(held.start, held.payload, start, payload, low, high)
            cursor = max(cursor, held.end)
            index += 1
        if cursor < end:
            pieces.append((cursor, end))
        if overlap:
            self._count_retransmission(start, overlap, conflicting, False, frame, ts)
        size = len(payload)
        for low, high in pieces:
            piece = payload[max(0, low - start) : max(0, min(high, start + size) - start)]
            entry = _Pending(low, piece, high - low - len(piece), frame, ts)
            insort(pending, entry, key=_start)
            self.pending_bytes += len(piece)

    def _retransmitted(self, start: int, payload: bytes, end: int, frame: int, ts: float) -> None:
        """Bytes [start, end) were already delivered (or declared lost): compare them with
        the first copy while it is still in the recent window."""
        compared = 0
        conflicting = False
        data_end = min(end, start + len(payload))
        held_end = self.offset
        for held in reversed(self.recent):
            held_start = held_end - len(held)
            low, high = max(start, held_start), min(data_end, held_end)
            if high > low:
                compared += high - low
                conflicting |= _differs(held_start, held, start, payload, low, high)
            if held_start <= start:
                break
            held_end = held_start
        unverified = compared < data_end - start
        self._count_retransmission(start, end - start, conflicting, unverified, frame, ts)

    def _count_retransmission(
        self, start: int, size: int, conflicting: bool, unverified: bool, frame: int, ts: float
    ) -> None:
        facts = self.facts
        direction = self.direction
        facts.retransmitted_segments = bumped(facts.retransmitted_segments, direction, 1)
        facts.retransmitted_bytes = bumped(facts.retransmitted_bytes, direction, size)
        if unverified:
            facts.unverified_retransmissions = bumped(
                facts.unverified_retransmissions, direction, 1
            )
        evidence = facts.retransmissions
        if conflicting:
            facts.conflicting_retransmissions = bumped(
                facts.conflicting_retransmissions, direction, 1
            )
            record = Retransmission(direction, frame, ts, start, size, True)
            if len(evidence) < EVIDENCE_CAP:
                evidence.append(record)
            else:  # conflicting evidence displaces a plain retransmission
                for index, held in enumerate(evidence):
                    if not held.conflicting:
                        del evidence[index]
                        evidence.append(record)
                        break
            evidence.sort(key=lambda r: not r.conflicting)
        elif len(evidence) < EVIDENCE_CAP:
            evidence.append(Retransmission(direction, frame, ts, start, size, False))


def _differs(a_start: int, a: bytes, b_start: int, b: bytes, low: int, high: int) -> bool:
    """Whether two copies differ on the bytes [low, high) both hold."""
    high = min(high, a_start + len(a), b_start + len(b))
    if high <= low:
        return False
    return a[low - a_start : high - a_start] != b[low - b_start : high - b_start]
