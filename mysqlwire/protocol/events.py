"""The typed events the decoder emits, one vocabulary for the reporter, `dump` and tests.

Every event says who sent what it describes (`side`: CLIENT or SERVER) and carries the
evidence a verdict needs: the frame number and timestamp where it began. Events that stand for
a logical MySQL packet (`PacketEvent`) add its sequence id, payload size and how many wire
packets it was split into. With `detail=True` the decoder emits one `PacketEvent` per logical
packet (rows and column definitions included; plus the `PayloadCapped` note below), which is
what `mysqlwire dump` prints;
without it, rows and column definitions are only counted, in `ResultSetEnd`. A packet read
from part of its payload is, in both modes, followed by a note saying why: `PayloadCapped`
(the retain limit; itself a `PacketEvent` about the same packet) or `IncompletePacket` (a
capture gap took bytes out of it).

Events are plain records, treated as immutable once emitted. Secrets (scrambles, passwords,
RSA blobs) never reach an event: only their lengths do.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, TypedDict


class Evidence(TypedDict):
    """The keyword arguments a `PacketEvent` takes from its logical packet."""

    side: int
    frame: int
    ts: float
    seq: int
    size: int
    wire_packets: int


def rebuilt(cls: type[Any], values: dict[str, object]) -> Any:
    """A record made again from its fields, by keyword (unpickling)."""
    return cls(**values)


def reduce_by_keywords(record: Any) -> tuple[object, tuple[object, ...]]:
    """A dataclass's `__reduce__` in this package: rebuilt by its constructor from its fields
    as keywords, which every record's constructor here takes (the compiled build's own
    pickling calls the constructor with no arguments). Records are pickled when an idle
    connection's decoder is packed (`mysqlwire/packed_state.py`)."""
    values = {each.name: getattr(record, each.name) for each in fields(record)}
    return rebuilt, (type(record), values)


@dataclass(slots=True, kw_only=True)
class Event:
    side: int  # CLIENT (0) or SERVER (1): who sent the bytes this event is about
    frame: int
    ts: float

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return reduce_by_keywords(self)


@dataclass(slots=True, kw_only=True)
class PacketEvent(Event):
    seq: int  # sequence id of the first wire packet
    size: int  # payload bytes of the logical packet, all wire packets joined
    wire_packets: int = 1


# --- connection phase -------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class Greeting(PacketEvent):
    protocol_version: int
    server_version: str
    thread_id: int
    capabilities: int
    charset: int
    status: int
    auth_plugin: str
    is_mariadb: bool


@dataclass(slots=True, kw_only=True)
class SslRequest(PacketEvent):
    """The client asked for TLS; everything after it on both sides is TLS records."""

    capabilities: int


@dataclass(slots=True, kw_only=True)
class HandshakeResponse(PacketEvent):
    capabilities: int
    max_packet: int
    charset: int
    user: str
    database: str | None
    auth_plugin: str | None
    auth_response_length: int
    attributes: dict[str, str] = field(default_factory=dict)
    protocol41: bool = True
    # read from the start of a cut packet (snapshot length): a field missing at its end,
    # such as the database, is unknown rather than absent
    cut: bool = False


@dataclass(slots=True, kw_only=True)
class AuthSwitchRequest(PacketEvent):
    plugin: str


@dataclass(slots=True, kw_only=True)
class AuthMoreData(PacketEvent):
    """Server's extra authentication data; `step` names what it means for caching_sha2."""

    step: str  # "fast_auth_success", "perform_full_authentication", "public_key", "data"


@dataclass(slots=True, kw_only=True)
class AuthResponse(PacketEvent):
    """A client authentication packet after the handshake response; never its contents."""

    step: str  # "auth_switch_response", "public_key_request", "password", "auth_data"


# --- command phase ----------------------------------------------------------------------


@dataclass(slots=True, kw_only=True, init=False)
class Command(PacketEvent):
    """A client command. `arguments` are its decoded arguments (see commands.py); when they do
    not parse they hold "malformed" (or "cut", for a packet read from part of its payload)."""

    code: int
    name: str
    query: str | None = None
    statement_id: int | None = None
    arguments: dict[str, object] = field(default_factory=dict)

    # Written out (the fields above, in order), not generated: one of the two events of every
    # exchange, and the compiled build compiles a written __init__ but runs a generated one
    # as Python. tests/protocol/test_events.py holds it to the fields.
    def __init__(
        self,
        *,
        side: int,
        frame: int,
        ts: float,
        seq: int,
        size: int,
        wire_packets: int = 1,
        code: int,
        name: str,
        query: str | None = None,
        statement_id: int | None = None,
        arguments: dict[str, object] | None = None,
    ) -> None:
        self.side = side
        self.frame = frame
        self.ts = ts
        self.seq = seq
        self.size = size
        self.wire_packets = wire_packets
        self.code = code
        self.name = name
        self.query = query
        self.statement_id = statement_id
        self.arguments = {} if arguments is None else arguments


