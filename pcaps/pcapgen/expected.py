"""The expected-results file written next to each capture (`NAME.expected.json`, schema 1).

Every value comes from what the scenario did — the client socket's own address, the thread id
the library reported, the error the library raised — never from reading the capture.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

SCHEMA_VERSION = 1

# Issue 4's names, the only list of them (tests/pcaps checks they are the analyzer's).
CLOSE_VERDICTS = (
    "clean_quit",
    "client_fin_no_quit",
    "client_rst_no_quit",
    "handshake_aborted",
    "auth_failed",
    "server_closed_error",
    "server_closed_idle",
    "killed_by_server",
    "middlebox_rst",
    "still_open_at_capture_end",
    "connection_refused",
    "closed_under_tls",
)
CLOSED_BY = ("client", "server", "middlebox", "none")
FINDING_KINDS = (
    "mysql_error",
    "sequence_error",
    "oversize_packet",
    "split_packet",
    "malformed_packet",
    "capture_gap",
    "mid_stream_start",
    "tls",
    "compressed",
    "retransmissions",
    "rst_after_quit",
    "connection_refused",
    "middlebox_rst",
    "proxy_header",
)


@dataclass(slots=True)
class ExpectedConnection:
    """One MySQL connection as the scenario knows it.

    `handshake_captured` is False when the capture started after the greeting: thread id,
    user and database are still the truth, but no analyzer can read them from that capture.
    """

    client: str
    server: str
    thread_id: int | None
    user: str | None
    database: str | None
    close: str
    closed_by: str
    error_codes: list[int] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    client_library: str = ""
    client_reported: str = "ok"
    handshake_captured: bool = True
    note: str = ""

    def __post_init__(self) -> None:
        if self.close not in CLOSE_VERDICTS:
            raise ValueError(f"unknown close verdict {self.close!r}")
        if self.closed_by not in CLOSED_BY:
            raise ValueError(f"unknown closed_by {self.closed_by!r}")
        unknown = set(self.findings) - set(FINDING_KINDS)
        if unknown:
            raise ValueError(f"unknown finding kinds {sorted(unknown)}")
        if self.error_codes and "mysql_error" not in self.findings:
            self.findings.insert(0, "mysql_error")

    def as_json(self) -> dict:
        record = asdict(self)
        if record["handshake_captured"]:
            del record["handshake_captured"]
        if not record["note"]:
            del record["note"]
        return record


@dataclass(slots=True)
class ExpectedCapture:
    capture: str
    scenario: str
    server: dict
    capture_command: str
    analyze_options: list[str]
    connection_count: int
    connections: list[ExpectedConnection]

    def as_json(self) -> dict:
        return {
            "schema": SCHEMA_VERSION,
            "capture": self.capture,
            "scenario": self.scenario,
            "server": self.server,
            "capture_command": self.capture_command,
            "analyze_options": self.analyze_options,
            "connection_count": self.connection_count,
            "connections": [c.as_json() for c in self.connections],
        }

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.as_json(), indent=2) + "\n")
