"""The live session without a kernel: crafted MySQL conversations replayed through a fake
frame source, so the verdict lines, summaries, jsonl records, problem buffers and drop
attribution are specified without root."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from capture import CaptureStats, open_frames
from capture.linktypes import DLT_EN10MB, DLT_RAW
from capture.live import (
    DropWindow,
    FilterError,
    KernelCounters,
    RotatingPcapWriter,
    compile_filter,
    connection_keys,
    default_filter,
    frame_key,
    skip_loopback_copies,
)
from capture.tracker import Frame
from mysqlwire.cli import main
from mysqlwire.live import (
    SPANS_KEPT,
    LiveOptions,
    LiveSession,
    LiveSummary,
    ProblemCapture,
    verdict_line,
)
from mysqlwire.output.schema import connection_record
from mysqlwire.pipeline import AnalysisOptions
from mysqlwire.report.connection_report import ConnectionReport
from tests.craft import TcpSession, frame_tuples, pcap_bytes, write_capture
from tests.live.replay import ReplaySource
from tests.mysql_builder import (
    err,
    frame,
    handshake_response41,
    mariadb_greeting,
    ok,
    query,
)

START = 1_700_000_000.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def conversation(
    ending: str,
    client_port: int = 50000,
    thread_id: int = 7,
    user: str = "app",
    start: float = START,
    server_port: int = 3306,
) -> TcpSession:
    """A MySQL connection that logs in, runs one query and ends by `ending`: "quit", "rst",
    "fin", "denied" (ERR 1045 at login) or "open" (no end)."""
    s = TcpSession(
        client=("10.0.0.1", client_port), server=("10.0.0.2", server_port), start_ts=start
    )
    s.handshake()
    s.server_send(frame(mariadb_greeting(thread_id=thread_id), 0))
    s.client_send(frame(handshake_response41(user, "shop", auth_plugin="mysql_native_password"), 1))
    if ending == "denied":
        s.server_send(frame(err(1045, "Access denied", "28000"), 2))
        s.server_fin()
        s.client_fin()
        s.server_ack()
        return s
    s.server_send(frame(ok(session_track=False), 2))
    s.client_send(frame(query("SELECT 1"), 0))
    s.server_send(frame(ok(session_track=False), 1))
    if ending == "quit":
        s.client_send(frame(b"\x01", 0))
        s.client_fin()
        s.server_fin()
        s.client_ack()
    elif ending == "rst":
        s.client_rst()
    elif ending == "fin":
        s.client_fin()
        s.server_fin()
        s.client_ack()
    return s


def frames_of(*sessions: TcpSession) -> list[Frame]:
    packets = sorted((p for s in sessions for p in s.frames), key=lambda p: p.ts)
    return frame_tuples(packets)


def run_session(
    frames: list[Frame],
    *,
    end_clock: float | None = None,
    problems_path: Path | None = None,
    problems_rotation: tuple[int, int] = (0, 0),
    counters: KernelCounters | None = None,
    **options: object,
) -> tuple[LiveSession, str]:
    """Replay every frame, let the clock pass the linger, stop: the session and its output."""
    source = ReplaySource(frames)
    if counters is not None:
        source.counters = counters
    clock = Clock(frames[0][1])
    out = io.StringIO()
    settings: dict[str, object] = {"interval": 0.0, "linger": 1.0, "interface": "test0"}
    settings.update(options)
    problems = (
        ProblemCapture(
            RotatingPcapWriter(
                problems_path,
                DLT_EN10MB,
                rotate_bytes=problems_rotation[0],
                max_files=problems_rotation[1],
            )
        )
        if problems_path
        else None
    )
    session = LiveSession(
        source,
        out,
        options=LiveOptions(**settings),  # type: ignore[arg-type]
        analysis=AnalysisOptions(),
        problems=problems,
        clock=clock,
    )
    while source.ready():
        session.step()
    clock.now = end_clock if end_clock is not None else frames[-1][1] + 10
    session.housekeeping(clock.now)
    session.request_stop()
    session.run()
    return session, out.getvalue()


def verdict_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line[:2].isdigit()]


# -- verdict lines ----------------------------------------------------------------------


def test_a_clean_quit_is_one_ok_line_with_who_and_how():
    _, output = run_session(frames_of(conversation("quit", thread_id=41)))
    [line] = verdict_lines(output)
    assert "  ok  " in line and "clean_quit" in line
    assert "10.0.0.1:50000 > 10.0.0.2:3306" in line
    assert "thread 41" in line and "user app@shop" in line and "closed by client" in line
    assert "|" not in line  # nothing wrong, nothing to explain


def test_a_client_reset_is_marked_and_explained():
    _, output = run_session(frames_of(conversation("rst")))
    [line] = verdict_lines(output)
    assert "WARN" in line and "client_rst_no_quit" in line
    assert "| the client reset the connection without sending COM_QUIT" in line
    assert "last COM_QUERY" in line


def test_a_refused_login_is_an_error_with_its_code():
    _, output = run_session(frames_of(conversation("denied")))
    [line] = verdict_lines(output)
    assert "ERROR" in line and "auth_failed" in line and "ERR 1045" in line


def test_problem_lines_are_coloured_only_when_asked():
    frames = frames_of(conversation("rst"))
    _, plain = run_session(frames)
    _, coloured = run_session(frames, color=True)
    assert "\x1b[" not in plain
    assert "\x1b[33m" in coloured  # yellow: a warning


def test_only_problems_leaves_out_the_connections_that_ended_well():
    sessions = [conversation("quit", 50000), conversation("fin", 50001, start=START + 1)]
    _, output = run_session(frames_of(*sessions), only_problems=True)
    [line] = verdict_lines(output)
    assert "client_fin_no_quit" in line
    assert "verdicts: clean_quit 1, client_fin_no_quit 1" in output  # counted all the same


def test_a_closed_connection_is_reported_when_the_link_goes_quiet():
    """No later packet moves the tracker's clock: the wall clock releases it after linger."""
    frames = frames_of(conversation("quit"))
    source = ReplaySource(frames)
    clock = Clock(frames[-1][1])
    out = io.StringIO()
    session = LiveSession(source, out, options=LiveOptions(linger=1.0, interval=0), clock=clock)
    while source.ready():
        session.step()
    session.housekeeping(clock.now)
    assert "clean_quit" not in out.getvalue()  # still lingering
    clock.now += 2
    session.housekeeping(clock.now)
    assert "clean_quit" in out.getvalue()


