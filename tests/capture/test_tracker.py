"""The connection table: roles, lifecycle facts, port reuse, lingering, eviction."""

from __future__ import annotations

import random

import pytest

from capture import C2S, S2C, CaptureStats, TcpTracker
from capture.tracker import IDLE_AFTER, IDLE_SWEEP_INTERVAL
from tests.capture.recorder import Recorder, track
from tests.craft import ACK, RST, SYN, TcpSession, frame_tuples


def started(**options) -> TcpSession:
    s = TcpSession(**options)
    s.handshake()
    return s


# -- roles ------------------------------------------------------------------------------


def test_the_syn_sender_is_the_client_whatever_the_ports():
    s = started(client=("10.0.0.1", 3306), server=("10.0.0.2", 50000))
    s.client_send(b"hi")
    recorder, _ = track(s.frames)
    facts = recorder.only.facts
    assert (facts.role_source, facts.client.port, facts.server.port) == ("syn", 3306, 50000)
    assert not facts.mid_stream
    assert facts.syn.frame == 1 and facts.syn_ack.frame == 2


def test_a_syn_ack_without_its_syn_still_names_the_client():
    s = started()
    s.drop(s.frames[0])
    recorder, _ = track(s.frames)
    facts = recorder.only.facts
    assert (facts.role_source, str(facts.client)) == ("syn", "10.0.0.1:50000")


def test_without_a_syn_the_server_port_decides():
    s = started()
    s.frames.clear()
    s.server_send(b"first word from the server")
    recorder, _ = track(s.frames)
    facts = recorder.only.facts
    assert (facts.role_source, facts.server.port, facts.mid_stream) == ("port", 3306, True)
    assert bytes(recorder.only.data[S2C]) == b"first word from the server"


def test_with_no_usable_port_the_first_sender_is_guessed_client_and_can_be_swapped():
    s = started(client=("10.0.0.1", 50000), server=("10.0.0.2", 13306))
    s.frames.clear()
    s.server_send(b"greeting")
    s.client_send(b"login")

    swapped = []

    def factory(connection):
        record = recorder(connection)
        if connection.facts.role_source == "guess":
            connection.swap_roles()
            swapped.append(connection.facts.role_source)
        return record

    recorder = Recorder()
    stats = CaptureStats()
    tracker = TcpTracker(factory, stats, server_ports=None)
    tracker.run(frame_tuples(s.frames))
    tracker.finish()
    facts = recorder.only.facts
    assert swapped == ["guess"]
    assert (str(facts.client), str(facts.server)) == ("10.0.0.1:50000", "10.0.0.2:13306")
    assert bytes(recorder.only.data[S2C]) == b"greeting"
    assert bytes(recorder.only.data[C2S]) == b"login"
    assert facts.packets == (1, 1)


def test_swap_roles_after_data_moves_every_per_direction_fact():
    s = started()
    s.frames.clear()
    s.server_send(b"greeting", ttl=50)
    s.client_send(b"login", ttl=60)

    class SwapOnSecondSegment:
        def __init__(self, connection):
            self.connection = connection
            self.seen = []

        def on_data(self, direction, data, frame, ts):
            self.seen.append((direction, data))
            if len(self.seen) == 1:
                self.connection.swap_roles()

        def on_gap(self, gap):
            pass

        def on_close(self, facts):
            self.facts = facts

    sinks = []
    tracker = TcpTracker(
        lambda c: sinks.append(SwapOnSecondSegment(c)) or sinks[-1], server_ports=None
    )
    tracker.run(frame_tuples(s.frames))
    tracker.finish()
    (sink,) = sinks
    # Guessed client 10.0.0.2 (first sender); after the swap 10.0.0.1 is the client.
    assert sink.seen == [(C2S, b"greeting"), (C2S, b"login")]
    assert str(sink.facts.client) == "10.0.0.1:50000"
    assert sink.facts.ttls == [{60: 1}, {50: 1}]
    assert sink.facts.payload_bytes == (5, 8)


def test_roles_decided_by_the_syn_cannot_be_swapped():
    s = started()

    def factory(connection):
        with pytest.raises(RuntimeError):
            connection.swap_roles()

    tracker = TcpTracker(factory)
    tracker.run(frame_tuples(s.frames))
    tracker.finish()


def test_server_ports_none_tracks_every_connection():
    s = started(server=("10.0.0.2", 8080))
    recorder, stats = track(s.frames, server_ports=None)
    assert len(recorder.connections) == 1
    assert stats.tcp_other_ports == 0


