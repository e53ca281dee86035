"""Parsers for the generic server replies: OK, ERR, EOF, column definitions and text rows.

Pure functions from a payload (and the capabilities in force) to field values; the decoder
decides when each applies. References:
https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_ok_packet.html,
.../page_protocol_basic_err_packet.html, .../page_protocol_basic_eof_packet.html,
.../page_protocol_com_query_response_text_resultset_column_definition.html
"""

from __future__ import annotations

from typing import NamedTuple

from mysqlwire.protocol.binary_values import cut_value, shorten
from mysqlwire.protocol.constants import (
    CLIENT_PROTOCOL_41,
    CLIENT_SESSION_TRACK,
    CLIENT_TRANSACTIONS,
    MARIADB_CLIENT_EXTENDED_METADATA,
    SERVER_SESSION_STATE_CHANGED,
    SESSION_TRACK_GTIDS,
    SESSION_TRACK_NAMES,
    SESSION_TRACK_SYSTEM_VARIABLE,
)
from mysqlwire.protocol.wire import Truncated, lenenc_bytes, lenenc_int, lenenc_str, text, uint


class OkFields(NamedTuple):
    affected_rows: int
    last_insert_id: int
    status: int
    warnings: int
    info: str
    session_state: list[tuple[str, str]]


class ErrFields(NamedTuple):
    code: int
    sql_state: str
    message: str


class ProgressFields(NamedTuple):
    stage: int
    max_stage: int
    progress: float
    info: str


def parse_ok(payload: bytes, capabilities: int) -> OkFields:
    """An OK packet (header 0x00, or 0xFE when it ends a result set under DEPRECATE_EOF)."""
    affected, pos = lenenc_int(payload, 1)
    insert_id, pos = lenenc_int(payload, pos)
    status = warnings = 0
    if capabilities & CLIENT_PROTOCOL_41:
        status, pos = uint(payload, pos, 2)
        warnings, pos = uint(payload, pos, 2)
    elif capabilities & CLIENT_TRANSACTIONS:
        status, pos = uint(payload, pos, 2)
    session_state: list[tuple[str, str]] = []
    info = ""
    if capabilities & CLIENT_SESSION_TRACK:
        if pos < len(payload):
            tracked_info, pos = lenenc_str(payload, pos)
            info = tracked_info or ""
        if status & SERVER_SESSION_STATE_CHANGED and pos < len(payload):
            raw, pos = lenenc_bytes(payload, pos)
            session_state = parse_session_state(raw or b"")
    else:
        info = _info_text(payload, pos)
    return OkFields(affected or 0, insert_id or 0, status, warnings, info, session_state)


def plain_ok_status(payload: bytes, capabilities: int) -> int:
    """The status flags of a plain OK packet, or -1 for any other: read that one with
    `parse_ok`. Plain: protocol 4.1, one-byte affected rows and insert id, and after the
    status and warnings nothing but the info text (with CLIENT_SESSION_TRACK: a whole one,
    with a one-byte length, and no session-state change announced). Such a packet is one
    `parse_ok` reads without fail and finds no session-state change in; the fast lane reads
    most replies' statuses so, without building their fields."""
    size = len(payload)
    if (
        size < 7
        or not capabilities & CLIENT_PROTOCOL_41
        or payload[1] >= 0xFB
        or payload[2] >= 0xFB
    ):
        return -1
    status = payload[3] | payload[4] << 8
    if (
        size > 7
        and capabilities & CLIENT_SESSION_TRACK
        and (status & SERVER_SESSION_STATE_CHANGED or payload[7] >= 0xFB or 8 + payload[7] > size)
    ):
        return -1
    return status


def _info_text(payload: bytes, pos: int) -> str:
    """The info message without CLIENT_SESSION_TRACK. The protocol documentation calls it
    string<EOF>, but MySQL's and MariaDB's servers write it length-prefixed (net_store_data)
    and libmysqlclient reads it so: when the rest is exactly one length-encoded string, that
    is the message ("Records: 2000  Deleted: 0 ..."), without its length byte."""
    if pos >= len(payload):
        return ""
    try:
        raw, end = lenenc_bytes(payload, pos)
    except (Truncated, IndexError, ValueError):
        raw, end = None, -1
    if raw is not None and end == len(payload):
        return text(raw)
    return text(payload[pos:])


