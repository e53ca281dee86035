"""Building the captures of the hardening tests, and running `mysqlwire` on them in process.

Conversations come from tests/mysql_builder.py and are put on TCP connections with
tests/craft.py; `run` invokes the real command line (click's runner) and hands back the exit
status, standard output and standard error."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from mysqlwire.cli import main
from mysqlwire.protocol.constants import CLIENT
from tests.craft import Packet, TcpSession, pcap_bytes, write_capture
from tests.mysql_builder import QUIT, Conversation, ok, query

START = 1_700_000_000.0


def session(
    talk: Conversation,
    client: tuple[str, int] = ("10.0.0.1", 50000),
    server: tuple[str, int] = ("10.0.0.2", 3306),
    *,
    start_ts: float = START,
    handshake: bool = True,
    close: bool = True,
) -> TcpSession:
    """The conversation on one TCP connection, opened (by default) and closed in the capture."""
    s = TcpSession(client=client, server=server, start_ts=start_ts)
    if handshake:
        s.handshake()
    for chunk in talk.chunks:
        (s.client_send if chunk.side == CLIENT else s.server_send)(chunk.data)
    if close:
        s.client_fin()
        s.server_fin()
        s.client_ack()
    return s


def quiet_login(client: tuple[str, int] = ("10.0.0.1", 50000), **options) -> TcpSession:
    """A well-behaved MySQL connection: login, one query, COM_QUIT."""
    talk = Conversation().login()
    talk.command(query("select 1")).server(ok())
    talk.command(QUIT)
    return session(talk, client, **options)


def syn_flood(
    count: int,
    *,
    answer: str = "",
    server: tuple[str, int] = ("10.0.0.2", 3306),
    start_ts: float = START + 1,
) -> list[Packet]:
    """`count` SYNs from as many addresses; `answer`: "" (none), "syn-ack" or "rst"."""
    frames: list[Packet] = []
    for n in range(count):
        s = TcpSession(
            client=(f"172.16.{n >> 8 & 0xFF}.{n & 0xFF}", 1024 + n % 60000),
            server=server,
            client_isn=n * 7919,
            start_ts=start_ts + n * 0.0001,
        )
        s.client_syn()
        if answer == "syn-ack":
            s.server_syn_ack()
        elif answer == "rst":
            s.server_rst()
        frames += s.frames
    return frames


def capture(path: Path, *parts: list[Packet] | TcpSession) -> Path:
    """Write the frames of `parts` into one pcap, in time order."""
    frames = [f for part in parts for f in (part.frames if isinstance(part, TcpSession) else part)]
    frames.sort(key=lambda packet: packet.ts)
    return write_capture(path, pcap_bytes(frames))


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str


def run(*args: str | Path) -> Run:
    """`mysqlwire ARGS...` in process. Never an internal error, whatever the input."""
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "internal error" not in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    return Run(result.exit_code, result.stdout, result.stderr)


def flat(text: str) -> str:
    """The report with its line wrapping undone: one space between words."""
    return " ".join(text.split())
