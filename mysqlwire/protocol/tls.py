"""TLS after SSLRequest: the contents are opaque, but the record layer still tells a story.

We count records each way, read the version the server chose from its clear-text ServerHello,
and notice alert records: an alert after the handshake is encrypted, and one sent just before
the close is almost always close_notify — the TLS form of a clean goodbye. TLS 1.3 hides alerts
inside application-data records, so there the absence of a visible alert proves nothing.
Record layout: RFC 8446 section 5.1 (type, legacy version, 16-bit length).
"""

from __future__ import annotations

CHANGE_CIPHER_SPEC = 20
ALERT = 21
HANDSHAKE = 22
APPLICATION_DATA = 23
RECORD_TYPES = {CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA, 24}
RECORD_HEADER = 5
MAX_RECORD = (1 << 14) + 2048  # TLSCiphertext limit
HEAD_SIZE = 256  # body bytes kept per record: enough for a ServerHello or an alert

SUPPORTED_VERSIONS_EXTENSION = 0x002B
VERSION_NAMES = {
    0x0300: "SSL 3.0",
    0x0301: "TLS 1.0",
    0x0302: "TLS 1.1",
    0x0303: "TLS 1.2",
    0x0304: "TLS 1.3",
}


class TlsRecordInfo:
    __slots__ = ("content_type", "encrypted", "frame", "head", "length", "ts")

    def __init__(
        self, content_type: int, length: int, head: bytes, encrypted: bool, frame: int, ts: float
    ) -> None:
        self.content_type = content_type
        self.length = length
        self.head = head  # the first bytes of the record body (for ServerHello and alerts)
        self.encrypted = encrypted
        self.frame = frame
        self.ts = ts

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        fields = (self.content_type, self.length, self.head, self.encrypted, self.frame, self.ts)
        return TlsRecordInfo, fields


def plausible_record_header(data: bytes, pos: int = 0) -> bool:
    if len(data) - pos < RECORD_HEADER:
        return False
    return (
        data[pos] in RECORD_TYPES
        and data[pos + 1] == 3
        and data[pos + 2] <= 4
        and ((data[pos + 3] << 8) | data[pos + 4]) <= MAX_RECORD
    )


def server_hello_version(body: bytes) -> str | None:
    """The negotiated version from a ServerHello handshake message, or None if not one."""
    if len(body) < 4 or body[0] != 2:
        return None
    pos = 4
    legacy = int.from_bytes(body[pos : pos + 2], "big")
    pos += 2 + 32
    if pos >= len(body):
        return VERSION_NAMES.get(legacy)
    pos += 1 + body[pos]  # session id
    pos += 2 + 1  # cipher suite, compression method
    if pos + 2 > len(body):
        return VERSION_NAMES.get(legacy)
    end = min(len(body), pos + 2 + int.from_bytes(body[pos : pos + 2], "big"))
    pos += 2
    while pos + 4 <= end:
        ext_type = int.from_bytes(body[pos : pos + 2], "big")
        ext_len = int.from_bytes(body[pos + 2 : pos + 4], "big")
        if ext_type == SUPPORTED_VERSIONS_EXTENSION and ext_len == 2:
            chosen = int.from_bytes(body[pos + 4 : pos + 6], "big")
            return VERSION_NAMES.get(chosen, f"0x{chosen:04x}")
        pos += 4 + ext_len
    return VERSION_NAMES.get(legacy)


class TlsRecordReader:
    """Splits one direction's TLS bytes into records without holding their bodies.

    A record is reported once its first `HEAD_SIZE` body bytes (or all of a shorter body) have
    arrived, so a ServerHello or an alert cut across TCP segments still reads the same; its
    frame and time are those of the segment that carried its header."""

    __slots__ = (
        "_buf",
        "_encrypted",
        "_pending",
        "_remaining",
        "bytes",
        "records",
    )

    def __init__(self) -> None:
        self._buf = b""  # a record header cut by the end of a segment
        self._remaining = 0  # body bytes of the current record still to skip
        self._pending: TlsRecordInfo | None = None  # a record whose head is still arriving
        self._encrypted = False  # set once this side sent ChangeCipherSpec
        self.records = 0
        self.bytes = 0

    def receive(self, data: bytes, frame: int, ts: float) -> list[TlsRecordInfo]:
        """Feed bytes; returns the records whose head is complete (bodies may still be due)."""
        data = self._buf + data if self._buf else data
        self._buf = b""
        self.bytes += len(data)
        out: list[TlsRecordInfo] = []
        pos, n = 0, len(data)
        while pos < n:
            if self._remaining:
                take = min(self._remaining, n - pos)
                pending = self._pending
                if pending is not None:
                    want = min(pending.length, HEAD_SIZE) - len(pending.head)
                    pending.head += data[pos : pos + min(want, take)]
                    if len(pending.head) >= min(pending.length, HEAD_SIZE):
                        out.append(pending)
                        self._pending = None
                pos += take
                self._remaining -= take
                continue
            if n - pos < RECORD_HEADER:
                self._buf = data[pos:]
                self.bytes -= n - pos
                break
            ctype = data[pos]
            length = (data[pos + 3] << 8) | data[pos + 4]
            head_end = pos + RECORD_HEADER + min(length, HEAD_SIZE)
            if head_end <= n:
                head = data[pos + RECORD_HEADER : head_end]
                out.append(TlsRecordInfo(ctype, length, head, self._encrypted, frame, ts))
            else:  # the body loop below collects the head
                self._pending = TlsRecordInfo(ctype, length, b"", self._encrypted, frame, ts)
            if ctype == CHANGE_CIPHER_SPEC:
                self._encrypted = True
            self.records += 1
            pos += RECORD_HEADER
            self._remaining = length
        return out

    def skip(self, size: int) -> bool:
        """`size` bytes are missing here. True when they all fall inside the body of the
        record in progress (past its head), so the next record header is still found."""
        if self._buf or self._pending is not None or size > self._remaining:
            return False
        self._remaining -= size
        self.bytes += size
        return True

    def reset(self) -> None:
        """Forget the record in progress (after a capture gap)."""
        self._buf = b""
        self._remaining = 0
        self._pending = None
