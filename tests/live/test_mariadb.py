"""Live capture of a real MariaDB: a private mariadbd on a free loopback port, real client
connections (PyMySQL), the verdicts as they are printed."""

from __future__ import annotations

import socket
import struct

import pytest

from tests.live.conftest import live_run, needs_capture

pymysql = pytest.importorskip("pymysql", reason="PyMySQL is not installed (pip install .[clients])")

pytestmark = [pytest.mark.root, needs_capture]


def connect(server, password: str = "apppw"):
    from pcaps.pcapgen.server import APP, DATABASE

    return pymysql.connect(
        host="127.0.0.1",
        port=server.config.port,
        user=APP[0],
        password=password,
        database=DATABASE,
        ssl_disabled=True,
    )


def client_name(connection) -> str:
    return "127.0.0.1:%d" % connection._sock.getsockname()[1]  # noqa: UP031


def test_real_server_clean_quit_client_reset_and_refused_login(mariadb):
    with live_run(mariadb.config.port) as run:
        polite = connect(mariadb)
        with polite.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM items")
        polite_name, polite_thread = client_name(polite), polite.thread_id()
        polite.close()  # COM_QUIT, then the close

        rude = connect(mariadb)
        with rude.cursor() as cursor:
            cursor.execute("SELECT 1")
        rude_name, rude_thread = client_name(rude), rude.thread_id()
        rude._sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        rude._rfile.close()  # the socket's file reader holds the descriptor open too
        rude._sock.close()  # RST, no COM_QUIT: what a killed client process does

        with pytest.raises(pymysql.err.OperationalError):
            connect(mariadb, password="wrong")

        records = {r["client"]: r for r in run.wait_connections(3, timeout=10)}
    clean, reset = records.pop(polite_name), records.pop(rude_name)
    [refused] = records.values()
    assert (clean["close"], clean["closed_by"], clean["severity"]) == ("clean_quit", "client", None)
    assert (clean["thread_id"], clean["user"], clean["database"]) == (polite_thread, "app", "test")
    assert "MariaDB" in clean["server_version"]
    assert (reset["close"], reset["closed_by"], reset["thread_id"]) == (
        "client_rst_no_quit",
        "client",
        rude_thread,
    )
    assert reset["server_counter"] == "Aborted_clients"
    assert (refused["close"], refused["error_codes"]) == ("auth_failed", [1045])
    assert refused["severity"] == "error"
