"""Half-open connections (a SYN, maybe its SYN-ACK or an RST, nothing else) are kept in a few
hundred bytes until they carry more, evicted before established connections, and handed over
with exactly the facts, in exactly the order, that a full `Connection` would have given."""

from __future__ import annotations

import tracemalloc

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capture import CaptureStats, TcpTracker
from tests.capture.recorder import Recorder, track
from tests.craft import ACK, RST, SYN, Packet, TcpSession, frame_tuples


class ClosingOrder(Recorder):
    """A Recorder that also notes the order of `on_close` calls."""

    def __init__(self) -> None:
        super().__init__()
        self.closed: list = []

    def __call__(self, connection):
        record = super().__call__(connection)
        on_close = record.on_close

        def closing(facts):
            self.closed.append(record)
            on_close(facts)

        record.on_close = closing
        return record


def run(frames: list[Packet], **options) -> tuple[ClosingOrder, CaptureStats, TcpTracker]:
    recorder = ClosingOrder()
    stats = CaptureStats()
    tuples = frame_tuples(frames)
    stats.frames = len(tuples)
    tracker = TcpTracker(recorder, stats, **options)
    tracker.run(tuples)
    tracker.finish()
    assert stats.unaccounted_frames() == 0
    return recorder, stats, tracker


def handed_over(recorder: ClosingOrder) -> list[tuple]:
    """What each sink received, in the order connections were handed over."""
    return [(r.facts, [tuple(e) for e in r.events]) for r in recorder.closed]


def syn_flood(count: int, *, answer: str = "", step: float = 0.0001) -> list[Packet]:
    frames = []
    for n in range(count):
        s = TcpSession(
            client=(f"172.16.{n >> 8 & 0xFF}.{n & 0xFF}", 1024 + n % 50000),
            server=("10.0.0.2", 3306),
            client_isn=n * 7919,
            start_ts=1_700_000_000.0 + n * step,
        )
        s.client_syn()
        if answer == "syn-ack":
            s.server_syn_ack()
        elif answer == "rst":
            s.server_rst()
        frames += s.frames
    return frames


def established(port: int = 40000, start_ts: float = 1_699_999_999.0) -> TcpSession:
    s = TcpSession(client=("10.9.9.9", port), server=("10.0.0.2", 3306), start_ts=start_ts)
    s.handshake()
    s.server_send(b"greeting")
    s.client_send(b"login")
    return s


# -- equivalence ---------------------------------------------------------------------------

EVENTS = [
    "syn",
    "syn",
    "syn-ack",
    "syn-ack",
    "client-ack",
    "client-data",
    "server-data",
    "client-rst",
    "server-rst",
    "client-fin",
    "server-fin",
    "wait",
    "new-syn",
]


def script(session: TcpSession, events: list[str]) -> None:
    """Play `events` on `session` (each appends at most one frame, or moves the clock)."""
    for event in events:
        if event == "syn":
            session.client_syn(seq=session.next_seq["client"] - 1 if session.frames else None)
        elif event == "new-syn":
            session.next_seq["client"] = (session.next_seq["client"] + 100_000) & 0xFFFFFFFF
            session.client_syn()
        elif event == "syn-ack":
            session.server_syn_ack(seq=(session.next_seq["server"] - 1) & 0xFFFFFFFF)
        elif event == "client-ack":
            session.client_ack()
        elif event == "client-data":
            session.client_send(b"select 1")
        elif event == "server-data":
            session.server_send(b"greeting")
        elif event == "client-rst":
            session.client_rst(with_ack=False)
        elif event == "server-rst":
            session.server_rst()
        elif event == "client-fin":
            session.client_fin()
        elif event == "server-fin":
            session.server_fin()
        elif event == "wait":
            session.wait(7.0)  # longer than the linger


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.sampled_from(EVENTS), min_size=1, max_size=8), min_size=1, max_size=4))
def test_compact_half_open_connections_change_nothing_a_consumer_sees(scripts):
    """Whatever the packets (SYNs, retransmissions, answers, resets, data, time passing), both
    modes hand over the same facts and the same bytes, in the same order."""
    frames: list[Packet] = []
    for index, events in enumerate(scripts):
        session = TcpSession(client=("10.0.0.1", 40000 + index), start_ts=1_700_000_000 + index)
        session.client_syn()
        script(session, events)
        frames += session.frames
    frames.sort(key=lambda p: p.ts)
    compact, compact_stats, _ = run(frames)
    eager, eager_stats, _ = run(frames, compact_handshakes=False)
    assert handed_over(compact) == handed_over(eager)
    assert compact_stats == eager_stats


def test_a_refused_attempt_lingers_compactly_and_is_handed_over_refused():
    frames = syn_flood(3, answer="rst")
    recorder, _, tracker = run(frames[:4])
    assert [r.facts.refused for r in recorder.closed] == [True, True]
    tracker = TcpTracker(Recorder(), CaptureStats())
    tracker.run(frame_tuples(frames))
    assert tracker.half_open_connections() == 3  # reset, lingering, still compact


