"""Damaged capture files: a clear one-line warning, every readable frame still read, memory
bounded whatever a corrupt length says, and an error only when nothing can be read.

Damage is made by hand on crafted files: the offsets of records and blocks are walked with
the file formats' own length fields (tests/craft.py writes the files)."""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

import pytest

from capture import CaptureError, CaptureStats, open_frames
from capture._tally import DAMAGE_WARNINGS
from tests.capture.test_readers import read_all
from tests.craft import TcpSession, gzip_bytes, pcap_bytes, pcapng_bytes, write_capture

RECORD_HEADER = 16


def conversation(exchanges: int = 12) -> TcpSession:
    s = TcpSession()
    s.handshake()
    for n in range(exchanges):
        s.client_send(f"select {n}".encode())
        s.server_send(b"row " * (n + 1))
    s.client_fin()
    s.server_fin()
    s.client_ack()
    return s


def record_offsets(data: bytes, order: str = "<") -> list[int]:
    offsets, position = [], 24
    while position + RECORD_HEADER <= len(data):
        offsets.append(position)
        position += RECORD_HEADER + struct.unpack_from(order + "I", data, position + 8)[0]
    return offsets


def block_offsets(data: bytes, kind: int | None = None) -> list[int]:
    offsets, position = [], 0
    while position + 12 <= len(data):
        block_type, length = struct.unpack_from("<II", data, position)
        if kind is None or block_type == kind:
            offsets.append(position)
        position += length
    return offsets


def payloads(frames: list[tuple]) -> list[bytes]:
    return [frame[3] for frame in frames]


# -- classic pcap --------------------------------------------------------------------------


@pytest.mark.parametrize("caplen", [0xFFFFFFF0, 300_000, 1 << 27], ids=["4GiB", "300k", "128MiB"])
def test_a_corrupt_captured_length_is_stepped_over_without_allocating_it(tmp_path, caplen):
    s = conversation()
    data = bytearray(pcap_bytes(s.frames))
    damaged = record_offsets(bytes(data))[10]
    struct.pack_into("<I", data, damaged + 8, caplen)
    path = write_capture(tmp_path / "damaged.pcap", bytes(data))
    tracemalloc.start()
    frames, stats = read_all([path])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 8 << 20
    expected = [p.data for i, p in enumerate(s.frames) if i != 10]
    assert payloads(frames) == expected  # only the damaged record is lost
    assert [f[0] for f in frames] == list(range(1, len(expected) + 1))
    (warning,) = stats.warnings
    assert warning.startswith(f"{path}: corrupt record header at byte {damaged} ")
    assert "skipped" in warning and "\n" not in warning
    assert stats.frames == len(expected)
    assert stats.bytes == sum(map(len, expected))


@pytest.mark.parametrize("nanosecond", [False, True])
@pytest.mark.parametrize("big_endian", [False, True])
def test_resynchronisation_works_in_every_pcap_variant(tmp_path, nanosecond, big_endian):
    s = conversation()
    order = ">" if big_endian else "<"
    data = bytearray(pcap_bytes(s.frames, nanosecond=nanosecond, big_endian=big_endian))
    damaged = record_offsets(bytes(data), order)[5]
    struct.pack_into(order + "I", data, damaged + 8, 0xFFFFFF00)
    frames, stats = read_all([write_capture(tmp_path / "v.pcap", bytes(data))])
    assert payloads(frames) == [p.data for i, p in enumerate(s.frames) if i != 5]
    assert len(stats.warnings) == 1


def test_a_wrong_but_possible_captured_length_loses_only_the_records_it_swallowed(tmp_path):
    """A length that still fits the file's limit takes following records as its data; the
    header found after them is garbage, and reading resumes at the next real record."""
    s = conversation()
    data = bytearray(pcap_bytes(s.frames))
    offsets = record_offsets(bytes(data))
    struct.pack_into("<I", data, offsets[8] + 8, 100 + len(s.frames[8].data))
    frames, stats = read_all([write_capture(tmp_path / "w.pcap", bytes(data))])
    read = payloads(frames)
    assert read[:8] == [p.data for p in s.frames[:8]]
    assert read[-5:] == [p.data for p in s.frames[-5:]]  # what follows the damage is read
    assert len(stats.warnings) == 1 and "corrupt record header" in stats.warnings[0]


