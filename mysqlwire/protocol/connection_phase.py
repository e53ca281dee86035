"""Readers for the connection phase: greeting, login, authentication.

Each reader takes the decoder, the sending side and one logical packet, emits events and moves
the decoder's phase on. The authentication readers also serve COM_CHANGE_USER, whose exchange
is the same conversation in the middle of the command phase.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mysqlwire.protocol.constants import AUTH_MORE_DATA_HEADER, ERR_BYTE, ERR_HEADER, OK_HEADER
from mysqlwire.protocol.events import (
    AuthMoreData,
    AuthResponse,
    AuthSwitchRequest,
    Err,
    Greeting,
    HandshakeResponse,
    Ok,
    SslRequest,
    UnexpectedPacket,
)
from mysqlwire.protocol.handshake import (
    auth_more_data_step,
    client_auth_step,
    client_capabilities,
    is_ssl_request,
    parse_greeting,
    parse_handshake_response,
)
from mysqlwire.protocol.phases import Phase
from mysqlwire.protocol.replies import parse_err, parse_ok
from mysqlwire.protocol.wire import nul_str

if TYPE_CHECKING:
    from mysqlwire.protocol.decoder import MySQLDecoder
    from mysqlwire.protocol.exchange import Exchange
    from mysqlwire.protocol.framing import LogicalPacket

AUTH_SWITCH_HEADER = 0xFE
# After these server steps the client speaks next; after fast_auth_success the server does.
CLIENT_TURN_STEPS = frozenset({"auth_switch", "perform_full_authentication", "public_key", "data"})


def read_greeting(conn: MySQLDecoder, side: int, packet: LogicalPacket) -> None:
    payload = packet.payload
    conn.check_seq(side, packet, 0)
    conn.login.start(packet)
    if payload[:1] == ERR_BYTE:
        fields = parse_err(payload)
        conn.emit(
            Err(
                **conn.evidence(side, packet),
                code=fields.code,
                sql_state=fields.sql_state,
                message=fields.message,
                reply_to="connect",
                phase="greeting",
            )
        )
        conn.phase = Phase.ENDED
        return
    if not payload or payload[0] not in (9, 10):
        read_unexpected(conn, side, packet)
        return
    greeting = parse_greeting(payload, partial=packet.incomplete)
    conn.server_capabilities = greeting.capabilities
    conn.server_version = greeting.server_version
    conn.thread_id = greeting.thread_id
    conn.emit(Greeting(**conn.evidence(side, packet), **greeting._asdict()))
    conn.phase = Phase.LOGIN


def read_login(conn: MySQLDecoder, side: int, packet: LogicalPacket) -> None:
    payload = packet.payload
    conn.login.accept(conn, side, packet)
    if is_ssl_request(payload):
        capabilities = client_capabilities(payload)
        conn.set_capabilities(capabilities)
        conn.emit(SslRequest(**conn.evidence(side, packet), capabilities=capabilities))
        conn.start_tls()
        return
    login = parse_handshake_response(payload, partial=packet.incomplete)
    conn.set_capabilities(login.capabilities)
    conn.user = login.user
    conn.database = login.database
    conn.emit(
        HandshakeResponse(**conn.evidence(side, packet), **login._asdict(), cut=packet.incomplete)
    )
    conn.phase = Phase.AUTH


def read_server_auth(conn: MySQLDecoder, side: int, packet: LogicalPacket) -> None:
    """A server packet while the login is being authenticated."""
    login = conn.login
    login.accept(conn, side, packet)
    outcome = handle_server_auth(conn, side, packet, login, "authentication")
    if outcome == "ok":
        conn.phase = Phase.COMMAND
        if conn.compression_negotiated():
            conn.start_compression(packet.frame, packet.ts)
    elif outcome == "error":
        conn.phase = Phase.ENDED


def read_client_auth(conn: MySQLDecoder, side: int, packet: LogicalPacket) -> None:
    login = conn.login
    login.accept(conn, side, packet)
    handle_client_auth(conn, side, packet, login)


def handle_server_auth(
    conn: MySQLDecoder, side: int, packet: LogicalPacket, exchange: Exchange, reply_to: str
) -> str:
    """One server authentication packet, for the login or a COM_CHANGE_USER. Returns "ok" or
    "error" when authentication ended, "continue" while it goes on."""
    payload = packet.payload
    first = payload[0] if payload else None
    if first == OK_HEADER:
        ok_fields = parse_ok(payload, conn.capabilities)
        conn.emit(Ok(**conn.evidence(side, packet), **ok_fields._asdict(), reply_to=reply_to))
        return "ok"
    if first == ERR_HEADER:
        err_fields = parse_err(payload)
        conn.emit(
            Err(
                **conn.evidence(side, packet),
                **err_fields._asdict(),
                reply_to=reply_to,
                phase="authentication",
            )
        )
        return "error"
    if first == AUTH_SWITCH_HEADER:
        plugin, _ = nul_str(payload, 1) if len(payload) > 1 else ("mysql_old_password", 0)
        conn.emit(AuthSwitchRequest(**conn.evidence(side, packet), plugin=plugin))
        exchange.auth_step = "auth_switch"
        return "continue"
    if first == AUTH_MORE_DATA_HEADER:
        step = auth_more_data_step(payload)
        conn.emit(AuthMoreData(**conn.evidence(side, packet), step=step))
        exchange.auth_step = step
        return "continue"
    read_unexpected(conn, side, packet, "not an authentication packet")
    return "continue"


def handle_client_auth(
    conn: MySQLDecoder, side: int, packet: LogicalPacket, exchange: Exchange
) -> None:
    step = client_auth_step(packet.payload, exchange.auth_step)
    conn.emit(AuthResponse(**conn.evidence(side, packet), step=step))
    exchange.auth_step = None


def read_unexpected(
    conn: MySQLDecoder, side: int, packet: LogicalPacket, reason: str | None = None
) -> None:
    payload = packet.payload
    conn.emit(
        UnexpectedPacket(
            **conn.evidence(side, packet),
            reason=reason
            or f"no packet expected from the "
            f"{'client' if side == 0 else 'server'} in phase "
            f"{conn.phase.value}",
            first_byte=payload[0] if payload else None,
        )
    )
