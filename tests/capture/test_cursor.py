"""Records read in place (`capture.cursor`): the analysis's hot path must track exactly what
the frame tuples track, for every link type, file variant and damaged or cut frame."""

from __future__ import annotations

from pathlib import Path

import pytest

from capture import (
    CaptureStats,
    FrameCursor,
    TcpTracker,
    frames_of,
    open_frames,
    open_records,
)
from tests.capture.recorder import Recorder
from tests.craft import TcpSession, frame_tuples, pcap_bytes, pcapng_bytes, write_capture

PCAPS = sorted((Path(__file__).parents[2] / "pcaps").glob("*.pcap*"))


def tracked_both_ways(paths: list[Path]) -> tuple[tuple, tuple]:
    """(events, facts, stats) per connection, tracked from `open_records` and from
    `open_frames`, each with its own stats."""
    results = []
    for by_cursor in (True, False):
        recorder, stats = Recorder(), CaptureStats()
        tracker = TcpTracker(recorder, stats, server_ports=None)
        if by_cursor:
            tracker.run_cursor(open_records(paths, stats))
        else:
            tracker.run(open_frames(paths, stats))
        tracker.finish()
        connections = [(r.events, r.facts) for r in recorder.connections]
        results.append((connections, stats))
    return results[0], results[1]


def session(link: str = "ethernet", **options) -> TcpSession:
    s = TcpSession(link=link, **options)
    s.handshake()
    s.client_send(b"\x05\x00\x00\x00\x03abcd")
    s.server_send(b"\x07\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00")
    s.retransmit(s.frames[-1])
    s.client_send(b"\x01\x00\x00\x00\x01")
    s.client_fin()
    s.server_fin()
    s.client_ack()
    return s


@pytest.mark.parametrize("link", ["ethernet", "sll", "sll2", "raw", "null"])
@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("nanosecond", [False, True])
def test_records_in_place_track_like_frame_tuples(tmp_path, link, big_endian, nanosecond):
    s = session(link)
    data = pcap_bytes(s.frames, big_endian=big_endian, nanosecond=nanosecond)
    path = write_capture(tmp_path / "c.pcap", data)
    by_cursor, by_frames = tracked_both_ways([path])
    assert by_cursor == by_frames
    connections, stats = by_cursor
    assert len(connections) == 1
    assert stats.frames == len(s.frames)
    assert stats.unaccounted_frames() == 0


@pytest.mark.parametrize("link", ["ethernet", "sll2", "raw"])
@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("variant", ["enhanced", "simple", "nanosecond"])
def test_pcapng_records_in_place_track_like_frame_tuples(tmp_path, link, big_endian, variant):
    s = session(link)
    data = pcapng_bytes(
        s.frames,
        big_endian=big_endian,
        simple=variant == "simple",
        tsresol={0: 9} if variant == "nanosecond" else None,
    )
    path = write_capture(tmp_path / "c.pcapng", data)
    by_cursor, by_frames = tracked_both_ways([path])
    assert by_cursor == by_frames
    connections, stats = by_cursor
    assert len(connections) == 1
    assert stats.frames == len(s.frames)


def test_pcapng_interfaces_of_two_link_types_in_two_byte_orders_track_alike(tmp_path):
    ethernet, cooked = session("ethernet"), session("sll", client=("10.0.0.7", 50007))
    data = pcapng_bytes(sorted(ethernet.frames + cooked.frames, key=lambda p: p.ts))
    data += pcapng_bytes(session("raw", client=("10.0.0.8", 50008)).frames, big_endian=True)
    path = write_capture(tmp_path / "c.pcapng", data)
    by_cursor, by_frames = tracked_both_ways([path])
    assert by_cursor == by_frames
    connections, stats = by_cursor
    assert len(connections) == 3
    assert sum(stats.frames_by_linktype.values()) == stats.frames


@pytest.mark.parametrize(
    "options",
    [
        {"vlan": [10]},  # the slow path: a tagged frame
        {"client": ("2001:db8::1", 50000), "server": ("2001:db8::2", 3306)},  # IPv6
    ],
)
def test_frames_off_the_fast_path_track_alike(tmp_path, options):
    path = write_capture(tmp_path / "c.pcap", pcap_bytes(session(**options).frames))
    by_cursor, by_frames = tracked_both_ways([path])
    assert by_cursor == by_frames
    assert len(by_cursor[0]) == 1


def test_frames_cut_by_the_snapshot_length_track_alike(tmp_path):
    s = session()
    s.truncate(s.frames[3], 60)  # the command, cut inside its payload
    s.truncate(s.frames[4], 52)  # the reply, cut inside the TCP options' place
    s.truncate(s.frames[5], 45)  # the retransmission, cut before the fields the tracker reads
    path = write_capture(tmp_path / "c.pcap", pcap_bytes(s.frames, snaplen=96))
    by_cursor, by_frames = tracked_both_ways([path])
    assert by_cursor == by_frames
    stats = by_cursor[1]
    assert stats.cut_by_snaplen == 2
    assert stats.too_short == 1


def test_several_files_are_read_through_a_cursor_in_the_merged_order(tmp_path):
    first = session(client=("10.0.0.1", 50000))
    second = session(client=("10.0.0.9", 50001), start_ts=1_700_000_000.0005)
    paths = [
        write_capture(tmp_path / "a.pcap", pcap_bytes(first.frames)),
        write_capture(tmp_path / "b.pcap", pcap_bytes(second.frames)),
    ]
    by_cursor, by_frames = tracked_both_ways(paths)
    assert by_cursor == by_frames
    assert len(by_cursor[0]) == 2


@pytest.mark.parametrize("path", PCAPS, ids=lambda p: p.stem)
def test_every_real_capture_tracks_alike_in_place(path):
    by_cursor, by_frames = tracked_both_ways([path])
    assert by_cursor == by_frames


def test_a_cursor_closed_early_accounts_what_it_read_and_closes_the_file(tmp_path):
    s = session()
    path = write_capture(tmp_path / "c.pcap", pcap_bytes(s.frames))
    stats = CaptureStats()
    cursor = open_records([path], stats)
    assert cursor.advance() and cursor.advance() and cursor.advance()
    assert cursor.frame_no == 3
    assert cursor.record() == s.frames[2].data
    cursor.close()
    cursor.close()  # idempotent
    assert stats.frames == 3
    assert stats.bytes == sum(len(p.data) for p in s.frames[:3])
    assert not cursor.advance()


def test_the_cursor_and_the_frame_tuples_give_the_same_frames(tmp_path):
    s = session()
    path = write_capture(tmp_path / "c.pcap", pcap_bytes(s.frames))
    stats = CaptureStats()
    assert list(frames_of(open_records([path], stats))) == list(open_frames([path], CaptureStats()))
    assert stats.frames == len(s.frames)


def test_a_frame_cursor_presents_any_iterator_of_frames():
    tuples = frame_tuples(session().frames)
    cursor = FrameCursor(iter(tuples))
    seen = []
    while cursor.advance():
        seen.append((cursor.frame_no, cursor.ts, cursor.linktype, cursor.record(), cursor.wire_len))
    assert seen == tuples
    assert list(frames_of(FrameCursor(iter(tuples)))) == tuples
