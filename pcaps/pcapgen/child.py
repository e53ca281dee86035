"""Clients that must run in a process of their own: `python -m pcapgen.child ROLE ARGS...`.

Each prints JSON lines on stdout (what it learned from its own socket and library) so the
parent scenario can write the expected file.
"""

from __future__ import annotations

import json
import os
import socket
import sys

from .clients import describe, open_pymysql


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def exit_without_close(host: str, port: str) -> None:
    """Connect, query, then end the process: the kernel closes the socket (FIN, no COM_QUIT)."""
    opened = open_pymysql(host, int(port))
    cursor = opened.handle.cursor()
    cursor.execute("SELECT COUNT(*) FROM items")
    cursor.fetchall()
    emit(client=opened.client, thread_id=opened.thread_id, library=opened.library)
    os._exit(0)  # no close(), no atexit, no garbage collection: what a crashed worker does


def stalled_behind_middlebox(host: str, port: str) -> None:
    """Connect, then wait in a long query with TCP keepalive probing every second.

    The parent installs the router's REJECT rule while this query runs; the next keepalive
    probe is answered by the router's RST, which the library reports.
    """
    opened = open_pymysql(host, int(port), read_timeout=30)
    sock = opened.handle._sock
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
    cursor = opened.handle.cursor()
    cursor.execute("SELECT 1")
    cursor.fetchall()
    emit(
        event="connected", client=opened.client, thread_id=opened.thread_id, library=opened.library
    )
    try:
        cursor.execute("SELECT SLEEP(4)")
        cursor.fetchall()
        emit(event="done", reported="ok")
    except Exception as error:
        emit(event="done", reported=describe(error))


def query_after_go(host: str, port: str) -> None:
    """Connect, then wait for "go" on stdin before a query (the parent arranges the path)."""
    opened = open_pymysql(host, int(port))
    cursor = opened.handle.cursor()
    cursor.execute("SELECT 1")
    cursor.fetchall()
    emit(
        event="connected", client=opened.client, thread_id=opened.thread_id, library=opened.library
    )
    sys.stdin.readline()
    try:
        cursor.execute("SELECT id, name, qty FROM items LIMIT 20")
        cursor.fetchall()
        opened.handle.close()
        emit(event="done", reported="ok")
    except Exception as error:
        emit(event="done", reported=describe(error))


ROLES = {
    "query_after_go": query_after_go,
    "exit_without_close": exit_without_close,
    "stalled_behind_middlebox": stalled_behind_middlebox,
}

if __name__ == "__main__":
    ROLES[sys.argv[1]](*sys.argv[2:])
