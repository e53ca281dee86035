"""The error-log grammar as tables: line prefixes per server family, then the messages we read.

A line is a prefix (timestamp, thread, severity, and on MySQL 8 an error code and subsystem)
followed by a message. `LINE_PREFIXES` says what each server family writes; `MESSAGES` says
which messages become a record of which `Kind`, with named groups that are the record's fields.
Reading a new server's format is adding a row, not a branch.

The message texts are the servers' own (English) templates:

- MariaDB 10.11, ``sql/share/errmsg-utf8.txt``: ER_NEW_ABORTING_CONNECTION is
  ``Aborted connection %lld to db: '%-.192s' user: '%-.48s' host: '%-.64s'%-.64s (%-.64s)``;
  the bare ``%-.64s`` after the host is `` real ip: '...'`` for proxy-protocol connections
  (``THD::print_aborted_warning`` in ``sql/sql_class.h``), empty otherwise.
- MySQL 8, ``share/messages_to_error_log.txt``: MY-010914 ER_ABORTING_USER_CONNECTION is the
  same sentence ending in ``).``; ``login_failed_error()`` (sql/auth/sql_authentication.cc)
  also logs a failed login's own error text under that code ("Got an error reading
  communication packets", "Bad handshake"), which we read as CONNECTION_ERROR. MY-010925/26/27 are
  ER_ACCESS_DENIED_ERROR_WITHOUT_PASSWORD / _WITH_PASSWORD / _FOR_USER_ACCOUNT_LOCKED.
  MY-010913 is ER_WARN_NO_SERVERID_SPECIFIED and MY-013360 is the "Plugin ... reported:
  '... is deprecated'" warning: neither is about a connection ending, so neither is read.
- MySQL 5.7 writes the same sentences as 8.0 without the code and without the final period.

Placeholders the servers put in place of unknown values are kept as written in the record
(`UNCONNECTED_DB`, `UNAUTHENTICATED_USER`, `CONNECTING_HOST`), so a joiner must not take them
for a real database, user or host.
"""

from __future__ import annotations

import re
from enum import StrEnum


class Kind(StrEnum):
    """What a record reports; one value per message family, not per server."""

    ABORTED_CONNECTION = "aborted_connection"  # "Aborted connection N to db: ..."
    ACCESS_DENIED = "access_denied"  # "Access denied for user 'u'@'h' ..."
    COULD_NOT_READ_PACKET = "could_not_read_packet"  # MariaDB, log_warnings >= 4
    COULD_NOT_WRITE_PACKET = "could_not_write_packet"  # MariaDB, log_warnings >= 4
    CONNECTION_ERROR = "connection_error"  # a bare network/connection error of the prefix thread
    HOST_BLOCKED = "host_blocked"  # "Host 'h' is blocked because of many connection errors"
    HOST_NOT_ALLOWED = "host_not_allowed"  # "Host 'h' is not allowed to connect ..."


class Reason(StrEnum):
    """The server's reason text reduced to what it means, for explaining a line in one word."""

    READ_ERROR = "read_error"  # the read failed: peer FIN, RST, or a TLS error
    READ_TIMEOUT = "read_timeout"  # wait_timeout / net_read_timeout / connect_timeout expired
    WRITE_ERROR = "write_error"  # the write failed: peer gone, or socket shut down by KILL
    WRITE_TIMEOUT = "write_timeout"  # net_write_timeout: the client stopped reading
    NO_AUTHENTICATION = "no_authentication"  # closed before logging in
    INIT_CONNECT_FAILED = "init_connect_failed"
    TOO_MANY_CONNECTIONS = "too_many_connections"
    TOO_MANY_USER_CONNECTIONS = "too_many_user_connections"
    PACKET_TOO_LARGE = "packet_too_large"  # max_allowed_packet
    PACKETS_OUT_OF_ORDER = "packets_out_of_order"  # sequence id mismatch
    UNCOMPRESS_ERROR = "uncompress_error"
    BAD_HANDSHAKE = "bad_handshake"
    KILLED = "killed"  # KILL CONNECTION / shutdown
    RELEASE = "release"  # MariaDB: COMMIT/ROLLBACK RELEASE ended the session
    OTHER = "other"  # any other text in the parentheses, kept as written in `reason`


