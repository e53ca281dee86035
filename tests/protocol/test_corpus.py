"""Third-party captures (../shared/corpus) decode to what their own projects expect.

Every capture of MANIFEST.json is decoded; its `expected_outputs` (Zeek `mysql.log` and `out`
baselines, `ssl.log`, deepflow `.result`, arkime `.test`, nDPI `.out`, suricata `test.yaml`)
are read and compared with our events: commands and their arguments, queries, success or
error (code and message), greeting facts (server version, thread id), login facts (user,
schema), TLS. The TShark decode beside each capture (`FILE.tshark.tsv`) is a second opinion,
compared where TShark 4.0 is known to be right (MANIFEST.md lists where it is not).

Every remaining difference is in a table below with its reason; nothing is skipped silently.
The corpus is never copied into the repository: without it these tests skip.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from mysqlwire.protocol.events import (
    AuthMoreData,
    AuthResponse,
    AuthSwitchRequest,
    Command,
    CommandFinished,
    Eof,
    Err,
    Greeting,
    HandshakeResponse,
    MalformedPacket,
    NotMySQL,
    Ok,
    ResultSetEnd,
    Row,
    SslRequest,
    StmtPrepareOk,
    UnexpectedPacket,
)
from tests.protocol.replay import DecodedConnection, decode_capture

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
MANIFEST = CORPUS / "MANIFEST.json"
ENTRIES = json.loads(MANIFEST.read_text()) if MANIFEST.is_file() else []

EOF_SIZE = 5  # an EOF packet's payload; an OK with the 0xFE header is longer

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not ENTRIES, reason=f"corpus not found at {CORPUS}"),
]


def name_of(entry: dict) -> str:
    return entry["local"].split("/")[-1]


def param(entry: dict):
    return pytest.param(entry, id=name_of(entry))


def server_ports(entry: dict) -> set[int]:
    return {int(port) for port in re.findall(r"\d+", entry["server_ports"])}


@cache
def decoded(local: str, detail: bool = False) -> list[DecodedConnection]:
    entry = next(e for e in ENTRIES if e["local"] == local)
    return decode_capture(CORPUS / local, server_ports(entry), detail=detail)


def connections(entry: dict) -> list[DecodedConnection]:
    return decoded(entry["local"])


def expected_files(entry: dict) -> list[Path]:
    """The manifest's `expected_outputs`, with `{a,b}` expanded and notes dropped."""
    text = re.sub(r"\s*\([^)]*\)", "", entry["expected_outputs"]).strip()
    if not text or text.startswith("("):
        return []
    match = re.fullmatch(r"(.*?)\{(.*)\}(.*)", text)
    paths = [text] if match is None else [match[1] + p + match[3] for p in match[2].split(",")]
    return [CORPUS / path.strip() for path in paths]


def outputs(suffix: str, folder: str = "") -> list:
    """Manifest entries with an expected output whose name ends with `suffix` (and whose
    path holds `folder`)."""
    out = []
    for entry in ENTRIES:
        for path in expected_files(entry):
            if path.name.endswith(suffix) and folder in str(path) and path.is_file():
                out.append(pytest.param(entry, path, id=name_of(entry)))
    return out


# --- everything decodes --------------------------------------------------------------------


@pytest.mark.parametrize("entry", [param(e) for e in ENTRIES])
def test_every_capture_decodes_without_malformed_or_unexpected_packets(entry):
    problems = [
        event
        for connection in connections(entry)
        for event in connection.of(MalformedPacket, UnexpectedPacket, NotMySQL)
    ]
    assert problems == []


# --- Zeek ----------------------------------------------------------------------------------


def zeek_table(path: Path) -> list[dict[str, str]]:
    """Rows of a Zeek ASCII log, as dicts by field name."""
    fields: list[str] = []
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif line and not line.startswith("#"):
            rows.append(dict(zip(fields, line.split("\t"), strict=False)))
    return rows


def zeek_command_name(command: Command) -> str:
    return command.name.removeprefix("COM_").lower()


