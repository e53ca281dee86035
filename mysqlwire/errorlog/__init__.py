"""The server's error log, read into typed records for joining with captured connections.

MySQL 5.7 / 8.x and MariaDB write one line per aborted connection or connect ("Aborted
connection N to db: ... (Got an error reading communication packets)", "Access denied for
user ...", MariaDB's "Could not read packet: fd: ... errno: 104 ..."). This package turns each
such line into an `ErrorLogRecord` with the thread id, db, user, host, time and reason the
joiner needs, counts every line it could not read, and never loads a whole log at once.

    log = read_error_log("mysqld.err.gz", tz="Europe/Paris")
    for record in log.of_kind(Kind.ABORTED_CONNECTION):
        print(record.thread_id, record.host, record.reason_kind, record.read_outcome)

Which lines exist depends on the server's verbosity, so a captured abort without a line is not
a contradiction: MariaDB writes "Aborted connection" and "Access denied" at log_warnings >= 2
(the default) and "Could not read packet", "(KILLED)" and the bare network errors at >= 4
(``sql/net_serv.cc``, ``sql/sql_class.cc``); MySQL 5.7 and 8 write them as [Note], so only at
log_error_verbosity = 3.

The grammar is data in `patterns` (line prefixes per server family, message patterns per
kind); the reading, pairing and time handling are in `parse`, whose docstring also explains
what the fields of MariaDB's "Could not read packet" mean, from MariaDB's source.
"""

from mysqlwire.errorlog.parse import (
    ErrorLog,
    ErrorLogRecord,
    ErrorLogUnreadable,
    ReadOutcome,
    UnmatchedLine,
    iter_error_log,
    parse_line,
    read_error_log,
)
from mysqlwire.errorlog.patterns import (
    CONNECTING_HOST,
    UNAUTHENTICATED_USER,
    UNCONNECTED_DB,
    Kind,
    Reason,
)

__all__ = [
    "CONNECTING_HOST",
    "UNAUTHENTICATED_USER",
    "UNCONNECTED_DB",
    "ErrorLog",
    "ErrorLogRecord",
    "ErrorLogUnreadable",
    "Kind",
    "ReadOutcome",
    "Reason",
    "UnmatchedLine",
    "iter_error_log",
    "parse_line",
    "read_error_log",
]
