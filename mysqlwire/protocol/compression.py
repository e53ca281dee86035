"""The compressed protocol: 7-byte compressed headers around zlib or zstd payloads.

Header: 3-byte compressed length, 1-byte compressed sequence id, 3-byte length before
compression (0 = payload stored as is). Inside, the ordinary packet stream goes on, and a
logical packet may span compressed packets or share one with others. See
https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_compression.html

`CompressedFramer` yields a `CompressedHeader` as each compressed packet begins (the decoder
checks its sequence id before the packets inside are decoded) and the inner logical packets as
they complete. The algorithm is read from each payload's magic bytes, so a capture that starts
after the handshake decodes as well as one that saw the negotiation. A compressed packet is held
whole until it inflates (at most 16 MB, the most its header can announce, and never more than
declared); the logical packets inside are framed with the same retain limit as plain ones.
"""

from __future__ import annotations

import zlib
from collections import deque

import zstandard

from mysqlwire.protocol.constants import COMPRESSED_HEADER_SIZE
from mysqlwire.protocol.framing import LogicalPacket, PacketFramer

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class CompressedHeader:
    __slots__ = ("compressed_length", "frame", "seq", "ts", "uncompressed_length")

    def __init__(
        self, seq: int, compressed_length: int, uncompressed_length: int, frame: int, ts: float
    ) -> None:
        self.seq = seq
        self.compressed_length = compressed_length
        self.uncompressed_length = uncompressed_length
        self.frame = frame
        self.ts = ts

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        fields = (self.seq, self.compressed_length, self.uncompressed_length, self.frame, self.ts)
        return CompressedHeader, fields


class DecompressionFailed:
    """A compressed payload that would not inflate; the inner stream restarts after it."""

    __slots__ = ("frame", "reason", "ts")

    def __init__(self, reason: str, frame: int, ts: float) -> None:
        self.reason = reason
        self.frame = frame
        self.ts = ts

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return DecompressionFailed, (self.reason, self.frame, self.ts)


def inflate(body: bytes, expected: int) -> bytes:
    """Decompress one compressed packet's payload, refusing to produce more than declared."""
    if body.startswith(ZSTD_MAGIC):
        declared = zstandard.frame_content_size(body)
        if declared > expected:
            raise ValueError(f"zstd frame declares {declared} bytes, header says {expected}")
        out = zstandard.ZstdDecompressor().decompress(body, max_output_size=expected)
    else:
        inflater = zlib.decompressobj()
        out = inflater.decompress(body, expected + 1)
    if len(out) != expected:
        raise ValueError(f"inflated to {len(out)} bytes, header says {expected}")
    return out


class CompressedFramer:
    """Pull-style, like PacketFramer: `receive`, then `next_item` until None."""

    __slots__ = (
        "_body",
        "_buf",
        "_cframe",
        "_cts",
        "_frame",
        "_head",
        "_pos",
        "_ready",
        "_remaining",
        "_ts",
        "_ulen",
        "inner",
    )

    def __init__(self, inner: PacketFramer) -> None:
        self.inner = inner
        self._buf = b""
        self._pos = 0
        self._frame = 0
        self._ts = 0.0
        self._head = b""
        self._remaining = 0
        self._body: list[bytes] = []
        self._ulen = 0
        self._cframe = 0
        self._cts = 0.0
        self._ready: deque[CompressedHeader | LogicalPacket | DecompressionFailed] = deque()

    def __reduce__(self) -> tuple[type, tuple[object, ...], object]:
        return CompressedFramer, (self.inner,), self.__getstate__()

    def receive(self, data: bytes, frame: int, ts: float) -> None:
        if self._pos < len(self._buf):
            data = self._buf[self._pos :] + data
        if self._head:
            data = self._head + data
            self._head = b""
        self._buf, self._pos, self._frame, self._ts = data, 0, frame, ts

    def reset(self) -> tuple[int, int] | None:
        """Forget everything buffered (after a capture gap); (expected, received) of the
        compressed packet or inner packet that was cut short, if any."""
        cut = self.pending()
        self.inner.reset()
        self._buf, self._pos, self._head = b"", 0, b""
        self._remaining, self._body = 0, []
        self._ready.clear()
        return cut

    def pending(self) -> tuple[int, int] | None:
        """(expected, received) bytes of a compressed packet in progress (its header, or its
        body), else of the inner packet in progress, else None."""
        if self._head:
            return (COMPRESSED_HEADER_SIZE, len(self._head))
        if self._remaining:
            got = sum(map(len, self._body))
            return (got + self._remaining, got)
        return self.inner.pending()

    def next_item(self) -> CompressedHeader | LogicalPacket | DecompressionFailed | None:
        if self._ready:
            return self._ready.popleft()
        packet = self.inner.next_packet()
        if packet is not None:
            return packet
        buf, pos, n = self._buf, self._pos, len(self._buf)
        while True:
            if self._remaining:
                take = min(n - pos, self._remaining)
                if take <= 0:
                    self._pos = pos
                    return None
                self._body.append(buf[pos : pos + take])
                pos += take
                self._remaining -= take
                if self._remaining:
                    self._pos = pos
                    return None
                self._pos = pos
                item = self._open_body()
                if item is not None:
                    return item
                packet = self.inner.next_packet()
                if packet is not None:
                    return packet
                continue
            if n - pos < COMPRESSED_HEADER_SIZE:
                self._head = buf[pos:]
                self._pos = n
                return None
            clen = buf[pos] | (buf[pos + 1] << 8) | (buf[pos + 2] << 16)
            seq = buf[pos + 3]
            ulen = buf[pos + 4] | (buf[pos + 5] << 8) | (buf[pos + 6] << 16)
            self._cframe, self._cts = self._frame, self._ts
            pos += COMPRESSED_HEADER_SIZE
            self._pos = pos
            self._remaining = clen
            self._ulen = ulen
            self._body = []
            header = CompressedHeader(seq, clen, ulen, self._frame, self._ts)
            if clen == 0:
                item = self._open_body()
                if item is not None:
                    self._ready.append(item)
            return header

    def _open_body(self) -> DecompressionFailed | None:
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        self._body = []
        if self._ulen == 0:
            data = body  # stored uncompressed
        else:
            try:
                data = inflate(body, self._ulen)
            except (zlib.error, zstandard.ZstdError, ValueError) as exc:
                self.inner.reset()
                return DecompressionFailed(str(exc), self._cframe, self._cts)
        if data:
            self.inner.receive(data, self._cframe, self._cts)
        return None
