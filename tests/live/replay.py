"""Driving a `LiveSession` from prepared frames instead of a kernel ring, for tests."""

from __future__ import annotations

import io
from collections import deque

from capture import CaptureStats
from capture.live import KernelCounters
from capture.tracker import Frame
from mysqlwire.live import LiveOptions, LiveSession
from mysqlwire.pipeline import AnalysisOptions


class ReplaySource:
    """A frame source over prepared frames, one 'ring block' per `per_block` frames."""

    description = "replay"

    def __init__(self, frames: list[Frame], per_block: int = 4) -> None:
        self.stats = CaptureStats()
        self.blocks = deque(frames[i : i + per_block] for i in range(0, len(frames), per_block))
        self.counters = KernelCounters()

    def ready(self) -> bool:
        return bool(self.blocks)

    def wait(self, timeout: float) -> bool:
        return bool(self.blocks)

    def read_block(self) -> list[Frame]:
        if not self.blocks:
            return []
        block = self.blocks.popleft()
        self.stats.frames += len(block)
        return block

    def read_counters(self, now: float) -> KernelCounters:
        return self.counters


def replay_live(
    frames: list[Frame], fmt: str, session_class: type[LiveSession] = LiveSession
) -> str:
    """What `mysqlwire live --format fmt` prints for these frames, once every connection has
    lingered out and the session has finished."""
    clock = [frames[0][1]]
    out = io.StringIO()
    live = session_class(
        ReplaySource(frames, per_block=8),
        out,
        options=LiveOptions(fmt=fmt, interval=0.0, linger=1.0, interface="test0"),
        analysis=AnalysisOptions(),
        clock=lambda: clock[0],
    )
    while live.source.ready():
        live.step()
    clock[0] = frames[-1][1] + 10
    live.housekeeping(clock[0])
    live.finish()
    return out.getvalue()
