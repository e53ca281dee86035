"""`--redact`: literals out of a report, structure kept, so the report can be shared.

What is a literal (replaced by `?`):

* in SQL text: string literals in single or double quotes (MySQL's default `sql_mode` makes
  `"..."` a string; under `ANSI_QUOTES` it is an identifier, and is hidden all the same), with
  their backslash escapes and doubled quotes, and with a character-set introducer or `N`
  (`_utf8mb4'...'`, `N'...'`); numbers (`42`, `-` stays an operator, `3.14`, `.5`, `1e-3`);
  hexadecimal and bit values (`0x1F`, `X'1F'`, `0b101`, `B'101'`). Comments are kept, with
  the literals in them hidden the same way (`/*!40101 ...*/` keeps its version number).
  Keywords, identifiers, `backquoted names`, operators, `?` placeholders and `@variables`
  stay. Anything left open at the end (a quote or a backquote the text never closes, as in a
  statement cut short) hides the rest of the text.
* in ERR messages: a quoted value. The server quotes identifiers and values alike, so the word
  before the quote decides: a quoted string after `column`, `key`, `table`, `database`, `index`,
  `constraint`, ... (`IDENTIFIER_WORDS`), a user's host in `'user'@'host'`, and the clause names
  the server quotes (`'field list'`, `'where clause'`, ...) are names and stay; every other
  quoted string is a value: `Duplicate entry 'alice@example.com' for key 'email'` becomes
  `Duplicate entry '?' for key 'email'`. The statement a syntax error (1064) quotes after
  `near` is redacted as SQL. A user-defined error (SIGNAL: SQLSTATE 45000, or code 1644) is
  the application's own text: the whole message becomes `?`. Numbers outside quotes (row
  numbers, lengths) stay.
* in `dump`: the values of result rows, of prepared-statement parameters and query attributes,
  the file name a LOCAL INFILE request asks for (it comes from the statement's literal), and
  the values of connection attributes other than `_client_name`, `_client_version` and
  `program_name` (which the report shows as the client's identity).

Not literals, and kept: user names, database and table names, client and server addresses,
thread ids, the server version, error codes. Secrets are never printed, with or without
`--redact` (docs/sharing.md).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any, TypeVar

from mysqlwire.protocol import events as ev
from mysqlwire.report.connection_report import ConnectionReport
from mysqlwire.report.findings import Finding

HIDDEN = "?"

_WORD = r"A-Za-z0-9_$\u0080-\U0010ffff"
_TOKENS = re.compile(
    rf"""
      (?P<space>\s+)
    | (?P<comment>/\*.*?(?:\*/|\Z) | --(?=\s|\Z)[^\n]* | \#[^\n]*)
    | (?P<backquoted>`(?:[^`]|``)*`)
    | (?P<open_backquote>`.*\Z)
    | (?P<literal>
          (?:[nN]|_[A-Za-z0-9]+)?'(?:[^'\\]|\\.|'')*(?:'|\Z)
        | "(?:[^"\\]|\\.|"")*(?:"|\Z)
        | [xXbB]'[^']*(?:'|\Z)
        | 0x[0-9a-fA-F]+(?![{_WORD}])
        | 0b[01]+(?![{_WORD}])
        | (?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?![{_WORD}])
      )
    | (?P<word>[{_WORD}]+)
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_VERSION_COMMENT = re.compile(r"/\*!\d*")


def redact_sql(text: str) -> str:
    """SQL text with every literal replaced by `?` (see the module docstring)."""
    out = []
    for match in _TOKENS.finditer(text):
        kind = match.lastgroup
        token = match.group()
        if kind == "literal" or kind == "open_backquote":
            out.append(HIDDEN)
        elif kind == "comment":
            out.append(_redact_comment(token))
        else:
            out.append(token)
    return "".join(out)


def _redact_comment(comment: str) -> str:
    if comment.startswith("/*"):
        version = _VERSION_COMMENT.match(comment)
        head = version.group() if version else "/*"
        closed = comment.endswith("*/") and len(comment) >= len(head) + 2
        body = comment[len(head) : -2] if closed else comment[len(head) :]
        return head + redact_sql(body) + ("*/" if closed else "")
    head = "--" if comment.startswith("--") else "#"
    return head + redact_sql(comment[len(head) :])


# -- ERR messages ---------------------------------------------------------------------------

# A quoted string right after one of these words names something: it stays.
IDENTIFIER_WORDS = frozenset(
    {
        *("column", "columns", "key", "table", "tables", "database", "databases", "schema"),
        *("index", "constraint", "field", "function", "procedure", "trigger", "view", "user"),
        *("role", "variable", "partition", "event", "savepoint", "tablespace", "plugin"),
        *("engine", "collation", "charset", "name", "alias", "server", "host"),
    }
)
# Clause names the server quotes in messages such as "Unknown column 'x' in 'field list'".
CLAUSE_NAMES = frozenset(
    {
        "field list",
        "where clause",
        "on clause",
        "order clause",
        "group statement",
        "having clause",
        "from clause",
        "IN/ALL/ANY subquery",
    }
)
USER_DEFINED_STATE = "45000"  # SIGNAL's SQLSTATE for "unhandled user-defined exception"
USER_DEFINED_CODE = 1644  # ER_SIGNAL_EXCEPTION
_NEAR = re.compile(r"(near ')(.*)(' at line \d+)", re.DOTALL)
_WORD_BEFORE = re.compile(rf"([{_WORD}]+)\W*$")


