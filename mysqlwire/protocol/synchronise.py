"""Finding where packets begin: at the greeting, at the login, mid-stream and after gaps.

A direction whose transport is UNSYNCED has no known packet boundary; its bytes come to
`feed_unsynced` until one is found, then go to the framer like any others.

* Before the greeting the server's first bytes are held until they tell whether they are a
  greeting (or an ERR in its place), so a greeting cut across segments decides the same as a
  whole one. Anything else, or the client speaking first, is not MySQL when the capture saw
  the connection open; otherwise the capture began mid-stream.
* After the greeting the client's first bytes are checked for another protocol (a TLS
  ClientHello or an HTTP request instead of a login) before they are framed.
* A load balancer's PROXY protocol header, the client's first bytes before or after the
  greeting, is taken off the stream (`ProxyHeader`) and the login read after it.
* Mid-stream and after a capture gap, a client chunk must start with a command (or, under the
  compressed protocol, tile as compressed packets) and a server chunk with the reply the oldest
  command awaits: TCP segments usually begin where a write began. TLS records are adopted
  while nothing has been decoded as MySQL.
* Not MySQL: another protocol recognised by its first bytes, replies that all carry sequence 0
  (the X protocol's framing), or no boundary in GIVE_UP_CHUNKS segments.

What is guessed is said: `decoder.inferred`, `MidStreamStart`, `CompressionStarted(inferred)`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mysqlwire.protocol import exchange, midstream, proxy_header
from mysqlwire.protocol.constants import (
    CLIENT,
    CLIENT_MULTI_RESULTS,
    CLIENT_PLUGIN_AUTH,
    CLIENT_PROTOCOL_41,
    CLIENT_SECURE_CONNECTION,
    CLIENT_TRANSACTIONS,
    HEADER_SIZE,
    SERVER,
)
from mysqlwire.protocol.events import (
    CompressionStarted,
    MidStreamStart,
    NotMySQL,
    ProxyHeader,
    Resynchronised,
    TlsDetected,
    Undecodable,
)
from mysqlwire.protocol.phases import Phase, Transport
from mysqlwire.protocol.tls import APPLICATION_DATA, RECORD_TYPES, TlsRecordReader
from mysqlwire.protocol.tls import plausible_record_header as tls_record_at

if TYPE_CHECKING:
    from mysqlwire.protocol.decoder import MySQLDecoder

GIVE_UP_CHUNKS = 24  # unsynchronised segments (both sides) before a stream is declared not MySQL
X_PROTOCOL_HINTS = 2  # server segments framed like the X protocol before saying so
ASSUMED_CAPABILITIES = (
    CLIENT_PROTOCOL_41
    | CLIENT_SECURE_CONNECTION
    | CLIENT_PLUGIN_AUTH
    | CLIENT_TRANSACTIONS
    | CLIENT_MULTI_RESULTS
)


def feed_unsynced(conn: MySQLDecoder, side: int, data: bytes, frame: int, ts: float) -> None:
    if conn.first_bytes[side] is None:
        conn.first_bytes[side] = bytes(data[:16])
    phase = conn.phase
    if phase is Phase.NOT_MYSQL:
        conn.opaque_bytes[side] += len(data)
    elif phase is Phase.GREETING:
        _before_greeting(conn, side, data, frame, ts)
    elif side == CLIENT and conn.awaiting_login:
        _first_login_bytes(conn, data, frame, ts)
    elif phase is Phase.TLS or (not any(conn.decoded_packets) and _tls_start(conn, data)):
        adopt_tls(conn, side, data, frame, ts)
    else:
        _find_footing(conn, side, data, frame, ts)


# --- the start of the connection ---------------------------------------------------------


def _before_greeting(conn: MySQLDecoder, side: int, data: bytes, frame: int, ts: float) -> None:
    # (flags, not tests of the attribute: _take_proxy_header sets it, and the compiled build
    # would trust a type narrowed before the call)
    had_header = conn.proxy_header is not None
    if side == CLIENT and not had_header:
        held = _hold(conn, CLIENT, data, frame, ts)
        # The header, or (when the capture saw the SYN, so this is the stream's start) the
        # start of one: a login waits for the greeting anyway.
        if _take_proxy_header(conn, held) and (conn.start_seen or conn.proxy_header):
            return
        conn.held[CLIENT].pop()  # not a header: the client spoke first, as below
    if side == SERVER:
        verdict = midstream.greeting_verdict(_hold(conn, side, data, frame, ts))
        if verdict is None:
            return  # too few bytes to tell
        if verdict:
            conn.transport[SERVER] = Transport.PLAIN
            conn.awaiting_login = True
            _release(conn, SERVER)
            _client_bytes_before_greeting(conn)
            return
    if conn.start_seen:
        reason = (
            "the client spoke before the server's greeting"
            if side == CLIENT
            else "the server's first bytes are no greeting"
        )
        not_mysql(conn, side, frame, ts, reason, len(data) if side == CLIENT else 0)
        return
    conn.phase = Phase.UNSYNCED
    conn.mid_stream = True
    other = midstream.distinctive_protocol(conn.first_bytes[side] or b"")
    if other is not None and not _tls_start(conn, data):
        not_mysql(conn, side, frame, ts, f"the capture's first bytes are {other}", len(data), other)
        return
    _release(conn, SERVER)  # mid-stream, server bytes wait for a command to answer
    if side == CLIENT:
        feed_unsynced(conn, side, data, frame, ts)


def _client_bytes_before_greeting(conn: MySQLDecoder) -> None:
    """Client bytes held when the greeting came: what followed a PROXY header goes on to the
    login; the start of a header that never completed means the client spoke first."""
    held = conn.held[CLIENT]
    if not held:
        return
    if conn.proxy_header is None:
        _, frame, ts = held[0]
        not_mysql(conn, CLIENT, frame, ts, "the client spoke before the server's greeting")
        return
    conn.held[CLIENT] = []
    for piece, frame, ts in held:
        conn.receive_data(CLIENT, piece, frame, ts)


def _first_login_bytes(conn: MySQLDecoder, data: bytes, frame: int, ts: float) -> None:
    """The client's first bytes after the greeting: a login (or SSLRequest), unless another
    protocol's client (TLS without SSLRequest, HTTP) reached the MySQL server."""
    held = _hold(conn, CLIENT, data, frame, ts)
    had_header = conn.proxy_header is not None  # (a flag: see _before_greeting)
    if not had_header and _take_proxy_header(conn, held):
        if not conn.held[CLIENT] or conn.proxy_header is None:
            return  # (the start of) a header, nothing after it yet
        held = b"".join(piece for piece, _f, _t in conn.held[CLIENT])
    if len(held) < HEADER_SIZE + 1:
        return
    conn.awaiting_login = False
    other = midstream.distinctive_protocol(held)
    if other is not None:
        conn.held[CLIENT] = []
        conn.transport[CLIENT] = Transport.OPAQUE
        conn.opaque_bytes[CLIENT] += len(held)
        conn.emit(
            NotMySQL(
                side=CLIENT,
                frame=frame,
                ts=ts,
                protocol=other,
                reason=f"the client answered the greeting with {other}, not a MySQL login",
            )
        )
        return
    conn.transport[CLIENT] = Transport.PLAIN
    _release(conn, CLIENT)


