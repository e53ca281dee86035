"""The reply state machine: how a server's reply to a command is read, packet by packet.

`REPLY_READERS[exchange.state]` reads each packet of a reply: OK, ERR, EOF, result sets (column
count, definitions, rows, terminator; several in a row with SERVER_MORE_RESULTS_EXISTS),
COM_STMT_PREPARE_OK with its definitions, COM_FIELD_LIST, COM_STATISTICS text, a binlog dump,
COM_CHANGE_USER's authentication. Without `detail`, rows and column definitions are passed
over in bulk (`PacketFramer.skip_rows`), not turned into events: that is the analyzer's hot
path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mysqlwire.protocol.binary_values import read_binary_row
from mysqlwire.protocol.commands import (
    BINARY_ROW_COMMANDS,
    COM_INIT_DB,
    COM_RESET_CONNECTION,
    COM_STMT_EXECUTE,
)
from mysqlwire.protocol.connection_phase import (
    handle_server_auth,
    read_unexpected,
)
from mysqlwire.protocol.constants import (
    CLIENT_OPTIONAL_RESULTSET_METADATA,
    EOF_BYTE,
    EOF_HEADER,
    ERR_BYTE,
    ERR_HEADER,
    LOCAL_INFILE_HEADER,
    MARIADB_CLIENT_CACHE_METADATA,
    MAX_PAYLOAD,
    OK_HEADER,
    PROGRESS_ERROR_CODE,
    SERVER_MORE_RESULTS_EXISTS,
    SERVER_STATUS_CURSOR_EXISTS,
)
from mysqlwire.protocol.events import (
    BinlogEvent,
    ColumnDefinition,
    Eof,
    Err,
    LocalInfileRequest,
    MalformedPacket,
    Ok,
    Progress,
    ResultSetEnd,
    ResultSetHeader,
    Row,
    StmtPrepareOk,
    TextReply,
)
from mysqlwire.protocol.exchange import Exchange, ReplyState, finish, finished
from mysqlwire.protocol.replies import (
    parse_column_definition,
    parse_eof,
    parse_err,
    parse_ok,
    parse_progress,
    parse_text_row,
)
from mysqlwire.protocol.statements import PreparedStatement
from mysqlwire.protocol.wire import lenenc_int, text, uint

if TYPE_CHECKING:
    from mysqlwire.protocol.decoder import MySQLDecoder
    from mysqlwire.protocol.framing import LogicalPacket


EOF_PACKET_MAX = 5  # an EOF packet is 5 bytes (1 before 4.1); an OK with a 0xFE header is >= 7


BINLOG_PACKET_MIN = 20  # the OK byte and the 19-byte event header


BINLOG_EVENT_NAMES = {
    2: "QUERY_EVENT",
    4: "ROTATE_EVENT",
    15: "FORMAT_DESCRIPTION_EVENT",
    16: "XID_EVENT",
    19: "TABLE_MAP_EVENT",
    23: "WRITE_ROWS_EVENT_V1",
    24: "UPDATE_ROWS_EVENT_V1",
    25: "DELETE_ROWS_EVENT_V1",
    27: "HEARTBEAT_LOG_EVENT",
    30: "WRITE_ROWS_EVENT",
    31: "UPDATE_ROWS_EVENT",
    32: "DELETE_ROWS_EVENT",
    33: "GTID_LOG_EVENT",
    35: "PREVIOUS_GTIDS_LOG_EVENT",
    160: "ANNOTATE_ROWS_EVENT",
    161: "BINLOG_CHECKPOINT_EVENT",
    162: "GTID_EVENT",
    163: "GTID_LIST_EVENT",
}


def _error(conn: MySQLDecoder, side: int, packet: LogicalPacket, ex: Exchange) -> None:
    payload = packet.payload
    if int.from_bytes(payload[1:3], "little") == PROGRESS_ERROR_CODE:
        conn.emit(Progress(**conn.evidence(side, packet), **parse_progress(payload)._asdict()))
        return
    fields = parse_err(payload)
    conn.emit(
        Err(**conn.evidence(side, packet), **fields._asdict(), reply_to=ex.name, phase="command")
    )
    finish(conn, packet, ex, "error", fields.code)


def _ok(conn: MySQLDecoder, side: int, packet: LogicalPacket, ex: Exchange) -> None:
    fields = parse_ok(packet.payload, conn.capabilities)
    if conn.replies:
        conn.emit(Ok(**conn.evidence(side, packet), **fields._asdict(), reply_to=ex.name))
    if ex.code == COM_INIT_DB and ex.arguments:
        conn.database = str(ex.arguments.get("schema"))
    for kind, value in fields.session_state:
        if kind == "schema":
            conn.database = value
    if ex.code == COM_RESET_CONNECTION:
        conn.statements.clear()
    if fields.status & SERVER_MORE_RESULTS_EXISTS:
        ex.state = ReplyState.FIRST
    else:
        finish(conn, packet, ex, "ok")


def _end_fields(conn: MySQLDecoder, packet: LogicalPacket) -> tuple[int, int]:
    """(warnings, status) of a packet that ends a list: an EOF, or, under CLIENT_DEPRECATE_EOF,
    an OK with the 0xFE header (at least 7 bytes, so never mistaken for a 5-byte EOF)."""
    if packet.size > EOF_PACKET_MAX:
        fields = parse_ok(packet.payload, conn.capabilities)
        return fields.warnings, fields.status
    return parse_eof(packet.payload)


def _eof(
    conn: MySQLDecoder, side: int, packet: LogicalPacket, ex: Exchange, finish_as: str | None
) -> int:
    """An EOF (or its DEPRECATE_EOF OK form). One that ends the reply (`finish_as`) is an
    event unless the decoder is lean; one in the middle only with detail."""
    if conn.detail or (finish_as is not None and conn.replies):
        status = _eof_event(conn, side, packet, ex)
    else:
        status = _end_fields(conn, packet)[1]
    if finish_as is not None:
        finish(conn, packet, ex, finish_as)
    return status


def _eof_event(conn: MySQLDecoder, side: int, packet: LogicalPacket, ex: Exchange) -> int:
    warnings, status = _end_fields(conn, packet)
    conn.emit(
        Eof(**conn.evidence(side, packet), warnings=warnings, status=status, reply_to=ex.name)
    )
    return status


def _read_first(conn: MySQLDecoder, side: int, packet: LogicalPacket, ex: Exchange) -> None:
    payload = packet.payload
    first = payload[0]
    if first == OK_HEADER:
        _ok(conn, side, packet, ex)
    elif first == ERR_HEADER:
        _error(conn, side, packet, ex)
    elif first == EOF_HEADER and packet.size <= EOF_PACKET_MAX:
        _eof(conn, side, packet, ex, "eof")
    elif first == EOF_HEADER and packet.size < MAX_PAYLOAD:
        _ok(conn, side, packet, ex)
    elif first == LOCAL_INFILE_HEADER:
        conn.emit(LocalInfileRequest(**conn.evidence(side, packet), filename=text(payload[1:])))
        ex.state = ReplyState.INFILE_DATA
    else:
        _result_set_header(conn, side, packet, ex)


def _result_set_header(conn: MySQLDecoder, side: int, packet: LogicalPacket, ex: Exchange) -> None:
    payload = packet.payload
    count, pos = lenenc_int(payload, 0)
    metadata = True
    if conn.capabilities & (
        MARIADB_CLIENT_CACHE_METADATA | CLIENT_OPTIONAL_RESULTSET_METADATA
    ) and pos < len(payload):
        metadata = payload[pos] == 1
    if conn.detail:
        conn.emit(
            ResultSetHeader(
                **conn.evidence(side, packet), column_count=count or 0, metadata_follows=metadata
            )
        )
        if ex.column_types is None or metadata:
            ex.column_types = []
    ex.set_rows = ex.set_row_bytes = 0
    if metadata and count:
        ex.columns_left = count
        ex.state = ReplyState.COLUMNS
        if not conn.detail:  # the definitions that follow in this chunk: pass over them
            ex.columns_left -= _skip_following(conn, side, ex, count)[0]
            if ex.columns_left <= 0:
                _columns_done(conn, side, ex)
    elif conn.deprecate_eof:
        _enter_rows(conn, side, ex)
    else:
        ex.state = ReplyState.COLUMNS_EOF


def _columns_done(conn: MySQLDecoder, side: int, ex: Exchange) -> None:
    if conn.deprecate_eof:
        _enter_rows(conn, side, ex)
    else:
        ex.state = ReplyState.COLUMNS_EOF


def _enter_rows(conn: MySQLDecoder, side: int, ex: Exchange) -> None:
    """Rows follow: without detail, pass over those already in this chunk at once."""
    ex.state = ReplyState.ROWS
    if not conn.detail:
        rows, size = _skip_following(conn, side, ex, 1 << 30)
        ex.rows += rows
        ex.set_rows += rows
        ex.set_row_bytes += size


def _read_columns(conn: MySQLDecoder, side: int, packet: LogicalPacket, ex: Exchange) -> None:
    if packet.payload[:1] == ERR_BYTE:
        _error(conn, side, packet, ex)
        return
    ex.columns_left -= 1
    if conn.detail:
        _column_event(conn, side, packet, ex)
    elif ex.columns_left > 0:
        ex.columns_left -= _skip_following(conn, side, ex, ex.columns_left)[0]
    if ex.columns_left <= 0:
        _columns_done(conn, side, ex)
        if ex.code in BINARY_ROW_COMMANDS and ex.statement_id is not None and conn.detail:
            statement = conn.statements.get(ex.statement_id)
            if statement is not None and ex.column_types is not None:
                statement.column_types = list(ex.column_types)


def _column_event(conn: MySQLDecoder, side: int, packet: LogicalPacket, ex: Exchange) -> None:
    column = parse_column_definition(packet.payload, conn.capabilities)
    if ex.column_types is not None:
        ex.column_types.append(column.column_type)
    conn.emit(
        ColumnDefinition(
            **conn.evidence(side, packet),
            schema=column.schema,
            table=column.table,
            name=column.name,
            column_type=column.column_type,
        )
    )


def _read_columns_eof(conn: MySQLDecoder, side: int, packet: LogicalPacket, ex: Exchange) -> None:
    payload = packet.payload
    first = payload[0]
    if first == EOF_HEADER and packet.size <= EOF_PACKET_MAX:
        _infer_deprecate_eof(conn, False)
        status = _eof(conn, side, packet, ex, None)
        if status & SERVER_STATUS_CURSOR_EXISTS and ex.code in BINARY_ROW_COMMANDS:
            finish(conn, packet, ex, "cursor_opened")  # rows will come with COM_STMT_FETCH
        else:
            _enter_rows(conn, side, ex)
        return
    if first == ERR_HEADER:
        _error(conn, side, packet, ex)
        return
    _infer_deprecate_eof(conn, True)
    ex.state = ReplyState.ROWS
    _read_rows(conn, side, packet, ex)


def _infer_deprecate_eof(conn: MySQLDecoder, value: bool) -> None:
    if conn.deprecate_eof is None:
        conn.deprecate_eof = value
        conn.inferred["deprecate_eof"] = value


def _read_rows(conn: MySQLDecoder, side: int, packet: LogicalPacket, ex: Exchange) -> None:
    payload = packet.payload
    first = payload[0] if payload else -1
    if first == EOF_HEADER and packet.size < MAX_PAYLOAD:
        _rows_end(conn, side, packet, ex)
    elif first == ERR_HEADER:
        _error(conn, side, packet, ex)
    else:
        ex.rows += 1
        ex.set_rows += 1
        ex.set_row_bytes += packet.size
        if conn.detail:
            _row_event(conn, side, packet, ex)
        else:
            rows, size = _skip_following(conn, side, ex, 1 << 30)
            ex.rows += rows
            ex.set_rows += rows
            ex.set_row_bytes += size


def _skip_following(conn: MySQLDecoder, side: int, ex: Exchange, limit: int) -> tuple[int, int]:
    """Pass over the rows (or column definitions) that follow in the same chunk without
    decoding them one by one; they still move the sequence id and the reply's byte counts.
    Returns how many packets, and how many payload bytes, were passed over."""
    framer = conn.packet_framer(side)
    if framer is None:
        return 0, 0
    count, size, ex.next_seq = framer.skip_rows(ex.next_seq, limit)
    ex.response_bytes += size
    ex.response_packets += count
    conn.decoded_packets[side] += count
    return count, size


def _row_event(conn: MySQLDecoder, side: int, packet: LogicalPacket, ex: Exchange) -> None:
    binary = ex.code in BINARY_ROW_COMMANDS
    values = None
    if binary and ex.column_types is not None:
        values = read_binary_row(packet.payload, ex.column_types, packet.incomplete)
    elif not binary:
        values = parse_text_row(packet.payload, packet.incomplete)
    conn.emit(Row(**conn.evidence(side, packet), values=values, binary=binary))


def _rows_end(conn: MySQLDecoder, side: int, packet: LogicalPacket, ex: Exchange) -> None:
    warnings, status = _end_fields(conn, packet)
    if status & SERVER_STATUS_CURSOR_EXISTS and ex.code == COM_STMT_EXECUTE and not ex.set_rows:
        # Under DEPRECATE_EOF the OK after the column definitions says a cursor was opened;
        # the rows will come with COM_STMT_FETCH (the EOF form is read in _read_columns_eof).
        _eof(conn, side, packet, ex, None)
        finish(conn, packet, ex, "cursor_opened")
        return
    more = bool(status & SERVER_MORE_RESULTS_EXISTS)
    if conn.replies:
        conn.emit(
            ResultSetEnd(
                **conn.evidence(side, packet),
                rows=ex.set_rows,
                row_bytes=ex.set_row_bytes,
                status=status,
                warnings=warnings,
                more_results=more,
                reply_to=ex.name,
            )
        )
    if more:
        ex.state = ReplyState.FIRST
    else:
        finish(conn, packet, ex, "result_set")


def _read_prepare_ok(conn: MySQLDecoder, side: int, packet: LogicalPacket, ex: Exchange) -> None:
    payload = packet.payload
    if payload[0] == ERR_HEADER:
        _error(conn, side, packet, ex)
        return
    if payload[0] != OK_HEADER:
        read_unexpected(conn, side, packet, "expected COM_STMT_PREPARE_OK")
        return
    statement_id, pos = uint(payload, 1, 4)
    columns, pos = uint(payload, pos, 2)
    params, pos = uint(payload, pos, 2)
    warnings = int.from_bytes(payload[pos + 1 : pos + 3], "little") if len(payload) >= 12 else 0
    metadata = True
    if conn.capabilities & CLIENT_OPTIONAL_RESULTSET_METADATA and len(payload) > 12:
        metadata = payload[12] == 1
    if conn.replies:
        conn.emit(
            StmtPrepareOk(
                **conn.evidence(side, packet),
                statement_id=statement_id,
                columns=columns,
                params=params,
                warnings=warnings,
            )
        )
    conn.statements.add(PreparedStatement(statement_id, ex.query, params, columns))
    ex.statement_id = statement_id
    if conn.detail:
        ex.column_types = []  # the definitions' types, for binary rows sent without metadata
    ex.blocks = [n for n in (params, columns) if n] if metadata else []
    _next_definition_block(conn, packet, ex)


def _next_definition_block(conn: MySQLDecoder, packet: LogicalPacket, ex: Exchange) -> None:
    if ex.blocks:
        ex.defs_left = ex.blocks.pop(0)
        ex.state = ReplyState.PREPARE_DEFS
    else:
        _prepared(conn, ex, packet.frame, packet.ts)


def _prepared(conn: MySQLDecoder, ex: Exchange, frame: int, ts: float) -> None:
    """The prepare is complete. Its column definitions give the types a later execute's binary
    rows are read with when the server sends them without metadata (MariaDB's cached
    metadata, CLIENT_OPTIONAL_RESULTSET_METADATA)."""
    statement = conn.statements.get(ex.statement_id) if ex.statement_id is not None else None
    if statement is not None and ex.column_types is not None:
        statement.column_types = ex.column_types[statement.params :]
    if conn.exchanges and conn.exchanges[0] is ex:
        conn.exchanges.pop(0)
    finished(conn, ex, frame, ts, "ok")


def ends_prepare_without_eof(conn: MySQLDecoder, packet: LogicalPacket, ex: Exchange) -> bool:
    """Mid-stream, whether the server ends definition blocks with EOF is not known yet. After
    a prepare's last definition a packet that is no EOF then starts the next reply: end the
    prepare at its last definition (so it is not taken for the prepare's, and its sequence
    id is not held to the prepare's) and say so."""
    if (
        ex.state is not ReplyState.PREPARE_DEFS_EOF
        or ex.blocks
        or conn.deprecate_eof is not None
        or (packet.payload[:1] == EOF_BYTE and packet.size <= EOF_PACKET_MAX)
    ):
        return False
    _infer_deprecate_eof(conn, True)
    _prepared(conn, ex, *ex.defs_end)
    return True


def _read_prepare_defs(conn: MySQLDecoder, side: int, packet: LogicalPacket, ex: Exchange) -> None:
    if packet.payload[:1] == ERR_BYTE:
        _error(conn, side, packet, ex)
        return
    ex.defs_left -= 1
    if conn.detail:
        _column_event(conn, side, packet, ex)
    if ex.defs_left <= 0:
        if conn.deprecate_eof:
            _next_definition_block(conn, packet, ex)
        else:
            ex.state = ReplyState.PREPARE_DEFS_EOF
            ex.defs_end = (packet.frame, packet.ts)


def _read_prepare_defs_eof(
    conn: MySQLDecoder, side: int, packet: LogicalPacket, ex: Exchange
) -> None:
    payload = packet.payload
    if payload[0] == EOF_HEADER and packet.size <= EOF_PACKET_MAX:
        _infer_deprecate_eof(conn, False)
        if conn.detail or not ex.blocks:  # the EOF that ends the reply is always shown
            warnings, status = _end_fields(conn, packet)
            conn.emit(
                Eof(
                    **conn.evidence(side, packet),
                    warnings=warnings,
                    status=status,
                    reply_to=ex.name,
                )
            )
        _next_definition_block(conn, packet, ex)
        return
    _infer_deprecate_eof(conn, True)
    if ex.blocks:  # the next block's first definition
        _next_definition_block(conn, packet, ex)
        _read_prepare_defs(conn, side, packet, ex)
        return
    # The reply ended at its last definition. This packet carries the sequence id its EOF
    # would have had (a wrapped sequence, or chance), yet it is the next reply's or nobody's.
    ex.response_bytes -= packet.size
    ex.response_packets -= 1
    _prepared(conn, ex, *ex.defs_end)
    from mysqlwire.protocol.command_phase import read_server_packet  # imports this module

    read_server_packet(conn, side, packet)


def _read_field_list(conn: MySQLDecoder, side: int, packet: LogicalPacket, ex: Exchange) -> None:
    payload = packet.payload
    first = payload[0]
    if first == ERR_HEADER:
        _error(conn, side, packet, ex)
    elif first == EOF_HEADER and packet.size < MAX_PAYLOAD:
        _eof(conn, side, packet, ex, "eof")
    else:
        ex.rows += 1
        if conn.detail:
            _column_event(conn, side, packet, ex)


def _read_text(conn: MySQLDecoder, side: int, packet: LogicalPacket, ex: Exchange) -> None:
    if packet.payload[:1] == ERR_BYTE:
        _error(conn, side, packet, ex)
        return
    if conn.replies:
        conn.emit(TextReply(**conn.evidence(side, packet), text=text(packet.payload)))
    finish(conn, packet, ex, "text")


def _read_binlog(conn: MySQLDecoder, side: int, packet: LogicalPacket, ex: Exchange) -> None:
    payload = packet.payload
    first = payload[0]
    if first == ERR_HEADER:
        _error(conn, side, packet, ex)
    elif first == EOF_HEADER and packet.size <= EOF_PACKET_MAX:
        _eof(conn, side, packet, ex, "eof")
    elif len(payload) < BINLOG_PACKET_MIN:
        conn.emit(
            MalformedPacket(
                **conn.evidence(side, packet),
                reason=f"binlog event of {len(payload)} bytes, shorter than its header",
            )
        )
    else:
        ex.rows += 1
        if conn.detail:
            event_type = payload[5]
            conn.emit(
                BinlogEvent(
                    **conn.evidence(side, packet),
                    event_type=event_type,
                    event_name=BINLOG_EVENT_NAMES.get(event_type, f"EVENT_{event_type}"),
                    event_ts=int.from_bytes(payload[1:5], "little"),
                    server_id=int.from_bytes(payload[6:10], "little"),
                    log_pos=int.from_bytes(payload[14:18], "little"),
                )
            )


def _read_change_user(conn: MySQLDecoder, side: int, packet: LogicalPacket, ex: Exchange) -> None:
    outcome = handle_server_auth(conn, side, packet, ex, ex.name)
    if outcome == "ok":
        conn.statements.clear()
        if ex.arguments:
            conn.user = str(ex.arguments.get("user"))
            conn.database = str(ex.arguments.get("database") or "") or None
        finish(conn, packet, ex, "ok")
    elif outcome == "error":
        finish(conn, packet, ex, "error", int.from_bytes(packet.payload[1:3], "little"))


def _read_during_upload(conn: MySQLDecoder, side: int, packet: LogicalPacket, ex: Exchange) -> None:
    if packet.payload[:1] == ERR_BYTE:
        _error(conn, side, packet, ex)
        return
    read_unexpected(conn, side, packet, "server packet during a LOCAL INFILE upload")


ReplyReader = Callable[["MySQLDecoder", int, "LogicalPacket", Exchange], None]


REPLY_READERS: dict[ReplyState, ReplyReader] = {
    ReplyState.FIRST: _read_first,
    ReplyState.COLUMNS: _read_columns,
    ReplyState.COLUMNS_EOF: _read_columns_eof,
    ReplyState.ROWS: _read_rows,
    ReplyState.PREPARE_OK: _read_prepare_ok,
    ReplyState.PREPARE_DEFS: _read_prepare_defs,
    ReplyState.PREPARE_DEFS_EOF: _read_prepare_defs_eof,
    ReplyState.FIELD_LIST: _read_field_list,
    ReplyState.TEXT: _read_text,
    ReplyState.BINLOG: _read_binlog,
    ReplyState.AUTH: _read_change_user,
    ReplyState.INFILE_DATA: _read_during_upload,
}