def test_a_factory_returning_none_leaves_the_connection_only_counted():
    s = started()
    s.client_send(b"ignored")
    stats = CaptureStats(frames=len(s.frames))
    tracker = TcpTracker(lambda connection: None, stats)
    tracker.run(frame_tuples(s.frames))
    tracker.finish()
    assert stats.connections == 1
    assert stats.connection_frames == len(s.frames)


# -- lifecycle facts --------------------------------------------------------------------


def test_fin_and_rst_keep_sender_frame_ttl_window_flags_and_ack():
    s = started()
    s.client_send(b"q")
    fin = s.client_fin(ttl=64, window=1000)
    rst = s.server_rst(ttl=250, window=0, with_ack=False)
    recorder, _ = track(s.frames)
    facts = recorder.only.facts
    (f,) = facts.fins
    (r,) = facts.rsts
    assert (f.kind, f.direction, f.frame, f.ttl, f.window, f.has_ack, f.stream_offset) == (
        "FIN",
        C2S,
        s.number(fin),
        64,
        1000,
        True,
        1,
    )
    assert (r.kind, r.direction, r.frame, r.ttl, r.window, r.has_ack, r.flags) == (
        "RST",
        S2C,
        s.number(rst),
        250,
        0,
        False,
        RST,
    )
    assert [c.kind for c in facts.closes()] == ["FIN", "RST"]
    assert (facts.fin_count, facts.rst_count) == (1, 1)
    assert 250 not in facts.ttls[S2C]  # RSTs are kept out of the TTL profile


def test_every_fin_and_rst_is_counted_even_past_the_evidence_cap():
    s = started()
    for _ in range(40):
        s.client_rst(seq=1001)
    recorder, _ = track(s.frames)
    facts = recorder.only.facts
    assert facts.rst_count == 40
    assert len(facts.rsts) == 16


def test_ttls_are_counted_per_sender():
    s = started(client_ttl=64, server_ttl=57)
    s.client_send(b"a")
    s.client_send(b"b", ttl=63)
    recorder, _ = track(s.frames)
    assert recorder.only.facts.ttls == [{64: 3, 63: 1}, {57: 1}]


def test_zero_windows_are_counted_with_evidence():
    s = started()
    s.server_send(b"x" * 10)
    zero = s.client_ack(window=0)
    s.client_ack(window=0)
    recorder, _ = track(s.frames)
    facts = recorder.only.facts
    assert facts.zero_window_count == (2, 0)
    assert facts.zero_windows[0].frame == s.number(zero)


def test_syn_answered_by_rst_is_refused():
    s = TcpSession()
    s.client_syn()
    s.server_rst(ack=1001)
    recorder, _ = track(s.frames)
    facts = recorder.only.facts
    assert facts.refused
    assert facts.syn_ack is None


def test_rst_after_an_established_handshake_is_not_refused():
    s = started()
    s.server_rst()
    recorder, _ = track(s.frames)
    assert not recorder.only.facts.refused


def test_connection_without_fin_or_rst_is_open_at_capture_end():
    s = started()
    s.client_send(b"idle")
    recorder, _ = track(s.frames)
    assert recorder.only.facts.open_at_capture_end


def test_half_closed_connection_is_still_open_at_capture_end():
    s = started()
    s.client_fin()
    recorder, _ = track(s.frames)
    assert recorder.only.facts.open_at_capture_end


def test_closed_connection_is_not_open_at_capture_end():
    s = started()
    s.client_fin()
    s.server_fin()
    recorder, _ = track(s.frames)
    assert not recorder.only.facts.open_at_capture_end


# -- port reuse -------------------------------------------------------------------------


def test_a_new_syn_on_a_closed_four_tuple_starts_a_new_connection():
    s = started()
    s.client_send(b"first life")
    s.client_fin()
    s.server_fin()
    s.client_ack()
    again = TcpSession(client_isn=777777, server_isn=888888, start_ts=s.ts + 0.5)
    again.handshake()
    again.client_send(b"second life")
    recorder, stats = track(s.frames + again.frames)
    first, second = recorder.connections
    assert bytes(first.data[C2S]) == b"first life"
    assert bytes(second.data[C2S]) == b"second life"
    assert first.facts.conn_id != second.facts.conn_id
    assert not first.facts.superseded
    assert second.facts.syn.frame == len(s.frames) + 1
    assert stats.connections == 2


