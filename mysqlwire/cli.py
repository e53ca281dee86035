"""The `mysqlwire` command line: `analyze` (verdicts and findings) and `dump` (packets).

Every user mistake and every unreadable input ends in one line on stderr and exit status 2;
`--fail-on` turns findings into exit status 1 for CI. No traceback reaches the user: an
unexpected internal error is reported in one line too, with a hint to file a bug.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import TextIO

import click

from capture import CaptureError, CaptureStats
from mysqlwire import native
from mysqlwire.cli_options import (
    EXIT_FINDINGS,
    UserError,
    max_allowed_packet_option,
    only_problems_option,
    port_option,
    redact_option,
    server_ports,
)
from mysqlwire.errorlog import ErrorLog, ErrorLogUnreadable, read_error_log
from mysqlwire.errorlog.join import DEFAULT_WINDOW, join_error_log
from mysqlwire.live_cli import live_command
from mysqlwire.output.dump import DumpWriter
from mysqlwire.output.records import JsonlWriter, write_json
from mysqlwire.output.redact import redact_report
from mysqlwire.output.table import write_table
from mysqlwire.pipeline import AnalysisOptions, AnalysisResult, analyze
from mysqlwire.report.attempts import LISTED_MAX as ATTEMPTS_LISTED_MAX
from mysqlwire.report.attempts import collapse as collapse_attempts
from mysqlwire.report.connection_report import ConnectionReport
from mysqlwire.report.findings import SEVERITY_RANK


class GuardedGroup(click.Group):
    """Keeps the promise that no traceback reaches the user, whatever the command."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except BrokenPipeError:
            sys.stderr.close()
            raise SystemExit(0) from None
        except KeyboardInterrupt:
            raise UserError("interrupted") from None
        except MemoryError:
            raise UserError("out of memory") from None
        except Exception as exc:
            raise UserError(
                f"internal error ({type(exc).__name__}: {exc}); please report it with the "
                "command and the capture"
            ) from None


@click.group(cls=GuardedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mysqlwire", message=f"%(prog)s %(version)s, {native.STATUS}")
def main() -> None:
    """Rebuild every MySQL conversation in a packet capture and say how each connection
    ended, who ended it, and the evidence (frames, timestamps, bytes)."""


capture_argument = click.argument("captures", nargs=-1, required=True, metavar="CAPTURE...")


@main.command("analyze")
@capture_argument
@port_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "jsonl", "json"]),
    default="table",
    show_default=True,
    help="Output format (jsonl/json: see docs/jsonl-schema.md).",
)
@max_allowed_packet_option
@only_problems_option
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warning", "never"]),
    default="never",
    show_default=True,
    help="Exit 1 when a connection has a finding or verdict at or above this severity.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the report to this file instead of standard output.",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Processes to share the connections between (0: one per CPU). Same results, in the "
    "same order; not for standard input.",
)
@click.option(
    "--error-log",
    "error_log_path",
    type=click.Path(dir_okay=False),
    help="The server's error log: explain each 'Aborted connection' line with the capture.",
)
@click.option(
    "--log-tz",
    default=None,
    metavar="ZONE",
    help="Time zone of log timestamps written without one (MariaDB); default: this machine's.",
)
@click.option(
    "--log-window",
    type=float,
    default=DEFAULT_WINDOW,
    show_default=True,
    metavar="SECONDS",
    help="How far apart log and capture times may be when no thread id matches.",
)
@redact_option
def analyze_command(
    captures: tuple[str, ...],
    ports: tuple[int, ...],
    fmt: str,
    max_allowed_packet: int,
    only_problems: bool,
    fail_on: str,
    output: str | None,
    jobs: int,
    error_log_path: str | None,
    log_tz: str | None,
    log_window: float,
    redact: bool,
) -> None:
    """Verdicts and findings for every MySQL connection in CAPTURE... (pcap, pcapng, .gz;
    several files are merged by time; '-' reads standard input)."""
    options = AnalysisOptions(
        server_ports=server_ports(ports),
        max_allowed_packet=max_allowed_packet,
        jobs=jobs or os.cpu_count() or 1,
    )
    log = _read_error_log(error_log_path, log_tz) if error_log_path else None
    reports: list[ConnectionReport] = []
    # Connections that never got past the TCP handshake are held back: listed one by one only
    # if there are few (report/attempts.py), otherwise only counted in the summary.
    attempts: list[ConnectionReport] = []
    attempt_count = [0]
    worst = [-1]
    # jsonl streams each connection as it ends, unless the error log must be joined first:
    # a log line can only be placed once every connection is known.
    streaming = fmt == "jsonl" and log is None
    captures = _distinct_inputs(captures)
    inputs = (*captures, error_log_path) if error_log_path else captures
    with LazyOutput(output, inputs) as out:
        writer = JsonlWriter(out, only_problems)

        def on_report(report: ConnectionReport) -> None:
            if redact:
                report = redact_report(report)
            if report.not_mysql is None and report.severity is not None:
                worst[0] = max(worst[0], SEVERITY_RANK[report.severity])
            if report.tcp_attempt is not None:
                attempt_count[0] += 1
                if attempt_count[0] <= ATTEMPTS_LISTED_MAX:
                    attempts.append(report)
                else:
                    attempts.clear()
            elif streaming:
                writer.connection(report)
            else:
                reports.append(report)

        result = _run(captures, options, on_report)
        _require_mysql(result, options)
        summary = result.summary
        if attempt_count[0] > ATTEMPTS_LISTED_MAX:
            summary = collapse_attempts(summary)
        elif streaming:
            for report in attempts:
                writer.connection(report)
        else:
            reports += attempts
        joined = join_error_log(log, reports, log_window) if log is not None else None
        log_summary = joined.summary() if joined is not None else None
        if fmt == "jsonl":
            for report in reports:
                writer.connection(report)
            writer.finish(summary, result.stats, log_summary)
        elif fmt == "json":
            write_json(out, reports, summary, result.stats, only_problems, log_summary)
        else:
            write_table(
                out,
                reports,
                summary,
                result.stats,
                only_problems=only_problems,
                error_log=joined,
            )
    _warn(result.stats)
    if fail_on != "never" and worst[0] >= SEVERITY_RANK[fail_on]:
        sys.exit(EXIT_FINDINGS)


