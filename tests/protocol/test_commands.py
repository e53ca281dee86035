"""Every command byte has a name, and each command's arguments are decoded."""

from __future__ import annotations

import pytest

from mysqlwire.protocol import MySQLDecoder
from mysqlwire.protocol.commands import COMMANDS, command_name
from mysqlwire.protocol.constants import CLIENT, CURSOR_TYPE_READ_ONLY
from mysqlwire.protocol.events import (
    Command,
    CommandFinished,
    Eof,
    Ok,
    StmtPrepareOk,
    TextReply,
    UnexpectedPacket,
)
from tests.mysql_builder import (
    DATE,
    DATETIME,
    DOUBLE,
    LONG,
    LONGLONG,
    NULL,
    PING,
    QUIT,
    RESET_CONNECTION,
    STATISTICS,
    STRING,
    TINY,
    VAR_STRING,
    Conversation,
    Param,
    binlog_dump,
    binlog_dump_gtid,
    change_user,
    column,
    column_definition,
    command,
    eof,
    err,
    field_list,
    init_db,
    ok,
    prepare_response,
    process_kill,
    query,
    register_slave,
    session_track,
    set_option,
    stmt_bulk_execute,
    stmt_close,
    stmt_execute,
    stmt_fetch,
    stmt_prepare,
    stmt_reset,
    stmt_send_long_data,
)
from tests.protocol.helpers import decode, of, one, problems, run


def login(**options) -> Conversation:
    return Conversation().login(**options)


def commands(talk: Conversation) -> list[Command]:
    return of(decode(talk), Command)


# --- the table ----------------------------------------------------------------------------


@pytest.mark.parametrize("code", [*range(0x21), 0xFA])
def test_every_command_byte_has_a_name(code):
    name = COMMANDS[code].name
    assert name.startswith("COM_") and "UNKNOWN" not in name


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (0x03, "COM_QUERY"),
        (0x0E, "COM_PING"),
        (0x11, "COM_CHANGE_USER"),
        (0x1E, "COM_BINLOG_DUMP_GTID"),
        (0x1F, "COM_RESET_CONNECTION"),
        (0xFA, "COM_STMT_BULK_EXECUTE"),
    ],
)
def test_command_names_are_those_of_the_protocol_documentation(code, name):
    assert command_name(code) == name


def test_an_unknown_command_byte_is_named_by_its_value_and_answered_generically():
    talk = login()
    talk.command(command(0x42, b"?")).server(err(1047, "Unknown command", "08S01"))
    events = decode(talk)
    assert one(events, Command).name == "COM_UNKNOWN_0x42"
    assert one(events, CommandFinished).error_code == 1047


# --- COM_QUERY ----------------------------------------------------------------------------


def test_com_query_carries_the_sql_text():
    (cmd,) = commands(login().command(query("select @@version_comment limit 1")))
    assert (cmd.name, cmd.code, cmd.query, cmd.arguments) == (
        "COM_QUERY",
        3,
        "select @@version_comment limit 1",
        {},
    )


def test_com_query_text_that_is_not_utf8_is_kept_escaped_not_lost():
    (cmd,) = commands(login().command(query(b"insert into t values (_binary '\xff\xfe')")))
    assert cmd.query == "insert into t values (_binary '\\xff\\xfe')"


def test_com_query_with_query_attributes_but_none_sent():
    (cmd,) = commands(login(query_attributes=True).command(query("select 1", attributes=[])))
    assert (cmd.query, cmd.arguments) == ("select 1", {})


def test_com_query_with_string_query_attributes():
    attributes = [Param(STRING, "tracing", "n1"), Param(VAR_STRING, "x-42", "n2")]
    talk = login(query_attributes=True)
    talk.command(query("SELECT mysql_query_attribute_string('n1')", attributes))
    (cmd,) = commands(talk)
    assert cmd.query == "SELECT mysql_query_attribute_string('n1')"
    assert cmd.arguments == {"attributes": {"n1": "tracing", "n2": "x-42"}}