def test_a_new_syn_on_an_open_four_tuple_supersedes_the_old_connection():
    s = started()
    s.client_send(b"abandoned")
    again = TcpSession(client_isn=424242, start_ts=s.ts + 100)
    again.handshake()
    recorder, _ = track(s.frames + again.frames)
    first, second = recorder.connections
    assert first.facts.superseded
    assert not first.facts.open_at_capture_end
    assert second.facts.role_source == "syn"


def test_a_retransmitted_syn_does_not_start_a_new_connection():
    s = TcpSession()
    s.client_syn()
    s.segment("client", b"", flags=SYN, seq=1000, ack=0, advance=False)
    s.server_syn_ack()
    s.client_ack()
    recorder, _ = track(s.frames)
    assert len(recorder.connections) == 1
    assert recorder.only.facts.packets == (3, 1)


# -- lingering and release --------------------------------------------------------------


def told_idle_after(record) -> list[int]:
    """After how many delivered events the sink was told it is idle (the tracker says it again
    each time a packet without payload woke the connection in the silence)."""
    return sorted(set(record.idle_calls))


def test_a_silent_connection_is_told_once_it_is_idle_then_sleeps_until_it_speaks():
    quiet = started()
    busy = started(client=("10.0.0.9", 41000))
    quiet.client_send(b"select 1")
    quiet.wait(IDLE_AFTER + IDLE_SWEEP_INTERVAL)  # the sweep runs as frames arrive...
    quiet.client_send(b"select 2")
    quiet.wait(3 * IDLE_AFTER)
    quiet.client_send(b"select 3")
    quiet.client_fin()
    quiet.server_fin()
    quiet.client_ack()
    quiet.wait(3 * IDLE_AFTER)  # closed and lingering: its sink hears on_close, not on_idle
    for _ in range(int(8 * IDLE_AFTER)):  # ...and the other connection sends all along
        busy.wait(1.0)
        busy.client_send(b"ping")
    frames = sorted(quiet.frames + busy.frames, key=lambda p: p.ts)
    recorder, _ = track(frames, linger=4 * IDLE_AFTER)
    by_port = {r.connection.facts.client.port: r for r in recorder.connections}
    quiet_record = by_port[quiet.client[1]]
    assert quiet_record.idle_calls == [1, 2]  # after "select 1", after "select 2"
    assert by_port[41000].idle_calls == []


def test_keep_alive_probes_and_acks_do_not_keep_a_connection_from_idling():
    s = started()
    s.client_send(b"select 1")
    s.server_send(b"1")
    for _ in range(int(3 * IDLE_AFTER / 10)):  # a probe and its ACK every 10 s
        s.wait(10.0)
        s.client_ack()
        s.server_ack()
    s.client_send(b"select 2")
    recorder, _ = track(s.frames)
    assert told_idle_after(recorder.only) == [2]  # after "select 1" and its answer


def test_a_new_connection_is_idle_when_it_stays_silent_for_idle_after_from_its_start():
    prompt = started()
    late = started(client=("10.0.0.8", 42000))
    busy = started(client=("10.0.0.9", 41000))
    for _ in range(int(2 * IDLE_AFTER)):  # the third connection keeps the sweeps going
        busy.wait(1.0)
        busy.client_send(b"ping")
    prompt.wait(IDLE_AFTER - 5)
    prompt.server_send(b"greeting")
    late.wait(IDLE_AFTER + IDLE_SWEEP_INTERVAL + 5)
    late.server_send(b"greeting")
    recorder, _ = track(sorted(prompt.frames + late.frames + busy.frames, key=lambda p: p.ts))
    by_port = {r.connection.facts.client.port: r for r in recorder.connections}
    assert told_idle_after(by_port[prompt.client[1]]) == [1]  # only once silent after greeting
    assert told_idle_after(by_port[42000]) == [0]  # silent since it opened


def test_a_late_hole_fill_is_activity_of_its_own_time():
    s = started()
    lost = s.client_send(b"select 1;")
    s.client_send(b"select 2;")  # held until the first arrives
    s.frames.remove(lost)
    s.wait(3 * IDLE_AFTER)
    s.retransmit(lost)  # the lost segment, 90 s later: both are delivered now...
    s.wait(IDLE_AFTER - 10)
    s.server_send(b"x")  # ...so 20 s later the connection is not idle
    recorder, _ = track(s.frames)
    assert bytes(recorder.only.data[C2S]) == b"select 1;select 2;"
    assert told_idle_after(recorder.only) == [0]  # only while the hole was open