@dataclass(slots=True, kw_only=True)
class Ok(PacketEvent):
    affected_rows: int
    last_insert_id: int
    status: int
    warnings: int
    info: str
    reply_to: str  # the command it answers, or "authentication"
    session_state: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class Err(PacketEvent):
    code: int
    sql_state: str
    message: str
    reply_to: str | None  # the command it answers; None when nothing was outstanding
    phase: str  # "greeting", "authentication", "command", "idle"


@dataclass(slots=True, kw_only=True, init=False)
class Eof(PacketEvent):
    warnings: int
    status: int
    reply_to: str

    # Written out for the reason given at Command.__init__: one ends every prepare's reply.
    def __init__(
        self,
        *,
        side: int,
        frame: int,
        ts: float,
        seq: int,
        size: int,
        wire_packets: int = 1,
        warnings: int,
        status: int,
        reply_to: str,
    ) -> None:
        self.side = side
        self.frame = frame
        self.ts = ts
        self.seq = seq
        self.size = size
        self.wire_packets = wire_packets
        self.warnings = warnings
        self.status = status
        self.reply_to = reply_to


@dataclass(slots=True, kw_only=True)
class Progress(PacketEvent):
    """MariaDB progress report (an ERR packet with code 0xFFFF): not an error."""

    stage: int
    max_stage: int
    progress: float  # percent within the stage
    info: str


@dataclass(slots=True, kw_only=True)
class ResultSetHeader(PacketEvent):
    column_count: int
    metadata_follows: bool = True


@dataclass(slots=True, kw_only=True)
class ColumnDefinition(PacketEvent):
    """Emitted with detail=True only."""

    schema: str
    table: str
    name: str
    column_type: int


@dataclass(slots=True, kw_only=True)
class Row(PacketEvent):
    """Emitted with detail=True only. `values` are text, or None for SQL NULL."""

    values: list[str | None] | None
    binary: bool


@dataclass(slots=True, kw_only=True)
class ResultSetEnd(PacketEvent):
    """The packet that ends a result set (EOF, or OK under CLIENT_DEPRECATE_EOF)."""

    rows: int
    row_bytes: int
    status: int
    warnings: int
    more_results: bool
    reply_to: str


@dataclass(slots=True, kw_only=True)
class StmtPrepareOk(PacketEvent):
    statement_id: int
    columns: int
    params: int
    warnings: int


@dataclass(slots=True, kw_only=True)
class LocalInfileRequest(PacketEvent):
    filename: str


@dataclass(slots=True, kw_only=True)
class LocalInfileData(PacketEvent):
    """Emitted with detail=True only: one packet of the uploaded file."""


@dataclass(slots=True, kw_only=True)
class LocalInfileEnd(PacketEvent):
    """The empty packet that ends a LOCAL INFILE upload."""

    total_bytes: int
    data_packets: int


@dataclass(slots=True, kw_only=True)
class TextReply(PacketEvent):
    """The plain-text answer to COM_STATISTICS."""

    text: str


@dataclass(slots=True, kw_only=True)
class BinlogEvent(PacketEvent):
    """Emitted with detail=True only: one replication event of a binlog dump."""

    event_type: int
    event_name: str
    server_id: int
    log_pos: int
    event_ts: int


@dataclass(slots=True, kw_only=True, init=False)
class CommandFinished(Event):
    """A command's response is complete: the request/response pairing, for latency and load."""

    command: str
    code: int
    started_frame: int
    started_ts: float
    latency: float
    outcome: str  # "ok", "error", "eof", "result_set", "text", "no_reply", "interrupted"
    error_code: int | None
    rows: int
    response_bytes: int
    response_packets: int

    # Written out for the reason given at Command.__init__.
    def __init__(
        self,
        *,
        side: int,
        frame: int,
        ts: float,
        command: str,
        code: int,
        started_frame: int,
        started_ts: float,
        latency: float,
        outcome: str,
        error_code: int | None,
        rows: int,
        response_bytes: int,
        response_packets: int,
    ) -> None:
        self.side = side
        self.frame = frame
        self.ts = ts
        self.command = command
        self.code = code
        self.started_frame = started_frame
        self.started_ts = started_ts
        self.latency = latency
        self.outcome = outcome
        self.error_code = error_code
        self.rows = rows
        self.response_bytes = response_bytes
        self.response_packets = response_packets


# --- transport changes ------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class CompressionStarted(Event):
    algorithm: str  # "zlib" or "zstd"
    inferred: bool  # True when read from the bytes rather than from the handshake


