"""Machine-readable `analyze` output: jsonl (streamed, one object per line) and json (one
document). Both carry exactly the records of `schema.py`."""

from __future__ import annotations

import json
from typing import TextIO

from capture import CaptureStats
from mysqlwire.output.schema import connection_record, summary_record
from mysqlwire.report.connection_report import ConnectionReport

# One encoder for every record: `json.dumps` with options builds a new one per call, about
# a quarter of the time it takes to encode a connection's line. A record is a tree of fresh
# dicts and lists, never circular, so the encoder does not track the containers it is in.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


def dumps(record: dict[str, object]) -> str:
    return _ENCODER.encode(record)


class JsonlWriter:
    """Writes each connection as it closes, so a long capture streams, then the summary."""

    def __init__(self, out: TextIO, only_problems: bool = False) -> None:
        self.out = out
        self.only_problems = only_problems

    def connection(self, report: ConnectionReport) -> None:
        if report.not_mysql is not None:
            return
        if self.only_problems and report.severity not in ("warning", "error"):
            return
        self.out.write(dumps(connection_record(report)) + "\n")

    def finish(
        self,
        summary: dict[str, object],
        stats: CaptureStats,
        error_log: dict[str, object] | None = None,
    ) -> None:
        self.out.write(dumps(summary_record(summary, stats, error_log)) + "\n")


def write_json(
    out: TextIO,
    reports: list[ConnectionReport],
    summary: dict[str, object],
    stats: CaptureStats,
    only_problems: bool = False,
    error_log: dict[str, object] | None = None,
) -> None:
    connections = [
        connection_record(r)
        for r in sorted(reports, key=lambda r: r.first_frame)
        if r.not_mysql is None and (not only_problems or r.severity in ("warning", "error"))
    ]
    json.dump(
        {"connections": connections, "summary": summary_record(summary, stats, error_log)},
        out,
        ensure_ascii=False,
        indent=2,
    )
    out.write("\n")