def test_com_query_with_mysql_9_non_string_query_attributes():
    attributes = [
        Param(LONGLONG, 42, "number1"),
        Param(DOUBLE, 2.5, "double1"),
        Param(DATE, (1987, 10, 18), "date1"),
        Param(DATETIME, (1990, 9, 26, 12, 13, 14), "datetime1"),
        Param(NULL, None, "nothing"),
    ]
    (cmd,) = commands(login(query_attributes=True).command(query("SELECT version()", attributes)))
    assert cmd.query == "SELECT version()"
    assert cmd.arguments == {
        "attributes": {
            "number1": "42",
            "double1": "2.5",
            "date1": "1987-10-18",
            "datetime1": "1990-09-26 12:13:14",
            "nothing": None,
        }
    }


# --- schema and table commands --------------------------------------------------------------


def test_com_init_db_names_the_schema_and_its_ok_makes_it_current():
    decoder = MySQLDecoder()
    events = run(decoder, login(database=None).command(init_db("shop")).server(ok()))
    assert one(events, Command).arguments == {"schema": "shop"}
    assert decoder.database == "shop"


def test_com_init_db_refused_leaves_the_schema_alone():
    decoder = MySQLDecoder()
    talk = login(database="test").command(init_db("abcd"))
    talk.server(err(1049, "Unknown database 'abcd'", "42000"))
    run(decoder, talk)
    assert decoder.database == "test"


def test_a_schema_change_tracked_in_an_ok_makes_it_current():
    decoder = MySQLDecoder()
    talk = login().command(query("use other"))
    talk.server(ok(session_state=[session_track("schema", "other")]))
    run(decoder, talk)
    assert decoder.database == "other"


def test_com_field_list_names_table_and_wildcard():
    talk = login().command(field_list("agent", "a%"))
    talk.server(column_definition(column("id")), eof())
    events = decode(talk)
    assert one(events, Command).arguments == {"table": "agent", "wildcard": "a%"}
    finished = one(events, CommandFinished)
    assert (finished.outcome, finished.rows, finished.response_packets) == ("eof", 1, 2)


# --- prepared statements ------------------------------------------------------------------

PARAMS = [column("?"), column("?")]
COLUMNS = [column("id", LONGLONG), column("name")]


def prepared(**options) -> Conversation:
    talk = login(**options)
    talk.command(stmt_prepare("select id, name from t where id > ? and name <> ?"))
    talk.server(
        *prepare_response(7, PARAMS, COLUMNS, deprecate_eof=options.get("deprecate_eof", False))
    )
    return talk


def test_com_stmt_prepare_carries_the_sql_and_prepare_ok_the_statement_id():
    decoder = MySQLDecoder()
    events = run(decoder, prepared())
    assert one(events, Command).query == "select id, name from t where id > ? and name <> ?"
    ready = one(events, StmtPrepareOk)
    assert (ready.statement_id, ready.params, ready.columns) == (7, 2, 2)
    assert one(events, CommandFinished).outcome == "ok"
    assert len(decoder.statements) == 1


def test_com_stmt_execute_decodes_parameters_with_their_bound_types():
    talk = prepared()
    talk.command(stmt_execute(7, [Param(LONGLONG, 10), Param(VAR_STRING, "bob")]))
    execute = commands(talk)[-1]
    assert execute.statement_id == 7
    assert execute.query == "select id, name from t where id > ? and name <> ?"
    assert execute.arguments == {"flags": 0, "parameters": ["10", "bob"]}


def test_com_stmt_execute_without_new_types_reuses_the_ones_bound_before():
    talk = prepared()
    talk.command(stmt_execute(7, [Param(LONG, -5), Param(VAR_STRING, "x")])).server(ok())
    talk.command(stmt_execute(7, [Param(LONG, 99), Param(VAR_STRING, None)], bound=False))
    execute = commands(talk)[-1]
    assert execute.arguments["parameters"] == ["99", None]


