"""Readers for the command phase: the client's commands, and where each server packet goes.

A client packet is a new command, or data its exchange waits for (a LOCAL INFILE upload,
authentication for COM_CHANGE_USER). A server packet goes to the oldest outstanding exchange,
whose state picks the reader (`reply_states.REPLY_READERS`); with nothing outstanding it is an
idle-timeout ERR or noise. The command table itself is `commands.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mysqlwire.protocol.commands import (
    BINARY_ROW_COMMANDS,
    COM_QUERY,
    COM_QUIT,
    COM_STMT_CLOSE,
    COMMANDS,
    CommandArguments,
    Reply,
    unknown_command,
)
from mysqlwire.protocol.connection_phase import (
    handle_client_auth,
    read_unexpected,
)
from mysqlwire.protocol.constants import (
    CLIENT,
    CLIENT_QUERY_ATTRIBUTES,
    ERR_BYTE,
)
from mysqlwire.protocol.error_codes import IDLE_TIMEOUT_CODE
from mysqlwire.protocol.events import (
    Command,
    Err,
    LocalInfileData,
    LocalInfileEnd,
    MalformedPacket,
    UnexpectedPacket,
)
from mysqlwire.protocol.exchange import (
    INITIAL_STATE,
    MAX_OUTSTANDING,
    Exchange,
    ReplyState,
    finished,
)
from mysqlwire.protocol.midstream import query_has_attributes
from mysqlwire.protocol.phases import Phase
from mysqlwire.protocol.replies import (
    parse_err,
)
from mysqlwire.protocol.reply_states import REPLY_READERS, ends_prepare_without_eof
from mysqlwire.protocol.wire import PARSE_ERRORS

if TYPE_CHECKING:
    from mysqlwire.protocol.decoder import MySQLDecoder
    from mysqlwire.protocol.framing import LogicalPacket


def read_client_packet(conn: MySQLDecoder, side: int, packet: LogicalPacket) -> None:
    """A client packet in the command phase: a new command, or data its exchange awaits."""
    head = conn.exchanges[0] if conn.exchanges else None
    if head is not None and head.awaits_client:
        head.accept(conn, side, packet)
        if head.state is ReplyState.INFILE_DATA:
            _infile_packet(conn, side, packet, head)
        else:
            handle_client_auth(conn, side, packet, head)
        return
    _command(conn, side, packet)


def _command(conn: MySQLDecoder, side: int, packet: LogicalPacket) -> None:
    payload = packet.payload
    conn.check_seq(side, packet, 0)
    if not payload:
        conn.emit(
            MalformedPacket(
                **conn.evidence(side, packet),
                reason="empty packet where a command was expected (go-sql-driver: ErrMalformPkt)",
            )
        )
        return
    if conn.quit_sent:
        read_unexpected(conn, side, packet, "client sent data after COM_QUIT")
        return
    if conn.phase is Phase.UNSYNCED:
        conn.phase = Phase.COMMAND
    code = payload[0]
    spec = COMMANDS.get(code) or unknown_command(code)
    if conn.mid_stream and code == COM_QUERY and "query_attributes" not in conn.inferred:
        # Clients with CLIENT_QUERY_ATTRIBUTES prefix every query with the attribute count and
        # "one parameter set"; no SQL text starts like that.
        attrs = query_has_attributes(payload)
        conn.inferred["query_attributes"] = attrs
        if attrs:
            conn.capabilities |= CLIENT_QUERY_ATTRIBUTES
    try:
        args = spec.read_arguments(payload, conn)
    except PARSE_ERRORS as exc:
        problem = "cut" if packet.incomplete else "malformed"  # incomplete: only the start kept
        args = CommandArguments(arguments={problem: f"arguments: {exc or type(exc).__name__}"})
    conn.emit(
        Command(
            side=side,
            frame=packet.frame,
            ts=packet.ts,
            seq=packet.seq,
            size=packet.size,
            wire_packets=packet.wire_packets,
            code=code,
            name=spec.name,
            query=args.query,
            statement_id=args.statement_id,
            arguments=args.arguments or {},
        )
    )
    if code == COM_QUIT:
        conn.quit_sent = True
    if spec.reply is Reply.NONE:
        if code == COM_STMT_CLOSE and args.statement_id is not None:
            conn.statements.close(args.statement_id)
        return
    exchange = Exchange(
        code,
        spec.name,
        INITIAL_STATE[spec.reply],
        packet.frame,
        packet.ts,
        (packet.last_seq + 1) & 0xFF,
    )
    exchange.compressed_next = conn.compressed_next
    exchange.query = args.query
    exchange.statement_id = args.statement_id
    exchange.arguments = args.arguments
    if code in BINARY_ROW_COMMANDS and conn.detail and args.statement_id is not None:
        statement = conn.statements.get(args.statement_id)
        exchange.column_types = list(statement.column_types) if statement else None
    if len(conn.exchanges) >= MAX_OUTSTANDING:
        # Replies we cannot follow (the server side never resynchronised): do not let the
        # queue of commands waiting for them grow with the capture.
        oldest = conn.exchanges.pop(0)
        finished(conn, oldest, packet.frame, packet.ts, "no_reply")
    conn.exchanges.append(exchange)


def _infile_packet(conn: MySQLDecoder, side: int, packet: LogicalPacket, ex: Exchange) -> None:
    if packet.size == 0:
        conn.emit(
            LocalInfileEnd(
                **conn.evidence(side, packet),
                total_bytes=ex.infile_bytes,
                data_packets=ex.infile_packets,
            )
        )
        ex.state = ReplyState.FIRST
        return
    ex.infile_bytes += packet.size
    ex.infile_packets += 1
    if conn.detail:
        conn.emit(LocalInfileData(**conn.evidence(side, packet)))


def read_server_packet(conn: MySQLDecoder, side: int, packet: LogicalPacket) -> None:
    if not conn.exchanges:
        _unsolicited(conn, side, packet)
        return
    ex = conn.exchanges[0]
    if packet.seq == ex.next_seq and packet.seq_break is None:  # the common case, inline
        ex.alt_seq = None
        ex.next_seq = (packet.last_seq + 1) & 0xFF
    elif ends_prepare_without_eof(conn, packet, ex):
        read_server_packet(conn, side, packet)  # the first packet of the next reply
        return
    elif _is_idle_timeout(packet.payload):  # sent with sequence 0 whatever was outstanding
        ex.advance(packet)
    else:
        ex.accept(conn, side, packet)
    ex.response_bytes += packet.size
    ex.response_packets += 1
    REPLY_READERS[ex.state](conn, side, packet, ex)


def _is_idle_timeout(payload: bytes) -> bool:
    return payload[:1] == b"\xff" and int.from_bytes(payload[1:3], "little") == IDLE_TIMEOUT_CODE


def _unsolicited(conn: MySQLDecoder, side: int, packet: LogicalPacket) -> None:
    """A server packet with nothing outstanding: an idle-timeout or shutdown ERR, or noise."""
    payload = packet.payload
    if payload[:1] == ERR_BYTE:
        fields = parse_err(payload)
        # An ERR while the client's packet is still arriving answers that packet (1153 is sent
        # before the rest of an oversize packet is read); otherwise nothing was outstanding.
        arriving = conn.packet_framer(CLIENT)
        if arriving is not None and arriving.pending() is not None:
            reply_to, phase = "a client packet still arriving", "command"
        else:
            reply_to, phase = None, "idle"
        conn.emit(
            Err(**conn.evidence(side, packet), **fields._asdict(), reply_to=reply_to, phase=phase)
        )
        return
    conn.emit(
        UnexpectedPacket(
            **conn.evidence(side, packet),
            reason="server packet while no command was outstanding",
            first_byte=payload[0] if payload else None,
        )
    )