def zeek_argument(command: Command) -> str:
    """What Zeek logs as `arg`: the query, the schema, the table, the new user, or nothing."""
    arguments = command.arguments or {}
    for value in (
        command.query if command.name == "COM_QUERY" else None,
        arguments.get("schema"),
        arguments.get("table"),
        arguments.get("user"),
    ):
        if value is not None:
            return str(value)
    return ""


ZeekRow = tuple[str, str, str, str, str]


def zeek_rows(connection: DecodedConnection) -> list[ZeekRow]:
    """Our decode in the shape of Zeek's mysql.log: (cmd, arg, success, rows, response).

    Zeek logs the login (user, its outcome), then each command: T or F from its reply (`-`
    when there was none, and for COM_STATISTICS, whose plain-text reply Zeek does not count as
    one); `rows` is the affected-row count of the OK that ended it (0 after a result set: Zeek
    counts result rows in its `out` trace, not here); `response` the server's message when it
    failed."""
    rows: list[list[str]] = []
    pending: dict[int, list[str]] = {}
    last_err: Err | None = None
    last_ok: Ok | None = None
    for event in connection.events:
        if isinstance(event, HandshakeResponse):
            rows.append(["login", event.user, "-", "-", "-"])
            pending[-1] = rows[-1]
        elif isinstance(event, Err):
            last_err = event
            if event.reply_to == "authentication" and -1 in pending:
                pending.pop(-1)[2:] = ["F", "-", event.message]
        elif isinstance(event, Ok):
            last_ok = event
            if event.reply_to == "authentication" and -1 in pending:
                pending.pop(-1)[2:4] = ["T", "0"]
        elif isinstance(event, Command):
            rows.append([zeek_command_name(event), zeek_argument(event), "-", "-", "-"])
            pending[event.frame] = rows[-1]
        elif isinstance(event, CommandFinished) and event.started_frame in pending:
            row = pending.pop(event.started_frame)
            if event.outcome == "error":
                row[2:] = ["F", "-", last_err.message if last_err else "-"]
            elif event.outcome == "ok":
                row[2:4] = ["T", str(last_ok.affected_rows if last_ok else 0)]
            elif event.outcome in ("eof", "result_set"):
                row[2:4] = ["T", "0"]
    return [tuple(row) for row in rows]


def zeek_rows_of_log(path: Path, port: int) -> list[ZeekRow]:
    return [
        (
            row["cmd"],
            "" if row["arg"] == "(empty)" else row["arg"],
            row["success"],
            row["rows"],
            row["response"],
        )
        for row in zeek_table(path)
        if int(row["id.orig_p"]) == port
    ]


@pytest.mark.parametrize(("entry", "path"), outputs("mysql.log"))
def test_zeek_mysql_log_commands_arguments_and_outcomes(entry, path):
    logged_ports = {int(row["id.orig_p"]) for row in zeek_table(path)}
    compared = 0
    for connection in connections(entry):
        port = connection.facts.client.port
        if port not in logged_ports and not connection.of(HandshakeResponse, Command):
            continue  # e.g. ERR 1130 in place of the greeting: Zeek logs nothing, nor do we
        assert zeek_rows(connection) == zeek_rows_of_log(path, port), f"client port {port}"
        compared += 1
    assert compared == len(logged_ports)


# Zeek's btest scripts print the events they handle; each maps to what we compare.
ZEEK_EVENTS = {
    "mysql_command_request": "request",
    "mysql_error": "error",
    "mysql_handshake": "handshake",
    "mysql_ssl_request": "ssl",
    "mysql_ok": "ok",
    "mysql_eof": "eof",
    "mysql_result_row": "row",
    "mysql_change_user": "change_user",
    "mysql_auth_switch_request": "auth_switch",
    "mysql_auth_more_data": "more_data",
    "mysql_auth_plugin": "plugin",
}