def test_com_stmt_execute_unsigned_and_tiny_parameters():
    talk = prepared()
    talk.command(stmt_execute(7, [Param(TINY, 200, unsigned=True), Param(VAR_STRING, "")]))
    assert commands(talk)[-1].arguments["parameters"] == ["200", ""]


def test_com_stmt_execute_with_query_attributes_carries_names_and_a_count():
    talk = prepared(query_attributes=True)
    params = [Param(LONGLONG, 1, ""), Param(VAR_STRING, "a", ""), Param(STRING, "t1", "trace")]
    talk.command(stmt_execute(7, params, query_attributes=True, flags=0x08))
    execute = commands(talk)[-1]
    assert execute.arguments["parameters"] == ["1", "a", "t1"]


def test_com_stmt_execute_of_an_unknown_statement_says_so():
    talk = login().command(stmt_execute(99, [Param(LONG, 1)]))
    (execute,) = commands(talk)
    assert execute.statement_id == 99 and execute.query is None
    assert "unknown statement" in execute.arguments["parameters"]


def test_com_stmt_execute_asking_for_a_cursor_shows_the_flag():
    talk = prepared().command(stmt_execute(7, [Param(LONG, 1), Param(VAR_STRING, "a")], flags=1))
    assert commands(talk)[-1].arguments["flags"] == CURSOR_TYPE_READ_ONLY


def test_com_stmt_close_gets_no_reply_and_forgets_the_statement():
    decoder = MySQLDecoder()
    talk = prepared().command(stmt_close(7)).command(PING).server(ok())
    events = run(decoder, talk)
    close = of(events, Command)[1]
    assert (close.name, close.statement_id, close.query) == (
        "COM_STMT_CLOSE",
        7,
        "select id, name from t where id > ? and name <> ?",
    )
    assert [f.command for f in of(events, CommandFinished)] == ["COM_STMT_PREPARE", "COM_PING"]
    assert len(decoder.statements) == 0


def test_com_stmt_reset_is_answered_with_ok():
    events = decode(prepared().command(stmt_reset(7)).server(ok()))
    reset = of(events, Command)[-1]
    assert (reset.name, reset.statement_id) == ("COM_STMT_RESET", 7)
    assert of(events, CommandFinished)[-1].outcome == "ok"


def test_com_stmt_send_long_data_counts_the_data_but_never_shows_it():
    talk = prepared().command(stmt_send_long_data(7, 1, b"secret blob " * 10))
    talk.command(stmt_execute(7, [Param(LONG, 1), Param(VAR_STRING, "")])).server(ok())
    events = decode(talk)
    long_data = of(events, Command)[1]
    assert long_data.arguments == {"param_id": 1, "data_bytes": 120}
    assert "secret" not in repr(events)
    assert [f.command for f in of(events, CommandFinished)][-1] == "COM_STMT_EXECUTE"


def test_com_stmt_fetch_names_statement_and_row_count():
    fetch = commands(prepared().command(stmt_fetch(7, 100)))[-1]
    assert (fetch.statement_id, fetch.arguments) == (7, {"rows": 100})


def test_com_stmt_bulk_execute_of_mariadb():
    bulk = commands(prepared().command(stmt_bulk_execute(7)))[-1]
    assert (bulk.name, bulk.statement_id, bulk.arguments["bulk_flags"]) == (
        "COM_STMT_BULK_EXECUTE",
        7,
        128,
    )


def test_mariadb_statement_id_minus_one_means_the_last_prepared():
    talk = prepared().command(stmt_execute(0xFFFFFFFF, [Param(LONG, 3), Param(VAR_STRING, "z")]))
    assert commands(talk)[-1].arguments["parameters"] == ["3", "z"]


# --- session commands -----------------------------------------------------------------------


