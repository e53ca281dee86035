"""`analyze --jobs N` splits the connections between processes: the output must be exactly the
output of one process, byte for byte, records and summary in the same order."""

from __future__ import annotations

import json
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
