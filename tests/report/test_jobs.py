"""`analyze --jobs N` splits the connections between processes: the output must be exactly the
output of one process, byte for byte, records and summary in the same order."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner

from mysqlwire.cli import main

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
EXPECTED = sorted(PCAPS.glob("*.expected.json"))


def jsonl(capture: Path, options: list[str], jobs: int) -> str:
    result = CliRunner().invoke(
        main, ["analyze", str(capture), *options, "--format", "jsonl", "--jobs", str(jobs)]
    )
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("expected", EXPECTED, ids=lambda p: p.name.split(".")[0])
def test_three_processes_give_the_output_of_one(expected: Path) -> None:
    data = json.loads(expected.read_text())
    capture = PCAPS / data["capture"]
    assert jsonl(capture, data["analyze_options"], 3) == jsonl(capture, data["analyze_options"], 1)


def test_capture_counters_are_merged_not_repeated() -> None:
    summary = json.loads(jsonl(PCAPS / "busy_mix.pcap", [], 2).splitlines()[-1])
    capture = summary["capture"]
    assert capture["tcp_connections"] == 20
    assert capture["frames_in_connections"] == capture["frames"] == 2736


def test_warnings_are_those_of_one_process(tmp_path: Path) -> None:
    # busy_mix with every frame cut to 100 bytes: cut frames in every process's share
    data = (PCAPS / "busy_mix.pcap").read_bytes()
    out, pos = bytearray(data[:16] + struct.pack("<I", 100) + data[20:24]), 24
    while pos + 16 <= len(data):
        sec, usec, caplen, wirelen = struct.unpack_from("<IIII", data, pos)
        body = data[pos + 16 : pos + 16 + caplen][:100]
        out += struct.pack("<IIII", sec, usec, len(body), wirelen) + body
        pos += 16 + caplen
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(bytes(out))

    def stderr(jobs: int) -> str:
        result = CliRunner().invoke(
            main, ["analyze", str(cut), "--format", "jsonl", "--jobs", str(jobs)]
        )
        assert result.exit_code == 0, result.output
        return result.stderr

    one = stderr(1)
    assert "snapshot length" in one
    assert stderr(3) == one
