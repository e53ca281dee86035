"""A tiny MySQL packet builder, so protocol tests read as specifications.

Payloads are built by one function per message (`greeting`, `handshake_response41`, `ok`,
`query`, `stmt_execute`, ...); `frame`/`wire_packets` put a payload on the wire (split at
0xFFFFFF, with the empty terminator when the size is a multiple of it), `compressed_packets`
wraps a stream in the compressed protocol (zlib, zstd or stored), `tls_record` and friends
build TLS records. A `Conversation` keeps the sequence ids the way the protocol wants them and
records who sent which bytes::

    talk = Conversation().login(deprecate_eof=True)
    talk.command(query("select 1")).server(*result_set([column("1")], [["1"]], deprecate_eof=True))
    events = decode(talk.chunks)          # tests/protocol/helpers.py

Everything here is written from the protocol documentation
(https://dev.mysql.com/doc/dev/mysql-server/latest/PAGE_PROTOCOL.html and
https://mariadb.com/kb/en/clientserver-protocol/), independently of the decoder under test;
only the constants are shared.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import zstandard

from mysqlwire.protocol.constants import (
    CLIENT,
    CLIENT_COMPRESS,
    CLIENT_CONNECT_ATTRS,
    CLIENT_CONNECT_WITH_DB,
    CLIENT_DEPRECATE_EOF,
    CLIENT_LOCAL_FILES,
    CLIENT_LONG_FLAG,
    CLIENT_LONG_PASSWORD,
    CLIENT_MULTI_RESULTS,
    CLIENT_MULTI_STATEMENTS,
    CLIENT_PLUGIN_AUTH,
    CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA,
    CLIENT_PROTOCOL_41,
    CLIENT_PS_MULTI_RESULTS,
    CLIENT_QUERY_ATTRIBUTES,
    CLIENT_SECURE_CONNECTION,
    CLIENT_SESSION_TRACK,
    CLIENT_SSL,
    CLIENT_TRANSACTIONS,
    CLIENT_ZSTD_COMPRESSION_ALGORITHM,
    MARIADB_CLIENT_PROGRESS,
    MARIADB_CLIENT_STMT_BULK_OPERATIONS,
    MAX_PAYLOAD,
    SERVER,
    SERVER_MORE_RESULTS_EXISTS,
    SERVER_SESSION_STATE_CHANGED,
    SERVER_STATUS_AUTOCOMMIT,
)

# --- column types used by tests -----------------------------------------------------------
DECIMAL, TINY, SHORT, LONG, FLOAT, DOUBLE, NULL, TIMESTAMP, LONGLONG, INT24 = range(10)
DATE, TIME, DATETIME, YEAR = 10, 11, 12, 13
NEWDECIMAL, BLOB, VAR_STRING, STRING = 246, 252, 253, 254

# --- capability sets of real peers -----------------------------------------------------------
MYSQL8_SERVER_CAPABILITIES = 0xDFFFFFFF  # what MySQL 8.0 announces (all but bit 29)
CLIENT_BASE = (
    CLIENT_LONG_PASSWORD
    | CLIENT_LONG_FLAG
    | CLIENT_LOCAL_FILES
    | CLIENT_PROTOCOL_41
    | CLIENT_TRANSACTIONS
    | CLIENT_SECURE_CONNECTION
    | CLIENT_MULTI_STATEMENTS
    | CLIENT_MULTI_RESULTS
    | CLIENT_PS_MULTI_RESULTS
    | CLIENT_PLUGIN_AUTH
    | CLIENT_CONNECT_ATTRS
    | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
    | CLIENT_SESSION_TRACK
    | CLIENT_CONNECT_WITH_DB
)
MARIADB_EXTENDED = MARIADB_CLIENT_PROGRESS | MARIADB_CLIENT_STMT_BULK_OPERATIONS
# MariaDB 10.x: bits 1-24 (no CLIENT_MYSQL, no SSL without a certificate), extended ones above
MARIADB_SERVER_CAPABILITIES = (0x01FFF7FF & ~CLIENT_LONG_PASSWORD) | MARIADB_EXTENDED

STATUS = SERVER_STATUS_AUTOCOMMIT
SCRAMBLE = bytes(range(0x41, 0x55))  # 20 bytes, stands for the server's random challenge
AUTH_RESPONSE = bytes(range(0xA0, 0xC0))  # 32 bytes, stands for a client's scrambled password


# --- primitives -----------------------------------------------------------------------------


def int_le(value: int, size: int) -> bytes:
    return value.to_bytes(size, "little")


def lenenc_int(value: int | None) -> bytes:
    if value is None:
        return b"\xfb"
    if value < 0xFB:
        return bytes([value])
    if value < 1 << 16:
        return b"\xfc" + int_le(value, 2)
    if value < 1 << 24:
        return b"\xfd" + int_le(value, 3)
    return b"\xfe" + int_le(value, 8)


def as_bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


def lenenc(value: bytes | str | None) -> bytes:
    if value is None:
        return b"\xfb"
    raw = as_bytes(value)
    return lenenc_int(len(raw)) + raw


def nul(value: bytes | str) -> bytes:
    return as_bytes(value) + b"\0"


# --- framing --------------------------------------------------------------------------------


def header(length: int, seq: int) -> bytes:
    return int_le(length, 3) + bytes([seq & 0xFF])


def wire_packets(payload: bytes, seq: int = 0) -> list[bytes]:
    """The wire packets of one logical packet: pieces of 0xFFFFFF bytes, then the remainder
    (empty when the payload is a multiple of 0xFFFFFF), each with its own sequence id."""
    out = []
    pos = 0
    while True:
        piece = payload[pos : pos + MAX_PAYLOAD]
        out.append(header(len(piece), seq + len(out)) + piece)
        pos += len(piece)
        if len(piece) < MAX_PAYLOAD:
            return out


def frame(payload: bytes, seq: int = 0) -> bytes:
    """One logical packet on the wire (split when it has to be)."""
    return b"".join(wire_packets(payload, seq))


def packets(*payloads: bytes, seq: int = 0) -> bytes:
    """Consecutive logical packets, sequence ids counting on from `seq`."""
    out = []
    for payload in payloads:
        pieces = wire_packets(payload, seq)
        out += pieces
        seq += len(pieces)
    return b"".join(out)


def compressed_packets(
    stream: bytes, seq: int = 0, algorithm: str = "zlib", piece_size: int = MAX_PAYLOAD
) -> list[bytes]:
    """`stream` (plain packets) wrapped in compressed packets of at most `piece_size` bytes
    before compression: 3-byte compressed length, compressed sequence id, 3-byte length before
    compression (0 when `algorithm` is "stored"). A logical packet may span them."""
    out = []
    pos = 0
    while True:
        piece = stream[pos : pos + piece_size]
        if algorithm == "stored":
            body, before = piece, 0
        elif algorithm == "zstd":
            body, before = zstandard.ZstdCompressor().compress(piece), len(piece)
        else:
            body, before = zlib.compress(piece), len(piece)
        out.append(int_le(len(body), 3) + bytes([(seq + len(out)) & 0xFF]) + int_le(before, 3))
        out[-1] += body
        pos += len(piece)
        if pos >= len(stream):
            return out


# --- connection phase: server ---------------------------------------------------------------


def greeting(
    version: str = "8.0.36",
    thread_id: int = 42,
    *,
    capabilities: int = MYSQL8_SERVER_CAPABILITIES,
    charset: int = 255,
    status: int = STATUS,
    auth_plugin: str = "caching_sha2_password",
    scramble: bytes = SCRAMBLE,
    protocol: int = 10,
) -> bytes:
    """Initial handshake v10. Capabilities above bit 31 are MariaDB's extended ones: they go
    into the last four reserved bytes, which a MariaDB server marks by clearing bit 0."""
    low, extended = capabilities & 0xFFFFFFFF, capabilities >> 32
    reserved = bytes(6) + int_le(extended, 4)
    return (
        bytes([protocol])
        + nul(version)
        + int_le(thread_id, 4)
        + scramble[:8]
        + b"\0"
        + int_le(low & 0xFFFF, 2)
        + bytes([charset])
        + int_le(status, 2)
        + int_le(low >> 16, 2)
        + bytes([len(scramble) + 1 if low & CLIENT_PLUGIN_AUTH else 0])
        + reserved
        + (scramble[8:] + b"\0" if low & CLIENT_SECURE_CONNECTION else b"")
        + (nul(auth_plugin) if low & CLIENT_PLUGIN_AUTH else b"")
    )


def mariadb_greeting(version: str = "10.11.6-MariaDB-0+deb12u1", thread_id: int = 7) -> bytes:
    """MariaDB's greeting: "5.5.5-" before the version (for old clients that parse it), bit 0
    (CLIENT_MYSQL) cleared and extended capabilities in the reserved bytes."""
    return greeting(
        "5.5.5-" + version,
        thread_id,
        capabilities=MARIADB_SERVER_CAPABILITIES,
        auth_plugin="mysql_native_password",
    )


def greeting_v9(version: str = "3.21.0", thread_id: int = 3) -> bytes:
    """The ancient protocol 9 greeting: version, thread id, scramble, nothing more."""
    return bytes([9]) + nul(version) + int_le(thread_id, 4) + nul(SCRAMBLE[:8])


def auth_switch_request(plugin: str = "mysql_native_password", data: bytes = SCRAMBLE) -> bytes:
    return b"\xfe" + nul(plugin) + data + b"\0"


def auth_more_data(body: bytes) -> bytes:
    return b"\x01" + body


FAST_AUTH_SUCCESS = auth_more_data(b"\x03")
PERFORM_FULL_AUTHENTICATION = auth_more_data(b"\x04")
PUBLIC_KEY_PEM = (
    b"-----BEGIN PUBLIC KEY-----\n"
    b"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n"
    b"-----END PUBLIC KEY-----\n"
)
PUBLIC_KEY = auth_more_data(PUBLIC_KEY_PEM)


# --- connection phase: client ---------------------------------------------------------------


def _client_flags(capabilities: int) -> tuple[bytes, bytes]:
    """Capability bytes and the 23-byte filler (MariaDB's extended capabilities in its last 4
    bytes when bit 0 is clear)."""
    filler = bytes(19) + int_le(capabilities >> 32, 4)
    return int_le(capabilities & 0xFFFFFFFF, 4), filler


def ssl_request(capabilities: int = CLIENT_BASE | CLIENT_SSL, charset: int = 255) -> bytes:
    flags, filler = _client_flags(capabilities | CLIENT_SSL)
    return flags + int_le(1 << 24, 4) + bytes([charset]) + filler


def connect_attributes(attributes: dict[str, str]) -> bytes:
    body = b"".join(lenenc(key) + lenenc(value) for key, value in attributes.items())
    return lenenc_int(len(body)) + body


DEFAULT_ATTRIBUTES = {
    "_client_name": "libmysql",
    "_client_version": "8.0.36",
    "program_name": "mysql",
}


def handshake_response41(
    user: str = "app",
    database: str | None = "test",
    *,
    capabilities: int = CLIENT_BASE,
    auth_response: bytes = AUTH_RESPONSE,
    auth_plugin: str | None = "caching_sha2_password",
    attributes: dict[str, str] | None = None,
    max_packet: int = 1 << 24,
    charset: int = 255,
) -> bytes:
    if database is None:
        capabilities &= ~CLIENT_CONNECT_WITH_DB
    if auth_plugin is None:
        capabilities &= ~CLIENT_PLUGIN_AUTH
    if attributes is None:
        attributes = DEFAULT_ATTRIBUTES
    if not attributes:
        capabilities &= ~CLIENT_CONNECT_ATTRS
    flags, filler = _client_flags(capabilities)
    if capabilities & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA:
        auth = lenenc(auth_response)
    elif capabilities & CLIENT_SECURE_CONNECTION:
        auth = bytes([len(auth_response)]) + auth_response
    else:
        auth = nul(auth_response)
    return (
        flags
        + int_le(max_packet, 4)
        + bytes([charset])
        + filler
        + nul(user)
        + auth
        + (nul(database) if database is not None else b"")
        + (nul(auth_plugin) if auth_plugin is not None else b"")
        + (connect_attributes(attributes) if attributes else b"")
    )


def handshake_response320(
    user: str = "old",
    database: str | None = None,
    *,
    auth_response: bytes = b"8bytes!!",
    capabilities: int = CLIENT_LONG_PASSWORD | CLIENT_TRANSACTIONS,
    max_packet: int = 0xFFFFFF,
) -> bytes:
    """The pre-4.1 login: 2-byte capabilities, 3-byte max packet, user, then the scrambled
    password (NUL-terminated when a database follows)."""
    if database is not None:
        capabilities |= CLIENT_CONNECT_WITH_DB
    body = int_le(capabilities & 0xFFFF, 2) + int_le(max_packet, 3) + nul(user)
    if database is not None:
        return body + nul(auth_response) + nul(database)
    return body + auth_response


# --- generic replies ------------------------------------------------------------------------


def session_track(kind: str, *values: str) -> bytes:
    """One session-state change entry of an OK packet."""
    kinds = {
        "system_variable": 0,
        "schema": 1,
        "state_change": 2,
        "gtids": 3,
        "transaction_characteristics": 4,
        "transaction_state": 5,
    }
    if kind == "system_variable":
        data = lenenc(values[0]) + lenenc(values[1])
    elif kind == "gtids":
        data = b"\0" + lenenc(values[0])
    else:
        data = lenenc(values[0])
    return bytes([kinds[kind]]) + lenenc(data)


def ok(
    affected_rows: int = 0,
    last_insert_id: int = 0,
    *,
    status: int = STATUS,
    warnings: int = 0,
    info: str = "",
    session_state: Sequence[bytes] = (),
    session_track: bool = True,
    eof_header: bool = False,
) -> bytes:
    """An OK packet as a protocol-4.1 server sends it. With `session_track` (the client set
    CLIENT_SESSION_TRACK) the info is length-prefixed and left out when empty and nothing
    changed; `eof_header` gives the 0xFE OK that ends a result set under DEPRECATE_EOF."""
    if session_state:
        status |= SERVER_SESSION_STATE_CHANGED
    body = (
        (b"\xfe" if eof_header else b"\x00")
        + lenenc_int(affected_rows)
        + lenenc_int(last_insert_id)
        + int_le(status, 2)
        + int_le(warnings, 2)
    )
    if not session_track:
        return body + info.encode()
    if info or session_state:
        body += lenenc(info)
    if session_state:
        body += lenenc(b"".join(session_state))
    return body


def err(code: int, message: str, sql_state: str | None = "HY000") -> bytes:
    """ERR; `sql_state=None` for the pre-4.1 form a server uses before it knows the client."""
    state = b"" if sql_state is None else b"#" + sql_state.encode()
    return b"\xff" + int_le(code, 2) + state + message.encode()


def eof(warnings: int = 0, status: int = STATUS) -> bytes:
    return b"\xfe" + int_le(warnings, 2) + int_le(status, 2)


def progress(stage: int, max_stage: int, percent: float, info: str = "") -> bytes:
    """MariaDB's progress report: ERR header, code 0xFFFF, one string follows, stage, max stage,
    progress in thousandths of a percent, then the stage's name."""
    return (
        b"\xff\xff\xff\x01"
        + bytes([stage, max_stage])
        + int_le(round(percent * 1000), 3)
        + lenenc(info)
    )


