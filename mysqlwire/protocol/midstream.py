"""Finding our feet without a handshake: packet boundaries, compression, other protocols.

A capture that begins after the connection opened (or resumes after lost bytes) gives us bytes
with no known packet boundary. TCP segments usually begin where the sender's write began, so we
test whether a chunk *starts* with a chain of MySQL headers that tiles it exactly (or ends in
one plausible partial packet), and only then trust it. These are heuristics; every result is
reported as inferred.
"""

from __future__ import annotations

from mysqlwire.protocol.commands import COMMANDS, SERVER_INTERNAL_COMMANDS
from mysqlwire.protocol.compression import ZSTD_MAGIC
from mysqlwire.protocol.constants import COMPRESSED_HEADER_SIZE, HEADER_SIZE, MAX_PAYLOAD
from mysqlwire.protocol.tls import plausible_record_header

MAX_CHAIN = 64
CLIENT_COMMANDS = frozenset(COMMANDS) - SERVER_INTERNAL_COMMANDS
SCAN_LIMIT = 4096  # offsets tried inside a chunk after a gap


def plain_chain(data: bytes, pos: int = 0) -> tuple[int, bool]:
    """(complete packets, tiles_exactly) for a chain of plain headers starting at `pos`.

    `tiles_exactly` is True when the packets end exactly at the end of `data`, or the last one
    is cut by the end of the chunk (a large packet continuing in the next segment)."""
    count = 0
    n = len(data)
    while pos < n and count < MAX_CHAIN:
        if n - pos < HEADER_SIZE:
            return count, False
        length = data[pos] | (data[pos + 1] << 8) | (data[pos + 2] << 16)
        end = pos + HEADER_SIZE + length
        if end > n:
            return count, True  # the last packet continues in a later segment
        if length == 0 and count == 0:
            return 0, False
        count += 1
        pos = end
    return count, pos == n or count >= MAX_CHAIN


def starts_with_command(data: bytes, pos: int = 0, *, whole: bool = False) -> bool:
    """The chunk, from `pos` on, begins with a client command packet: sequence 0, a command
    byte clients send, and a length that tiles the chunk. At a segment's start a command may
    continue in later segments; inside a segment (`whole`, scanning after a gap) it must be
    complete, or random bytes would pass too easily."""
    n = len(data)
    if n - pos < HEADER_SIZE + 1 or data[pos + 3] != 0 or data[pos + 4] not in CLIENT_COMMANDS:
        return False
    length = data[pos] | (data[pos + 1] << 8) | (data[pos + 2] << 16)
    if length == 0:
        return False
    end = pos + HEADER_SIZE + length
    if end == n:
        return True
    if end > n:
        return not whole
    complete, tiles = plain_chain(data, pos)
    return tiles and complete >= 1


def starts_with_reply(data: bytes, seq: int) -> bool:
    """The chunk begins with the first reply packet to a command (sequence `seq`)."""
    if len(data) < HEADER_SIZE + 1 or data[3] != seq:
        return False
    length = data[0] | (data[1] << 8) | (data[2] << 16)
    if length == 0 or length > MAX_PAYLOAD:
        return False
    _complete, tiles = plain_chain(data)
    return tiles


def sequence_zero_chain(data: bytes) -> bool:
    """The chunk tiles as packets whose fourth header byte is always 0. MySQL replies count
    their sequence up from 1; the X protocol (4-byte length, then a type byte) looks exactly
    like MySQL packets that all have sequence 0."""
    pos, n, count = 0, len(data), 0
    while pos < n and count < MAX_CHAIN:
        if n - pos < HEADER_SIZE + 1 or data[pos + 3] != 0:
            return False
        length = data[pos] | (data[pos + 1] << 8) | (data[pos + 2] << 16)
        if length == 0:
            return False
        pos += HEADER_SIZE + length
        count += 1
    return count > 0 and pos == n


def compressed_chain(data: bytes) -> bool:
    """The chunk tiles as compressed packets whose payloads look like zlib, zstd, or a stored
    plain packet."""
    return compressed_algorithm(data) is not None