# -- summaries ---------------------------------------------------------------------------


def test_a_summary_comes_every_interval_and_at_the_end():
    frames = frames_of(conversation("rst"), conversation("open", 50001, start=START + 5))
    source = ReplaySource(frames, per_block=1)
    clock = Clock(START)
    out = io.StringIO()
    session = LiveSession(
        source, out, options=LiveOptions(interval=2.0, linger=0.5, interface="eth0"), clock=clock
    )
    while source.ready():
        clock.now = source.blocks[0][0][1]
        session.step()
    clock.now += 5
    session.step()
    session.request_stop()
    session.run()
    output = out.getvalue()
    periodic = [line for line in output.splitlines() if line.startswith("== summary")]
    assert len(periodic) >= 2
    assert "1 open, 1 closed" in output  # while the second connection was open
    assert "clients by aborted connections: 10.0.0.1 1 of 1" in output
    assert output.count("== final summary") == 1
    assert "1 connection(s) closed, 1 still open" in output
    assert f"capture: {len(frames)} packets on eth0" in output


def test_traffic_the_filter_lets_through_on_other_ports_is_pointed_out():
    # `live --bpf 'tcp port 3417'` without --port 3417: the tracker waits for 3306
    frames = frames_of(conversation("quit", server_port=3417))
    _, output = run_session(frames)
    final = output.split("== final summary")[1]
    assert "0 TCP connection(s)" in final
    assert f"{len(frames)} TCP packet(s) on other ports than 3306 skipped: pass --port N" in final


def test_the_summary_says_when_rotation_deleted_problem_files(tmp_path: Path):
    bad = [conversation("rst", client_port=50000 + n, start=START + n) for n in range(4)]
    path = tmp_path / "bad.pcap"
    _, output = run_session(frames_of(*bad), problems_path=path, problems_rotation=(600, 2))
    final = output.split("== final summary")[1]
    written = sorted(p.name for p in tmp_path.iterdir())
    assert len(written) == 2 and "bad.pcap" not in written  # the first file was rotated away
    line = next(line for line in final.splitlines() if "problem capture" in line)
    assert re.search(
        r"problem capture \S+bad\.pcap\d+ … \S+bad\.pcap\d+ \(the newest 2 of \d+ files\)", line
    ), line


def test_ctrl_c_lists_the_connections_still_open():
    frames = frames_of(conversation("open", thread_id=99))
    _, output = run_session(frames, end_clock=frames[-1][1] + 3600)
    assert "still open at exit (1):" in output
    assert "thread 99" in output.split("still open at exit")[1]
    assert "open 1h00m" in output
    assert not verdict_lines(output)  # listed in the summary, not as a verdict line