UNCONNECTED_DB = "unconnected"  # no default database (MySQL, MariaDB)
UNAUTHENTICATED_USER = "unauthenticated"  # the login had not completed
CONNECTING_HOST = "connecting host"  # MariaDB: refused before the host was known

# Reason texts by prefix: MySQL 8 appends "; diagnostics area: MY-... - ..." to init_connect.
REASONS: tuple[tuple[str, Reason], ...] = (
    ("Got an error reading communication packets", Reason.READ_ERROR),
    ("Got timeout reading communication packets", Reason.READ_TIMEOUT),
    ("Got an error writing communication packets", Reason.WRITE_ERROR),
    ("Got timeout writing communication packets", Reason.WRITE_TIMEOUT),
    ("This connection closed normally without authentication", Reason.NO_AUTHENTICATION),
    ("init_connect command failed", Reason.INIT_CONNECT_FAILED),
    ("Too many connections", Reason.TOO_MANY_CONNECTIONS),
    ("Got a packet bigger than 'max_allowed_packet' bytes", Reason.PACKET_TOO_LARGE),
    ("Got packets out of order", Reason.PACKETS_OUT_OF_ORDER),
    ("Couldn't uncompress communication packet", Reason.UNCOMPRESS_ERROR),
    ("Bad handshake", Reason.BAD_HANDSHAKE),
    ("KILLED", Reason.KILLED),
    ("Connection was killed", Reason.KILLED),
    ("RELEASE", Reason.RELEASE),
)

# Messages a server logs on their own (not inside "Aborted connection (...)") about the
# connection of the prefix thread: MariaDB at log_warnings >= 4 as "[ERROR] mariadbd: <text>",
# MySQL 5.7 as "[Note] <text>", MySQL 8 as "[Note] [MY-010914] [Server] <text>".
CONNECTION_ERROR_MESSAGES: tuple[str, ...] = (
    "Got an error reading communication packets",
    "Got timeout reading communication packets",
    "Got an error writing communication packets",
    "Got timeout writing communication packets",
    "Got packets out of order",
    "Got a packet bigger than 'max_allowed_packet' bytes",
    "Couldn't uncompress communication packet",
    "Connection was killed",
    "Bad handshake",
    "Too many connections",
)

# MariaDB's "vio_errno" field is net->last_errno: the MySQL error the failed read or write
# raised, which is also the reason its "Aborted connection" line gives.
NET_ERROR_TEXTS: dict[int, str] = {
    1158: "Got an error reading communication packets",  # ER_NET_READ_ERROR
    1159: "Got timeout reading communication packets",  # ER_NET_READ_INTERRUPTED
    1160: "Got an error writing communication packets",  # ER_NET_ERROR_ON_WRITE
    1161: "Got timeout writing communication packets",  # ER_NET_WRITE_INTERRUPTED
}

_ISO_TIMESTAMP = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?"

# (format name, pattern). Named groups: ts, thread, severity, code, subsystem, message.
LINE_PREFIXES: tuple[tuple[str, re.Pattern[str]], ...] = (
    # MySQL 5.7 and 8.x: "2023-01-05T10:11:12.123456Z 15 [Note] [MY-010914] [Server] ..."
    # (UTC with "Z", or the local offset with log_timestamps=SYSTEM; 5.7 has no code/subsystem).
    (
        "mysql",
        re.compile(
            rf"(?P<ts>{_ISO_TIMESTAMP}) (?P<thread>\d+) \[(?P<severity>[A-Za-z]+)\]"
            r"(?: \[(?P<code>MY-\d{6})\] \[(?P<subsystem>[^\]]*)\])? (?P<message>.*)"
        ),
    ),
    # MariaDB 10.x/11.x: "2026-11-24  9:40:22 76 [Warning] ...", local time, hour padded with a
    # space. MariaDB before 10.4 wrote the pthread id there, MySQL 5.6 the process id.
    (
        "mariadb",
        re.compile(
            r"(?P<ts>\d{4}-\d{2}-\d{2} +\d{1,2}:\d{2}:\d{2}) +(?P<thread>\d+) "
            r"\[(?P<severity>[A-Za-z]+)\] (?P<message>.*)"
        ),
    ),
    # MySQL <= 5.5 and MariaDB 5.x: "151004 10:47:10 [Warning] ...", no thread column.
    (
        "legacy",
        re.compile(
            r"(?P<ts>\d{6} +\d{1,2}:\d{2}:\d{2}) +(?:\[(?P<severity>[A-Za-z]+)\] )?"
            r"(?P<message>.*)"
        ),
    ),
)

