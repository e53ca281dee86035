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
