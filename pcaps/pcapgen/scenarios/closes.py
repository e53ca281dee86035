"""How a connection ends: quit, FIN, RST, timeout, KILL, refused login, abandoned handshake."""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import threading
import time

from ..clients import (
    Opened,
    address,
    close_without_quit,
    describe,
    open_pymysql,
    read_greeting,
)
from ..scenario import Context, scenario
from ..server import APP, DATABASE

RAW_SOCKET = f"Python {sys.version.split()[0]} socket (raw, no MySQL library)"


def _some_queries(opened: Opened) -> None:
    cursor = opened.handle.cursor()
    cursor.execute("INSERT INTO items (name, qty) VALUES (%s, %s)", ("widget", 3))
    cursor.execute("SELECT id, name, qty FROM items ORDER BY id DESC LIMIT 5")
    cursor.fetchall()
    opened.handle.commit()


def _try_query(opened: Opened) -> str:
    """Run a query on a connection the server may have closed; what the library says."""
    try:
        cursor = opened.handle.cursor()
        cursor.execute("SELECT 1")
        cursor.fetchall()
        return "ok"
    except Exception as error:
        return describe(error)


@scenario()
def clean_quit(ctx: Context) -> None:
    """PyMySQL connects as app to test, inserts a row, selects, commits and calls close(),
    which sends COM_QUIT. The client sends COM_QUIT and closes its socket at once while the
    server closes as soon as it reads the quit: on loopback the two FINs race and either may
    come first on the wire (both orders were seen across regenerations)."""
    opened = open_pymysql()
    _some_queries(opened)
    opened.handle.close()
    ctx.expect(opened, close="clean_quit", closed_by="client")


@scenario()
def quit_then_rst(ctx: Context) -> None:
    """PyMySQL connects and queries; the client then writes COM_QUIT itself and closes the
    socket with SO_LINGER 0, so the close after the quit is an RST instead of a FIN — the
    pattern of connection pools that reset sockets on shutdown."""
    opened = open_pymysql()
    _some_queries(opened)
    sock = opened.handle._sock
    sock.sendall(b"\x01\x00\x00\x00\x01")  # COM_QUIT, sequence id 0
    time.sleep(0.05)
    close_without_quit(opened, reset=True)
    ctx.expect(
        opened,
        close="clean_quit",
        closed_by="client",
        findings=("rst_after_quit",),
        note="the server may answer the quit with its own FIN before the RST",
    )