_CONNECTION_ERRORS = "|".join(re.escape(text) for text in CONNECTION_ERROR_MESSAGES)

# (kind, pattern), tried in order with fullmatch on the message. Named groups are record fields;
# `reason` defaults to the whole message for kinds whose pattern has no reason group.
MESSAGES: tuple[tuple[Kind, re.Pattern[str]], ...] = (
    (
        Kind.ABORTED_CONNECTION,
        re.compile(
            r"Aborted connection (?P<thread_id>\d+) to db: '(?P<db>.*?)' user: '(?P<user>.*?)'"
            r"(?: host: '(?P<host>[^']*)')?(?: real ip: '(?P<real_ip>[^']*)')?"
            r"(?: \((?P<reason>.*)\))?\.?"
        ),
    ),
    (
        Kind.COULD_NOT_READ_PACKET,
        re.compile(
            r"Could not read packet: fd: (?P<fd>-?\d+) +state: (?P<state>-?\d+) +"
            r"read_length: (?P<read_length>-?\d+) +errno: (?P<errno>-?\d+) +"
            r"vio_errno: (?P<vio_errno>-?\d+) +length: (?P<length>-?\d+)"
        ),
    ),
    (
        Kind.COULD_NOT_WRITE_PACKET,
        re.compile(
            r"Could not write packet: fd: (?P<fd>-?\d+) +state: (?P<state>-?\d+) +"
            r"errno: (?P<errno>-?\d+) +vio_errno: (?P<vio_errno>-?\d+) +length: (?P<length>-?\d+)"
        ),
    ),
    (
        Kind.ACCESS_DENIED,
        re.compile(
            r"Access denied for user '(?P<user>.*)'@'(?P<host>[^']*)'"
            r"(?: \(using password: (?P<using_password>YES|NO)\)"
            r"| to database '(?P<db>.*)'|\. Account is locked\.)?"
        ),
    ),
    (
        Kind.HOST_BLOCKED,
        re.compile(r"Host '(?P<host>[^']*)' is blocked because of many connection errors.*"),
    ),
    (
        Kind.HOST_NOT_ALLOWED,
        re.compile(r"Host '(?P<host>[^']*)' is not allowed to connect to this \w+ server\.?"),
    ),
    (
        Kind.CONNECTION_ERROR,
        # MariaDB prefixes the program name: "mariadbd: Got a packet bigger than ...".
        re.compile(rf"(?:[\w.\-/]+: )?(?P<reason>{_CONNECTION_ERRORS})\.?"),
    ),
    (
        Kind.CONNECTION_ERROR,
        re.compile(
            r"(?:[\w.\-/]+: )?(?P<reason>User '?(?P<user>[^' ]*)'? already has more than "
            r"'max_user_connections' active connections)\.?"
        ),
    ),
)


def reason_of(text: str | None) -> Reason | None:
    """The meaning of a reason text; `Reason.OTHER` for text no table row names."""
    if text is None:
        return None
    if text.startswith("User ") and "max_user_connections" in text:
        return Reason.TOO_MANY_USER_CONNECTIONS
    for prefix, reason in REASONS:
        if text.startswith(prefix):
            return reason
    return Reason.OTHER