def compressed_algorithm(data: bytes) -> str | None:
    """If the chunk tiles as compressed packets: "zstd" when a payload carries zstd's magic,
    otherwise "zlib" (also when every payload was stored uncompressed, which tells nothing);
    None when it does not tile."""
    pos, n, count = 0, len(data), 0
    algorithm = "zlib"
    while pos < n and count < MAX_CHAIN:
        if n - pos < COMPRESSED_HEADER_SIZE:
            return None
        clen = data[pos] | (data[pos + 1] << 8) | (data[pos + 2] << 16)
        ulen = data[pos + 4] | (data[pos + 5] << 8) | (data[pos + 6] << 16)
        body = data[pos + COMPRESSED_HEADER_SIZE : pos + COMPRESSED_HEADER_SIZE + clen]
        if clen == 0:
            return None
        if ulen == 0:
            inner_len = body[0] | (body[1] << 8) | (body[2] << 16) if len(body) >= 3 else -1
            if len(body) == clen and inner_len + HEADER_SIZE > clen:
                return None
        elif body.startswith(ZSTD_MAGIC[: len(body)]):
            algorithm = "zstd"
        elif not _zlib_header(body):
            return None
        count += 1
        pos += COMPRESSED_HEADER_SIZE + clen
    return algorithm if count else None


def _zlib_header(body: bytes) -> bool:
    return len(body) >= 2 and body[0] & 0x0F == 8 and ((body[0] << 8) | body[1]) % 31 == 0


GREETING_VERSION_LIMIT = 64  # a server version longer than this is no server version


def greeting_verdict(data: bytes) -> bool | None:
    """Are these a server's first bytes: sequence 0 and protocol 10 (or 9) with a printable,
    NUL-terminated version, or an ERR sent in place of the greeting? None while too few bytes
    have arrived to tell (a greeting cut across segments must not decide otherwise)."""
    n = len(data)
    if n >= 4 and data[3] != 0:
        return False
    if n >= 3:
        length = data[0] | (data[1] << 8) | (data[2] << 16)
        if length < 1 or length > 0xFFFF:
            return False
    if n < HEADER_SIZE + 1:
        return None
    first = data[4]
    if first == 0xFF:
        return length >= 3
    if first not in (9, 10):
        return False
    end = min(n, HEADER_SIZE + 1 + GREETING_VERSION_LIMIT)
    version = data[HEADER_SIZE + 1 : end]
    nul = version.find(b"\0")
    if nul >= 0:
        version = version[:nul]
    if not all(32 <= b < 127 for b in version):
        return False
    if nul > 0:
        return True
    if nul == 0 or end - (HEADER_SIZE + 1) >= GREETING_VERSION_LIMIT:
        return False
    return None


def looks_like_greeting(data: bytes) -> bool:
    """Whether one chunk is a server's first bytes (too short to tell counts as no)."""
    return bool(greeting_verdict(data))


def query_has_attributes(payload: bytes) -> bool:
    """A COM_QUERY payload that begins with CLIENT_QUERY_ATTRIBUTES' prefix: a parameter count
    (a control character no SQL text starts with) and a parameter-set count of 1."""
    return len(payload) >= 3 and payload[2] == 1 and payload[1] < 0x20


# --- other protocols --------------------------------------------------------------------

HTTP_METHODS = (b"GET ", b"POST", b"HEAD", b"PUT ", b"OPTI", b"DELE", b"PATC", b"CONN")


def _http(head: bytes) -> bool:
    return head[:4] in HTTP_METHODS or head.startswith(b"HTTP/")


def _tls_handshake(head: bytes) -> bool:
    return plausible_record_header(head) and head[0] == 22


def _ssh(head: bytes) -> bool:
    return head.startswith(b"SSH-")


# Protocols recognisable from their first bytes beyond reasonable doubt: a MySQL stream never
# starts with these (a greeting starts with a 3-byte length, sequence 0 and 10 or 0xFF).
DISTINCTIVE = (
    ("http", _http),
    ("tls (without SSLRequest)", _tls_handshake),
    ("ssh", _ssh),
)


def distinctive_protocol(head: bytes) -> str | None:
    """The name of another protocol these first bytes certainly belong to, or None."""
    return next((name for name, test in DISTINCTIVE if test(head)), None)


def guess_protocol(data: bytes, *, from_client: bool) -> str:
    """Name what a non-MySQL stream probably is, from its first bytes (a best guess)."""
    head = data[:16]
    known = distinctive_protocol(head)
    if known is not None:
        return known
    if (
        from_client
        and len(head) >= 5
        and 1 <= int.from_bytes(head[:4], "little") <= 1 << 20
        and head[4] in (1, 2, 3, 4, 5, 6, 7)
    ):
        return "mysqlx (X protocol)"
    if head[:1] in (b"*", b"+", b"$") and b"\r\n" in data[:64]:
        return "redis"
    if head[:8] == b"\x00\x00\x00\x08\x04\xd2\x16\x2f" or head[4:8] == b"\x00\x03\x00\x00":
        return "postgresql"
    return "unknown"
