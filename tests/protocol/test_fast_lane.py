"""The fast lane is a shortcut to the events the general readers produce, never a second
opinion: with it and without it, the lean decoder must emit the same events, in the same
order, and end in the same state. Checked on every real capture (and the third-party corpus
when present), on real streams cut into chunks at random places and damaged, and on crafted
conversations for each way out of the lane."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mysqlwire.protocol import MySQLDecoder
from mysqlwire.protocol import events as ev
from mysqlwire.protocol.constants import CLIENT, SERVER
from tests import mysql_builder as b
from tests.mysql_builder import Conversation
from tests.protocol.helpers import run
from tests.protocol.replay import decode_capture
from tests.protocol.test_fuzz_real_streams import feed_items, mutate, mutation, real_streams
from tests.protocol.test_properties import SCALE
from tests.report.test_lean_decoding import captures

RETAIN = 2048


def state(decoder: MySQLDecoder, settled: bool = True) -> tuple:
    """What the rest of the decoder's life depends on. Before the end of the streams, what
    an exchange in the lane changes (its server packets counted, a packet cut by a chunk's
    end held, a prepared statement added) is the lane's until the exchange ends: nothing reads
    it meanwhile, and `settled=False` leaves it out."""
    common = (
        decoder.phase,
        tuple(decoder.transport),
        decoder.database,
        decoder.quit_sent,
        decoder.deprecate_eof,
        tuple(decoder.skipped),
    )
    if not settled:
        return common
    statements = [
        (k, v.query, v.params, v.columns, v.param_types)
        for k, v in decoder.statements._by_id.items()
    ]
    pending = tuple(decoder._framers[side].pending() for side in (CLIENT, SERVER))
    return (
        *common,
        len(decoder.exchanges),
        statements,
        decoder.statements.forgotten,
        tuple(decoder.decoded_packets),
        pending,
    )


@pytest.mark.parametrize(("path", "ports"), captures(), ids=lambda v: getattr(v, "name", ""))
def test_real_captures_decode_the_same_with_and_without_the_lane(
    path: Path, ports: frozenset[int]
) -> None:
    fast = decode_capture(path, ports, lean=True)
    general = decode_capture(path, ports, lean=True, fast_lane=False)
    assert len(fast) == len(general)
    for with_lane, without in zip(fast, general, strict=True):
        assert with_lane.events == without.events
        assert state(with_lane.decoder) == state(without.decoder)
        assert without.decoder.fast_lane is None


def test_the_lane_reads_every_exchange_of_a_busy_capture_but_the_quits() -> None:
    """Not vacuous: on the busy mix (queries, pings, prepared statements from several client
    libraries) the lane, not the general readers, reads every exchange but COM_QUIT."""
    path = Path(__file__).resolve().parents[2] / "pcaps" / "busy_mix.pcap"
    decoded = decode_capture(path, lean=True)
    committed = sum(d.decoder.fast_lane.committed for d in decoded)
    commands = [e.name for d in decoded for e in d.of(ev.Command)]
    assert len(commands) > 1000
    assert committed == len(commands) - commands.count("COM_QUIT")


def decode_items(items: list[tuple], fast_lane: bool, retain_limit: int = RETAIN, **options):
    """Every chunk's events, one list per chunk (so an event that comes late differs), then
    the end of the streams' events and the final state."""
    decoder = MySQLDecoder(lean=True, fast_lane=fast_lane, retain_limit=retain_limit, **options)
    steps = [decoder.events() for _frame in feed_items(decoder, items)]
    unsettled = state(decoder, settled=False)
    end = len(items) + 1
    decoder.receive_eof(end, float(end))
    steps.append(decoder.events())
    return steps, unsettled, state(decoder)


def rechunk(chunks, cuts: list[int]) -> list[tuple[int, bytes]]:
    """The same bytes in other chunks: each side's consecutive chunks joined, then cut."""
    joined: list[tuple[int, bytes]] = []
    for side, data in chunks:
        if joined and joined[-1][0] == side:
            joined[-1] = (side, joined[-1][1] + data)
        else:
            joined.append((side, data))
    out = []
    for index, (side, data) in enumerate(joined):
        cut = cuts[index % len(cuts)] if cuts else 0
        while cut and len(data) > cut:
            out.append((side, data[:cut]))
            data = data[cut:]
        out.append((side, data))
    return out