def _take_proxy_header(conn: MySQLDecoder, held: bytes) -> bool:
    """True when the client's held bytes are a PROXY header (then taken off them and
    announced) or could still become one (then left held). False: not a header."""
    fields = proxy_header.parse(held)
    if fields is None:
        return False
    if fields == proxy_header.NEED_MORE:
        return True
    assert isinstance(fields, proxy_header.ProxyHeaderFields)
    pieces = conn.held[CLIENT]
    _, frame, ts = pieces[0]
    conn.proxy_header = fields
    conn.emit(
        ProxyHeader(
            side=CLIENT,
            frame=frame,
            ts=ts,
            version=fields.version,
            command=fields.command,
            source=fields.source,
            destination=fields.destination,
            size=fields.size,
        )
    )
    # Keep what follows the header, with the frame each remaining piece came in.
    skip, rest = fields.size, []
    for piece, frame, ts in pieces:
        if skip >= len(piece):
            skip -= len(piece)
            continue
        rest.append((piece[skip:], frame, ts))
        skip = 0
    conn.held[CLIENT] = rest
    return True


def _hold(conn: MySQLDecoder, side: int, data: bytes, frame: int, ts: float) -> bytes:
    """Keep bytes that cannot be judged yet; returns all held so far."""
    held = conn.held[side]
    held.append((data, frame, ts))
    return held[0][0] if len(held) == 1 else b"".join(piece for piece, _f, _t in held)


def _release(conn: MySQLDecoder, side: int) -> None:
    """Feed the held bytes again, now that the side's transport is decided."""
    held, conn.held[side] = conn.held[side], []
    for data, frame, ts in held:
        conn.receive_data(side, data, frame, ts)


