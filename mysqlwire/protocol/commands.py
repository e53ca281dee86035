"""The command table: every command byte, its name, how to read its arguments and what reply
the server owes it.

`COMMANDS[0x03]` is COM_QUERY, and so on for 0x00-0x20 plus MariaDB's COM_STMT_BULK_EXECUTE
(0xFA). References: https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_command_phase.html
and https://mariadb.com/kb/en/2-text-protocol/ . The decoder looks a command up here and never
branches on command bytes itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Protocol

from mysqlwire.protocol.binary_values import null_bitmap_is_set, read_value
from mysqlwire.protocol.constants import (
    CLIENT_CONNECT_ATTRS,
    CLIENT_PLUGIN_AUTH,
    CLIENT_QUERY_ATTRIBUTES,
    CLIENT_SECURE_CONNECTION,
    PARAMETER_COUNT_AVAILABLE,
)
from mysqlwire.protocol.events import reduce_by_keywords
from mysqlwire.protocol.handshake import parse_connect_attributes
from mysqlwire.protocol.wire import lenenc_int, lenenc_str, nul_bytes, nul_str, text, uint

if TYPE_CHECKING:
    from mysqlwire.protocol.statements import PreparedStatement, StatementTable


class Reply(Enum):
    """What the server sends back, which decides how its packets are read."""

    GENERIC = "generic"  # OK, ERR, EOF, a result set, or a LOCAL INFILE request
    NONE = "none"  # nothing (COM_QUIT, COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA)
    PREPARE = "prepare"  # COM_STMT_PREPARE_OK and its parameter/column definitions
    FIELD_LIST = "field_list"  # column definitions up to EOF
    ROWS = "rows"  # binary rows up to EOF (COM_STMT_FETCH)
    TEXT = "text"  # one plain-text packet (COM_STATISTICS)
    BINLOG = "binlog"  # a stream of replication events
    AUTH = "auth"  # an authentication exchange (COM_CHANGE_USER)


class ArgumentContext(Protocol):
    """What argument readers may consult: negotiated capabilities, prepared statements, and
    whether SQL text is wanted at all (a lean decoder, whose events only feed verdicts, leaves
    it undecoded: decoding a megabyte of query text is the costliest thing a command does)."""

    capabilities: int
    statements: StatementTable
    keep_text: bool


@dataclass(slots=True, init=False)
class CommandArguments:
    """What a command's reader found. Never changed once made (`NO_ARGUMENTS` is shared): not
    frozen, and its `__init__` written out, because one is made for every command and the
    compiled build runs a dataclass-generated `__init__` as Python."""

    query: str | None = None
    statement_id: int | None = None
    arguments: dict[str, object] | None = None

    def __init__(
        self,
        query: str | None = None,
        statement_id: int | None = None,
        arguments: dict[str, object] | None = None,
    ) -> None:
        self.query = query
        self.statement_id = statement_id
        self.arguments = arguments

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return reduce_by_keywords(self)


ArgumentReader = Callable[[bytes, ArgumentContext], CommandArguments]
NO_ARGUMENTS = CommandArguments()


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    reply: Reply
    read_arguments: ArgumentReader


def _none(payload: bytes, ctx: ArgumentContext) -> CommandArguments:
    return NO_ARGUMENTS


def _query(payload: bytes, ctx: ArgumentContext) -> CommandArguments:
    pos = 1
    arguments: dict[str, object] | None = None
    if ctx.capabilities & CLIENT_QUERY_ATTRIBUTES:
        count, pos = lenenc_int(payload, pos)
        _sets, pos = lenenc_int(payload, pos)
        if count:
            attributes, pos = _read_named_parameters(payload, pos, count)
            if attributes:
                arguments = {"attributes": attributes}
    if not ctx.keep_text and arguments is None:
        return NO_ARGUMENTS  # (lean decoding: most queries of a busy capture)
    query = text(payload[pos:]) if ctx.keep_text else None
    return CommandArguments(query=query, arguments=arguments)


def _read_named_parameters(payload: bytes, pos: int, count: int) -> tuple[dict[str, object], int]:
    """Query attributes: NULL bitmap, bind flag, (type, name) pairs, then binary values."""
    bitmap = payload[pos : pos + (count + 7) // 8]
    pos += len(bitmap)
    bound = payload[pos]
    pos += 1
    types: list[tuple[int, bool, str]] = []
    if bound:
        for _ in range(count):
            column_type, flags = payload[pos], payload[pos + 1]
            name, pos = lenenc_str(payload, pos + 2)
            types.append((column_type, bool(flags & 0x80), name or ""))
    values: dict[str, object] = {}
    for index, (column_type, unsigned, name) in enumerate(types):
        if null_bitmap_is_set(bitmap, index):
            values[name] = None
            continue
        values[name], pos = read_value(payload, pos, column_type, unsigned)
    return values, pos


def _schema(payload: bytes, ctx: ArgumentContext) -> CommandArguments:
    return CommandArguments(arguments={"schema": text(payload[1:])})


def _field_list(payload: bytes, ctx: ArgumentContext) -> CommandArguments:
    table, pos = nul_str(payload, 1)
    return CommandArguments(arguments={"table": table, "wildcard": text(payload[pos:])})


def _one_byte(name: str) -> ArgumentReader:
    def read(payload: bytes, ctx: ArgumentContext) -> CommandArguments:
        return CommandArguments(arguments={name: payload[1]} if len(payload) > 1 else None)

    return read


def _process_kill(payload: bytes, ctx: ArgumentContext) -> CommandArguments:
    connection_id, _ = uint(payload, 1, 4)
    return CommandArguments(arguments={"connection_id": connection_id})


def _change_user(payload: bytes, ctx: ArgumentContext) -> CommandArguments:
    user, pos = nul_str(payload, 1)
    if ctx.capabilities & CLIENT_SECURE_CONNECTION:
        auth_len = payload[pos]
        pos += 1 + auth_len
    else:
        raw, pos = nul_bytes(payload, pos)
        auth_len = len(raw)
    database, pos = nul_str(payload, pos)
    arguments: dict[str, object] = {
        "user": user,
        "database": database,
        "auth_response_length": auth_len,
    }
    if pos + 2 <= len(payload):
        pos += 2  # character set
        if ctx.capabilities & CLIENT_PLUGIN_AUTH and pos < len(payload):
            arguments["auth_plugin"], pos = nul_str(payload, pos)
        if ctx.capabilities & CLIENT_CONNECT_ATTRS and pos < len(payload):
            arguments["attributes"] = parse_connect_attributes(payload, pos)
    return CommandArguments(arguments=arguments)


def _binlog_dump(payload: bytes, ctx: ArgumentContext) -> CommandArguments:
    position, pos = uint(payload, 1, 4)
    flags, pos = uint(payload, pos, 2)
    server_id, pos = uint(payload, pos, 4)
    return CommandArguments(
        arguments={
            "binlog_file": text(payload[pos:]),
            "position": position,
            "flags": flags,
            "server_id": server_id,
        }
    )


def _binlog_dump_gtid(payload: bytes, ctx: ArgumentContext) -> CommandArguments:
    flags, pos = uint(payload, 1, 2)
    server_id, pos = uint(payload, pos, 4)
    name_len, pos = uint(payload, pos, 4)
    name = text(payload[pos : pos + name_len])
    position, pos = uint(payload, pos + name_len, 8)
    return CommandArguments(
        arguments={
            "binlog_file": name,
            "position": position,
            "flags": flags,
            "server_id": server_id,
        }
    )


def _register_slave(payload: bytes, ctx: ArgumentContext) -> CommandArguments:
    server_id, pos = uint(payload, 1, 4)
    host_len = payload[pos]
    host = text(payload[pos + 1 : pos + 1 + host_len])
    pos += 1 + host_len
    user_len = payload[pos]
    user = text(payload[pos + 1 : pos + 1 + user_len])
    pos += 1 + user_len
    pos += 1 + payload[pos]  # the replication password: skipped, never reported
    port, pos = uint(payload, pos, 2)
    return CommandArguments(
        arguments={"server_id": server_id, "host": host, "user": user, "port": port}
    )


def _prepare(payload: bytes, ctx: ArgumentContext) -> CommandArguments:
    return CommandArguments(query=text(payload[1:])) if ctx.keep_text else NO_ARGUMENTS


def _statement_only(payload: bytes, ctx: ArgumentContext) -> CommandArguments:
    statement_id, _ = uint(payload, 1, 4)
    return CommandArguments(query=ctx.statements.query_of(statement_id), statement_id=statement_id)


def _execute(payload: bytes, ctx: ArgumentContext) -> CommandArguments:
    statement_id, pos = uint(payload, 1, 4)
    flags = payload[pos]
    pos += 1 + 4  # iteration count
    statement = ctx.statements.get(statement_id)
    arguments: dict[str, object] = {"flags": flags}
    count = statement.params if statement is not None else None
    if ctx.capabilities & CLIENT_QUERY_ATTRIBUTES and (count or flags & PARAMETER_COUNT_AVAILABLE):
        count, pos = lenenc_int(payload, pos)
    if statement is None:
        arguments["parameters"] = "unknown statement (prepared before the capture began)"
    elif count:
        arguments["parameters"] = _read_positional_parameters(payload, pos, count, statement, ctx)
    query = statement.query if statement is not None else None
    return CommandArguments(query=query, statement_id=statement_id, arguments=arguments)


def _read_positional_parameters(
    payload: bytes, pos: int, count: int, statement: PreparedStatement, ctx: ArgumentContext
) -> list[str | None]:
    bitmap = payload[pos : pos + (count + 7) // 8]
    pos += len(bitmap)
    bound = payload[pos]
    pos += 1
    if bound:
        types = []
        for _ in range(count):
            types.append((payload[pos], bool(payload[pos + 1] & 0x80)))
            pos += 2
            if ctx.capabilities & CLIENT_QUERY_ATTRIBUTES:
                _name, pos = lenenc_str(payload, pos)
        statement.param_types = types
    types = statement.param_types or [(253, False)] * count
    values: list[str | None] = []
    for index in range(count):
        if null_bitmap_is_set(bitmap, index):
            values.append(None)
            continue
        column_type, unsigned = types[index] if index < len(types) else (253, False)
        value, pos = read_value(payload, pos, column_type, unsigned)
        values.append(value)
    return values


def _send_long_data(payload: bytes, ctx: ArgumentContext) -> CommandArguments:
    statement_id, pos = uint(payload, 1, 4)
    param_id, pos = uint(payload, pos, 2)
    return CommandArguments(
        statement_id=statement_id,
        query=ctx.statements.query_of(statement_id),
        arguments={"param_id": param_id, "data_bytes": len(payload) - pos},
    )


def _fetch(payload: bytes, ctx: ArgumentContext) -> CommandArguments:
    statement_id, pos = uint(payload, 1, 4)
    rows, _ = uint(payload, pos, 4)
    return CommandArguments(
        statement_id=statement_id,
        query=ctx.statements.query_of(statement_id),
        arguments={"rows": rows},
    )


def _set_option(payload: bytes, ctx: ArgumentContext) -> CommandArguments:
    option, _ = uint(payload, 1, 2)
    label = {0: "MYSQL_OPTION_MULTI_STATEMENTS_ON", 1: "MYSQL_OPTION_MULTI_STATEMENTS_OFF"}
    return CommandArguments(arguments={"option": label.get(option, option)})


def _bulk_execute(payload: bytes, ctx: ArgumentContext) -> CommandArguments:
    statement_id, pos = uint(payload, 1, 4)
    flags, pos = uint(payload, pos, 2)
    return CommandArguments(
        statement_id=statement_id,
        query=ctx.statements.query_of(statement_id),
        arguments={"bulk_flags": flags, "data_bytes": len(payload) - pos},
    )


def _spec(name: str, reply: Reply = Reply.GENERIC, reader: ArgumentReader = _none) -> CommandSpec:
    return CommandSpec(name, reply, reader)


COMMANDS: dict[int, CommandSpec] = {
    0x00: _spec("COM_SLEEP"),
    0x01: _spec("COM_QUIT", Reply.NONE),
    0x02: _spec("COM_INIT_DB", reader=_schema),
    0x03: _spec("COM_QUERY", reader=_query),
    0x04: _spec("COM_FIELD_LIST", Reply.FIELD_LIST, _field_list),
    0x05: _spec("COM_CREATE_DB", reader=_schema),
    0x06: _spec("COM_DROP_DB", reader=_schema),
    0x07: _spec("COM_REFRESH", reader=_one_byte("subcommand")),
    0x08: _spec("COM_SHUTDOWN", reader=_one_byte("level")),
    0x09: _spec("COM_STATISTICS", Reply.TEXT),
    0x0A: _spec("COM_PROCESS_INFO"),
    0x0B: _spec("COM_CONNECT"),
    0x0C: _spec("COM_PROCESS_KILL", reader=_process_kill),
    0x0D: _spec("COM_DEBUG"),
    0x0E: _spec("COM_PING"),
    0x0F: _spec("COM_TIME"),
    0x10: _spec("COM_DELAYED_INSERT"),
    0x11: _spec("COM_CHANGE_USER", Reply.AUTH, _change_user),
    0x12: _spec("COM_BINLOG_DUMP", Reply.BINLOG, _binlog_dump),
    0x13: _spec("COM_TABLE_DUMP"),
    0x14: _spec("COM_CONNECT_OUT"),
    0x15: _spec("COM_REGISTER_SLAVE", reader=_register_slave),
    0x16: _spec("COM_STMT_PREPARE", Reply.PREPARE, _prepare),
    0x17: _spec("COM_STMT_EXECUTE", reader=_execute),
    0x18: _spec("COM_STMT_SEND_LONG_DATA", Reply.NONE, _send_long_data),
    0x19: _spec("COM_STMT_CLOSE", Reply.NONE, _statement_only),
    0x1A: _spec("COM_STMT_RESET", reader=_statement_only),
    0x1B: _spec("COM_SET_OPTION", reader=_set_option),
    0x1C: _spec("COM_STMT_FETCH", Reply.ROWS, _fetch),
    0x1D: _spec("COM_DAEMON"),
    0x1E: _spec("COM_BINLOG_DUMP_GTID", Reply.BINLOG, _binlog_dump_gtid),
    0x1F: _spec("COM_RESET_CONNECTION"),
    0x20: _spec("COM_CLONE"),
    0xFA: _spec("COM_STMT_BULK_EXECUTE", reader=_bulk_execute),
}

COM_QUIT = 0x01
COM_INIT_DB = 0x02
COM_QUERY = 0x03
COM_STMT_PREPARE = 0x16
COM_STMT_EXECUTE = 0x17
COM_STMT_CLOSE = 0x19
COM_STMT_FETCH = 0x1C
COM_RESET_CONNECTION = 0x1F
BINARY_ROW_COMMANDS = frozenset({COM_STMT_EXECUTE, COM_STMT_FETCH})
# Commands the server uses internally (COM_SLEEP, COM_CONNECT, COM_TIME, COM_DELAYED_INSERT,
# COM_TABLE_DUMP, COM_CONNECT_OUT, COM_DAEMON): no client sends them, so a packet that seems to
# carry one is no anchor when looking for packet boundaries.
SERVER_INTERNAL_COMMANDS = frozenset({0x00, 0x0B, 0x0F, 0x10, 0x13, 0x14, 0x1D})


def unknown_command(code: int) -> CommandSpec:
    """A byte the table does not know: the server will answer ERR 1047; read it generically."""
    return CommandSpec(f"COM_UNKNOWN_0x{code:02X}", Reply.GENERIC, _none)


def command_name(code: int) -> str:
    spec = COMMANDS.get(code)
    return spec.name if spec is not None else unknown_command(code).name
