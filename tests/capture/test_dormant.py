"""A sleeping connection (capture/dormant.py) is its facts and sides packed out of the table,
woken by its next packet, the end of the capture or an eviction. Nothing a sink receives may
change: putting every connection to sleep after every frame of every real capture must give
the same calls, the same facts and the same counters as never putting one to sleep."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import fields, replace
from pathlib import Path

import pytest

from capture import C2S, S2C, CaptureStats, TcpTracker, open_records
from capture.tracker import IDLE_AFTER, IDLE_SWEEP_INTERVAL
from tests.capture.recorder import Recorder
from tests.craft import TcpSession, frame_tuples

ROOT = Path(__file__).resolve().parents[2]
PCAPS = sorted(
    path
    for path in (ROOT / "pcaps").iterdir()
    if path.name.endswith((".pcap", ".pcapng", ".pcap.gz"))
)
# The tracker's settings the equivalence runs with: the defaults, and caps small enough that
# connections are evicted, reorder buffers overflow and compare windows are short.
SETTINGS = {
    "defaults": {},
    "small_caps": {"max_connections": 3, "reorder_cap": 3000, "recent_segments": 2},
}
CORPUS = ROOT.parent / "shared" / "corpus"
MANIFEST = CORPUS / "MANIFEST.json"
CORPUS_ENTRIES = json.loads(MANIFEST.read_text()) if MANIFEST.is_file() else []


def put_to_sleep(tracker: TcpTracker) -> tuple[int, int]:
    """Every open connection that is awake, asleep now: how many were awake, how many went."""
    awake = slept = 0
    for conn in list(tracker._connections.values()):
        if not conn.closed and conn.dormant is None:
            awake += 1
            tracker._sleep(conn)
            slept += conn.dormant is not None
    return awake, slept


def frames_fed(tracker: TcpTracker, path: Path, stats: CaptureStats) -> Iterator[int]:
    """Feed the capture's frames to `tracker` one at a time, yielding each frame's number
    once it is fed."""
    cursor = open_records([path], stats)
    while cursor.advance():
        tracker.feed_record(
            cursor.buf, cursor.start, cursor.caplen, cursor.frame_no, cursor.ts,
            cursor.linktype, cursor.wire_len,
        )  # fmt: skip
        yield cursor.frame_no


def what_the_sinks_got(
    path: Path, ports: set[int] | None, sleepy: bool, settings: dict
) -> tuple[list, dict, list[int]]:
    """Every connection's sink calls and closing facts, the counters, and how many times an
    open connection was put to sleep and went. (No idle sweeps: they would drop compare
    windows only on the connections that happen to be awake.)"""
    recorder = Recorder()
    stats = CaptureStats()
    tracker = TcpTracker(recorder, stats, server_ports=ports, idle_after=math.inf, **settings)
    sleeps = [0, 0]
    for _frame in frames_fed(tracker, path, stats):
        if sleepy:
            awake, slept = put_to_sleep(tracker)
            sleeps[0] += awake
            sleeps[1] += slept
    tracker.finish()
    calls = [(r.events, r.facts, r.close_calls) for r in recorder.connections]
    counters = {f.name: getattr(stats, f.name) for f in fields(stats) if f.name != "warnings"}
    return calls, counters, sleeps


def assert_sleep_changes_nothing(path: Path, ports: set[int] | None, settings: dict) -> None:
    awake = what_the_sinks_got(path, ports, sleepy=False, settings=settings)
    sleepy = what_the_sinks_got(path, ports, sleepy=True, settings=settings)
    assert sleepy[:2] == awake[:2]
    put, went = sleepy[2]
    assert went == put  # (every state packs)
    assert went > 0 or not any(events for events, _facts, _closes in awake[0])


@pytest.mark.parametrize("settings", SETTINGS.values(), ids=SETTINGS.keys())
@pytest.mark.parametrize("path", PCAPS, ids=lambda p: p.name)
def test_sleeping_after_every_frame_changes_nothing(path: Path, settings: dict) -> None:
    assert_sleep_changes_nothing(path, None, settings)


@pytest.mark.corpus
@pytest.mark.skipif(not CORPUS_ENTRIES, reason=f"corpus not found at {CORPUS}")
@pytest.mark.parametrize("settings", SETTINGS.values(), ids=SETTINGS.keys())
@pytest.mark.parametrize("entry", CORPUS_ENTRIES, ids=lambda e: e["local"].split("/")[-1])
def test_sleeping_changes_nothing_on_third_party_captures(entry: dict, settings: dict) -> None:
    ports = {int(port) for port in re.findall(r"\d+", entry["server_ports"])}
    assert_sleep_changes_nothing(CORPUS / entry["local"], ports, settings)


# -- when a connection sleeps and what wakes it -------------------------------------------


def started(**options) -> TcpSession:
    s = TcpSession(**options)
    s.handshake()
    return s


def tracker_over(frames, **options) -> tuple[TcpTracker, Recorder, list]:
    recorder = Recorder()
    tracker = TcpTracker(recorder, CaptureStats(), **options)
    return tracker, recorder, frame_tuples(frames)


def test_an_idle_connection_sleeps_and_a_bare_ack_from_either_side_wakes_it() -> None:
    s = started()
    busy = started(client=("10.0.0.9", 41000), start_ts=s.ts)
    s.client_send(b"select 1")
    s.server_send(b"1")
    probes = []
    for sender in ("client", "server"):  # keep-alives: no payload, it falls asleep again
        s.wait(IDLE_AFTER + IDLE_SWEEP_INTERVAL)
        probes.append(s.client_ack() if sender == "client" else s.server_ack())
    s.wait(IDLE_AFTER + IDLE_SWEEP_INTERVAL)
    last = s.client_send(b"select 2")
    while busy.ts < s.ts + 1:  # the other connection runs the sweeps
        busy.wait(1.0)
        busy.client_send(b"ping")
    frames = sorted(s.frames + busy.frames, key=lambda p: p.ts)
    tracker, recorder, tuples = tracker_over(frames)
    asleep = {}  # frame number -> sleeping connections before it, and after it
    for frame in tuples:
        before = tracker.sleeping_connections()
        tracker.feed(frame)
        asleep[frame[0]] = (before, tracker.sleeping_connections())
    for probe in (*probes, last):
        assert asleep[frames.index(probe) + 1] == (1, 0)
    assert tracker.open_connections() == 2
    tracker.finish()
    record = recorder.connections[0]
    assert record.stream(C2S) == b"select 1select 2" and record.stream(S2C) == b"1"
    assert record.facts.packets == (5, 3) and record.facts.open_at_capture_end
    assert record.facts.last_frame == frames.index(last) + 1


def fallen_asleep(payload: bytes, **session: object) -> tuple[TcpTracker, Recorder]:
    """A connection that sent `payload` and went silent, asleep when a second connection's
    SYN ran the sweep."""
    s = started(**session)
    s.client_send(payload)
    s.wait(IDLE_AFTER + IDLE_SWEEP_INTERVAL)
    other = started(client=("10.0.0.9", 41000), start_ts=s.ts)
    tracker, recorder, frames = tracker_over(sorted(s.frames + other.frames, key=lambda p: p.ts))
    tracker.run(frames)
    assert tracker.sleeping_connections() == 1
    return tracker, recorder


def test_a_sleeping_connection_is_reported_whole_at_the_end_of_the_capture() -> None:
    tracker, recorder = fallen_asleep(b"hello", client_ttl=57)
    tracker.finish()
    facts = recorder.connections[0].facts
    assert facts.open_at_capture_end and facts.packets == (3, 1)
    assert facts.ttls == [{57: 3}, {63: 1}] and facts.syn.frame == 1
    assert recorder.connections[0].stream(C2S) == b"hello"


def test_the_cap_evicts_a_sleeping_connection_when_it_is_the_least_recently_active() -> None:
    sleeper = started()
    sleeper.client_send(b"select 1")
    sleeper.wait(IDLE_AFTER + IDLE_SWEEP_INTERVAL)
    busy = started(client=("10.0.0.9", 41000), start_ts=sleeper.ts)
    busy.client_send(b"select 2")
    third = started(client=("10.0.0.8", 42000), start_ts=busy.ts + 1)
    frames = sorted(sleeper.frames + busy.frames + third.frames, key=lambda p: p.ts)
    tracker, recorder, tuples = tracker_over(frames, max_connections=2)
    third_syn = frames.index(third.frames[0])
    tracker.run(tuples[:third_syn])
    assert tracker.sleeping_connections() == 1
    tracker.run(tuples[third_syn:])
    tracker.finish()
    evicted = [r for r in recorder.connections if r.facts.evicted]
    assert [r.facts.client.port for r in evicted] == [50000]
    assert evicted[0].stream(C2S) == b"select 1" and evicted[0].facts.packets == (3, 1)


def test_a_new_syn_on_a_sleeping_connections_ports_ends_it_as_if_it_were_awake() -> None:
    def reused(sleepy: bool) -> list:
        s = started()
        s.client_send(b"select 1")
        s.wait(IDLE_AFTER + IDLE_SWEEP_INTERVAL)
        s.client_syn(seq=9000)  # another ISN: a new connection on the same ports
        tracker, recorder, frames = tracker_over(
            s.frames, idle_after=IDLE_AFTER if sleepy else math.inf
        )
        tracker.run(frames)
        tracker.finish()
        return [(r.facts, r.events) for r in recorder.connections]

    first, second = reused(sleepy=True)
    assert first[0].superseded and not first[0].open_at_capture_end
    assert second[0].syn.seq == 9000
    assert reused(sleepy=False) == [first, second]


def test_segments_waiting_for_a_hole_sleep_and_wake_with_the_connection() -> None:
    s = started()
    lost = s.client_send(b"select 1;")
    s.client_send(b"select 2;")  # held until the first arrives
    s.frames.remove(lost)
    s.wait(IDLE_AFTER + IDLE_SWEEP_INTERVAL)
    other = started(client=("10.0.0.9", 41000), start_ts=s.ts)  # runs the sweep
    s.ts = other.ts
    s.retransmit(lost)
    tracker, recorder, frames = tracker_over(sorted(s.frames + other.frames, key=lambda p: p.ts))
    slept = []
    for frame in frames:
        tracker.feed(frame)
        slept.append(tracker.sleeping_connections())
    tracker.finish()
    assert max(slept) == 1
    assert recorder.connections[0].stream(C2S) == b"select 1;select 2;"
    assert recorder.connections[0].gaps == []


def test_a_sleeping_connection_holds_a_few_hundred_bytes() -> None:
    """What the tracker keeps of a real connection asleep (objects of several kilobytes
    awake): the packed bytes, a few hundred at most."""
    recorder = Recorder()
    stats = CaptureStats()
    tracker = TcpTracker(recorder, stats, server_ports=None, idle_after=math.inf)
    sizes = []
    for frame in frames_fed(tracker, ROOT / "pcaps" / "busy_mix.pcap", stats):
        if frame % 500 == 0:
            for conn in tracker._connections.values():  # as the idle sweep does first
                if conn.dormant is None:
                    for side in conn.sides:
                        side.forget_recent()
            put_to_sleep(tracker)
            sizes += [len(c.dormant) for c in tracker._connections.values() if c.dormant]
    tracker.finish()
    assert len(sizes) > 20
    assert sorted(sizes)[len(sizes) // 2] < 400  # (about 180 bytes)


def test_a_connection_that_will_not_pack_stays_awake() -> None:
    s = started()
    s.client_send(b"select 1")
    s.wait(IDLE_AFTER + IDLE_SWEEP_INTERVAL)
    s.client_send(b"select 2")
    tracker, recorder, frames = tracker_over(s.frames)
    tracker.run(frames[:-1])
    side = tracker._table[frames[0][3][26:38]]  # the client's side, by its 4-tuple
    side.recent.append(lambda: None)  # a state no test reached that will not pickle
    tracker.run(frames[-1:])
    assert tracker.sleeping_connections() == 0
    tracker.finish()
    assert recorder.only.stream(C2S) == b"select 1select 2"
    assert recorder.only.idle_calls == [1]  # (the sink was told all the same)


def test_a_closed_connection_lingering_after_a_silence_does_not_sleep() -> None:
    s = started()
    s.client_send(b"select 1")
    s.wait(IDLE_AFTER + IDLE_SWEEP_INTERVAL)
    s.client_fin()  # closed after the silence: its last payload is old
    s.server_fin()
    late = s.client_ack()
    busy = started(client=("10.0.0.9", 41000), start_ts=s.ts)
    while busy.ts < s.ts + 3 * IDLE_AFTER:  # the other connection runs the sweeps
        busy.wait(1.0)
        busy.client_send(b"ping")
    s.ts = busy.ts
    s.client_ack()  # a late ACK, still within the linger
    frames = sorted(s.frames + busy.frames, key=lambda p: p.ts)
    tracker, recorder, tuples = tracker_over(frames, linger=4 * IDLE_AFTER)
    asleep = []
    for frame in tuples:
        tracker.feed(frame)
        if frame[0] > frames.index(late):
            asleep.append(tracker.sleeping_connections())
    assert asleep and not any(asleep)
    tracker.finish()
    assert recorder.connections[0].facts.packets == (6, 2)


def test_a_pool_woken_by_keep_alives_for_hours_keeps_the_eviction_heap_bounded() -> None:
    pool = [started(client=("10.0.0.1", 40000 + n)) for n in range(20)]
    for s in pool:
        s.client_send(b"select 1")
    for _ in range(2 * 3600 // 15):  # keep-alive probes every 15 s, for two hours
        for s in pool:
            s.wait(15.0)
            s.client_ack()
            s.server_ack()
    frames = sorted((p for s in pool for p in s.frames), key=lambda p: p.ts)
    tracker, _recorder, tuples = tracker_over(frames)
    largest = most_asleep = 0
    for frame in tuples:
        tracker.feed(frame)
        largest = max(largest, len(tracker._activity))
        most_asleep = max(most_asleep, tracker.sleeping_connections())
    assert most_asleep >= len(pool) - 1  # (they do sleep between probes)
    assert largest <= 2 * len(pool) + 64 + 1


def test_a_sleeping_connections_facts_can_be_read_and_its_roles_cannot_be_swapped() -> None:
    tracker, recorder = fallen_asleep(b"select 1")
    connection = recorder.connections[0].connection
    asleep = connection.facts
    assert asleep == connection.facts and asleep is not connection.facts  # (a copy each time)
    with pytest.raises(RuntimeError):
        connection.swap_roles()
    tracker.finish()
    released = recorder.connections[0].facts
    assert released == replace(
        asleep,
        open_at_capture_end=True,
        released_at=released.released_at,
        release_rank=released.release_rank,
    )


def test_a_woken_connection_keeps_its_own_caps() -> None:
    s = started()
    s.client_send(b"select 1;")
    older = s.client_send(b"select 2;")
    s.client_send(b"select 3;")
    s.retransmit(older, b"select X;")  # older than the one segment the window keeps
    tracker, recorder, frames = tracker_over(s.frames, recent_segments=1, reorder_cap=100)
    tracker.run(frames[:4])
    assert put_to_sleep(tracker) == (1, 1)
    tracker.run(frames[4:])
    tracker.finish()
    facts = recorder.only.facts
    assert facts.unverified_retransmissions == (1, 0)
    assert facts.conflicting_retransmissions == (0, 0)
