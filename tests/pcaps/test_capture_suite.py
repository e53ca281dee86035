"""The committed capture suite in pcaps/: every capture has a valid expected file and log.

These tests check the suite itself (schema 1, issue 4's names, captures present, readable and
holding the connections their expected files list), not the analyzer: the analyzer's
verdicts are compared with these files by the regression tests of issue 4.
"""

from __future__ import annotations

import gzip
import ipaddress
import json
import re
import shutil
import subprocess
from pathlib import Path

import dpkt
import pytest

from mysqlwire.report.findings import FINDING_KINDS as ANALYZER_FINDINGS
from mysqlwire.report.verdicts import VERDICTS
from pcaps.pcapgen import expected as expected_names

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"

# The names expected files may use (issue 4's), one list shared with the generator that
# writes them; test_the_suite_speaks_the_analyzers_vocabulary ties it to the analyzer's.
CLOSE_VERDICTS = set(expected_names.CLOSE_VERDICTS)
CLOSED_BY = set(expected_names.CLOSED_BY)
FINDING_KINDS = set(expected_names.FINDING_KINDS)
# Findings no real-traffic scenario produces yet (see pcaps/README.md, "Not covered").
FINDINGS_NOT_COVERED = {"malformed_packet"}

CONNECTION_KEYS = {
    "client": str,
    "server": str,
    "thread_id": (int, type(None)),
    "user": (str, type(None)),
    "database": (str, type(None)),
    "close": str,
    "closed_by": str,
    "error_codes": list,
    "findings": list,
    "client_library": str,
    "client_reported": str,
}
OPTIONAL_CONNECTION_KEYS = {"handshake_captured": bool, "note": str}
TOP_KEYS = {
    "schema": int,
    "capture": str,
    "scenario": str,
    "server": dict,
    "capture_command": str,
    "analyze_options": list,
    "connection_count": int,
    "connections": list,
}
MAX_COMMITTED_BYTES = 4 * 1024 * 1024
CAPTURE_SUFFIXES = (".pcap", ".pcap.gz", ".pcapng", ".pcapng.gz")
ADDRESS = re.compile(r"^(?P<ip>[0-9.]+|\[[0-9a-fA-F:]+\]):(?P<port>\d{1,5})$")

EXPECTED_FILES = sorted(PCAPS.glob("*.expected.json"))
CAPTURE_FILES = sorted(p for p in PCAPS.iterdir() if p.name.endswith(CAPTURE_SUFFIXES))


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def stem(path: Path) -> str:
    return path.name.removesuffix(".expected.json")


def open_capture(path: Path):
    raw = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")  # noqa: SIM115
    head = raw.read(4)
    raw.seek(0)
    if head == b"\x0a\x0d\x0d\x0a":
        return raw, dpkt.pcapng.Reader(raw)
    return raw, dpkt.pcap.Reader(raw)


LINK_LAYERS = {
    dpkt.pcap.DLT_EN10MB: dpkt.ethernet.Ethernet,
    dpkt.pcap.DLT_LINUX_SLL: dpkt.sll.SLL,
    276: dpkt.sll2.SLL2,  # DLT_LINUX_SLL2, what tcpdump -i any writes since 4.99
}


def tcp_connections(path: Path) -> set[tuple[str, str]]:
    """Every TCP 4-tuple in the capture, as a sorted pair of "ip:port" strings (inside VXLAN
    for the one capture taken on an overlay's underlay)."""
    raw, reader = open_capture(path)
    link = LINK_LAYERS[reader.datalink()]
    seen = set()
    with raw:
        for _, frame in reader:
            ip = link(frame).data
            if isinstance(getattr(ip, "data", None), dpkt.udp.UDP) and ip.data.dport == 4789:
                ip = dpkt.ethernet.Ethernet(ip.data.data[8:]).data  # VXLAN (vxlan_overlay)
            if not isinstance(ip, dpkt.ip.IP | dpkt.ip6.IP6) or not isinstance(
                ip.data, dpkt.tcp.TCP
            ):
                continue
            src = f"{ipaddress.ip_address(ip.src)}:{ip.data.sport}"
            dst = f"{ipaddress.ip_address(ip.dst)}:{ip.data.dport}"
            seen.add(tuple(sorted((src, dst))))
    return seen


def test_the_suite_is_not_empty():
    assert len(EXPECTED_FILES) >= 20


@pytest.mark.parametrize("path", EXPECTED_FILES, ids=stem)
def test_expected_file_follows_schema_1(path):
    expected = load(path)
    for key, kind in TOP_KEYS.items():
        assert isinstance(expected.get(key), kind), key
    assert set(expected) == set(TOP_KEYS)
    assert expected["schema"] == 1
    assert expected["capture"].startswith(stem(path) + ".")
    assert expected["capture"].endswith(CAPTURE_SUFFIXES)
    assert set(expected["server"]) == {"product", "version", "address"}
    assert ADDRESS.match(expected["server"]["address"])
    assert all(isinstance(option, str) for option in expected["analyze_options"])
    assert expected["scenario"].strip()
    assert expected["connection_count"] >= len(expected["connections"]) >= 1


