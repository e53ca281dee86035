"""Binary protocol values: prepared-statement parameters, query attributes and binary rows.

Each value's encoding follows from its column type
(https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_binary_resultset.html).
Values are rendered as text for `dump`; nothing here is on the analyzer's hot path.
"""

from __future__ import annotations

import struct

from mysqlwire.protocol.wire import Truncated, lenenc_bytes, text

_FIXED = {
    1: struct.Struct("<b"),  # TINY
    2: struct.Struct("<h"),  # SHORT
    13: struct.Struct("<h"),  # YEAR
    3: struct.Struct("<i"),  # LONG
    9: struct.Struct("<i"),  # INT24
    8: struct.Struct("<q"),  # LONGLONG
    4: struct.Struct("<f"),  # FLOAT
    5: struct.Struct("<d"),  # DOUBLE
}
_UNSIGNED = {
    1: struct.Struct("<B"),
    2: struct.Struct("<H"),
    13: struct.Struct("<H"),
    3: struct.Struct("<I"),
    9: struct.Struct("<I"),
    8: struct.Struct("<Q"),
}
_TEMPORAL = {7, 10, 12}  # TIMESTAMP, DATE, DATETIME
_TIME = 11
_NULL = 6
DISPLAY_LIMIT = 256


def read_value(
    payload: bytes, pos: int, column_type: int, unsigned: bool = False
) -> tuple[str, int]:
    """One binary-encoded value as display text, and the position after it."""
    if column_type == _NULL:
        return "NULL", pos
    fixed = (_UNSIGNED if unsigned else _FIXED).get(column_type) or _FIXED.get(column_type)
    if fixed is not None:
        end = pos + fixed.size
        if end > len(payload):
            raise Truncated(f"value of type {column_type} runs past the packet")
        value = fixed.unpack_from(payload, pos)[0]
        return (repr(value) if isinstance(value, float) else str(value)), end
    if column_type in _TEMPORAL:
        return _read_datetime(payload, pos)
    if column_type == _TIME:
        return _read_time(payload, pos)
    raw, end = lenenc_bytes(payload, pos)
    if raw is None:
        return "NULL", end
    return shorten(text(raw)), end


def _read_datetime(payload: bytes, pos: int) -> tuple[str, int]:
    length = payload[pos]
    body = payload[pos + 1 : pos + 1 + length]
    if len(body) < length:
        raise Truncated("datetime value runs past the packet")
    year = month = day = hour = minute = second = micro = 0
    if length >= 4:
        year = int.from_bytes(body[0:2], "little")
        month, day = body[2], body[3]
    if length >= 7:
        hour, minute, second = body[4], body[5], body[6]
    if length >= 11:
        micro = int.from_bytes(body[7:11], "little")
    textual = f"{year:04d}-{month:02d}-{day:02d}"
    if length > 4:
        textual += f" {hour:02d}:{minute:02d}:{second:02d}"
    if micro:
        textual += f".{micro:06d}"
    return textual, pos + 1 + length


def _read_time(payload: bytes, pos: int) -> tuple[str, int]:
    length = payload[pos]
    body = payload[pos + 1 : pos + 1 + length]
    if len(body) < length:
        raise Truncated("time value runs past the packet")
    if length == 0:
        return "00:00:00", pos + 1
    negative = body[0] == 1
    days = int.from_bytes(body[1:5], "little")
    hour, minute, second = body[5], body[6], body[7]
    micro = int.from_bytes(body[8:12], "little") if length >= 12 else 0
    textual = f"{'-' if negative else ''}{days * 24 + hour:02d}:{minute:02d}:{second:02d}"
    if micro:
        textual += f".{micro:06d}"
    return textual, pos + 1 + length


def null_bitmap_is_set(bitmap: bytes, index: int, offset: int = 0) -> bool:
    bit = index + offset
    return bool(bitmap[bit >> 3] & (1 << (bit & 7)))


def read_binary_row(
    payload: bytes, column_types: list[int], partial: bool = False
) -> list[str | None]:
    """A binary-protocol row: 0x00, a NULL bitmap offset by 2 bits, then the non-NULL values.
    `partial`: the payload is only the row's beginning; the row stops at the value it cuts."""
    count = len(column_types)
    bitmap_len = (count + 7 + 2) >> 3
    bitmap = payload[1 : 1 + bitmap_len]
    pos = 1 + bitmap_len
    values: list[str | None] = []
    for index, column_type in enumerate(column_types):
        if null_bitmap_is_set(bitmap, index, offset=2):
            values.append(None)
            continue
        try:
            value, pos = read_value(payload, pos, column_type)
        except (IndexError, Truncated):
            if not partial:
                raise
            values.append(CUT_MARK)
            break
        values.append(value)
    return values


CUT_MARK = "…(cut)"


def cut_value(prefix: bytes, length: int) -> str:
    """A value of which only `prefix` is at hand, `length` bytes long in full."""
    return f"{text(prefix[:DISPLAY_LIMIT])}…({length} bytes)"


def shorten(value: str, limit: int = DISPLAY_LIMIT) -> str:
    if len(value) <= limit:
        return value
    return f"{value[:limit]}…({len(value)} chars)"
