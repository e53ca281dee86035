"""The sans-I/O MySQL connection decoder: bytes of both directions in, typed events out.

    decoder = MySQLDecoder()
    decoder.receive_data(CLIENT, b"...", frame=12, ts=1700000000.25)
    for event in decoder.events(): ...

It knows nothing of pcaps or sockets. The caller feeds each direction's bytes in the order they
were captured (plus gaps and the end of the streams), and pulls events. All protocol state is
here: the phase of the conversation, the transport each side speaks (plain packets, compressed
packets, TLS records, or not yet synchronised), the outstanding commands and the negotiated
capabilities. What each packet means is decided by the reader that `READERS[(side, phase)]`
names: `connection_phase.py` for the handshake and authentication, `command_phase.py` for
commands, which hands each reply packet to `reply_states.py`.

Nothing raises out of the decoder: a packet that does not parse becomes a `MalformedPacket`
event, bytes that do not frame are skipped until a plausible packet boundary (`synchronise.py`
finds it, also mid-stream and after a capture gap), and the conversation carries on. A gap
that falls inside the packet in progress costs its bytes, not the framing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from mysqlwire.protocol import command_phase, connection_phase, exchange, midstream, synchronise
from mysqlwire.protocol.compression import (
    CompressedFramer,
    CompressedHeader,
    DecompressionFailed,
)
from mysqlwire.protocol.constants import (
    CLIENT,
    CLIENT_COMPRESS,
    CLIENT_DEPRECATE_EOF,
    CLIENT_ZSTD_COMPRESSION_ALGORITHM,
    MAX_PAYLOAD,
    SERVER,
)
from mysqlwire.protocol.events import (
    CompressionStarted,
    Event,
    Evidence,
    IncompletePacket,
    LargePacket,
    MalformedPacket,
    PacketEvent,
    PayloadCapped,
    SequenceError,
    StreamGap,
    TlsAlert,
    TlsRecord,
    TlsVersion,
)
from mysqlwire.protocol.exchange import Exchange
from mysqlwire.protocol.fast_lane import Chunk, FastLane, lane_limit
from mysqlwire.protocol.framing import DEFAULT_RETAIN_LIMIT, LogicalPacket, PacketFramer
from mysqlwire.protocol.phases import Phase, Transport
from mysqlwire.protocol.proxy_header import ProxyHeaderFields
from mysqlwire.protocol.statements import StatementTable
from mysqlwire.protocol.tls import (
    ALERT,
    HANDSHAKE,
    TlsRecordInfo,
    TlsRecordReader,
    plausible_record_header,
)
from mysqlwire.protocol.tls import server_hello_version as _server_hello_version
from mysqlwire.protocol.wire import PARSE_ERRORS

NEED_DATA = object()

Reader = Callable[["MySQLDecoder", int, LogicalPacket], None]

READERS: dict[tuple[int, Phase], Reader] = {
    (SERVER, Phase.GREETING): connection_phase.read_greeting,
    (CLIENT, Phase.GREETING): connection_phase.read_unexpected,
    (CLIENT, Phase.LOGIN): connection_phase.read_login,
    (SERVER, Phase.LOGIN): connection_phase.read_server_auth,
    (SERVER, Phase.AUTH): connection_phase.read_server_auth,
    (CLIENT, Phase.AUTH): connection_phase.read_client_auth,
    (CLIENT, Phase.COMMAND): command_phase.read_client_packet,
    (SERVER, Phase.COMMAND): command_phase.read_server_packet,
    (CLIENT, Phase.ENDED): connection_phase.read_unexpected,
    (SERVER, Phase.ENDED): connection_phase.read_unexpected,
    (CLIENT, Phase.UNSYNCED): command_phase.read_client_packet,
    (SERVER, Phase.UNSYNCED): connection_phase.read_unexpected,
    # A side still framing packets when the other turned out to be TLS or not MySQL at all:
    (CLIENT, Phase.TLS): connection_phase.read_unexpected,
    (SERVER, Phase.TLS): connection_phase.read_unexpected,
    (CLIENT, Phase.NOT_MYSQL): connection_phase.read_unexpected,
    (SERVER, Phase.NOT_MYSQL): connection_phase.read_unexpected,
}

# The same table by phase, for the per-packet lookup (no tuple to build): [client, server].
READERS_BY_PHASE: dict[Phase, tuple[Reader, Reader]] = {
    phase: (READERS[(CLIENT, phase)], READERS[(SERVER, phase)])
    for phase in Phase
    if (CLIENT, phase) in READERS and (SERVER, phase) in READERS
}


class MySQLDecoder:
    """Decodes one MySQL connection. See the module docstring for the contract."""

    # One object per connection: slots keep the per-connection footprint small.
    __slots__ = (
        "_framers",
        "_spare",
        "_taken",
        "announced_mid_stream",
        "awaiting_login",
        "capabilities",
        "client_capabilities",
        "compressed_framers",
        "compressed_next",
        "compression",
        "database",
        "decoded_packets",
        "deprecate_eof",
        "detail",
        "exchanges",
        "fast_lane",
        "first_bytes",
        "gaps",
        "held",
        "inferred",
        "keep_text",
        "large_packet_threshold",
        "last_tls_record",
        "login",
        "mid_stream",
        "opaque_bytes",
        "pending",
        "phase",
        "proxy_header",
        "quit_sent",
        "replies",
        "retain_limit",
        "server_capabilities",
        "server_version",
        "skipped",
        "skipped_from",
        "start_seen",
        "statements",
        "thread_id",
        "tls",
        "tls_readers",
        "tls_records",
        "tls_resync",
        "tls_version",
        "transport",
        "unsynced_chunks",
        "user",
        "x_protocol_hints",
    )

    def __init__(
        self,
        *,
        detail: bool = False,
        start_seen: bool = True,
        retain_limit: int = DEFAULT_RETAIN_LIMIT,
        lean: bool = False,
        large_packet_threshold: int = MAX_PAYLOAD,
        fast_lane: bool = True,
    ) -> None:
        """`detail`: emit one event per logical packet, rows included (for `dump`).
        `start_seen`: the caller saw the connection open (TCP SYN), so the first bytes must be
        the server's greeting; otherwise the decoder looks for its footing mid-stream.
        `retain_limit`: payload bytes held per packet; larger packets are counted, not kept.
        `lean`: leave out the events that only describe successful replies (Ok, Eof,
        ResultSetEnd, StmtPrepareOk, TextReply, Progress to a command): `CommandFinished` still
        closes every exchange. This is the analyzer's mode; it has fewer objects to build.
        `large_packet_threshold`: packets of this size or more get a `LargePacket` event.
        `fast_lane`: in lean mode, read plain exchanges with the fast lane (`fast_lane.py`);
        False leaves every packet to the general readers, the lane's reference."""
        self.detail = detail
        self.replies = detail or not lean  # emit the events that describe each reply
        self.keep_text = self.replies  # decode SQL text (commands.ArgumentContext)
        self.large_packet_threshold = large_packet_threshold
        self.start_seen = start_seen
        self.retain_limit = retain_limit
        self.phase = Phase.GREETING
        self.transport = [Transport.UNSYNCED, Transport.UNSYNCED]
        self._framers = [PacketFramer(retain_limit), PacketFramer(retain_limit)]
        self.compressed_framers: list[CompressedFramer | None] = [None, None]
        self.tls_readers: list[TlsRecordReader | None] = [None, None]
        self.tls_resync = [False, False]
        self.pending: list[Event] = []  # events not yet taken (from `_taken` on)
        self._taken = 0  # events of `pending` already handed out by next_event
        self._spare: list[Event] = []  # the list `drain_events` handed out last time
        # negotiated state
        self.server_capabilities = 0
        self.client_capabilities = 0
        self.capabilities = 0
        self.deprecate_eof: bool | None = None  # None: not known, inferred from the traffic
        self.server_version: str | None = None
        self.thread_id: int | None = None
        self.user: str | None = None
        self.database: str | None = None
        self.tls = False
        self.tls_version: str | None = None
        self.compression: str | None = None
        self.quit_sent = False
        self.mid_stream = False
        self.inferred: dict[str, object] = {}
        self.statements = StatementTable()
        self.login = Exchange.for_login()
        self.exchanges: list[Exchange] = []  # oldest first; rarely more than one
        self.compressed_next = 0  # the compressed sequence id the next packet should carry
        # bookkeeping for synchronisation and the "not MySQL" decision (synchronise.py)
        self.unsynced_chunks = 0
        self.skipped = [0, 0]
        # (frame, ts) of the first byte counted in `skipped`: the evidence for the finding
        self.skipped_from: list[tuple[int, float]] = [(0, 0.0), (0, 0.0)]
        self.first_bytes: list[bytes | None] = [None, None]
        self.held: list[list[tuple[bytes, int, float]]] = [[], []]
        self.awaiting_login = False
        self.proxy_header: ProxyHeaderFields | None = None  # a balancer's, before the login
        self.announced_mid_stream = False
        self.x_protocol_hints = 0
        self.decoded_packets = [0, 0]
        self.gaps = [0, 0]  # capture gaps each side has had
        self.opaque_bytes = [0, 0]
        self.tls_records = [0, 0]
        self.last_tls_record: list[tuple[int, int, int, float] | None] = [None, None]
        # plain exchanges read without the general readers (lean decoding only)
        self.fast_lane = (
            FastLane(lane_limit(retain_limit, large_packet_threshold))
            if fast_lane and not self.replies
            else None
        )

    # --- the public interface --------------------------------------------------------

    def receive_data(self, side: int, data: bytes, frame: int, ts: float) -> None:
        """Feed bytes one side sent, in capture order."""
        if not data:
            return
        lane = self.fast_lane
        if lane is not None and lane.engaged:
            if not lane.feed(self, side, data, frame, ts):
                self._leave_lane(lane)
            return
        self._receive(side, data, frame, ts)

    def _receive(self, side: int, data: bytes, frame: int, ts: float) -> None:
        """The general readers' way in (the fast lane is not engaged)."""
        transport = self.transport[side]
        if transport is Transport.PLAIN:
            self._framers[side].receive(data, frame, ts)
            self._drain_plain(side)
            lane = self.fast_lane
            if lane is not None and self.phase is Phase.COMMAND and self.lane_checkpoint():
                lane.engage(self)
        elif transport is Transport.UNSYNCED:
            self._feed_unsynced(side, data, frame, ts)
        elif transport is Transport.COMPRESSED:
            self._feed_compressed(side, data, frame, ts)
        elif transport is Transport.TLS:
            self._feed_tls(side, data, frame, ts)
        else:
            self.opaque_bytes[side] += len(data)

    def receive_gap(
        self,
        side: int,
        size: int,
        frame: int,
        ts: float,
        stream_offset: int = 0,
        size_known: bool = True,
    ) -> None:
        """Bytes of `side` are missing. Decoding resumes at the next recognisable boundary."""
        self._flush_lane()
        self.gaps[side] += 1
        self.emit(
            StreamGap(
                side=side,
                frame=frame,
                ts=ts,
                size=size,
                stream_offset=stream_offset,
                size_known=size_known,
            )
        )
        transport = self.transport[side]
        if transport is Transport.OPAQUE:
            return
        if size_known and size > 0 and self._hole_inside(side, size, frame, ts):
            return
        if transport is Transport.TLS:
            tls = self.tls_readers[side]
            if tls is not None:
                tls.reset()
            self.tls_resync[side] = True
            return
        if self.phase is Phase.GREETING and side == SERVER and stream_offset == 0 and size_known:
            self._greeting_lost(frame, ts)
            return
        self._report_incomplete(side, frame, ts, reset=True)
        if self.phase is Phase.NOT_MYSQL:
            return
        # Whatever was outstanding can no longer be followed: the replies may have been in
        # the hole. Wait for the next command to anchor again.
        exchange.abandon_all(self, frame, ts, outcome="gap")
        for each in (CLIENT, SERVER):
            for data, held_frame, held_ts in self.held[each]:
                self.skip(each, len(data), held_frame, held_ts)
            self.held[each] = []
        self.awaiting_login = False
        if not self.capabilities:
            self.mid_stream = True  # the login was lost: what it negotiated must be guessed
        for each in (CLIENT, SERVER):
            if self.transport[each] in (Transport.PLAIN, Transport.COMPRESSED):
                self.transport[each] = Transport.UNSYNCED
                self._framers[each].reset()
                if self.compressed_framers[each] is not None:
                    self.compressed_framers[each] = self.new_compressed_framer()
        if self.phase is not Phase.ENDED:
            self.phase = Phase.UNSYNCED

    def receive_eof(self, frame: int, ts: float) -> None:
        """Both streams ended (connection closed or capture over): report what was left open."""
        self._flush_lane()
        for side in (CLIENT, SERVER):
            self._report_incomplete(side, frame, ts, reset=False)
        synchronise.undecodable_at_end(self, frame, ts)
        exchange.abandon_all(self, frame, ts, outcome="no_reply")

    def next_event(self) -> Event | object:
        """The next event, or NEED_DATA when everything fed so far has been decoded. Reads
        through the pending list with a cursor (popping its front would copy the rest each
        time); the list is dropped once read to its end."""
        pending = self.pending
        if self._taken >= len(pending):
            return NEED_DATA
        event = pending[self._taken]
        self._taken += 1
        if self._taken == len(pending):
            self.pending, self._taken = [], 0
        return event

    def events(self) -> list[Event]:
        """Every pending event not yet taken, in order."""
        out = self.pending[self._taken :] if self._taken else self.pending
        self.pending, self._taken = [], 0
        return out

    def drain_events(self) -> list[Event]:
        """`events()` for a caller done with the list before its next call (the analysis):
        the decoder takes the list back then and reuses it, instead of making one for every
        batch of events, two per exchange."""
        if self._taken:
            return self.events()
        out = self.pending
        spare = self._spare
        spare.clear()
        self.pending = spare
        self._spare = out
        return out

    # --- the fast lane ----------------------------------------------------------------

    def lane_checkpoint(self) -> bool:
        """Nothing is in progress that the fast lane would have to know: no outstanding
        command, both sides plain and between packets, nothing left to infer."""
        transport = self.transport
        return (
            not self.exchanges
            and not self.quit_sent
            and transport[CLIENT] is Transport.PLAIN
            and transport[SERVER] is Transport.PLAIN
            and self.deprecate_eof is not None
            and (not self.mid_stream or "query_attributes" in self.inferred)
            and self._framers[CLIENT].idle
            and self._framers[SERVER].idle
        )

    def _flush_lane(self) -> None:
        """Before a gap or the end: everything the lane holds goes to the general readers,
        and the lane stays out until the next checkpoint they reach."""
        lane = self.fast_lane
        while lane is not None and lane.engaged:
            if lane.chunks:
                self._leave_lane(lane)  # (may end engaged again, holding chunks)
            else:
                lane.disengage()

    def _leave_lane(self, lane: FastLane) -> None:
        """The lane cannot follow: read its chunks again with the general readers, from the
        checkpoint where it engaged. The lane may engage again at a later checkpoint among
        them and give up again: its chunks then go back to the front of the queue (a loop,
        not recursion, so no input can nest replays deeply). The command a lane already
        emitted is the first event their replay emits: that copy is dropped, so each event
        is seen once."""
        queue: deque[Chunk] = deque()

        def take_back() -> tuple[int, Event] | None:
            chunks, announced = lane.disengage()
            queue.extendleft(reversed(chunks))
            if announced is None:
                return None
            self.decoded_packets[CLIENT] -= 1  # counted again by the replay
            return len(self.pending), announced

        duplicate = take_back()
        while queue:
            chunk = queue.popleft()
            side, data, frame, ts = chunk.side, chunk.data, chunk.frame, chunk.ts
            if lane.engaged:
                if not lane.feed(self, side, data, frame, ts):
                    duplicate = take_back()
                continue
            self._receive(side, data, frame, ts)
            if duplicate is not None and len(self.pending) > duplicate[0]:
                at, announced = duplicate
                if self.pending[at] == announced:
                    del self.pending[at]
                duplicate = None

    # --- used by the readers ---------------------------------------------------------

    def emit(self, event: Event) -> None:
        self.pending.append(event)

    def evidence(self, side: int, packet: LogicalPacket) -> Evidence:
        """The fields every PacketEvent takes from its packet, for `Event(**evidence, ...)`."""
        return {
            "side": side,
            "frame": packet.frame,
            "ts": packet.ts,
            "seq": packet.seq,
            "size": packet.size,
            "wire_packets": packet.wire_packets,
        }

    def check_seq(
        self, side: int, packet: LogicalPacket, expected: int, tolerated: int | None = None
    ) -> bool:
        """Report a sequence id other than `expected` (or `tolerated`: the id the sequence
        would have reached had an earlier wrong packet been right, so one bad packet is not
        reported again for everything after it). Compressed streams are exempt: clients do
        not hold the inner sequence to the rule there. True when an error was reported."""
        if self.transport[side] is Transport.COMPRESSED:
            return False
        if packet.seq != expected and packet.seq != tolerated:
            self._sequence_error(side, packet.frame, packet.ts, expected, packet.seq)
            return True
        if packet.seq_break is not None:  # between the wire packets of a split packet
            self._sequence_error(side, packet.end_frame, packet.end_ts, *packet.seq_break)
            return True
        return False

    def _sequence_error(
        self, side: int, frame: int, ts: float, expected: int, got: int, compressed: bool = False
    ) -> None:
        self.emit(
            SequenceError(
                side=side,
                frame=frame,
                ts=ts,
                expected=expected,
                got=got,
                compressed=compressed,
                driver_error=driver_error(side, expected, got),
            )
        )

    def set_capabilities(self, client: int) -> None:
        self.client_capabilities = client
        self.capabilities = (
            client & self.server_capabilities if self.server_capabilities else client
        )
        self.deprecate_eof = bool(self.capabilities & CLIENT_DEPRECATE_EOF)

    def start_tls(self) -> None:
        """After SSLRequest both sides speak TLS, from the next byte on."""
        self.tls = True
        self.phase = Phase.TLS
        for side in (CLIENT, SERVER):
            self._switch(side, Transport.TLS)

    def start_compression(self, frame: int, ts: float, inferred: bool = False) -> None:
        """After the authentication OK, when both peers set CLIENT_COMPRESS."""
        zstd = self.capabilities & CLIENT_ZSTD_COMPRESSION_ALGORITHM
        self.compression = "zstd" if zstd and not self.capabilities & CLIENT_COMPRESS else "zlib"
        self.emit(
            CompressionStarted(
                side=SERVER,
                frame=frame,
                ts=ts,
                algorithm=self.compression,
                inferred=inferred,
            )
        )
        for side in (CLIENT, SERVER):
            self._switch(side, Transport.COMPRESSED)

    def new_compressed_framer(self) -> CompressedFramer:
        return CompressedFramer(PacketFramer(self.retain_limit))

    def compression_negotiated(self) -> bool:
        return bool(self.capabilities & (CLIENT_COMPRESS | CLIENT_ZSTD_COMPRESSION_ALGORITHM))

    # --- transports --------------------------------------------------------------------

    def _switch(self, side: int, transport: Transport) -> None:
        old = self.transport[side]
        self.transport[side] = transport
        if transport is Transport.TLS:
            self.tls_readers[side] = TlsRecordReader()
        elif transport is Transport.COMPRESSED:
            self.compressed_framers[side] = self.new_compressed_framer()
        if old is Transport.PLAIN:
            rest, frame, ts = self._framers[side].take_unconsumed()
            if rest:
                self.receive_data(side, rest, frame, ts)

    def packet_framer(self, side: int) -> PacketFramer | None:
        """The framer cutting `side`'s MySQL packets now (inside compression if it is on)."""
        transport = self.transport[side]
        if transport is Transport.PLAIN:
            return self._framers[side]
        if transport is Transport.COMPRESSED:
            compressed = self.compressed_framers[side]
            return compressed.inner if compressed is not None else None
        return None

    def _drain_plain(self, side: int) -> None:
        framer = self._framers[side]
        transport = self.transport
        while True:
            packet = framer.next_packet()
            if packet is None:
                return
            self._dispatch(side, packet)
            if transport[side] is not Transport.PLAIN:
                return  # the rest of the bytes went to the new transport

    def skip(self, side: int, size: int, frame: int, ts: float) -> None:
        """`size` bytes of `side` from `frame` cannot be framed: count them."""
        if size <= 0:
            return
        if not self.skipped[side]:
            self.skipped_from[side] = (frame, ts)
        self.skipped[side] += size

    def _greeting_lost(self, frame: int, ts: float) -> None:
        """The capture lost the server's first bytes, the greeting: the client's next packet
        is still its login, sequence 1 (what it negotiates then comes from the client's
        capabilities alone). Without this the login would be taken for a client speaking
        first, and the connection for another protocol."""
        self.transport[SERVER] = Transport.PLAIN
        self.awaiting_login = True
        login = self.login
        login.frame, login.ts, login.next_seq = frame, ts, 1
        self.phase = Phase.LOGIN

    def _hole_inside(self, side: int, size: int, frame: int, ts: float) -> bool:
        """A gap that lies inside the packet or TLS record in progress (what a snapshot length
        does to every long segment) loses bytes but no boundary: count it and go on."""
        transport = self.transport[side]
        if transport is Transport.PLAIN:
            if self._framers[side].skip(size, frame, ts):
                self._drain_plain(side)
                return True
        elif transport is Transport.TLS:
            reader = self.tls_readers[side]
            return reader is not None and not self.tls_resync[side] and reader.skip(size)
        return False

    def _feed_compressed(self, side: int, data: bytes, frame: int, ts: float) -> None:
        framer = self.compressed_framers[side]
        assert framer is not None
        framer.receive(data, frame, ts)
        while True:
            item = framer.next_item()
            if item is None:
                return
            if type(item) is LogicalPacket:
                self._dispatch(side, item)
            elif type(item) is CompressedHeader:
                self._check_compressed_seq(side, item)
            elif type(item) is DecompressionFailed:
                self.emit(
                    MalformedPacket(
                        side=side,
                        frame=item.frame,
                        ts=item.ts,
                        seq=0,
                        size=0,
                        reason=f"compressed payload: {item.reason}",
                    )
                )
            if self.transport[side] is not Transport.COMPRESSED:
                return

    def _check_compressed_seq(self, side: int, header: CompressedHeader) -> None:
        """Each exchange has its own compressed sequence, as it has its own plain one: a
        command's first compressed packet has 0 and all that follows in the exchange (the rest
        of the command, the reply, LOCAL INFILE data, authentication steps) counts on from
        there. So pipelined commands each start again at 0, and so does a server packet nobody
        asked for (the idle-timeout ERR 4031, sent after the server reset its counters)."""
        framer = self.compressed_framers[side]
        in_packet = framer is not None and not framer.inner.at_boundary
        head = self.exchanges[0] if self.exchanges else None
        owner = None
        if side == CLIENT and not exchange.client_turn(self):
            expected = self.compressed_next if in_packet else 0  # (the rest of) a command
        elif head is not None:
            expected, owner = head.compressed_next, head
        else:
            expected = self.compressed_next if in_packet else 0
        if header.seq != expected:
            self._sequence_error(side, header.frame, header.ts, expected, header.seq, True)
        self.compressed_next = (header.seq + 1) & 0xFF
        if owner is not None:
            owner.compressed_next = self.compressed_next

    def _feed_tls(self, side: int, data: bytes, frame: int, ts: float) -> None:
        reader = self.tls_readers[side]
        assert reader is not None
        if self.tls_resync[side]:
            start = next(
                (
                    i
                    for i in range(min(len(data), midstream.SCAN_LIMIT))
                    if plausible_record_header(data, i)
                ),
                None,
            )
            if start is None:
                self.skip(side, len(data), frame, ts)
                return
            self.tls_resync[side] = False
            self.skip(side, start, frame, ts)
            synchronise.resynchronised(self, side, frame, ts, "TLS record boundary found")
            data = data[start:]
        for record in reader.receive(data, frame, ts):
            self._tls_record(side, record)

    def _tls_record(self, side: int, record: TlsRecordInfo) -> None:
        """Count a record; read the version from the ServerHello, show alerts."""
        frame, ts = record.frame, record.ts
        self.tls_records[side] += 1
        self.last_tls_record[side] = (record.content_type, record.length, frame, ts)
        if self.detail:
            self.emit(
                TlsRecord(
                    side=side,
                    frame=frame,
                    ts=ts,
                    content_type=record.content_type,
                    length=record.length,
                )
            )
        if record.encrypted:
            if record.content_type == ALERT:
                self.emit(TlsAlert(side=side, frame=frame, ts=ts, encrypted=True))
            return
        if record.content_type == HANDSHAKE and side == SERVER and self.tls_version is None:
            version = _server_hello_version(record.head)
            if version is not None:
                self.tls_version = version
                self.emit(TlsVersion(side=side, frame=frame, ts=ts, version=version))
        elif record.content_type == ALERT and len(record.head) >= 2:
            self.emit(
                TlsAlert(
                    side=side,
                    frame=frame,
                    ts=ts,
                    encrypted=False,
                    level=record.head[0],
                    description=record.head[1],
                )
            )

    def _feed_unsynced(self, side: int, data: bytes, frame: int, ts: float) -> None:
        synchronise.feed_unsynced(self, side, data, frame, ts)

    def _report_incomplete(self, side: int, frame: int, ts: float, *, reset: bool) -> None:
        transport = self.transport[side]
        if transport is Transport.PLAIN:
            framer = self._framers[side]
            cut = framer.reset() if reset else framer.pending()
        elif (
            transport is Transport.COMPRESSED
            and (compressed := self.compressed_framers[side]) is not None
        ):
            cut = compressed.reset() if reset else compressed.pending()
        else:
            cut = None
        if cut is not None:
            expected, received = cut
            self.emit(
                IncompletePacket(
                    side=side, frame=frame, ts=ts, expected=expected, received=received
                )
            )

    def _dispatch(self, side: int, packet: LogicalPacket) -> None:
        self.decoded_packets[side] += 1
        try:
            READERS_BY_PHASE[self.phase][side](self, side, packet)
        except PARSE_ERRORS as exc:
            self.emit(MalformedPacket(**self.evidence(side, packet), reason=describe(exc, packet)))
        if packet.wire_packets > 1 or packet.size >= self.large_packet_threshold:
            payload = packet.payload
            self.emit(
                LargePacket(
                    side=side,
                    frame=packet.frame,
                    ts=packet.ts,
                    seq=packet.seq,
                    size=packet.size,
                    wire_packets=packet.wire_packets,
                    first_byte=payload[0] if payload else None,
                )
            )
        if packet.incomplete:
            self._report_cut(side, packet)

    def _report_cut(self, side: int, packet: LogicalPacket) -> None:
        """Say why a packet was read from part of its payload: a gap, or the retain limit."""
        if packet.missing:
            self.emit(
                IncompletePacket(
                    side=side,
                    frame=packet.frame,
                    ts=packet.ts,
                    expected=packet.size,
                    received=packet.size - packet.missing,
                )
            )
        else:
            self.emit(PayloadCapped(**self.evidence(side, packet), kept=len(packet.payload)))