LANE = settings(
    max_examples=150 * SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@LANE
@given(st.data(), st.lists(st.integers(0, 3000), max_size=8))
def test_real_streams_cut_anywhere_decode_the_same(data, cuts):
    streams = real_streams()
    chunks = streams[data.draw(st.integers(0, len(streams) - 1), label="connection")]
    items = rechunk(chunks, cuts)
    assert decode_items(items, True) == decode_items(items, False)


@LANE
@given(st.data(), st.lists(mutation, min_size=1, max_size=6))
def test_damaged_real_streams_decode_the_same(data, mutations):
    streams = real_streams()
    chunks = streams[data.draw(st.integers(0, len(streams) - 1), label="connection")]
    items = mutate(chunks, mutations)
    assert decode_items(items, True) == decode_items(items, False)


# --- crafted: each way into and out of the lane ------------------------------------------


def same(talk: Conversation) -> MySQLDecoder:
    """Decode with and without the lane, chunk by chunk; both must agree. Returns the lane's
    decoder, after the end of the streams."""
    items = [(chunk.side, chunk.data) for chunk in talk.chunks]
    assert decode_items(items, True, 1 << 20) == decode_items(items, False, 1 << 20)
    lane = MySQLDecoder(lean=True)
    run(lane, talk, eof=True)
    return lane


COLUMNS = [b.column("a"), b.column("b", b.LONG)]


@pytest.mark.parametrize("deprecate_eof", [False, True])
def test_plain_exchanges_are_read_by_the_lane(deprecate_eof: bool) -> None:
    talk = Conversation().login(deprecate_eof=deprecate_eof)
    talk.command(b.query("SELECT a, b FROM t"))
    talk.server(*b.result_set(COLUMNS, [["x", "1"]] * 3, deprecate_eof=deprecate_eof))
    talk.command(b.command(0x0E)).server(b.ok())
    talk.command(b.query("UPDATE t SET a = 1")).server(b.ok(affected_rows=3))
    talk.command(b.query("SELECT 1")).server(
        *b.result_set(COLUMNS, [], deprecate_eof=deprecate_eof)
    )
    decoder = same(talk)
    assert decoder.fast_lane.committed == 4
    events = run(MySQLDecoder(lean=True), talk)
    finished = [e for e in events if isinstance(e, ev.CommandFinished)]
    assert [(e.command, e.outcome, e.rows) for e in finished] == [
        ("COM_QUERY", "result_set", 3),
        ("COM_PING", "ok", 0),
        ("COM_QUERY", "ok", 0),
        ("COM_QUERY", "result_set", 0),
    ]


def test_multiple_result_sets_and_a_trailing_ok() -> None:
    talk = Conversation().login()
    talk.command(b.query("CALL p()"))
    talk.server(*b.result_set(COLUMNS, [["x", "1"]], more_results=True))
    talk.server(*b.result_set(COLUMNS, [["y", "2"]] * 2, more_results=True))
    talk.server(b.ok())
    assert same(talk).fast_lane.committed == 1


def test_query_attributes() -> None:
    talk = Conversation().login(query_attributes=True)
    talk.command(b.query("SELECT 1", [])).server(b.ok())
    talk.command(b.query("SELECT 1", [b.Param(b.LONG, 1, "a")])).server(b.ok())
    assert same(talk).fast_lane.committed == 2


def test_a_schema_change_is_left_to_the_general_readers() -> None:
    talk = Conversation().login()
    talk.command(b.query("USE other")).server(
        b.ok(session_state=[b.session_track("schema", "other")])
    )
    decoder = same(talk)
    assert decoder.database == "other" and decoder.fast_lane.committed == 0


def test_replies_split_anywhere_decode_the_same() -> None:
    talk = Conversation().login()
    talk.command(b.query("SELECT a, b FROM t"))
    talk.server(*b.result_set(COLUMNS, [["x" * 50, "1"]] * 20))
    talk.command(b.query("SELECT 2")).server(b.ok())
    stream = [(chunk.side, chunk.data) for chunk in talk.chunks]
    for cut in (1, 2, 3, 4, 5, 7, 64, 333):
        items = rechunk(stream, [cut])
        assert decode_items(items, True) == decode_items(items, False)


def _with(talk: Conversation, tail: str) -> Conversation:
    if tail == "err_mid_rows":
        talk.command(b.query("SELECT a, b FROM t"))
        rows = b.result_set(COLUMNS, [["x", "1"]] * 2)[:-1]  # no terminator: an ERR instead
        talk.server(*rows, b.err(1317, "Query execution was interrupted", "70100"))
    elif tail == "cut":
        talk.command(b.query("SELECT a, b FROM t"))
        talk.server(*b.result_set(COLUMNS, [["x", "1"]] * 5))
        last = talk.chunks.pop()
        talk.raw(SERVER, last.data[: len(last.data) // 2])
    elif tail == "wrong_seq":
        talk.command(b.query("SELECT 2")).server(b.ok(), seq=3)
    elif tail == "pipelined":
        talk.command(b.query("SELECT 2"), b.query("SELECT 3")).server(b.ok()).server(b.ok(), seq=1)
    elif tail == "client_mid_reply":
        talk.command(b.query("SELECT a, b FROM t"))
        rows = b.result_set(COLUMNS, [["x", "1"]] * 4)
        talk.server(*rows[:3]).command(b.command(0x0E)).server(*rows[3:])
    elif tail == "idle_timeout":
        talk.server(b.err(4031, "The client was disconnected by the server"), seq=0)
    elif tail == "quit":
        talk.command(b.command(0x01))
    elif tail == "unsolicited_after_reply":
        talk.command(b.query("SELECT 2"))
        talk.raw(SERVER, b.frame(b.ok(), 1) + b.frame(b.ok(), 2))
    elif tail == "large":
        talk.command(b.query("SELECT " + "x" * 70_000)).server(b.ok())
    return talk


TAILS = [
    "err_mid_rows",
    "cut",
    "wrong_seq",
    "pipelined",
    "client_mid_reply",
    "idle_timeout",
    "quit",
    "unsolicited_after_reply",
    "large",
]


@pytest.mark.parametrize("tail", TAILS)
def test_leaving_the_lane_decodes_the_same(tail: str) -> None:
    talk = Conversation().login()
    talk.command(b.query("SELECT 1")).server(b.ok())
    _with(talk, tail)
    talk.command(b.query("SELECT 9")).server(b.ok())
    same(talk)


@pytest.mark.parametrize("tail", TAILS)
def test_a_gap_in_the_lane_decodes_the_same(tail: str) -> None:
    talk = Conversation().login()
    talk.command(b.query("SELECT 1")).server(b.ok())
    _with(talk, tail)
    items: list[tuple] = [(chunk.side, chunk.data) for chunk in talk.chunks]
    items.insert(len(items) - 1, ("gap", SERVER, 10))
    assert decode_items(items, True) == decode_items(items, False)


@pytest.mark.parametrize("deprecate_eof", [False, True])
def test_prepared_statements_decode_the_same(deprecate_eof: bool) -> None:
    """Prepares, executes, resets and closes are the lane's; the executes' arguments are read
    against the statement table the prepare filled."""
    talk = Conversation().login(deprecate_eof=deprecate_eof)
    params = [b.column("p", b.LONG)]
    talk.command(b.stmt_prepare("SELECT a, b FROM t WHERE b = ?"))
    talk.server(*b.prepare_response(7, params, COLUMNS, deprecate_eof=deprecate_eof))
    for value in (1, 2):
        talk.command(b.stmt_execute(7, [b.Param(b.LONG, value)]))
        rows = [["x", value]] * value
        talk.server(*b.result_set(COLUMNS, rows, binary=True, deprecate_eof=deprecate_eof))
    talk.command(b.stmt_execute(7, [b.Param(b.LONG, 3)])).server(b.ok(affected_rows=1))
    talk.command(b.stmt_reset(7)).server(b.ok())
    talk.command(b.command(0x1B, b"\x00\x00")).server(b.eof())  # COM_SET_OPTION
    talk.command(b.stmt_close(7))
    talk.command(b.stmt_execute(7, [b.Param(b.LONG, 4)])).server(b.err(1243, "Unknown handler"))
    decoder = same(talk)
    assert decoder.fast_lane.committed == 7
    assert len(decoder.statements) == 0
    commands = [e for e in run(MySQLDecoder(lean=True), talk) if isinstance(e, ev.Command)]
    assert commands[1].arguments == {"flags": 0, "parameters": ["1"]}


def test_an_execute_that_opens_a_cursor_is_left_to_the_general_readers() -> None:
    talk = Conversation().login()
    talk.command(b.stmt_prepare("SELECT a, b FROM t"))
    talk.server(*b.prepare_response(3, [], COLUMNS))
    talk.command(b.stmt_execute(3, flags=1))
    cursor = b.result_set(COLUMNS, [], status=b.STATUS | 0x0040)[:-1]  # no rows yet
    talk.server(*cursor)
    talk.command(b.stmt_close(3), b.query("SELECT 1"))  # two commands in one segment
    talk.server(b.ok(), seq=1)
    decoder = same(talk)
    assert decoder.fast_lane.committed == 1  # the prepare
    finished = [e for e in run(MySQLDecoder(lean=True), talk) if isinstance(e, ev.CommandFinished)]
    assert [e.outcome for e in finished] == ["ok", "cursor_opened", "ok"]


def test_a_command_is_an_event_when_it_is_sent_not_when_its_reply_ends() -> None:
    """A live consumer sees a long query as soon as it is sent, lane or not; if the lane
    then gives up, the replay does not emit it twice."""
    for reply in (b.ok(), b.err(1317, "Query execution was interrupted", "70100")):
        talk = Conversation().login()
        talk.command(b.query("SELECT SLEEP(100)"))
        talk.server(reply)
        items = [(chunk.side, chunk.data) for chunk in talk.chunks]
        steps, _, _ = decode_items(items, True)
        assert [type(e) for e in steps[-3]] == [ev.Command]
        assert ev.Command not in [type(e) for e in steps[-2]]
        assert decode_items(items, True) == decode_items(items, False)


def test_a_decoder_with_its_lane_is_freed_without_the_garbage_collector() -> None:
    """The lane keeps no reference back to its decoder: a cycle would keep every closed
    connection in memory until the collector's next pass (9 MB more at the peak of the
    benchmark's 10,000 connections, when it had one)."""
    talk = Conversation().login()
    talk.command(b.query("SELECT a, b FROM t")).server(*b.result_set(COLUMNS, [["x", "1"]]))
    gc.collect()
    gc.disable()
    try:
        decoder = MySQLDecoder(lean=True)
        run(decoder, talk, eof=True)
        assert decoder.fast_lane.committed == 1
        del decoder
        assert gc.collect() == 0
    finally:
        gc.enable()


@pytest.mark.parametrize("deprecate_eof", [False, True])
@pytest.mark.parametrize(
    ("params", "columns"), [(0, 0), (2, 0), (0, 3), (1, 2)], ids=["none", "params", "cols", "both"]
)
def test_prepare_replies_of_every_shape_decode_the_same(deprecate_eof, params, columns) -> None:
    talk = Conversation().login(deprecate_eof=deprecate_eof)
    defs = [b.column(f"c{i}") for i in range(max(params, columns))]
    talk.command(b.stmt_prepare("SELECT ?"))
    talk.server(*b.prepare_response(5, defs[:params], defs[:columns], deprecate_eof=deprecate_eof))
    talk.command(b.stmt_prepare("SELECT nonsense")).server(b.err(1064, "syntax", "42000"))
    decoder = same(talk)
    assert decoder.fast_lane.committed == 1
    assert [(s.params, s.columns) for s in decoder.statements._by_id.values()] == [
        (params, columns)
    ]
