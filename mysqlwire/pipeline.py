"""The analysis pipeline: capture layer → MySQL decoder → recorder, one connection at a time.

`ConnectionAnalysis` is the capture layer's sink for one TCP connection: it feeds the decoder
and hands every event to the recorder (and, for `dump`, to an event callback). When the
connection closes it asks the recorder for the report and passes it on. This is the only module
that knows both the capture layer and the decoder; each stays testable alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from capture import (
    CaptureStats,
    Direction,
    Frame,
    StreamGap,
    TcpFacts,
    TcpTracker,
    frames_of,
    open_records,
)
from capture.consumer import CompiledSink, TrackedConnection
from mysqlwire import packed_state
from mysqlwire.collector import analysis_pace
from mysqlwire.protocol import MySQLDecoder
from mysqlwire.protocol.constants import MAX_PAYLOAD
from mysqlwire.protocol.events import Event
from mysqlwire.protocol.framing import DEFAULT_RETAIN_LIMIT
from mysqlwire.protocol.midstream import looks_like_greeting
from mysqlwire.report.connection_report import (
    DEFAULT_MAX_ALLOWED_PACKET,
    ConnectionRecorder,
    ConnectionReport,
)
from mysqlwire.report.summary import SummaryBuilder

DEFAULT_PORTS = frozenset({3306})

ReportCallback = Callable[[ConnectionReport], None]
EventCallback = Callable[[TcpFacts, Event], None]


@dataclass(slots=True)
class AnalysisOptions:
    server_ports: frozenset[int] | None = DEFAULT_PORTS  # None: every TCP connection
    max_allowed_packet: int = DEFAULT_MAX_ALLOWED_PACKET
    retain_limit: int = DEFAULT_RETAIN_LIMIT
    detail: bool = False  # one event per packet (dump)
    lean: bool = True  # no events for successful replies: the report does not need them
    jobs: int = 1  # processes sharing the connections (files only, not standard input)
    # Called with the capture counters every PROGRESS_EVERY frames (a progress bar).
    progress: Callable[[CaptureStats], None] | None = None
    tracker_options: dict[str, Any] = field(default_factory=dict)  # TcpTracker's keywords


class ConnectionAnalysis(CompiledSink):
    """The capture layer's sink for one connection."""

    __slots__ = (
        "connection", "decoder", "on_event", "on_report", "packed", "recorder", "started",
    )  # fmt: skip

    def __init__(
        self,
        connection: TrackedConnection,
        options: AnalysisOptions,
        on_report: ReportCallback,
        on_event: EventCallback | None = None,
    ) -> None:
        self.connection = connection
        facts = connection.facts
        self.decoder: MySQLDecoder | None = MySQLDecoder(
            detail=options.detail,
            start_seen=facts.role_source == "syn",  # the SYN opened it: greeting first
            retain_limit=options.retain_limit,
            lean=options.lean,
            large_packet_threshold=min(options.max_allowed_packet + 1, MAX_PAYLOAD),
        )
        self.recorder: ConnectionRecorder | None = ConnectionRecorder(options.max_allowed_packet)
        self.packed: bytes | None = None  # the two above, while the connection is idle
        self.on_report = on_report
        self.on_event = on_event
        self.started = False

    def on_data(self, direction: Direction, data: bytes, frame: int, ts: float) -> None:
        if not self.started:
            self.started = True
            direction = self._settle_roles(direction, data)
        decoder = self.decoder
        if decoder is None:
            decoder = self._unpack()
        decoder.receive_data(direction, data, frame, ts)
        self._drain(decoder)

    def on_gap(self, gap: StreamGap) -> None:
        decoder = self.decoder if self.decoder is not None else self._unpack()
        decoder.receive_gap(
            gap.direction, gap.size, gap.frame, gap.ts, gap.stream_offset, gap.size_known
        )
        self._drain(decoder)

    def on_close(self, facts: TcpFacts) -> None:
        decoder = self.decoder if self.decoder is not None else self._unpack()
        decoder.receive_eof(facts.last_frame, facts.last_ts)
        self._drain(decoder)
        assert self.recorder is not None
        self.on_report(self.recorder.finish(facts))

    def on_idle(self) -> None:
        """Silent for a while (see capture/tracker.py): keep the decoder and recorder packed,
        a few hundred bytes instead of several kilobytes, until the connection speaks. Packing
        is only a saving: if it fails, the state stays as it is."""
        if self.decoder is None or self.recorder is None:
            return  # packed already
        try:
            packed = packed_state.pack(self.decoder, self.recorder)
        except Exception:  # (a state the test suites never reached that will not pickle)
            return
        self.packed = packed
        self.decoder = self.recorder = None

    def _unpack(self) -> MySQLDecoder:
        assert self.packed is not None
        decoder, self.recorder = packed_state.unpack(self.packed)
        self.decoder, self.packed = decoder, None
        return decoder

    def _settle_roles(self, direction: Direction, data: bytes) -> Direction:
        """Without a SYN or a server port, the side that greets first is the server."""
        facts = self.connection.facts
        if (
            facts.role_source == "guess"
            and direction == Direction.CLIENT_TO_SERVER
            and looks_like_greeting(data)
        ):
            self.connection.swap_roles()
            return Direction.SERVER_TO_CLIENT
        return direction

    def _drain(self, decoder: MySQLDecoder) -> None:
        if not decoder.pending:
            return
        events = decoder.drain_events()
        if not events:
            return
        recorder = self.recorder  # (its method called directly: compiled, a native call)
        assert recorder is not None  # (set whenever the decoder is)
        on_event = self.on_event
        facts = self.connection.facts if on_event is not None else None
        for event in events:
            recorder.record(event)
            if on_event is not None:
                on_event(facts, event)  # type: ignore[arg-type]