def test_summary_memory_per_client_is_capped_and_keeps_the_peak():
    summary = LiveSummary()
    reports = [
        _report(conn_id=n, start=float(n), end=float(n) + (100 if n < 8 else 0.5))
        for n in range(3 * SPANS_KEPT)
    ]
    for report in reports:
        summary.add(report)
    tally = summary.clients["10.0.0.1"]
    assert len(tally.starts) <= SPANS_KEPT
    assert tally.max_open() == 9  # the eight long connections and one short one, at t=8


def test_clients_that_come_and_go_do_not_grow_the_summary_without_end():
    summary = LiveSummary(clients_kept=10)
    for n in range(25):
        report = _report(conn_id=n, start=float(n), end=float(n) + 1)
        report.client_ip = f"10.0.1.{n}"
        summary.add(report)
    assert len(summary.clients) <= 10
    assert "10.0.1.24" in summary.clients  # the latest stay
    assert summary.clients_forgotten == 25 - len(summary.clients)
    assert summary.result()["connections"] == 25


# -- jsonl ------------------------------------------------------------------------------


def test_jsonl_records_are_exactly_those_of_analyze(tmp_path):
    """The same frames, read back from one pcap by both: the same connection records."""
    sessions = [conversation("quit"), conversation("rst", 50001), conversation("denied", 50002)]
    packets = sorted((p for s in sessions for p in s.frames), key=lambda p: p.ts)
    capture = write_capture(tmp_path / "same.pcap", pcap_bytes(packets))
    _, output = run_session(list(open_frames([capture], CaptureStats())), fmt="jsonl")
    live = [json.loads(line) for line in output.splitlines()]
    result = CliRunner().invoke(main, ["analyze", "--format", "jsonl", str(capture)])
    offline = [json.loads(line) for line in result.stdout.splitlines()]
    by_id = lambda records: {r["conn_id"]: r for r in records if r["type"] == "connection"}  # noqa: E731
    assert by_id(live) == by_id(offline)
    [summary] = [r for r in live if r["type"] == "summary"]
    [offline_summary] = [r for r in offline if r["type"] == "summary"]
    assert summary.keys() == offline_summary.keys()
    assert summary["capture"].keys() == offline_summary["capture"].keys()
    assert summary["by_verdict"] == offline_summary["by_verdict"]
    assert summary["capture"]["interface_drops"] == {"test0": 0}


def test_kernel_drops_mark_the_connections_open_meanwhile():
    early = conversation("quit", 50000)
    late = conversation("quit", 50001, start=START + 100)
    counters = KernelCounters(packets=40, drops=3)
    counters.windows.append(DropWindow(START + 0.002, START + 0.003, 3))
    _, output = run_session(frames_of(early, late), fmt="jsonl", counters=counters)
    records = [json.loads(line) for line in output.splitlines()]
    hit, spared = [r for r in records if r["type"] == "connection"]
    assert hit["severity"] == "warning"
    assert any(
        f["kind"] == "capture_gap" and "dropped 3 packet(s)" in f["detail"] for f in hit["findings"]
    )
    assert spared["severity"] is None
    summary = records[-1]
    assert summary["capture"]["interface_drops"] == {"test0": 3}
    assert any("kernel dropped 3 of 40" in w for w in summary["capture"]["warnings"])


# -- problem capture ---------------------------------------------------------------------


@pytest.mark.parametrize("tunnelled", [False, True], ids=["plain", "vxlan"])
def test_only_the_packets_of_connections_that_ended_badly_are_written(tmp_path, tunnelled):
    """Mirrored traffic too: the problem capture keys packets by their inner connection."""
    from tests.capture.test_tunnels import vxlan

    path = tmp_path / "problems.pcap"
    good, bad = conversation("quit", 50000), conversation("rst", 50001, start=START + 0.5)
    frames = frames_of(good, bad)
    if tunnelled:
        frames = [(n, ts, link, vxlan(data), len(vxlan(data))) for n, ts, link, data, _w in
                  frames]  # fmt: skip
    session, _ = run_session(frames, problems_path=path)
    counters = session.problems.counters
    assert (counters.connections_written, counters.connections_let_go) == (1, 1)
    assert counters.packets_written == len(bad.frames)
    result = CliRunner().invoke(main, ["analyze", "--format", "jsonl", str(path)])
    [record] = [json.loads(line) for line in result.stdout.splitlines()][:-1]
    assert (record["client"], record["close"]) == ("10.0.0.1:50001", "client_rst_no_quit")


