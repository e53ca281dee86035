"""MySQL packet framing: one direction's byte stream cut into logical packets.

Wire format: a 3-byte little-endian payload length and a 1-byte sequence id, then the payload.
A payload of exactly 0xFFFFFF bytes means "continued in the next wire packet"; the pieces make
one logical packet, ended by the first wire packet shorter than that (possibly empty). See
https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_packets.html

The framer is pull-style (`receive`, then `next_packet` until None) so that the decoder can stop
right after the packet that switches the stream to TLS or compression and take the remaining
bytes away with `take_unconsumed`. It never holds more than `retain_limit` payload bytes of a
packet: the rest is counted, not kept, so a peer announcing 16 MB cannot make us buffer 16 MB,
and split packets are joined without quadratic copying. Bytes a capture lost inside a packet
are accounted with `skip`, so the framing survives a snapshot length.
"""

from __future__ import annotations

from typing import Final

from mysqlwire.protocol.constants import HEADER_SIZE, MAX_PAYLOAD

DEFAULT_RETAIN_LIMIT: Final = 1 << 20


class LogicalPacket:
    """One logical packet. `payload` holds at most the retain limit; `size` is the true size."""

    __slots__ = (
        "end_frame",
        "end_ts",
        "frame",
        "incomplete",
        "last_seq",
        "missing",
        "payload",
        "seq",
        "seq_break",
        "size",
        "ts",
        "wire_packets",
    )

    def __init__(
        self,
        seq: int,
        last_seq: int,
        payload: bytes,
        size: int,
        wire_packets: int,
        frame: int,
        ts: float,
        end_frame: int,
        end_ts: float,
        seq_break: tuple[int, int] | None = None,
        missing: int = 0,
    ) -> None:
        self.seq = seq
        self.last_seq = last_seq
        self.payload = payload
        self.size = size
        self.wire_packets = wire_packets
        self.frame = frame
        self.ts = ts
        self.end_frame = end_frame
        self.end_ts = end_ts
        # (expected, got) of the first wrong sequence id between the pieces of a split packet
        self.seq_break = seq_break
        # payload bytes a capture gap took out of the packet; `payload` then ends at the hole
        self.missing = missing
        # `payload` is not the whole packet: capped by the retain limit, or cut by a gap
        self.incomplete = len(payload) < size

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return LogicalPacket, (
            self.seq, self.last_seq, self.payload, self.size, self.wire_packets, self.frame,
            self.ts, self.end_frame, self.end_ts, self.seq_break, self.missing,
        )  # fmt: skip

    @property
    def capped(self) -> bool:
        """Only part of an intact packet was kept (the retain limit)."""
        return not self.missing and len(self.payload) < self.size

    def __repr__(self) -> str:
        return (
            f"LogicalPacket(seq={self.seq}, size={self.size}, wire_packets={self.wire_packets}, "
            f"frame={self.frame}, payload={self.payload[:16]!r}...)"
        )


