"""A sink factory that records everything the tracker hands over, for assertions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from capture import CaptureStats, Direction, StreamGap, TcpFacts, TcpTracker, TrackedConnection
from tests.craft import Packet, frame_tuples


class ConnectionRecord:
    """What one connection's sink received."""

    def __init__(self, connection: TrackedConnection) -> None:
        self.connection = connection
        self.data = [bytearray(), bytearray()]  # per Direction, gaps left out
        self.events: list[tuple[Any, ...]] = []  # ("data", direction, bytes, frame) / ("gap", gap)
        self.facts: TcpFacts | None = None
        self.close_calls = 0
        self.idle_calls: list[int] = []  # how many events had come at each `on_idle`

    @property
    def gaps(self) -> list[StreamGap]:
        return [event[1] for event in self.events if event[0] == "gap"]

    def on_data(self, direction: Direction, data: bytes, frame: int, ts: float) -> None:
        assert isinstance(data, bytes)
        self.data[direction] += data
        self.events.append(("data", direction, data, frame))

    def on_gap(self, gap: StreamGap) -> None:
        self.events.append(("gap", gap))

    def on_close(self, facts: TcpFacts) -> None:
        self.facts = facts
        self.close_calls += 1

    def on_idle(self) -> None:
        self.idle_calls.append(len(self.events))

    def stream(self, direction: Direction, fill: bytes = b"") -> bytes:
        """The direction's stream with each gap replaced by `fill` repeated to its size."""
        out = bytearray()
        for event in self.events:
            if event[0] == "data" and event[1] == direction:
                out += event[2]
            elif event[0] == "gap" and event[1].direction == direction:
                out += (fill * event[1].size)[: event[1].size] if fill else b""
        return bytes(out)


class Recorder:
    """Sink factory: one `ConnectionRecord` per connection, in creation order."""

    def __init__(self) -> None:
        self.connections: list[ConnectionRecord] = []

    def __call__(self, connection: TrackedConnection) -> ConnectionRecord:
        record = ConnectionRecord(connection)
        self.connections.append(record)
        return record

    @property
    def only(self) -> ConnectionRecord:
        assert len(self.connections) == 1, f"{len(self.connections)} connections"
        return self.connections[0]


def track(frames: Iterable[Packet], **options: Any) -> tuple[Recorder, CaptureStats]:
    """Feed crafted frames straight to a tracker, finish, and check nothing was lost."""
    recorder = Recorder()
    stats = CaptureStats()
    tuples = frame_tuples(frames)
    stats.frames = len(tuples)
    tracker = TcpTracker(recorder, stats, **options)
    tracker.run(tuples)
    tracker.finish()
    assert stats.unaccounted_frames() == 0, stats
    for record in recorder.connections:
        assert record.close_calls == 1
    return recorder, stats
