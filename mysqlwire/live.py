"""The live session: kernel frames → tracker → decoder → one verdict line per connection.

`LiveSession` drives a frame source (`capture.live.LiveCapture`, or anything with its
`ready/wait/read_block/read_counters` surface, which is how the tests replay captures) through
the same `TcpTracker` + `ConnectionAnalysis` pipeline as `analyze`, and writes:

* as each connection is released (closed and lingered, evicted, or open at exit): a verdict
  line, or in jsonl exactly the `connection_record` of `analyze --format jsonl`;
* every `interval` seconds, on SIGUSR1 and at the end: a summary (in jsonl a `summary_record`
  whose `capture.interface_drops` holds the kernel's drops and whose `capture.warnings` say
  what the capture and the problem buffers lost).

Memory stays bounded for days: released connections are forgotten by the tracker, open ones
are capped (`max_connections`, least recently active evicted and reported), the summary keeps
per-client counters with a capped history (`LiveSummary`), and `ProblemCapture` buffers the
packets of open connections under a per-connection and a global cap.

Capture drops: a connection that was open while the kernel dropped packets gets a
`capture_gap` finding saying so (its verdict may rest on missing packets), besides the gaps the
tracker finds in its byte streams.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import stat
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol, TextIO

import click

from capture import CaptureStats, TcpFacts
from capture.consumer import TrackedConnection
from capture.live import (
    KernelCounters,
    LiveCaptureError,
    LiveTracker,
    RotatingPcapWriter,
    connection_keys,
    frame_key,
)
from capture.tracker import Frame
from mysqlwire.collector import analysis_pace
from mysqlwire.output.describe import format_ts
from mysqlwire.output.records import dumps
from mysqlwire.output.redact import redact_report
from mysqlwire.output.schema import connection_record, summary_record
from mysqlwire.pipeline import AnalysisOptions, ConnectionAnalysis
from mysqlwire.protocol.binary_values import shorten
from mysqlwire.report.connection_report import ConnectionReport
from mysqlwire.report.findings import Finding, worst_severity
from mysqlwire.report.summary import ClientTally, SummaryBuilder
from mysqlwire.report.verdicts import VERDICTS

DEFAULT_INTERVAL = 60.0
DEFAULT_MAX_CONNECTIONS = 10_000  # about 16 KB each when idle: ~160 MiB at the cap
DEFAULT_LINGER = 5.0
DEFAULT_PROBLEM_BUFFER = 1 << 20  # per open connection
DEFAULT_PROBLEM_BUFFER_TOTAL = 64 << 20
TICK = 0.25  # seconds between housekeeping turns (linger, drop counters, flushing)
BLOCKS_PER_TURN = 16  # ring blocks read before the clock is looked at again
CLOCK_SLACK = 0.25  # a quiet tracker's clock trails the wall clock by this (ring latency)
FRAME_OVERHEAD = 96  # bytes a buffered frame costs beyond its data (tuple, bytes header)
SPANS_KEPT = 64  # connection spans kept per client for the leak heuristic
CLIENTS_KEPT = 20_000  # client addresses tallied; the quietest tenth goes beyond it
OPEN_LISTED = 50  # connections still open at exit listed by the text summary
PROBLEM_SEVERITIES = ("warning", "error")
LINE_DETAIL = 160


class FrameSource(Protocol):
    """What the session reads: `capture.live.LiveCapture` is the real one."""

    stats: CaptureStats
    description: str

    def ready(self) -> bool: ...

    def wait(self, timeout: float) -> bool: ...

    def read_block(self) -> list[Frame]: ...

    def read_counters(self, now: float) -> KernelCounters: ...


@dataclass(slots=True)
class LiveOptions:
    fmt: str = "text"  # "text" or "jsonl"
    only_problems: bool = False
    interval: float = DEFAULT_INTERVAL  # 0: no periodic summary
    color: bool = False
    linger: float = DEFAULT_LINGER
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    interface: str = ""  # the name the kernel drops are reported under


# --- bounded summary ------------------------------------------------------------------------


@dataclass(slots=True)
class BoundedClientTally(ClientTally):
    """A client's tally whose span history is capped: `peak_floor` keeps the highest number
    of connections seen open at once among the spans already let go."""

    peak_floor: int = 0

    def max_open(self) -> int:
        return max(self.peak_floor, ClientTally.max_open(self))


class LiveSummary(SummaryBuilder):
    """`SummaryBuilder` for a run of days: each client keeps its last `SPANS_KEPT` spans, and
    at most `CLIENTS_KEPT` clients are tallied (clients that come and go, such as containers
    with fresh addresses, would otherwise grow it without end); beyond that the tenth that
    was quiet longest is forgotten and counted in `clients_forgotten`."""

    tally_factory = BoundedClientTally

    def __init__(self, clients_kept: int = CLIENTS_KEPT) -> None:
        SummaryBuilder.__init__(self)
        self.clients_kept = clients_kept
        self.clients_forgotten = 0

    def add(self, report: ConnectionReport) -> None:
        SummaryBuilder.add(self, report)
        tally = self.clients.get(report.real_client_ip)
        if isinstance(tally, BoundedClientTally) and len(tally.starts) > SPANS_KEPT:
            tally.peak_floor = tally.max_open()
            tally.drop_earliest(SPANS_KEPT // 2)
        if len(self.clients) > self.clients_kept:
            self._forget_quiet_clients()

    def _forget_quiet_clients(self) -> None:
        by_last_seen = sorted(
            self.clients,
            key=lambda ip: self.clients[ip].ends[-1] if self.clients[ip].ends else 0.0,
        )
        quiet = by_last_seen[: max(1, len(by_last_seen) // 10)]
        for ip in quiet:
            del self.clients[ip]
        self.clients_forgotten += len(quiet)


# --- problem capture ------------------------------------------------------------------------


class PacketBuffer:
    """One open connection's packets: the first ones (the handshake, who the client is) and
    the latest ones (how it ended); the middle is let go when the caps say so."""

    __slots__ = ("dropped", "head", "head_bytes", "keys", "tail", "tail_bytes")

    def __init__(self, keys: tuple[bytes, bytes]) -> None:
        self.keys = keys
        self.head: list[Frame] = []
        self.tail: deque[Frame] = deque()
        self.head_bytes = 0
        self.tail_bytes = 0
        self.dropped = 0

    def frames(self) -> list[Frame]:
        return [*self.head, *self.tail]


@dataclass(slots=True)
class ProblemCounters:
    connections_written: int = 0
    packets_written: int = 0
    connections_let_go: int = 0  # ended well: their packets were dropped
    incomplete_connections: int = 0  # written with packets missing (caps)
    dropped_connection_cap: int = 0  # packets let go by the per-connection cap
    dropped_total_cap: int = 0  # packets let go by the global cap


class ProblemCapture:
    """Keeps each open connection's packets until its verdict is known; writes those of the
    connections that ended with a warning or an error, forgets the others.

    `per_connection` bytes at most per connection (a quarter for its first packets, the rest
    for its latest), `total` bytes for all of them; when the total is reached the connection
    receiving a packet gives up its oldest non-initial packets, or the new packet if it has
    none. What the caps let go is counted in `counters`."""

    def __init__(
        self,
        writer: RotatingPcapWriter,
        per_connection: int = DEFAULT_PROBLEM_BUFFER,
        total: int = DEFAULT_PROBLEM_BUFFER_TOTAL,
    ) -> None:
        self.writer = writer
        self.per_connection = per_connection
        self.head_cap = per_connection // 4
        self.total = total
        self.buffered = 0
        self.by_key: dict[bytes, PacketBuffer] = {}
        self.by_conn: dict[int, PacketBuffer] = {}
        self.counters = ProblemCounters()

    def open(self, facts: TcpFacts) -> None:
        keys = connection_keys(facts.client.ip, facts.client.port, facts.server.ip,
                               facts.server.port)  # fmt: skip
        buffer = PacketBuffer(keys)
        self.by_conn[facts.conn_id] = buffer
        for key in keys:
            self.by_key[key] = buffer

    def add(self, frame: Frame) -> None:
        key = frame_key(frame[2], frame[3])
        buffer = self.by_key.get(key) if key is not None else None
        if buffer is None:
            return
        size = len(frame[3]) + FRAME_OVERHEAD
        self.buffered += size
        # (a flag, not `buffer.head[-1] is frame` below: the compiled build boxes a tuple
        # anew each time it is stored, so identity does not hold)
        to_head = not buffer.tail and buffer.head_bytes + size <= self.head_cap
        if to_head:
            buffer.head.append(frame)
            buffer.head_bytes += size
            if self.buffered <= self.total:
                return
        else:
            buffer.tail.append(frame)
            buffer.tail_bytes += size
            while buffer.head_bytes + buffer.tail_bytes > self.per_connection and buffer.tail:
                self._let_go(buffer)
                self.counters.dropped_connection_cap += 1
        while self.buffered > self.total and buffer.tail:
            self._let_go(buffer)
            self.counters.dropped_total_cap += 1
        if self.buffered > self.total and to_head:
            buffer.head.pop()
            buffer.head_bytes -= size
            self.buffered -= size
            buffer.dropped += 1
            self.counters.dropped_total_cap += 1

    def _let_go(self, buffer: PacketBuffer) -> None:
        size = len(buffer.tail.popleft()[3]) + FRAME_OVERHEAD
        buffer.tail_bytes -= size
        self.buffered -= size
        buffer.dropped += 1

    def close(self, report: ConnectionReport) -> int | None:
        """The connection's verdict is known: write its packets if it ended badly. Returns
        the packets written (None when none were)."""
        buffer = self.by_conn.pop(report.conn_id, None)
        if buffer is None:
            return None
        for key in buffer.keys:
            if self.by_key.get(key) is buffer:
                del self.by_key[key]
        self.buffered -= buffer.head_bytes + buffer.tail_bytes
        counters = self.counters
        if report.severity not in PROBLEM_SEVERITIES or report.not_mysql is not None:
            counters.connections_let_go += 1
            return None
        frames = buffer.frames()
        for frame in frames:
            self.writer.write_frame(frame)
        counters.connections_written += 1
        counters.packets_written += len(frames)
        if buffer.dropped:
            counters.incomplete_connections += 1
        return len(frames)

    def notes(self) -> list[str]:
        c = self.counters
        if not (c.dropped_connection_cap or c.dropped_total_cap):
            return []
        return [
            f"problem capture: the buffer caps let go {c.dropped_connection_cap:,} packet(s) "
            f"(per-connection cap) and {c.dropped_total_cap:,} (total cap); "
            f"{c.incomplete_connections:,} written connection(s) lack packets"
        ]


# --- lines ----------------------------------------------------------------------------------

MARKERS = {"error": ("ERROR", "red"), "warning": ("WARN", "yellow")}


def clock_time(ts: float | None) -> str:
    if ts is None:
        return "--:--:--.---"
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S.%f")[:-3]


def duration_text(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 3600:
        return f"{seconds:.0f}s"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"
    return f"{int(seconds // 86400)}d{int(seconds % 86400 // 3600):02d}h"


def identity(report: ConnectionReport) -> str:
    thread = report.thread_id if report.thread_id is not None else "-"
    user = report.user or ("?" if report.tls or report.mid_stream else "-")
    if report.database:
        user += f"@{report.database}"
    return f"{report.client_label} > {report.server}  thread {thread}  user {user}"


def problem_text(report: ConnectionReport) -> str:
    """What went wrong, in one clause: the worst warning/error finding, else the verdict's
    own reason (a verdict can be a problem without any finding, e.g. an RST without QUIT)."""
    main = report.main_finding
    if main is not None and main.severity in PROBLEM_SEVERITIES:
        return f"{main.kind}: {main.detail}"
    if VERDICTS[report.close].severity is not None:
        context = []
        if report.last_command:
            context.append(f"last {report.last_command}")
        if report.idle_before_close is not None:
            context.append(f"idle {report.idle_before_close:.3f}s before")
        return report.close_reason + (f" ({', '.join(context)})" if context else "")
    return ""


def verdict_line(report: ConnectionReport, *, color: bool = False) -> str:
    """One line per connection: when, marker, verdict, who, duration, who closed, and for a
    problem what went wrong. Problems are marked WARN/ERROR (and coloured on a terminal)."""
    marker, colour = MARKERS.get(report.severity or "", ("ok", None))
    if report.close == "still_open_at_capture_end":
        marker = "open"  # evicted by the cap while idle, or still open at the end
    line = (
        f"{clock_time(report.close_ts or report.end)}  {marker:<5}  {report.close:<25}  "
        f"{identity(report)}  {duration_text(report.duration)}  closed by {report.closed_by}"
    )
    if marker == "open":
        line += f"  | {report.close_reason}"
    elif marker != "ok":
        line += "  | " + shorten(problem_text(report).replace("\n", " "), LINE_DETAIL)
    if color and colour:
        return click.style(line, fg=colour, bold=colour == "red")
    return line


def open_line(report: ConnectionReport, now: float) -> str:
    idle = max(0.0, now - report.end)
    return (
        f"     {identity(report)}  open {duration_text(max(0.0, now - report.start))}, "
        f"idle {duration_text(idle)}, {report.commands} command(s)"
    )


# --- the session ----------------------------------------------------------------------------


class LiveSession:
    """Reads the source until `request_stop()`, then reports what is still open and the final
    summary. `run()` is the loop; `step()` is one turn of it, for tests."""

    def __init__(
        self,
        source: FrameSource,
        out: TextIO,
        *,
        options: LiveOptions | None = None,
        analysis: AnalysisOptions | None = None,
        writer: RotatingPcapWriter | None = None,
        problems: ProblemCapture | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.out = out
        self.options = options or LiveOptions()
        self.analysis = analysis or AnalysisOptions()
        self.writer = writer
        self.problems = problems
        self.clock = clock
        self.stats = source.stats
        self.summary = LiveSummary()
        self.tracker = LiveTracker(
            self._open_connection,
            self.stats,
            server_ports=self.analysis.server_ports,
            linger=self.options.linger,
            max_connections=self.options.max_connections,
        )
        self.started = clock()
        # The source's own cumulative counters: drops it notes while reading a block are
        # seen by the reports that follow, without waiting for the next housekeeping turn.
        self.counters = source.read_counters(self.started)
        self.next_summary = self.started + self.options.interval
        self.next_tick = self.started + TICK
        self.stopping = False
        self.summary_requested = False
        self.finished = False
        self.broken_pipe = False
        self.connections_hit_by_drops = 0
        self.write_errors: list[str] = []
        self.internal_errors = 0
        self.internal_error_kinds: list[str] = []
        self.day = ""
        self._at_exit: list[ConnectionReport] | None = None

    # -- control ------------------------------------------------------------------------------

    def request_stop(self) -> None:
        self.stopping = True

    def request_summary(self) -> None:
        self.summary_requested = True

    def run(self) -> None:
        """Capture until stopped (signal, broken pipe), then finish."""
        with analysis_pace():
            while not self.stopping:
                self.step()
            self.finish()

    def step(self) -> None:
        """One turn: wait for packets up to the next housekeeping time, feed what came,
        then do the housekeeping that is due."""
        source = self.source
        timeout = max(0.0, min(TICK, self.next_tick - self.clock()))
        if source.wait(timeout):
            for _ in range(BLOCKS_PER_TURN):
                frames = source.read_block()
                if not frames:
                    break
                self.feed(frames)
                if self.stopping:
                    break
        now = self.clock()
        if now >= self.next_tick or self.summary_requested:
            self.housekeeping(now)

    def feed(self, frames: list[Frame]) -> None:
        """Each frame to the tracker (and the writers). A frame that trips an internal error
        is reported and skipped: a capture meant to run for days does not end on one."""
        tracker = self.tracker  # (its method called directly: compiled, a native call)
        writer, problems = self.writer, self.problems
        if writer is None and problems is None:
            for frame in frames:
                try:
                    tracker.feed(frame)
                except Exception as exc:
                    self._internal_error(frame, exc)
            return
        for frame in frames:
            try:
                tracker.feed(frame)
            except Exception as exc:
                self._internal_error(frame, exc)
            if writer is not None:
                try:
                    writer.write_frame(frame)
                except OSError as exc:
                    self._writer_failed("--write", writer, exc)
                    writer = self.writer = None
            if problems is not None:
                problems.add(frame)

    def housekeeping(self, now: float) -> None:
        """Read the kernel's counters, release the connections whose linger is over (when no
        packets are waiting: a waiting packet may still belong to them), flush, summarise."""
        self.next_tick = now + TICK
        self.counters = self.source.read_counters(now)
        if not self.source.ready():
            self.tracker.advance(now - CLOCK_SLACK)
        for writer in (self.writer, self.problems.writer if self.problems else None):
            if writer is not None:
                try:
                    writer.flush()
                except OSError as exc:
                    self._writer_failed("the packet file", writer, exc)
        interval = self.options.interval
        if self.summary_requested or (interval > 0 and now >= self.next_summary):
            self.summary_requested = False
            self.next_summary = now + interval if interval > 0 else float("inf")
            self.write_summary(now, final=False)
        self._flush()

    def finish(self) -> None:
        """Report the connections still open, the final summary; close the files."""
        if self.finished:
            return
        self.finished = True
        now = self.clock()
        # Anything the ring still holds, then the lingering connections, then the open ones.
        while self.source.ready():
            frames = self.source.read_block()
            if not frames:
                break
            self.feed(frames)
        self.counters = self.source.read_counters(now)
        self._at_exit = []
        self.tracker.finish()
        self.write_summary(now, final=True)
        self._flush()
        for writer in (self.writer, self.problems.writer if self.problems else None):
            if writer is not None:
                with contextlib.suppress(OSError):
                    writer.close()

    # -- connections --------------------------------------------------------------------------

    def _open_connection(self, connection: TrackedConnection) -> ConnectionAnalysis:
        if self.problems is not None:
            self.problems.open(connection.facts)
        return ConnectionAnalysis(connection, self.analysis, self._report)

    def _report(self, report: ConnectionReport) -> None:
        self._attribute_drops(report)
        self.summary.add(report)
        if self.problems is not None:
            try:
                self.problems.close(report)
            except OSError as exc:
                self._writer_failed("--write-problems", self.problems.writer, exc)
                self.problems = None
        if report.not_mysql is not None:
            return
        still_open = report.close == "still_open_at_capture_end"
        if still_open and self._at_exit is not None and self.options.fmt == "text":
            self._at_exit.append(report)
            return
        if self.options.only_problems and report.severity not in PROBLEM_SEVERITIES:
            return
        if self.options.fmt == "jsonl":
            self._emit(dumps(connection_record(report)))
        else:
            self._date_line(report.close_ts or report.end)
            self._emit(verdict_line(report, color=self.options.color))

    def _attribute_drops(self, report: ConnectionReport) -> None:
        """The kernel dropped packets while this connection was open: say its verdict may
        rest on missing packets."""
        if not self.counters.windows:
            return
        drops = self.counters.drops_between(report.start, report.end)
        if not drops:
            return
        self.connections_hit_by_drops += 1
        report.findings.append(
            Finding(
                "capture_gap",
                "warning",
                None,
                None,
                f"the capture dropped {drops:,} packet(s) (kernel ring full) while this "
                "connection was open; its verdict and findings may miss them",
            )
        )
        report.severity = worst_severity([s for s in (report.severity, "warning") if s])

    # -- output -------------------------------------------------------------------------------

    def _emit(self, line: str) -> None:
        if self.broken_pipe:
            return
        try:
            self.out.write(line + "\n")
        except BrokenPipeError:
            self.broken_pipe = True
            self.stopping = True

    def _flush(self) -> None:
        if self.broken_pipe:
            return
        try:
            self.out.flush()
        except BrokenPipeError:
            self.broken_pipe = True
            self.stopping = True

    def _date_line(self, ts: float) -> None:
        day = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")
        if day != self.day:
            self.day = day
            self._emit(f"-- {day} (times UTC) --")

    def _internal_error(self, frame: Frame, exc: Exception) -> None:
        self.internal_errors += 1
        kind = f"{type(exc).__name__}: {exc}"
        if kind not in self.internal_error_kinds and len(self.internal_error_kinds) < 10:
            self.internal_error_kinds.append(kind)
            click.echo(
                f"mysqlwire: warning: internal error on packet {frame[0]} ({kind}); the "
                "capture goes on — please report it",
                err=True,
            )

    def _writer_failed(self, what: str, writer: RotatingPcapWriter, exc: OSError) -> None:
        message = f"cannot write {writer.paths[-1]} ({exc.strerror}): {what} stopped"
        self.write_errors.append(message)
        click.echo(f"mysqlwire: warning: {message}", err=True)
        with contextlib.suppress(OSError):
            writer.close()
        if writer is self.writer:
            self.writer = None
        elif self.problems is not None and writer is self.problems.writer:
            self.problems = None

    def notes(self) -> list[str]:
        """What a summary must say the capture lost, as warnings."""
        notes = []
        c = self.counters
        if c.drops:
            notes.append(
                f"the kernel dropped {c.drops:,} of {c.packets:,} packets that passed the filter "
                f"(ring full {c.queue_freezes:,} time(s)); {self.connections_hit_by_drops:,} "
                "connection(s) were open meanwhile: raise --buffer-size or narrow the filter"
            )
        if self.problems is not None:
            notes += self.problems.notes()
        if self.summary.clients_forgotten:
            notes.append(
                f"{self.summary.clients_forgotten:,} quiet client address(es) left the per-client "
                f"tallies (cap {self.summary.clients_kept:,}); the totals still count them"
            )
        if self.internal_errors:
            notes.append(
                f"{self.internal_errors:,} packet(s) hit an internal error and were skipped "
                f"({'; '.join(self.internal_error_kinds)})"
            )
        return notes + self.write_errors

    def live_stats(self) -> CaptureStats:
        """The stats as the jsonl summary carries them: kernel drops as interface drops, what
        was lost as warnings (a copy: the tracker keeps counting in the original)."""
        drops = dict(self.stats.interface_drops)
        drops[self.options.interface or "live"] = self.counters.drops
        return replace(
            self.stats, interface_drops=drops, warnings=[*self.stats.warnings, *self.notes()]
        )

    def write_summary(self, now: float, *, final: bool) -> None:
        result = self.summary.result()
        if self.options.fmt == "jsonl":
            self._emit(dumps(summary_record(result, self.live_stats())))
            return
        self._emit("")
        for line in self.summary_lines(result, now, final=final):
            self._emit(line)
        self._emit("")

    def summary_lines(self, result: dict[str, object], now: float, *, final: bool) -> list[str]:
        elapsed = duration_text(max(0.0, now - self.started))
        by_verdict = result["by_verdict"]
        assert isinstance(by_verdict, dict)
        if final:
            still_open = self._at_exit or []
            connections = result["connections"]
            assert isinstance(connections, int)
            head = (
                f"== final summary {format_ts(now)}, after {elapsed}: "
                f"{connections - len(still_open):,} connection(s) closed, "
                f"{len(still_open):,} still open"
            )
        else:
            head = (
                f"== summary {format_ts(now)}, after {elapsed}: "
                f"{self.tracker.still_open():,} open, {result['connections']:,} closed"
            )
        lines = [head]
        verdicts = ", ".join(f"{name} {count:,}" for name, count in by_verdict.items())
        lines.append(f"   verdicts: {verdicts or 'none yet'}")
        lines.append(
            f"   server counters this traffic raised: Aborted_clients "
            f"+{result['aborted_clients']}, Aborted_connects +{result['aborted_connects']}"
        )
        errors = result["errors_by_code"]
        assert isinstance(errors, list)
        if errors:
            lines.append(
                "   errors by code: "
                + ", ".join(
                    f"{e['code']}{' ' + e['name'] if e['name'] else ''} x{e['count']}"
                    for e in errors
                )
            )
        aborted = result["clients_by_aborted"]
        assert isinstance(aborted, list)
        if aborted:
            lines.append(
                "   clients by aborted connections: "
                + ", ".join(f"{c['client']} {c['aborted']} of {c['connections']}" for c in aborted)
            )
        leaks = result["leaking_clients"]
        assert isinstance(leaks, list)
        for leak in leaks:
            lines.append(f"   connection leak suspect {leak['client']}: {leak['detail']}")
        lines.append("   " + self._capture_text())
        if self.problems is not None:
            c = self.problems.counters
            writer = self.problems.writer
            files = list(writer.paths)
            where = files[-1] if len(files) == 1 else f"{files[0]} … {files[-1]}"
            if writer.sequence + 1 > len(files):  # rotation deleted the oldest files
                where += f" (the newest {len(files)} of {writer.sequence + 1} files)"
            lines.append(
                f"   problem capture {where}: {c.connections_written:,} "
                f"connection(s) written ({c.packets_written:,} packets), "
                f"{c.connections_let_go:,} that ended well let go"
            )
        if self.writer is not None:
            lines.append(
                f"   packets written to {self.writer.paths[-1]}: {self.writer.packets:,} in "
                f"{self.writer.sequence + 1} file(s)"
            )
        lines += [f"   warning: {note}" for note in [*self.stats.warnings, *self.notes()]]
        if final:
            still_open = self._at_exit or []
            if still_open:
                lines.append(f"   still open at exit ({len(still_open):,}):")
                lines += [open_line(report, now) for report in still_open[:OPEN_LISTED]]
                if len(still_open) > OPEN_LISTED:
                    lines.append(f"   ... and {len(still_open) - OPEN_LISTED:,} more")
        return lines

    def _capture_text(self) -> str:
        stats, c = self.stats, self.counters
        text = (
            f"capture: {stats.frames:,} packets on {self.options.interface or 'the source'}, "
            f"{stats.connections:,} TCP connection(s); kernel drops {c.drops:,}"
        )
        if stats.connections_evicted:
            text += (
                f"; {stats.connections_evicted:,} idle connection(s) evicted by the "
                "--max-connections cap"
            )
        ports = self.analysis.server_ports
        if stats.tcp_other_ports and not stats.connections and ports:
            # what --bpf lets through but the tracked server ports leave out
            text += (
                f"; {stats.tcp_other_ports:,} TCP packet(s) on other ports than "
                f"{', '.join(map(str, sorted(ports)))} skipped: pass --port N for the server's"
            )
        return text


# --- process set-up -------------------------------------------------------------------------


@contextlib.contextmanager
def signals_handled(session: LiveSession) -> Iterator[None]:
    """Ctrl-C and SIGTERM stop the session cleanly (final summary, exit 0); SIGUSR1 asks
    for a summary now."""
    handlers = {
        signal.SIGINT: lambda *_: session.request_stop(),
        signal.SIGTERM: lambda *_: session.request_stop(),
        signal.SIGUSR1: lambda *_: session.request_summary(),
    }
    previous = {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _permits(path: str, uid: int, gid: int, write: bool) -> bool:
    info = os.stat(path)
    if info.st_uid == uid:
        need = stat.S_IXUSR | (stat.S_IWUSR if write else 0)
    elif info.st_gid == gid:
        need = stat.S_IXGRP | (stat.S_IWGRP if write else 0)
    else:
        need = stat.S_IXOTH | (stat.S_IWOTH if write else 0)
    return info.st_mode & need == need


def _writable_by(directory: str, uid: int, gid: int) -> bool:
    """Whether a user (with no supplementary groups) can create files in `directory`: it
    must be writable and every directory above it searchable."""
    path = os.path.abspath(directory)
    if not _permits(path, uid, gid, write=True):
        return False
    while (parent := os.path.dirname(path)) != path:
        if not _permits(parent, uid, gid, write=False):
            return False
        path = parent
    return True


def drop_privileges(user: str, writers: Sequence[RotatingPcapWriter]) -> str | None:
    """Become `user` once the socket and the first files are open, like tcpdump -Z.

    Only when running as root. The open files are handed to the user; a writer that will
    create more files (rotation) needs a directory the user can write, checked here so the
    run fails now rather than at the first rotation. Returns a note for the user, if any."""
    if os.geteuid() != 0 or user == "root":
        return None
    try:
        account = pwd.getpwnam(user)
    except KeyError:
        return f"no user {user!r} on this system: still running as root"
    for writer in writers:
        directory = os.path.dirname(os.path.abspath(writer.base))
        if writer.rotate_bytes and not _writable_by(directory, account.pw_uid, account.pw_gid):
            raise LiveCaptureError(
                f"{writer.base} rotates into {directory}, which user {user} cannot write "
                f"once root privileges are dropped: choose a directory {user} can write, "
                "or pass --user root to keep them"
            )
        writer.give_to(account.pw_uid, account.pw_gid)
    os.setgroups([])
    os.setgid(account.pw_gid)
    os.setuid(account.pw_uid)
    return None


def stream_is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty() and "NO_COLOR" not in os.environ
    except (AttributeError, ValueError):
        return False


__all__ = [
    "DEFAULT_INTERVAL",
    "DEFAULT_LINGER",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_PROBLEM_BUFFER",
    "DEFAULT_PROBLEM_BUFFER_TOTAL",
    "FrameSource",
    "LiveOptions",
    "LiveSession",
    "LiveSummary",
    "ProblemCapture",
    "drop_privileges",
    "signals_handled",
    "stream_is_tty",
    "verdict_line",
]


class RedactingLiveSession(LiveSession):
    """`live --redact`: each connection's report has its literals hidden before anything is
    written or summed (output/redact.py)."""

    def _report(self, report: ConnectionReport) -> None:
        super()._report(redact_report(report))