class PacketFramer:
    """Cuts one direction's stream into `LogicalPacket`s, keeping where each one started."""

    __slots__ = (
        "_buf",
        "_frame",
        "_head",
        "_head_frame",
        "_head_ts",
        "_kept",
        "_last_seq",
        "_last_wire_len",
        "_missing",
        "_open",
        "_pframe",
        "_pieces",
        "_pos",
        "_pts",
        "_ready",
        "_remaining",
        "_seq",
        "_seq_break",
        "_size",
        "_start_override",
        "_ts",
        "_wire",
        "retain_limit",
    )

    def __init__(self, retain_limit: int = DEFAULT_RETAIN_LIMIT) -> None:
        self.retain_limit = retain_limit
        self._buf = b""
        self._pos = 0
        self._frame = 0
        self._ts = 0.0
        self._head = b""  # a header cut by the end of a chunk
        self._head_frame = 0
        self._head_ts = 0.0
        self._remaining = 0  # body bytes still due for the current wire packet
        self._open = False  # a logical packet has started and not ended
        self._start_override: tuple[int, float] | None = None  # header began in an older chunk
        self._ready: LogicalPacket | None = None  # a packet a capture gap completed
        self._reset_packet()

    def _reset_packet(self) -> None:
        self._open = False
        self._pieces: list[bytes] = []
        self._kept = 0
        self._size = 0
        self._wire = 0
        self._seq = 0
        self._last_seq = 0
        self._seq_break: tuple[int, int] | None = None
        self._last_wire_len = 0
        self._missing = 0
        self._pframe = 0
        self._pts = 0.0
        self._remaining = 0

    # --- input --------------------------------------------------------------------------

    def receive(self, data: bytes, frame: int, ts: float) -> None:
        """Append bytes that arrived in `frame` at `ts`. Call `next_packet` until None next."""
        if self._pos < len(self._buf):  # the caller stopped draining: keep the older bytes first
            data = self._buf[self._pos :] + data
        self._start_override = None
        if self._head:
            data = self._head + data
            self._head = b""
            self._start_override = (self._head_frame, self._head_ts)
        self._buf = data
        self._pos = 0
        self._frame = frame
        self._ts = ts

    def take_unconsumed(self) -> tuple[bytes, int, float]:
        """Hand back the bytes not yet framed (for a switch to TLS or compression)."""
        rest = self._head + self._buf[self._pos :]
        frame, ts = (self._head_frame, self._head_ts) if self._head else (self._frame, self._ts)
        self._buf, self._pos, self._head = b"", 0, b""
        return rest, frame, ts

    def reset(self) -> tuple[int, int] | None:
        """Forget everything buffered (after a capture gap). Returns (expected, received) of a
        packet that was cut short, if one was in progress."""
        cut = None
        if self._open:
            cut = (self._size, self._size - self._remaining - self._missing)
        elif self._head:
            cut = (HEADER_SIZE, len(self._head))
        self._buf, self._pos, self._head = b"", 0, b""
        self._ready = None
        self._reset_packet()
        return cut

    def pending(self) -> tuple[int, int] | None:
        """(expected, received) bytes of a packet in progress, or None at a packet boundary."""
        if self._open:
            return (self._size, self._size - self._remaining - self._missing)
        if self._head:
            return (HEADER_SIZE, len(self._head))
        return None

    @property
    def at_boundary(self) -> bool:
        return not self._open and not self._head

    @property
    def idle(self) -> bool:
        """Between packets with every byte received read: nothing held for the next one."""
        return (
            not self._open
            and not self._head
            and self._ready is None
            and self._pos >= len(self._buf)
        )

    def skip(self, size: int, frame: int, ts: float) -> bool:
        """`size` bytes of the stream are missing here (a capture gap). When all of them fall
        inside the current packet's body, framing stays in step: the packet is counted whole
        and keeps the payload before the hole (a snapshot length cuts segments like that).
        Returns False when a header may have been lost: the caller must find a boundary."""
        if not self._open or self._head or self._pos < len(self._buf) or size > self._remaining:
            return False
        self._remaining -= size
        self._missing += size
        self._kept = self.retain_limit  # what follows the hole cannot be placed: keep no more
        if not self._remaining and self._last_wire_len < MAX_PAYLOAD:
            self._frame, self._ts = frame, ts
            self._ready = self._finish()
        return True

    # --- output -------------------------------------------------------------------------

    def skip_rows(self, expected_seq: int, limit: int) -> tuple[int, int, int]:
        """Consume, without building packets, up to `limit` whole packets at the read position
        that can only be result-set rows or column definitions: complete in this chunk, not
        split, not empty, not starting with 0xFE or 0xFF (the end of a result set, an ERR), and
        carrying the sequence id expected next. Returns (packets, payload bytes, next sequence
        id). Anything else stops the skip untouched, for `next_packet` to read as usual: so a
        wrong sequence id or the end of the rows is still seen, and reported, by the reader.

        This is what keeps a million-row result cheap when no one wants the rows themselves."""
        if self._ready is not None or self._open or self._head:
            return 0, 0, expected_seq
        buf = self._buf
        pos = self._pos
        n = len(buf)
        count = total = 0
        while count < limit:
            body = pos + HEADER_SIZE
            if body >= n:
                break
            length = buf[pos] | (buf[pos + 1] << 8) | (buf[pos + 2] << 16)
            end = body + length
            if end > n or not 0 < length < MAX_PAYLOAD or buf[pos + 3] != expected_seq:
                break
            first = buf[body]
            if first == 0xFE or first == 0xFF:
                break
            count += 1
            total += length
            expected_seq = (expected_seq + 1) & 0xFF
            pos = end
        self._pos = pos
        return count, total, expected_seq

    def next_packet(self) -> LogicalPacket | None:
        if self._ready is not None:
            packet, self._ready = self._ready, None
            return packet
        buf = self._buf
        pos = self._pos
        n = len(buf)
        while True:
            if self._remaining:
                take = min(n - pos, self._remaining)
                if take <= 0:
                    self._pos = pos
                    return None
                room = self.retain_limit - self._kept
                if room > 0:
                    piece = buf[pos : pos + min(take, room)]
                    self._pieces.append(piece)
                    self._kept += len(piece)
                pos += take
                self._remaining -= take
                if self._remaining:
                    self._pos = pos
                    return None
                if self._last_wire_len == MAX_PAYLOAD:
                    continue  # the logical packet goes on in the next wire packet
                self._pos = pos
                return self._finish()

            if n - pos < HEADER_SIZE:
                if pos < n:
                    self._head = buf[pos:]
                    if pos == 0 and self._start_override is not None:
                        # still the header that began in an older chunk: keep where it began
                        self._head_frame, self._head_ts = self._start_override
                    else:
                        self._head_frame, self._head_ts = self._frame, self._ts
                self._pos = n
                return None

            length = buf[pos] | (buf[pos + 1] << 8) | (buf[pos + 2] << 16)
            seq = buf[pos + 3]
            if not self._open:
                frame, ts = self._frame, self._ts
                if pos == 0 and self._start_override is not None:
                    frame, ts = self._start_override
                self._start_override = None
                end = pos + HEADER_SIZE + length
                # Fast path: the whole packet is in this chunk and needs no joining.
                if end <= n and length < MAX_PAYLOAD and length <= self.retain_limit:
                    self._pos = end
                    return LogicalPacket(
                        seq,
                        seq,
                        buf[pos + HEADER_SIZE : end],
                        length,
                        1,
                        frame,
                        ts,
                        self._frame,
                        self._ts,
                    )
                self._open = True
                self._seq = self._last_seq = seq
                self._pframe, self._pts = frame, ts
            else:
                expected = (self._last_seq + 1) & 0xFF
                if seq != expected and self._seq_break is None:
                    self._seq_break = (expected, seq)
                self._last_seq = seq
            self._wire += 1
            self._size += length
            self._last_wire_len = length
            self._remaining = length
            pos += HEADER_SIZE
            if length == 0:  # the empty piece that ends a payload of a multiple of 0xFFFFFF
                self._pos = pos
                return self._finish()

    def _finish(self) -> LogicalPacket:
        pieces = self._pieces
        payload = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        packet = LogicalPacket(
            self._seq,
            self._last_seq,
            payload,
            self._size,
            self._wire,
            self._pframe,
            self._pts,
            self._frame,
            self._ts,
            self._seq_break,
            self._missing,
        )
        self._reset_packet()
        return packet