@scenario()
def client_exit_fin(ctx: Context) -> None:
    """A PyMySQL client process connects, runs a query and exits with os._exit() without
    closing its connection: the kernel closes the socket with FIN and no COM_QUIT is sent.
    The server logs 'Aborted connection ... (Got an error reading communication packets)'."""
    out = subprocess.run(
        [sys.executable, "-m", "pcapgen.child", "exit_without_close", "127.0.0.1", "3306"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ctx.workdir.parent,
    )
    seen = json.loads(out.stdout.splitlines()[-1])
    ctx.expect(
        client=seen["client"],
        thread_id=seen["thread_id"],
        user=APP[0],
        database=DATABASE,
        client_library=seen["library"],
        client_reported="ok (the process exited without closing)",
        close="client_fin_no_quit",
        closed_by="client",
    )


@scenario()
def linger_rst(ctx: Context) -> None:
    """PyMySQL connects and queries; the application then sets SO_LINGER {on, 0} on the
    library's socket and closes it: an RST with no COM_QUIT."""
    opened = open_pymysql()
    _some_queries(opened)
    close_without_quit(opened, reset=True)
    ctx.expect(opened, close="client_rst_no_quit", closed_by="client")


@scenario()
def wait_timeout(ctx: Context) -> None:
    """PyMySQL connects, sets SESSION wait_timeout = 2 and stays idle for 3.5 s. MariaDB
    10.11 sends no ERR (no 4031 as MySQL 8.0.24+ does): it ends the connection with an RST
    (RST+ACK) from the server after 2 s of idleness, logging 'Could not read packet ...
    errno: 110' and 'Aborted connection ... (Got timeout reading communication packets)'. The
    client's next query then fails locally and never reaches the wire."""
    opened = open_pymysql()
    cursor = opened.handle.cursor()
    cursor.execute("SET SESSION wait_timeout = 2")
    cursor.execute("SELECT 1")
    cursor.fetchall()
    time.sleep(3.5)
    reported = _try_query(opened)
    ctx.expect(
        opened,
        close="server_closed_idle",
        closed_by="server",
        client_reported=reported,
        note="idle about 2 s before the server's close",
    )


@scenario()
def kill_idle(ctx: Context) -> None:
    """PyMySQL connects and runs a query, then sits idle; an administrator runs KILL
    CONNECTION on its thread (over the unix socket, not captured). MariaDB sends no ERR to an
    idle session: it just closes (FIN). Half a second later the client sends a query on the
    half-closed connection, which the server answers with an RST; the library reports 2013."""
    opened = open_pymysql()
    _some_queries(opened)
    time.sleep(0.3)
    ctx.server.sql(f"KILL CONNECTION {opened.thread_id}")
    time.sleep(0.5)
    reported = _try_query(opened)
    ctx.expect(opened, close="server_closed_idle", closed_by="server", client_reported=reported)


@scenario()
def kill_busy(ctx: Context) -> None:
    """PyMySQL runs SELECT SLEEP(10); 0.5 s later an administrator runs KILL CONNECTION on
    its thread (over the unix socket). MariaDB 10.11 sends no ERR (no 1927) on the wire: it
    closes with FIN while the query is outstanding; the client closes at once and reports
    2013. The ERROR 'Connection was killed' appears only in the server's error log."""
    opened = open_pymysql()
    killer = threading.Timer(0.5, ctx.server.sql, args=(f"KILL CONNECTION {opened.thread_id}",))
    killer.start()
    try:
        cursor = opened.handle.cursor()
        cursor.execute("SELECT SLEEP(10)")
        cursor.fetchall()
        reported = "ok"
    except Exception as error:
        reported = describe(error)
    killer.join()
    ctx.expect(opened, close="killed_by_server", closed_by="server", client_reported=reported)


@scenario()
def wrong_password(ctx: Context) -> None:
    """PyMySQL tries to log in as app with a wrong password; the server answers the
    handshake response with ERR 1045 (Access denied) and closes. The client closes as soon as
    it reads the ERR, so the two FINs race: either may come first on the wire."""
    opened = open_pymysql(password="not-the-password")
    ctx.expect(opened, close="auth_failed", closed_by="server", error_codes=[1045])


def _abandon_handshake(ctx: Context, reset: bool) -> None:
    sock = socket.create_connection(("127.0.0.1", 3306))
    client = address(sock.getsockname())
    thread_id, _ = read_greeting(sock)
    time.sleep(0.1)
    if reset:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    ctx.expect(
        client=client,
        thread_id=thread_id,
        user=None,
        database=None,
        client_library=RAW_SOCKET,
        client_reported="ok (closed on purpose)",
        close="handshake_aborted",
        closed_by="client",
    )


@scenario()
def handshake_abandoned_fin(ctx: Context) -> None:
    """A raw TCP client connects, reads the server greeting (noting its thread id) and closes
    the socket normally (FIN) without sending a handshake response — a port scanner or health
    check. Counted in Aborted_connects."""
    _abandon_handshake(ctx, reset=False)


@scenario()
def handshake_abandoned_rst(ctx: Context) -> None:
    """A raw TCP client connects, reads the server greeting (noting its thread id) and closes
    with SO_LINGER 0 (RST) without sending a handshake response — a load balancer's TCP
    health check. Counted in Aborted_connects."""
    _abandon_handshake(ctx, reset=True)


@scenario(capture_filter="tcp port 3399", analyze_options=("--port", "3399"))
def connection_refused(ctx: Context) -> None:
    """A raw TCP client (bound first so it knows its own port) connects to 127.0.0.1:3399,
    where nothing listens: the SYN is answered by an RST+ACK from the kernel. A client
    configured with the wrong port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    client = address(sock.getsockname())
    try:
        sock.connect(("127.0.0.1", 3399))
        reported = "ok"
    except OSError as error:
        reported = describe(error)
    sock.close()
    ctx.expect(
        client=client,
        server="127.0.0.1:3399",
        thread_id=None,
        user=None,
        database=None,
        client_library=RAW_SOCKET,
        client_reported=reported,
        close="connection_refused",
        closed_by="server",
        findings=("connection_refused",),
    )
