"""`mysqlwire live` refuses clearly: one line on stderr, exit status 2, a hint at the fix."""

from __future__ import annotations

import ctypes
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import capture.live
from mysqlwire.live_cli import live_command
from tests.live.conftest import needs_capture

ROOT = Path(__file__).resolve().parents[2]
PR_CAPBSET_DROP = 24
CAP_NET_RAW = 13


def live(*args: str):
    return CliRunner().invoke(live_command, list(args))


def assert_one_line_error(result, *fragments: str) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mysqlwire: ")
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def test_an_unknown_interface_lists_the_ones_there_are():
    line = assert_one_line_error(live("-i", "nosuch0"), "no interface 'nosuch0'", "available: any")
    assert "lo" in line.split("available:")[1]


def test_a_bad_filter_expression_says_what_libpcap_found():
    assert_one_line_error(
        live("-i", "lo", "--bpf", "tcp prot 3306"), "bad filter expression 'tcp prot 3306'"
    )


def test_without_cap_net_raw_it_says_to_use_sudo_or_setcap(monkeypatch):
    def refuse(*args: object, **kwargs: object) -> socket.socket:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(capture.live.socket, "socket", refuse)
    assert_one_line_error(
        live("-i", "lo"), "needs root or the CAP_NET_RAW capability", "sudo", "setcap cap_net_raw"
    )


def _without_cap_net_raw() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_CAPBSET_DROP, CAP_NET_RAW, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to take CAP_NET_RAW away")
def test_a_process_without_cap_net_raw_gets_the_hint_not_a_traceback():
    """A real refusal by the kernel: the child runs as root minus CAP_NET_RAW."""
    done = subprocess.run(
        [sys.executable, "-m", "mysqlwire.live_cli", "-i", "lo"],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_without_cap_net_raw,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("mysqlwire: capturing packets needs root or the CAP_NET_RAW")
    assert "sudo setcap cap_net_raw+eip" in done.stderr


def test_the_same_file_cannot_take_all_packets_and_problem_packets(tmp_path):
    path = str(tmp_path / "x.pcap")
    assert_one_line_error(
        live("-i", "lo", "--write", path, "--write-problems", path), "two different files"
    )


@needs_capture
def test_a_file_that_cannot_be_written_is_named(tmp_path):
    missing = tmp_path / "no" / "such" / "dir.pcap"
    assert_one_line_error(
        live("-i", "lo", "--write", str(missing)), f"cannot write {missing}", "No such file"
    )


@needs_capture
@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_rotation_into_a_directory_the_user_cannot_write_is_refused_at_start(tmp_path):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    line = assert_one_line_error(
        live("-i", "lo", "--write", str(private / "x.pcap"), "--write-size", "1M"),
        "which user nobody cannot write",
        "--user root",
    )
    assert str(private) in line


def test_a_capture_ring_too_large_for_the_machine_is_refused_before_it_is_made():
    # A ring the size of the RAM had the out-of-memory killer take the database first.
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        available_kib = next(int(line.split()[1]) for line in meminfo if "MemAvailable" in line)
    too_big = f"{available_kib // 1024 // 2}M"  # half of what is available
    assert_one_line_error(live("-i", "lo", "--buffer-size", too_big), "--buffer-size", "RAM")


def test_help_names_every_option():
    result = live("--help")
    assert result.exit_code == 0
    for option in (
        "--interface",
        "--port",
        "--bpf",
        "--format",
        "--only-problems",
        "--interval",
        "--write",
        "--write-problems",
        "--write-size",
        "--write-files",
        "--problem-buffer",
        "--problem-buffer-total",
        "--max-connections",
        "--buffer-size",
        "--user",
    ):
        assert option in result.output


def test_mysqlwire_live_is_registered_when_cli_registers_it():
    from mysqlwire.cli import main

    if "live" not in main.commands:
        pytest.skip("mysqlwire.cli does not register live_command yet")
    assert main.commands["live"] is live_command
