"""Parsers for the connection phase: greeting, SSLRequest, handshake response, auth steps.

References: https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase.html
and MariaDB's https://mariadb.com/kb/en/connection/ (extended capabilities in reserved bytes,
the "5.5.5-" version prefix). Authentication secrets are measured, never returned.
"""

from __future__ import annotations

from typing import NamedTuple

from mysqlwire.protocol.constants import (
    CACHING_SHA2_FAST_AUTH_SUCCESS,
    CACHING_SHA2_PERFORM_FULL_AUTH,
    CACHING_SHA2_REQUEST_PUBLIC_KEY,
    CLIENT_CONNECT_ATTRS,
    CLIENT_CONNECT_WITH_DB,
    CLIENT_LONG_PASSWORD,
    CLIENT_PLUGIN_AUTH,
    CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA,
    CLIENT_PROTOCOL_41,
    CLIENT_SECURE_CONNECTION,
    CLIENT_SSL,
)
from mysqlwire.protocol.wire import (
    Truncated,
    lenenc_bytes,
    lenenc_int,
    lenenc_str,
    nul_bytes,
    nul_str,
    uint,
)

MARIADB_VERSION_PREFIX = "5.5.5-"
SSL_REQUEST_41_SIZE = 32
SSL_REQUEST_320_SIZE = 5


class GreetingFields(NamedTuple):
    protocol_version: int
    server_version: str
    thread_id: int
    capabilities: int
    charset: int
    status: int
    auth_plugin: str
    is_mariadb: bool


def parse_greeting(payload: bytes, partial: bool = False) -> GreetingFields:
    """Initial handshake packet, protocol 10 (or the ancient 9, which stops after the scramble).

    `partial`: the payload is only the packet's beginning (a snapshot length cut it); what it
    holds after the thread id is read as far as it goes."""
    protocol_version = payload[0]
    version_raw, pos = nul_str(payload, 1)
    thread_id, pos = uint(payload, pos, 4)
    capabilities = charset = status = 0
    auth_plugin = ""
    is_mariadb = "mariadb" in version_raw.lower()
    if protocol_version == 10:
        try:
            pos += 8 + 1  # auth-plugin-data part 1, filler
            capabilities, pos = uint(payload, pos, 2)
            if not capabilities & CLIENT_LONG_PASSWORD:
                is_mariadb = True  # MariaDB clears CLIENT_MYSQL (bit 0)
            if pos < len(payload):
                charset = payload[pos]
                status, pos = uint(payload, pos + 1, 2)
                upper, pos = uint(payload, pos, 2)
                capabilities |= upper << 16
                auth_data_len = payload[pos]
                reserved = payload[pos + 1 : pos + 11]
                pos += 11
                if is_mariadb and len(reserved) == 10:
                    # MariaDB's extended capabilities are the last 4 reserved bytes.
                    capabilities |= int.from_bytes(reserved[6:10], "little") << 32
                if capabilities & CLIENT_SECURE_CONNECTION:
                    pos += max(13, auth_data_len - 8)
                if capabilities & CLIENT_PLUGIN_AUTH:
                    auth_plugin, pos = nul_str(payload, pos, cut=partial)
        except (IndexError, Truncated):
            if not partial:
                raise
    server_version = version_raw
    if version_raw.startswith(MARIADB_VERSION_PREFIX):
        server_version = version_raw[len(MARIADB_VERSION_PREFIX) :]
        is_mariadb = True
    return GreetingFields(
        protocol_version,
        server_version,
        thread_id,
        capabilities,
        charset,
        status,
        auth_plugin,
        is_mariadb,
    )


def is_ssl_request(payload: bytes) -> bool:
    if len(payload) == SSL_REQUEST_41_SIZE:
        flags = int.from_bytes(payload[0:4], "little")
        return bool(flags & CLIENT_SSL and flags & CLIENT_PROTOCOL_41)
    if len(payload) == SSL_REQUEST_320_SIZE:
        return bool(int.from_bytes(payload[0:2], "little") & CLIENT_SSL)
    return False


def client_capabilities(payload: bytes) -> int:
    """The client's capability flags, MariaDB's extended ones included, from a login packet."""
    flags = int.from_bytes(payload[0:2], "little")
    if flags & CLIENT_PROTOCOL_41 and len(payload) >= 32:
        flags = int.from_bytes(payload[0:4], "little")
        if not flags & CLIENT_LONG_PASSWORD:
            flags |= int.from_bytes(payload[28:32], "little") << 32
    return flags


