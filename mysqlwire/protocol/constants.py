"""Protocol constants: capability and status flags, column types, packet header bytes.

Values are those of the MySQL client/server protocol documentation
(https://dev.mysql.com/doc/dev/mysql-server/latest/PAGE_PROTOCOL.html) and MariaDB's
(https://mariadb.com/kb/en/clientserver-protocol/), which agree on everything below 1 << 32.
"""

from __future__ import annotations

from typing import Final

# --- who sent a packet -------------------------------------------------------------------
# Same numbering as capture.facts.Direction (client-to-server = 0), but the decoder does not
# import the capture layer: it stays usable on bytes from anywhere.
CLIENT: Final = 0
SERVER: Final = 1
SIDE_NAMES = ("client", "server")

# --- framing -----------------------------------------------------------------------------
HEADER_SIZE: Final = 4
MAX_PAYLOAD: Final = 0xFFFFFF  # a payload of exactly this size continues in the next packet
COMPRESSED_HEADER_SIZE: Final = 7

# --- capability flags --------------------------------------------------------------------
CLIENT_LONG_PASSWORD: Final = 1 << 0  # MariaDB calls this bit CLIENT_MYSQL; unset by MariaDB peers
CLIENT_FOUND_ROWS: Final = 1 << 1
CLIENT_LONG_FLAG: Final = 1 << 2
CLIENT_CONNECT_WITH_DB: Final = 1 << 3
CLIENT_NO_SCHEMA: Final = 1 << 4
CLIENT_COMPRESS: Final = 1 << 5
CLIENT_ODBC: Final = 1 << 6
CLIENT_LOCAL_FILES: Final = 1 << 7
CLIENT_IGNORE_SPACE: Final = 1 << 8
CLIENT_PROTOCOL_41: Final = 1 << 9
CLIENT_INTERACTIVE: Final = 1 << 10
CLIENT_SSL: Final = 1 << 11
CLIENT_IGNORE_SIGPIPE: Final = 1 << 12
CLIENT_TRANSACTIONS: Final = 1 << 13
CLIENT_RESERVED: Final = 1 << 14
CLIENT_SECURE_CONNECTION: Final = 1 << 15
CLIENT_MULTI_STATEMENTS: Final = 1 << 16
CLIENT_MULTI_RESULTS: Final = 1 << 17
CLIENT_PS_MULTI_RESULTS: Final = 1 << 18
CLIENT_PLUGIN_AUTH: Final = 1 << 19
CLIENT_CONNECT_ATTRS: Final = 1 << 20
CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA: Final = 1 << 21
CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS: Final = 1 << 22
CLIENT_SESSION_TRACK: Final = 1 << 23
CLIENT_DEPRECATE_EOF: Final = 1 << 24
CLIENT_OPTIONAL_RESULTSET_METADATA: Final = 1 << 25
CLIENT_ZSTD_COMPRESSION_ALGORITHM: Final = 1 << 26
CLIENT_QUERY_ATTRIBUTES: Final = 1 << 27
CLIENT_MULTI_FACTOR_AUTHENTICATION: Final = 1 << 28
CLIENT_CAPABILITY_EXTENSION: Final = 1 << 29
CLIENT_SSL_VERIFY_SERVER_CERT: Final = 1 << 30
CLIENT_REMEMBER_OPTIONS: Final = 1 << 31
# MariaDB's extended capabilities travel in otherwise reserved bytes; we keep them above bit 32.
MARIADB_CLIENT_PROGRESS: Final = 1 << 32
MARIADB_CLIENT_COM_MULTI: Final = 1 << 33
MARIADB_CLIENT_STMT_BULK_OPERATIONS: Final = 1 << 34
MARIADB_CLIENT_EXTENDED_METADATA: Final = 1 << 35
MARIADB_CLIENT_CACHE_METADATA: Final = 1 << 36
MARIADB_CLIENT_BULK_UNIT_RESULTS: Final = 1 << 37

CAPABILITY_NAMES = {
    value: name
    for name, value in globals().items()
    if name.startswith(("CLIENT_", "MARIADB_CLIENT_")) and isinstance(value, int)
}


