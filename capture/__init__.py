"""Capture layer: pcap/pcapng files into ordered per-connection TCP streams plus TCP facts.

Where things are:

* `readers.py` opens inputs (files, `-`, gzip/zstd) and merges them by time; `pcap.py` and
  `pcapng.py` are the two file formats.
* `linktypes.py` is the table of link types; `ip.py` and `fragments.py` the IPv4/IPv6 slow
  path (options, extension headers, fragment reassembly).
* `tracker.py` is the connection table and the per-frame hot loop; `tcp_reassembly.py` puts
  one direction's segments in order and finds the gaps.
* `facts.py` and `consumer.py` are the contract with the consumer; `stats.py` counts every
  frame (`_tally.py` batches the readers' counting); `errors.py` holds the one exception.

The layer knows nothing of MySQL. Typical use::

    stats = CaptureStats()
    track_files(["a.pcap.gz", "b.pcap.gz"], my_sink_factory, stats=stats)
"""

from __future__ import annotations

# Before any module of this package is imported: the compiled build, when current.
import mysqlwire.native  # noqa: F401  # isort: skip
import os
from collections.abc import Iterable, Sequence
from typing import Any, BinaryIO

from capture.consumer import ConnectionSink, SinkFactory, TrackedConnection
from capture.cursor import FrameCursor, RecordCursor, frames_of
from capture.errors import CaptureError
from capture.facts import (
    C2S,
    EVIDENCE_CAP,
    GAP_REASONS,
    S2C,
    ControlSegment,
    Direction,
    Endpoint,
    Retransmission,
    StreamGap,
    TcpFacts,
)
from capture.readers import Frame, open_frames, open_records
from capture.stats import CaptureFile, CaptureStats
from capture.tcp_reassembly import DEFAULT_RECENT_SEGMENTS, DEFAULT_REORDER_CAP
from capture.tracker import (
    DEFAULT_LINGER,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_SERVER_PORTS,
    Connection,
    TcpTracker,
)

__all__ = [
    "C2S",
    "DEFAULT_LINGER",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_RECENT_SEGMENTS",
    "DEFAULT_REORDER_CAP",
    "DEFAULT_SERVER_PORTS",
    "EVIDENCE_CAP",
    "GAP_REASONS",
    "S2C",
    "CaptureError",
    "CaptureFile",
    "CaptureStats",
    "Connection",
    "ConnectionSink",
    "ControlSegment",
    "Direction",
    "Endpoint",
    "Frame",
    "FrameCursor",
    "RecordCursor",
    "Retransmission",
    "SinkFactory",
    "StreamGap",
    "TcpFacts",
    "TcpTracker",
    "TrackedConnection",
    "frames_of",
    "open_frames",
    "open_records",
    "track_files",
]


def track_files(
    paths: Sequence[str | os.PathLike[str]],
    sink_factory: SinkFactory,
    *,
    stats: CaptureStats | None = None,
    server_ports: Iterable[int] | None = DEFAULT_SERVER_PORTS,
    stdin: BinaryIO | None = None,
    **tracker_options: Any,
) -> CaptureStats:
    """Read `paths` (merged by time, `"-"` for standard input) and drive `sink_factory` to
    the end of the capture: every connection's sink gets its bytes, gaps and `on_close`.

    `tracker_options` go to `TcpTracker` (linger, max_connections, reorder_cap, ...).
    Raises `CaptureError` for an input that cannot be read; returns the stats."""
    stats = stats if stats is not None else CaptureStats()
    records = open_records(paths, stats, stdin=stdin)
    tracker = TcpTracker(sink_factory, stats, server_ports=server_ports, **tracker_options)
    tracker.run_cursor(records)
    tracker.finish()
    return stats
