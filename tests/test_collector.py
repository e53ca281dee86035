"""The collector's pace during an analysis: raised inside, the caller's restored after."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from mysqlwire.collector import YOUNG_THRESHOLD, analysis_pace
from mysqlwire.pipeline import AnalysisOptions, analyze

PCAPS = Path(__file__).resolve().parents[1] / "pcaps"


@pytest.fixture
def thresholds():
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


def test_raised_inside_restored_after(thresholds) -> None:
    gc.set_threshold(700, 11, 12)
    with analysis_pace():
        assert gc.get_threshold() == (YOUNG_THRESHOLD, 11, 12)
    assert gc.get_threshold() == (700, 11, 12)


def test_a_callers_slower_pace_is_kept(thresholds) -> None:
    gc.set_threshold(YOUNG_THRESHOLD * 3, 10, 10)
    with analysis_pace():
        assert gc.get_threshold() == (YOUNG_THRESHOLD * 3, 10, 10)
    assert gc.get_threshold() == (YOUNG_THRESHOLD * 3, 10, 10)


def test_restored_when_the_block_raises(thresholds) -> None:
    gc.set_threshold(700, 10, 10)
    with pytest.raises(RuntimeError), analysis_pace():
        raise RuntimeError("boom")
    assert gc.get_threshold() == (700, 10, 10)


def test_analyze_runs_at_the_pace_and_restores_it(thresholds) -> None:
    gc.set_threshold(700, 10, 10)
    seen: list[tuple[int, int, int]] = []
    analyze([str(PCAPS / "clean_quit.pcap")], AnalysisOptions(),
            lambda report: seen.append(gc.get_threshold()))  # fmt: skip
    assert seen == [(YOUNG_THRESHOLD, 10, 10)]
    assert gc.get_threshold() == (700, 10, 10)