def capability_names(flags: int) -> list[str]:
    """The names of the bits set in `flags`, low bits first."""
    return [name for bit, name in sorted(CAPABILITY_NAMES.items()) if flags & bit]


# --- server status flags -----------------------------------------------------------------
SERVER_STATUS_IN_TRANS: Final = 0x0001
SERVER_STATUS_AUTOCOMMIT: Final = 0x0002
SERVER_MORE_RESULTS_EXISTS: Final = 0x0008
SERVER_QUERY_NO_GOOD_INDEX_USED: Final = 0x0010
SERVER_QUERY_NO_INDEX_USED: Final = 0x0020
SERVER_STATUS_CURSOR_EXISTS: Final = 0x0040
SERVER_STATUS_LAST_ROW_SENT: Final = 0x0080
SERVER_STATUS_DB_DROPPED: Final = 0x0100
SERVER_STATUS_NO_BACKSLASH_ESCAPES: Final = 0x0200
SERVER_STATUS_METADATA_CHANGED: Final = 0x0400
SERVER_QUERY_WAS_SLOW: Final = 0x0800
SERVER_PS_OUT_PARAMS: Final = 0x1000
SERVER_STATUS_IN_TRANS_READONLY: Final = 0x2000
SERVER_SESSION_STATE_CHANGED: Final = 0x4000

# --- first byte of a server packet --------------------------------------------------------
OK_HEADER: Final = 0x00
AUTH_MORE_DATA_HEADER: Final = 0x01
LOCAL_INFILE_HEADER: Final = 0xFB
EOF_HEADER: Final = 0xFE  # also AuthSwitchRequest during authentication, and OK under DEPRECATE_EOF
ERR_HEADER: Final = 0xFF
# The same as one-byte strings, to test `payload[:1]` (empty payloads included) without
# building a bytes object per packet.
EOF_BYTE = bytes([EOF_HEADER])
ERR_BYTE = bytes([ERR_HEADER])
PROGRESS_ERROR_CODE: Final = 0xFFFF  # MariaDB progress report in ERR clothing, not an error

# --- caching_sha2_password / sha256_password AuthMoreData payloads --------------------------
CACHING_SHA2_REQUEST_PUBLIC_KEY: Final = 0x02
CACHING_SHA2_FAST_AUTH_SUCCESS: Final = 0x03
CACHING_SHA2_PERFORM_FULL_AUTH: Final = 0x04

# --- COM_STMT_EXECUTE flags ---------------------------------------------------------------
CURSOR_TYPE_READ_ONLY: Final = 0x01
PARAMETER_COUNT_AVAILABLE: Final = 0x08

# --- column types (enum_field_types) ------------------------------------------------------
COLUMN_TYPE_NAMES = {
    0: "DECIMAL",
    1: "TINY",
    2: "SHORT",
    3: "LONG",
    4: "FLOAT",
    5: "DOUBLE",
    6: "NULL",
    7: "TIMESTAMP",
    8: "LONGLONG",
    9: "INT24",
    10: "DATE",
    11: "TIME",
    12: "DATETIME",
    13: "YEAR",
    14: "NEWDATE",
    15: "VARCHAR",
    16: "BIT",
    17: "TIMESTAMP2",
    18: "DATETIME2",
    19: "TIME2",
    20: "TYPED_ARRAY",
    242: "VECTOR",
    243: "INVALID",
    244: "BOOL",
    245: "JSON",
    246: "NEWDECIMAL",
    247: "ENUM",
    248: "SET",
    249: "TINY_BLOB",
    250: "MEDIUM_BLOB",
    251: "LONG_BLOB",
    252: "BLOB",
    253: "VAR_STRING",
    254: "STRING",
    255: "GEOMETRY",
}

# --- session state tracking (OK packet) ---------------------------------------------------
SESSION_TRACK_SYSTEM_VARIABLE: Final = 0  # two length-encoded strings: name, value
SESSION_TRACK_GTIDS: Final = 3  # an encoding byte, then a length-encoded string
SESSION_TRACK_NAMES = {
    0: "system_variable",
    1: "schema",
    2: "state_change",
    3: "gtids",
    4: "transaction_characteristics",
    5: "transaction_state",
}
