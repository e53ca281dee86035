"""Live capture on the real loopback interface, against a tiny fake MySQL server: the
kernel path (ring, filter, link types) gives the verdicts a file would."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from capture.live import LiveCapture, default_filter
from mysqlwire.cli import main
from tests.live.conftest import REFUSAL, free_port, live_run, needs_capture, wait_for
from tests.live.fake_mysql import FakeMySQLClient, FakeMySQLServer
from tests.processes import default_sigint

pytestmark = [pytest.mark.root, needs_capture]

ROOT = Path(__file__).resolve().parents[2]


def by_client(records: list[dict]) -> dict[str, dict]:
    return {r["client"]: r for r in records if r["type"] == "connection"}


def test_a_clean_quit_and_a_client_reset_get_their_verdicts(fake_server):
    with live_run(fake_server.port) as run:
        polite = FakeMySQLClient(fake_server.port)
        polite.query("SELECT 1")
        polite_name = f"127.0.0.1:{polite.sock.getsockname()[1]}"
        polite.quit()
        rude = FakeMySQLClient(fake_server.port, user="batch")
        rude.query("SELECT 2")
        rude_name = f"127.0.0.1:{rude.sock.getsockname()[1]}"
        rude.reset()
        records = by_client(run.wait_connections(2))
    clean, reset = records[polite_name], records[rude_name]
    assert (clean["close"], clean["closed_by"], clean["severity"]) == ("clean_quit", "client", None)
    assert (clean["thread_id"], clean["user"], clean["database"]) == (100, "app", "test")
    assert (reset["close"], reset["closed_by"]) == ("client_rst_no_quit", "client")
    assert (reset["severity"], reset["user"], reset["last_command"]) == (
        "warning",
        "batch",
        "COM_QUERY",
    )
    assert reset["server_counter"] == "Aborted_clients"


def test_a_refused_login_and_a_close_without_quit(fake_server):
    with live_run(fake_server.port) as run:
        refused = FakeMySQLClient(fake_server.port, user="denied")
        assert not refused.logged_in
        refused.close_without_quit()
        forgetful = FakeMySQLClient(fake_server.port)
        forgetful.close_without_quit()
        closes = sorted(r["close"] for r in run.wait_connections(2))
    assert closes == ["auth_failed", "client_fin_no_quit"]


def test_each_packet_is_seen_once_on_loopback(fake_server):
    """Loopback hands a packet socket every packet twice; the kernel filter keeps one."""
    with live_run(fake_server.port) as run:
        client = FakeMySQLClient(fake_server.port)
        client.query("SELECT 1")
        client.quit()
        [record] = run.wait_connections(1)
    assert record["findings"] == []  # a duplicate would show as retransmissions
    assert record["commands"] == 2  # COM_QUERY, COM_QUIT


def test_capturing_on_any_reads_cooked_frames(fake_server):
    with live_run(fake_server.port, interface="any") as run:
        assert run.session.source.linktype == 276  # Linux cooked v2
        client = FakeMySQLClient(fake_server.port)
        client.quit()
        [record] = run.wait_connections(1)
    assert record["close"] == "clean_quit" and record["findings"] == []


def test_a_connection_open_at_the_end_is_reported_as_still_open(fake_server):
    with live_run(fake_server.port) as run:
        idle = FakeMySQLClient(fake_server.port)
        wait_for(lambda: run.session.tracker.open_connections() == 1, what="the connection")
        records = run.stop()
        idle.quit()
    [record] = [r for r in records if r["type"] == "connection"]
    assert record["close"] == "still_open_at_capture_end"
    summary = records[-1]
    assert summary["type"] == "summary" and summary["connections"] == 1
    assert summary["capture"]["interface_drops"] == {"lo": 0}


def test_live_records_match_analyze_on_the_packets_it_wrote(fake_server, tmp_path):
    """Whatever live says about a connection, analyze says about the packets live saved."""
    written = tmp_path / "all.pcap"
    with live_run(fake_server.port, write=written) as run:
        for ending in ("quit", "reset", "close_without_quit"):
            client = FakeMySQLClient(fake_server.port)
            client.query("SELECT 1")
            {"quit": client.quit, "reset": client.reset}.get(ending, client.close_without_quit)()
        run.wait_connections(3)
        records = run.stop()
    result = CliRunner().invoke(
        main, ["analyze", "--format", "jsonl", "-p", str(fake_server.port), str(written)]
    )
    offline = [json.loads(line) for line in result.stdout.splitlines()]
    fields = ("client", "close", "closed_by", "thread_id", "user", "severity", "commands")
    assert sorted(tuple(r[f] for f in fields) for r in records if r["type"] == "connection") == (
        sorted(tuple(r[f] for f in fields) for r in offline if r["type"] == "connection")
    )


def test_problem_capture_keeps_only_the_reset_connection(fake_server, tmp_path):
    problems = tmp_path / "problems.pcap"
    with live_run(fake_server.port, write_problems=problems) as run:
        FakeMySQLClient(fake_server.port).quit()
        bad = FakeMySQLClient(fake_server.port)
        bad_name = f"127.0.0.1:{bad.sock.getsockname()[1]}"
        bad.reset()
        run.wait_connections(2)
        run.stop()
    result = CliRunner().invoke(
        main, ["analyze", "--format", "jsonl", "-p", str(fake_server.port), str(problems)]
    )
    connections = [json.loads(line) for line in result.stdout.splitlines()][:-1]
    assert [(c["client"], c["close"]) for c in connections] == [(bad_name, "client_rst_no_quit")]


@pytest.fixture
def shared_tmp():
    path = Path(tempfile.mkdtemp(prefix="mysqlwire-live-", dir="/tmp"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


# -- the command, in a subprocess ----------------------------------------------------------


def start_command(*args: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "mysqlwire.live_cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        preexec_fn=default_sigint,
    )
    assert process.stderr is not None
    banner = process.stderr.readline()
    assert "capturing on" in banner, banner + process.stderr.read()
    return process


def test_sigusr1_summarises_and_sigterm_ends_with_the_final_summary_and_exit_0(fake_server):
    process = start_command("-i", "lo", "-p", str(fake_server.port), "--linger", "0.2",
                            "--interval", "0", "--user", "root")  # fmt: skip
    client = FakeMySQLClient(fake_server.port)
    client.query("SELECT 1")
    client.reset()
    left_open = FakeMySQLClient(fake_server.port)
    left_port = left_open.sock.getsockname()[1]
    time.sleep(1.0)
    process.send_signal(signal.SIGUSR1)  # a summary now, though --interval is 0
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=10)
    left_open.quit()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert [line for line in out.splitlines() if "client_rst_no_quit" in line and "WARN" in line]
    assert "== final summary" in out
    assert "== summary" in out.split("== final summary")[0]
    listed = out.split("still open at exit (1):")[1]
    assert f"127.0.0.1:{left_port} > 127.0.0.1:{fake_server.port}" in listed
    assert "thread 101" in listed


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_root_drops_to_nobody_and_still_writes_its_files(fake_server, shared_tmp):
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody here")
    tmp_path = shared_tmp  # rotation creates files as nobody: a directory nobody can write
    problems = tmp_path / "bad.pcap"
    process = start_command("-i", "lo", "-p", str(fake_server.port), "--linger", "0.2",
                            "--interval", "0", "--format", "jsonl", "--write-problems",
                            str(problems), "--write-size", "1K")  # fmt: skip
    status = Path(f"/proc/{process.pid}/status").read_text()
    uid = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
    assert set(uid) == {str(pwd.getpwnam("nobody").pw_uid)}
    for _ in range(4):
        client = FakeMySQLClient(fake_server.port)
        client.query("SELECT 'a rather long query to fill the first file' " + "x" * 600)
        client.reset()
    time.sleep(1.5)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    files = sorted(tmp_path.iterdir())
    assert len(files) >= 2  # rotated at 1 KiB, the later files created as nobody
    result = CliRunner().invoke(
        main,
        ["analyze", "--format", "jsonl", "-p", str(fake_server.port), *map(str, files)],
    )
    records = [json.loads(line) for line in result.stdout.splitlines()]
    closes = [r["close"] for r in records if r["type"] == "connection"]
    assert closes == ["client_rst_no_quit"] * 4


def test_a_capture_stays_open_after_its_interface_check():
    """Guard for the fixtures: this environment can open a capture at all."""
    assert REFUSAL is None
    capture = LiveCapture("lo", default_filter([free_port()]))
    try:
        assert capture.read_block() == []
    finally:
        capture.close()


def test_the_fake_server_greets_with_increasing_thread_ids():
    with FakeMySQLServer() as server:
        first, second = FakeMySQLClient(server.port), FakeMySQLClient(server.port)
        assert first.logged_in and second.logged_in
        first.quit()
        second.quit()