def redact_error_message(message: str, code: int | None = None, sql_state: str = "") -> str:
    """An ERR message with its values hidden and its names kept (see the module docstring)."""
    if code == USER_DEFINED_CODE or sql_state == USER_DEFINED_STATE:
        return HIDDEN
    near = _NEAR.search(message)
    if near is not None:
        before = _redact_quoted(message[: near.start()])
        after = _redact_quoted(message[near.end() :])
        return before + near.group(1) + redact_sql(near.group(2)) + near.group(3) + after
    return _redact_quoted(message)


def _redact_quoted(text: str) -> str:
    out = []
    position = 0
    quotes = _quotes(text)
    for opening, closing in zip(quotes[::2], quotes[1::2], strict=False):
        out.append(text[position:opening])
        value = text[opening + 1 : closing]
        out.append(
            text[opening : closing + 1] if _is_name(text, opening, closing, value) else "'?'"
        )
        position = closing + 1
    if len(quotes) % 2:  # a quote never closed (a message cut short): hide what follows it
        out.append(text[position : quotes[-1]] + f"'{HIDDEN}")
    else:
        out.append(text[position:])
    return "".join(out)


def _quotes(text: str) -> list[int]:
    """Positions of the quotes that open or close a quoted string. The server does not escape
    quotes inside what it quotes; a quote between two letters or digits is taken for an
    apostrophe ("doesn't", 'O'Brien')."""
    last = len(text) - 1
    return [
        i
        for i, char in enumerate(text)
        if char == "'" and not (0 < i < last and text[i - 1].isalnum() and text[i + 1].isalnum())
    ]


def _is_name(text: str, opening: int, closing: int, value: str) -> bool:
    if value in CLAUSE_NAMES:
        return True
    before = text[:opening]
    if before.endswith("@"):  # the host of 'user'@'host'
        return True
    if text[closing + 1 : closing + 3] == "@'":  # the user of 'user'@'host'
        return True
    word = _WORD_BEFORE.search(before[-40:])
    return word is not None and word.group(1).lower() in IDENTIFIER_WORDS


_ERR_CODE = re.compile(r"ERR (\d+)")


def redact_finding(finding: Finding) -> Finding:
    """A finding with the ERR message it quotes redacted (other findings carry no literal)."""
    if finding.kind != "mysql_error":
        return finding
    head = _ERR_CODE.match(finding.detail)
    code = int(head.group(1)) if head else None
    state = f"({USER_DEFINED_STATE})" in finding.detail
    if code == USER_DEFINED_CODE or state:
        # "ERR 1644 (45000) in reply to COM_QUERY: <the application's text>"
        prefix, sep, _message = finding.detail.partition(": ")
        return dataclasses.replace(finding, detail=prefix + sep + HIDDEN)
    return dataclasses.replace(finding, detail=redact_error_message(finding.detail, code))


def redact_report(report: ConnectionReport) -> ConnectionReport:
    """A copy of `report` fit to share: the ERR messages of its findings redacted."""
    return dataclasses.replace(report, findings=[redact_finding(f) for f in report.findings])


# -- dump events ----------------------------------------------------------------------------

IDENTITY_ATTRIBUTES = frozenset({"_client_name", "_client_version", "program_name"})

E = TypeVar("E", bound=ev.Event)


def redact_event(event: E) -> E:
    """A copy of a decoder event with its literals hidden (the event itself is left alone)."""
    redactor = EVENT_REDACTORS.get(type(event))
    return redactor(event) if redactor is not None else event  # type: ignore[return-value]


# Command arguments that carry values rather than names.
LITERAL_ARGUMENTS = frozenset({"parameters", "attributes", "wildcard"})


def _argument(value: object) -> object:
    """Values hidden: each of a list, each of a dict but the client's identity, a string."""
    if isinstance(value, dict):
        return {
            key: (item if key in IDENTITY_ATTRIBUTES else HIDDEN) for key, item in value.items()
        }
    if isinstance(value, list):
        return [None if item is None else HIDDEN for item in value]
    return HIDDEN if value else value


def _command(event: ev.Command) -> ev.Command:
    arguments = {
        key: (_argument(value) if key in LITERAL_ARGUMENTS else value)
        for key, value in event.arguments.items()
    }
    if isinstance(event.arguments.get("parameters"), str):  # why they could not be read
        arguments["parameters"] = event.arguments["parameters"]
    query = redact_sql(event.query) if event.query is not None else None
    return dataclasses.replace(event, query=query, arguments=arguments)


def _err(event: ev.Err) -> ev.Err:
    message = redact_error_message(event.message, event.code, event.sql_state)
    return dataclasses.replace(event, message=message)


def _row(event: ev.Row) -> ev.Row:
    values = None if event.values is None else [None if v is None else HIDDEN for v in event.values]
    return dataclasses.replace(event, values=values)


def _handshake_response(event: ev.HandshakeResponse) -> ev.HandshakeResponse:
    attributes = {
        key: (value if key in IDENTITY_ATTRIBUTES else HIDDEN)
        for key, value in event.attributes.items()
    }
    return dataclasses.replace(event, attributes=attributes)


EVENT_REDACTORS: dict[type, Callable[[Any], ev.Event]] = {
    ev.Command: _command,
    ev.Err: _err,
    ev.Row: _row,
    ev.LocalInfileRequest: lambda e: dataclasses.replace(e, filename=HIDDEN),
    ev.HandshakeResponse: _handshake_response,
}

__all__ = [
    "redact_error_message",
    "redact_event",
    "redact_finding",
    "redact_report",
    "redact_sql",
]
