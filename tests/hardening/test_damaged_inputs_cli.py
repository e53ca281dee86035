"""Issue 9's rule for damaged inputs, through the command line: a file that is damaged or no
capture at all, given with a good one, gets one warning line each and the rest is analysed,
exit 0. (tests/cli/test_bad_input.py runs the same rule in a subprocess; this runs every kind
of damage in process, which is quicker.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.craft import TcpSession, gzip_bytes, pcapng_bytes, write_capture
from tests.hardening.captures import run

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"


def http_session() -> TcpSession:
    s = TcpSession()
    s.handshake()
    s.client_send(b"GET / HTTP/1.1\r\nHost: db\r\n\r\n")
    s.server_send(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    return s


def damaged_inputs(tmp_path: Path) -> dict[str, Path]:
    """One file of each kind of damage, keyed by what is wrong with it."""
    good = (PCAPS / "clean_quit.pcap").read_bytes()
    offsets, position = [], 24
    while position < len(good):
        offsets.append(position)
        position += 16 + int.from_bytes(good[position + 8 : position + 12], "little")
    huge_caplen = bytearray(good)
    huge_caplen[offsets[5] + 8 : offsets[5] + 12] = (0xFFFFFFF0).to_bytes(4, "little")
    pcapng = bytearray(pcapng_bytes(http_session().frames))
    pcapng[pcapng.index(b"\x06\x00\x00\x00") + 4] ^= 0x03  # an EPB length not a multiple of 4
    kinds = {
        "empty": b"",
        "zero-length gzip": gzip_bytes(b""),
        "gzip of text": gzip_bytes(b"SELECT 1;\n" * 50),
        "bad magic": b"<html>not found</html>",
        "header only": good[:24],
        "truncated record": good[:-30],
        "truncated gzip": gzip_bytes(good)[:-40],
        "huge captured length": bytes(huge_caplen),
        "corrupt pcapng block": bytes(pcapng),
    }
    return {
        kind: write_capture(tmp_path / f"{kind.replace(' ', '_')}.cap", data)
        for kind, data in kinds.items()
    }


KINDS = [
    "empty",
    "zero-length gzip",
    "gzip of text",
    "bad magic",
    "truncated record",
    "truncated gzip",
    "huge captured length",
    "corrupt pcapng block",
]


@pytest.mark.parametrize("kind", KINDS)
def test_a_damaged_file_among_good_ones_is_reported_and_the_rest_analysed(tmp_path, kind):
    damaged = damaged_inputs(tmp_path)[kind]
    result = run("analyze", damaged, PCAPS / "client_exit_fin.pcap")
    assert result.exit_code == 0, result.stderr
    warnings = result.stderr.splitlines()
    assert warnings and all(line.startswith("mysqlwire: warning: ") for line in warnings)
    assert any(damaged.name in line for line in warnings)
    assert "client_fin_no_quit" in result.stdout


def test_a_capture_with_no_packet_among_good_ones_is_simply_empty(tmp_path):
    damaged = damaged_inputs(tmp_path)["header only"]
    result = run("analyze", damaged, PCAPS / "client_exit_fin.pcap")
    assert result.exit_code == 0 and result.stderr == ""
    assert "2 file(s)" in result.stdout


@pytest.mark.parametrize("kind", ["empty", "gzip of text", "bad magic", "zero-length gzip"])
def test_alone_a_file_that_is_no_capture_is_one_line_and_exit_2(tmp_path, kind):
    damaged = damaged_inputs(tmp_path)[kind]
    result = run("analyze", damaged)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and damaged.name in result.stderr


@pytest.mark.parametrize("kind", ["truncated record", "huge captured length"])
def test_alone_a_damaged_capture_is_analysed_with_a_warning(tmp_path, kind):
    result = run("analyze", damaged_inputs(tmp_path)[kind])
    assert result.exit_code == 0 and "clean_quit" in result.stdout
    assert result.stderr.startswith("mysqlwire: warning: ")