def parse_session_state(raw: bytes) -> list[tuple[str, str]]:
    """Session-state change entries of an OK packet, as (kind, text). Every entry's data is a
    length-encoded string, except a system variable (name and value, two of them) and GTIDs (an
    encoding byte first); see SESSION_TRACK_NAMES."""
    changes: list[tuple[str, str]] = []
    pos = 0
    while pos < len(raw):
        kind = raw[pos]
        data, pos = lenenc_bytes(raw, pos + 1)
        data = data or b""
        name = SESSION_TRACK_NAMES.get(kind, f"type_{kind}")
        if kind == SESSION_TRACK_SYSTEM_VARIABLE:
            var, vpos = lenenc_str(data, 0)
            value, _ = lenenc_str(data, vpos)
            changes.append((name, f"{var}={value}"))
        elif kind in SESSION_TRACK_NAMES:
            value, _ = lenenc_str(data, 1 if kind == SESSION_TRACK_GTIDS else 0)
            changes.append((name, value or ""))
        else:
            changes.append((name, text(data)))
    return changes


def parse_err(payload: bytes) -> ErrFields:
    """An ERR packet. The '#' + SQL state is absent when the server did not yet know the
    client speaks protocol 4.1 (an ERR sent in place of the greeting)."""
    code, pos = uint(payload, 1, 2)
    sql_state = ""
    if payload[pos : pos + 1] == b"#":
        sql_state = text(payload[pos + 1 : pos + 6])
        pos += 6
    return ErrFields(code, sql_state, text(payload[pos:]))


def parse_progress(payload: bytes) -> ProgressFields:
    """MariaDB's progress report: ERR header, code 0xFFFF, the number of strings that follow
    (1), stage, max stage, progress in thousandths of a percent, the stage's name. See
    MariaDB's net_send_progress_packet and libmariadb's cli_report_progress."""
    stage = payload[4]
    max_stage = payload[5]
    progress, pos = uint(payload, 6, 3)
    info, _ = lenenc_str(payload, pos)
    return ProgressFields(stage, max_stage, progress / 1000.0, info or "")


def parse_eof(payload: bytes) -> tuple[int, int]:
    """(warnings, status) of an EOF packet; pre-4.1 EOF packets carry neither."""
    if len(payload) >= 5:
        return payload[1] | payload[2] << 8, payload[3] | payload[4] << 8
    return 0, 0


class ColumnFields(NamedTuple):
    schema: str
    table: str
    name: str
    column_type: int
    flags: int


def parse_column_definition(payload: bytes, capabilities: int) -> ColumnFields:
    """A ColumnDefinition41 packet (catalog, schema, table, org_table, name, org_name, ...)."""
    _catalog, pos = lenenc_bytes(payload, 0)
    schema, pos = lenenc_str(payload, pos)
    table, pos = lenenc_str(payload, pos)
    _org_table, pos = lenenc_bytes(payload, pos)
    name, pos = lenenc_str(payload, pos)
    _org_name, pos = lenenc_bytes(payload, pos)
    if capabilities & MARIADB_CLIENT_EXTENDED_METADATA:
        _extended, pos = lenenc_bytes(payload, pos)
    _fixed_len, pos = lenenc_int(payload, pos)
    # charset (2), column length (4), type (1), flags (2), decimals (1)
    column_type = payload[pos + 6]
    flags = int.from_bytes(payload[pos + 7 : pos + 9], "little")
    return ColumnFields(schema or "", table or "", name or "", column_type, flags)


def parse_text_row(payload: bytes, partial: bool = False) -> list[str | None]:
    """A text-protocol row: length-encoded strings, 0xFB for NULL. `partial`: the payload is
    only the row's beginning (retain limit, capture gap); the value it ends in is shown as far
    as it goes and the row stops there."""
    values: list[str | None] = []
    pos, n = 0, len(payload)
    while pos < n:
        try:
            length, start = lenenc_int(payload, pos)
        except (IndexError, Truncated):
            if partial:
                break
            raise
        if length is None:
            values.append(None)
            pos = start
            continue
        pos = start + length
        if pos > n:
            if not partial:
                raise Truncated(f"value of {length} bytes at offset {start} runs past the packet")
            values.append(cut_value(payload[start:], length))
            break
        values.append(shorten(text(payload[start:pos])))
    return values