def test_com_change_user_arguments_without_the_auth_response():
    attributes = {"_client_name": "libmysql", "program_name": "app"}
    talk = login().command(change_user("root2", "other", attributes=attributes))
    (cmd,) = commands(talk)
    assert cmd.arguments == {
        "user": "root2",
        "database": "other",
        "auth_response_length": 32,
        "auth_plugin": "caching_sha2_password",
        "attributes": attributes,
    }


def test_com_process_kill_names_the_connection():
    assert commands(login().command(process_kill(1234)))[0].arguments == {"connection_id": 1234}


@pytest.mark.parametrize(
    ("option", "label"),
    [(0, "MYSQL_OPTION_MULTI_STATEMENTS_ON"), (1, "MYSQL_OPTION_MULTI_STATEMENTS_OFF"), (7, 7)],
)
def test_com_set_option(option, label):
    assert commands(login().command(set_option(option)))[0].arguments == {"option": label}


def test_com_ping_is_answered_with_ok():
    events = decode(login().command(PING).server(ok()))
    assert one(events, Command).name == "COM_PING"
    assert one(events, CommandFinished).outcome == "ok"


def test_com_quit_expects_no_reply_and_marks_the_connection():
    decoder = MySQLDecoder()
    events = run(decoder, login().command(QUIT), eof=True)
    assert one(events, Command).name == "COM_QUIT"
    assert of(events, CommandFinished) == []
    assert decoder.quit_sent


def test_a_command_after_com_quit_is_unexpected():
    events = decode(login().command(QUIT).command(PING))
    assert one(events, UnexpectedPacket).side == CLIENT


def test_com_reset_connection_forgets_prepared_statements():
    decoder = MySQLDecoder()
    run(decoder, prepared().command(RESET_CONNECTION).server(ok()))
    assert len(decoder.statements) == 0


def test_com_statistics_is_answered_with_plain_text():
    text = "Uptime: 1234  Threads: 2  Questions: 10  Slow queries: 0  Opens: 1"
    events = decode(login().command(STATISTICS).server(text.encode()))
    assert one(events, TextReply).text == text
    assert one(events, CommandFinished).outcome == "text"


def test_com_debug_is_answered_with_eof():
    events = decode(login().command(command(0x0D)).server(eof()))
    assert one(events, Eof).reply_to == "COM_DEBUG"
    assert one(events, CommandFinished).outcome == "eof"


# --- replication --------------------------------------------------------------------------


def test_com_binlog_dump_names_file_position_and_replica():
    (cmd,) = commands(login().command(binlog_dump("mysql-bin.000003", 154, server_id=9)))
    assert cmd.arguments == {
        "binlog_file": "mysql-bin.000003",
        "position": 154,
        "flags": 0,
        "server_id": 9,
    }


def test_com_binlog_dump_gtid_names_file_position_and_replica():
    (cmd,) = commands(
        login().command(binlog_dump_gtid("binlog.000001", 4, server_id=3, flags=4, gtid_data=b"x"))
    )
    assert cmd.arguments == {
        "binlog_file": "binlog.000001",
        "position": 4,
        "flags": 4,
        "server_id": 3,
    }


def test_com_register_slave_never_shows_the_replication_password():
    talk = login().command(register_slave(5, "replica-1", "repl", "Pa55w0rd!", 3307))
    events = decode(talk.server(ok()))
    assert one(events, Command).arguments == {
        "server_id": 5,
        "host": "replica-1",
        "user": "repl",
        "port": 3307,
    }
    assert "Pa55w0rd" not in repr(events)
    assert problems(events) == []


def test_every_ok_answered_command_is_paired():
    talk = login()
    for payload in (PING, init_db("x"), process_kill(3), set_option(0), RESET_CONNECTION):
        talk.command(payload).server(ok())
    events = decode(talk)
    assert [f.outcome for f in of(events, CommandFinished)] == ["ok"] * 5
    assert len(of(events, Ok)) == 6
