"""Server limits: max_connections (1040), max_allowed_packet (1153), 16 MiB packet splitting."""

from __future__ import annotations

import time

from ..clients import describe, open_pymysql
from ..scenario import Context, scenario
from ..server import ADMIN

MAX_PACKET = 0xFFFFFF


@scenario()
def max_connections(ctx: Context) -> None:
    """With SET GLOBAL max_connections = 10 (MariaDB's minimum), PyMySQL opens 10 connections
    as the ordinary user app; the 11th app login gets ERR 1040 Too many connections right
    after its handshake response (the server checks the limit at login, once it knows the
    user has no SUPER/CONNECTION ADMIN), and the server closes. A 12th connection as admin
    (SUPER) is accepted in the one extra slot MariaDB keeps for such users. A 13th connection
    gets ERR 1040 in place of the greeting (the server refuses at accept time once
    max_connections + 1 threads exist) and is closed by the server: no thread id, no login.
    All accepted connections then close with COM_QUIT. After each ERR 1040 the client closes
    as soon as it reads it, so the FINs race and either may come first on the wire. Only the
    greeting-time refusal reaches the error log ("Aborted connection 0 ... host: 'connecting
    host' (Too many connections)"); the refusal after login leaves no line."""
    ctx.server.set_global(max_connections=10)
    accepted = []
    try:
        for _ in range(10):
            opened = open_pymysql()
            accepted.append(opened)
        refused_after_login = open_pymysql()
        super_user = open_pymysql(user=ADMIN[0], password=ADMIN[1])
        refused_greeting = open_pymysql()
        accepted.append(super_user)
    finally:
        for opened in accepted:
            if opened.handle is not None:
                opened.handle.close()
        time.sleep(0.3)
        ctx.server.set_global(max_connections=100)
    for opened in accepted[:10]:
        ctx.expect(opened, close="clean_quit", closed_by="client")
    ctx.expect(
        refused_after_login, close="server_closed_error", closed_by="server", error_codes=[1040]
    )
    ctx.expect(
        super_user,
        close="clean_quit",
        closed_by="client",
        note="admin has SUPER: accepted in the extra connection slot",
    )
    ctx.expect(
        refused_greeting,
        close="server_closed_error",
        closed_by="server",
        error_codes=[1040],
        user=None,
        database=None,
        thread_id=None,
        note="ERR 1040 replaces the greeting; the client never logged in (it would have been app)",
    )


@scenario(analyze_options=("--max-allowed-packet", "1M"))
def max_allowed_packet(ctx: Context) -> None:
    """With SET GLOBAL max_allowed_packet = 1M, PyMySQL sends a 2 MiB COM_QUERY. The server
    reads the header, answers ERR 1153 (Got a packet bigger than 'max_allowed_packet' bytes)
    and closes while the client is still sending: because unread data is left in its receive
    buffer, the server's close is an RST (right after the ERR), not a FIN."""
    ctx.server.set_global(max_allowed_packet=1 << 20)
    try:
        opened = open_pymysql()
        try:
            opened.handle.cursor().execute("SELECT '" + "x" * (2 << 20) + "'")
            reported = "ok"
        except Exception as error:
            reported = describe(error)
    finally:
        ctx.server.set_global(max_allowed_packet=64 << 20)
    ctx.expect(
        opened,
        close="server_closed_error",
        closed_by="server",
        error_codes=[1153],
        findings=("oversize_packet",),
        client_reported=reported,
    )


@scenario(gzip=True)
def split_16mb(ctx: Context) -> None:
    """PyMySQL (max_allowed_packet 64M on both sides) sends a 17,000,000-byte COM_QUERY,
    which travels as a 16 MiB - 1 packet plus a continuation, then asks for a 17,000,000-byte
    value, whose row packet the server splits the same way; then COM_QUIT."""
    opened = open_pymysql(max_allowed_packet=64 << 20)
    cursor = opened.handle.cursor()
    filler = 17_000_000 - len("SELECT LENGTH('')")
    cursor.execute("SELECT LENGTH('" + "a" * filler + "')")
    cursor.fetchall()
    cursor.execute("SELECT REPEAT('b', 17000000)")
    assert len(cursor.fetchone()[0]) == 17_000_000
    opened.handle.close()
    ctx.expect(opened, close="clean_quit", closed_by="client", findings=("split_packet",))


@scenario(gzip=True)
def split_exact_ffffff(ctx: Context) -> None:
    """PyMySQL sends a COM_QUERY whose payload is exactly 0xFFFFFF bytes (command byte plus
    16,777,214 bytes of SQL), so it must be followed by an empty packet; then the server
    returns a row whose packet payload is exactly 0xFFFFFF bytes (a 4-byte length prefix plus
    16,777,211 bytes), also followed by an empty packet; then COM_QUIT."""
    opened = open_pymysql(max_allowed_packet=64 << 20)
    cursor = opened.handle.cursor()
    prefix, suffix = "SELECT LENGTH('", "')"
    sql = prefix + "a" * (MAX_PACKET - 1 - len(prefix) - len(suffix)) + suffix
    assert 1 + len(sql.encode()) == MAX_PACKET
    cursor.execute(sql)
    cursor.fetchall()
    cursor.execute(f"SELECT REPEAT('c', {MAX_PACKET - 4})")
    assert len(cursor.fetchone()[0]) == MAX_PACKET - 4
    opened.handle.close()
    ctx.expect(opened, close="clean_quit", closed_by="client", findings=("split_packet",))