class LoginFields(NamedTuple):
    capabilities: int
    max_packet: int
    charset: int
    user: str
    database: str | None
    auth_plugin: str | None
    auth_response_length: int
    attributes: dict[str, str]
    protocol41: bool


def parse_handshake_response(payload: bytes, partial: bool = False) -> LoginFields:
    """HandshakeResponse41, or the pre-4.1 HandshakeResponse320. `partial`: only the packet's
    beginning is at hand; the fields after the user name are read as far as they go."""
    capabilities = client_capabilities(payload)
    if not capabilities & CLIENT_PROTOCOL_41:
        return _parse_handshake_response_320(payload, capabilities)
    max_packet, pos = uint(payload, 4, 4)
    charset = payload[8]
    user, pos = nul_str(payload, 32, cut=partial)
    auth_len = 0
    database = auth_plugin = None
    attributes: dict[str, str] = {}
    try:
        if capabilities & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA:
            auth, pos = lenenc_bytes(payload, pos)
            auth_len = len(auth or b"")
        elif capabilities & CLIENT_SECURE_CONNECTION:
            auth_len = payload[pos]
            pos += 1 + auth_len
        else:
            auth_raw, pos = nul_bytes(payload, pos)
            auth_len = len(auth_raw)
        if capabilities & CLIENT_CONNECT_WITH_DB and pos < len(payload):
            database, pos = nul_str(payload, pos, cut=partial)
        if capabilities & CLIENT_PLUGIN_AUTH and pos < len(payload):
            auth_plugin, pos = nul_str(payload, pos, cut=partial)
        if capabilities & CLIENT_CONNECT_ATTRS and pos < len(payload):
            attributes = parse_connect_attributes(payload, pos, partial)
    except (IndexError, Truncated):
        if not partial:
            raise
    return LoginFields(
        capabilities, max_packet, charset, user, database, auth_plugin, auth_len, attributes, True
    )


def _parse_handshake_response_320(payload: bytes, capabilities: int) -> LoginFields:
    max_packet, pos = uint(payload, 2, 3)
    user, pos = nul_str(payload, pos)
    database = None
    if capabilities & CLIENT_CONNECT_WITH_DB:
        auth_raw, pos = nul_bytes(payload, pos)
        database, pos = nul_str(payload, pos)
    else:
        auth_raw = payload[pos:]
    return LoginFields(capabilities, max_packet, 0, user, database, None, len(auth_raw), {}, False)


def parse_connect_attributes(payload: bytes, pos: int, partial: bool = False) -> dict[str, str]:
    """Connection attributes: a total length, then key/value length-encoded strings.
    `partial`: keep the pairs that are whole when the payload stops early."""
    total, pos = lenenc_int(payload, pos)
    end = min(len(payload), pos + (total or 0))
    attributes: dict[str, str] = {}
    try:
        while pos < end:
            key, pos = lenenc_str(payload, pos)
            value, pos = lenenc_str(payload, pos)
            attributes[key or ""] = value or ""
    except (IndexError, Truncated):
        if not partial:
            raise
    return attributes


def auth_more_data_step(payload: bytes) -> str:
    """What a server's AuthMoreData (0x01) packet means for caching_sha2/sha256_password."""
    body = payload[1:]
    if body == bytes([CACHING_SHA2_FAST_AUTH_SUCCESS]):
        return "fast_auth_success"
    if body == bytes([CACHING_SHA2_PERFORM_FULL_AUTH]):
        return "perform_full_authentication"
    if body.lstrip().startswith(b"-----BEGIN"):
        return "public_key"
    return "data"


def client_auth_step(payload: bytes, after: str | None) -> str:
    """Name a client's authentication packet from what the server asked last (`after`)."""
    if after == "auth_switch":
        return "auth_switch_response"
    if payload == bytes([CACHING_SHA2_REQUEST_PUBLIC_KEY]) or payload == b"\x01":
        return "public_key_request"
    if after in ("perform_full_authentication", "public_key"):
        return "password"  # clear text over TLS, or RSA-encrypted: never shown either way
    return "auth_data"
