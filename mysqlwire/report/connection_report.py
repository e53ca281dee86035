"""One connection's report, and the recorder that builds it from decoder events and TCP facts.

The recorder is the policy layer's view of a connection: it keeps only what a verdict or a
finding needs (bounded: recent commands, recent activity, capped evidence lists), never the
conversation itself. `finish(facts)` runs the close classifier and returns the report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from capture.facts import C2S, S2C, Direction, TcpFacts
from mysqlwire.protocol import events as ev
from mysqlwire.protocol.commands import command_name
from mysqlwire.protocol.constants import CLIENT, SIDE_NAMES
from mysqlwire.protocol.error_codes import (
    IDLE_TIMEOUT_CODE,
    MAX_ALLOWED_PACKET_CODES,
    error_label,
)
from mysqlwire.report.attempts import tcp_attempt
from mysqlwire.report.close_classifier import (
    FATAL_ERROR_CODES,
    CloseEvidence,
    CloseVerdict,
    CommandSpan,
    ServerError,
    classify,
)
from mysqlwire.report.findings import Finding, finding, worst_severity
from mysqlwire.report.verdicts import VERDICTS, server_counter

DEFAULT_MAX_ALLOWED_PACKET: Final = 64 << 20
FINDINGS_PER_KIND: Final = 20
ERROR_CODES_KEPT: Final = 1000
# The classifier needs the last command and the last activity before the close, plus the few
# that may follow it (a COM_QUIT racing the server's FIN): a short window is enough.
RECENT: Final = 6


@dataclass(slots=True)
class ConnectionReport:
    """Everything reported about one MySQL connection (the jsonl `connection` record)."""

    conn_id: int
    client: str
    server: str
    client_ip: str
    start: float
    end: float
    close: str
    closed_by: str
    close_frame: int | None
    close_ts: float | None
    close_reason: str
    idle_before_close: float | None
    last_command: str | None
    severity: str | None
    server_counter: str | None
    thread_id: int | None = None
    server_version: str | None = None
    user: str | None = None
    database: str | None = None
    database_unknown: bool = False  # the login was cut before its database field
    client_name: str | None = None
    program_name: str | None = None
    tls: bool = False
    tls_version: str | None = None
    compressed: bool = False
    mid_stream: bool = False
    authenticated: bool = False
    commands: int = 0
    bytes_c2s: int = 0
    bytes_s2c: int = 0
    packets_c2s: int = 0
    packets_s2c: int = 0
    error_codes: list[int] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    first_frame: int = 0
    last_frame: int = 0
    not_mysql: str | None = None  # the protocol it looks like instead, when not MySQL
    # the real client a load balancer's PROXY header named ("ip:port"; the TCP peer is the
    # balancer)
    proxied_client: str | None = None
    tcp_attempt: str | None = None  # never got past the TCP handshake: which way (attempts.py)
    error_log: list[dict[str, object]] | None = None  # server log lines about it (--error-log)
    finding_counts: dict[str, int] = field(default_factory=dict)  # by kind, beyond the list cap
    released_at: int = 0  # frame being read when the capture layer handed it over (ordering)
    release_rank: float = 0.0  # order among those released at the same frame

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)

    @property
    def proxied_client_ip(self) -> str | None:
        return _address_of(self.proxied_client) if self.proxied_client else None

    @property
    def client_label(self) -> str:
        """The client for a reader: through a load balancer, the client its header named
        and then the balancer, the TCP peer."""
        if self.proxied_client:
            return f"{self.proxied_client} via {self.client}"
        return self.client

    @property
    def real_client_ip(self) -> str:
        """The client's address as the server knows it (and counts and logs it): the one a
        PROXY header named, else the TCP peer's."""
        return self.proxied_client_ip or self.client_ip

    @property
    def main_finding(self) -> Finding | None:
        ranked = sorted(self.findings, key=lambda f: (-_rank(f.severity), f.frame or 0))
        return ranked[0] if ranked else None


def _packet_name(event: ev.LargePacket) -> str:
    if event.side == CLIENT:
        name = command_name(event.first_byte) if event.first_byte is not None else "packet"
        return f"client {name}"
    return "server packet"


def _address_of(endpoint: str) -> str:
    """The address of "ip:port" or "[ipv6]:port"."""
    return endpoint.rsplit(":", 1)[0].strip("[]")