def test_payload_the_snapshot_length_cut_off_counts_as_activity():
    s = started()
    for _ in range(int(3 * IDLE_AFTER / 5)):  # data every 5 s, every frame cut to its headers
        s.wait(5.0)
        s.truncate(s.client_send(b"select 1"), 54)
    recorder, _ = track(s.frames)
    assert recorder.only.gaps  # (the sink saw each cut payload as a gap)
    assert recorder.only.idle_calls == []


def test_closed_connection_lingers_to_absorb_late_packets_then_is_released():
    s = started()
    s.client_fin()
    s.server_fin()
    late = s.client_ack()
    s.wait(10)
    other = TcpSession(client=("10.0.0.9", 40000), start_ts=s.ts)
    other.handshake()
    recorder = Recorder()
    stats = CaptureStats()
    tracker = TcpTracker(recorder, stats, linger=2.0)
    for frame in frame_tuples(s.frames + other.frames):
        tracker.feed(frame)
        if frame[0] == s.number(late):
            assert recorder.connections[0].facts is None  # still lingering
    first = recorder.connections[0]
    assert first.close_calls == 1  # released by the later traffic, before finish()
    assert first.facts.packets == (4, 2)  # the late ACK was absorbed
    assert tracker.open_connections() == 1
    tracker.finish()


def test_rst_after_fin_within_the_linger_lands_in_the_same_connection():
    s = started()
    s.client_fin()
    s.server_fin()
    s.wait(1)
    s.client_rst()
    recorder, _ = track(s.frames, linger=5.0)
    facts = recorder.only.facts
    assert facts.fin_count == 2 and facts.rst_count == 1


def test_packet_after_the_linger_starts_a_fresh_mid_stream_connection():
    s = started()
    s.client_fin()
    s.server_fin()
    s.wait(60)
    s.client_rst()
    recorder, _ = track(s.frames, linger=5.0)
    first, second = recorder.connections
    assert first.facts.rst_count == 0
    assert second.facts.mid_stream and second.facts.rst_count == 1


# -- eviction ---------------------------------------------------------------------------


def test_open_connection_cap_evicts_the_least_recently_active():
    sessions = [started(client=("10.0.0.1", 40000 + n), start_ts=1000.0 + n) for n in range(3)]
    busy, idle, third = sessions
    busy.wait(10)
    busy.client_send(b"still busy")  # at 1010, after idle's last packet
    frames = sorted(busy.frames + idle.frames, key=lambda p: p.ts)
    third.ts = 1020.0
    third.frames.clear()
    third.handshake()
    recorder, stats = track(frames + third.frames, max_connections=2)
    evicted = [r for r in recorder.connections if r.facts.evicted]
    assert [str(r.facts.client) for r in evicted] == ["10.0.0.1:40001"]
    assert stats.connections_evicted == 1


def test_an_evicted_connection_is_counted_not_tracked_again_until_it_ends():
    # Cap 1, two connections taking turns: re-tracking the evicted one would evict the other
    # and so on, reporting the same two connections again and again.
    a = started(client=("10.0.0.1", 40000), start_ts=1000.0)
    b = started(client=("10.0.0.1", 40001), start_ts=1000.5)
    for n in range(5):
        a.ts = b.ts = 1001.0 + n
        a.client_send(b"a")
        b.ts += 0.5
        b.client_send(b"b")
    a.client_fin()
    b.client_fin()
    frames = sorted(a.frames + b.frames, key=lambda p: p.ts)
    recorder, stats = track(frames, max_connections=1)  # asserts every frame is accounted
    assert len(recorder.connections) == 2
    assert stats.connections_evicted == 1
    assert stats.after_eviction > 0
    # a new SYN on the evicted 4-tuple is a new connection again
    again = started(client=("10.0.0.1", 40000), start_ts=2000.0)
    again.client_send(b"new")
    recorder, stats = track(frames + again.frames, max_connections=1)
    assert [bytes(r.data[C2S]) for r in recorder.connections][-1] == b"new"


# -- driving ----------------------------------------------------------------------------