def test_damage_in_the_first_record_stops_the_file_with_a_warning(tmp_path):
    s = conversation()
    data = bytearray(pcap_bytes(s.frames))
    struct.pack_into("<I", data, 24 + 8, 0xFFFFFFF0)
    frames, stats = read_all([write_capture(tmp_path / "first.pcap", bytes(data))])
    assert frames == []
    (warning,) = stats.warnings
    assert "no valid record after it; 0 frames read" in warning


def test_garbage_after_the_last_record_stops_the_file_with_a_warning(tmp_path):
    s = conversation()
    data = pcap_bytes(s.frames) + b"\xff" * 5000
    frames, stats = read_all([write_capture(tmp_path / "tail.pcap", data)])
    assert payloads(frames) == [p.data for p in s.frames]
    assert len(stats.warnings) == 1 and "no valid record after it" in stats.warnings[0]


def test_many_damaged_places_give_a_few_warnings_and_a_count(tmp_path):
    s = conversation(exchanges=40)
    data = bytearray(pcap_bytes(s.frames))
    offsets = record_offsets(bytes(data))
    damaged = offsets[3:80:4]
    for offset in damaged:
        struct.pack_into("<I", data, offset + 8, 0xFFFFFFF0)
    frames, stats = read_all([write_capture(tmp_path / "many.pcap", bytes(data))])
    assert len(frames) == len(s.frames) - len(damaged)
    assert len(stats.warnings) == DAMAGE_WARNINGS + 1
    assert f"{len(damaged) - DAMAGE_WARNINGS} more damaged place(s)" in stats.warnings[-1]


# -- pcapng --------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [7, 12, 0x7FFFFFFC, 16], ids=["odd", "tiny", "huge", "short"])
def test_a_corrupt_pcapng_block_length_is_stepped_over(tmp_path, length):
    s = conversation()
    data = bytearray(pcapng_bytes(s.frames))
    damaged = block_offsets(bytes(data), kind=6)[4]
    struct.pack_into("<I", data, damaged + 4, length)
    frames, stats = read_all([write_capture(tmp_path / "b.pcapng", bytes(data))])
    assert payloads(frames) == [p.data for i, p in enumerate(s.frames) if i != 4]
    (warning,) = stats.warnings
    assert f"corrupt pcapng block at byte {damaged}" in warning and "skipped" in warning


def test_a_pcapng_block_whose_trailing_length_disagrees_is_corrupt(tmp_path):
    s = conversation()
    data = bytearray(pcapng_bytes(s.frames, extra_blocks=[(0x0BAD, b"custom block")]))
    data += pcapng_bytes(s.frames)[len(pcapng_bytes([])) :]  # a second run of packets
    custom = block_offsets(bytes(data), kind=0x0BAD)[0]
    length = struct.unpack_from("<I", data, custom + 4)[0]
    struct.pack_into("<I", data, custom + length - 4, length + 8)
    frames, stats = read_all([write_capture(tmp_path / "t.pcapng", bytes(data))])
    assert len(frames) == 2 * len(s.frames)
    assert "not repeated at the block's end" in stats.warnings[0]


def test_a_packet_block_too_short_for_its_fields_is_corrupt_not_a_crash(tmp_path):
    s = conversation()
    good = pcapng_bytes(s.frames)
    runt = struct.pack("<III", 6, 12, 12)  # an EPB of 12 bytes: no room for its header
    data = good + runt
    frames, stats = read_all([write_capture(tmp_path / "runt.pcapng", data)])
    assert len(frames) == len(s.frames)
    assert "too short" in stats.warnings[0] or "overruns" in stats.warnings[0]


def test_an_interface_block_too_short_for_its_fields_is_corrupt_not_a_crash(tmp_path):
    s = conversation()
    data = bytearray(pcapng_bytes(s.frames))
    data[28:28] = struct.pack("<III", 1, 12, 12)  # an IDB with no body, before the real one
    frames, stats = read_all([write_capture(tmp_path / "idb.pcapng", bytes(data))])
    assert len(frames) == len(s.frames)
    assert "too short" in stats.warnings[0]


def test_a_section_header_with_a_damaged_byte_order_magic_is_stepped_over(tmp_path):
    first, second = conversation(), conversation()
    data = bytearray(pcapng_bytes(first.frames) + pcapng_bytes(second.frames, big_endian=True))
    second_section = len(pcapng_bytes(first.frames))
    data[second_section + 8 : second_section + 12] = b"\x00\x00\x00\x00"
    frames, stats = read_all([write_capture(tmp_path / "shb.pcapng", bytes(data))])
    assert len(frames) == len(first.frames)
    assert "byte-order magic" in stats.warnings[0]


