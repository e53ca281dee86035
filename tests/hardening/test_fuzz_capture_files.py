"""Damaged capture files, at random: real pcap, pcapng and gzip files from pcaps/ with bytes
flipped, fields set to extreme values, ranges cut out, repeated or filled with garbage, and the
file cut short. The readers raise nothing but `CaptureError`; the command line never shows a
traceback or an internal error, and exits 0 (read, maybe with warnings) or 2 (nothing could
be read). Bounded in time: a few hundred small files in CI."""

from __future__ import annotations

import gzip
import struct
import tempfile
from functools import cache
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from capture import CaptureError, CaptureStats, TcpTracker, open_frames
from mysqlwire.cli import main
from tests.protocol.test_properties import SCALE

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
SOURCES = ["clean_quit.pcap", "prepared_statements.pcapng", "compression.pcap", "tls.pcap"]


@cache
def originals() -> tuple[bytes, ...]:
    files = [(PCAPS / name).read_bytes() for name in SOURCES]
    return (*files, gzip.compress(files[0]), gzip.compress(files[1]))


EXTREMES = [0, 1, 7, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFF0, 0xFFFFFFFF]

damage = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1 << 20), st.integers(1, 255)),
    st.tuples(st.just("field"), st.integers(0, 1 << 20), st.sampled_from(EXTREMES)),
    st.tuples(st.just("field"), st.integers(0, 1 << 20), st.integers(0, 0xFFFFFFFF)),
    st.tuples(st.just("cut_out"), st.integers(0, 1 << 20), st.integers(1, 400)),
    st.tuples(st.just("repeat"), st.integers(0, 1 << 20), st.integers(1, 400)),
    st.tuples(st.just("garbage"), st.integers(0, 1 << 20), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("end"), st.integers(0, 1 << 20), st.just(0)),
)


def damaged(original: bytes, damages: list[tuple]) -> bytes:
    data = bytearray(original)
    for kind, where, arg in damages:
        if not data:
            break
        at = where % len(data)
        if kind == "flip":
            data[at] ^= arg
        elif kind == "field":  # a length, a type, a magic, a timestamp: 4 aligned bytes
            at -= at % 4
            data[at : at + 4] = struct.pack("<I", arg)[: len(data) - at]
        elif kind == "cut_out":
            del data[at : at + arg]
        elif kind == "repeat":
            data[at:at] = data[at : at + arg]
        elif kind == "garbage":
            data[at:at] = arg
        elif kind == "end":
            del data[at:]
    return bytes(data)


FUZZ = settings(
    max_examples=150 * SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(st.integers(0, len(SOURCES) + 1), st.lists(damage, min_size=1, max_size=6))
def test_the_readers_raise_nothing_but_capture_errors(source, damages):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "damaged.cap"
        path.write_bytes(damaged(originals()[source], damages))
        stats = CaptureStats()
        try:
            frames = open_frames([path], stats)
            tracker = TcpTracker(lambda connection: None, stats, server_ports=None)
            tracker.run(frames)
            tracker.finish()
        except CaptureError as error:
            assert "\n" not in str(error)
            return
        assert stats.unaccounted_frames() == 0
        assert all("\n" not in warning for warning in stats.warnings)


@FUZZ
@given(
    st.integers(0, len(SOURCES) + 1),
    st.lists(damage, min_size=1, max_size=6),
    st.sampled_from([["analyze"], ["analyze", "--format", "jsonl"], ["dump"]]),
    st.booleans(),
)
# Found by this test: an interface's timestamp resolution damaged to 1 s made the frame times
# tens of thousands of years away, which no calendar could print.
@example(1, [("field", 180, 0)], ["analyze"], False)
def test_the_command_line_never_shows_a_traceback(source, damages, command, with_a_good_file):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "damaged.cap"
        path.write_bytes(damaged(originals()[source], damages))
        inputs = [str(path)]
        if with_a_good_file:
            inputs.append(str(PCAPS / "client_exit_fin.pcap"))
        result = CliRunner().invoke(main, [*command, "--port", "any", *inputs])
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code in (0, 2), result.stderr
    if with_a_good_file:  # something could be read: analysed, with warnings if need be
        assert result.exit_code == 0, result.stderr
    if result.exit_code == 2:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
