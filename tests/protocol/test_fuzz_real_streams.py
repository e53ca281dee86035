"""The decoder against real traffic, damaged: the byte streams of every connection of the
captures in pcaps/ (read once with the capture layer), with bytes flipped, streams cut, chunks
dropped, repeated, swapped between the two sides, garbage inserted and gaps declared.

Whatever comes in, nothing raises, every event is well formed, and what the decoder holds
stays within its caps after every chunk. Bounded in time: a few hundred examples in CI,
`MYSQLWIRE_PROPERTY_SCALE=50` (say) for a long search."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capture import CaptureStats, TcpTracker, open_frames
from mysqlwire.protocol import MySQLDecoder
from mysqlwire.protocol import events as ev
from mysqlwire.protocol.command_phase import MAX_OUTSTANDING
from mysqlwire.protocol.constants import CLIENT, MAX_PAYLOAD, SERVER
from mysqlwire.protocol.fast_lane import LANE_BUFFER_MAX
from tests.protocol.test_properties import SCALE, retained

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
STREAM_CAP = 48 << 10  # bytes kept per connection: enough for every phase, fast to replay
RETAIN = 2048

Chunks = tuple[tuple[int, bytes], ...]


class _Streams:
    """A sink that keeps what one connection's two directions carried, chunk by chunk."""

    def __init__(self) -> None:
        self.chunks: list[tuple[int, bytes]] = []
        self.size = 0

    def on_data(self, direction, data, frame, ts) -> None:
        if self.size < STREAM_CAP:
            self.chunks.append((int(direction), bytes(data)))
            self.size += len(data)

    def on_gap(self, gap) -> None:
        pass

    def on_close(self, facts) -> None:
        pass


@cache
def real_streams() -> tuple[Chunks, ...]:
    """Every connection of every uncompressed capture in pcaps/, as (side, bytes) chunks."""
    connections: list[_Streams] = []
    for path in sorted(PCAPS.glob("*.pcap")) + sorted(PCAPS.glob("*.pcapng")):
        stats = CaptureStats()
        tracker = TcpTracker(
            lambda connection: connections.append(_Streams()) or connections[-1],
            stats,
            server_ports=None,
        )
        tracker.run(open_frames([path], stats))
        tracker.finish()
    return tuple(tuple(c.chunks) for c in connections if c.chunks)


def test_the_corpus_is_real_and_varied():
    streams = real_streams()
    assert len(streams) > 50
    assert sum(len(chunks) for chunks in streams) > 1000


mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1 << 16), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.integers(0, 1 << 16), st.integers(0, 1 << 16)),
    st.tuples(st.just("truncate"), st.integers(0, 1 << 16), st.just(0)),
    st.tuples(st.just("drop"), st.integers(0, 1 << 16), st.just(0)),
    st.tuples(st.just("repeat"), st.integers(0, 1 << 16), st.integers(1, 3)),
    st.tuples(st.just("swap"), st.integers(0, 1 << 16), st.just(0)),
    st.tuples(st.just("other_side"), st.integers(0, 1 << 16), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 16), st.binary(min_size=1, max_size=40)),
    st.tuples(st.just("length"), st.integers(0, 1 << 16), st.integers(0, 0xFFFFFF)),
    st.tuples(st.just("gap"), st.integers(0, 1 << 16), st.integers(1, 70_000)),
)