# --- result sets ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    column_type: int = VAR_STRING
    table: str = "t"
    schema: str = "test"
    unsigned: bool = False


def column(
    name: str,
    column_type: int = VAR_STRING,
    *,
    table: str = "t",
    schema: str = "test",
    unsigned: bool = False,
) -> Column:
    return Column(name, column_type, table, schema, unsigned)


def column_definition(col: Column) -> bytes:
    return (
        lenenc("def")
        + lenenc(col.schema)
        + lenenc(col.table)
        + lenenc(col.table)
        + lenenc(col.name)
        + lenenc(col.name)
        + lenenc_int(0x0C)
        + int_le(255, 2)
        + int_le(255, 4)
        + bytes([col.column_type])
        + int_le(0x20 if col.unsigned else 0, 2)
        + b"\0"
        + b"\0\0"
    )


def text_row(values: Iterable[str | bytes | None]) -> bytes:
    return b"".join(lenenc(value) for value in values)


def binary_value(column_type: int, value: object, unsigned: bool = False) -> bytes:
    """One value in the binary protocol encoding of `column_type`."""
    fixed = {TINY: "b", SHORT: "h", YEAR: "h", LONG: "i", INT24: "i", LONGLONG: "q"}
    if column_type in fixed:
        code = fixed[column_type].upper() if unsigned else fixed[column_type]
        return struct.pack("<" + code, value)
    if column_type == FLOAT:
        return struct.pack("<f", value)
    if column_type == DOUBLE:
        return struct.pack("<d", value)
    if column_type in (DATE, DATETIME, TIMESTAMP):
        year, month, day, *rest = value  # (y, m, d[, h, mi, s[, micro]])
        body = int_le(year, 2) + bytes([month, day])
        if rest:
            body += bytes(rest[:3])
        if len(rest) > 3:
            body += int_le(rest[3], 4)
        return bytes([len(body)]) + body
    if column_type == TIME:
        negative, days, hours, minutes, seconds, *micro = value
        body = bytes([negative]) + int_le(days, 4) + bytes([hours, minutes, seconds])
        if micro:
            body += int_le(micro[0], 4)
        return bytes([len(body)]) + body
    return lenenc(value)