@dataclass(slots=True, kw_only=True)
class TlsRecord(Event):
    """Emitted with detail=True only: one TLS record, contents opaque."""

    content_type: int
    length: int


@dataclass(slots=True, kw_only=True)
class ProxyHeader(Event):
    """A PROXY protocol header before the login: a load balancer relaying `source`, the real
    client, whose address the server uses in place of the TCP peer's (proxy_header.py)."""

    version: int  # 1 (text) or 2 (binary)
    command: str  # "PROXY", "LOCAL" (the balancer's own connection), "UNKNOWN"
    source: str | None  # "ip:port" of the real client
    destination: str | None  # "ip:port" the client connected to, at the balancer
    size: int  # header bytes


@dataclass(slots=True, kw_only=True)
class TlsDetected(Event):
    """TLS records where the SSLRequest that starts them was not captured (a capture that
    began mid-stream, or after a gap): the connection is encrypted from here on."""

    reason: str


@dataclass(slots=True, kw_only=True)
class TlsVersion(Event):
    """The version the server chose, read from the clear-text ServerHello."""

    version: str


@dataclass(slots=True, kw_only=True)
class TlsAlert(Event):
    """A TLS alert record. Once encryption is on, its level and description are hidden; an
    encrypted alert right before the close is almost always close_notify."""

    encrypted: bool
    level: int | None = None
    description: int | None = None


# --- problems ---------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class SequenceError(Event):
    """A packet whose sequence id is not the one the protocol requires at that point."""

    expected: int
    got: int
    compressed: bool  # the compressed-packet sequence, not the inner one
    driver_error: str  # what a client library reports for it


@dataclass(slots=True, kw_only=True)
class MalformedPacket(PacketEvent):
    reason: str


@dataclass(slots=True, kw_only=True)
class UnexpectedPacket(PacketEvent):
    """A well-formed packet that has no place at this point of the conversation."""

    reason: str
    first_byte: int | None


@dataclass(slots=True, kw_only=True)
class PayloadCapped(PacketEvent):
    """Only the first `kept` bytes of this packet were held for decoding (memory cap)."""

    kept: int


@dataclass(slots=True, kw_only=True)
class LargePacket(Event):
    """A logical packet split over several wire packets, or at least the decoder's
    `large_packet_threshold` in size, whatever it was: the evidence for split and oversize
    findings even where rows are only counted. Not a PacketEvent: with detail=True the packet
    has its own event too."""

    seq: int
    size: int
    wire_packets: int
    first_byte: int | None


@dataclass(slots=True, kw_only=True)
class StreamGap(Event):
    """Bytes the capture does not hold; what follows on this side may be incomplete."""

    size: int
    stream_offset: int
    size_known: bool = True


@dataclass(slots=True, kw_only=True)
class Resynchronised(Event):
    """Decoding resumed at a plausible packet boundary after `skipped` undecodable bytes, the
    first of them in `first_frame` at `first_ts` (the event's own frame is where it resumed)."""

    skipped: int
    reason: str
    first_frame: int = 0
    first_ts: float = 0.0
    # the capture began inside an exchange: these bytes came before this side's first packet
    # boundary (the rest of a reply, say), with no gap; nothing is missing
    initial: bool = False


@dataclass(slots=True, kw_only=True)
class Undecodable(Event):
    """`size` bytes of this side never found a packet boundary before the stream ended, the
    first of them in `first_frame` at `first_ts`."""

    size: int
    reason: str
    first_frame: int = 0
    first_ts: float = 0.0
    # as in Resynchronised: a capture begun mid-exchange, no gap, no packet of this side yet
    initial: bool = False


@dataclass(slots=True, kw_only=True)
class MidStreamStart(Event):
    """The capture began after the connection's start; `inferred` says what was guessed so
    far (a copy: what is inferred later, such as DEPRECATE_EOF from the first result set, is in
    the decoder's `inferred`)."""

    inferred: dict[str, object]


@dataclass(slots=True, kw_only=True)
class IncompletePacket(Event):
    """The stream ended (or hit a gap) inside a packet, or a packet was read although a gap
    inside it took `expected - received` of its bytes (a snapshot length does that); the
    packet's own event then shows what its first bytes hold."""

    expected: int
    received: int


@dataclass(slots=True, kw_only=True)
class NotMySQL(Event):
    """The bytes on this connection are not the MySQL protocol. Usually both directions are
    only counted from then on; when a client answers a MySQL server's greeting with another
    protocol (TLS without SSLRequest, HTTP), only the client's side is, and the server's
    reply (typically ERR 1043 Bad handshake) is still decoded."""

    protocol: str  # best guess: "http", "tls", "ssh", "mysqlx", ... or "unknown"
    reason: str