def test_feeding_frames_one_at_a_time_equals_running_an_iterator():
    s = started()
    s.client_send(b"abc")
    s.server_send(b"def")
    s.client_fin()
    one, two = Recorder(), Recorder()
    by_feed = TcpTracker(one)
    for frame in frame_tuples(s.frames):
        by_feed.feed(frame)
    by_feed.finish()
    by_run = TcpTracker(two)
    by_run.run(iter(frame_tuples(s.frames)))
    by_run.finish()
    assert one.only.events == two.only.events
    assert one.only.facts == two.only.facts


def test_on_close_is_called_exactly_once_per_connection():
    sessions = [started(client=("10.0.0.1", 40000 + n)) for n in range(5)]
    frames = sorted((p for s in sessions for p in s.frames), key=lambda p: p.ts)
    recorder, stats = track(frames)
    assert [r.close_calls for r in recorder.connections] == [1] * 5
    assert stats.connections == 5


def test_pure_acks_from_the_peer_carry_no_data():
    s = started()
    s.client_send(b"x")
    s.server_ack()
    s.segment("server", b"", flags=ACK)
    recorder, _ = track(s.frames)
    assert bytes(recorder.only.data[S2C]) == b""
    assert recorder.only.facts.packets == (3, 3)


def test_connection_closes_after_many_retransmitted_fins_then_the_peers_fin():
    s = started()
    fin = s.client_fin()
    for _ in range(20):
        s.segment("client", b"", flags=0x11, seq=fin.seq, advance=False)
    s.server_fin()
    recorder, _ = track(s.frames)
    facts = recorder.only.facts
    assert facts.fin_count == 22
    assert not facts.open_at_capture_end


def test_many_short_connections_keep_the_table_bounded():
    frames = []
    for n in range(300):
        s = TcpSession(client=("10.0.0.1", 20000 + n), start_ts=1000.0 + n * 10)
        s.handshake()
        s.client_fin()
        s.server_fin()
        frames += s.frames
    recorder = Recorder()
    tracker = TcpTracker(recorder, CaptureStats(), linger=1.0)
    tracker.run(frame_tuples(frames))
    assert tracker.open_connections() <= 2
    tracker.finish()
    assert len(recorder.connections) == 300


def test_shards_split_many_connections_exactly_and_count_the_others_frames():
    """`--jobs` trackers: each connection is tracked by exactly one shard, every frame of the
    others' is counted, and the split is not lopsided."""
    from capture.tracker import in_shard

    syn = TcpSession(client=("10.0.0.1", 1024)).client_syn()
    port_at = 14 + 20  # Ethernet, then IPv4 without options: the TCP source port
    connections = 20_000
    frames = []
    for number in range(connections):
        client_port = (1024 + number).to_bytes(2, "big")
        data = syn.data[:port_at] + client_port + syn.data[port_at + 2 :]
        frames.append((number + 1, syn.ts + number * 1e-6, syn.linktype, data, syn.wire_len))
    again = [(n + connections, ts, *rest) for n, ts, *rest in frames]  # each SYN sent twice
    keys = [data[26:34] + data[port_at : port_at + 4] for _n, _ts, _lt, data, _w in frames]
    tracked = []
    for index in (0, 1):
        stats = CaptureStats()
        tracker = TcpTracker(lambda c: None, stats, shard=(index, 2))
        tracker.run(frames + again)
        mine = sum(in_shard(key, (index, 2)) for key in keys)
        assert tracker.open_connections() == mine
        assert stats.other_shard == 2 * (connections - mine)
        tracked.append(mine)
    assert sum(tracked) == connections and min(tracked) > connections // 3


@pytest.mark.parametrize("width", [4, 16])
@pytest.mark.parametrize("count", [2, 3, 4, 7])
def test_a_connections_shard_is_the_same_from_either_direction_and_evenly_spread(
    width: int, count: int
) -> None:
    from capture.tracker import in_shard, reverse_key

    rng = random.Random(width * 100 + count)
    keys = [
        rng.randbytes(2 * width)
        + rng.randrange(1024, 65536).to_bytes(2, "big")
        + (3306).to_bytes(2, "big")
        for _ in range(4_000)
    ]
    per_shard = [0] * count
    for key in keys:
        owners = [index for index in range(count) if in_shard(key, (index, count))]
        assert owners == [
            index for index in range(count) if in_shard(reverse_key(key), (index, count))
        ]
        assert len(owners) == 1
        per_shard[owners[0]] += 1
    expected = len(keys) / count
    assert all(abs(n - expected) < 0.15 * expected for n in per_shard), per_shard