def null_bitmap(values: Sequence[object], offset: int = 0) -> bytearray:
    bitmap = bytearray((len(values) + 7 + offset) // 8)
    for index, value in enumerate(values):
        if value is None:
            bit = index + offset
            bitmap[bit // 8] |= 1 << (bit % 8)
    return bitmap


def binary_row(columns: Sequence[Column], values: Sequence[object]) -> bytes:
    """0x00, a NULL bitmap offset by two bits, the non-NULL values."""
    body = b"".join(
        binary_value(col.column_type, value, col.unsigned)
        for col, value in zip(columns, values, strict=True)
        if value is not None
    )
    return b"\0" + bytes(null_bitmap(values, offset=2)) + body


def result_set(
    columns: Sequence[Column],
    rows: Sequence[Sequence[object]],
    *,
    deprecate_eof: bool = False,
    binary: bool = False,
    status: int = STATUS,
    more_results: bool = False,
    warnings: int = 0,
) -> list[bytes]:
    """Column count, definitions, [EOF], rows, then EOF or (DEPRECATE_EOF) an OK with 0xFE."""
    if more_results:
        status |= SERVER_MORE_RESULTS_EXISTS
    out = [lenenc_int(len(columns))] + [column_definition(col) for col in columns]
    if not deprecate_eof:
        out.append(eof(status=status))
    for row in rows:
        out.append(binary_row(columns, row) if binary else text_row(row))  # type: ignore[arg-type]
    out.append(
        ok(status=status, warnings=warnings, eof_header=True)
        if deprecate_eof
        else eof(warnings, status)
    )
    return out


def prepare_ok(statement_id: int, columns: int, params: int, warnings: int = 0) -> bytes:
    return (
        b"\x00"
        + int_le(statement_id, 4)
        + int_le(columns, 2)
        + int_le(params, 2)
        + b"\0"
        + int_le(warnings, 2)
    )


def prepare_response(
    statement_id: int,
    params: Sequence[Column],
    columns: Sequence[Column],
    *,
    deprecate_eof: bool = False,
) -> list[bytes]:
    """COM_STMT_PREPARE_OK, the parameter definitions, then the column definitions, each
    block followed by EOF unless DEPRECATE_EOF."""
    out = [prepare_ok(statement_id, len(columns), len(params))]
    for block in (params, columns):
        if block:
            out += [column_definition(col) for col in block]
            if not deprecate_eof:
                out.append(eof())
    return out


def local_infile_request(filename: str) -> bytes:
    return b"\xfb" + filename.encode()


def binlog_event(
    event_type: int,
    *,
    timestamp: int = 1700000000,
    server_id: int = 1,
    log_pos: int = 4,
    body: bytes = b"",
) -> bytes:
    """One replication event as the server streams it: OK byte, 19-byte header, body."""
    size = 19 + len(body)
    return (
        b"\x00"
        + int_le(timestamp, 4)
        + bytes([event_type])
        + int_le(server_id, 4)
        + int_le(size, 4)
        + int_le(log_pos, 4)
        + int_le(0, 2)
        + body
    )


# --- commands -------------------------------------------------------------------------------


def command(code: int, body: bytes = b"") -> bytes:
    return bytes([code]) + body


QUIT = command(0x01)
STATISTICS = command(0x09)
PING = command(0x0E)
RESET_CONNECTION = command(0x1F)


@dataclass(frozen=True)
class Param:
    """A bound parameter or query attribute: type, value, name (names only travel with
    CLIENT_QUERY_ATTRIBUTES)."""

    column_type: int
    value: object
    name: str = ""
    unsigned: bool = False


def _bound_values(params: Sequence[Param], *, names: bool, bound: bool = True) -> bytes:
    body = bytes(null_bitmap([p.value for p in params])) + bytes([1 if bound else 0])
    if bound:
        for param in params:
            body += bytes([param.column_type, 0x80 if param.unsigned else 0])
            if names:
                body += lenenc(param.name)
    for param in params:
        if param.value is not None:
            body += binary_value(param.column_type, param.value, param.unsigned)
    return body


def query(sql: str | bytes, attributes: Sequence[Param] | None = None) -> bytes:
    """COM_QUERY. `attributes` given (even empty) means CLIENT_QUERY_ATTRIBUTES is on:
    parameter count and parameter-set count come first."""
    body = b"\x03"
    if attributes is not None:
        body += lenenc_int(len(attributes)) + lenenc_int(1)
        if attributes:
            body += _bound_values(attributes, names=True)
    return body + as_bytes(sql)


def init_db(schema: str) -> bytes:
    return command(0x02, schema.encode())


def field_list(table: str, wildcard: str = "") -> bytes:
    return command(0x04, nul(table) + wildcard.encode())


def process_kill(connection_id: int) -> bytes:
    return command(0x0C, int_le(connection_id, 4))


def set_option(option: int) -> bytes:
    return command(0x1B, int_le(option, 2))


def change_user(
    user: str,
    database: str = "",
    *,
    auth_response: bytes = AUTH_RESPONSE,
    charset: int = 255,
    auth_plugin: str = "caching_sha2_password",
    attributes: dict[str, str] | None = None,
) -> bytes:
    """COM_CHANGE_USER as a 4.1 client with SECURE_CONNECTION, PLUGIN_AUTH and CONNECT_ATTRS
    sends it."""
    return command(
        0x11,
        nul(user)
        + bytes([len(auth_response)])
        + auth_response
        + nul(database)
        + int_le(charset, 2)
        + nul(auth_plugin)
        + connect_attributes(attributes if attributes is not None else DEFAULT_ATTRIBUTES),
    )


def binlog_dump(filename: str, position: int = 4, *, server_id: int = 2, flags: int = 0) -> bytes:
    return command(
        0x12, int_le(position, 4) + int_le(flags, 2) + int_le(server_id, 4) + filename.encode()
    )


def binlog_dump_gtid(
    filename: str, position: int = 4, *, server_id: int = 2, flags: int = 0, gtid_data: bytes = b""
) -> bytes:
    body = int_le(flags, 2) + int_le(server_id, 4) + int_le(len(filename), 4) + filename.encode()
    body += int_le(position, 8)
    if flags & 0x04:  # BINLOG_THROUGH_GTID
        body += int_le(len(gtid_data), 4) + gtid_data
    return command(0x1E, body)


def register_slave(server_id: int, host: str, user: str, password: str, port: int = 3306) -> bytes:
    return command(
        0x15,
        int_le(server_id, 4)
        + bytes([len(host)])
        + host.encode()
        + bytes([len(user)])
        + user.encode()
        + bytes([len(password)])
        + password.encode()
        + int_le(port, 2)
        + int_le(0, 4)  # replication rank
        + int_le(0, 4),  # master id
    )


def stmt_prepare(sql: str) -> bytes:
    return command(0x16, sql.encode())


def stmt_execute(
    statement_id: int,
    params: Sequence[Param] = (),
    *,
    flags: int = 0,
    bound: bool = True,
    query_attributes: bool = False,
) -> bytes:
    """COM_STMT_EXECUTE. With `query_attributes` (CLIENT_QUERY_ATTRIBUTES) the parameter count
    travels in the packet and every bound parameter carries a name."""
    body = int_le(statement_id, 4) + bytes([flags]) + int_le(1, 4)
    if query_attributes:
        body += lenenc_int(len(params))
    if params:
        body += _bound_values(params, names=query_attributes, bound=bound)
    return command(0x17, body)


def stmt_send_long_data(statement_id: int, param_id: int, data: bytes) -> bytes:
    return command(0x18, int_le(statement_id, 4) + int_le(param_id, 2) + data)


def stmt_close(statement_id: int) -> bytes:
    return command(0x19, int_le(statement_id, 4))


def stmt_reset(statement_id: int) -> bytes:
    return command(0x1A, int_le(statement_id, 4))


def stmt_fetch(statement_id: int, rows: int) -> bytes:
    return command(0x1C, int_le(statement_id, 4) + int_le(rows, 4))


def stmt_bulk_execute(statement_id: int, data: bytes = b"\x08\x00\x00\x01\x00\x00\x00") -> bytes:
    """MariaDB's COM_STMT_BULK_EXECUTE: statement id, bulk flags (128: send types), then the
    parameter types and rows (opaque here)."""
    return command(0xFA, int_le(statement_id, 4) + int_le(128, 2) + data)


# --- TLS ------------------------------------------------------------------------------------

HANDSHAKE, ALERT, CHANGE_CIPHER_SPEC, APPLICATION_DATA = 22, 21, 20, 23


def tls_record(content_type: int, body: bytes, version: int = 0x0303) -> bytes:
    return bytes([content_type]) + version.to_bytes(2, "big") + len(body).to_bytes(2, "big") + body


def _handshake_message(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


def client_hello() -> bytes:
    body = b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00" + b"\x00\x00"
    return tls_record(HANDSHAKE, _handshake_message(1, body), version=0x0301)


def server_hello(version: str = "TLS 1.2", session_id: bytes = bytes(32)) -> bytes:
    """A ServerHello record; TLS 1.3 says so only in the supported_versions extension."""
    extensions = b""
    if version == "TLS 1.3":
        extensions = b"\x00\x2b\x00\x02\x03\x04" + b"\x00\x33\x00\x24\x00\x1d\x00\x20" + bytes(32)
    legacy = {"TLS 1.0": 0x0301, "TLS 1.1": 0x0302}.get(version, 0x0303)
    body = (
        legacy.to_bytes(2, "big")
        + bytes(range(32))
        + bytes([len(session_id)])
        + session_id
        + b"\x13\x01"
        + b"\x00"
        + len(extensions).to_bytes(2, "big")
        + extensions
    )
    return tls_record(HANDSHAKE, _handshake_message(2, body))


def change_cipher_spec() -> bytes:
    return tls_record(CHANGE_CIPHER_SPEC, b"\x01")


def application_data(size: int = 64) -> bytes:
    return tls_record(APPLICATION_DATA, bytes((i * 7) & 0xFF for i in range(size)))


def alert(level: int = 1, description: int = 0) -> bytes:
    """An alert in the clear (before ChangeCipherSpec): warning(1) close_notify(0) by default."""
    return tls_record(ALERT, bytes([level, description]))


def encrypted_alert() -> bytes:
    return tls_record(ALERT, bytes(26))


# --- conversations --------------------------------------------------------------------------


@dataclass(frozen=True)
class Chunk:
    """Bytes one side sent in one segment."""

    side: int
    data: bytes


class Conversation:
    """Both directions of one connection, as the chunks each side sent, in order.

    Sequence ids follow the protocol: `command` starts a new sequence at 0 and every later
    packet, from either side, continues it; `seq=` overrides it for one call (to build wrong
    ones, or the replies to pipelined commands). After `compress()` each call's packets travel
    in compressed packets, whose own sequence also restarts with each command
    (`compressed_seq=` overrides it)."""

    def __init__(self) -> None:
        self.chunks: list[Chunk] = []
        self.logical_packets = 0  # how many logical packets both sides sent (raw bytes aside)
        self.seq = 0
        self.compression: str | None = None
        self.piece_size = MAX_PAYLOAD
        self.compressed_seq = 0
        self.pipelined: list[int] = []

    # -- sending -------------------------------------------------------------------------

    def client(
        self, *payloads: bytes, seq: int | None = None, compressed_seq: int | None = None
    ) -> Conversation:
        return self._send(CLIENT, payloads, seq, compressed_seq)

    def server(
        self, *payloads: bytes, seq: int | None = None, compressed_seq: int | None = None
    ) -> Conversation:
        return self._send(SERVER, payloads, seq, compressed_seq)

    def command(self, *payloads: bytes) -> Conversation:
        """A client command (more than one payload: pipelined commands in one segment, each
        starting its own sequence, the compressed one too)."""
        self.compressed_seq = 0
        if len(payloads) == 1:
            return self.client(payloads[0], seq=0)
        wire = b""
        self.pipelined = []  # where each command's reply takes up its compressed sequence
        for payload in payloads:
            self.compressed_seq = 0
            wire += self._wrap(frame(payload, 0))
            self.pipelined.append(self.compressed_seq)
        self.logical_packets += len(payloads)
        self.seq = 1
        return self.raw(CLIENT, wire)

    def raw(self, side: int, data: bytes) -> Conversation:
        """Bytes exactly as given (no framing, no compression)."""
        self.chunks.append(Chunk(side, data))
        return self

    def compress(self, algorithm: str = "zlib", piece_size: int = MAX_PAYLOAD) -> Conversation:
        """From now on, packets travel in compressed packets ("zlib", "zstd" or "stored") of
        at most `piece_size` bytes before compression."""
        self.compression = algorithm
        self.piece_size = piece_size
        return self

    def _send(
        self,
        side: int,
        payloads: Sequence[bytes],
        seq: int | None,
        compressed_seq: int | None = None,
    ) -> Conversation:
        if seq is not None:
            self.seq = seq
        if compressed_seq is not None:
            self.compressed_seq = compressed_seq
        pieces = []
        self.logical_packets += len(payloads)
        for payload in payloads:
            wire = wire_packets(payload, self.seq)
            pieces += wire
            self.seq = (self.seq + len(wire)) & 0xFF
        return self.raw(side, self._wrap(b"".join(pieces)))

    def _wrap(self, stream: bytes) -> bytes:
        if self.compression is None:
            return stream
        wrapped = compressed_packets(stream, self.compressed_seq, self.compression, self.piece_size)
        self.compressed_seq = (self.compressed_seq + len(wrapped)) & 0xFF
        return b"".join(wrapped)

    # -- a whole login -------------------------------------------------------------------

    def login(
        self,
        *,
        deprecate_eof: bool = False,
        client_capabilities: int = CLIENT_BASE,
        server_capabilities: int = MYSQL8_SERVER_CAPABILITIES,
        user: str = "app",
        database: str | None = "test",
        version: str = "8.0.36",
        thread_id: int = 42,
        compression: str | None = None,
        query_attributes: bool = False,
    ) -> Conversation:
        """Greeting, HandshakeResponse41, OK: the shortest successful login. `compression`
        ("zlib" or "zstd") negotiates the compressed protocol, which starts after the OK."""
        if deprecate_eof:
            client_capabilities |= CLIENT_DEPRECATE_EOF
        if query_attributes:
            client_capabilities |= CLIENT_QUERY_ATTRIBUTES
        if compression == "zlib":
            client_capabilities |= CLIENT_COMPRESS
        elif compression == "zstd":
            client_capabilities |= CLIENT_ZSTD_COMPRESSION_ALGORITHM
        self.server(greeting(version, thread_id, capabilities=server_capabilities), seq=0)
        self.client(handshake_response41(user, database, capabilities=client_capabilities))
        self.server(ok())
        if compression is not None:
            self.compress(compression)
        return self

    # -- views ---------------------------------------------------------------------------

    def stream(self, side: int) -> bytes:
        return b"".join(chunk.data for chunk in self.chunks if chunk.side == side)
