"""`mysqlwire live`: capture on this host and print each MySQL connection's verdict as it ends.

`live_command` is a click command; `mysqlwire.cli` registers it on the `mysqlwire` group.
It takes the shared option types from `mysqlwire.cli_options`, as cli.py does. Every failure
to start (not root, an unknown interface, a bad filter, a file that cannot be written) is one
line on stderr and exit status 2; Ctrl-C and SIGTERM end the run with the final summary and
exit status 0.
"""

from __future__ import annotations

import os
import pwd
import sys

import click

from capture import CaptureStats
from capture.live import (
    DEFAULT_BUFFER,
    LiveCapture,
    LiveCaptureError,
    RotatingPcapWriter,
    default_filter,
)
from mysqlwire.cli_options import (
    SizeType,
    UserError,
    max_allowed_packet_option,
    only_problems_option,
    port_option,
    redact_option,
    server_ports,
)
from mysqlwire.live import (
    DEFAULT_INTERVAL,
    DEFAULT_LINGER,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_PROBLEM_BUFFER,
    DEFAULT_PROBLEM_BUFFER_TOTAL,
    LiveOptions,
    LiveSession,
    ProblemCapture,
    RedactingLiveSession,
    drop_privileges,
    signals_handled,
    stream_is_tty,
)
from mysqlwire.pipeline import AnalysisOptions


