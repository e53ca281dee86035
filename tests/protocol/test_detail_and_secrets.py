"""What events say, and what they never say.

With detail=True every logical packet becomes exactly one PacketEvent (what `mysqlwire dump`
prints); without it rows and definitions are only counted, with no event or per-row work.
Secrets (scrambles, auth responses, passwords in clear or RSA-encrypted, the replication
password, long data) never reach an event in either mode."""

from __future__ import annotations

import pytest

from mysqlwire import native
from mysqlwire.protocol import MySQLDecoder
from mysqlwire.protocol.events import (
    BinlogEvent,
    ColumnDefinition,
    LocalInfileData,
    PacketEvent,
    PayloadCapped,
    ResultSetHeader,
    Row,
    TlsRecord,
)
from tests.mysql_builder import (
    DOUBLE,
    LONG,
    LONGLONG,
    PERFORM_FULL_AUTHENTICATION,
    PING,
    PUBLIC_KEY,
    QUIT,
    STATISTICS,
    Conversation,
    Param,
    auth_switch_request,
    binlog_dump,
    binlog_event,
    change_user,
    column,
    column_definition,
    eof,
    err,
    field_list,
    greeting,
    handshake_response41,
    local_infile_request,
    ok,
    prepare_response,
    progress,
    query,
    register_slave,
    result_set,
    stmt_close,
    stmt_execute,
    stmt_prepare,
    stmt_send_long_data,
)
from tests.protocol.helpers import decode, of, problems, run

SCRAMBLE = b"SCRAMBLE-0123456789A"  # 20 bytes
AUTH_RESPONSE = b"AUTH-RESPONSE-SECRET-0123456789A"  # 32 bytes
CLEAR_PASSWORD = b"hunter2-clear\0"
RSA_PASSWORD = b"RSA-ENCRYPTED-PASSWORD" + bytes(234)
CHANGE_USER_AUTH = b"CHANGE-USER-AUTH-SECRET-01234567"
REPLICATION_PASSWORD = "Repl-Secret-Pa55"
LONG_DATA = b"LONG-DATA-SECRET-BLOB"
SECRETS = [
    SCRAMBLE,
    AUTH_RESPONSE,
    CLEAR_PASSWORD.rstrip(b"\0"),
    RSA_PASSWORD[:22],
    CHANGE_USER_AUTH,
    REPLICATION_PASSWORD.encode(),
    LONG_DATA,
]
COLUMNS = [column("id", LONGLONG), column("price", DOUBLE), column("name")]