@dataclass(slots=True)
class AnalysisResult:
    stats: CaptureStats
    summary: dict[str, object]


PROGRESS_EVERY = 50_000


def _reporting_progress(
    frames: Iterator[Frame], stats: CaptureStats, progress: Callable[[CaptureStats], None]
) -> Iterator[Frame]:
    for count, frame in enumerate(frames, 1):
        if not count % PROGRESS_EVERY:
            progress(stats)
        yield frame
    progress(stats)


def analyze(
    paths: Sequence[str | os.PathLike[str]],
    options: AnalysisOptions,
    on_report: ReportCallback,
    *,
    on_event: EventCallback | None = None,
    stdin: BinaryIO | None = None,
    stats: CaptureStats | None = None,
) -> AnalysisResult:
    """Analyse capture files end to end. Each connection's report goes to `on_report` as the
    connection closes (so output can stream); the summary comes back at the end.
    Raises `capture.CaptureError` when an input cannot be read at all."""
    stats = stats if stats is not None else CaptureStats()
    if options.jobs > 1 and on_event is None and stdin is None:
        from mysqlwire.parallel import analyze_in_processes

        return analyze_in_processes(paths, options, on_report, stats)
    summary = SummaryBuilder()

    def report(connection_report: ConnectionReport) -> None:
        summary.add(connection_report)
        on_report(connection_report)

    def open_connection(connection: TrackedConnection) -> ConnectionAnalysis:
        return ConnectionAnalysis(connection, options, report, on_event)

    tracker = TcpTracker(
        open_connection, stats, server_ports=options.server_ports, **options.tracker_options
    )
    records = open_records(paths, stats, stdin=stdin)
    with analysis_pace():
        try:
            if options.progress is None:
                tracker.run_cursor(records)
            else:
                tracker.run(_reporting_progress(frames_of(records), stats, options.progress))
        except KeyboardInterrupt:
            # Ctrl-C ends the input (`tcpdump -w - | mysqlwire analyze -`), not the report.
            stats.warn(f"interrupted: the report covers the {stats.frames:,} frames read")
        tracker.finish()
    if "shard" not in options.tracker_options:  # with --jobs, the parent warns with the total
        warn_about_snaplen(stats)
    return AnalysisResult(stats, summary.result())


def warn_about_snaplen(stats: CaptureStats) -> None:
    if stats.cut_by_snaplen:
        fix = (
            "capture with tcpdump -s 0, or, if the mirroring session truncates the packets it "
            "sends, raise its packet length"
            if stats.tunnelled
            else "capture with tcpdump -s 0"
        )
        stats.warn(
            f"{stats.cut_by_snaplen:,} frames were cut by the capture's snapshot length: "
            f"their missing bytes are reported as capture gaps ({fix})"
        )
