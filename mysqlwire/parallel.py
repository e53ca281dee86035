"""`--jobs N`: the same analysis split across N processes by connection.

Every process reads the whole capture (reading is cheap) but tracks and decodes only the
connections whose endpoint pair hashes to its share (`TcpTracker(shard=...)`), which is where
the time goes. Each sends its reports back in batches, in the order it released them; the
parent merges the streams by the frame at which each connection was released, so output keeps
capture order, feeds the one summary, and sums the capture counters. Reports and summary are
those of a single process; only the order of connections released at the same frame may
differ.
"""

from __future__ import annotations

import dataclasses
import heapq
import multiprocessing
import os
import signal
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from capture import CaptureError, CaptureStats
from mysqlwire.report.connection_report import ConnectionReport

if TYPE_CHECKING:
    from mysqlwire.pipeline import AnalysisOptions, AnalysisResult, ReportCallback
from mysqlwire.report.summary import SummaryBuilder

BATCH = 256
# Counters each process keeps for its own connections only; all others are the same in every
# process, since each reads every frame.
PER_SHARD_COUNTERS = (
    "connections",
    "connection_frames",
    "connections_evicted",
    "after_eviction",
    "cut_by_snaplen",
)


def analyze_in_processes(
    paths: Sequence[str | os.PathLike[str]],
    options: AnalysisOptions,
    on_report: ReportCallback,
    stats: CaptureStats,
) -> AnalysisResult:
    """`pipeline.analyze` with `options.jobs` processes; fills `stats` in place."""
    from mysqlwire.pipeline import AnalysisResult, warn_about_snaplen

    jobs = options.jobs
    context = multiprocessing.get_context("fork")
    workers = []
    for index in range(jobs):
        receiving, sending = context.Pipe(duplex=False)
        shard_options = dataclasses.replace(
            options,
            jobs=1,
            progress=None,
            tracker_options={**options.tracker_options, "shard": (index, jobs)},
        )
        process = context.Process(
            target=_work, args=(list(paths), shard_options, sending), daemon=True
        )
        process.start()
        sending.close()
        workers.append((receiving, process))
    finals: list[CaptureStats] = []
    summary = SummaryBuilder()
    # Ctrl-C reaches the workers (same process group): each ends its input and reports what
    # it read. The parent keeps collecting so that the report is complete.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        streams = [_reports(receiving, finals) for receiving, _ in workers]
        for report in heapq.merge(
            *streams, key=lambda r: (r.released_at, r.release_rank, r.conn_id)
        ):
            summary.add(report)
            on_report(report)
    finally:
        signal.signal(signal.SIGINT, previous)
        for _, process in workers:
            if process.is_alive():
                process.terminate()
            process.join()
    merged = merge_stats(finals)
    warn_about_snaplen(merged)
    for field in dataclasses.fields(CaptureStats):
        setattr(stats, field.name, getattr(merged, field.name))
    return AnalysisResult(stats, summary.result())


def merge_stats(shards: list[CaptureStats]) -> CaptureStats:
    merged = dataclasses.replace(shards[0])
    for name in PER_SHARD_COUNTERS:
        setattr(merged, name, sum(getattr(s, name) for s in shards))
    merged.other_shard = 0
    for shard in shards[1:]:
        for warning in shard.warnings:
            merged.warn(warning)
    return merged


def _reports(receiving: Connection, finals: list[CaptureStats]) -> Iterator[ConnectionReport]:
    while True:
        try:
            kind, payload = receiving.recv()
        except EOFError:
            raise CaptureError("a worker process ended without finishing") from None
        if kind == "reports":
            yield from payload
        elif kind == "done":
            finals.append(payload)
            return
        else:
            raise CaptureError(payload)


def _work(paths: list[str], options, sending: Connection) -> None:
    from mysqlwire.pipeline import analyze

    batch: list[ConnectionReport] = []

    def collect(report: ConnectionReport) -> None:
        batch.append(report)
        if len(batch) >= BATCH:
            sending.send(("reports", batch[:]))
            batch.clear()

    try:
        stats = CaptureStats()
        analyze(paths, options, collect, stats=stats)
        sending.send(("reports", batch))
        sending.send(("done", stats))
    except CaptureError as exc:
        sending.send(("error", str(exc)))
    except Exception as exc:  # reported by the parent as one line
        sending.send(("error", f"internal error in a worker ({type(exc).__name__}: {exc})"))
    finally:
        sending.close()
