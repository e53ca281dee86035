"""`--redact` end to end: `analyze` (table, jsonl, json), `dump` (text, jsonl) and `live`
print none of the literals a conversation carried, and keep what makes the report useful."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mysqlwire.live import RedactingLiveSession
from tests.craft import frame_tuples, pcap_bytes, write_capture
from tests.hardening.captures import flat, run, session
from tests.live.replay import replay_live
from tests.mysql_builder import (
    LONG,
    QUIT,
    VAR_STRING,
    Conversation,
    Param,
    change_user,
    column,
    err,
    local_infile_request,
    ok,
    prepare_response,
    query,
    result_set,
    stmt_execute,
    stmt_prepare,
)

# Literals the conversation carries; none may be printed with --redact.
LITERALS = [
    "alice@example.com",
    "4242424",
    "s3cret-param",
    "7777777",
    "row-value-secret",
    "/home/alice/private.csv",
    "hunter2-in-a-typo",
    "Customer 9999 over limit",
    "acme-tenant",
    "attr-value-secret",
]
# What --redact keeps: the statement's shape, names, the error's kind.
KEPT_IN_DUMP = [
    "COM_QUERY SELECT id, name FROM users WHERE email = ? AND id = ?",
    "Duplicate entry '?' for key 'users.email'",
    "COM_STMT_EXECUTE SELECT name FROM users WHERE token = ? AND n > ?",
    "LOAD DATA LOCAL INFILE ? INTO TABLE imports",
    "local_infile ?",
    "row ? | NULL",
    "user=admin, database=shop",
]


def conversation() -> Conversation:
    talk = Conversation().login(query_attributes=True)
    talk.command(
        query(
            "SELECT id, name FROM users WHERE email = 'alice@example.com' AND id = 4242424",
            attributes=[Param(VAR_STRING, "attr-value-secret", name="trace")],
        )
    )
    talk.server(*result_set([column("id"), column("name")], [["row-value-secret", None]]))
    talk.command(query("INSERT INTO users (email) VALUES ('alice@example.com')", attributes=[]))
    talk.server(err(1062, "Duplicate entry 'alice@example.com' for key 'users.email'", "23000"))
    talk.command(query("SELEC pw FROM t WHERE pw = 'hunter2-in-a-typo'", attributes=[]))
    talk.server(
        err(
            1064,
            "You have an error in your SQL syntax; check the manual that corresponds to your "
            "MySQL server version for the right syntax to use near 'SELEC pw FROM t WHERE pw "
            "= 'hunter2-in-a-typo'' at line 1",
            "42000",
        )
    )
    talk.command(query("CALL charge(9999)", attributes=[]))
    talk.server(err(1644, "Customer 9999 over limit", "45000"))
    talk.command(stmt_prepare("SELECT name FROM users WHERE token = ? AND n > ?"))
    talk.server(*prepare_response(5, [column("?"), column("?")], [column("name")]))
    talk.command(
        stmt_execute(
            5,
            [Param(VAR_STRING, "s3cret-param"), Param(LONG, 7777777)],
            query_attributes=True,
        )
    )
    talk.server(*result_set([column("name")], [["row-value-secret"]], binary=True))
    talk.command(
        query("LOAD DATA LOCAL INFILE '/home/alice/private.csv' INTO TABLE imports", attributes=[])
    )
    talk.server(local_infile_request("/home/alice/private.csv")).client(b"a,b\n").client(b"")
    talk.server(ok(1))
    talk.command(
        change_user(
            "admin", "shop", attributes={"_client_name": "libmysql", "tenant": "acme-tenant"}
        )
    )
    talk.server(ok())
    talk.command(QUIT)
    return talk


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("redact") / "literals.pcap"
    return write_capture(path, pcap_bytes(session(conversation()).frames))


COMMANDS = [
    ("analyze",),
    ("analyze", "--format", "jsonl"),
    ("analyze", "--format", "json"),
    ("dump",),
    ("dump", "--format", "jsonl"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_redact_hides_every_literal(capture: Path, command):
    plain = run(*command, capture)
    redacted = run(*command, "--redact", capture)
    assert plain.exit_code == redacted.exit_code == 0
    shown = [literal for literal in LITERALS if literal in plain.stdout]
    assert shown, "the plain output shows some of them: the test sees what it looks for"
    for literal in LITERALS:
        assert literal not in redacted.stdout, literal


def test_dump_keeps_the_shape_of_what_happened(capture: Path):
    dump = run("dump", "--redact", capture).stdout
    for kept in KEPT_IN_DUMP:
        assert kept in dump, kept
    assert "ERR 1644 45000 ?" in dump
    records = [
        json.loads(line)
        for line in run("dump", "--redact", "--format", "jsonl", capture).stdout.splitlines()
    ]
    assert any(
        r["text"] == "SELECT id, name FROM users WHERE email = ? AND id = ?" for r in records
    )


def test_analyze_keeps_the_verdict_the_names_and_the_error_kinds(capture: Path):
    table = flat(run("analyze", "--redact", capture).stdout)
    assert "clean_quit" in table and "app@test" in table
    assert "Duplicate entry '?' for key 'users.email'" in table
    assert "near 'SELEC pw FROM t WHERE pw = ?' at line 1" in table
    connection = json.loads(
        run("analyze", "--redact", "--format", "jsonl", capture).stdout.splitlines()[0]
    )
    assert connection["user"] == "app" and connection["error_codes"] == [1062, 1064, 1644]
    details = [f["detail"] for f in connection["findings"] if f["kind"] == "mysql_error"]
    assert details[-1].endswith("in reply to COM_QUERY: ?")


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
def test_live_redact_hides_every_literal(fmt: str):
    output = replay_live(
        frame_tuples(session(conversation()).frames), fmt, session_class=RedactingLiveSession
    )
    assert "clean_quit" in output
    for literal in LITERALS:
        assert literal not in output, literal
