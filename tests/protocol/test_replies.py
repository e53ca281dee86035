"""Server replies: OK (with session-state changes), ERR, EOF, result sets with and without
DEPRECATE_EOF, multi-result sets, prepared statements, cursors, LOCAL INFILE, binlog streams,
MariaDB progress reports, and the pairing of every reply with its command."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mysqlwire.protocol.constants import (
    CLIENT_PROTOCOL_41,
    CLIENT_SESSION_TRACK,
    CLIENT_TRANSACTIONS,
    MARIADB_CLIENT_CACHE_METADATA,
    SERVER,
    SERVER_STATUS_CURSOR_EXISTS,
    SERVER_STATUS_IN_TRANS,
    SERVER_STATUS_LAST_ROW_SENT,
)
from mysqlwire.protocol.events import (
    BinlogEvent,
    ColumnDefinition,
    Command,
    CommandFinished,
    Eof,
    Err,
    LocalInfileData,
    LocalInfileEnd,
    LocalInfileRequest,
    Ok,
    Progress,
    ResultSetEnd,
    ResultSetHeader,
    Row,
    StmtPrepareOk,
    UnexpectedPacket,
)
from mysqlwire.protocol.replies import parse_ok, plain_ok_status
from tests.mysql_builder import (
    CLIENT_BASE,
    DATETIME,
    DOUBLE,
    LONG,
    LONGLONG,
    MARIADB_EXTENDED,
    MARIADB_SERVER_CAPABILITIES,
    PING,
    STATUS,
    TIME,
    VAR_STRING,
    Conversation,
    Param,
    binary_row,
    binlog_dump,
    binlog_event,
    column,
    column_definition,
    eof,
    err,
    field_list,
    lenenc_int,
    local_infile_request,
    ok,
    prepare_response,
    progress,
    query,
    result_set,
    session_track,
    stmt_execute,
    stmt_fetch,
    stmt_prepare,
)
from tests.protocol.helpers import decode, names, of, one, problems

COLUMNS = [column("id", LONGLONG), column("name")]
ROWS = [["1", "dog"], ["2", None], ["3", "cat"]]


def login(**options) -> Conversation:
    return Conversation().login(**options)


# --- OK, ERR, EOF -------------------------------------------------------------------------


def test_ok_gives_affected_rows_insert_id_status_warnings_and_info():
    talk = login().command(query("insert into t values (1),(2)"))
    talk.server(ok(2, 17, status=STATUS | SERVER_STATUS_IN_TRANS, warnings=1, info="Records: 2"))
    answer = of(decode(talk), Ok)[-1]
    assert (answer.affected_rows, answer.last_insert_id, answer.warnings, answer.info) == (
        2,
        17,
        1,
        "Records: 2",
    )
    assert answer.status == STATUS | SERVER_STATUS_IN_TRANS
    assert answer.reply_to == "COM_QUERY"


def test_ok_with_large_affected_rows_uses_longer_length_encodings():
    talk = login().command(query("delete from big")).server(ok(70000, 1 << 40))
    answer = of(decode(talk), Ok)[-1]
    assert (answer.affected_rows, answer.last_insert_id) == (70000, 1 << 40)


def test_ok_without_session_tracking_has_its_info_to_the_end_of_the_packet():
    talk = Conversation().login(client_capabilities=CLIENT_BASE & ~CLIENT_SESSION_TRACK)
    talk.command(query("update t set a=1"))
    talk.server(ok(3, info="Rows matched: 3  Changed: 3  Warnings: 0", session_track=False))
    assert of(decode(talk), Ok)[-1].info == "Rows matched: 3  Changed: 3  Warnings: 0"


def test_ok_without_session_tracking_as_real_servers_send_it_has_no_length_byte_in_its_info():
    # MySQL's and MariaDB's net_send_ok length-prefix the message even without
    # CLIENT_SESSION_TRACK (libmysqlclient reads it so); this is MariaDB 10.11's reply to
    # LOAD DATA LOCAL in pcaps/load_data_local.pcap: 0x32 (50), then 50 bytes of text.
    message = "Records: 2000  Deleted: 0  Skipped: 0  Warnings: 0"
    talk = Conversation().login(client_capabilities=CLIENT_BASE & ~CLIENT_SESSION_TRACK)
    talk.command(query("update t set a=1"))
    talk.server(ok(2000, session_track=False) + bytes([len(message)]) + message.encode())
    assert of(decode(talk), Ok)[-1].info == message


def test_ok_session_state_changes_are_listed_by_kind():
    changes = [
        session_track("system_variable", "autocommit", "OFF"),
        session_track("schema", "shop"),
        session_track("state_change", "1"),
        session_track("gtids", "3E11FA47-71CA-11E1-9E33-C80AA9429562:23"),
        session_track("transaction_characteristics", "SET TRANSACTION READ ONLY;"),
        session_track("transaction_state", "T_______"),
    ]
    talk = login().command(query("set autocommit=0")).server(ok(session_state=changes))
    assert of(decode(talk), Ok)[-1].session_state == [
        ("system_variable", "autocommit=OFF"),
        ("schema", "shop"),
        ("state_change", "1"),
        ("gtids", "3E11FA47-71CA-11E1-9E33-C80AA9429562:23"),
        ("transaction_characteristics", "SET TRANSACTION READ ONLY;"),
        ("transaction_state", "T_______"),
    ]


def test_err_gives_code_sql_state_and_message_and_ends_the_command():
    talk = login().command(query("select * from nope"))
    talk.server(err(1146, "Table 'test.nope' doesn't exist", "42S02"))
    events = decode(talk)
    error = one(events, Err)
    assert (error.code, error.sql_state, error.message, error.reply_to, error.phase) == (
        1146,
        "42S02",
        "Table 'test.nope' doesn't exist",
        "COM_QUERY",
        "command",
    )
    finished = one(events, CommandFinished)
    assert (finished.outcome, finished.error_code) == ("error", 1146)


def test_an_err_with_nothing_outstanding_is_an_idle_error():
    talk = login().server(err(1053, "Server shutdown in progress", "08S01"), seq=0)
    error = one(decode(talk), Err)
    assert (error.phase, error.reply_to) == ("idle", None)


def test_a_server_packet_with_nothing_outstanding_is_unexpected():
    talk = login().server(ok(), seq=0)
    unexpected = one(decode(talk), UnexpectedPacket)
    assert (unexpected.side, unexpected.first_byte) == (SERVER, 0)


# --- result sets --------------------------------------------------------------------------


def test_a_result_set_ended_by_eof_counts_rows_and_bytes():
    talk = login().command(query("select id, name from t"))
    talk.server(*result_set(COLUMNS, ROWS))
    events = decode(talk)
    end = one(events, ResultSetEnd)
    assert (end.rows, end.row_bytes, end.more_results, end.reply_to) == (3, 15, False, "COM_QUERY")
    finished = one(events, CommandFinished)
    assert (finished.outcome, finished.rows, finished.response_packets) == ("result_set", 3, 8)
    assert problems(events) == []


def test_a_result_set_under_deprecate_eof_ends_with_an_ok():
    talk = login(deprecate_eof=True).command(query("select id, name from t"))
    talk.server(*result_set(COLUMNS, ROWS, deprecate_eof=True, warnings=2))
    events = decode(talk)
    end = one(events, ResultSetEnd)
    assert (end.rows, end.warnings, end.status) == (3, 2, STATUS)
    assert one(events, CommandFinished).response_packets == 7
    assert problems(events) == []


def test_a_row_starting_with_0xfe_is_a_row_not_the_end():
    long_value = "v" * 70000  # length-encoded as 0xFD..., so not this case; 0xFE needs 16 MB
    talk = login().command(query("select v from t"))
    talk.server(*result_set([column("v")], [[long_value], ["x"]]))
    assert one(decode(talk), ResultSetEnd).rows == 2


def test_an_empty_result_set():
    talk = login().command(query("select * from t where 0"))
    talk.server(*result_set(COLUMNS, []))
    assert one(decode(talk), ResultSetEnd).rows == 0


def test_an_err_in_the_middle_of_the_rows_ends_the_command():
    talk = login().command(query("select sleep(100) from t"))
    talk.server(lenenc_int(1), column_definition(column("s")), eof(), b"\x010")
    talk.server(err(1317, "Query execution was interrupted", "70100"))
    events = decode(talk)
    finished = one(events, CommandFinished)
    assert (finished.outcome, finished.error_code, finished.rows) == ("error", 1317, 1)


def test_multi_statements_give_several_result_sets_and_one_finished_command():
    talk = login().command(query("select 1; update t set a=1; select 2"))
    talk.server(*result_set([column("1")], [["1"]], more_results=True))
    talk.server(ok(1, status=STATUS | 0x0008))
    talk.server(*result_set([column("2")], [["2"]]))
    events = decode(talk)
    ends = of(events, ResultSetEnd)
    assert [e.more_results for e in ends] == [True, False]
    finished = one(events, CommandFinished)
    assert (finished.outcome, finished.rows) == ("result_set", 2)
    assert problems(events) == []


def test_multi_result_sets_under_deprecate_eof():
    talk = login(deprecate_eof=True).command(query("call p()"))
    talk.server(*result_set([column("a")], [["1"]], deprecate_eof=True, more_results=True))
    talk.server(ok())
    events = decode(talk)
    assert [e.more_results for e in of(events, ResultSetEnd)] == [True]
    assert one(events, CommandFinished).outcome == "ok"


def test_field_list_ends_with_an_ok_under_deprecate_eof():
    talk = login(deprecate_eof=True).command(field_list("t"))
    talk.server(column_definition(column("a")), column_definition(column("b")))
    talk.server(ok(eof_header=True, warnings=1))
    events = decode(talk)
    end = one(events, Eof)
    assert (end.warnings, end.status) == (1, STATUS)
    finished = one(events, CommandFinished)
    assert (finished.outcome, finished.rows) == ("eof", 2)


# --- detail: what dump shows ----------------------------------------------------------------


def test_detail_shows_header_definitions_and_text_rows_with_null():
    talk = login().command(query("select id, name from t"))
    talk.server(*result_set(COLUMNS, ROWS))
    events = decode(talk, detail=True)
    assert one(events, ResultSetHeader).column_count == 2
    assert [(c.name, c.column_type, c.table) for c in of(events, ColumnDefinition)] == [
        ("id", LONGLONG, "t"),
        ("name", VAR_STRING, "t"),
    ]
    assert [r.values for r in of(events, Row)] == ROWS
    assert not any(r.binary for r in of(events, Row))


def test_without_detail_no_row_or_definition_events():
    talk = login().command(query("select id, name from t"))
    talk.server(*result_set(COLUMNS, ROWS))
    assert of(decode(talk), Row, ColumnDefinition, ResultSetHeader) == []


# --- prepared statements ------------------------------------------------------------------

BINARY_COLUMNS = [
    column("id", LONGLONG),
    column("price", DOUBLE),
    column("at", DATETIME),
    column("took", TIME),
    column("name"),
]


def prepare(talk: Conversation, *, deprecate_eof: bool = False) -> Conversation:
    talk.command(stmt_prepare("select id, price, at, took, name from t where id > ?"))
    talk.server(*prepare_response(5, [column("?")], BINARY_COLUMNS, deprecate_eof=deprecate_eof))
    return talk


def test_prepare_ok_is_followed_by_parameter_and_column_definitions():
    events = decode(prepare(login()), detail=True)
    ready = one(events, StmtPrepareOk)
    assert (ready.statement_id, ready.params, ready.columns, ready.warnings) == (5, 1, 5, 0)
    assert len(of(events, ColumnDefinition)) == 6
    assert len(of(events, Eof)) == 2
    finished = one(events, CommandFinished)
    assert (finished.outcome, finished.response_packets) == ("ok", 9)
    assert problems(events) == []


def test_prepare_ok_under_deprecate_eof_has_no_eof_between_blocks():
    events = decode(prepare(login(deprecate_eof=True), deprecate_eof=True))
    assert one(events, CommandFinished).response_packets == 7
    assert problems(events) == []


def test_prepare_of_a_statement_without_parameters_or_columns():
    talk = login().command(stmt_prepare("do 1")).server(*prepare_response(6, [], []))
    events = decode(talk)
    assert one(events, CommandFinished).response_packets == 1


def test_prepare_refused_with_err():
    talk = login().command(stmt_prepare("selec 1")).server(err(1064, "syntax", "42000"))
    assert one(decode(talk), CommandFinished).error_code == 1064


def binary_rows() -> list[list[object]]:
    return [
        [1, 9.5, (2024, 1, 2, 3, 4, 5), (0, 1, 2, 3, 4), "a"],
        [2, None, (2024, 1, 2), (1, 0, 0, 0, 30, 250000), None],
    ]


def test_binary_rows_are_decoded_with_the_column_types():
    talk = prepare(login())
    talk.command(stmt_execute(5, [Param(LONG, 0)]))
    talk.server(*result_set(BINARY_COLUMNS, binary_rows(), binary=True))
    events = decode(talk, detail=True)
    rows = of(events, Row)
    assert all(r.binary for r in rows)
    assert [r.values for r in rows] == [
        ["1", "9.5", "2024-01-02 03:04:05", "26:03:04", "a"],
        ["2", None, "2024-01-02", "-00:00:30.250000", None],
    ]
    assert problems(events) == []


def test_binary_rows_under_deprecate_eof():
    talk = prepare(login(deprecate_eof=True), deprecate_eof=True)
    talk.command(stmt_execute(5, [Param(LONG, 0)]))
    talk.server(*result_set(BINARY_COLUMNS, binary_rows(), binary=True, deprecate_eof=True))
    events = decode(talk, detail=True)
    assert len(of(events, Row)) == 2
    assert of(events, CommandFinished)[-1].rows == 2
    assert problems(events) == []


def cursor_status(*extra: int) -> int:
    status = STATUS | SERVER_STATUS_CURSOR_EXISTS
    for flag in extra:
        status |= flag
    return status


def test_execute_with_a_cursor_then_fetch():
    talk = prepare(login())
    talk.command(stmt_execute(5, [Param(LONG, 0)], flags=1))
    talk.server(lenenc_int(5), *[column_definition(c) for c in BINARY_COLUMNS])
    talk.server(eof(status=cursor_status()))
    talk.command(stmt_fetch(5, 1))
    talk.server(binary_row(BINARY_COLUMNS, binary_rows()[0]), eof(status=cursor_status()))
    talk.command(stmt_fetch(5, 1))
    talk.server(
        binary_row(BINARY_COLUMNS, binary_rows()[1]),
        eof(status=cursor_status(SERVER_STATUS_LAST_ROW_SENT)),
    )
    events = decode(talk, detail=True)
    finished = of(events, CommandFinished)
    assert [(f.command, f.outcome, f.rows) for f in finished] == [
        ("COM_STMT_PREPARE", "ok", 0),
        ("COM_STMT_EXECUTE", "cursor_opened", 0),
        ("COM_STMT_FETCH", "result_set", 1),
        ("COM_STMT_FETCH", "result_set", 1),
    ]
    assert [r.values[0] for r in of(events, Row)] == ["1", "2"]
    assert problems(events) == []


def test_execute_with_a_cursor_under_deprecate_eof():
    talk = prepare(login(deprecate_eof=True), deprecate_eof=True)
    talk.command(stmt_execute(5, [Param(LONG, 0)], flags=1))
    talk.server(lenenc_int(5), *[column_definition(c) for c in BINARY_COLUMNS])
    talk.server(ok(status=cursor_status(), eof_header=True))
    talk.command(stmt_fetch(5, 10))
    talk.server(
        binary_row(BINARY_COLUMNS, binary_rows()[0]),
        ok(status=cursor_status(SERVER_STATUS_LAST_ROW_SENT), eof_header=True),
    )
    events = decode(talk)
    finished = of(events, CommandFinished)
    assert [(f.command, f.outcome, f.rows) for f in finished][1:] == [
        ("COM_STMT_EXECUTE", "cursor_opened", 0),
        ("COM_STMT_FETCH", "result_set", 1),
    ]
    assert problems(events) == []


# --- LOCAL INFILE -------------------------------------------------------------------------


def test_local_infile_request_upload_and_ok():
    talk = login().command(query("LOAD DATA LOCAL INFILE '/tmp/a.csv' INTO TABLE t"))
    talk.server(local_infile_request("/tmp/a.csv"))
    talk.client(b"1,a\n2,b\n").client(b"3,c\n").client(b"")
    talk.server(ok(3, info="Records: 3  Deleted: 0  Skipped: 0  Warnings: 0"))
    events = decode(talk, detail=True)
    assert one(events, LocalInfileRequest).filename == "/tmp/a.csv"
    assert len(of(events, LocalInfileData)) == 2
    end = one(events, LocalInfileEnd)
    assert (end.total_bytes, end.data_packets, end.seq) == (12, 2, 4)
    finished = one(events, CommandFinished)
    assert (finished.outcome, finished.command) == ("ok", "COM_QUERY")
    assert problems(events) == []


def test_local_infile_refused_by_the_client_sends_the_empty_packet_at_once():
    talk = login().command(query("LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE t"))
    talk.server(local_infile_request("/etc/passwd")).client(b"")
    talk.server(err(2068, "LOAD DATA LOCAL INFILE file request rejected", "HY000"))
    events = decode(talk)
    assert one(events, LocalInfileEnd).data_packets == 0
    assert one(events, CommandFinished).error_code == 2068


# --- replication --------------------------------------------------------------------------


def test_a_binlog_dump_streams_events_until_eof():
    talk = login().command(binlog_dump("binlog.000001", 4, flags=1))
    talk.server(binlog_event(4, log_pos=0, body=b"\x04\0\0\0\0\0\0\0binlog.000001"))
    talk.server(binlog_event(15, log_pos=126, body=bytes(100)))
    talk.server(binlog_event(2, log_pos=300, body=bytes(60)), binlog_event(16, log_pos=331))
    talk.server(eof())
    events = decode(talk, detail=True)
    assert [e.event_name for e in of(events, BinlogEvent)] == [
        "ROTATE_EVENT",
        "FORMAT_DESCRIPTION_EVENT",
        "QUERY_EVENT",
        "XID_EVENT",
    ]
    assert of(events, BinlogEvent)[2].log_pos == 300
    finished = one(events, CommandFinished)
    assert (finished.outcome, finished.rows) == ("eof", 4)
    assert problems(events) == []


def test_a_binlog_event_shorter_than_its_header_is_shown_not_dropped():
    talk = login().command(binlog_dump("binlog.000001"))
    talk.server(b"\x00\x01\x02")
    events = decode(talk, detail=True)
    assert len(of(events, BinlogEvent)) + len(problems(events)) == 1


def test_a_binlog_dump_refused():
    talk = login().command(binlog_dump("nope.000001"))
    talk.server(err(1236, "Could not find first log file name in binary log index file"))
    assert one(decode(talk), CommandFinished).error_code == 1236


# --- MariaDB progress ---------------------------------------------------------------------


def test_mariadb_progress_reports_are_not_errors():
    talk = login().command(query("alter table big add column c int"))
    talk.server(progress(1, 2, 12.5, "copy to tmp table"))
    talk.server(progress(2, 2, 99.9, "enabling keys"))
    talk.server(ok())
    events = decode(talk)
    reports = of(events, Progress)
    assert [(p.stage, p.max_stage, p.progress, p.info) for p in reports] == [
        (1, 2, 12.5, "copy to tmp table"),
        (2, 2, 99.9, "enabling keys"),
    ]
    assert of(events, Err) == []
    assert one(events, CommandFinished).outcome == "ok"
    assert problems(events) == []


# --- pairing ------------------------------------------------------------------------------


def test_command_finished_pairs_latency_rows_and_bytes():
    talk = login().command(query("select id, name from t"))
    talk.server(*result_set(COLUMNS, ROWS[:2]))
    events = decode(talk)
    command = one(events, Command)
    finished = one(events, CommandFinished)
    assert (finished.started_frame, finished.started_ts) == (command.frame, command.ts)
    assert finished.frame == 5
    assert finished.latency == pytest.approx(0.001, abs=1e-6)
    assert finished.rows == 2
    sent = talk.chunks[-1].data
    assert finished.response_bytes == len(sent) - 4 * finished.response_packets


def test_pipelined_commands_are_answered_in_order():
    talk = login()
    talk.command(query("select 1"), PING, query("select 2"))
    talk.server(*result_set([column("1")], [["1"]]), seq=1)
    talk.server(ok(), seq=1)
    talk.server(*result_set([column("2")], [["2"], ["3"]]), seq=1)
    events = decode(talk)
    assert [(f.command, f.outcome, f.rows) for f in of(events, CommandFinished)] == [
        ("COM_QUERY", "result_set", 1),
        ("COM_PING", "ok", 0),
        ("COM_QUERY", "result_set", 2),
    ]
    assert problems(events) == []


def test_commands_still_outstanding_at_the_end_are_finished_as_no_reply():
    talk = login().command(query("select sleep(100)"))
    finished = one(decode(talk, eof=True), CommandFinished)
    assert (finished.outcome, finished.command) == ("no_reply", "COM_QUERY")


def test_a_full_session_reads_cleanly():
    talk = login(deprecate_eof=True)
    talk.command(PING).server(ok())
    talk.command(query("select id, name from t"))
    talk.server(*result_set(COLUMNS, ROWS, deprecate_eof=True))
    events = decode(talk, detail=True)
    assert names(events)[-1] == "CommandFinished"
    assert problems(events) == []


def test_binary_rows_without_metadata_are_read_with_the_prepare_column_types():
    """MariaDB's MARIADB_CLIENT_CACHE_METADATA: an execute's result set says "no metadata
    follows" and the rows are read with the types the prepare announced."""
    talk = Conversation().login(
        server_capabilities=MARIADB_SERVER_CAPABILITIES | MARIADB_CLIENT_CACHE_METADATA,
        client_capabilities=(CLIENT_BASE & ~1) | MARIADB_EXTENDED | MARIADB_CLIENT_CACHE_METADATA,
        version="5.5.5-10.11.6-MariaDB",
    )
    prepare(talk)
    talk.command(stmt_execute(5, [Param(LONG, 0)]))
    rows = binary_rows()
    talk.server(lenenc_int(len(BINARY_COLUMNS)) + b"\x00")  # column count, metadata: none
    talk.server(eof(), *[binary_row(BINARY_COLUMNS, row) for row in rows], eof())
    events = decode(talk, detail=True)
    header = of(events, ResultSetHeader)[-1]
    assert (header.column_count, header.metadata_follows) == (5, False)
    assert [r.values[0] for r in of(events, Row)] == ["1", "2"]
    assert of(events, Row)[0].values[2] == "2024-01-02 03:04:05"
    assert problems(events) == []