def everything(*, deprecate_eof: bool = False, compression: str | None = None) -> Conversation:
    """One connection that uses every kind of packet, secrets included."""
    talk = Conversation()
    talk.server(greeting(scramble=SCRAMBLE), seq=0)
    from tests.mysql_builder import CLIENT_BASE, CLIENT_COMPRESS, CLIENT_DEPRECATE_EOF

    capabilities = CLIENT_BASE | (CLIENT_DEPRECATE_EOF if deprecate_eof else 0)
    if compression:
        capabilities |= CLIENT_COMPRESS
    talk.client(handshake_response41(capabilities=capabilities, auth_response=AUTH_RESPONSE))
    talk.server(auth_switch_request("mysql_clear_password", SCRAMBLE))
    talk.client(CLEAR_PASSWORD)
    talk.server(PERFORM_FULL_AUTHENTICATION)
    talk.client(b"\x02").server(PUBLIC_KEY).client(RSA_PASSWORD)
    talk.server(ok())
    if compression:
        talk.compress(compression, piece_size=300)
    rows = [[1, 2.5, "a"], [2, None, "b"]]
    text_rows = [["1", "2.5", "a"], ["2", None, "b"]]
    talk.command(query("select id, price, name from t"))
    talk.server(*result_set(COLUMNS, text_rows, deprecate_eof=deprecate_eof))
    talk.command(query("select 1; select 2"))
    talk.server(*result_set([column("1")], [["1"]], deprecate_eof=deprecate_eof, more_results=True))
    talk.server(*result_set([column("2")], [["2"]], deprecate_eof=deprecate_eof))
    talk.command(query("select * from nope")).server(err(1146, "Table 'nope' doesn't exist"))
    talk.command(field_list("t")).server(column_definition(COLUMNS[0]))
    talk.server(ok(eof_header=True) if deprecate_eof else eof())
    talk.command(stmt_prepare("select id, price, name from t where id > ?"))
    talk.server(*prepare_response(3, [column("?")], COLUMNS, deprecate_eof=deprecate_eof))
    talk.command(stmt_send_long_data(3, 0, LONG_DATA))
    talk.command(stmt_execute(3, [Param(LONG, 0)]))
    talk.server(*result_set(COLUMNS, rows, binary=True, deprecate_eof=deprecate_eof))
    talk.command(stmt_close(3))
    talk.command(query("load data local infile 'x' into table t"))
    talk.server(local_infile_request("x")).client(b"1,2\n").client(b"")
    talk.server(ok(1))
    talk.command(query("alter table t engine=innodb"))
    talk.server(progress(1, 1, 50.0, "copy")).server(ok())
    talk.command(STATISTICS).server(b"Uptime: 10")
    talk.command(change_user("other", "db2", auth_response=CHANGE_USER_AUTH))
    talk.server(auth_switch_request("mysql_native_password", SCRAMBLE))
    talk.client(CHANGE_USER_AUTH[:20]).server(ok())
    talk.command(register_slave(9, "replica", "repl", REPLICATION_PASSWORD)).server(ok())
    talk.command(binlog_dump("binlog.000001", 4, flags=1))
    talk.server(binlog_event(4, body=b"binlog.000001"), binlog_event(15, body=bytes(90)))
    talk.server(eof())
    talk.command(PING).server(ok())
    talk.command(QUIT)
    return talk


VARIANTS = [
    pytest.param({}, id="eof"),
    pytest.param({"deprecate_eof": True}, id="deprecate_eof"),
    pytest.param({"compression": "zlib"}, id="zlib"),
    pytest.param({"compression": "zstd", "deprecate_eof": True}, id="zstd"),
]


@pytest.mark.parametrize("variant", VARIANTS)
def test_detail_emits_exactly_one_packet_event_per_logical_packet(variant):
    talk = everything(**variant)
    events = decode(talk, detail=True)
    assert problems(events) == []
    packet_events = [e for e in of(events, PacketEvent) if not isinstance(e, PayloadCapped)]
    assert len(packet_events) == talk.logical_packets
    # and in the order they were sent, each side's sequence ids as the builder gave them
    assert len({(e.side, e.frame, e.seq) for e in packet_events}) == len(packet_events)


@pytest.mark.parametrize("variant", VARIANTS)
def test_without_detail_rows_and_definitions_are_only_counted(variant):
    events = decode(everything(**variant))
    assert problems(events) == []
    assert of(events, Row, ColumnDefinition, ResultSetHeader, LocalInfileData, BinlogEvent) == []
    assert of(events, TlsRecord) == []


class CountingDecoder(MySQLDecoder):
    evidence_calls = 0

    def evidence(self, side, packet):
        CountingDecoder.evidence_calls += 1
        return super().evidence(side, packet)


@pytest.mark.skipif(
    native.COMPILED, reason="counts calls by subclassing, which compiled classes refuse"
)
def test_rows_cost_no_event_or_evidence_without_detail():
    talk = Conversation().login()
    talk.command(query("select id from t"))
    talk.server(*result_set([column("id")], [[str(i)] for i in range(1000)]))
    CountingDecoder.evidence_calls = 0
    run(CountingDecoder(), talk)
    assert CountingDecoder.evidence_calls < 10


@pytest.mark.parametrize("detail", [False, True])
@pytest.mark.parametrize("variant", VARIANTS)
def test_secrets_never_reach_an_event(variant, detail):
    events = decode(everything(**variant), detail=detail)
    shown = "\n".join(repr(event) for event in events)
    for secret in SECRETS:
        assert secret.decode("latin-1") not in shown
        assert secret.hex() not in shown
        assert repr(secret)[2:-1] not in shown