# --- TLS without a captured SSLRequest ---------------------------------------------------


def _tls_start(conn: MySQLDecoder, data: bytes) -> bool:
    """A chunk that starts with a TLS record: application data anywhere mid-stream, any
    record type when the capture missed the connection's start (the SSLRequest too)."""
    if not tls_record_at(data):
        return False
    return data[0] == APPLICATION_DATA or (conn.mid_stream and data[0] in RECORD_TYPES)


def adopt_tls(conn: MySQLDecoder, side: int, data: bytes, frame: int, ts: float) -> None:
    if not conn.tls:
        conn.tls = True
        reason = "TLS records without a captured SSLRequest"
        conn.inferred["tls"] = reason
        if conn.mid_stream:
            announce_mid_stream(conn, frame, ts)
        conn.emit(TlsDetected(side=side, frame=frame, ts=ts, reason=reason))
    conn.phase = Phase.TLS
    if conn.transport[side] is not Transport.TLS:
        conn.transport[side] = Transport.TLS
        conn.tls_readers[side] = TlsRecordReader()
        conn.tls_resync[side] = not tls_record_at(data)
    conn.receive_data(side, data, frame, ts)


# --- mid-stream and after gaps -----------------------------------------------------------


def _find_footing(conn: MySQLDecoder, side: int, data: bytes, frame: int, ts: float) -> None:
    if side == CLIENT:
        start = _client_boundary(conn, data, frame, ts)
    else:
        start = _server_boundary(conn, data, frame, ts)
    if conn.phase is Phase.NOT_MYSQL:
        return
    if start is None:
        conn.skip(side, len(data), frame, ts)
        conn.unsynced_chunks += 1
        # A connection seen from its start had its chance at the greeting; mid-stream, the
        # capture may have begun inside a long transfer (a 16 MB query, a big result), so
        # keep looking until the end: `undecodable_at_end` settles it then.
        if (
            conn.start_seen
            and conn.unsynced_chunks >= GIVE_UP_CHUNKS
            and not any(conn.decoded_packets)
        ):
            reason = f"no MySQL packet boundary found in {conn.unsynced_chunks} segments"
            not_mysql(conn, side, frame, ts, reason)
        return
    if start:
        conn.skip(side, start, frame, ts)
        data = data[start:]
    if conn.compression is not None:
        conn.transport[side] = Transport.COMPRESSED
        if conn.compressed_framers[side] is None:
            conn.compressed_framers[side] = conn.new_compressed_framer()
    else:
        conn.transport[side] = Transport.PLAIN
    if conn.skipped[side] or conn.decoded_packets[side]:
        resynchronised(conn, side, frame, ts, "packet boundary found")
    if conn.mid_stream and side == CLIENT:
        announce_mid_stream(conn, frame, ts)
    conn.receive_data(side, data, frame, ts)


def _client_boundary(conn: MySQLDecoder, data: bytes, frame: int, ts: float) -> int | None:
    """Where a command starts in this client chunk: at its start, or (after a gap, when
    packets were decoded before) at any of the first SCAN_LIMIT offsets."""
    if conn.compression is None and conn.mid_stream and not conn.decoded_packets[CLIENT]:
        _infer_compression(conn, data, frame, ts)
    if conn.compression is not None:
        return 0 if midstream.compressed_chain(data) else None
    if not conn.decoded_packets[CLIENT]:
        return 0 if midstream.starts_with_command(data) else None
    for offset in range(min(len(data), midstream.SCAN_LIMIT)):
        if midstream.starts_with_command(data, offset, whole=offset > 0):
            return offset
    return None


def _infer_compression(conn: MySQLDecoder, data: bytes, frame: int, ts: float) -> None:
    if midstream.starts_with_command(data):
        return
    algorithm = midstream.compressed_algorithm(data)
    if algorithm is None:
        return
    conn.compression = algorithm
    conn.inferred["compression"] = f"{algorithm}, from the packet layout"
    conn.emit(
        CompressionStarted(side=CLIENT, frame=frame, ts=ts, algorithm=algorithm, inferred=True)
    )


