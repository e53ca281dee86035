"""A tiny MySQL server and client over real loopback sockets, for live-capture tests that
must run without mariadbd.

The server greets like MariaDB, accepts any login with OK (except user `denied`: ERR 1045,
then it closes), answers every COM_QUERY with OK, and closes on COM_QUIT. The client logs in,
runs queries, and leaves in one of the ways the verdicts tell apart: COM_QUIT then close, a
bare close (FIN), or an abortive close (SO_LINGER 0: RST). Packets are built by
`tests.mysql_builder`, so both ends speak the protocol as the documentation describes it.
"""

from __future__ import annotations

import socket
import struct
import threading

from tests.mysql_builder import err, frame, handshake_response41, mariadb_greeting, ok, query

COM_QUIT = 0x01
COM_QUERY = 0x03
DENIED_USER = "denied"


def read_packet(sock: socket.socket) -> tuple[int, bytes] | None:
    """(sequence id, payload), or None when the peer closed."""
    header = _read_exactly(sock, 4)
    if header is None:
        return None
    length = header[0] | header[1] << 8 | header[2] << 16
    payload = _read_exactly(sock, length)
    return (header[3], payload) if payload is not None else None


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        try:
            chunk = sock.recv(size - len(data))
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return data


class FakeMySQLServer:
    """Listens on 127.0.0.1 (a free port unless told); one thread per connection."""

    def __init__(self, port: int = 0, first_thread_id: int = 100) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.next_thread_id = first_thread_id
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()
        self.accepting = threading.Thread(target=self._accept, daemon=True)
        self.accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                thread_id = self.next_thread_id
                self.next_thread_id += 1
            worker = threading.Thread(target=self._serve, args=(conn, thread_id), daemon=True)
            self.threads.append(worker)
            worker.start()

    def _serve(self, conn: socket.socket, thread_id: int) -> None:
        with conn:
            conn.sendall(frame(mariadb_greeting(thread_id=thread_id), 0))
            login = read_packet(conn)
            if login is None:
                return
            if DENIED_USER.encode() + b"\0" in login[1]:
                message = f"Access denied for user '{DENIED_USER}'@'localhost'"
                conn.sendall(frame(err(1045, message, "28000"), login[0] + 1))
                return
            conn.sendall(frame(ok(session_track=False), login[0] + 1))
            while (packet := read_packet(conn)) is not None:
                seq, payload = packet
                if payload[:1] == bytes([COM_QUIT]):
                    return
                conn.sendall(frame(ok(session_track=False), seq + 1))

    def close(self) -> None:
        self.listener.close()
        for worker in self.threads:
            worker.join(timeout=2)

    def __enter__(self) -> FakeMySQLServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FakeMySQLClient:
    """One client connection, logged in on construction."""

    def __init__(self, port: int, user: str = "app", database: str = "test") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        greeting = read_packet(self.sock)
        assert greeting is not None, "no greeting"
        self.sock.sendall(
            frame(handshake_response41(user, database, auth_plugin="mysql_native_password"), 1)
        )
        reply = read_packet(self.sock)
        assert reply is not None
        self.login_reply = reply[1]

    @property
    def logged_in(self) -> bool:
        return self.login_reply[:1] == b"\x00"

    def query(self, sql: str) -> bytes:
        self.sock.sendall(frame(query(sql), 0))
        reply = read_packet(self.sock)
        assert reply is not None
        return reply[1]

    def quit(self) -> None:
        """COM_QUIT, then close: the clean ending."""
        self.sock.sendall(frame(bytes([COM_QUIT]), 0))
        self.sock.close()

    def close_without_quit(self) -> None:
        """FIN without COM_QUIT: what an application that forgets to close does at exit."""
        self.sock.close()

    def reset(self) -> None:
        """RST without COM_QUIT (SO_LINGER with a zero timeout)."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()
