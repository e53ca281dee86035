"""Putting each direction's bytes in order: reordering, retransmissions, gaps, wraparound."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from capture import C2S, S2C
from capture.tracker import IDLE_AFTER, IDLE_SWEEP_INTERVAL
from tests.capture.recorder import track
from tests.craft import TcpSession


def started(**options) -> TcpSession:
    s = TcpSession(**options)
    s.handshake()
    return s


def test_in_order_segments_are_delivered_one_call_each_with_their_frame():
    s = started()
    a = s.client_send(b"hello ")
    b = s.client_send(b"world")
    recorder, _ = track(s.frames)
    record = recorder.only
    assert record.events == [
        ("data", C2S, b"hello ", s.number(a)),
        ("data", C2S, b"world", s.number(b)),
    ]
    assert record.facts.payload_bytes == (11, 0)


def test_reordered_segments_are_delivered_in_sequence_order_with_their_own_frames():
    s = started()
    a = s.client_send(b"one ")
    b = s.client_send(b"two ")
    c = s.client_send(b"three")
    s.move_before(c, a)
    s.move_before(b, c)
    recorder, _ = track(s.frames)
    record = recorder.only
    assert bytes(record.data[C2S]) == b"one two three"
    assert [e[3] for e in record.events] == [s.number(a), s.number(b), s.number(c)]
    assert record.gaps == []


def test_identical_retransmission_is_counted_not_delivered_again():
    s = started()
    a = s.client_send(b"select 1")
    s.retransmit(a)
    recorder, _ = track(s.frames)
    facts = recorder.only.facts
    assert bytes(recorder.only.data[C2S]) == b"select 1"
    assert facts.retransmitted_segments == (1, 0)
    assert facts.retransmitted_bytes == (8, 0)
    assert facts.conflicting_retransmissions == (0, 0)
    assert [r.conflicting for r in facts.retransmissions] == [False]


def test_retransmission_with_different_bytes_keeps_the_first_copy_and_is_reported():
    s = started()
    a = s.client_send(b"select 1")
    again = s.retransmit(a, payload=b"select 2")
    recorder, _ = track(s.frames)
    facts = recorder.only.facts
    assert bytes(recorder.only.data[C2S]) == b"select 1"
    assert facts.conflicting_retransmissions == (1, 0)
    (evidence,) = facts.retransmissions
    assert (evidence.conflicting, evidence.frame, evidence.stream_offset, evidence.size) == (
        True,
        s.number(again),
        0,
        8,
    )


def test_after_an_idle_silence_a_retransmission_is_counted_unverified():
    # The compare window of a connection silent for IDLE_AFTER is dropped (a pool of idle
    # connections must not hold 16 KB each); what comes after is counted.
    s = started()
    a = s.client_send(b"select 1")
    s.wait(IDLE_AFTER + IDLE_SWEEP_INTERVAL)
    s.retransmit(a, payload=b"select 2")
    recorder, _ = track(s.frames)
    facts = recorder.only.facts
    assert bytes(recorder.only.data[C2S]) == b"select 1"
    assert facts.retransmitted_segments == (1, 0)
    assert facts.unverified_retransmissions == (1, 0)
    assert facts.conflicting_retransmissions == (0, 0)


def test_short_of_an_idle_silence_a_late_retransmission_is_still_compared():
    s = started()
    a = s.client_send(b"select 1")
    s.wait(IDLE_AFTER - 1)
    s.retransmit(a, payload=b"select 2")
    recorder, _ = track(s.frames)
    facts = recorder.only.facts
    assert facts.unverified_retransmissions == (0, 0)
    assert facts.conflicting_retransmissions == (1, 0)


def test_a_busy_connection_keeps_its_window_while_another_is_idle():
    idle = started()
    busy = started(client=("10.0.0.9", 41000))
    first = busy.client_send(b"x" * 8)
    idle.client_send(b"idle")
    for _ in range(10):  # 10 x 30 s of traffic on the busy connection only
        busy.wait(IDLE_SWEEP_INTERVAL)
        first = busy.client_send(b"y" * 8)
    busy.retransmit(first, payload=b"z" * 8)
    frames = sorted(idle.frames + busy.frames, key=lambda p: p.ts)
    recorder, _ = track(frames)
    by_port = {r.connection.facts.client.port: r.facts for r in recorder.connections}
    assert by_port[41000].conflicting_retransmissions == (1, 0)
    assert by_port[41000].unverified_retransmissions == (0, 0)


def test_conflicting_copy_of_a_buffered_segment_loses_to_the_first_copy():
    s = started()
    a = s.client_send(b"aaaa")
    b = s.client_send(b"bbbb")
    s.move_before(b, a)
    s.frames.insert(s.frames.index(a), s.retransmit(b, payload=b"XXXX"))
    s.frames.pop()  # retransmit() appended it; it was re-inserted before `a`
    recorder, _ = track(s.frames)
    assert bytes(recorder.only.data[C2S]) == b"aaaabbbb"
    assert recorder.only.facts.conflicting_retransmissions == (1, 0)


def test_overlapping_segment_contributes_only_its_new_bytes():
    s = started()
    s.client_send(b"abcd")
    overlap = s.segment("client", b"cdefgh", seq=1001 + 2)
    s.next_seq["client"] = 1001 + 8
    s.client_send(b"ij")
    recorder, _ = track(s.frames)
    record = recorder.only
    assert bytes(record.data[C2S]) == b"abcdefghij"
    assert ("data", C2S, b"efgh", s.number(overlap)) in record.events
    assert record.facts.retransmitted_bytes == (2, 0)


def test_overlap_disagreeing_with_delivered_bytes_is_conflicting():
    s = started()
    s.client_send(b"abcd")
    s.segment("client", b"XXef", seq=1001 + 2)
    recorder, _ = track(s.frames)
    assert bytes(recorder.only.data[C2S]) == b"abcdef"
    assert recorder.only.facts.conflicting_retransmissions == (1, 0)


def test_retransmission_older_than_the_recent_window_is_unverified():
    s = started()
    first = s.client_send(b"old")
    for _ in range(20):
        s.client_send(b"newer")
    s.retransmit(first, payload=b"OLD")
    recorder, _ = track(s.frames, recent_segments=4)
    facts = recorder.only.facts
    assert facts.unverified_retransmissions == (1, 0)
    assert facts.conflicting_retransmissions == (0, 0)


def test_keepalive_probe_is_not_a_retransmission():
    s = started()
    s.client_send(b"abc")
    s.segment("client", b"\x00", seq=1001 + 2, flags=0x10)  # one old byte, as Linux sends
    recorder, _ = track(s.frames)
    assert recorder.only.facts.retransmitted_segments == (0, 0)


def test_sequence_numbers_wrap_around():
    s = started(client_isn=0xFFFFFFF0, server_isn=0xFFFFFFFE)
    for n in range(10):
        s.client_send(bytes([65 + n]) * 5)
        s.server_send(bytes([97 + n]) * 3)
    recorder, _ = track(s.frames)
    record = recorder.only
    assert bytes(record.data[C2S]) == b"".join(bytes([65 + n]) * 5 for n in range(10))
    assert bytes(record.data[S2C]) == b"".join(bytes([97 + n]) * 3 for n in range(10))
    assert record.gaps == []


def test_reordering_across_the_wrap():
    s = started(client_isn=0xFFFFFFF0)
    a = s.client_send(b"x" * 20)  # crosses 2**32
    b = s.client_send(b"y" * 20)
    s.move_before(b, a)
    recorder, _ = track(s.frames)
    assert bytes(recorder.only.data[C2S]) == b"x" * 20 + b"y" * 20


def test_lost_segment_acked_by_the_peer_becomes_a_gap_of_exact_size_and_position():
    s = started()
    s.client_send(b"first")
    lost = s.client_send(b"LOST!!!")
    after = s.client_send(b"after")
    s.server_ack()
    s.drop(lost)
    recorder, _ = track(s.frames)
    record = recorder.only
    (gap,) = record.gaps
    assert (gap.direction, gap.stream_offset, gap.size, gap.reason, gap.size_known) == (
        C2S,
        5,
        7,
        "lost_segment",
        True,
    )
    assert gap.frame == s.number(after)
    assert record.stream(C2S, fill=b"?") == b"first???????after"
    assert record.events[1][0] == "gap"  # before the bytes after the hole


def test_stream_carries_on_after_a_gap():
    s = started()
    lost = s.client_send(b"LOST")
    s.client_send(b"a")
    s.server_ack()
    s.client_send(b"b")
    s.server_send(b"reply")
    s.drop(lost)
    recorder, _ = track(s.frames)
    assert bytes(recorder.only.data[C2S]) == b"ab"
    assert bytes(recorder.only.data[S2C]) == b"reply"
    assert recorder.only.facts.gap_bytes == (4, 0)


def test_hole_still_open_at_capture_end_is_flushed_as_a_gap():
    s = started()
    lost = s.client_send(b"LOST")
    s.client_send(b"tail")
    s.drop(lost)
    recorder, _ = track(s.frames)
    (gap,) = recorder.only.gaps
    assert (gap.stream_offset, gap.size, gap.reason) == (0, 4, "capture_end")
    assert bytes(recorder.only.data[C2S]) == b"tail"


def test_bytes_acked_but_never_seen_at_the_end_are_a_trailing_gap():
    s = started()
    s.server_send(b"seen")
    lost = s.server_send(b"never seen")
    s.client_ack()
    s.drop(lost)
    recorder, _ = track(s.frames)
    (gap,) = recorder.only.gaps
    assert (gap.direction, gap.stream_offset, gap.size) == (S2C, 4, 10)


def test_reorder_buffer_cap_declares_a_gap_and_moves_on():
    s = started()
    lost = s.client_send(b"L" * 100)
    for n in range(10):
        s.client_send(bytes([48 + n]) * 100)
    s.drop(lost)
    recorder, _ = track(s.frames, reorder_cap=350)
    record = recorder.only
    (gap,) = record.gaps
    assert (gap.stream_offset, gap.size, gap.reason) == (0, 100, "reorder_overflow")
    assert bytes(record.data[C2S]) == b"".join(bytes([48 + n]) * 100 for n in range(10))


def test_snaplen_cut_frame_delivers_its_bytes_then_a_snaplen_gap():
    s = started()
    big = s.client_send(b"A" * 1000)
    s.client_send(b"next")
    cut = s.truncate(big, 54 + 300)  # Ethernet + IPv4 + TCP headers, then 300 bytes
    recorder, _ = track(s.frames)
    record = recorder.only
    (gap,) = record.gaps
    assert (gap.stream_offset, gap.size, gap.reason, gap.frame) == (
        300,
        700,
        "snaplen",
        s.number(cut),
    )
    assert bytes(record.data[C2S]) == b"A" * 300 + b"next"
    assert record.facts.frame_bytes[C2S] >= 1054  # wire length, not captured length


def test_capture_starting_mid_connection_starts_the_stream_at_the_first_data():
    s = started()
    s.client_send(b"before the capture")
    s.server_send(b"also before")
    s.frames.clear()
    s.client_send(b"select 2")
    s.server_send(b"row")
    recorder, _ = track(s.frames)
    record = recorder.only
    assert record.facts.mid_stream
    assert record.facts.role_source == "port"
    assert bytes(record.data[C2S]) == b"select 2"
    assert bytes(record.data[S2C]) == b"row"


def test_rst_flushes_holes_as_gaps():
    s = started()
    lost = s.client_send(b"LOST")
    after = s.client_send(b"x")
    s.client_rst()
    s.drop(lost)
    recorder, _ = track(s.frames)
    (gap,) = recorder.only.gaps
    assert gap.reason == "lost_segment"
    assert gap.frame == s.number(after)  # the first frame after the hole


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_permutation_with_duplicates_delivers_the_same_bytes(data):
    s = started()
    sent = []
    for n in range(data.draw(st.integers(1, 12))):
        size = data.draw(st.integers(1, 40))
        sent.append(s.client_send(bytes([n + 65]) * size))
    segments = list(sent)
    duplicates = data.draw(st.lists(st.sampled_from(sent), max_size=6))
    segments += duplicates
    order = data.draw(st.permutations(segments))
    s.frames[3:] = order
    recorder, _ = track(s.frames)
    record = recorder.only
    assert bytes(record.data[C2S]) == b"".join(p.payload for p in sent)
    assert record.gaps == []
    assert record.facts.conflicting_retransmissions == (0, 0)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_any_split_into_overlapping_segments_delivers_the_stream_once(data):
    stream = bytes(range(256)) * 2
    s = started()
    pieces = []
    for _ in range(data.draw(st.integers(1, 25))):
        start = data.draw(st.integers(0, len(stream) - 1))
        length = data.draw(st.integers(1, 60))
        pieces.append((start, stream[start : start + length]))
    pieces.append((0, stream))  # the whole stream arrives at some point
    order = data.draw(st.permutations(pieces))
    for start, chunk in order:
        s.segment("client", chunk, seq=1001 + start, advance=False)
    recorder, _ = track(s.frames)
    record = recorder.only
    assert bytes(record.data[C2S])[: len(stream)] == stream
    assert record.facts.conflicting_retransmissions == (0, 0)


def test_an_ack_for_bytes_never_captured_declares_them_lost_before_the_data_it_carries():
    # The capture dropped the server's first segment (a greeting); the client's next segment
    # acknowledges it. The consumer must get the hole first: both streams in sending order.
    s = started()
    lost = s.server_send(b"G" * 78)
    login = s.client_send(b"login")
    s.drop(lost)
    recorder, _ = track(s.frames)
    (first, second, *rest) = recorder.only.events
    assert first[0] == "gap"
    gap = first[1]
    assert (gap.direction, gap.stream_offset, gap.size, gap.reason) == (S2C, 0, 78, "lost_segment")
    assert second == ("data", C2S, b"login", s.number(login))
    assert rest == []


def test_an_ack_behind_what_was_captured_declares_nothing():
    s = started()
    s.server_send(b"row" * 100)
    s.client_send(b"next", ack=5000 + 1 + 10)  # the server ISN is 5000: only part of it
    recorder, _ = track(s.frames)
    assert recorder.only.gaps == []