def _server_boundary(conn: MySQLDecoder, data: bytes, frame: int, ts: float) -> int | None:
    """A server chunk is trusted only when it starts with the reply the oldest outstanding
    command awaits; replies to commands we never saw cannot be read."""
    head = exchange.awaiting_reply(conn)
    if head is None:
        return None
    if conn.compression is not None:
        return 0 if midstream.compressed_chain(data) else None
    if midstream.starts_with_reply(data, head.next_seq):
        return 0
    if not conn.decoded_packets[SERVER] and midstream.sequence_zero_chain(data):
        conn.x_protocol_hints += 1
        if conn.x_protocol_hints >= X_PROTOCOL_HINTS:
            reason = "every server message has sequence 0: the X protocol's framing"
            not_mysql(conn, SERVER, frame, ts, reason, len(data), "mysqlx (X protocol)")
    return None


def announce_mid_stream(conn: MySQLDecoder, frame: int, ts: float) -> None:
    """Say once that the handshake was missed, and what is assumed instead."""
    if conn.announced_mid_stream:
        return
    conn.announced_mid_stream = True
    conn.capabilities = conn.capabilities or ASSUMED_CAPABILITIES
    conn.inferred.setdefault("handshake", "not captured; protocol 4.1 assumed")
    conn.inferred.setdefault("deprecate_eof", "inferred from the first result set")
    conn.emit(MidStreamStart(side=CLIENT, frame=frame, ts=ts, inferred=dict(conn.inferred)))


def resynchronised(conn: MySQLDecoder, side: int, frame: int, ts: float, reason: str) -> None:
    skipped = conn.skipped[side]
    conn.skipped[side] = 0
    if skipped:
        first_frame, first_ts = conn.skipped_from[side]
        conn.emit(
            Resynchronised(
                side=side,
                frame=frame,
                ts=ts,
                skipped=skipped,
                reason=reason,
                first_frame=first_frame,
                first_ts=first_ts,
                initial=conn.mid_stream and not conn.decoded_packets[side] and not conn.gaps[side],
            )
        )


def undecodable_at_end(conn: MySQLDecoder, frame: int, ts: float) -> None:
    """The streams ended: account for every byte that never found a packet boundary.

    When nothing at all was framed and another protocol's first bytes explain the stream, it
    is not MySQL. Otherwise the bytes are reported as undecodable: the capture began inside a
    long transfer (a 16 MB query, the replies to commands sent before it began), or they are
    unknown bytes on the MySQL port."""
    if conn.phase is Phase.GREETING and conn.held[CLIENT] and conn.proxy_header is None:
        _client_bytes_before_greeting(conn)  # the start of a header, then nothing
        return
    if conn.phase is Phase.NOT_MYSQL or not any(conn.skipped):
        return
    if not any(conn.decoded_packets):
        for side in (CLIENT, SERVER):
            first = conn.first_bytes[side]
            if first and midstream.guess_protocol(first, from_client=side == CLIENT) != "unknown":
                not_mysql(conn, side, frame, ts, "its first bytes are another protocol's")
                return
    for side in (CLIENT, SERVER):
        if conn.skipped[side]:
            reason = "no MySQL packet boundary found before the end"
            if side == SERVER and conn.mid_stream and conn.decoded_packets[CLIENT]:
                reason += " (replies to commands sent before the capture began)"
            first_frame, first_ts = conn.skipped_from[side]
            conn.emit(
                Undecodable(
                    side=side,
                    frame=frame,
                    ts=ts,
                    size=conn.skipped[side],
                    reason=reason,
                    first_frame=first_frame,
                    first_ts=first_ts,
                    initial=conn.mid_stream
                    and not conn.decoded_packets[side]
                    and not conn.gaps[side]
                    and bool(conn.decoded_packets[CLIENT if side == SERVER else SERVER]),
                )
            )
            conn.skipped[side] = 0


def not_mysql(
    conn: MySQLDecoder,
    side: int,
    frame: int,
    ts: float,
    reason: str,
    extra_bytes: int = 0,
    protocol: str | None = None,
) -> None:
    """Give up on MySQL for this connection: from now on both directions are only counted.
    `extra_bytes` of the current chunk, the held and the skipped bytes count as opaque."""
    if protocol is None:
        first = conn.first_bytes[side] or b""
        protocol = midstream.guess_protocol(first, from_client=side == CLIENT)
    conn.phase = Phase.NOT_MYSQL
    conn.transport = [Transport.OPAQUE, Transport.OPAQUE]
    conn.emit(NotMySQL(side=side, frame=frame, ts=ts, protocol=protocol, reason=reason))
    conn.opaque_bytes[side] += extra_bytes
    for each in (CLIENT, SERVER):
        conn.opaque_bytes[each] += conn.skipped[each] + sum(len(d) for d, _f, _t in conn.held[each])
        conn.skipped[each] = 0
        conn.held[each] = []
