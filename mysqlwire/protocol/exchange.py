"""An exchange: one command and its reply, the unit the protocol's sequence ids count in.

A command opens an `Exchange`; the server's packets are read against the oldest outstanding one
(commands may be pipelined) until the reply is complete, when `finish` pairs request and reply
in a `CommandFinished` event. The login is an exchange too (`Exchange.for_login`).
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

from mysqlwire.protocol.commands import (
    Reply,
)
from mysqlwire.protocol.connection_phase import (
    CLIENT_TURN_STEPS,
)
from mysqlwire.protocol.constants import (
    SERVER,
)
from mysqlwire.protocol.events import (
    CommandFinished,
)

if TYPE_CHECKING:
    from mysqlwire.protocol.decoder import MySQLDecoder
    from mysqlwire.protocol.framing import LogicalPacket


MAX_OUTSTANDING = 1024  # commands awaiting a reply; pipelining real clients do stays far below


class ReplyState(Enum):
    __hash__ = object.__hash__  # identity, as Phase: looked up for every server packet

    FIRST = "first"  # OK, ERR, EOF, result set header or LOCAL INFILE request
    COLUMNS = "columns"
    COLUMNS_EOF = "columns_eof"  # the EOF after column definitions (absent under DEPRECATE_EOF)
    ROWS = "rows"
    PREPARE_OK = "prepare_ok"
    PREPARE_DEFS = "prepare_defs"  # parameter, then column definitions of a prepared statement
    PREPARE_DEFS_EOF = "prepare_defs_eof"
    FIELD_LIST = "field_list"
    TEXT = "text"
    BINLOG = "binlog"
    AUTH = "auth"
    INFILE_DATA = "infile_data"  # the client uploads a LOCAL INFILE


INITIAL_STATE = {
    Reply.GENERIC: ReplyState.FIRST,
    Reply.PREPARE: ReplyState.PREPARE_OK,
    Reply.FIELD_LIST: ReplyState.FIELD_LIST,
    Reply.ROWS: ReplyState.ROWS,
    Reply.TEXT: ReplyState.TEXT,
    Reply.BINLOG: ReplyState.BINLOG,
    Reply.AUTH: ReplyState.AUTH,
}


class Exchange:
    """One command and its reply so far (or the login, for the connection phase)."""

    __slots__ = (
        "alt_seq",
        "arguments",
        "auth_step",
        "blocks",
        "code",
        "column_types",
        "columns_left",
        "compressed_next",
        "defs_end",
        "defs_left",
        "frame",
        "infile_bytes",
        "infile_packets",
        "name",
        "next_seq",
        "query",
        "response_bytes",
        "response_packets",
        "rows",
        "set_row_bytes",
        "set_rows",
        "state",
        "statement_id",
        "ts",
    )

    def __init__(
        self, code: int, name: str, state: ReplyState, frame: int, ts: float, next_seq: int
    ) -> None:
        self.code = code
        self.name = name
        self.state = state
        self.frame = frame
        self.ts = ts
        self.next_seq = next_seq
        self.compressed_next = 0  # the exchange's compressed sequence, under compression
        self.alt_seq: int | None = None
        self.auth_step: str | None = None
        self.columns_left = 0
        self.defs_left = 0
        self.defs_end = (0, 0.0)  # frame and time of a prepare's last definition
        self.blocks: list[int] = []
        self.column_types: list[int] | None = None
        self.rows = 0
        self.set_rows = 0
        self.set_row_bytes = 0
        self.response_bytes = 0
        self.response_packets = 0
        self.infile_bytes = 0
        self.infile_packets = 0
        self.query: str | None = None
        self.statement_id: int | None = None
        self.arguments: dict[str, object] | None = None

    def __reduce__(self) -> tuple[type, tuple[object, ...], object]:
        args = (self.code, self.name, self.state, self.frame, self.ts, self.next_seq)
        return Exchange, args, self.__getstate__()

    @classmethod
    def for_login(cls) -> Exchange:
        return cls(-1, "connect", ReplyState.AUTH, 0, 0.0, 0)

    def start(self, packet: LogicalPacket) -> None:
        self.frame, self.ts = packet.frame, packet.ts
        self.advance(packet)

    def advance(self, packet: LogicalPacket) -> None:
        self.next_seq = (packet.last_seq + 1) & 0xFF

    def accept(self, conn: MySQLDecoder, side: int, packet: LogicalPacket) -> None:
        """Check the packet's sequence id against this exchange and move the sequence on."""
        expected = self.next_seq
        if conn.check_seq(side, packet, expected, self.alt_seq):
            self.alt_seq = (expected + packet.wire_packets) & 0xFF
        else:
            self.alt_seq = None
        self.advance(packet)

    @property
    def awaits_client(self) -> bool:
        return self.state is ReplyState.INFILE_DATA or (
            self.state is ReplyState.AUTH and self.auth_step in CLIENT_TURN_STEPS
        )


def finish(
    conn: MySQLDecoder,
    packet: LogicalPacket,
    ex: Exchange,
    outcome: str,
    error_code: int | None = None,
) -> None:
    """The reply to `ex` is complete with `packet`: pair them up."""
    if conn.exchanges and conn.exchanges[0] is ex:
        conn.exchanges.pop(0)
    finished(conn, ex, packet.frame, packet.ts, outcome, error_code)


def client_turn(conn: MySQLDecoder) -> bool:
    """The oldest outstanding exchange waits for the client (upload or auth data)."""
    return bool(conn.exchanges) and conn.exchanges[0].awaits_client


def awaiting_reply(conn: MySQLDecoder) -> Exchange | None:
    if conn.exchanges and not conn.exchanges[0].awaits_client:
        return conn.exchanges[0]
    return None


def abandon_all(conn: MySQLDecoder, frame: int, ts: float, outcome: str) -> None:
    """Close every outstanding exchange as `outcome` (the reply was lost or never came)."""
    while conn.exchanges:
        finished(conn, conn.exchanges.pop(0), frame, ts, outcome)


def finished(
    conn: MySQLDecoder,
    ex: Exchange,
    frame: int,
    ts: float,
    outcome: str,
    error_code: int | None = None,
) -> None:
    conn.emit(
        CommandFinished(
            side=SERVER,
            frame=frame,
            ts=ts,
            command=ex.name,
            code=ex.code,
            started_frame=ex.frame,
            started_ts=ex.ts,
            latency=max(0.0, ts - ex.ts),
            outcome=outcome,
            error_code=error_code,
            rows=ex.rows,
            response_bytes=ex.response_bytes,
            response_packets=ex.response_packets,
        )
    )