def zeek_trace(path: Path) -> list[tuple]:
    """The event trace a Zeek btest printed (`out`), one tuple per line."""
    trace: list[tuple] = []
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            continue
        kind, _, rest = line.partition(", ")
        parts = rest.split(", ")
        if kind == "mysql request":
            trace.append(("request", int(parts[0])))
        elif kind == "mysql error":
            trace.append(("error", int(parts[0]), ", ".join(parts[1:])))
        elif kind == "mysql handshake":
            trace.append(("handshake", rest))
        elif kind == "mysql ssl request":
            trace.append(("ssl",))
        elif kind == "mysql ok":
            trace.append(("ok", int(rest)))
        elif kind == "mysql eof":
            trace.append(("eof", rest == "T"))
        elif kind == "mysql result row":
            trace.append(("row",))
        elif kind == "mysql change user":
            trace.append(("change_user", rest))
        elif kind == "mysql auth switch request":
            trace.append(("auth_switch", parts[0]))
        elif kind == "mysql auth more data":
            trace.append(("more_data", parts[0] == "T"))
        elif kind == "mysql auth plugin":
            trace.append(("plugin", parts[0] == "T", parts[1]))
    return trace


def zeek_handled(path: Path) -> set[str]:
    """Which kinds the btest behind a baseline prints: the `event mysql_*` it handles."""
    test = path.parent.name.removeprefix("scripts.base.protocols.mysql.")
    script = CORPUS / "zeek__zeek/testing/btest/scripts/base/protocols/mysql" / f"{test}.test"
    if not script.is_file():  # encrypted-aws-rds keeps tls-12/tls-13 outputs in one directory
        script = script.with_name("encrypted-aws-rds.test")
    handled = re.findall(r"^event (mysql_\w+)", script.read_text(), re.MULTILINE)
    return {ZEEK_EVENTS[name] for name in handled}


def our_trace(connection: DecodedConnection) -> list[tuple]:
    """Our detailed events in the shape of Zeek's trace. Zeek calls every packet that ends a
    list with an OK header "ok" and with an EOF header "eof" (T: after column definitions)."""
    trace: list[tuple] = []
    events = connection.events
    for index, event in enumerate(events):
        following = events[index + 1] if index + 1 < len(events) else None
        if isinstance(event, Greeting) and event.auth_plugin:
            trace.append(("plugin", False, event.auth_plugin))
        elif isinstance(event, HandshakeResponse):
            trace.append(("handshake", event.user))
            if event.auth_plugin:
                trace.append(("plugin", True, event.auth_plugin))
        elif isinstance(event, SslRequest):
            trace.append(("ssl",))
        elif isinstance(event, Command):
            trace.append(("request", event.code))
            if event.name == "COM_CHANGE_USER":
                trace.append(("change_user", event.arguments.get("user")))
                if event.arguments.get("auth_plugin"):
                    trace.append(("plugin", True, event.arguments["auth_plugin"]))
        elif isinstance(event, Err):
            trace.append(("error", event.code, event.message))
        elif isinstance(event, Ok):
            trace.append(("ok", event.affected_rows))
        elif isinstance(event, (Eof, ResultSetEnd)):
            if event.size > EOF_SIZE:
                trace.append(("ok", 0))
            else:
                final = isinstance(event, ResultSetEnd) or isinstance(following, CommandFinished)
                trace.append(("eof", not final))
        elif isinstance(event, Row):
            trace.append(("row",))
        elif isinstance(event, AuthSwitchRequest):
            trace.append(("auth_switch", event.plugin))
        elif isinstance(event, AuthMoreData):
            trace.append(("more_data", False))
        elif isinstance(event, AuthResponse):
            trace.append(("more_data", True))
    return trace


@pytest.mark.parametrize(("entry", "path"), outputs("out", "Baseline/scripts.base.protocols.mysql"))
def test_zeek_event_trace(entry, path):
    """Zeek's `out`: every request, error, handshake, OK, EOF, result row, change-user and
    authentication step its btest printed has its counterpart in our events, in order."""
    handled = zeek_handled(path)
    ours = [
        item
        for connection in decoded(entry["local"], detail=True)
        for item in our_trace(connection)
        if item[0] in handled
    ]
    assert ours == zeek_trace(path)


@pytest.mark.parametrize(("entry", "path"), outputs("ssl.log"))
def test_zeek_ssl_log_tls_version(entry, path):
    versions = {row["version"].replace("TLSv1", "TLS 1.") for row in zeek_table(path)}
    assert {c.decoder.tls_version for c in connections(entry)} == versions
    assert all(c.decoder.tls for c in connections(entry))


