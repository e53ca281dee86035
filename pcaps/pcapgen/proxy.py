"""A loopback MySQL proxy that corrupts one sequence id on purpose.

client <-> 127.0.0.1:3307 (this proxy) <-> 127.0.0.1:3306 (server). Bytes are relayed
unchanged, except: after the client sends a packet containing MARKER, the header of the next
packet from the server gets its sequence id shifted by SHIFT. The server leg stays correct,
so the capture holds the same exchange twice, once broken and once intact.
"""

from __future__ import annotations

import contextlib
import socket
import threading

MARKER = b"/*corrupt-next-reply*/"
SHIFT = 5


class SequenceCorruptingProxy:
    def __init__(self, listen_port: int = 3307, server: tuple[str, int] = ("127.0.0.1", 3306)):
        self.server = server
        self.listener = socket.create_server(("127.0.0.1", listen_port))
        self.server_leg_client: str | None = None  # the proxy's own address toward the server
        self.corrupted = threading.Event()
        self._armed = threading.Event()
        self._thread = threading.Thread(target=self._serve_one, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float = 10) -> None:
        self._thread.join(timeout)
        self.listener.close()

    def _serve_one(self) -> None:
        client, _ = self.listener.accept()
        upstream = socket.create_connection(self.server)
        host, port = upstream.getsockname()[:2]
        self.server_leg_client = f"{host}:{port}"
        up = threading.Thread(target=self._client_to_server, args=(client, upstream))
        up.start()
        self._server_to_client(upstream, client)
        up.join()
        client.close()
        upstream.close()

    def _client_to_server(self, client: socket.socket, upstream: socket.socket) -> None:
        while data := client.recv(65536):
            if MARKER in data:
                self._armed.set()
            upstream.sendall(data)
        upstream.shutdown(socket.SHUT_WR)  # the client closed: pass its FIN on

    def _server_to_client(self, upstream: socket.socket, client: socket.socket) -> None:
        pending = b""
        while data := upstream.recv(65536):
            pending += data
            # Forward whole packets only, so a header is never split across two sends.
            while len(pending) >= 4:
                length = int.from_bytes(pending[:3], "little")
                if len(pending) < 4 + length:
                    break
                packet, pending = pending[: 4 + length], pending[4 + length :]
                if self._armed.is_set():
                    self._armed.clear()
                    packet = packet[:3] + bytes([(packet[3] + SHIFT) & 0xFF]) + packet[4:]
                    self.corrupted.set()
                try:
                    client.sendall(packet)
                except OSError:
                    return
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_WR)


class ProxyProtocolRelay:
    """A load balancer in front of the server, the way HAProxy's `send-proxy` works: for
    each client it accepts on `listen_port`, it connects to the server, sends a PROXY
    protocol header first (version 1 text or version 2 binary), then relays both ways.

    The header names the client as `claimed_clients[i]` (the i-th connection), not as the
    loopback address it really has: a balancer's clients are elsewhere, and a distinct
    address shows which one the server and the analyzer take as the client's."""

    def __init__(
        self,
        claimed_clients: list[tuple[str, int]],
        listen_port: int = 3309,
        server: tuple[str, int] = ("127.0.0.1", 3306),
    ):
        self.server = server
        self.claimed = list(claimed_clients)
        self.listener = socket.create_server(("127.0.0.1", listen_port))
        self.port = listen_port
        self.server_legs: list[str] = []  # the relay's own address toward the server, each
        self._threads: list[threading.Thread] = []

    def connect(self, version: int) -> None:
        """Serve the next client with a header of `version` (call before the client connects)."""
        thread = threading.Thread(target=self._serve_one, args=(version,), daemon=True)
        thread.start()
        self._threads.append(thread)

    def close(self, timeout: float = 10) -> None:
        for thread in self._threads:
            thread.join(timeout)
        self.listener.close()

    def _serve_one(self, version: int) -> None:
        client, _ = self.listener.accept()
        upstream = socket.create_connection(self.server)
        host, port = upstream.getsockname()[:2]
        self.server_legs.append(f"{host}:{port}")
        claimed_ip, claimed_port = self.claimed[len(self.server_legs) - 1]
        upstream.sendall(self._header(version, claimed_ip, claimed_port))
        up = threading.Thread(target=_pipe, args=(client, upstream))
        up.start()
        _pipe(upstream, client)
        up.join()
        client.close()
        upstream.close()

    def _header(self, version: int, ip: str, port: int) -> bytes:
        server_ip, server_port = self.server
        if version == 1:
            return f"PROXY TCP4 {ip} {server_ip} {port} {server_port}\r\n".encode()
        body = socket.inet_aton(ip) + socket.inet_aton(server_ip)
        body += port.to_bytes(2, "big") + server_port.to_bytes(2, "big")
        signature = b"\r\n\r\n\x00\r\nQUIT\n"
        return signature + b"\x21\x11" + len(body).to_bytes(2, "big") + body


def _pipe(source: socket.socket, target: socket.socket) -> None:
    """Relay until `source` closes, then pass its FIN (or reset) on."""
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)
