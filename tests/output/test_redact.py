"""`--redact`'s rules (mysqlwire/output/redact.py): SQL literals become `?`, the structure
stays; ERR messages keep the names and lose the values."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mysqlwire.output.redact import (
    HIDDEN,
    redact_error_message,
    redact_event,
    redact_finding,
    redact_sql,
)
from mysqlwire.protocol import events as ev
from mysqlwire.report.findings import finding

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- SQL, by example ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "redacted"),
    [
        ("SELECT * FROM t WHERE a = 'x'", "SELECT * FROM t WHERE a = ?"),
        ("WHERE a = 'it''s' OR b = 'a\\'b'", "WHERE a = ? OR b = ?"),
        ('WHERE a = "dq" AND b = "x\\"y" AND c = "d""q"', "WHERE a = ? AND b = ? AND c = ?"),
        ("SELECT 'a' 'b'", "SELECT ? ?"),
        ("VALUES (_utf8mb4'x', N'y', _latin1'z')", "VALUES (?, ?, ?)"),
        ("WHERE n IN (1, 2.5, .5, 1e10, 2.5E-3, -7)", "WHERE n IN (?, ?, ?, ?, ?, -?)"),
        (
            "WHERE h = 0x1F OR h = X'1f' OR b = 0b101 OR b = B'01'",
            "WHERE h = ? OR h = ? OR b = ? OR b = ?",
        ),
        ("LIMIT 10 OFFSET 20", "LIMIT ? OFFSET ?"),
        ("SELECT t1.c2, db.t3.c4 FROM t1", "SELECT t1.c2, db.t3.c4 FROM t1"),
        ("SELECT 1abc, a1, `1`, `it's`, `a``b`", "SELECT 1abc, a1, `1`, `it's`, `a``b`"),
        ("SELECT ?, @x, @@session.sql_mode, :name", "SELECT ?, @x, @@session.sql_mode, :name"),
        ("SELECT 1 -- user 42 said 'hi'", "SELECT ? -- user ? said ?"),
        ("SELECT 1 # order 7", "SELECT ? # order ?"),
        ("SELECT 1--2", "SELECT ?--?"),
        ("/*!40101 SET NAMES utf8mb4 */", "/*!40101 SET NAMES utf8mb4 */"),
        ("SELECT /*+ MAX_EXECUTION_TIME(1000) */ 1", "SELECT /*+ MAX_EXECUTION_TIME(?) */ ?"),
        ("SELECT /* app='shop' req=17 */ 1", "SELECT /* app=? req=? */ ?"),
        ("SELECT 'cut short", "SELECT ?"),
        ("SELECT `cut short, 'x'", "SELECT ?"),
        ("SELECT /* cut 'x'", "SELECT /* cut ?"),
        (
            "LOAD DATA LOCAL INFILE '/home/a.csv' INTO TABLE t",
            "LOAD DATA LOCAL INFILE ? INTO TABLE t",
        ),
        ("SELECT DATE '2024-01-01' + INTERVAL 5 DAY", "SELECT DATE ? + INTERVAL ? DAY"),
        ("SELECT 'é€😀', \"\\n\"", "SELECT ?, ?"),
        ("", ""),
    ],
)
def test_sql_literals_are_hidden_and_the_rest_kept(sql: str, redacted: str):
    assert redact_sql(sql) == redacted


# -- SQL, by property ----------------------------------------------------------------------------

KEYWORDS = ["SELECT", "FROM", "WHERE", "AND", "OR", "IN", "LIMIT", "INSERT", "INTO", "VALUES",
            "UPDATE", "SET", "NULL", "TRUE", "LIKE", "ORDER", "BY", "JOIN", "ON", "AS"]  # fmt: skip
PUNCTUATION = ["(", ")", ",", "=", "<", ">", "<=", ".", ";", "*", "+", "-", "?", "@x", ":v"]

identifiers = st.from_regex(r"[a-z_][a-z0-9_$]{0,8}", fullmatch=True).filter(
    lambda word: not re.fullmatch(r"[xXbBnN]|_\w*", word)  # introducers stay unambiguous
)
backquoted = st.text(max_size=10).map(lambda name: "`" + name.replace("`", "``") + "`")
structure = st.one_of(st.sampled_from(KEYWORDS + PUNCTUATION), identifiers, backquoted)


@st.composite
def string_literals(draw) -> str:
    content = draw(st.text(max_size=20))
    quote = draw(st.sampled_from(["'", '"']))
    escaped = content.replace("\\", "\\\\")
    doubled = draw(st.booleans())
    escaped = escaped.replace(quote, quote * 2 if doubled else "\\" + quote)
    prefix = draw(st.sampled_from(["", "", "_utf8mb4", "N"])) if quote == "'" else ""
    return prefix + quote + escaped + quote


numbers = st.one_of(
    st.integers(0, 10**12).map(str),
    st.decimals(0, 10**6, places=3, allow_nan=False).map(str),
    st.from_regex(r"\.[0-9]{1,4}|[0-9]{1,4}[eE][+-]?[0-9]{1,3}", fullmatch=True),
    st.from_regex(r"0x[0-9a-fA-F]{1,8}|X'[0-9a-f]{0,8}'|0b[01]{1,8}|b'[01]{0,8}'", fullmatch=True),
)
literals = st.one_of(string_literals(), numbers)
pieces = st.lists(
    st.one_of(structure.map(lambda t: (t, t)), literals.map(lambda t: (t, HIDDEN))), max_size=25
)


@PROPERTY
@given(pieces)
def test_the_structure_is_kept_and_every_literal_replaced(tokens):
    sql = " ".join(text for text, _ in tokens)
    assert redact_sql(sql) == " ".join(expected for _, expected in tokens)


@PROPERTY
@given(
    st.lists(st.one_of(st.sampled_from(KEYWORDS + PUNCTUATION), identifiers, literals), max_size=9),
    st.text(min_size=1),
    st.sampled_from(["'", '"']),
)
def test_what_a_string_literal_holds_never_shows(tokens, secret, quote):
    escaped = secret.replace("\\", "\\\\").replace(quote, quote * 2)
    sql = " ".join([*tokens, quote + "SECRET" + escaped + quote, *tokens])
    assert "SECRET" not in redact_sql(sql)


@PROPERTY
@given(st.one_of(st.text(max_size=80), pieces.map(lambda ts: " ".join(t for t, _ in ts))))
def test_redacting_twice_is_redacting_once(text: str):
    once = redact_sql(text)
    assert redact_sql(once) == once


BACKQUOTED = re.compile(r"`(?:[^`]|``)*`")


@PROPERTY
@given(st.one_of(st.text(max_size=80), pieces.map(lambda ts: " ".join(t for t, _ in ts))))
def test_no_quoted_literal_survives(text: str):
    """Outside backquoted names, no quote is left: every quoted thing became `?`."""
    rest = BACKQUOTED.sub("", redact_sql(text))
    assert "'" not in rest and '"' not in rest


# -- ERR messages --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "redacted"),
    [
        (
            "Duplicate entry 'alice@example.com' for key 'users.email'",
            "Duplicate entry '?' for key 'users.email'",
        ),
        ("Duplicate entry 'O'Brien-7' for key 'name'", "Duplicate entry '?' for key 'name'"),
        (
            "Incorrect integer value: 'abc' for column 'age' at row 1",
            "Incorrect integer value: '?' for column 'age' at row 1",
        ),
        ("Truncated incorrect DOUBLE value: '12abc'", "Truncated incorrect DOUBLE value: '?'"),
        (
            "Incorrect datetime value: '2024-13-01' for column `shop`.`o`.`d` at row 3",
            "Incorrect datetime value: '?' for column `shop`.`o`.`d` at row 3",
        ),
        ("Unknown column 'foo' in 'field list'", "Unknown column 'foo' in 'field list'"),
        ("Unknown column 'x' in 'where clause'", "Unknown column 'x' in 'where clause'"),
        ("Table 'shop.users' doesn't exist", "Table 'shop.users' doesn't exist"),
        ("Unknown database 'shop'", "Unknown database 'shop'"),
        ("Data too long for column 'name' at row 1", "Data too long for column 'name' at row 1"),
        ("Column 'email' cannot be null", "Column 'email' cannot be null"),
        (
            "Access denied for user 'app'@'10.0.0.1' (using password: YES)",
            "Access denied for user 'app'@'10.0.0.1' (using password: YES)",
        ),
        (
            "Access denied for user 'app'@'%' to database 'shop'",
            "Access denied for user 'app'@'%' to database 'shop'",
        ),
        (
            "Variable 'sql_mode' can't be set to the value of 'NOPE'",
            "Variable 'sql_mode' can't be set to the value of '?'",
        ),
        (
            "You have an error in your SQL syntax; check the manual that corresponds to your "
            "MySQL server version for the right syntax to use near ''hunter2' WHERE id = 5' "
            "at line 1",
            "You have an error in your SQL syntax; check the manual that corresponds to your "
            "MySQL server version for the right syntax to use near '? WHERE id = ?' at line 1",
        ),
        (
            "You have an error in your SQL syntax; check the manual that corresponds to your "
            "MariaDB server version for the right syntax to use near 'FORM t WHERE pw = 'se' "
            "at line 1",
            "You have an error in your SQL syntax; check the manual that corresponds to your "
            "MariaDB server version for the right syntax to use near 'FORM t WHERE pw = ?' "
            "at line 1",
        ),
        ("Duplicate entry 'cut sh", "Duplicate entry '?"),
        ("Lock wait timeout exceeded; try restarting transaction", None),
        ("Too many connections", None),
    ],
)
def test_err_messages_keep_names_and_hide_values(message: str, redacted: str | None):
    assert redact_error_message(message) == (message if redacted is None else redacted)


def test_a_user_defined_error_is_hidden_whole():
    assert redact_error_message("Customer 42 is over limit", 1644, "45000") == HIDDEN
    assert redact_error_message("Order 7 rejected", 1001, "45000") == HIDDEN


@PROPERTY
@given(st.text(max_size=60), st.sampled_from(["entry", "value:", "of", "near", "in"]))
def test_a_value_in_an_err_message_never_shows(value: str, word: str):
    value = "VAL" + value.replace("'", "") + "UE"
    message = f"Something {word} '{value}' for key 'k'"
    redacted = redact_error_message(message)
    assert "VAL" not in redacted and "for key 'k'" in redacted
    assert redact_error_message(redacted) == redacted


def test_a_mysql_error_finding_keeps_its_prefix():
    item = finding(
        "mysql_error",
        9,
        1.0,
        "ERR 1062 ER_DUP_ENTRY (duplicate entry) (23000) in reply to COM_QUERY: Duplicate "
        "entry 'bob@example.com' for key 'email'",
    )
    assert redact_finding(item).detail == (
        "ERR 1062 ER_DUP_ENTRY (duplicate entry) (23000) in reply to COM_QUERY: Duplicate "
        "entry '?' for key 'email'"
    )
    signal = finding("mysql_error", 9, 1.0, "ERR 1644 (45000) in reply to COM_QUERY: Nope 7")
    assert redact_finding(signal).detail == "ERR 1644 (45000) in reply to COM_QUERY: ?"
    other = finding("capture_gap", 9, 1.0, "120 bytes of the client's stream missing")
    assert redact_finding(other) is other


# -- dump events ---------------------------------------------------------------------------------


def test_events_lose_their_values_and_keep_their_names():
    command = ev.Command(
        side=0,
        frame=1,
        ts=0.0,
        seq=0,
        size=10,
        code=0x17,
        name="COM_STMT_EXECUTE",
        query="SELECT * FROM t WHERE a = ? AND b = 'x'",
        statement_id=1,
        arguments={"flags": 0, "parameters": ["secret", None, "42"]},
    )
    redacted = redact_event(command)
    assert redacted.query == "SELECT * FROM t WHERE a = ? AND b = ?"
    assert redacted.arguments == {"flags": 0, "parameters": [HIDDEN, None, HIDDEN]}
    assert command.arguments["parameters"] == ["secret", None, "42"]  # the event is left alone
    row = ev.Row(side=1, frame=2, ts=0.0, seq=1, size=5, values=["a", None], binary=False)
    assert redact_event(row).values == [HIDDEN, None]
    infile = ev.LocalInfileRequest(side=1, frame=3, ts=0.0, seq=1, size=9, filename="/x.csv")
    assert redact_event(infile).filename == HIDDEN
    login = ev.HandshakeResponse(
        side=0, frame=4, ts=0.0, seq=1, size=90, capabilities=0, max_packet=0, charset=0,
        user="app", database="shop", auth_plugin=None, auth_response_length=20,
        attributes={"_client_name": "libmysql", "tenant": "acme"},
    )  # fmt: skip
    assert redact_event(login).attributes == {"_client_name": "libmysql", "tenant": HIDDEN}
    assert redact_event(login).user == "app"
    err = ev.Err(
        side=1, frame=5, ts=0.0, seq=1, size=40, code=1062, sql_state="23000",
        message="Duplicate entry 'x' for key 'k'", reply_to="COM_QUERY", phase="command",
    )  # fmt: skip
    assert redact_event(err).message == "Duplicate entry '?' for key 'k'"
    ok = ev.Ok(
        side=1, frame=6, ts=0.0, seq=1, size=7, affected_rows=1, last_insert_id=5, status=2,
        warnings=0, info="", reply_to="COM_QUERY",
    )  # fmt: skip
    assert redact_event(ok) is ok