def describe(exc: Exception, packet: LogicalPacket) -> str:
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, IndexError):
        reason = "packet ends before a field it announces"
    if packet.missing:
        reason += f" ({packet.missing} bytes of it are missing from the capture)"
    elif packet.capped:
        reason += f" (only its first {len(packet.payload)} bytes were kept)"
    return reason


def driver_error(side: int, expected: int, got: int) -> str:
    """What the receiving end reports for a wrong sequence id, in the words drivers use.

    go-sql-driver/mysql compares each packet's id with the one it expects (packets.go:
    ErrPktSyncMul when it is higher, ErrPktSync when lower). PyMySQL raises "Packet sequence
    number wrong", except for id 0, which it reads as a lost connection (2013). libmysqlclient
    and Connector/C give up with CR_SERVER_LOST (2013); their "Packets out of order" is a
    debug-build message only. The server answers a client's wrong id with
    ER_NET_PACKETS_OUT_OF_ORDER (1156) and closes."""
    if side == SERVER:  # the client library is the one that notices
        go = (
            'ErrPktSyncMul ("commands out of sync. Did you run multiple statements at once?")'
            if got > expected
            else 'ErrPktSync ("commands out of sync. You can\'t run this command now")'
        )
        pymysql = (
            '2013 "Lost connection to MySQL server during query"'
            if got == 0
            else f'"Packet sequence number wrong - got {got} expected {expected}"'
        )
        return (
            f"the client sees: go-sql-driver {go}; PyMySQL {pymysql}; libmysqlclient 2013 "
            '"Lost connection to MySQL server"'
        )
    return 'the server answers ER_NET_PACKETS_OUT_OF_ORDER (1156) "Got packets out of order"'


__all__ = ["NEED_DATA", "MySQLDecoder", "PacketEvent", "Phase", "Transport"]
