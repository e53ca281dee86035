"""The close classifier: how a connection ended and who ended it, from TCP and MySQL facts.

`classify(evidence)` walks `RULES` in order and the first rule that recognises the ending
gives the verdict. Each rule is a small function, so the order of precedence is visible in one
list: a refused SYN, no close at all, an injected RST, COM_QUIT, TLS, an ERR the server closed
on, then who closed first and in which phase.

"Closed first" means the first FIN or RST on the wire. After COM_QUIT, or after an ERR the
server closes on, the two FINs race, so those verdicts do not depend on which one won.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from capture.facts import C2S, ControlSegment, Direction, TcpFacts, reduce_by_fields
from mysqlwire.protocol.error_codes import IDLE_TIMEOUT_CODE, error_label
from mysqlwire.report.rst_origin import rst_origin

# ERR codes that refuse a login on access grounds: the auth_failed verdict. Refusals for lack
# of room (1040 Too many connections, 1203/1226 per-user limits) are server_closed_error.
ACCESS_REFUSAL_CODES = frozenset({1044, 1045, 1129, 1130, 1251, 1698, 1820, 1862, 3159})
# ERR codes after which the server closes the connection itself.
FATAL_ERROR_CODES = ACCESS_REFUSAL_CODES | {
    1040,
    1043,
    1053,
    1152,
    1153,
    1154,
    1155,
    1156,
    1157,
    1158,
    1159,
    1160,
    1161,
    1184,
    1203,
    1226,
    1927,
    3032,
    IDLE_TIMEOUT_CODE,
}


@dataclass(slots=True)
class ServerError:
    code: int
    phase: str  # "greeting", "authentication", "command", "idle"
    frame: int
    ts: float

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return reduce_by_fields(self)


@dataclass(slots=True, init=False)
class CommandSpan:
    name: str
    frame: int
    ts: float
    finished_frame: int | None = None  # None: no reply seen

    # Written out: one is made per command, and the compiled build runs a generated __init__
    # as Python.
    def __init__(self, name: str, frame: int, ts: float, finished_frame: int | None = None) -> None:
        self.name = name
        self.frame = frame
        self.ts = ts
        self.finished_frame = finished_frame

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return reduce_by_fields(self)


@dataclass(slots=True)
class CloseEvidence:
    """What the classifier needs; the connection recorder fills it in."""

    facts: TcpFacts
    greeting_seen: bool = False
    authenticated: bool = False  # authentication OK seen (assumed for mid-stream captures)
    tls: bool = False
    quit_frame: int | None = None
    quit_ts: float | None = None
    last_error: ServerError | None = None
    recent_commands: list[CommandSpan] = field(default_factory=list)
    activity: list[tuple[int, float]] = field(default_factory=list)  # recent (frame, ts)


@dataclass(slots=True)
class CloseVerdict:
    close: str
    closed_by: str  # "client", "server", "middlebox", "none"
    frame: int | None
    ts: float | None
    idle_before_close: float | None
    reason: str
    middlebox_evidence: str | None = None
    last_command: str | None = None


def first_close(facts: TcpFacts) -> ControlSegment | None:
    closes = facts.closes()
    return closes[0] if closes else None


def _idle_before(evidence: CloseEvidence, close: ControlSegment) -> float | None:
    before = [ts for frame, ts in evidence.activity if frame < close.frame]
    return round(close.ts - max(before), 6) if before else None


def _last_command_before(evidence: CloseEvidence, frame: int) -> CommandSpan | None:
    earlier = [c for c in evidence.recent_commands if c.frame < frame]
    return earlier[-1] if earlier else None


def _verdict(
    evidence: CloseEvidence,
    close: ControlSegment,
    name: str,
    closed_by: str,
    reason: str,
    middlebox_evidence: str | None = None,
) -> CloseVerdict:
    command = _last_command_before(evidence, close.frame)
    return CloseVerdict(
        name,
        closed_by,
        close.frame,
        close.ts,
        _idle_before(evidence, close),
        reason,
        middlebox_evidence=middlebox_evidence,
        last_command=command.name if command else None,
    )


def _how(close: ControlSegment) -> str:
    return "FIN" if close.kind == "FIN" else "RST"


# --- the rules, in order -----------------------------------------------------------------

Rule = Callable[[CloseEvidence, "ControlSegment | None"], "CloseVerdict | None"]


def refused(evidence: CloseEvidence, close: ControlSegment | None) -> CloseVerdict | None:
    if not evidence.facts.refused:
        return None
    rst = evidence.facts.rsts[0] if evidence.facts.rsts else None
    return CloseVerdict(
        "connection_refused",
        "server",
        rst.frame if rst else None,
        rst.ts if rst else None,
        None,
        "the SYN was answered by an RST: nothing listens on that port",
    )


def never_closed(evidence: CloseEvidence, close: ControlSegment | None) -> CloseVerdict | None:
    if close is not None:
        return None
    facts = evidence.facts
    why = "evicted by the open-connection cap" if facts.evicted else "no FIN or RST seen"
    last = max((ts for _f, ts in evidence.activity), default=None)
    idle = round(facts.last_ts - last, 6) if last is not None and facts.last_ts else None
    command = evidence.recent_commands[-1].name if evidence.recent_commands else None
    return CloseVerdict(
        "still_open_at_capture_end",
        "none",
        None,
        None,
        idle,
        f"still open when the capture ended ({why})",
        last_command=command,
    )


def injected_rst(evidence: CloseEvidence, close: ControlSegment | None) -> CloseVerdict | None:
    if close is None or close.kind != "RST":
        return None
    origin = rst_origin(close, evidence.facts)
    if not origin.injected:
        return None
    return _verdict(
        evidence,
        close,
        "middlebox_rst",
        "middlebox",
        origin.explanation,
        middlebox_evidence=origin.explanation,
    )


def quit_first(evidence: CloseEvidence, close: ControlSegment | None) -> CloseVerdict | None:
    if close is None or evidence.quit_frame is None or evidence.quit_frame > close.frame:
        return None
    return _verdict(
        evidence,
        close,
        "clean_quit",
        "client",
        f"COM_QUIT in frame {evidence.quit_frame}, then {_how(close)} from the "
        f"{Direction(close.direction).sender}",
    )


def under_tls(evidence: CloseEvidence, close: ControlSegment | None) -> CloseVerdict | None:
    if close is None or not evidence.tls or close.kind != "FIN":
        return None
    sender = Direction(close.direction).sender
    return _verdict(
        evidence,
        close,
        "closed_under_tls",
        sender,
        f"FIN from the {sender} on a TLS connection: COM_QUIT, if any, is encrypted",
    )


def server_error_close(
    evidence: CloseEvidence, close: ControlSegment | None
) -> CloseVerdict | None:
    """The server's last word was an ERR it closes on (or, if the server closed first, any
    ERR), and the client sent no command after it."""
    error = evidence.last_error
    if close is None or error is None or error.frame > close.frame:
        return None
    later = [c for c in evidence.recent_commands if error.frame < c.frame < close.frame]
    if later:
        return None
    server_closed = close.direction != C2S
    fatal = error.code in FATAL_ERROR_CODES or error.phase in ("greeting", "authentication")
    if not (fatal or server_closed):
        return None
    label = error_label(error.code)
    if error.code == IDLE_TIMEOUT_CODE:
        verdict = _verdict(
            evidence,
            close,
            "server_closed_idle",
            "server",
            f"ERR {label} then {_how(close)}: the server's idle timeout",
        )
        before = [ts for frame, ts in evidence.activity if frame < error.frame]
        verdict.idle_before_close = round(close.ts - max(before), 6) if before else None
        return verdict
    if error.code in ACCESS_REFUSAL_CODES or (
        error.phase == "authentication" and error.code not in FATAL_ERROR_CODES
    ):
        return _verdict(evidence, close, "auth_failed", "server", f"login refused with ERR {label}")
    where = "in place of the greeting" if error.phase == "greeting" else "to the client"
    return _verdict(
        evidence,
        close,
        "server_closed_error",
        "server",
        f"ERR {label} {where}, then the connection closed",
    )


def before_authentication(
    evidence: CloseEvidence, close: ControlSegment | None
) -> CloseVerdict | None:
    if close is None or evidence.authenticated:
        return None
    sender = Direction(close.direction).sender
    stage = "before the greeting" if not evidence.greeting_seen else "during the handshake"
    return _verdict(
        evidence,
        close,
        "handshake_aborted",
        sender,
        f"{_how(close)} from the {sender} {stage}, before authentication finished",
    )


def client_closed(evidence: CloseEvidence, close: ControlSegment | None) -> CloseVerdict | None:
    if close is None or close.direction != C2S:
        return None
    if close.kind == "FIN":
        return _verdict(
            evidence,
            close,
            "client_fin_no_quit",
            "client",
            "the client closed with FIN without sending COM_QUIT",
        )
    return _verdict(
        evidence,
        close,
        "client_rst_no_quit",
        "client",
        "the client reset the connection without sending COM_QUIT",
    )


def server_closed(evidence: CloseEvidence, close: ControlSegment | None) -> CloseVerdict | None:
    if close is None:
        return None
    command = _last_command_before(evidence, close.frame)
    outstanding = command is not None and (
        command.finished_frame is None or command.finished_frame > close.frame
    )
    if outstanding:
        assert command is not None
        return _verdict(
            evidence,
            close,
            "killed_by_server",
            "server",
            f"{_how(close)} from the server while {command.name} (frame "
            f"{command.frame}) awaited its reply, without an ERR",
        )
    idle = _idle_before(evidence, close)
    idle_text = f" after {idle:.1f} s idle" if idle is not None else ""
    return _verdict(
        evidence,
        close,
        "server_closed_idle",
        "server",
        f"{_how(close)} from the server{idle_text} with no command outstanding "
        "(wait_timeout, or KILL of an idle session)",
    )


RULES: list[Rule] = [
    refused,
    never_closed,
    injected_rst,
    quit_first,
    under_tls,
    server_error_close,
    before_authentication,
    client_closed,
    server_closed,
]


def classify(evidence: CloseEvidence) -> CloseVerdict:
    close = first_close(evidence.facts)
    for rule in RULES:
        verdict = rule(evidence, close)
        if verdict is not None:
            return verdict
    raise AssertionError("server_closed always decides")  # pragma: no cover