@pytest.mark.parametrize(("entry", "path"), outputs("conn.log"))
def test_zeek_conn_log_services(entry, path):
    for row in zeek_table(path):
        (connection,) = [
            c for c in connections(entry) if c.facts.client.port == int(row["id.orig_p"])
        ]
        services = set(row["service"].split(","))
        assert ("mysql" in services) == bool(connection.of(Greeting))
        assert ("ssl" in services) == connection.decoder.tls


def test_mysql_on_port_5432_is_the_change_user_session():
    """Zeek's PostgreSQL analyzer rejects this capture (analyzer.cut: "unsupported PostgreSQL
    major version"); it is the change-user-success session on port 5432, and decodes so."""
    entry = next(e for e in ENTRIES if name_of(e) == "mysql-on-port-5432.pcap")
    (path,) = [p for p in expected_files(entry) if p.name == "analyzer.cut"]
    assert "POSTGRESQL" in path.read_text()
    (connection,) = connections(entry)
    baseline = next(
        p
        for e in ENTRIES
        if name_of(e) == "change-user-success.pcap"
        for p in expected_files(e)
        if p.name == "mysql.log"
    )
    (row,) = {int(r["id.orig_p"]) for r in zeek_table(baseline)}
    assert zeek_rows(connection) == zeek_rows_of_log(baseline, row)


# --- deepflow ------------------------------------------------------------------------------


def deepflow_records(path: Path) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            out.append(json.loads(line[: line.rindex("}") + 1]))
    return out


def normalise(text: str) -> str:
    """Our text escapes bytes that are not UTF-8 (\\xff); deepflow replaces them (U+FFFD)."""
    return re.sub(r"(\\x[0-9a-f]{2})+", "\ufffd", text).replace("\ufffd" * 2, "\ufffd")


def deepflow_requests(records: list[dict]) -> Counter:
    """(command code, resource) of every request deepflow saw; resources that deepflow
    renders its own way (bound parameters) are left out."""
    out: Counter = Counter()
    for record in records:
        if record["msg_type"] not in ("Request", "Session"):
            continue
        code = record["request_type"]
        resource = record.get("request_resource")
        if code == 23:  # COM_STMT_EXECUTE: deepflow prints parameters as LongLong(12), ...
            resource = None
        out[(code, normalise(resource) if resource is not None else None)] += 1
    return out


def our_requests(entry: dict) -> Counter:
    out: Counter = Counter()
    for connection in connections(entry):
        for event in connection.events:
            if isinstance(event, HandshakeResponse):
                resource = f"Login username: {event.user}"
                if event.database:
                    resource += f" db: {event.database}"
                out[(0, resource)] += 1
            elif isinstance(event, Command):
                resource = None
                if event.code in (3, 22):
                    resource = normalise(event.query or "")
                elif event.code == 2:
                    resource = str(event.arguments.get("schema"))
                out[(event.code, resource)] += 1
    return out


@pytest.mark.parametrize(("entry", "path"), outputs(".result"))
def test_deepflow_requests(entry, path):
    theirs = deepflow_requests(deepflow_records(path))
    ours = our_requests(entry)
    assert (theirs - ours, ours - theirs) == (Counter(), Counter())


@pytest.mark.parametrize(("entry", "path"), outputs(".result"))
def test_deepflow_errors_and_statement_ids(entry, path):
    records = deepflow_records(path)
    their_errors = [r["response_execption"] for r in records if r.get("response_code") == 255]
    ours = [e.message for c in connections(entry) for e in c.of(Err)]
    assert sorted(ours) == sorted(their_errors)
    prepared = [
        r["statement_id"]
        for request, r in itertools.pairwise(records)
        if request["msg_type"] == "Request"
        and request["request_type"] == 22
        and r["msg_type"] == "Response"
    ]
    our_ids = [e.statement_id for c in connections(entry) for e in c.of(StmtPrepareOk)]
    unlisted, _why = DEEPFLOW_UNLISTED_PREPARE_OK.get(name_of(entry), ([], ""))
    assert sorted(our_ids) == sorted(prepared + unlisted)


