"""Where a conversation stands: the connection's phase and each direction's transport."""

from __future__ import annotations

from enum import Enum


class Phase(Enum):
    # Members are singletons: hash them by identity. Enum's own __hash__ is Python code, and
    # the decoder looks a reader up by (side, phase) for every packet.
    __hash__ = object.__hash__

    GREETING = "greeting"  # waiting for the server's first packet
    LOGIN = "login"  # waiting for the client's SSLRequest or handshake response
    AUTH = "authentication"  # authentication exchange until OK or ERR
    COMMAND = "command"  # the client issues commands, the server replies
    TLS = "tls"  # everything is TLS records
    ENDED = "ended"  # the server refused the connection; nothing more is expected
    UNSYNCED = "unsynced"  # mid-stream: waiting for the first recognisable command
    NOT_MYSQL = "not_mysql"


class Transport(Enum):
    """How one direction's bytes are cut up."""

    UNSYNCED = "unsynced"  # packet boundary unknown: look for one
    PLAIN = "plain"
    COMPRESSED = "compressed"
    TLS = "tls"
    OPAQUE = "opaque"  # not MySQL: counted only
