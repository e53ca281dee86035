"""Single lines in each server's real format, built with a tiny line builder per family.

Formats: MySQL 8 ("<ISO>Z <thread> [Note] [MY-010914] [Server] <message>", sentences end with
a period), MySQL 5.7 (same without code and subsystem, UTC "Z" or the local offset), MariaDB
10.4+ ("YYYY-MM-DD HH:MM:SS <thread> [Warning] <message>", hour padded with a space, local
time), MariaDB before 10.4 (a pthread id in the thread column) and MySQL <= 5.5 ("YYMMDD
HH:MM:SS [Warning] <message>").
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mysqlwire.errorlog import Kind, Reason, parse_line

PARIS_WINTER = timezone(timedelta(hours=1))


def mysql8(
    message: str,
    *,
    thread: int = 15,
    severity: str = "Note",
    code: str = "MY-010914",
    ts: str = "2023-01-05T10:11:12.123456Z",
) -> str:
    return f"{ts} {thread} [{severity}] [{code}] [Server] {message}"


def mysql57(
    message: str,
    *,
    thread: int = 15,
    severity: str = "Note",
    ts: str = "2017-06-28T23:57:45.172394Z",
) -> str:
    return f"{ts} {thread} [{severity}] {message}"


def mariadb(
    message: str, *, thread: int = 76, severity: str = "Warning", ts: str = "2026-11-24  9:40:22"
) -> str:
    return f"{ts} {thread} [{severity}] {message}"


def aborted(
    thread: int, reason: str, *, db: str = "test", user: str = "app", host: str = "10.0.0.5"
) -> str:
    return f"Aborted connection {thread} to db: '{db}' user: '{user}' host: '{host}' ({reason})"


# --- MySQL 8 ----------------------------------------------------------------------------


def test_mysql8_aborted_connection_with_code_subsystem_and_final_period():
    line = mysql8(
        "Aborted connection 15 to db: 'test' user: 'root' host: '1.2.3.4' "
        "(Got an error reading communication packets)."
    )
    record = parse_line(line, line_number=7)
    assert record.kind is Kind.ABORTED_CONNECTION
    assert (record.thread_id, record.db, record.user, record.host) == (
        15,
        "test",
        "root",
        "1.2.3.4",
    )
    assert record.reason == "Got an error reading communication packets"
    assert record.reason_kind is Reason.READ_ERROR
    assert (record.severity, record.error_code, record.subsystem) == ("Note", "MY-010914", "Server")
    assert (record.line_number, record.raw) == (7, line)
    assert record.timestamp == "2023-01-05T10:11:12.123456Z"
    assert record.epoch == datetime(2023, 1, 5, 10, 11, 12, 123456, tzinfo=UTC).timestamp()
    assert record.timestamp_has_zone is True
    assert record.authenticated is True


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("Got timeout reading communication packets", Reason.READ_TIMEOUT),
        ("Got an error writing communication packets", Reason.WRITE_ERROR),
        ("Got timeout writing communication packets", Reason.WRITE_TIMEOUT),
        ("Got packets out of order", Reason.PACKETS_OUT_OF_ORDER),
        ("Got a packet bigger than 'max_allowed_packet' bytes", Reason.PACKET_TOO_LARGE),
        ("init_connect command failed", Reason.INIT_CONNECT_FAILED),
        ("Couldn't uncompress communication packet", Reason.UNCOMPRESS_ERROR),
    ],
)
def test_mysql8_aborted_connection_reasons(reason, kind):
    record = parse_line(mysql8(aborted(15, reason) + "."))
    assert (record.reason, record.reason_kind) == (reason, kind)


def test_any_other_text_in_the_parentheses_is_kept():
    reason = "Creating index 'PRIMARY' required more than 'innodb_online_alter_log_max_size'"
    record = parse_line(mysql8(aborted(26, reason) + "."))
    assert (record.reason, record.reason_kind) == (reason, Reason.OTHER)


def test_mysql8_init_connect_failure_keeps_its_diagnostics():
    reason = (
        "init_connect command failed; diagnostics area: MY-001146 - Table 'app.audit' doesn't exist"
    )
    record = parse_line(mysql8(aborted(20, reason, db="unconnected") + ".", severity="Warning"))
    assert record.reason == reason
    assert record.reason_kind is Reason.INIT_CONNECT_FAILED


def test_mysql8_login_phase_read_error_is_a_connection_error_of_the_prefix_thread():
    record = parse_line(mysql8("Got an error reading communication packets", thread=16))
    assert record.kind is Kind.CONNECTION_ERROR
    assert (record.thread_id, record.error_code) == (16, "MY-010914")
    assert record.reason_kind is Reason.READ_ERROR


def test_mysql8_bad_handshake():
    record = parse_line(mysql8("Bad handshake", thread=17))
    assert (record.kind, record.reason_kind, record.thread_id) == (
        Kind.CONNECTION_ERROR,
        Reason.BAD_HANDSHAKE,
        17,
    )


@pytest.mark.parametrize(
    ("code", "message", "using_password"),
    [
        ("MY-010926", "Access denied for user 'app'@'10.0.0.5' (using password: YES)", True),
        ("MY-010926", "Access denied for user 'app'@'10.0.0.5' (using password: NO)", False),
        ("MY-010925", "Access denied for user 'app'@'10.0.0.5'", None),
        ("MY-010927", "Access denied for user 'app'@'10.0.0.5'. Account is locked.", None),
    ],
)
def test_mysql8_access_denied(code, message, using_password):
    record = parse_line(mysql8(message, code=code, thread=18))
    assert record.kind is Kind.ACCESS_DENIED
    assert (record.user, record.host, record.thread_id) == ("app", "10.0.0.5", 18)
    assert record.using_password is using_password
    assert record.error_code == code
    assert record.reason == message
    assert record.authenticated is False


def test_mysql8_deprecation_warning_of_the_auth_plugin_is_not_a_connection_event():
    line = mysql8(
        "Plugin mysql_native_password reported: ''mysql_native_password' is deprecated and "
        "will be removed in a future release. Please use caching_sha2_password instead'",
        severity="Warning",
        code="MY-013360",
    )
    assert parse_line(line) is None


def test_mysql8_unconnected_unauthenticated_abort():
    record = parse_line(
        mysql8(
            aborted(
                0,
                "Got an error reading communication packets",
                db="unconnected",
                user="unauthenticated",
            )
            + "."
        )
    )
    assert record.thread_id is None  # 0: no thread was assigned
    assert record.authenticated is False


# --- MySQL 5.7 ----------------------------------------------------------------------------


def test_mysql57_note_aborted_connection():
    line = mysql57(
        "Aborted connection 282 to db: 'unconnected' user: 'mysqltest' host: 'localhost' "
        "(Got an error reading communication packets)",
        thread=282,
    )
    record = parse_line(line)
    assert (record.kind, record.thread_id, record.db, record.user, record.host) == (
        Kind.ABORTED_CONNECTION,
        282,
        "unconnected",
        "mysqltest",
        "localhost",
    )
    assert (record.severity, record.error_code, record.subsystem) == ("Note", None, None)
    assert record.authenticated is True  # logged in, no default database


def test_mysql57_timestamp_with_the_local_offset():
    record = parse_line(
        mysql57(
            aborted(5, "Got timeout reading communication packets"),
            ts="2017-06-28T23:57:45.172394+02:00",
        )
    )
    assert record.epoch == datetime(2017, 6, 28, 21, 57, 45, 172394, tzinfo=UTC).timestamp()
    assert record.timestamp_has_zone is True


def test_zoned_timestamps_ignore_the_tz_argument():
    line = mysql57(aborted(5, "Got timeout reading communication packets"))
    assert parse_line(line, tz=PARIS_WINTER).epoch == parse_line(line).epoch


def test_mysql57_connect_phase_read_error():
    record = parse_line(mysql57("Got an error reading communication packets", thread=2884))
    assert (record.kind, record.thread_id) == (Kind.CONNECTION_ERROR, 2884)


# --- MariaDB ------------------------------------------------------------------------------


def test_mariadb_naive_timestamp_is_read_in_the_given_zone():
    record = parse_line(
        mariadb(aborted(76, "Got an error reading communication packets")), tz=PARIS_WINTER
    )
    assert record.timestamp == "2026-11-24  9:40:22"
    assert record.epoch == datetime(2026, 11, 24, 8, 40, 22, tzinfo=UTC).timestamp()
    assert record.timestamp_has_zone is False


def test_mariadb_naive_timestamp_defaults_to_the_local_zone():
    record = parse_line(mariadb(aborted(76, "Got an error reading communication packets")))
    assert record.epoch == datetime(2026, 11, 24, 9, 40, 22).timestamp()


def test_a_zone_can_be_named():
    record = parse_line(mariadb(aborted(76, "KILLED")), tz="UTC")
    assert record.epoch == datetime(2026, 11, 24, 9, 40, 22, tzinfo=UTC).timestamp()


def test_an_unknown_zone_name_is_refused():
    with pytest.raises(ValueError, match="Mars/Olympus"):
        parse_line(mariadb(aborted(76, "KILLED")), tz="Mars/Olympus")


def test_mariadb_could_not_read_packet_fields():
    record = parse_line(
        mariadb(
            "Could not read packet: fd: 59  state: 1  read_length: 4  errno: 104  "
            "vio_errno: 1158  length: -1",
            thread=70,
        )
    )
    assert record.kind is Kind.COULD_NOT_READ_PACKET
    assert (
        record.fd,
        record.state,
        record.read_length,
        record.errno,
        record.vio_errno,
        record.length,
    ) == (59, 1, 4, 104, 1158, -1)
    assert record.thread_id == 70
    assert (record.reason, record.reason_kind) == (
        "Got an error reading communication packets",
        Reason.READ_ERROR,
    )


def test_mariadb_killed_abort_names_the_victim_and_the_killer_wrote_it():
    record = parse_line(mariadb(aborted(13, "KILLED"), thread=14))
    assert (record.thread_id, record.logging_thread, record.reason_kind) == (
        13,
        14,
        Reason.KILLED,
    )


def test_mariadb_too_many_connections_before_the_greeting():
    record = parse_line(
        mariadb(
            "Aborted connection 0 to db: 'unconnected' user: 'unauthenticated' "
            "host: 'connecting host' (Too many connections)",
            thread=0,
        )
    )
    assert (record.thread_id, record.logging_thread) == (None, 0)
    assert record.host == "connecting host"
    assert record.reason_kind is Reason.TOO_MANY_CONNECTIONS


def test_mariadb_closed_without_authentication():
    record = parse_line(
        mariadb(
            aborted(
                16,
                "This connection closed normally without authentication",
                db="unconnected",
                user="unauthenticated",
                host="127.0.0.1",
            )
        )
    )
    assert record.reason_kind is Reason.NO_AUTHENTICATION
    assert record.authenticated is False


def test_mariadb_proxy_protocol_real_ip():
    record = parse_line(
        mariadb(
            "Aborted connection 9 to db: 'test' user: 'app' host: '192.0.2.7' real ip: '10.1.1.1' "
            "(Got an error reading communication packets)"
        )
    )
    assert (record.host, record.real_ip) == ("192.0.2.7", "10.1.1.1")


@pytest.mark.parametrize(
    ("message", "reason_kind"),
    [
        ("mariadbd: Got a packet bigger than 'max_allowed_packet' bytes", Reason.PACKET_TOO_LARGE),
        ("mariadbd: Connection was killed", Reason.KILLED),
        ("mysqld: Got packets out of order", Reason.PACKETS_OUT_OF_ORDER),
        ("mariadbd: Got timeout writing communication packets", Reason.WRITE_TIMEOUT),
        ("Too many connections", Reason.TOO_MANY_CONNECTIONS),
        (
            "User 'app' already has more than 'max_user_connections' active connections",
            Reason.TOO_MANY_USER_CONNECTIONS,
        ),
    ],
)
def test_mariadb_bare_connection_errors(message, reason_kind):
    record = parse_line(mariadb(message, severity="ERROR", thread=41))
    assert (record.kind, record.reason_kind, record.thread_id) == (
        Kind.CONNECTION_ERROR,
        reason_kind,
        41,
    )


def test_mariadb_access_denied_to_database():
    record = parse_line(mariadb("Access denied for user 'app'@'%' to database 'secret'"))
    assert (record.kind, record.user, record.host, record.db) == (
        Kind.ACCESS_DENIED,
        "app",
        "%",
        "secret",
    )


def test_host_blocked():
    record = parse_line(
        mariadb(
            "Host '10.0.0.9' is blocked because of many connection errors; unblock with "
            "'mariadb-admin flush-hosts'",
            thread=5,
        )
    )
    assert (record.kind, record.host) == (Kind.HOST_BLOCKED, "10.0.0.9")
    assert record.authenticated is False


def test_host_not_allowed():
    record = parse_line(mysql57("Host '10.0.0.9' is not allowed to connect to this MySQL server"))
    assert (record.kind, record.host) == (Kind.HOST_NOT_ALLOWED, "10.0.0.9")


def test_mariadb_before_10_4_writes_a_pthread_id_which_is_not_a_connection():
    record = parse_line(
        mariadb(
            "Got an error reading communication packets",
            thread=140442217711360,
        )
    )
    assert (record.thread_id, record.logging_thread) == (None, 140442217711360)
    aborted_record = parse_line(
        mariadb(
            aborted(29, "Got an error reading communication packets"),
            thread=140442217711360,
        )
    )
    assert aborted_record.thread_id == 29


def test_legacy_format_without_thread_column():
    record = parse_line(
        "151004  9:47:10 [Warning] Aborted connection 233756 to db: 'nhav' user: 'nhav' "
        "host: 'localhost' (Unknown error)",
        tz=UTC,
    )
    assert (record.thread_id, record.logging_thread, record.reason_kind) == (
        233756,
        None,
        Reason.OTHER,
    )
    assert record.epoch == datetime(2015, 10, 4, 9, 47, 10, tzinfo=UTC).timestamp()


def test_old_abort_sentence_without_host():
    record = parse_line(
        "010301 14:38:23 Aborted connection 854 to db: 'users' user: 'josh'", tz=UTC
    )
    assert (record.thread_id, record.db, record.user, record.host, record.reason) == (
        854,
        "users",
        "josh",
        None,
        None,
    )


# --- what is not read -------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        mariadb("InnoDB: Buffer pool(s) load completed at 261124  9:40:00", severity="Note"),
        mysql8("InnoDB initialization has ended.", severity="System", code="MY-013577"),
        "Version: '10.11.19-MariaDB-0+deb12u1'  socket: '/run/mysqld/mysqld.sock'  port: 3306",
        "",
        "Aborted connection 15 to db: 'test' user: 'app' host: 'h' (no prefix)",
    ],
)
def test_lines_that_are_not_connection_events_give_no_record(line):
    assert parse_line(line) is None


@given(st.text())
def test_any_text_parses_or_is_refused_without_raising(text):
    record = parse_line(text)
    assert record is None or record.raw == text.rstrip("\r\n")


names = st.text(st.characters(codec="ascii", exclude_characters="'\r\n"), min_size=1, max_size=20)


@given(
    thread=st.integers(1, 2**32 - 1),
    db=names,
    user=names,
    host=st.from_regex(r"[a-z0-9.:-]{1,30}", fullmatch=True),
    reason=st.text(st.characters(codec="ascii", exclude_characters="\r\n"), max_size=60),
)
def test_aborted_connection_fields_round_trip(thread, db, user, host, reason):
    record = parse_line(mysql8(aborted(thread, reason, db=db, user=user, host=host) + "."))
    assert (record.thread_id, record.db, record.user, record.host, record.reason) == (
        thread,
        db,
        user,
        host,
        reason,
    )