# capture -> (statement ids of PREPARE_OK replies deepflow's result does not list, why)
DEEPFLOW_UNLISTED_PREPARE_OK = {
    "mysql-statement.pcap": (
        [98, 113, 143],
        "deepflow's result reads these replies against the command last seen on any of the "
        "capture's interleaved connections: the PREPARE_OK of statement 98 (frame 89, right "
        "after another connection's COM_QUERY) shows up as an OK with sql_affected_rows 98, those "
        "of 113 and 143 (frames 90 and 96) as 'Other'; TShark decodes all three as PREPARE_OK",
    ),
}


# --- arkime, nDPI, suricata ----------------------------------------------------------------


@pytest.mark.parametrize(("entry", "path"), outputs(".test"))
def test_arkime_user_and_version(entry, path):
    for session in json.loads(path.read_text())["sessions3"]:
        body = session["body"]
        if "mysql" not in body["protocol"]:
            continue
        (connection,) = [
            c for c in connections(entry) if c.facts.client.port == body["source"]["port"]
        ]
        (hello,) = connection.of(Greeting)
        assert hello.server_version == body["mysql"]["version"]
        logins = connection.of(HandshakeResponse)
        assert [login.user for login in logins] == (
            [body["mysql"]["user"]] if "user" in body["mysql"] else []
        )
        assert connection.decoder.tls == ("tls" in body["protocol"])


NDPI_FLOW = re.compile(
    r"TCP (?P<a>[\d.]+):(?P<a_port>\d+) <-> (?P<b>[\d.]+):(?P<b_port>\d+) "
    r"\[proto: [\d.]+/(?P<proto>[^\]]+)\]"
)
NDPI_TEXT = re.compile(r"\[PLAIN TEXT \((?P<text>[^)]*)\)\]")
# nDPI's "PLAIN TEXT" is the first printable run of the flow, not a parsed version: for
# these flows it is not the server version, with the reason.
NDPI_TEXT_NOT_A_VERSION = {
    ("mysql-8.pcap", 8738): "the greeting of 8.5.44-0+deb8u1 is followed by a run of 'D's in "
    "the scramble, which nDPI picked as its plain text",
}


@pytest.mark.parametrize(("entry", "path"), outputs(".out", "nDPI"))
def test_ndpi_flows_are_mysql_with_their_versions(entry, path):
    lines = [line for line in path.read_text().splitlines() if NDPI_FLOW.search(line)]
    mysql_flows = [line for line in lines if "MySQL" in NDPI_FLOW.search(line)["proto"]]
    assert mysql_flows
    for line in mysql_flows:
        port = int(NDPI_FLOW.search(line)["a_port"])
        text = NDPI_TEXT.search(line)["text"]
        (connection,) = [c for c in connections(entry) if c.facts.client.port == port]
        (hello,) = connection.of(Greeting)
        assert connection.of(NotMySQL) == []
        if (name_of(entry), port) in NDPI_TEXT_NOT_A_VERSION:
            assert text not in hello.server_version
        else:
            assert hello.server_version.startswith(text)


@pytest.mark.parametrize(("entry", "path"), outputs("test.yaml"))
def test_suricata_flow_direction_from_ports(entry, path):
    text = path.read_text()
    client_port = int(re.search(r"src_port: (\d+)", text)[1])
    server_port = int(re.search(r"dest_port: (\d+)", text)[1])
    (connection,) = connections(entry)
    assert (connection.facts.client.port, connection.facts.server.port) == (
        client_port,
        server_port,
    )
    assert connection.of(Greeting) and connection.of(HandshakeResponse)


# --- TShark, a second opinion ---------------------------------------------------------------