def _rank(severity: str) -> int:
    return {"info": 0, "warning": 1, "error": 2}[severity]


class ConnectionRecorder:
    """Consumes one connection's decoder events; `finish` turns them into a report."""

    __slots__ = (
        "activity",
        "authenticated",
        "client_name",
        "commands",
        "compression",
        "database",
        "database_unknown",
        "error_codes",
        "error_count",
        "evidence_commands",
        "finding_counts",
        "findings",
        "first_client_cut",
        "greeting_seen",
        "largest_client_packet",
        "last_error",
        "max_allowed_packet",
        "mid_stream",
        "not_mysql",
        "packet_refusal",
        "program_name",
        "proxy",
        "quit_frame",
        "quit_ts",
        "server_version",
        "thread_id",
        "tls",
        "tls_alerts",
        "tls_frame",
        "tls_how",
        "tls_ts",
        "tls_version",
        "user",
    )

    def __init__(self, max_allowed_packet: int = DEFAULT_MAX_ALLOWED_PACKET) -> None:
        self.max_allowed_packet = max_allowed_packet
        # Short lists trimmed by hand: a deque costs more memory than a few list slots.
        self.evidence_commands: list[CommandSpan] = []
        # The latest events themselves (their frame and time are what counts): a reference
        # each, where a (frame, ts) tuple would make three objects for every event.
        self.activity: list[ev.Event] = []
        self.findings: list[Finding] = []
        self.finding_counts: dict[str, int] = {}  # (a Counter's __init__ runs as Python)
        self.error_codes: list[int] = []
        self.error_count = 0
        self.last_error: ServerError | None = None
        self.commands = 0
        self.greeting_seen = False
        self.authenticated = False
        self.thread_id: int | None = None
        self.server_version: str | None = None
        self.user: str | None = None
        self.database: str | None = None
        self.database_unknown = False
        self.client_name: str | None = None
        self.program_name: str | None = None
        self.tls = False
        self.tls_version: str | None = None
        self.tls_frame: int | None = None
        self.tls_how = "after SSLRequest"
        self.tls_ts: float | None = None
        self.tls_alerts: list[ev.TlsAlert] = []
        self.compression: str | None = None
        self.mid_stream = False
        self.quit_frame: int | None = None
        self.quit_ts: float | None = None
        self.not_mysql: ev.NotMySQL | None = None
        self.largest_client_packet = 0
        self.proxy: ev.ProxyHeader | None = None
        # the client's first packet cut short: the size it announced explains a 1153 refusal
        self.first_client_cut: ev.IncompletePacket | None = None
        self.packet_refusal: ev.Err | None = None

    # --- events ---------------------------------------------------------------------------

    def record(self, event: ev.Event) -> None:
        if isinstance(event, ev.PacketEvent) and not isinstance(event, ev.PayloadCapped):
            # (a PayloadCapped note is about the packet whose own event came just before it)
            activity = self.activity
            activity.append(event)
            if len(activity) > RECENT:
                del activity[0]
            if event.side == CLIENT and event.size > self.largest_client_packet:
                self.largest_client_packet = event.size
        # Every exchange's two events by a direct call (compiled, a native one); the table,
        # whose entries are called as Python functions, for the rest.
        # (neither class has subclasses: the same as the table's exact-type lookup)
        if isinstance(event, ev.Command):
            self._command(event)
        elif isinstance(event, ev.CommandFinished):
            self._command_finished(event)
        else:
            handler = HANDLERS.get(type(event))
            if handler is not None:
                handler(self, event)

    def add(self, item: Finding) -> None:
        count = self.finding_counts.get(item.kind, 0) + 1
        self.finding_counts[item.kind] = count
        if count <= FINDINGS_PER_KIND:
            self.findings.append(item)

    def _large_packet(self, event: ev.LargePacket) -> None:
        if event.side == CLIENT and event.size > self.largest_client_packet:
            self.largest_client_packet = event.size
        what = _packet_name(event)
        if event.wire_packets > 1:
            self.add(
                finding(
                    "split_packet",
                    event.frame,
                    event.ts,
                    f"{what} of {event.size:,} bytes sent as {event.wire_packets} wire packets",
                )
            )
        if event.size > self.max_allowed_packet:
            self.add(
                finding(
                    "oversize_packet",
                    event.frame,
                    event.ts,
                    f"{what} of {event.size:,} bytes exceeds max_allowed_packet "
                    f"({self.max_allowed_packet:,})",
                )
            )

    def _payload_capped(self, event: ev.PayloadCapped) -> None:
        self.add(
            finding(
                "payload_capped",
                event.frame,
                event.ts,
                f"{SIDE_NAMES[event.side]} packet of {event.size:,} bytes: only its "
                f"first {event.kept:,} bytes were decoded (memory limit)",
            )
        )

    def _command_finished(self, event: ev.CommandFinished) -> None:
        self.activity.append(event)  # (its frame and time: the reply's last packet)
        if len(self.activity) > RECENT:
            del self.activity[0]
        for span in reversed(self.evidence_commands):
            if span.frame == event.started_frame:
                if event.outcome not in ("no_reply", "gap"):
                    span.finished_frame = event.frame
                break

    def _greeting(self, event: ev.Greeting) -> None:
        self.greeting_seen = True
        self.thread_id = event.thread_id
        self.server_version = event.server_version

    def _login(self, event: ev.HandshakeResponse) -> None:
        self.user = event.user
        self.database = event.database
        self.database_unknown = event.database is None and event.cut
        attrs = event.attributes
        name = attrs.get("_client_name")
        if name:
            version = attrs.get("_client_version")
            self.client_name = f"{name} {version}" if version else name
        self.program_name = attrs.get("program_name")

    def _ssl_request(self, event: ev.SslRequest) -> None:
        self.tls = True
        self.authenticated = True  # authentication happens inside TLS: assume it succeeded
        self.tls_frame, self.tls_ts = event.frame, event.ts
        self.tls_how = "after SSLRequest"

    def _ok(self, event: ev.Ok) -> None:
        if event.reply_to == "authentication":
            self.authenticated = True

    def _err(self, event: ev.Err) -> None:
        self.error_count += 1
        if len(self.error_codes) < ERROR_CODES_KEPT:
            self.error_codes.append(event.code)
        self.last_error = ServerError(event.code, event.phase, event.frame, event.ts)
        if event.phase == "greeting":
            self.greeting_seen = True
        context = (
            f"in reply to {event.reply_to}"
            if event.reply_to and event.phase == "command"
            else {
                "greeting": "in place of the greeting",
                "authentication": "refusing the login",
                "idle": "while no command was outstanding",
            }.get(event.phase, "")
        )
        state = f" ({event.sql_state})" if event.sql_state else ""
        detail = f"ERR {error_label(event.code)}{state} {context}: {event.message}".strip()
        # A server that closes on this error makes it an error; the idle timeout (4031) is a
        # warning, as is the same timeout where the server says nothing (MariaDB).
        fatal = event.code != IDLE_TIMEOUT_CODE and (
            event.code in FATAL_ERROR_CODES or event.phase in ("greeting", "authentication")
        )
        self.add(
            finding("mysql_error", event.frame, event.ts, detail, "error" if fatal else "warning")
        )
        if event.code in MAX_ALLOWED_PACKET_CODES and self.packet_refusal is None:
            self.packet_refusal = event  # explained at the end, once the cut packet is known

    def _command(self, event: ev.Command) -> None:
        self.commands += 1
        self.evidence_commands.append(CommandSpan(event.name, event.frame, event.ts))
        if len(self.evidence_commands) > RECENT:
            del self.evidence_commands[0]
        if event.code == 0x01:  # COM_QUIT
            self.quit_frame, self.quit_ts = event.frame, event.ts
        malformed = event.arguments.get("malformed")
        if malformed:
            self.add(
                finding("malformed_packet", event.frame, event.ts, f"{event.name}: {malformed}")
            )

    def _sequence_error(self, event: ev.SequenceError) -> None:
        sender = SIDE_NAMES[event.side]
        which = "compressed-packet sequence id" if event.compressed else "sequence id"
        self.add(
            finding(
                "sequence_error",
                event.frame,
                event.ts,
                f"{sender} packet with {which} {event.got}, expected {event.expected}"
                f" — {event.driver_error}",
            )
        )

    def _malformed(self, event: ev.MalformedPacket) -> None:
        self.add(
            finding(
                "malformed_packet",
                event.frame,
                event.ts,
                f"{SIDE_NAMES[event.side]} packet of {event.size} bytes: {event.reason}",
            )
        )

    def _unexpected(self, event: ev.UnexpectedPacket) -> None:
        first = f" starting 0x{event.first_byte:02x}" if event.first_byte is not None else ""
        self.add(
            finding(
                "unexpected_packet",
                event.frame,
                event.ts,
                f"{SIDE_NAMES[event.side]} packet{first}: {event.reason}",
            )
        )

    def _incomplete(self, event: ev.IncompletePacket) -> None:
        if event.side == CLIENT and self.first_client_cut is None:
            self.first_client_cut = event
        self.add(
            finding(
                "incomplete_packet",
                event.frame,
                event.ts,
                f"{SIDE_NAMES[event.side]} packet of {event.expected:,} bytes cut "
                f"after {event.received:,}",
            )
        )

    def _resynchronised(self, event: ev.Resynchronised) -> None:
        bytes_ = f"{event.skipped:,} {SIDE_NAMES[event.side]} bytes"
        if event.initial:
            self._skipped_bytes(
                "mid_stream_skip",
                event,
                f"{bytes_} before the first packet boundary were passed over (the capture "
                f"began inside an exchange); decoding began in frame {event.frame}",
            )
        else:
            self._skipped_bytes(
                "capture_gap",
                event,
                f"{bytes_} could not be framed and were skipped; decoding resumed in frame "
                f"{event.frame} where {event.reason}",
            )

    def _skipped_bytes(
        self, kind: str, event: ev.Resynchronised | ev.Undecodable, detail: str
    ) -> None:
        """A finding about bytes never framed, at the frame of the first of them."""
        if event.first_frame:
            self.add(finding(kind, event.first_frame, event.first_ts, detail))
        else:
            self.add(finding(kind, event.frame, event.ts, detail))

    def _mid_stream(self, event: ev.MidStreamStart) -> None:
        self.mid_stream = True
        self.authenticated = True
        inferred = "; ".join(f"{key}: {value}" for key, value in event.inferred.items())
        self.add(
            finding(
                "mid_stream_start",
                event.frame,
                event.ts,
                f"the capture began after the connection opened ({inferred})",
            )
        )

    def _compression(self, event: ev.CompressionStarted) -> None:
        self.compression = event.algorithm
        how = "inferred from the packet layout" if event.inferred else "negotiated at login"
        self.add(
            finding(
                "compressed",
                event.frame,
                event.ts,
                f"{event.algorithm} compressed protocol ({how})",
            )
        )

    def _undecodable(self, event: ev.Undecodable) -> None:
        where = f"{event.size:,} {SIDE_NAMES[event.side]} bytes from frame "
        where += str(event.first_frame or event.frame)
        if event.initial:
            detail = f"{where} on were passed over: {event.reason}"
            self._skipped_bytes("mid_stream_skip", event, detail)
        else:
            detail = f"{where} on could not be framed: {event.reason}"
            self._skipped_bytes("undecodable", event, detail)

    def _tls_detected(self, event: ev.TlsDetected) -> None:
        self.tls = True
        self.authenticated = True  # whatever happened before is out of sight
        if self.tls_frame is None:
            self.tls_frame, self.tls_ts = event.frame, event.ts
            self.tls_how = "found mid-stream (its SSLRequest was not captured)"

    def _tls_version(self, event: ev.TlsVersion) -> None:
        self.tls_version = event.version

    def _tls_alert(self, event: ev.TlsAlert) -> None:
        self.tls = True
        if len(self.tls_alerts) < RECENT:
            self.tls_alerts.append(event)

    def _not_mysql(self, event: ev.NotMySQL) -> None:
        self.not_mysql = event

    def _proxy_header(self, event: ev.ProxyHeader) -> None:
        self.proxy = event
        header = f"PROXY protocol v{event.version} header"
        if event.source is not None:
            detail = (
                f"{header}: a load balancer relays the client {event.source} (the address the "
                "server sees, counts and logs)"
            )
        elif event.command == "LOCAL":
            detail = f"{header} LOCAL: the load balancer's own connection (a health check)"
        else:
            detail = (
                f"{header} ({event.command}) naming no client address: the balancer did not "
                "know it, or it is not IPv4/IPv6"
            )
        self.add(finding("proxy_header", event.frame, event.ts, detail))

    # --- the end ------------------------------------------------------------------------

    def finish(self, facts: TcpFacts) -> ConnectionReport:
        evidence = CloseEvidence(
            facts=facts,
            greeting_seen=self.greeting_seen,
            authenticated=self.authenticated,
            tls=self.tls,
            quit_frame=self.quit_frame,
            quit_ts=self.quit_ts,
            last_error=self.last_error,
            recent_commands=list(self.evidence_commands),
            activity=[(event.frame, event.ts) for event in self.activity],
        )
        verdict = classify(evidence)
        self._transport_findings(facts, verdict)
        findings = self.findings + [
            finding(
                kind, None, None, f"{count - FINDINGS_PER_KIND} more {kind} findings not listed"
            )
            for kind, count in self.finding_counts.items()
            if count > FINDINGS_PER_KIND
        ]
        kind = VERDICTS[verdict.close]
        severities = [f.severity for f in findings] + ([kind.severity] if kind.severity else [])
        attempt = tcp_attempt(facts)
        # A connection that never completed the TCP handshake never reached the server
        # process: it cannot move the server's abort counters.
        counter = None if attempt else server_counter(verdict.close, self.authenticated)
        return ConnectionReport(
            conn_id=facts.conn_id,
            client=str(facts.client),
            server=str(facts.server),
            client_ip=facts.client.address,
            start=facts.first_ts,
            end=facts.last_ts,
            close=verdict.close,
            closed_by=verdict.closed_by,
            close_frame=verdict.frame,
            close_ts=verdict.ts,
            close_reason=verdict.reason,
            idle_before_close=verdict.idle_before_close,
            last_command=verdict.last_command,
            severity=worst_severity(severities),
            server_counter=counter,
            thread_id=self.thread_id,
            server_version=self.server_version,
            user=self.user,
            database=self.database,
            database_unknown=self.database_unknown,
            client_name=self.client_name,
            program_name=self.program_name,
            tls=self.tls,
            tls_version=self.tls_version,
            compressed=self.compression is not None,
            mid_stream=self.mid_stream or facts.mid_stream,
            authenticated=self.authenticated,
            commands=self.commands,
            bytes_c2s=facts.payload_bytes[C2S],
            bytes_s2c=facts.payload_bytes[S2C],
            packets_c2s=facts.packets[C2S],
            packets_s2c=facts.packets[S2C],
            error_codes=list(self.error_codes),
            findings=sorted(findings, key=lambda f: (f.frame is None, f.frame or 0)),
            first_frame=facts.first_frame,
            last_frame=facts.last_frame,
            not_mysql=self.not_mysql.protocol if self.not_mysql else None,
            proxied_client=self.proxy.source if self.proxy else None,
            tcp_attempt=attempt,
            finding_counts=dict(self.finding_counts),
            released_at=facts.released_at,
            release_rank=facts.release_rank,
        )

    def _transport_findings(self, facts: TcpFacts, verdict: CloseVerdict) -> None:
        """Findings that come from the TCP facts and the verdict rather than from events."""
        if verdict.close == "connection_refused":
            self.add(
                finding(
                    "connection_refused",
                    verdict.frame,
                    verdict.ts,
                    f"SYN to {facts.server} answered by RST",
                )
            )
        if verdict.middlebox_evidence:
            self.add(
                finding("middlebox_rst", verdict.frame, verdict.ts, verdict.middlebox_evidence)
            )
        if self.quit_frame is not None:
            for rst in facts.rsts:
                if rst.direction == C2S and rst.frame > self.quit_frame:
                    self.add(
                        finding(
                            "rst_after_quit",
                            rst.frame,
                            rst.ts,
                            "the client reset the connection after COM_QUIT "
                            "(harmless: the server had already been told goodbye)",
                        )
                    )
                    break
        for gap in facts.gaps:
            size = f"{gap.size:,} bytes" if gap.size_known else "an unknown number of bytes"
            self.add(
                finding(
                    "capture_gap",
                    gap.frame,
                    gap.ts,
                    f"{size} of the {Direction(gap.direction).sender}'s stream missing "
                    f"at offset {gap.stream_offset:,} ({gap.reason}); what follows may "
                    "be incomplete",
                )
            )
        retransmitted = sum(facts.retransmitted_segments)
        if retransmitted:
            conflicting = [r for r in facts.retransmissions if r.conflicting]
            detail = (
                f"{retransmitted} retransmitted segment{'s' if retransmitted != 1 else ''} "
                f"({facts.retransmitted_segments[C2S]} from the client, "
                f"{facts.retransmitted_segments[S2C]} from the server)"
            )
            first = facts.retransmissions[0] if facts.retransmissions else None
            if conflicting:
                detail += (
                    f"; {len(conflicting)} carried bytes different from the first copy "
                    "(the first copy was decoded)"
                )
            self.add(
                finding(
                    "retransmissions",
                    first.frame if first else None,
                    first.ts if first else None,
                    detail,
                    "warning" if conflicting else None,
                )
            )
        for zero in facts.zero_windows[:3]:
            self.add(
                finding(
                    "zero_window",
                    zero.frame,
                    zero.ts,
                    f"the {Direction(zero.direction).sender} advertised a zero window: "
                    "it stopped reading",
                )
            )
        if self.tls:
            self.add(finding("tls", self.tls_frame, self.tls_ts, self._tls_detail(verdict)))
        if self.packet_refusal is not None:
            refusal = self.packet_refusal
            cut = self.first_client_cut
            if cut is not None:
                size = (
                    f"the client's packet of {cut.expected:,} bytes (cut after "
                    f"{cut.received:,} when the server closed)"
                )
            else:
                size = f"the client's largest packet ({self.largest_client_packet:,} bytes)"
            self.add(
                finding(
                    "oversize_packet",
                    refusal.frame,
                    refusal.ts,
                    f"ERR {refusal.code}: the server refused {size} as larger than "
                    "its max_allowed_packet",
                )
            )

    def _tls_detail(self, verdict: CloseVerdict) -> str:
        version = self.tls_version or "TLS (version not seen)"
        before_close = [
            a for a in self.tls_alerts if verdict.frame is None or a.frame <= verdict.frame
        ]
        if before_close:
            alert = before_close[-1]
            notify = (
                f"an encrypted alert from the {SIDE_NAMES[alert.side]} in frame "
                f"{alert.frame} (almost certainly close_notify)"
                if alert.encrypted
                else f"alert level {alert.level} description {alert.description} from "
                f"the {SIDE_NAMES[alert.side]} in frame {alert.frame}"
            )
        elif self.tls_version == "TLS 1.3":
            notify = "not visible (TLS 1.3 encrypts alerts)"
        else:
            notify = "none seen"
        return f"{version} {self.tls_how}: statements are invisible; close_notify: {notify}"


