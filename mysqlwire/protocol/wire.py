"""Primitive readers for the protocol's basic data types.

Each reader takes the payload and a position and returns `(value, next_position)`. They do
not check bounds beyond what Python does: a payload that ends early raises `Truncated` or
`IndexError`, and the decoder turns either into a malformed-packet event at one place
(`decoder.MySQLDecoder`), so no reader needs its own error plumbing.
"""

from __future__ import annotations

import struct


class Truncated(ValueError):
    """The payload ended before a field it announces."""


UINT16 = struct.Struct("<H")
UINT32 = struct.Struct("<I")
UINT64 = struct.Struct("<Q")


def uint(payload: bytes, pos: int, size: int) -> tuple[int, int]:
    """A fixed-length little-endian unsigned integer of `size` bytes."""
    end = pos + size
    if end > len(payload):
        raise Truncated(
            f"a {size}-byte field at offset {pos} runs past the end of the "
            f"{len(payload)}-byte payload"
        )
    value = 0
    shift = 0
    for at in range(pos, end):  # (compiled, cheaper than a slice and int.from_bytes)
        value |= payload[at] << shift
        shift += 8
    return value, end


def lenenc_int(payload: bytes, pos: int) -> tuple[int | None, int]:
    """A length-encoded integer; None stands for the 0xFB NULL marker."""
    first = payload[pos]
    if first < 0xFB:
        return first, pos + 1
    if first == 0xFB:
        return None, pos + 1
    if first == 0xFC:
        return uint(payload, pos + 1, 2)
    if first == 0xFD:
        return uint(payload, pos + 1, 3)
    if first == 0xFE:
        return uint(payload, pos + 1, 8)
    raise Truncated(f"0xFF is not a length-encoded integer (offset {pos})")


def lenenc_bytes(payload: bytes, pos: int) -> tuple[bytes | None, int]:
    """A length-encoded string as bytes; None for NULL."""
    length, pos = lenenc_int(payload, pos)
    if length is None:
        return None, pos
    end = pos + length
    if end > len(payload):
        raise Truncated(f"string of {length} bytes at offset {pos} runs past the packet")
    return payload[pos:end], end


def lenenc_str(payload: bytes, pos: int) -> tuple[str | None, int]:
    raw, pos = lenenc_bytes(payload, pos)
    return (None if raw is None else text(raw)), pos


def nul_bytes(payload: bytes, pos: int, cut: bool = False) -> tuple[bytes, int]:
    """A NUL-terminated string; a missing terminator takes the rest of the packet, unless
    the payload is known to be `cut` short: then the string may be too, and it raises."""
    end = payload.find(b"\0", pos)
    if end < 0:
        if cut:
            raise Truncated(f"string at offset {pos} runs past the packet")
        return payload[pos:], len(payload)
    return payload[pos:end], end + 1


def nul_str(payload: bytes, pos: int, cut: bool = False) -> tuple[str, int]:
    raw, pos = nul_bytes(payload, pos, cut)
    return text(raw), pos


def text(raw: bytes) -> str:
    """Bytes from the wire as text: queries may hold any bytes, so never fail on them."""
    return raw.decode("utf-8", "backslashreplace")


# What reading a packet that is not what it claims raises: the readers index and slice past
# the end, meet bad values or bytes that are no text. The decoder turns these into a
# MalformedPacket event (a command reader's into a command marked malformed), never raises.
PARSE_ERRORS = (IndexError, Truncated, ValueError, KeyError, struct.error, UnicodeError)