# -- a flood -------------------------------------------------------------------------------


def test_a_syn_flood_makes_no_connection_objects_until_the_end():
    calls = []
    stats = CaptureStats()
    tracker = TcpTracker(lambda connection: calls.append(connection), stats)
    tracker.run(frame_tuples(syn_flood(2000, answer="syn-ack")))
    assert tracker.half_open_connections() == tracker.open_connections() == 2000
    assert calls == [] and stats.connections == 2000
    tracker.finish()
    assert len(calls) == 2000 and tracker.open_connections() == 0


def test_a_half_open_connection_costs_a_few_hundred_bytes():
    frames = frame_tuples(syn_flood(5000, answer="syn-ack"))
    tracker = TcpTracker(lambda connection: None, CaptureStats())
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    tracker.run(frames)
    per_connection = (tracemalloc.get_traced_memory()[0] - before) / 5000
    tracemalloc.stop()
    assert per_connection < 400, per_connection


def test_the_cap_evicts_half_open_connections_before_established_ones():
    real = established()
    flood = syn_flood(1000)
    recorder, stats, _ = run(real.frames + flood, max_connections=50)
    evicted = [r for r in recorder.closed if r.facts.evicted]
    assert len(evicted) == 1000 + 1 - 50
    assert all(r.facts.client.address.startswith("172.16.") for r in evicted)
    survivor = next(r for r in recorder.closed if r.facts.client.address == "10.9.9.9")
    assert not survivor.facts.evicted and survivor.data[0] == b"login"
    assert stats.connections_evicted == len(evicted)


def test_the_table_never_holds_more_than_the_cap():
    tracker = TcpTracker(lambda connection: None, CaptureStats(), max_connections=100)
    high = 0
    for frame in frame_tuples(syn_flood(3000, answer="syn-ack")):
        tracker.feed(frame)
        high = max(high, tracker.open_connections())
    assert high == 100


def test_the_handshake_completing_makes_it_a_connection_with_every_fact():
    s = TcpSession()
    s.client_syn()
    s.client_syn(seq=s.next_seq["client"] - 1)  # retransmitted
    s.server_syn_ack()
    s.client_ack()
    s.server_send(b"greeting")
    recorder, _ = track(s.frames)
    facts = recorder.only.facts
    assert facts.packets == (3, 2) and facts.syn.frame == 1 and facts.syn_ack.frame == 3
    assert facts.client_acked
    assert bytes(recorder.only.data[1]) == b"greeting"


def test_client_acked_tells_a_completed_handshake_from_a_syn_ack_left_unanswered():
    for answered in (False, True):
        s = TcpSession()
        s.client_syn()
        s.server_syn_ack()
        if answered:
            s.client_ack()
        recorder, _ = track(s.frames)
        assert recorder.only.facts.client_acked is answered


def test_a_scanner_reset_after_the_syn_ack_stays_compact():
    s = TcpSession()
    s.client_syn()
    s.server_syn_ack()
    s.client_rst(with_ack=False)
    tracker = TcpTracker(Recorder(), CaptureStats())
    tracker.run(frame_tuples(s.frames))
    assert tracker.half_open_connections() == 1
    recorder, _ = track(s.frames)
    facts = recorder.only.facts
    assert facts.rst_count == 1 and facts.rsts[0].direction == 0 and not facts.client_acked


def test_packets_after_a_reset_are_absorbed_while_it_lingers():
    s = TcpSession()
    s.client_syn()
    s.server_rst()
    s.segment("client", b"", flags=ACK)  # a stray late ACK
    recorder, _ = track(s.frames)
    assert len(recorder.connections) == 1
    assert recorder.only.facts.packets == (2, 1) and recorder.only.facts.refused


def test_a_new_syn_on_the_same_ports_after_a_refusal_is_a_new_attempt():
    s = TcpSession()
    s.client_syn()
    s.server_rst()
    s.wait(10)
    s.next_seq["client"] += 5000
    s.client_syn()
    recorder, _ = track(s.frames)
    assert [r.facts.refused for r in recorder.connections] == [True, False]


def test_a_syn_with_data_is_a_connection_at_once():
    s = TcpSession()
    s.segment("client", b"fast open", flags=SYN)
    tracker = TcpTracker(Recorder(), CaptureStats())
    tracker.run(frame_tuples(s.frames))
    assert tracker.half_open_connections() == 0 and tracker.open_connections() == 1


def test_rst_flags_alone_are_enough_to_end_an_attempt():
    s = TcpSession()
    s.client_syn()
    s.segment("server", b"", flags=RST)  # RST without ACK
    recorder, _ = track(s.frames)
    assert recorder.only.facts.rst_count == 1
