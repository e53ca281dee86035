"""Fixtures for the live-capture tests.

Tests marked `root` open a real packet socket on loopback; they are skipped, with the reason,
when this process cannot (not root and no CAP_NET_RAW). The MariaDB fixture starts a private
mariadbd (the capture-suite generator's `pcaps/pcapgen/server.py`) once per test session, in
a temporary directory on a free loopback port, and is skipped when mariadbd is missing.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from capture import CaptureStats
from capture.live import LiveCapture, default_filter
from mysqlwire.live import LiveOptions, LiveSession, ProblemCapture
from mysqlwire.pipeline import AnalysisOptions
from tests.live.fake_mysql import FakeMySQLServer


def packet_socket_refusal() -> str | None:
    """Why this process cannot capture, or None when it can."""
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
    except PermissionError:
        return "live capture needs root or CAP_NET_RAW (run the suite as root to include it)"
    except (OSError, AttributeError) as exc:
        return f"no AF_PACKET sockets here: {exc}"
    return None


REFUSAL = packet_socket_refusal()
needs_capture = pytest.mark.skipif(REFUSAL is not None, reason=REFUSAL or "")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")


@dataclass
class LiveRun:
    """A `LiveSession` on a real interface, run in a thread; its jsonl output parsed."""

    session: LiveSession
    out: io.StringIO
    thread: threading.Thread
    records: list[dict] = field(default_factory=list)

    def parsed(self) -> list[dict]:
        return [json.loads(line) for line in self.out.getvalue().splitlines() if line]

    def connections(self) -> list[dict]:
        return [r for r in self.parsed() if r["type"] == "connection"]

    def wait_connections(self, count: int, timeout: float = 5.0) -> list[dict]:
        wait_for(lambda: len(self.connections()) >= count, timeout, f"{count} verdicts")
        return self.connections()

    def stop(self) -> list[dict]:
        self.session.request_stop()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "the session did not stop"
        return self.parsed()


@contextlib.contextmanager
def live_run(
    port: int,
    interface: str = "lo",
    *,
    write: Path | None = None,
    write_problems: Path | None = None,
    **options: object,
) -> Iterator[LiveRun]:
    """Capture `port` on `interface` in-process (jsonl, short linger, no periodic summary)."""
    from capture.live import RotatingPcapWriter

    stats = CaptureStats()
    source = LiveCapture(interface, default_filter([port]), stats=stats, buffer_size=4 << 20)
    settings = {"fmt": "jsonl", "interval": 0.0, "linger": 0.2, "interface": interface}
    settings.update(options)
    writer = RotatingPcapWriter(write, source.linktype) if write else None
    problems = (
        ProblemCapture(RotatingPcapWriter(write_problems, source.linktype))
        if write_problems
        else None
    )
    out = io.StringIO()
    session = LiveSession(
        source,
        out,
        options=LiveOptions(**settings),  # type: ignore[arg-type]
        analysis=AnalysisOptions(server_ports=frozenset({port})),
        writer=writer,
        problems=problems,
    )
    thread = threading.Thread(target=session.run, daemon=True)
    thread.start()
    run = LiveRun(session, out, thread)
    try:
        yield run
    finally:
        if thread.is_alive():
            run.stop()
        source.close()


@pytest.fixture
def fake_server() -> Iterator[FakeMySQLServer]:
    with FakeMySQLServer() as server:
        yield server


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A private mariadbd on a free loopback port, for the whole test session."""
    if REFUSAL is not None:
        pytest.skip(REFUSAL)
    missing = [
        tool for tool in ("mariadbd", "mariadb-install-db", "mariadb") if not shutil.which(tool)
    ]
    if missing:
        pytest.skip(f"MariaDB is not installed ({', '.join(missing)} missing): scripts/setup")
    from pcaps.pcapgen.server import Server, ServerConfig

    workdir = tmp_path_factory.mktemp("mariadb")
    server = Server(ServerConfig(workdir=workdir, port=free_port()))
    try:
        server.start()
    except Exception as exc:  # a server that will not start is an environment problem
        server.stop()
        pytest.skip(f"private mariadbd did not start: {exc}")
    yield server
    server.stop()