def test_unknown_pcapng_blocks_are_counted_without_a_warning(tmp_path):
    s = conversation()
    data = pcapng_bytes(s.frames, extra_blocks=[(0x0BAD, b"custom"), (0x12345, b"unknown")])
    frames, stats = read_all([write_capture(tmp_path / "u.pcapng", data)])
    assert len(frames) == len(s.frames)
    assert stats.skipped_blocks == {0x0BAD: 1, 0x12345: 1}
    assert stats.warnings == []


# -- files that are no capture at all --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.pcap", b"", "empty file"),
        ("empty.pcap.gz", gzip_bytes(b""), "empty gzip stream"),
        ("zero.gz", b"", "empty file"),
        ("text.gz", gzip_bytes(b"SELECT 1;\n" * 20), "not a pcap or pcapng file inside the gzip"),
        ("notes.txt", b"SELECT 1;\n" * 20, "not a pcap or pcapng file (starts with 0x53454c45)"),
        ("half.gz", gzip_bytes(b"x" * 1000)[:5], "not a valid gzip stream"),
        ("header.pcap", pcap_bytes([])[:10], "header truncated"),
    ],
)
def test_what_is_no_capture_is_one_clear_line(tmp_path, name, content, message):
    path = write_capture(tmp_path / name, content)
    with pytest.raises(CaptureError) as error:
        read_all([path])
    assert str(error.value).startswith(f"{path}: ")
    assert message in str(error.value)
    assert "\n" not in str(error.value)


# -- several files -------------------------------------------------------------------------


def good_file(tmp_path: Path, name: str = "good.pcap", **options) -> tuple[Path, TcpSession]:
    s = TcpSession(**options)
    s.handshake()
    s.client_send(b"select 1")
    s.server_send(b"one row")
    s.client_fin()
    s.server_fin()
    return write_capture(tmp_path / name, pcap_bytes(s.frames)), s


def test_a_file_that_cannot_be_read_among_others_is_left_out_with_a_warning(tmp_path):
    good, s = good_file(tmp_path)
    notes = write_capture(tmp_path / "notes.txt", b"not a capture")
    frames, stats = read_all([notes, good, tmp_path / "missing.pcap"])
    assert payloads(frames) == [p.data for p in s.frames]
    assert stats.warnings == [
        f"{notes}: not a pcap or pcapng file (starts with 0x6e6f7420): left out, the other "
        "files are analysed",
        f"{tmp_path / 'missing.pcap'}: cannot open (No such file or directory): left out, the "
        "other files are analysed",
    ]
    assert [f.problem for f in stats.files] == [
        "not a pcap or pcapng file (starts with 0x6e6f7420)",
        "",
        "cannot open (No such file or directory)",
    ]
    assert stats.files[1].frames == len(s.frames)


def test_when_no_file_can_be_read_the_error_names_each_one(tmp_path):
    notes = write_capture(tmp_path / "notes.txt", b"not a capture")
    empty = write_capture(tmp_path / "empty.pcap", b"")
    with pytest.raises(CaptureError) as error:
        read_all([notes, empty])
    assert str(error.value) == (
        f"no input could be read: {notes}: not a pcap or pcapng file (starts with "
        f"0x6e6f7420); {empty}: empty file"
    )


def test_a_file_removed_after_it_was_probed_is_left_out_when_its_turn_comes(tmp_path):
    early, first = good_file(tmp_path, "early.pcap")
    late, _ = good_file(tmp_path, "late.pcap", start_ts=1_800_000_000.0)
    stats = CaptureStats()
    frames = open_frames([early, late], stats)
    late.unlink()
    assert payloads(list(frames)) == [p.data for p in first.frames]
    assert "late.pcap: cannot open" in stats.warnings[0]


def test_a_damaged_file_among_good_ones_gives_what_it_can(tmp_path):
    good, s = good_file(tmp_path, start_ts=1_600_000_000.0)
    other = conversation()
    data = bytearray(pcap_bytes(other.frames))
    struct.pack_into("<I", data, record_offsets(bytes(data))[3] + 8, 0xFFFFFFF0)
    damaged = write_capture(tmp_path / "damaged.pcap", bytes(data))
    frames, stats = read_all([good, damaged])
    assert len(frames) == len(s.frames) + len(other.frames) - 1
    assert len(stats.warnings) == 1 and "damaged.pcap: corrupt record header" in stats.warnings[0]
