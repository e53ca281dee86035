"""Bad input never produces a traceback: one clear line on stderr and a non-zero exit.

Each test runs the real `mysqlwire` command in a subprocess, as a user would, so that
nothing (click's own handling, an import-time failure, a stray print) can hide in-process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tests.craft import TcpSession, gzip_bytes, pcap_bytes, write_capture
from tests.processes import default_sigint

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"


def mysqlwire(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "mysqlwire.cli", *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    return subprocess.CompletedProcess(
        done.args,
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mysqlwire: ")
    for fragment in fragments:
        assert fragment in lines[0]


def http_session() -> TcpSession:
    s = TcpSession(client=("10.0.0.1", 40000), server=("10.0.0.2", 3306))
    s.handshake()
    s.client_send(b"GET / HTTP/1.1\r\nHost: db\r\n\r\n")
    s.server_send(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    s.client_fin()
    s.server_fin()
    return s


@pytest.mark.parametrize("command", ["analyze", "dump"])
def test_missing_file(command: str) -> None:
    assert_one_line_error(mysqlwire(command, "/nonexistent/capture.pcap"), "capture.pcap")


def test_directory_instead_of_file(tmp_path: Path) -> None:
    assert_one_line_error(mysqlwire("analyze", str(tmp_path)), str(tmp_path))


def test_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    assert_one_line_error(mysqlwire("analyze", str(empty)), "empty.pcap")


def test_text_file_is_not_a_capture(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("SELECT 1;\n" * 100)
    assert_one_line_error(mysqlwire("analyze", str(notes)), "notes.txt")


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = tmp_path / "locked.pcap"
    locked.write_bytes((PCAPS / "clean_quit.pcap").read_bytes())
    locked.chmod(0)
    if os.geteuid() != 0:
        assert_one_line_error(mysqlwire("analyze", str(locked)), "locked.pcap", "ermission denied")
        return
    # Root reads any file: make the open fail the way it would for anyone else.
    import builtins

    from click.testing import CliRunner

    from mysqlwire.cli import main

    real_open = builtins.open

    def refusing_open(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(file) == str(locked):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refusing_open)
    result = CliRunner().invoke(main, ["analyze", str(locked)])
    assert result.exit_code == 2
    assert "locked.pcap" in result.stderr and "ermission denied" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_truncated_capture_is_analysed_with_a_warning(tmp_path: Path) -> None:
    data = (PCAPS / "clean_quit.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) - 30])  # inside the last record
    result = mysqlwire("analyze", str(cut))
    assert result.returncode == 0
    assert "truncated" in result.stderr and "Traceback" not in result.stderr
    assert "1 MySQL connection(s)" in result.stdout


def test_corrupt_gzip(tmp_path: Path) -> None:
    data = gzip_bytes((PCAPS / "clean_quit.pcap").read_bytes())
    broken = tmp_path / "broken.pcap.gz"
    broken.write_bytes(data[: len(data) // 2])
    result = mysqlwire("analyze", str(broken))
    assert "Traceback" not in result.stderr
    assert result.returncode in (0, 2)  # whatever was readable before the damage, or nothing


def test_unknown_link_type(tmp_path: Path) -> None:
    frames = [replace(p, linktype=147) for p in http_session().frames]  # DLT_USER0
    capture = write_capture(tmp_path / "user0.pcap", pcap_bytes(frames))
    assert_one_line_error(mysqlwire("analyze", str(capture)), "no MySQL traffic", "DLT 147")


def test_other_protocol_on_the_mysql_port(tmp_path: Path) -> None:
    capture = write_capture(tmp_path / "http.pcap", pcap_bytes(http_session().frames))
    assert_one_line_error(mysqlwire("analyze", str(capture)), "no MySQL traffic", "http")


def test_garbage_bytes_on_the_mysql_port(tmp_path: Path) -> None:
    s = TcpSession(client=("10.0.0.1", 40001), server=("10.0.0.2", 3306))
    s.handshake()
    s.server_send(bytes(range(256)) * 4)
    s.client_send(os.urandom(300))
    s.client_rst()
    capture = write_capture(tmp_path / "garbage.pcap", pcap_bytes(s.frames))
    assert_one_line_error(mysqlwire("analyze", str(capture)), "no MySQL traffic")


def test_traffic_only_on_other_ports_suggests_port(tmp_path: Path) -> None:
    s = TcpSession(client=("10.0.0.1", 40002), server=("10.0.0.2", 5432))
    s.handshake()
    s.client_send(b"hello")
    capture = write_capture(tmp_path / "pg.pcap", pcap_bytes(s.frames))
    assert_one_line_error(mysqlwire("analyze", str(capture)), "no MySQL traffic", "--port")


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--port", "http"),
        ("--port", "70000"),
        ("--max-allowed-packet", "lots"),
        ("--format", "xml"),
        ("--fail-on", "sometimes"),
    ],
)
def test_bad_option_values(option: str, value: str) -> None:
    result = mysqlwire("analyze", str(PCAPS / "clean_quit.pcap"), option, value)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_unwritable_output(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "dir" / "report.txt"
    assert_one_line_error(
        mysqlwire("analyze", str(PCAPS / "clean_quit.pcap"), "-o", str(target)), "report.txt"
    )


@pytest.mark.parametrize("command", ["analyze", "dump"])
def test_output_onto_an_input_is_refused_and_the_input_kept(tmp_path: Path, command: str) -> None:
    capture = tmp_path / "incident.pcap"
    capture.write_bytes((PCAPS / "clean_quit.pcap").read_bytes())
    result = mysqlwire(command, str(capture), "-o", str(tmp_path / "." / "incident.pcap"))
    assert_one_line_error(result, "also an input")
    assert capture.read_bytes() == (PCAPS / "clean_quit.pcap").read_bytes()


def test_output_onto_the_error_log_is_refused(tmp_path: Path) -> None:
    log = PCAPS / "client_exit_fin.error.log"
    copy = tmp_path / "error.log"
    copy.write_bytes(log.read_bytes())
    capture = str(PCAPS / "client_exit_fin.pcap")
    result = mysqlwire("analyze", capture, "--error-log", str(copy), "-o", str(copy))
    assert_one_line_error(result, "also an input")
    assert copy.read_bytes() == log.read_bytes()


def test_a_failed_run_leaves_its_output_file_empty_not_an_earlier_report(tmp_path: Path) -> None:
    report = tmp_path / "report.jsonl"
    good = mysqlwire(
        "analyze", str(PCAPS / "busy_mix.pcap"), "--format", "jsonl", "-o", str(report)
    )
    assert good.returncode == 0 and report.stat().st_size > 0
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"not a capture at all" * 10)
    assert_one_line_error(mysqlwire("analyze", str(bad), "--format", "jsonl", "-o", str(report)))
    assert report.read_bytes() == b""


def test_a_file_given_twice_is_read_once_with_a_warning() -> None:
    capture = str(PCAPS / "clean_quit.pcap")
    result = mysqlwire("analyze", capture, capture, "--format", "jsonl")
    assert result.returncode == 0
    assert "given more than once" in result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["close"] for r in records if r["type"] == "connection"] == ["clean_quit"]
    assert not any(f["kind"] == "retransmissions" for f in records[0]["findings"])


def test_standard_input() -> None:
    data = (PCAPS / "client_exit_fin.pcap").read_bytes()
    result = mysqlwire("analyze", "-", "--format", "jsonl", stdin=data)
    assert result.returncode == 0, result.stderr
    assert '"close":"client_fin_no_quit"' in result.stdout


def test_one_bad_file_among_good_ones_is_left_out_with_a_warning(tmp_path: Path) -> None:
    """Issue 9: everything readable is analysed; non-zero only when nothing could be read."""
    notes = tmp_path / "notes.txt"
    notes.write_text("not a capture")
    result = mysqlwire("analyze", str(PCAPS / "clean_quit.pcap"), str(notes))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"mysqlwire: warning: {notes}: not a pcap or pcapng file (starts with 0x6e6f7420): "
        "left out, the other files are analysed"
    ]
    assert "1 MySQL connection(s): clean_quit 1" in result.stdout


def test_when_nothing_can_be_read_one_line_names_every_file(tmp_path: Path) -> None:
    empty = write_capture(tmp_path / "empty.pcap", b"")
    text = write_capture(tmp_path / "text.gz", gzip_bytes(b"SELECT 1;\n" * 50))
    unreadable = [empty, text, tmp_path / "missing.pcap"]
    result = mysqlwire("analyze", *map(str, unreadable))
    assert_one_line_error(result, "no input could be read", *(p.name for p in unreadable))


@pytest.mark.parametrize("command", ["analyze", "dump"])
def test_jobs_and_dump_follow_the_same_rule(tmp_path: Path, command: str) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a capture")
    jobs = ["--jobs", "2"] if command == "analyze" else []
    good = mysqlwire(command, *jobs, str(PCAPS / "clean_quit.pcap"), str(notes))
    assert good.returncode == 0, good.stderr
    assert "notes.txt" in good.stderr and "left out" in good.stderr
    more_notes = tmp_path / "more-notes.txt"
    more_notes.write_text("not a capture either")
    bad = mysqlwire(command, *jobs, str(notes), str(more_notes))
    assert_one_line_error(bad, "no input could be read")


def test_the_jsonl_summary_names_the_file_left_out(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a capture")
    result = mysqlwire("analyze", "--format", "jsonl", str(PCAPS / "clean_quit.pcap"), str(notes))
    summary = json.loads(result.stdout.splitlines()[-1])
    files = summary["capture"]["files"]
    assert [f["problem"] for f in files] == [
        None,
        "not a pcap or pcapng file (starts with 0x6e6f7420)",
    ]
    assert summary["capture"]["warnings"] == [line[20:] for line in result.stderr.splitlines()]


def test_ctrl_c_ends_the_input_and_keeps_the_report(tmp_path: Path) -> None:
    """`tcpdump -w - | mysqlwire analyze -` is stopped with Ctrl-C: the report must come out."""
    import signal
    import time

    process = subprocess.Popen(
        [sys.executable, "-m", "mysqlwire.cli", "analyze", "-", "--format", "jsonl"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        preexec_fn=default_sigint,
    )
    assert process.stdin is not None
    process.stdin.write((PCAPS / "client_exit_fin.pcap").read_bytes())
    process.stdin.flush()  # the pipe stays open, as tcpdump's does
    time.sleep(1.5)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert b'"close":"client_fin_no_quit"' in out
    assert b"interrupted" in err and b"Traceback" not in err