TSHARK_FIELDS = (
    "mysql.command",
    "mysql.query",
    "mysql.error_code",
    "mysql.version",
    "mysql.thread_id",
    "mysql.user",
    "mysql.schema",
)
# (capture, field) -> why TShark 4.0 and we differ there (MANIFEST.md lists its limits)
TSHARK_LIMITS = {
    ("mysql-compressed-response.pcap", "mysql.command"): "compressed protocol without the "
    "handshake: TShark cannot tell and reads the compressed header as a COM_SLEEP",
    ("mysql-compressed-response.pcap", "mysql.query"): "compressed protocol without the "
    "handshake: TShark shows no query",
    ("mysql-use.pcap", "mysql.command"): "compressed protocol (payload stored, length 0) "
    "without the handshake: TShark reads it as a COM_SLEEP",
    ("mysql-use.pcap", "mysql.query"): "compressed protocol without the handshake",
    ("partial-packet-compressed.pcap", "mysql.command"): "compressed protocol without the "
    "handshake: TShark sees one COM_SLEEP where two COM_QUERY are",
    ("partial-packet-compressed.pcap", "mysql.query"): "compressed protocol without the handshake",
    ("caching_sha2_password.pcap", "mysql.command"): "TShark reads the client's public-key "
    "request of caching_sha2 full authentication (0x02) as command 202",
    ("mysql8-navicat-login-failed.pcap", "mysql.command"): "TShark reads the client's "
    "RSA-encrypted sha256_password as command 125",
    ("mysql-9.0.0-query-attributes.pcap", "mysql.query"): "TShark flags MySQL 9 non-string "
    "query attributes as malformed and shows no query",
    ("binary-in-sql.pcap", "mysql.query"): "TShark ends a query at its first NUL byte: the "
    "INSERT's _binary literal holds one, so TShark shows 1,881 of its 1,944 characters",
}


def tshark_values(entry: dict) -> dict[int, dict[str, list[str]]]:
    """Per client port, each field's values in frame order (TShark joins several MySQL
    packets of one frame with '|'; queries are kept whole)."""
    path = CORPUS / entry["tshark_ref"]
    ports = server_ports(entry)
    lines = path.read_text().split("\n")  # not splitlines(): queries may hold \x0b, \x1c...
    header = lines[0].split("\t")
    out: dict[int, dict[str, list[str]]] = {}
    for line in filter(None, lines[1:]):
        row = dict(zip(header, line.split("\t"), strict=False))
        source, target = int(row["tcp.srcport"]), int(row["tcp.dstport"])
        fields = out.setdefault(source if target in ports else target, {})
        for field in TSHARK_FIELDS:
            if row.get(field):
                values = [row[field]] if field == "mysql.query" else row[field].split("|")
                fields.setdefault(field, []).extend(values)
    return out


def unescape(text: str) -> str:
    """TShark's field output escapes control characters as \\n, \\t."""
    return text.replace("\\n", "\n").replace("\\t", "\t").replace("\\r", "\r")


def our_values(connection: DecodedConnection) -> dict[str, list[str]]:
    commands = connection.of(Command)
    logins = connection.of(HandshakeResponse)
    return {
        "mysql.command": [str(c.code) for c in commands],
        "mysql.query": [normalise(c.query or "") for c in commands if c.code in (3, 22)],
        "mysql.error_code": [str(e.code) for e in connection.of(Err)],
        "mysql.version": [g.server_version for g in connection.of(Greeting)],
        "mysql.thread_id": [str(g.thread_id) for g in connection.of(Greeting)],
        "mysql.user": [login.user for login in logins]
        + [str(c.arguments["user"]) for c in commands if c.name == "COM_CHANGE_USER"],
        # TShark's schema field is the login's schema (when not empty) and COM_INIT_DB's
        "mysql.schema": [login.database for login in logins if login.database]
        + [str(c.arguments["schema"]) for c in commands if c.name == "COM_INIT_DB"],
    }


@pytest.mark.parametrize("entry", [param(e) for e in ENTRIES])
def test_tshark_agrees_where_it_can_decode(entry):
    theirs_by_port = tshark_values(entry)
    differing: dict[str, list[tuple]] = {}
    for connection in connections(entry):
        theirs = theirs_by_port.get(connection.facts.client.port, {})
        for field, ours in our_values(connection).items():
            values = theirs.get(field, [])
            if field == "mysql.query":
                values = [normalise(unescape(v)) for v in values]
            if field == "mysql.version":  # TShark keeps MariaDB's "5.5.5-" in front
                values = [v.removeprefix("5.5.5-") for v in values]
            if values != ours:
                differing.setdefault(field, []).append((connection.facts.client.port, values, ours))
    known = {field for (name, field) in TSHARK_LIMITS if name == name_of(entry)}
    assert set(differing) == known, differing
