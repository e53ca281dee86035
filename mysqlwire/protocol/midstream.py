"""Finding our feet without a handshake: packet boundaries, compression, other protocols.

A capture that begins after the connection opened (or resumes after lost bytes) gives us bytes
with no known packet boundary. TCP segments usually begin where the sender's write began, so we
test whether a chunk *starts* with a chain of MySQL headers that tiles it exactly (or ends in
one plausible partial packet), and only then trust it. These are heuristics; every result is
reported as inferred.
"""

from __future__ import annotations

from mysqlwire.protocol.commands import COMMANDS
from mysqlwire.protocol.compression import ZSTD_MAGIC
from mysqlwire.protocol.constants import COMPRESSED_HEADER_SIZE, HEADER_SIZE, MAX_PAYLOAD
from mysqlwire.protocol.tls import plausible_record_header

MAX_CHAIN = 64
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


def starts_with_command(data: bytes) -> bool:
    """The chunk begins with a client command packet: sequence 0, known command byte, and a
    length that tiles the chunk."""
    if len(data) < HEADER_SIZE + 1 or data[3] != 0 or data[4] not in COMMANDS:
        return False
    length = data[0] | (data[1] << 8) | (data[2] << 16)
    if length == 0:
        return False
    if HEADER_SIZE + length == len(data):
        return True
    complete, tiles = plain_chain(data)
    return tiles and (complete >= 1 or length >= len(data) - HEADER_SIZE)


def starts_with_reply(data: bytes, seq: int) -> bool:
    """The chunk begins with the first reply packet to a command (sequence `seq`)."""
    if len(data) < HEADER_SIZE + 1 or data[3] != seq:
        return False
    length = data[0] | (data[1] << 8) | (data[2] << 16)
    if length == 0 or length > MAX_PAYLOAD:
        return False
    _complete, tiles = plain_chain(data)
    return tiles


def compressed_chain(data: bytes) -> bool:
    """The chunk tiles as compressed packets whose payloads look like zlib, zstd, or a stored
    plain packet."""
    pos, n, count = 0, len(data), 0
    while pos < n and count < MAX_CHAIN:
        if n - pos < COMPRESSED_HEADER_SIZE:
            return False
        clen = data[pos] | (data[pos + 1] << 8) | (data[pos + 2] << 16)
        ulen = data[pos + 4] | (data[pos + 5] << 8) | (data[pos + 6] << 16)
        body = data[pos + COMPRESSED_HEADER_SIZE : pos + COMPRESSED_HEADER_SIZE + clen]
        if clen == 0:
            return False
        if ulen == 0:
            inner_len = body[0] | (body[1] << 8) | (body[2] << 16) if len(body) >= 3 else -1
            if len(body) == clen and inner_len + HEADER_SIZE > clen:
                return False
        elif not (_zlib_header(body) or body.startswith(ZSTD_MAGIC[: len(body)])):
            return False
        count += 1
        pos += COMPRESSED_HEADER_SIZE + clen
    return count > 0


def _zlib_header(body: bytes) -> bool:
    return len(body) >= 2 and body[0] & 0x0F == 8 and ((body[0] << 8) | body[1]) % 31 == 0


def looks_like_greeting(data: bytes) -> bool:
    """A server's first packet: sequence 0 and protocol 10 with a NUL-terminated version, or an
    ERR sent in place of the greeting."""
    if len(data) < HEADER_SIZE + 1 or data[3] != 0:
        return False
    length = data[0] | (data[1] << 8) | (data[2] << 16)
    if length < 1 or length > 0xFFFF:
        return False
    first = data[4]
    if first == 0xFF:
        return length >= 3
    if first not in (9, 10):
        return False
    nul = data.find(b"\0", 5, 5 + 64)
    return nul > 5 and all(32 <= b < 127 for b in data[5:nul])


def guess_protocol(data: bytes, *, from_client: bool) -> str:
    """Name what a non-MySQL stream probably is, from its first bytes."""
    head = data[:16]
    if head[:4] in (
        b"GET ",
        b"POST",
        b"HEAD",
        b"PUT ",
        b"OPTI",
        b"DELE",
        b"PATC",
    ) or head.startswith(b"HTTP/"):
        return "http"
    if plausible_record_header(head) and head[0] == 22:
        return "tls (without SSLRequest)"
    if head.startswith(b"SSH-"):
        return "ssh"
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