@pytest.mark.parametrize("path", EXPECTED_FILES, ids=stem)
def test_every_connection_uses_the_names_of_issue_4(path):
    for conn in load(path)["connections"]:
        for key, kind in CONNECTION_KEYS.items():
            assert isinstance(conn.get(key), kind), (conn["client"], key)
        for key, kind in OPTIONAL_CONNECTION_KEYS.items():
            assert isinstance(conn.get(key, kind()), kind), (conn["client"], key)
        assert set(conn) <= set(CONNECTION_KEYS) | set(OPTIONAL_CONNECTION_KEYS)
        assert conn["close"] in CLOSE_VERDICTS
        assert conn["closed_by"] in CLOSED_BY
        assert set(conn["findings"]) <= FINDING_KINDS
        assert ADDRESS.match(conn["client"]) and ADDRESS.match(conn["server"])
        assert all(isinstance(code, int) and 1000 <= code < 10000 for code in conn["error_codes"])
        if conn["error_codes"]:
            assert "mysql_error" in conn["findings"]


@pytest.mark.parametrize("path", EXPECTED_FILES, ids=stem)
def test_verdicts_agree_with_who_closed(path):
    implied = {
        "still_open_at_capture_end": {"none"},
        "middlebox_rst": {"middlebox"},
        "connection_refused": {"server"},
        "auth_failed": {"server"},
        "server_closed_error": {"server"},
        "server_closed_idle": {"server"},
        "killed_by_server": {"server"},
        "client_fin_no_quit": {"client"},
        "client_rst_no_quit": {"client"},
        "handshake_aborted": {"client"},
    }
    for conn in load(path)["connections"]:
        assert conn["closed_by"] in implied.get(conn["close"], CLOSED_BY - {"none"})


@pytest.mark.parametrize("path", EXPECTED_FILES, ids=stem)
def test_capture_and_error_log_are_present(path):
    expected = load(path)
    assert (PCAPS / expected["capture"]).is_file()
    assert (PCAPS / f"{stem(path)}.error.log").is_file()


@pytest.mark.parametrize("path", CAPTURE_FILES, ids=lambda p: p.name)
def test_every_capture_has_an_expected_file(path):
    name = path.name
    for suffix in CAPTURE_SUFFIXES:
        name = name.removesuffix(suffix)
    assert (PCAPS / f"{name}.expected.json").is_file()


@pytest.mark.parametrize("path", EXPECTED_FILES, ids=stem)
def test_capture_holds_exactly_the_listed_connections(path):
    """Read with dpkt: connection_count TCP connections, each listed client/server among them."""
    expected = load(path)
    on_wire = tcp_connections(PCAPS / expected["capture"])
    assert len(on_wire) == expected["connection_count"]
    for conn in expected["connections"]:
        assert tuple(sorted((conn["client"], conn["server"]))) in on_wire, conn["client"]


@pytest.mark.skipif(shutil.which("capinfos") is None, reason="capinfos (tshark) not installed")
@pytest.mark.parametrize("path", CAPTURE_FILES, ids=lambda p: p.name)
def test_wireshark_reads_the_capture(path):
    result = subprocess.run(["capinfos", "-c", "-M", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    packets = int(re.search(r"Number of packets:\s+(\d+)", result.stdout).group(1))
    assert packets > 0


def test_the_suite_has_each_link_type_and_format():
    names = [p.name for p in CAPTURE_FILES]
    assert any(n.endswith(".pcapng") for n in names)
    assert any(n.endswith(".gz") for n in names)
    link_types = set()
    for path in CAPTURE_FILES:
        raw, reader = open_capture(path)
        with raw:
            link_types.add(reader.datalink())
    assert {dpkt.pcap.DLT_EN10MB, 276} <= link_types


def test_every_close_verdict_is_covered():
    verdicts = {c["close"] for p in EXPECTED_FILES for c in load(p)["connections"]}
    assert verdicts == CLOSE_VERDICTS


def test_every_finding_kind_is_covered_except_the_documented_gaps():
    findings = {f for p in EXPECTED_FILES for c in load(p)["connections"] for f in c["findings"]}
    assert findings == FINDING_KINDS - FINDINGS_NOT_COVERED


def test_committed_suite_stays_small():
    total = sum(p.stat().st_size for p in PCAPS.iterdir() if p.is_file())
    assert total < MAX_COMMITTED_BYTES, f"{total / 1e6:.1f} MB in pcaps/"


def test_the_suite_speaks_the_analyzers_vocabulary() -> None:
    assert set(VERDICTS) == CLOSE_VERDICTS
    assert set(ANALYZER_FINDINGS) >= FINDING_KINDS