@click.command("live")
@click.option(
    "-i",
    "--interface",
    required=True,
    metavar="IFACE",
    help="Interface to capture on ('any' for all of them; 'lo' for local clients).",
)
@port_option
@click.option(
    "--bpf",
    metavar="EXPR",
    help="Kernel filter in tcpdump syntax, replacing the default 'tcp and (port N ...)'.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "jsonl"]),
    default="text",
    show_default=True,
    help="text: one line per connection; jsonl: the records of analyze --format jsonl.",
)
@only_problems_option
@click.option(
    "--interval",
    type=click.FloatRange(min=0),
    default=DEFAULT_INTERVAL,
    show_default=True,
    help="Seconds between summaries (0: only at the end; SIGUSR1: one now).",
)
@click.option(
    "--write",
    "write_path",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Save every captured packet to FILE (pcap).",
)
@click.option(
    "--write-problems",
    "problems_path",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Save to FILE (pcap) only the packets of connections that ended with a warning "
    "or an error.",
)
@click.option(
    "--write-size",
    type=SizeType(),
    default="0",
    help="Start a new file when one reaches this size, like tcpdump -C: FILE, FILE1, "
    "FILE2... (default: never).",
)
@click.option(
    "--write-files",
    type=click.IntRange(min=0),
    default=0,
    help="Keep only the newest N rotated files, like tcpdump -W (default: all).",
)
@click.option(
    "--problem-buffer",
    type=SizeType(),
    default=DEFAULT_PROBLEM_BUFFER,
    show_default="1MiB",
    help="Packets kept per open connection for --write-problems (its first and its "
    "latest packets).",
)
@click.option(
    "--problem-buffer-total",
    type=SizeType(),
    default=DEFAULT_PROBLEM_BUFFER_TOTAL,
    show_default="64MiB",
    help="Packets kept for all open connections together for --write-problems.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_CONNECTIONS,
    show_default=True,
    help="Open connections tracked; beyond it the least recently active is reported and forgotten.",
)
@click.option(
    "--linger",
    type=click.FloatRange(min=0),
    default=DEFAULT_LINGER,
    show_default=True,
    help="Seconds a closed connection waits for late packets before its verdict.",
)
@click.option(
    "--buffer-size",
    type=SizeType(),
    default=DEFAULT_BUFFER,
    show_default="32MiB",
    help="Kernel capture ring; more absorbs longer bursts before packets are dropped.",
)
@click.option(
    "--user",
    default="nobody",
    show_default=True,
    help="When run as root, become this user once the capture and files are open "
    "(like tcpdump -Z; 'root' keeps root).",
)
@max_allowed_packet_option
@redact_option
@click.option(
    "--color",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    help="Colour problem lines (auto: on a terminal, unless NO_COLOR is set).",
)
def live_command(
    interface: str,
    ports: tuple[int, ...],
    bpf: str | None,
    fmt: str,
    only_problems: bool,
    interval: float,
    write_path: str | None,
    problems_path: str | None,
    write_size: int,
    write_files: int,
    problem_buffer: int,
    problem_buffer_total: int,
    max_connections: int,
    linger: float,
    buffer_size: int,
    user: str,
    max_allowed_packet: int,
    redact: bool,
    color: str,
) -> None:
    """Capture MySQL traffic on this host and print each connection's verdict as it ends,
    with a summary every --interval seconds and at the end (Ctrl-C or SIGTERM).

    Needs root or CAP_NET_RAW. Examples:

    \b
      sudo mysqlwire live -i any
      sudo mysqlwire live -i eth0 -p 3306 -p 3307 --only-problems
      sudo mysqlwire live -i eth0 --write-problems /var/tmp/bad.pcap
    """
    if (
        write_path
        and problems_path
        and os.path.abspath(write_path) == os.path.abspath(problems_path)
    ):
        raise UserError("--write and --write-problems need two different files")
    _check_buffer_size(buffer_size)
    tracked_ports = server_ports(ports)
    expression = bpf if bpf else default_filter(sorted(tracked_ports) if tracked_ports else None)
    stats = CaptureStats()
    try:
        source = LiveCapture(interface, expression, stats=stats, buffer_size=buffer_size)
    except LiveCaptureError as exc:
        raise UserError(str(exc)) from None
    writers: list[RotatingPcapWriter] = []
    try:
        for path in (write_path, problems_path):
            if path:
                writers.append(
                    RotatingPcapWriter(
                        path,
                        source.linktype,
                        snaplen=source.snaplen,
                        rotate_bytes=write_size,
                        max_files=write_files,
                    )
                )
        note = drop_privileges(user, writers)
    except (LiveCaptureError, OSError) as exc:
        for writer in writers:
            writer.close()
        source.close()
        raise UserError(str(exc)) from None
    writer = writers[0] if write_path else None
    problems = (
        ProblemCapture(writers[-1], problem_buffer, problem_buffer_total) if problems_path else None
    )
    out = sys.stdout
    options = LiveOptions(
        fmt=fmt,
        only_problems=only_problems,
        interval=interval,
        color=color == "always" or (color == "auto" and stream_is_tty(out)),
        linger=linger,
        max_connections=max_connections,
        interface=interface,
    )
    analysis = AnalysisOptions(server_ports=tracked_ports, max_allowed_packet=max_allowed_packet)
    session_class = RedactingLiveSession if redact else LiveSession
    session = session_class(
        source, out, options=options, analysis=analysis, writer=writer, problems=problems
    )
    if note:
        click.echo(f"mysqlwire: note: {note}", err=True)
    click.echo(
        f"mysqlwire: capturing on {source.description}, as user {_user_name()}; Ctrl-C to stop",
        err=True,
    )
    try:
        with signals_handled(session):
            session.run()
    finally:
        source.close()
    if session.broken_pipe:
        # The reader went away (`| head`): nothing more can be written, and Python must not
        # complain when it flushes standard output at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _user_name() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def _check_buffer_size(buffer_size: int) -> None:
    """The capture ring is locked in RAM: a ring the size of the machine's memory has the
    kernel's out-of-memory killer pick a victim, and on a database host that is the database.
    A quarter of the memory available now is far more than any burst needs."""
    available = _available_memory()
    if available is not None and buffer_size > available // 4:
        raise UserError(
            f"--buffer-size {buffer_size >> 20} MiB is more than a quarter of the memory "
            f"available on this machine ({available >> 20} MiB): the ring is locked in RAM; "
            "choose a smaller size"
        )


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


if __name__ == "__main__":  # pragma: no cover
    live_command()