HANDLERS: dict[type[ev.Event], Callable[[ConnectionRecorder, Any], None]] = {
    ev.Greeting: ConnectionRecorder._greeting,
    ev.HandshakeResponse: ConnectionRecorder._login,
    ev.SslRequest: ConnectionRecorder._ssl_request,
    ev.Ok: ConnectionRecorder._ok,
    ev.Err: ConnectionRecorder._err,
    ev.Command: ConnectionRecorder._command,
    ev.CommandFinished: ConnectionRecorder._command_finished,
    ev.LargePacket: ConnectionRecorder._large_packet,
    ev.PayloadCapped: ConnectionRecorder._payload_capped,
    ev.SequenceError: ConnectionRecorder._sequence_error,
    ev.MalformedPacket: ConnectionRecorder._malformed,
    ev.UnexpectedPacket: ConnectionRecorder._unexpected,
    ev.IncompletePacket: ConnectionRecorder._incomplete,
    ev.Resynchronised: ConnectionRecorder._resynchronised,
    ev.MidStreamStart: ConnectionRecorder._mid_stream,
    ev.CompressionStarted: ConnectionRecorder._compression,
    ev.TlsDetected: ConnectionRecorder._tls_detected,
    ev.Undecodable: ConnectionRecorder._undecodable,
    ev.TlsVersion: ConnectionRecorder._tls_version,
    ev.TlsAlert: ConnectionRecorder._tls_alert,
    ev.NotMySQL: ConnectionRecorder._not_mysql,
    ev.ProxyHeader: ConnectionRecorder._proxy_header,
}

__all__ = ["ConnectionRecorder", "ConnectionReport"]