def _read_error_log(path: str, tz: str | None) -> ErrorLog:
    try:
        return read_error_log(path, tz=tz)
    except ErrorLogUnreadable as exc:
        raise UserError(str(exc)) from None
    except (ValueError, LookupError) as exc:  # an unknown time zone name
        raise UserError(f"--log-tz: {exc}") from None


@main.command("dump")
@capture_argument
@port_option
@click.option(
    "--format", "fmt", type=click.Choice(["text", "jsonl"]), default="text", show_default=True
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write to this file instead of standard output.",
)
@redact_option
def dump_command(
    captures: tuple[str, ...], ports: tuple[int, ...], fmt: str, output: str | None, redact: bool
) -> None:
    """One line per logical MySQL packet: frame, time, connection, direction, sequence id,
    length, decoded type and text."""
    options = AnalysisOptions(server_ports=server_ports(ports), detail=True)
    captures = _distinct_inputs(captures)
    with LazyOutput(output, captures) as out:
        writer = DumpWriter(out, fmt, redact=redact)
        result = _run(captures, options, lambda report: None, on_event=writer.event)
        _require_mysql(result, options)
    _warn(result.stats)


def _run(
    captures: tuple[str, ...],
    options: AnalysisOptions,
    on_report: Callable[[ConnectionReport], None],
    **kwargs: object,
) -> AnalysisResult:
    stats = CaptureStats()
    with _progress_bar(captures, options) as bar:
        try:
            return analyze(
                list(captures),
                options,
                on_report,
                stats=stats,
                stdin=sys.stdin.buffer if "-" in captures else None,
                **kwargs,
            )  # type: ignore[arg-type]
        except CaptureError as exc:
            raise UserError(str(exc)) from None
        finally:
            del bar


PROGRESS_MIN_BYTES = 64 << 20
RECORD_OVERHEAD = 16  # a pcap record header; pcapng blocks are a little larger


@contextlib.contextmanager
def _progress_bar(captures: tuple[str, ...], options: AnalysisOptions) -> Iterator[object]:
    """A progress bar on stderr for large uncompressed files, when stderr is a terminal."""
    sizes = []
    for path in captures:
        try:
            with open(path, "rb") as handle:
                compressed = handle.read(4)[:2] in (b"\x1f\x8b", b"\x28\xb5")
            sizes.append(-1 if compressed else os.path.getsize(path))
        except OSError:
            sizes.append(-1)
    total = sum(sizes)
    if not sys.stderr.isatty() or options.jobs > 1 or min(sizes) < 0 or total < PROGRESS_MIN_BYTES:
        yield None
        return
    with click.progressbar(
        length=total, file=sys.stderr, label="reading", show_eta=True, show_percent=True
    ) as bar:
        done = [0]

        def advance(stats: CaptureStats) -> None:
            position = min(total, stats.bytes + RECORD_OVERHEAD * stats.frames)
            bar.update(position - done[0])
            done[0] = position

        options.progress = advance
        try:
            yield bar
            bar.update(total - done[0])  # the file headers the estimate leaves out
        finally:
            options.progress = None


