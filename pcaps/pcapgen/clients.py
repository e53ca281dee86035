"""Real client libraries, opened so that the scenario learns what each connection was.

The client's own address comes from the client's socket (`getsockname()` right after the TCP
connect, before any MySQL byte is read) and the thread id from the greeting the library
parsed, so they are known even when the server refuses the login.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass
from importlib.metadata import version as package_version
from pathlib import Path

import mysql.connector
import pymysql
import pymysql.connections

from .server import APP, DATABASE

HERE = Path(__file__).resolve().parent
GO_SOURCE = HERE.parent / "goclient" / "main.go"


def address(sockname: tuple) -> str:
    host, port = sockname[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(slots=True)
class Opened:
    """A connection attempt: where it came from, which thread served it, how it went."""

    client: str
    thread_id: int | None
    user: str
    database: str | None
    library: str
    handle: object = None  # the library's connection object; None when the attempt failed
    error: Exception | None = None

    @property
    def reported(self) -> str:
        return "ok" if self.error is None else describe(self.error)

    @property
    def error_code(self) -> int | None:
        args = getattr(self.error, "args", ())
        return args[0] if args and isinstance(args[0], int) else getattr(self.error, "errno", None)


def describe(error: BaseException) -> str:
    """What the library said, as it would print: class name and message."""
    return f"{type(error).__name__}: {error}"


# -- PyMySQL ----------------------------------------------------------------------------------
PYMYSQL = f"PyMySQL {package_version('PyMySQL')}"
_observed = threading.local()


class _ObservedConnection(pymysql.connections.Connection):
    """PyMySQL's Connection, noting the socket's address and the greeting's thread id."""

    def _get_server_information(self):
        _observed.client = address(self._sock.getsockname())
        super()._get_server_information()
        _observed.thread_id = self.server_thread_id[0]


def open_pymysql(
    host: str = "127.0.0.1",
    port: int = 3306,
    user: str = APP[0],
    password: str = APP[1],
    database: str | None = DATABASE,
    **options,
) -> Opened:
    """Connect with PyMySQL; a refused attempt comes back with `error` set, not raised."""
    _observed.client, _observed.thread_id = None, None
    options.setdefault("ssl_disabled", True)
    try:
        conn = _ObservedConnection(
            host=host, port=port, user=user, password=password, database=database, **options
        )
    except pymysql.MySQLError as error:
        return Opened(_observed.client, _observed.thread_id, user, database, PYMYSQL, error=error)
    return Opened(
        address(conn._sock.getsockname()), conn.thread_id(), user, database, PYMYSQL, handle=conn
    )


# -- mysql-connector-python (pure Python protocol implementation) -----------------------------
CONNECTOR = f"mysql-connector-python {package_version('mysql-connector-python')} (use_pure)"


def open_connector(
    host: str = "127.0.0.1",
    port: int = 3306,
    user: str = APP[0],
    password: str = APP[1],
    database: str | None = DATABASE,
    **options,
) -> Opened:
    options.setdefault("ssl_disabled", True)
    conn = mysql.connector.connect(
        host=host,
        port=port,
        user=user,
        password=password,
        database=database,
        use_pure=True,
        **options,
    )
    return Opened(
        address(conn._socket.sock.getsockname()),
        conn.connection_id,
        user,
        database,
        CONNECTOR,
        handle=conn,
    )


def connector_socket(opened: Opened) -> socket.socket:
    return opened.handle._socket.sock


# -- closing without COM_QUIT -----------------------------------------------------------------
def library_socket(opened: Opened) -> socket.socket:
    if opened.library == PYMYSQL:
        return opened.handle._sock
    return connector_socket(opened)


def close_without_quit(opened: Opened, reset: bool = False) -> None:
    """Close the TCP socket under the library: FIN, or RST when `reset` (SO_LINGER 0)."""
    sock = library_socket(opened)
    if reset:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    if opened.library == PYMYSQL:
        # PyMySQL reads through sock.makefile(); the descriptor stays open until that is
        # closed too, and only then does the kernel send the FIN (or RST).
        opened.handle._rfile.close()
    sock.close()


# -- the mariadb command-line client ----------------------------------------------------------
def cli_version() -> str:
    out = subprocess.run(["mariadb", "--version"], capture_output=True, text=True).stdout
    return "mariadb CLI " + out.split(" from ")[0].split("mariadb ", 1)[-1].strip()


# The CLI asks the server who it is: its address as the server sees it (skip-name-resolve, so
# "ip:port" — the client socket's own address) and its thread id.
WHOAMI = (
    "SELECT CONNECTION_ID() AS thread_id, "
    "(SELECT HOST FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()) AS client"
)


def run_cli(
    sql: str,
    *options: str,
    host: str = "127.0.0.1",
    port: int = 3306,
    user: str = APP[0],
    password: str = APP[1],
    database: str | None = DATABASE,
) -> tuple[dict, subprocess.CompletedProcess]:
    """Run the mariadb CLI with `WHOAMI;` + `sql`; returns (whoami row, process)."""
    argv = [
        "mariadb",
        "--no-defaults",
        f"--host={host}",
        f"--port={port}",
        f"--user={user}",
        f"--password={password}",
        "--batch",
        *options,
    ]
    if database:
        argv.append(f"--database={database}")
    proc = subprocess.run(argv, input=f"{WHOAMI};\n{sql}\n", capture_output=True, text=True)
    lines = proc.stdout.splitlines()
    whoami = (
        dict(zip(lines[0].split("\t"), lines[1].split("\t"), strict=True))
        if len(lines) >= 2
        else {}
    )
    return whoami, proc


# -- the Go client ----------------------------------------------------------------------------
def go_driver_version() -> str:
    deb = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "golang-github-go-sql-driver-mysql-dev"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    go = subprocess.run(["go", "version"], capture_output=True, text=True).stdout.split()[2]
    return f"go-sql-driver/mysql {deb.split('-')[0]} (Debian {deb}), {go}"


def build_go_client(workdir: Path) -> Path:
    """Build pcaps/goclient against Debian's driver package (no module download)."""
    binary = workdir / "goclient"
    if binary.exists() and binary.stat().st_mtime >= GO_SOURCE.stat().st_mtime:
        return binary
    env = dict(
        os.environ,
        GO111MODULE="off",
        GOPATH="/usr/share/gocode",
        GOCACHE=str(workdir / "gocache"),
        GOFLAGS="",
    )
    subprocess.run(["go", "build", "-o", str(binary), str(GO_SOURCE)], check=True, env=env)
    return binary


def run_go(binary: Path, *args: str, timeout: float = 60) -> list[dict]:
    """Run the Go client; it prints one JSON object per line (see goclient/main.go)."""
    proc = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=timeout)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"goclient failed: {proc.stderr}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


# -- raw sockets ------------------------------------------------------------------------------
def read_greeting(sock: socket.socket) -> tuple[int, bytes]:
    """Read one MySQL packet from a raw socket; returns (thread id or 0, payload)."""
    header = _recv_exactly(sock, 4)
    length = header[0] | header[1] << 8 | header[2] << 16
    payload = _recv_exactly(sock, length)
    if payload[:1] == b"\x0a":  # protocol 10: version string, NUL, then the thread id
        end = payload.index(b"\0", 1)
        return struct.unpack_from("<I", payload, end + 1)[0], payload
    return 0, payload


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed before a whole packet arrived")
        data += chunk
    return data


def pause(seconds: float) -> None:
    time.sleep(seconds)