def test_the_connection_cap_keeps_the_first_and_the_latest_packets(tmp_path):
    writer = RotatingPcapWriter(tmp_path / "p.pcap", DLT_EN10MB)
    problems = ProblemCapture(writer, per_connection=4000, total=1 << 20)
    s = conversation("rst")
    for _ in range(30):
        s.client_send(frame(query("SELECT " + "x" * 300), 0))
    s.client_rst()
    frames = frame_tuples(s.frames)
    facts = _facts_of(frames)
    problems.open(facts)
    for item in frames:
        problems.add(item)
    buffer = problems.by_conn[facts.conn_id]
    kept = buffer.frames()
    assert kept[0] == frames[0]  # the SYN: who connected
    assert kept[-1] == frames[-1]  # the RST: how it ended
    assert buffer.head_bytes + buffer.tail_bytes <= 4000
    assert problems.counters.dropped_connection_cap == len(frames) - len(kept) > 0


def test_the_total_cap_bounds_all_buffers_together(tmp_path):
    writer = RotatingPcapWriter(tmp_path / "p.pcap", DLT_EN10MB)
    problems = ProblemCapture(writer, per_connection=1 << 20, total=6000)
    sessions = [conversation("open", 50000 + n) for n in range(10)]
    for s in sessions:
        frames = frame_tuples(s.frames)
        problems.open(_facts_of(frames, conn_id=s.client[1]))
        for item in frames:
            problems.add(item)
    assert problems.buffered <= 6000
    assert problems.counters.dropped_total_cap > 0
    assert "total cap" in problems.notes()[0]


# -- pcap writing, frame keys, filters -----------------------------------------------------


def test_files_rotate_by_size_like_tcpdump_and_the_oldest_go(tmp_path):
    base = tmp_path / "all.pcap"
    writer = RotatingPcapWriter(base, DLT_EN10MB, rotate_bytes=1000, max_files=2)
    frames = frame_tuples(conversation("quit").frames) * 3
    for item in frames:
        writer.write_frame(item)
    writer.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"all.pcap{writer.sequence - 1}", f"all.pcap{writer.sequence}"]
    assert writer.sequence >= 3
    assert all((tmp_path / n).stat().st_size <= 1000 for n in names)
    result = CliRunner().invoke(main, ["dump", *(str(tmp_path / n) for n in names)])
    assert result.exit_code == 0, result.output


def test_a_written_frame_keeps_its_wire_length(tmp_path):
    path = tmp_path / "cut.pcap"
    writer = RotatingPcapWriter(path, DLT_EN10MB)
    writer.write(START + 0.123456, b"\x00" * 60, 1514)
    writer.close()
    data = path.read_bytes()
    assert data[24:40] == (1_700_000_000).to_bytes(4, "little") + (123456).to_bytes(4, "little") + (
        60
    ).to_bytes(4, "little") + (1514).to_bytes(4, "little")


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"vlan": (100,)},
        {"link": "sll2"},
        {"link": "sll"},
        {"link": "raw"},
        {"client": ("2001:db8::1", 50000), "server": ("2001:db8::2", 3306)},
        {
            "client": ("2001:db8::1", 50000),
            "server": ("2001:db8::2", 3306),
            "ipv6_ext": [(0, 8), (60, 16)],
        },
    ],
    ids=["ethernet", "vlan", "sll2", "sll", "raw", "ipv6", "ipv6-extensions"],
)
def test_frame_keys_are_the_trackers_keys(options):
    s = TcpSession(**options)
    s.handshake()
    s.client_send(b"hello")
    s.server_send(b"world")
    frames = frame_tuples(s.frames)
    facts = _facts_of(frames)
    to_server, to_client = connection_keys(
        facts.client.ip, facts.client.port, facts.server.ip, facts.server.port
    )
    keys = [frame_key(item[2], item[3]) for item in frames]
    assert keys == [to_server, to_client, to_server, to_server, to_client]


def test_a_bad_filter_expression_is_refused_with_libpcaps_reason():
    with pytest.raises(FilterError, match=r"bad filter expression 'tcp port': .*syntax error"):
        compile_filter("tcp port", DLT_EN10MB)


def test_filters_compile_for_raw_and_cooked_sockets_with_the_loopback_prefix():
    assert default_filter([3306]) == "tcp and (port 3306)"
    assert default_filter([3307, 3306]) == "tcp and (port 3306 or port 3307)"
    assert default_filter(None) == "tcp"
    raw = compile_filter(default_filter([3306]), DLT_RAW)
    prefixed = skip_loopback_copies(raw, loopback_index=1)
    assert prefixed[5:] == raw and prefixed[3] == (0x15, 0, 1, 1)


