"""The analyzer's fast lane: plain command-phase exchanges read without the general readers.

Most of a busy capture is the same thing over and over: a client sends a query, a ping or a
prepared statement's prepare or execute in one packet, the server answers with an OK, an EOF,
a result set or the prepare's reply, nothing goes wrong. The general decoder (framer,
`LogicalPacket`, reader tables, `Exchange`) spends some 60 Python calls on such an exchange.
The fast lane walks the packet headers of both directions itself and emits exactly the events
the lean decoder would have emitted: the `Command` when the command is sent, the rest (the
`CommandFinished`, and a prepare's final `Eof`) when the reply is complete.

It never decides anything the general readers would decide differently. It only engages at a
checkpoint (`MySQLDecoder.lane_checkpoint`: command phase, plain transport, no outstanding
command, both framers between packets) and keeps every chunk it reads until the exchange is
complete; what the exchange changes in the decoder (packet counts, the statement table) is
applied then. At the first thing it does not handle (an unknown command, an ERR, a wrong
sequence id, a packet too large, pipelining, a cursor, a gap, the end of the streams) it gives
the decoder back those chunks, and the decoder reads them again with the general readers from
the checkpoint (dropping the second copy of the `Command` already emitted). So the general
readers stay the reference: the lane is only ever a shortcut to the events they produce, and
`tests/protocol/test_fast_lane.py` compares both, chunk by chunk, on every capture we have.

Only lean decoding (the analyzer's) uses it: with `detail` or reply events, every packet is
an event and the general readers do the work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Literal

from mysqlwire.protocol.commands import COMMANDS
from mysqlwire.protocol.constants import (
    CLIENT,
    CLIENT_OPTIONAL_RESULTSET_METADATA,
    MARIADB_CLIENT_CACHE_METADATA,
    SERVER,
    SERVER_MORE_RESULTS_EXISTS,
    SERVER_STATUS_CURSOR_EXISTS,
)
from mysqlwire.protocol.events import Command, CommandFinished, Eof
from mysqlwire.protocol.replies import parse_eof, parse_ok, plain_ok_status
from mysqlwire.protocol.statements import PreparedStatement
from mysqlwire.protocol.wire import PARSE_ERRORS, lenenc_int, uint

if TYPE_CHECKING:
    from mysqlwire.protocol.decoder import MySQLDecoder

# The commands the lane reads: their replies are an OK, an ERR (which the lane leaves to the
# general readers), an EOF, a result set or a prepare's reply, and what reading them changes
# is mirrored here (the statement table). Their arguments are read when the command is sent,
# by the command table's own readers (`commands.py`), so they are the general readers' by
# construction.
COM_QUERY: Final = 0x03
COM_PING: Final = 0x0E
COM_STMT_PREPARE: Final = 0x16
COM_STMT_EXECUTE: Final = 0x17
COM_STMT_CLOSE: Final = 0x19
COM_STMT_RESET: Final = 0x1A
COM_SET_OPTION: Final = 0x1B
LANE_COMMANDS = frozenset(
    {
        COM_QUERY,
        COM_PING,
        COM_STMT_PREPARE,
        COM_STMT_EXECUTE,
        COM_STMT_CLOSE,
        COM_STMT_RESET,
        COM_SET_OPTION,
    }
)

# The most bytes an exchange may hold in the lane before it hands the exchange back: the
# chunks are kept for that replay, so this bounds the lane's memory per connection. Larger
# replies (long result sets) are the general readers' (whose framer passes over rows in bulk).
LANE_BUFFER_MAX: Final = 1 << 15
# The largest packet the lane reads (well inside the buffer, so it can be read whole); a larger
# one goes to the general readers, which keep at most the retain limit of it and report large
# packets.
LANE_PACKET_MAX: Final = LANE_BUFFER_MAX // 2

EOF_PACKET_MAX: Final = 5
METADATA_CAPABILITIES: Final = MARIADB_CLIENT_CACHE_METADATA | CLIENT_OPTIONAL_RESULTSET_METADATA

# where the reply is (the general readers' ReplyState, for the states the lane knows; in this
# order: `state >= PREPARE_OK` is a prepare's reply)
IDLE: Final = 0
FIRST: Final = 1
COLUMNS: Final = 2
COLUMNS_EOF: Final = 3
ROWS: Final = 4
PREPARE_OK: Final = 5
DEFINITIONS: Final = 6
DEFINITIONS_EOF: Final = 7


class Chunk:
    """A chunk the lane has read, kept for the general readers' replay. A class rather than a
    tuple: compiled, its frame number and timestamp are stored unboxed."""

    __slots__ = ("data", "frame", "side", "ts")

    def __init__(self, side: int, data: bytes, frame: int, ts: float) -> None:
        self.side = side
        self.data = data
        self.frame = frame
        self.ts = ts

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return Chunk, (self.side, self.data, self.frame, self.ts)


def lane_limit(retain_limit: int, large_packet_threshold: int) -> int:
    """The largest packet the lane reads itself: not one the general readers would cap
    (`retain_limit`) or report as large."""
    return min(LANE_PACKET_MAX, retain_limit, large_packet_threshold - 1)


class FastLane:
    """One connection's lane: the exchange in progress and the chunks it has read."""

    __slots__ = (
        "announced",
        "blocks",
        "capabilities",
        "carry",
        "carry_frame",
        "carry_ts",
        "chunks",
        "code",
        "columns_left",
        "command_frame",
        "command_ts",
        "committed",
        "deprecate_eof",
        "engaged",
        "final_eof",
        "held_bytes",
        "limit",
        "next_seq",
        "prepared",
        "response_bytes",
        "response_packets",
        "rows",
        "state",
    )

    def __init__(self, limit: int) -> None:
        # (The lane keeps no reference to its decoder, which owns it: a cycle would keep
        # every closed connection alive until the garbage collector's next pass.)
        self.engaged = False
        self.limit = limit  # the largest packet read here (`lane_limit`)
        self.chunks: list[Chunk] = []
        self.held_bytes = 0
        # The bytes of a packet not complete yet, and the frame and time where it began. Only
        # one side can have one: the client's command before the reply begins (state IDLE),
        # or a server packet after it (any other state); bytes from the other side then are
        # something the lane gives up on, before it reads them.
        self.carry = b""
        self.carry_frame = 0
        self.carry_ts = 0.0
        self.capabilities = 0
        self.deprecate_eof = False
        self.committed = 0  # exchanges read here (for tests and measurements)
        self._idle()

    def __reduce__(self) -> tuple[type, tuple[object, ...], object]:
        return FastLane, (self.limit,), self.__getstate__()

    def _idle(self) -> None:
        self.state = IDLE
        self.code = 0
        self.command_frame = 0
        self.command_ts = 0.0
        self.announced: Command | None = None
        self.prepared: tuple[int, int, int] | None = None  # (statement id, params, columns)
        self.blocks: tuple[int, ...] = ()  # definition blocks of a prepare still to come
        self.final_eof: Eof | None = None  # the event of the EOF that ends a prepare's reply
        self.next_seq = 0
        self.columns_left = 0
        self.rows = 0
        self.response_bytes = 0
        self.response_packets = 0

    # --- the decoder's side ------------------------------------------------------------

    def engage(self, decoder: MySQLDecoder) -> None:
        """The decoder is at a checkpoint: read what comes next here."""
        self.engaged = True
        self.capabilities = decoder.capabilities
        self.deprecate_eof = bool(decoder.deprecate_eof)

    def disengage(self) -> tuple[list[Chunk], Command | None]:
        """Hand back every chunk read since the checkpoint, for the general readers, and the
        command event already emitted for them (their replay emits it again, first)."""
        chunks = self.chunks
        announced = self.announced
        self.engaged = False
        self.chunks = []
        self.held_bytes = 0
        self.carry = b""
        self._idle()
        return chunks, announced

    def feed(self, decoder: MySQLDecoder, side: int, data: bytes, frame: int, ts: float) -> bool:
        """Read a chunk. False: the lane cannot follow; the caller takes the chunks back."""
        self.chunks.append(Chunk(side, data, frame, ts))
        self.held_bytes += len(data)
        if self.held_bytes > LANE_BUFFER_MAX:
            return False
        carry = self.carry
        if carry:
            data = carry + data
            frame_at = self.carry_frame
            ts_at = self.carry_ts
            self.carry = b""
        else:
            frame_at, ts_at = frame, ts
        if side == CLIENT:
            return self._command(decoder, data, frame_at, ts_at)
        return self._reply(decoder, data, frame, ts, frame_at, ts_at)

    # --- reading -----------------------------------------------------------------------

    def _command(self, decoder: MySQLDecoder, buf: bytes, frame: int, ts: float) -> bool:
        """The client's bytes: one whole command the lane knows, and nothing after it."""
        if self.state != IDLE:
            return False  # the client speaks during a reply: pipelining, or data it awaits
        n = len(buf)
        if n < 4 or n < 4 + (length := buf[0] | (buf[1] << 8) | (buf[2] << 16)):
            if n >= 4 and not 0 < length <= self.limit:
                return False
            self.carry = buf
            self.carry_frame = frame
            self.carry_ts = ts
            return True
        if n != 4 + length or buf[3] != 0 or not 0 < length <= self.limit:
            return False
        code = buf[4]
        if code not in LANE_COMMANDS:
            return False
        self.code = code
        self.command_frame = frame
        self.command_ts = ts
        # emitted now, as the general readers do, so a consumer sees a long query as it runs
        command = self._emit_command(decoder, buf[4:])
        if command is None:
            return False  # arguments that do not parse: the general readers report them
        if code == COM_STMT_CLOSE:  # no reply: the exchange is over with its command
            if command.statement_id is not None:
                decoder.statements.close(command.statement_id)
            self._done()
            return True
        self.announced = command
        self.state = PREPARE_OK if code == COM_STMT_PREPARE else FIRST
        self.next_seq = 1
        return True

    def _reply(
        self, decoder: MySQLDecoder, buf: bytes, frame: int, ts: float, frame_at: int, ts_at: float
    ) -> bool:
        """The server's bytes: packets of the reply, which must end with the last of them.
        (The counters live in locals inside the loop and go back to the lane when it stops
        reading; after a False nothing of the lane's state matters.)"""
        state = self.state
        if state == IDLE:
            return False  # nothing outstanding: an idle-timeout ERR, or noise
        n = len(buf)
        pos = 0
        limit = self.limit
        seq = self.next_seq
        rows = self.rows
        size = self.response_bytes
        packets = self.response_packets
        while pos < n:
            if pos:
                frame_at, ts_at = frame, ts  # a packet that began in this chunk
            body = pos + 4
            if body > n:
                break
            length = buf[pos] | (buf[pos + 1] << 8) | (buf[pos + 2] << 16)
            if buf[pos + 3] != seq or length > limit:
                return False
            end = body + length
            if end > n:
                break
            seq = (seq + 1) & 0xFF
            size += length
            packets += 1
            first = buf[body] if length else -1
            if state == ROWS:
                if first != 0xFE:
                    if first == 0xFF:
                        return False
                    rows += 1
                    pos = end
                    continue
                outcome = self._rows_end(buf[body:end], length)
            elif state == COLUMNS:
                if first == 0xFF:
                    return False
                self.columns_left -= 1
                if self.columns_left <= 0:
                    state = ROWS if self.deprecate_eof else COLUMNS_EOF
                pos = end
                continue
            elif state == FIRST:
                outcome = self._first(buf[body:end], first, length)
            elif state >= PREPARE_OK:
                outcome = self._prepare_reply(
                    state, buf[body:end], first, length, (seq - 1) & 0xFF, frame_at, ts_at
                )
            else:  # COLUMNS_EOF
                if first != 0xFE or length > EOF_PACKET_MAX:
                    return False
                if self.code == COM_STMT_EXECUTE and self._cursor(parse_eof(buf[body:end])[1]):
                    return False
                state = ROWS
                pos = end
                continue
            if outcome is None:  # another result set follows, or its columns begin
                state = self.state
                pos = end
                continue
            if outcome is False or end != n:
                return False  # not the lane's, or bytes follow the end of the reply
            self.rows, self.response_bytes, self.response_packets = rows, size, packets
            return self._commit(decoder, outcome, frame_at, ts_at)
        self.state = state
        self.next_seq = seq
        self.rows, self.response_bytes, self.response_packets = rows, size, packets
        if pos < n:  # a packet that goes on in the next chunk
            self.carry = buf[pos:]
            self.carry_frame = frame_at
            self.carry_ts = ts_at
        return True

    def _first(self, payload: bytes, first: int, length: int) -> str | Literal[False] | None:
        """The reply's first packet (or the first of the next result set). Returns how the
        reply ended, None while it goes on, False for what the lane leaves alone."""
        try:
            if first == 0x00 or (first == 0xFE and length > EOF_PACKET_MAX):
                return self._ok(payload)
            if first == 0xFE:
                parse_eof(payload)
                return "eof"
            if first == 0xFF or first == 0xFB or first < 0:
                return False  # an ERR, a LOCAL INFILE request, an empty packet
            count, pos = lenenc_int(payload, 0)
        except PARSE_ERRORS:
            return False
        metadata = True
        if self.capabilities & METADATA_CAPABILITIES and pos < len(payload):
            metadata = payload[pos] == 1
        if metadata and count:
            self.columns_left = count
            self.state = COLUMNS
        else:
            self.state = ROWS if self.deprecate_eof else COLUMNS_EOF
        return None

    def _ok(self, payload: bytes) -> str | Literal[False] | None:
        status = plain_ok_status(payload, self.capabilities)
        if status < 0:
            fields = parse_ok(payload, self.capabilities)
            if any(kind == "schema" for kind, _ in fields.session_state):
                return False  # the general readers keep track of the schema
            status = fields.status
        if status & SERVER_MORE_RESULTS_EXISTS:
            self.state = FIRST
            return None
        return "ok"

    def _rows_end(self, payload: bytes, length: int) -> str | Literal[False] | None:
        try:
            if length > EOF_PACKET_MAX:
                status = plain_ok_status(payload, self.capabilities)
                if status < 0:
                    status = parse_ok(payload, self.capabilities).status
            else:
                status = parse_eof(payload)[1]
        except PARSE_ERRORS:
            return False
        if self.code == COM_STMT_EXECUTE and self._cursor(status):
            return False
        if status & SERVER_MORE_RESULTS_EXISTS:
            self.state = FIRST
            return None
        return "result_set"

    def _prepare_reply(
        self, state: int, payload: bytes, first: int, length: int, seq: int, frame: int, ts: float
    ) -> str | Literal[False] | None:
        """COM_STMT_PREPARE_OK, then the parameter and the column definitions, each block
        ended by an EOF unless DEPRECATE_EOF (as `reply_states._read_prepare_*` read them)."""
        if state == PREPARE_OK:
            if first != 0x00:
                return False  # an ERR, or not a prepare's reply
            try:
                statement_id = uint(payload, 1, 4)[0]
                columns = uint(payload, 5, 2)[0]
                params = uint(payload, 7, 2)[0]
            except PARSE_ERRORS:
                return False
            metadata = True
            if self.capabilities & CLIENT_OPTIONAL_RESULTSET_METADATA and length > 12:
                metadata = payload[12] == 1
            self.prepared = (statement_id, params, columns)
            self.blocks = tuple(n for n in (params, columns) if n) if metadata else ()
            return self._next_block()
        if state == DEFINITIONS:
            if first == 0xFF:
                return False
            self.columns_left -= 1
            if self.columns_left > 0:
                return None
            if self.deprecate_eof:
                return self._next_block()
            self.state = DEFINITIONS_EOF
            return None
        # DEFINITIONS_EOF
        if first != 0xFE or length > EOF_PACKET_MAX:
            return False  # (the general readers infer things from that; not the lane's)
        if not self.blocks:  # the EOF that ends the reply: an event even in lean decoding
            warnings, status = parse_eof(payload)
            self.final_eof = Eof(
                side=SERVER,
                frame=frame,
                ts=ts,
                seq=seq,
                size=length,
                wire_packets=1,
                warnings=warnings,
                status=status,
                reply_to=COMMANDS[COM_STMT_PREPARE].name,
            )
        return self._next_block()

    def _next_block(self) -> str | None:
        if self.blocks:
            self.columns_left, *rest = self.blocks
            self.blocks = tuple(rest)
            self.state = DEFINITIONS
            return None
        return "ok"

    @staticmethod
    def _cursor(status: int) -> bool:
        """An execute that opened a cursor: its rows come with COM_STMT_FETCH (the general
        readers end the exchange as "cursor_opened")."""
        return bool(status & SERVER_STATUS_CURSOR_EXISTS)

    def _emit_command(self, decoder: MySQLDecoder, payload: bytes) -> Command | None:
        """The command's event, its arguments read by the command table's reader (None: they
        do not parse, which the general readers report)."""
        code = self.code
        spec = COMMANDS[code]
        try:
            arguments = spec.read_arguments(payload, decoder)
        except PARSE_ERRORS:
            return None
        frame = self.command_frame
        ts = self.command_ts
        command = Command(
            side=CLIENT,
            frame=frame,
            ts=ts,
            seq=0,
            size=len(payload),
            wire_packets=1,
            code=code,
            name=spec.name,
            query=arguments.query,
            statement_id=arguments.statement_id,
            arguments=arguments.arguments or {},
        )
        decoder.emit(command)
        decoder.decoded_packets[CLIENT] += 1
        return command

    def _commit(self, decoder: MySQLDecoder, outcome: str, frame: int, ts: float) -> bool:
        """The exchange ended cleanly with the packet that began in `frame`: emit what the
        general readers would have at that point, and start again from this new checkpoint."""
        command_frame = self.command_frame
        command_ts = self.command_ts
        if self.prepared is not None:
            statement_id, params, columns = self.prepared
            decoder.statements.add(PreparedStatement(statement_id, None, params, columns))
            if self.final_eof is not None:
                decoder.emit(self.final_eof)
        decoder.emit(
            CommandFinished(
                side=SERVER,
                frame=frame,
                ts=ts,
                command=COMMANDS[self.code].name,
                code=self.code,
                started_frame=command_frame,
                started_ts=command_ts,
                latency=max(0.0, ts - command_ts),
                outcome=outcome,
                error_code=None,
                rows=self.rows,
                response_bytes=self.response_bytes,
                response_packets=self.response_packets,
            )
        )
        decoder.decoded_packets[SERVER] += self.response_packets
        self._done()
        return True

    def _done(self) -> None:
        self.committed += 1
        self.chunks.clear()  # (never handed out: `disengage` gives its own list away)
        self.held_bytes = 0
        self._idle()