def mutate(chunks: Chunks, mutations: list[tuple]) -> list[tuple]:
    """Apply each mutation at the chunk it points to (modulo the count). Gaps are
    ("gap", side, size) items."""
    out: list[tuple] = list(chunks)
    for kind, where, arg in mutations:
        if not out:
            break
        index = where % len(out)
        item = out[index]
        if item[0] == "gap":
            continue
        side, data = item
        at = where % max(1, len(data))
        if kind == "flip" and data:
            out[index] = (side, data[:at] + bytes([data[at] ^ arg]) + data[at + 1 :])
        elif kind == "cut":  # one chunk becomes two
            split = arg % (len(data) + 1)
            out[index : index + 1] = [(side, data[:split]), (side, data[split:])]
        elif kind == "truncate":  # the stream ends here
            del out[index + 1 :]
            out[index] = (side, data[:at])
        elif kind == "drop":
            del out[index]
        elif kind == "repeat":
            out[index : index + 1] = [item] * (arg + 1)
        elif kind == "swap" and index + 1 < len(out):
            out[index], out[index + 1] = out[index + 1], out[index]
        elif kind == "other_side":
            out[index] = (SERVER if side == CLIENT else CLIENT, data)
        elif kind == "insert":
            out[index] = (side, data[:at] + arg + data[at:])
        elif kind == "length" and len(data) >= 3:  # a packet header announcing another size
            out[index] = (side, data[:at] + arg.to_bytes(3, "little") + data[at + 3 :])
        elif kind == "gap":
            out.insert(index, ("gap", side, arg))
    return out


def assert_well_formed(event: ev.Event, frame: int) -> None:
    assert isinstance(event, ev.Event)
    assert event.side in (CLIENT, SERVER)
    assert isinstance(event.frame, int) and 1 <= event.frame <= frame
    assert isinstance(event.ts, float) and math.isfinite(event.ts)
    if isinstance(event, ev.PacketEvent):
        assert 0 <= event.seq <= 255 and event.size >= 0 and event.wire_packets >= 1
    for field in dataclasses.fields(event):
        value = getattr(event, field.name)
        if isinstance(value, bytes | bytearray | memoryview):
            raise AssertionError(f"{type(event).__name__}.{field.name} holds raw bytes")
        if isinstance(value, str):
            assert len(value) <= MAX_PAYLOAD


def feed_items(decoder: MySQLDecoder, items: list[tuple]) -> Iterator[int]:
    """Feed each item (a chunk, or a ("gap", side, size) marker) as one frame, a second
    apart; yields the frame number after each, for the caller to look at the decoder."""
    for frame, item in enumerate(items, 1):
        if item[0] == "gap":
            decoder.receive_gap(item[1], item[2], frame, float(frame), 0, True)
        else:
            decoder.receive_data(item[0], item[1], frame, float(frame))
        yield frame


def survive(items: list[tuple], **options) -> None:
    decoder = MySQLDecoder(retain_limit=RETAIN, **options)
    frame = 0
    for frame in feed_items(decoder, items):
        for event in decoder.events():
            assert_well_formed(event, frame)
        assert not decoder.pending
        held = retained(decoder)
        for kind, size in held.items():
            if kind.startswith(("plain", "inner")):
                assert size <= RETAIN + 64, held
            elif kind.startswith("compressed"):
                assert size <= MAX_PAYLOAD + 7, held
            elif kind.startswith("held"):
                assert size <= 128, held
        assert held["exchanges"] <= MAX_OUTSTANDING
        assert held["lane"] <= LANE_BUFFER_MAX + 2 * RETAIN
    decoder.receive_eof(frame + 1, float(frame + 1))
    for event in decoder.events():
        assert_well_formed(event, frame + 1)


FUZZ = settings(
    max_examples=250 * SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(
    st.data(),
    st.lists(mutation, min_size=1, max_size=10),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_damaged_real_streams_never_raise_and_stay_bounded(
    data, mutations, start_seen, detail, lean
):
    streams = real_streams()
    chunks = streams[data.draw(st.integers(0, len(streams) - 1), label="connection")]
    survive(mutate(chunks, mutations), start_seen=start_seen, detail=detail, lean=lean)


@settings(max_examples=40 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.booleans())
def test_real_streams_joined_end_to_end_never_raise(data, start_seen):
    """Two connections' streams one after the other, as a capture that mixed up its 4-tuples
    (or a port reused without a SYN seen) would hand them over."""
    streams = real_streams()
    first, second = (streams[data.draw(st.integers(0, len(streams) - 1))] for _ in range(2))
    survive(list(first) + list(second), start_seen=start_seen, detail=True)
