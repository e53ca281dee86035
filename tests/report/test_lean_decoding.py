"""The analyzer decodes in lean mode (no events for successful replies). Its reports must be
exactly those of the full event stream, on every real capture we have."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mysqlwire.output.schema import connection_record
from mysqlwire.pipeline import AnalysisOptions, analyze

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"


def captures() -> list[tuple[Path, frozenset[int]]]:
    found = []
    for expected in sorted((ROOT / "pcaps").glob("*.expected.json")):
        data = json.loads(expected.read_text())
        options = data["analyze_options"]
        ports = {3306} | {int(options[i + 1]) for i, o in enumerate(options) if o == "--port"}
        found.append((ROOT / "pcaps" / data["capture"], frozenset(ports)))
    if (CORPUS / "MANIFEST.json").exists():
        for row in json.loads((CORPUS / "MANIFEST.json").read_text()):
            ports = frozenset(
                int(p.strip("?")) for p in row["server_ports"].replace(",", " ").split()
            )
            found.append((CORPUS / row["local"], ports))
    return found


def records(path: Path, ports: frozenset[int], lean: bool) -> list[dict]:
    reports: list = []
    analyze([path], AnalysisOptions(server_ports=ports, lean=lean), reports.append)
    return [connection_record(r) for r in reports]


@pytest.mark.parametrize(("path", "ports"), captures(), ids=lambda v: getattr(v, "name", ""))
def test_lean_reports_equal_full_reports(path: Path, ports: frozenset[int]) -> None:
    assert records(path, ports, lean=True) == records(path, ports, lean=False)