def _require_mysql(result: AnalysisResult, options: AnalysisOptions) -> None:
    summary = result.summary
    if summary["connections"]:
        return
    stats = result.stats
    ports = (
        "any port"
        if options.server_ports is None
        else "port " + ", ".join(map(str, sorted(options.server_ports)))
    )
    if not stats.frames:
        raise UserError("the capture holds no packets")
    other = summary["not_mysql"]
    assert isinstance(other, dict)
    if other["connections"]:
        kinds = ", ".join(other["by_protocol"])
        hint = ""
        if any(kind.startswith("mysqlx") for kind in other["by_protocol"]):
            hint = (
                "; mysqlwire decodes the classic protocol, not the X protocol (port 33060): "
                "capture the classic port (3306) instead"
            )
        raise UserError(
            f"no MySQL traffic found on {ports}: {other['connections']} "
            f"connection(s) there speak something else ({kinds}){hint}"
        )
    hints = []
    if stats.unsupported_linktype:
        kinds = ", ".join(f"DLT {dlt}" for dlt in sorted(stats.unsupported_linktype))
        hints.append(
            f"{sum(stats.unsupported_linktype.values()):,} frames have a link type "
            f"mysqlwire cannot read ({kinds})"
        )
    if stats.tcp_other_ports:
        hints.append(
            f"{stats.tcp_other_ports:,} TCP frames on other ports were skipped — if "
            "the server listens elsewhere, pass --port N (or --port any)"
        )
    hint = "; " + "; ".join(hints) if hints else ""
    raise UserError(f"no MySQL traffic found on {ports} in {stats.frames:,} frames{hint}")


def _warn(stats: CaptureStats) -> None:
    for warning in stats.warnings:
        click.echo(f"mysqlwire: warning: {warning}", err=True)


class LazyOutput:
    """Standard output, or FILE opened at the first write. At the end FILE holds this run's
    output and nothing else: a run that fails before it has anything to say leaves it empty,
    never an earlier run's report that a CI job would read as this one's."""

    def __init__(self, path: str | None, inputs: tuple[str, ...] = ()) -> None:
        self.path = path
        self.handle: TextIO | None = None if path is not None else sys.stdout
        if path is not None:
            _refuse_to_overwrite_an_input(path, inputs)

    def write(self, text: str) -> int:
        if self.handle is None:
            self.handle = self._open()
        return self.handle.write(text)

    def flush(self) -> None:
        if self.handle is not None:
            self.handle.flush()

    def _open(self) -> TextIO:
        try:
            return open(self.path, "w", encoding="utf-8")  # type: ignore[arg-type]
        except OSError as exc:
            raise UserError(f"cannot write {self.path}: {exc.strerror}") from None

    def __enter__(self) -> LazyOutput:
        return self

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        if self.handle is None:  # nothing was written: empty the file all the same
            try:
                self.handle = self._open()
            except UserError:
                if exc_type is None:
                    raise
                return  # the run's own error says more
        if self.handle is not sys.stdout:
            self.handle.close()


def _refuse_to_overwrite_an_input(path: str, inputs: tuple[str, ...]) -> None:
    for each in inputs:
        if each == "-":
            continue
        with contextlib.suppress(OSError):
            if os.path.samefile(path, each):
                raise UserError(f"-o {path} is also an input: writing the report would destroy it")


def _distinct_inputs(captures: tuple[str, ...]) -> tuple[str, ...]:
    """Each file once: overlapping globs over rotated files name some twice, and reading a
    file twice would turn every packet into a retransmission of itself."""
    kept: list[str] = []
    seen: set[tuple[int, int]] = set()
    for path in captures:
        try:
            info = os.stat(path)
        except OSError:
            kept.append(path)  # the reader reports it
            continue
        identity = (info.st_dev, info.st_ino)
        if path != "-" and identity in seen:
            click.echo(f"mysqlwire: warning: {path} was given more than once: read once", err=True)
            continue
        seen.add(identity)
        kept.append(path)
    return tuple(kept)


main.add_command(live_command)

if __name__ == "__main__":  # pragma: no cover
    main()