# -- the fast lane's plain OK ----------------------------------------------------------------


@pytest.mark.parametrize("session_track", [True, False])
@pytest.mark.parametrize("eof_header", [False, True])
@pytest.mark.parametrize("info", ["", "Rows matched: 1  Changed: 1  Warnings: 0"])
def test_a_plain_ok_gives_its_status_without_its_fields(session_track, eof_header, info):
    capabilities = (CLIENT_BASE | CLIENT_SESSION_TRACK) ^ (
        0 if session_track else CLIENT_SESSION_TRACK
    )
    payload = ok(
        3, 7, status=SERVER_STATUS_IN_TRANS, warnings=2, info=info,
        session_track=session_track, eof_header=eof_header,
    )  # fmt: skip
    assert plain_ok_status(payload, capabilities) == SERVER_STATUS_IN_TRANS
    assert parse_ok(payload, capabilities).status == SERVER_STATUS_IN_TRANS


@pytest.mark.parametrize(
    "payload",
    [
        ok(300, 0),  # affected rows in more than one byte
        ok(0, 1 << 20),  # so the insert id
        ok(info="x" * 300),  # an info text with a longer length
        ok(info="Rows matched: 1")[:12],  # an info text cut short
        ok(session_state=[b"\x01\x05\x04test"]),  # a schema change
        ok()[:6],  # cut short
    ],
    ids=["affected", "insert-id", "long-info", "cut-info", "session-state", "cut"],
)
def test_other_oks_are_left_to_parse_ok(payload):
    assert plain_ok_status(payload, CLIENT_BASE | CLIENT_SESSION_TRACK) == -1


@settings(max_examples=3000, suppress_health_check=[HealthCheck.too_slow])
@given(
    payload=st.binary(min_size=0, max_size=24).map(lambda rest: b"\x00" + rest),
    protocol_41=st.booleans(),
    session_track=st.booleans(),
    transactions=st.booleans(),
)
def test_whatever_plain_ok_status_reads_parse_ok_reads_alike(
    payload, protocol_41, session_track, transactions
):
    capabilities = (
        (CLIENT_PROTOCOL_41 if protocol_41 else 0)
        | (CLIENT_SESSION_TRACK if session_track else 0)
        | (CLIENT_TRANSACTIONS if transactions else 0)
    )
    status = plain_ok_status(payload, capabilities)
    if status < 0:
        return
    fields = parse_ok(payload, capabilities)  # must not raise
    assert fields.status == status
    assert fields.session_state == []
