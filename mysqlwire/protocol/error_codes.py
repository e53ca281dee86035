"""Server error codes worth naming in a report, with what they mean on the wire.

Codes and symbols from the MySQL server error reference
(https://dev.mysql.com/doc/mysql-errors/8.0/en/server-error-reference.html) and MariaDB's
(https://mariadb.com/kb/en/mariadb-error-codes/). Only codes that explain connection trouble,
or that engineers meet daily, are listed; others are shown by number and server message.
"""

from __future__ import annotations

ERROR_NAMES: dict[int, tuple[str, str]] = {
    1040: ("ER_CON_COUNT_ERROR", "Too many connections"),
    1043: ("ER_HANDSHAKE_ERROR", "Bad handshake"),
    1044: ("ER_DBACCESS_DENIED_ERROR", "access denied to database"),
    1045: ("ER_ACCESS_DENIED_ERROR", "access denied (wrong user or password)"),
    1046: ("ER_NO_DB_ERROR", "no database selected"),
    1047: ("ER_UNKNOWN_COM_ERROR", "unknown command"),
    1049: ("ER_BAD_DB_ERROR", "unknown database"),
    1053: ("ER_SERVER_SHUTDOWN", "server shutdown in progress"),
    1054: ("ER_BAD_FIELD_ERROR", "unknown column"),
    1062: ("ER_DUP_ENTRY", "duplicate entry"),
    1064: ("ER_PARSE_ERROR", "SQL syntax error"),
    1105: ("ER_UNKNOWN_ERROR", "unknown error"),
    1129: ("ER_HOST_IS_BLOCKED", "host blocked after too many connection errors"),
    1130: ("ER_HOST_NOT_PRIVILEGED", "host not allowed to connect"),
    1146: ("ER_NO_SUCH_TABLE", "table does not exist"),
    1148: ("ER_NOT_ALLOWED_COMMAND", "command not allowed (e.g. LOCAL INFILE disabled)"),
    1152: ("ER_ABORTING_CONNECTION", "aborted connection"),
    1153: ("ER_NET_PACKET_TOO_LARGE", "packet bigger than max_allowed_packet"),
    1156: ("ER_NET_PACKETS_OUT_OF_ORDER", "packets out of order"),
    1157: ("ER_NET_UNCOMPRESS_ERROR", "could not uncompress communication packet"),
    1158: ("ER_NET_READ_ERROR", "error reading communication packets"),
    1159: ("ER_NET_READ_INTERRUPTED", "timeout reading communication packets"),
    1160: ("ER_NET_ERROR_ON_WRITE", "error writing communication packets"),
    1161: ("ER_NET_WRITE_INTERRUPTED", "timeout writing communication packets"),
    1184: ("ER_NEW_ABORTING_CONNECTION", "aborted connection"),
    1203: ("ER_TOO_MANY_USER_CONNECTIONS", "user has too many active connections"),
    1205: ("ER_LOCK_WAIT_TIMEOUT", "lock wait timeout exceeded"),
    1213: ("ER_LOCK_DEADLOCK", "deadlock found"),
    1226: ("ER_USER_LIMIT_REACHED", "user resource limit reached"),
    1227: ("ER_SPECIFIC_ACCESS_DENIED_ERROR", "privilege required"),
    1243: ("ER_UNKNOWN_STMT_HANDLER", "unknown prepared statement handler"),
    1251: ("ER_NOT_SUPPORTED_AUTH_MODE", "client does not support the authentication protocol"),
    1290: ("ER_OPTION_PREVENTS_STATEMENT", "server option prevents this statement"),
    1301: ("ER_WARN_ALLOWED_PACKET_OVERFLOWED", "result larger than max_allowed_packet"),
    1317: ("ER_QUERY_INTERRUPTED", "query execution was interrupted"),
    1461: ("ER_MAX_PREPARED_STMT_COUNT_REACHED", "max_prepared_stmt_count reached"),
    1698: ("ER_ACCESS_DENIED_NO_PASSWORD_ERROR", "access denied (no password given)"),
    1820: ("ER_MUST_CHANGE_PASSWORD", "password must be changed"),
    1862: ("ER_MUST_CHANGE_PASSWORD_LOGIN", "password expired"),
    1927: ("ER_CONNECTION_KILLED", "connection was killed"),
    1969: ("ER_STATEMENT_TIMEOUT", "max_statement_time exceeded"),
    3024: ("ER_QUERY_TIMEOUT", "max_execution_time exceeded"),
    3032: ("ER_SERVER_OFFLINE_MODE", "server is in offline mode"),
    3159: ("ER_SECURE_TRANSPORT_REQUIRED", "secure transport required"),
    4031: (
        "ER_CLIENT_INTERACTION_TIMEOUT",
        "disconnected by the server: inactive longer than wait_timeout/interactive_timeout",
    ),
}

# Codes that mean max_allowed_packet stood in the way.
MAX_ALLOWED_PACKET_CODES = frozenset({1153, 1301})
# Codes a server sends in place of the greeting or during login when it refuses the client.
LOGIN_REFUSAL_CODES = frozenset({1044, 1045, 1129, 1130, 1203, 1226, 1251, 1698, 1820, 1862, 3159})
IDLE_TIMEOUT_CODE = 4031
TOO_MANY_CONNECTIONS = 1040


def error_label(code: int) -> str:
    """'1040 ER_CON_COUNT_ERROR (Too many connections)' or just the number."""
    known = ERROR_NAMES.get(code)
    if known is None:
        return str(code)
    return f"{code} {known[0]} ({known[1]})"
