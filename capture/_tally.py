"""Per-file counters the readers keep in locals and hand to `CaptureStats` in batches.

Counting into the shared stats object on every frame would cost an attribute write per
frame; the readers instead count in local variables and call `flush` at every buffer refill
and when the file ends (or the consumer stops early), so the stats are never more than one
read chunk behind.
"""

from __future__ import annotations

from collections.abc import Callable

from capture.stats import CaptureFile, CaptureStats

DAMAGE_WARNINGS = 5  # damaged places described one by one per file; the rest are counted


class FileTally:
    __slots__ = (
        "close_input",
        "damaged",
        "file",
        "flushed_bytes",
        "flushed_frames",
        "label",
        "skipped_bytes",
        "stats",
    )

    def __init__(self, stats: CaptureStats, file: CaptureFile, label: str) -> None:
        self.stats = stats
        self.file = file
        self.label = label
        self.flushed_frames = 0
        self.flushed_bytes = 0
        self.close_input: Callable[[], None] | None = None
        self.damaged = 0  # damaged places the reader stepped over
        self.skipped_bytes = 0  # bytes it stepped over to find the next record

    def done(self) -> None:
        """The reader finished or was abandoned: say how much damage it stepped over, and
        close its input."""
        if self.damaged > DAMAGE_WARNINGS:
            self.stats.warn(
                f"{self.label}: {self.damaged - DAMAGE_WARNINGS:,} more damaged place(s) "
                f"stepped over ({self.skipped_bytes:,} bytes skipped in all)"
            )
            self.damaged = 0
        if self.close_input is not None:
            self.close_input()
            self.close_input = None

    def flush(
        self,
        frames: int,
        captured_bytes: int,
        first_ts: float,
        last_ts: float,
        linktype: int | None,
    ) -> None:
        """Account the file's totals so far; `linktype` when all its frames share one
        (classic pcap), None when the reader counts link types itself (pcapng)."""
        delta = frames - self.flushed_frames
        if delta <= 0:
            return
        stats = self.stats
        stats.frames += delta
        stats.bytes += captured_bytes - self.flushed_bytes
        self.file.frames += delta
        if linktype is not None:
            self.count_linktype(linktype, delta)
        if stats.first_ts is None or first_ts < stats.first_ts:
            stats.first_ts = first_ts
        if stats.last_ts is None or last_ts > stats.last_ts:
            stats.last_ts = last_ts
        self.flushed_frames = frames
        self.flushed_bytes = captured_bytes

    def count_linktype(self, linktype: int, frames: int) -> None:
        by_lt = self.stats.frames_by_linktype
        by_lt[linktype] = by_lt.get(linktype, 0) + frames

    def warn_damage(self, message: str, skipped: int = 0) -> None:
        """A damaged place in the file (the reader resynchronised, or stopped): the first few
        get a warning each, the rest a count at the end."""
        self.damaged += 1
        self.skipped_bytes += skipped
        if self.damaged <= DAMAGE_WARNINGS:
            self.stats.warn(f"{self.label}: {message}")

    def warn_truncated(self, byte_offset: int, what: str) -> None:
        self.stats.warn(
            f"{self.label}: truncated at byte {byte_offset} {what}; {self.file.frames} frames read"
        )