def test_a_connection_through_a_load_balancer_names_the_client_its_header_carried():
    capture = Path(__file__).resolve().parents[2] / "pcaps" / "proxy_protocol.pcap"
    _, output = run_session(list(open_frames([capture], CaptureStats())))
    lines = [line for line in output.splitlines() if " > 127.0.0.1:3306" in line]
    assert len(lines) == 2
    assert "192.0.2.10:40001 via 127.0.0.1:" in lines[0]
    assert "192.0.2.11:40002 via 127.0.0.1:" in lines[1]
    assert "client_fin_no_quit" in lines[1]


def test_verdict_line_shows_unknown_identity_plainly():
    line = verdict_line(_report(conn_id=1, start=START, end=START + 12.5))
    assert "thread -  user -" in line and "12s" in line


# -- helpers -----------------------------------------------------------------------------


def _facts_of(frames: list[Frame], conn_id: int = 1):
    from capture import TcpTracker

    seen = []
    tracker = TcpTracker(
        lambda conn: seen.append(conn) or None, server_ports=None, compact_handshakes=False
    )
    tracker.feed(frames[0])
    facts = seen[0].facts
    facts.conn_id = conn_id
    return facts


def _report(conn_id: int, start: float, end: float) -> ConnectionReport:
    return ConnectionReport(
        conn_id=conn_id,
        client=f"10.0.0.1:{40000 + conn_id}",
        server="10.0.0.2:3306",
        client_ip="10.0.0.1",
        start=start,
        end=end,
        close="client_fin_no_quit",
        closed_by="client",
        close_frame=None,
        close_ts=end,
        close_reason="the client closed",
        idle_before_close=None,
        last_command=None,
        severity="warning",
        server_counter=None,
    )


def test_connection_record_is_the_schema_function():
    """Guard: the session writes `connection_record` itself, not a copy of it."""
    import mysqlwire.live as live

    assert live.connection_record is connection_record


def test_an_idle_connection_evicted_by_the_cap_is_reported_as_open():
    first = conversation("open", 50000, thread_id=1)
    second = conversation("open", 50001, thread_id=2, start=START + 1)
    source = ReplaySource(frames_of(first, second))
    out = io.StringIO()
    session = LiveSession(
        source, out, options=LiveOptions(max_connections=1, interval=0), clock=Clock(START)
    )
    while source.ready():
        session.step()
    [line] = verdict_lines(out.getvalue())
    assert "  open " in line and "thread 1 " in line
    assert "evicted by the open-connection cap" in line
    assert session.tracker.still_open() == 1


class FlakySink:
    """A connection's sink that breaks on one frame: an internal error inside the tracker's
    feed (through the sink factory, which both the pure and the compiled build let a test
    replace)."""

    def __init__(self, sink, breaking_frame: int) -> None:
        self.sink = sink
        self.breaking_frame = breaking_frame

    def on_data(self, direction, data, frame, ts):
        if frame == self.breaking_frame:
            raise ValueError("boom")
        self.sink.on_data(direction, data, frame, ts)

    def on_gap(self, gap):
        self.sink.on_gap(gap)

    def on_close(self, facts):
        self.sink.on_close(facts)


def test_an_internal_error_skips_the_packet_not_the_capture(capsys):
    frames = frames_of(conversation("rst"))
    source = ReplaySource(frames)
    out = io.StringIO()
    session = LiveSession(source, out, options=LiveOptions(linger=0.5, interval=0))
    real_factory = session.tracker.sink_factory
    session.tracker.sink_factory = lambda conn: FlakySink(real_factory(conn), 5)  # the login
    while source.ready():
        session.step()
    session.request_stop()
    session.run()
    assert "internal error on packet 5 (ValueError: boom)" in capsys.readouterr().err
    assert "client_rst_no_quit" in out.getvalue()
    assert "1 packet(s) hit an internal error and were skipped" in out.getvalue()


def test_dropping_to_a_missing_user_keeps_root_with_a_note(monkeypatch):
    import mysqlwire.live as live

    monkeypatch.setattr(live.os, "geteuid", lambda: 0)
    monkeypatch.setattr(live.os, "setuid", lambda uid: pytest.fail("must not switch user"))
    note = live.drop_privileges("no-such-user-here", [])
    assert note == "no user 'no-such-user-here' on this system: still running as root"


def test_without_root_there_is_nothing_to_drop(monkeypatch):
    import mysqlwire.live as live

    monkeypatch.setattr(live.os, "geteuid", lambda: 1000)
    assert live.drop_privileges("nobody", []) is None
