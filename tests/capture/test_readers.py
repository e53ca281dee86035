"""Reading captures: formats, compression, standard input, merging, broken files."""

from __future__ import annotations

import dataclasses
import io
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from capture import CaptureError, CaptureFile, CaptureStats, frames_of, open_frames, track_files
from capture._tally import FileTally
from capture.pcap import open_pcap
from capture.pcapng import open_pcapng
from tests.capture.recorder import Recorder
from tests.craft import (
    Packet,
    TcpSession,
    gzip_bytes,
    pcap_bytes,
    pcapng_bytes,
    write_capture,
)


def conversation(**options) -> TcpSession:
    s = TcpSession(**options)
    s.handshake()
    s.client_send(b"select 1")
    s.server_send(b"one row")
    s.client_fin()
    s.server_fin()
    s.client_ack()
    return s


def read_all(paths, stdin=None) -> tuple[list[tuple], CaptureStats]:
    stats = CaptureStats()
    frames = list(open_frames(paths, stats, stdin=stdin))
    return frames, stats


class NonSeekable(io.RawIOBase):
    """A pipe: read() only, no seek, no tell."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer) -> int:
        chunk = self._data.read(min(len(buffer), 1000))  # short reads, like a pipe
        buffer[: len(chunk)] = chunk
        return len(chunk)


def pipe(data: bytes) -> io.BufferedReader:
    return io.BufferedReader(NonSeekable(data))


@pytest.mark.parametrize("nanosecond", [False, True])
@pytest.mark.parametrize("big_endian", [False, True])
def test_classic_pcap_in_every_variant_yields_the_same_frames(tmp_path, nanosecond, big_endian):
    s = conversation()
    path = write_capture(
        tmp_path / "c.pcap", pcap_bytes(s.frames, nanosecond=nanosecond, big_endian=big_endian)
    )
    frames, stats = read_all([path])
    assert [f[0] for f in frames] == list(range(1, len(s.frames) + 1))
    assert [f[3] for f in frames] == [p.data for p in s.frames]
    assert [f[2] for f in frames] == [1] * len(s.frames)
    for frame, packet in zip(frames, s.frames, strict=True):
        assert frame[1] == pytest.approx(packet.ts, abs=1e-6)
        assert frame[4] == packet.wire_len
    assert stats.frames == len(s.frames)
    assert stats.bytes == sum(len(p.data) for p in s.frames)
    assert stats.frames_by_linktype == {1: len(s.frames)}
    assert stats.files[0].format == ("pcap-ns" if nanosecond else "pcap")
    assert stats.first_ts == pytest.approx(s.frames[0].ts, abs=1e-6)
    assert stats.last_ts == pytest.approx(s.frames[-1].ts, abs=1e-6)


def test_nanosecond_timestamps_keep_sub_microsecond_precision(tmp_path):
    s = TcpSession(start_ts=1_700_000_000.0, step=0.000000250)
    s.handshake()
    path = write_capture(tmp_path / "ns.pcap", pcap_bytes(s.frames, nanosecond=True))
    frames, _ = read_all([path])
    assert frames[1][1] - frames[0][1] == pytest.approx(250e-9, abs=1e-7)


def test_pcapng_with_two_interfaces_of_different_link_types_and_resolutions(tmp_path):
    ethernet = conversation(link="ethernet")
    cooked = conversation(link="sll2", client=("10.1.0.1", 40000), start_ts=1_700_000_000.0005)
    frames = sorted(ethernet.frames + cooked.frames, key=lambda p: p.ts)
    data = pcapng_bytes(frames, tsresol={1: 6, 276: 9})
    recorder = Recorder()
    stats = track_files([write_capture(tmp_path / "two.pcapng", data)], recorder)
    assert stats.frames_by_linktype == {1: 8, 276: 8}
    assert [bytes(c.data[0]) for c in recorder.connections] == [b"select 1", b"select 1"]
    assert {c.facts.client.port for c in recorder.connections} == {50000, 40000}
    assert stats.files[0].format == "pcapng"


def test_pcapng_sections_may_change_byte_order_and_renumber_interfaces(tmp_path):
    first = conversation(link="ethernet")
    second = conversation(link="sll", client=("10.1.0.1", 40000), start_ts=1_700_000_100.0)
    data = pcapng_bytes(first.frames) + pcapng_bytes(second.frames, big_endian=True)
    frames, _ = read_all([write_capture(tmp_path / "sections.pcapng", data)])
    assert [f[2] for f in frames] == [1] * 8 + [113] * 8
    assert [f[3] for f in frames] == [p.data for p in first.frames + second.frames]
    assert frames[8][1] == pytest.approx(1_700_000_100.001, abs=1e-6)


def test_pcapng_unknown_blocks_are_skipped_and_counted(tmp_path):
    s = conversation()
    data = pcapng_bytes(s.frames, extra_blocks=[(0x0BAD, b"custom"), (4, b"\x00\x00\x00\x00")])
    frames, stats = read_all([write_capture(tmp_path / "x.pcapng", data)])
    assert len(frames) == len(s.frames)
    assert stats.skipped_blocks == {0x0BAD: 1, 4: 1}


def test_pcapng_interface_statistics_report_capture_drops(tmp_path):
    s = conversation()
    path = write_capture(tmp_path / "drops.pcapng", pcapng_bytes(s.frames, drops={0: 17}))
    _, stats = read_all([path])
    assert stats.interface_drops == {f"{path}#0": 17}


def test_pcapng_simple_packet_blocks_are_read(tmp_path):
    s = conversation()
    path = write_capture(tmp_path / "spb.pcapng", pcapng_bytes(s.frames, simple=True))
    frames, _ = read_all([path])
    assert [f[3] for f in frames] == [p.data for p in s.frames]


def test_pcapng_binary_fraction_timestamp_resolution(tmp_path):
    s = TcpSession(start_ts=1_700_000_000.0, step=0.5)
    s.handshake()
    path = write_capture(tmp_path / "bin.pcapng", pcapng_bytes(s.frames, tsresol={1: 0x80 | 10}))
    frames, _ = read_all([path])
    assert [f[1] for f in frames] == [1_700_000_000.5, 1_700_000_001.0, 1_700_000_001.5]


@pytest.mark.parametrize("writer", [pcap_bytes, pcapng_bytes])
def test_gzip_is_detected_by_magic_not_by_name(tmp_path, writer):
    s = conversation()
    path = write_capture(tmp_path / "looks-plain.pcap", gzip_bytes(writer(s.frames)))
    frames, stats = read_all([path])
    assert [f[3] for f in frames] == [p.data for p in s.frames]
    assert stats.files[0].format.endswith("+gzip")


@pytest.mark.parametrize("compress", [False, True])
def test_standard_input_is_read_without_seeking(compress):
    s = conversation()
    data = pcap_bytes(s.frames)
    frames, stats = read_all(["-"], stdin=pipe(gzip_bytes(data) if compress else data))
    assert [f[3] for f in frames] == [p.data for p in s.frames]
    assert stats.files[0].path == "-"


def test_standard_input_pcapng():
    s = conversation()
    frames, _ = read_all(["-"], stdin=pipe(pcapng_bytes(s.frames)))
    assert len(frames) == len(s.frames)


def test_several_files_are_merged_in_timestamp_order_and_numbered_globally(tmp_path):
    s = conversation(step=1.0)
    odd = write_capture(tmp_path / "odd.pcap", pcap_bytes(s.frames[0::2]))
    even = write_capture(tmp_path / "even.pcap.gz", gzip_bytes(pcapng_bytes(s.frames[1::2])))
    frames, stats = read_all([even, odd])
    assert [f[0] for f in frames] == list(range(1, len(s.frames) + 1))
    assert [f[3] for f in frames] == [p.data for p in s.frames]
    assert stats.frames == len(s.frames)
    assert [stats.files[0].first_frame, stats.files[1].first_frame] == [2, 1]
    assert [stats.files[0].frames, stats.files[1].frames] == [4, 4]
    assert [stats.file_of(n).path for n in (1, 2, 3, 8)] == [
        str(odd),
        str(even),
        str(odd),
        str(even),
    ]


def test_rotated_files_are_chained_with_each_files_first_frame(tmp_path):
    s = conversation(step=1.0)
    paths = [
        write_capture(tmp_path / f"rot{i}.pcap", pcap_bytes(s.frames[i * 3 : i * 3 + 3]))
        for i in range(3)
    ]
    frames, stats = read_all(list(reversed(paths)))
    assert [f[3] for f in frames] == [p.data for p in s.frames]
    assert [f.first_frame for f in stats.files] == [7, 4, 1]
    assert stats.file_of(5).path == str(paths[1])


def test_rotated_files_sharing_a_timestamp_at_the_boundary_stay_in_file_order(tmp_path):
    # Millisecond clocks: the last frames of one file and the first of the next share a
    # timestamp. Named in any order, the frames come in file order.
    s = conversation(step=1.0)
    boundary = s.frames[3].ts  # frames 3 to 6 in the same millisecond, across the two files
    frames = [
        dataclasses.replace(p, ts=boundary) if 3 <= n <= 6 else p for n, p in enumerate(s.frames)
    ]
    first = write_capture(tmp_path / "rot.pcap", pcap_bytes(frames[:5]))
    second = write_capture(tmp_path / "rot1.pcap", pcap_bytes(frames[5:]))
    for order in ([first, second], [second, first]):
        frames, _ = read_all(order)
        assert [f[3] for f in frames] == [p.data for p in s.frames]


def test_standard_input_merges_with_files(tmp_path):
    s = conversation(step=1.0)
    path = write_capture(tmp_path / "a.pcap", pcap_bytes(s.frames[:4]))
    frames, stats = read_all([path, "-"], stdin=pipe(pcap_bytes(s.frames[4:])))
    assert [f[3] for f in frames] == [p.data for p in s.frames]
    assert stats.frames == len(s.frames)


def test_records_straddling_read_chunks_are_reassembled(tmp_path):
    s = TcpSession()
    s.handshake()
    for n in range(3000):  # about 4.5 MB: several 1 MiB chunks
        s.client_send(bytes([n % 256]) * 1400)
    path = write_capture(tmp_path / "big.pcapng", pcapng_bytes(s.frames))
    frames, stats = read_all([path])
    assert len(frames) == len(s.frames)
    assert all(f[3] == p.data for f, p in zip(frames, s.frames, strict=True))
    assert stats.bytes == sum(len(p.data) for p in s.frames)


@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
def test_a_record_larger_than_a_read_chunk_is_read_in_one_read_not_piecewise(kind):
    s = TcpSession()
    s.handshake()
    jumbo = Packet(ts=s.ts, linktype=1, data=bytes(range(256)) * 12_000, wire_len=3_072_000)
    packets = [*s.frames, jumbo, *s.frames]  # (the reader does not look inside a record)
    data = pcap_bytes(packets, snaplen=1 << 22) if kind == "pcap" else pcapng_bytes(packets)
    stream = io.BytesIO(data)
    reads: list[int] = []

    def read(size: int) -> bytes:
        reads.append(size)
        return stream.read(size)

    stats = CaptureStats()
    tally = FileTally(stats, CaptureFile(path="jumbo"), "jumbo")
    head = read(1024)
    opened = open_pcap(read, head, tally) if kind == "pcap" else open_pcapng(read, head, tally)
    frames = list(frames_of(opened))
    assert [f[3] for f in frames] == [p.data for p in packets]
    assert len(reads) <= 5  # the jumbo record at once: no buffer regrown chunk by chunk
    assert max(reads) >= 3_000_000


# -- broken inputs ----------------------------------------------------------------------


def test_empty_file_is_a_capture_error(tmp_path):
    path = write_capture(tmp_path / "empty.pcap", b"")
    with pytest.raises(CaptureError, match=r"empty.pcap: empty file$"):
        read_all([path])


def test_bad_magic_names_the_first_bytes(tmp_path):
    path = write_capture(tmp_path / "capture.pcap", b"<html><body>not found</body></html>")
    with pytest.raises(CaptureError) as error:
        read_all([path])
    assert str(error.value) == (f"{path}: not a pcap or pcapng file (starts with 0x3c68746d)")


def test_missing_file_is_a_capture_error(tmp_path):
    with pytest.raises(CaptureError, match="cannot open"):
        read_all([tmp_path / "nope.pcap"])


def test_a_bad_file_among_several_is_left_out_and_the_others_are_read(tmp_path):
    good = write_capture(tmp_path / "good.pcap", pcap_bytes(conversation().frames))
    bad = write_capture(tmp_path / "bad.pcap", b"garbage!" * 10)
    stats = CaptureStats()
    frames = list(open_frames([good, bad], stats))
    assert len(frames) == len(conversation().frames)
    assert len(stats.warnings) == 1 and "bad.pcap" in stats.warnings[0]


def test_truncated_pcap_header_is_a_capture_error(tmp_path):
    path = write_capture(tmp_path / "h.pcap", pcap_bytes(conversation().frames)[:20])
    with pytest.raises(CaptureError, match="header truncated"):
        read_all([path])


@pytest.mark.parametrize("cut", [5, 30], ids=["inside-record-header", "inside-record-body"])
def test_truncated_pcap_keeps_frames_read_and_warns(tmp_path, cut):
    s = conversation()
    whole = pcap_bytes(s.frames)
    last_record = 16 + len(s.frames[-1].data)
    path = write_capture(tmp_path / "t.pcap", whole[: len(whole) - last_record + cut])
    frames, stats = read_all([path])
    assert len(frames) == len(s.frames) - 1
    assert len(stats.warnings) == 1
    assert stats.warnings[0].startswith(f"{path}: truncated at byte ")
    where = "inside a record header" if cut < 16 else "inside a record"
    assert f" {where};" in stats.warnings[0]
    assert stats.warnings[0].endswith(f"; {len(s.frames) - 1} frames read")


def test_truncated_pcapng_keeps_frames_read_and_warns(tmp_path):
    s = conversation()
    whole = pcapng_bytes(s.frames)
    path = write_capture(tmp_path / "t.pcapng", whole[:-10])
    frames, stats = read_all([path])
    assert len(frames) == len(s.frames) - 1
    assert "truncated at byte" in stats.warnings[0]
    assert "inside a block" in stats.warnings[0]


def test_truncated_gzip_keeps_frames_read_and_warns(tmp_path):
    s = conversation()
    compressed = gzip_bytes(pcap_bytes(s.frames))
    path = write_capture(tmp_path / "t.pcap.gz", compressed[:-12])
    frames, stats = read_all([path])
    assert len(frames) >= len(s.frames) - 1
    assert any("read error" in w or "truncated" in w for w in stats.warnings)


def test_corrupt_gzip_is_a_capture_error(tmp_path):
    path = write_capture(tmp_path / "c.pcap.gz", b"\x1f\x8b" + b"\xff" * 40)
    with pytest.raises(CaptureError, match="not a valid gzip stream"):
        read_all([path])


def test_corrupt_pcapng_block_length_is_stepped_over_with_a_warning(tmp_path):
    s = conversation()
    data = bytearray(pcapng_bytes(s.frames))
    # Find the third EPB and break its length field.
    position, seen = 0, 0
    while True:
        block_type, length = struct.unpack_from("<II", data, position)
        if block_type == 6:
            seen += 1
            if seen == 3:
                break
        position += length
    struct.pack_into("<I", data, position + 4, 7)
    frames, stats = read_all([write_capture(tmp_path / "bad.pcapng", bytes(data))])
    assert len(frames) == len(s.frames) - 1  # only the damaged block is lost
    assert "corrupt pcapng block" in stats.warnings[0]


def test_pcapng_packet_naming_an_undescribed_interface_is_counted_not_fatal(tmp_path):
    s = conversation()
    data = bytearray(pcapng_bytes(s.frames[:1]))
    # Point the only EPB at interface 5, which no IDB describes.
    position = 0
    while struct.unpack_from("<I", data, position)[0] != 6:
        position += struct.unpack_from("<I", data, position + 4)[0]
    struct.pack_into("<I", data, position + 8, 5)
    path = write_capture(tmp_path / "noidb.pcapng", bytes(data))
    stats = track_files([path], Recorder())
    assert stats.unsupported_linktype == {-1: 1}
    assert stats.unaccounted_frames() == 0


def test_errors_are_one_line(tmp_path):
    path = write_capture(tmp_path / "x.pcap", b"\x00" * 3)
    with pytest.raises(CaptureError) as error:
        read_all([path])
    assert "\n" not in str(error.value)


def test_zstd_is_detected_by_magic(tmp_path):
    zstandard = pytest.importorskip("zstandard")
    s = conversation()
    data = zstandard.ZstdCompressor().compress(pcap_bytes(s.frames))
    frames, stats = read_all([write_capture(tmp_path / "c.pcap.zst", data)])
    assert len(frames) == len(s.frames)
    assert stats.files[0].format == "pcap+zstd"


def test_dash_reads_the_real_standard_input(tmp_path):
    s = conversation()
    path = write_capture(tmp_path / "in.pcap.gz", gzip_bytes(pcap_bytes(s.frames)))
    program = (
        "import sys; from capture import track_files\n"
        "from tests.capture.recorder import Recorder\n"
        "r = Recorder(); stats = track_files(['-'], r)\n"
        "print(stats.frames, bytes(r.only.data[0]).decode())\n"
    )
    root = Path(__file__).resolve().parents[2]
    with open(path, "rb") as stdin:
        out = subprocess.run(
            [sys.executable, "-c", program], stdin=stdin, capture_output=True, text=True,
            cwd=root, check=True,
        ).stdout  # fmt: skip
    assert out.split() == [str(len(s.frames)), "select", "1"]


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_crafted_two_interface_pcapng_reads_the_same_in_tshark(tmp_path):
    ethernet = conversation(link="ethernet")
    cooked = conversation(link="sll2", client=("10.1.0.1", 40000), start_ts=1_700_000_000.0005)
    frames = sorted(ethernet.frames + cooked.frames, key=lambda p: p.ts)
    path = write_capture(tmp_path / "two.pcapng", pcapng_bytes(frames, tsresol={276: 9}))
    out = subprocess.run(
        ["tshark", "-r", str(path), "-T", "fields", "-e", "frame.number", "-e", "tcp.srcport",
         "-e", "tcp.len"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    theirs = [tuple(int(x) for x in line.split("\t")) for line in out.splitlines()]
    ours, _ = read_all([path])
    assert len(theirs) == len(ours) == 16
    assert [t[0] for t in theirs] == [f[0] for f in ours]
    assert [t[2] for t in theirs] == [len(p.payload) for p in frames]
