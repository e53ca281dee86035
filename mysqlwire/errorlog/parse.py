"""Reading a MySQL 5.7 / 8.x or MariaDB error log into typed records, one per relevant line.

`parse_line` turns one line into an `ErrorLogRecord` (or None); `iter_error_log` streams a file
(plain or gzip) and pairs MariaDB's "Could not read packet" with the "Aborted connection" line
of the same thread that follows it; `read_error_log` collects everything with counts.

Records carry what a later join with captured connections needs: the connection's thread id,
db, user, host, the time as written and as epoch seconds, and the server's reason. The prefix's
thread column is kept apart from the thread the message is about (`logging_thread` vs
`thread_id`): MariaDB logs "Aborted connection 13 ... (KILLED)" from the *killer's* thread.

What MariaDB's "Could not read packet" fields mean
--------------------------------------------------
MariaDB 10.11 writes ``Could not read packet: fd: %lld  state: %d  read_length: %u  errno: %d
vio_errno: %d  length: %lld`` from ``my_real_read()`` in ``sql/net_serv.cc`` when a read of the
client's next packet fails and ``log_warnings > 3`` (the "Aborted connection" line itself needs
only ``log_warnings > 1``). Its arguments are, in order:

- ``fd``: ``vio_fd(net->vio)``, the socket descriptor; numbers are reused, so join by thread.
- ``state``: ``net->vio->state`` (``enum enum_vio_state`` in ``include/violite.h``):
  0 not initialised, 1 active, 2 shut down by the server itself (e.g. by KILL), 3 closed.
- ``read_length``: ``remain``, the bytes still wanted by the failed read. 4 (7 with
  compression) is a whole packet header: nothing of a next packet had arrived, the client was
  between commands. Another value means the connection broke inside a packet (a body missing
  exactly 4 bytes would look the same, which is rare).
- ``errno``: ``vio_errno()``, i.e. the C ``errno`` after the read (``vio/viosocket.c``). It is
  meaningful only when ``length`` is -1; errno is not cleared by a successful call.
- ``vio_errno``: despite its name, ``net->last_errno``, the MySQL error that becomes the
  "Aborted connection" reason: 1158 ER_NET_READ_ERROR ("Got an error reading communication
  packets") or 1159 ER_NET_READ_INTERRUPTED ("Got timeout ..."), chosen by
  ``vio_was_timeout()``, which is ``errno == ETIMEDOUT``.
- ``length``: what ``vio_read()`` returned: 0 is end of file, the peer's orderly close (FIN)
  read cleanly; -1 is an error, described by ``errno``.

So, on Linux (checked against the capture suite's logs, pcaps/*.error.log):

- ``errno: 11  length: 0``: the client closed with FIN. 11 is EAGAIN, but stale: with a read
  timeout set, ``vio_read()`` first calls ``recv(MSG_DONTWAIT)``, which fails with EAGAIN while
  the client is idle, then waits in ``poll()`` (``vio_socket_io_wait()``); when the FIN arrives
  the next ``recv()`` returns 0 and leaves errno at EAGAIN. It is *not* a timeout
  (client_exit_fin, go_too_many_connections, handshake_abandoned_fin).
- ``errno: 104  length: -1``: ECONNRESET, the peer (or a middlebox) sent RST
  (linger_rst, middlebox_rst_*, handshake_abandoned_rst).
- ``errno: 110  length: -1  vio_errno: 1159``: ETIMEDOUT, set by ``vio_io_wait()`` when
  ``poll()`` times out: wait_timeout or net_read_timeout expired. ``vio_socket_io_wait()`` also
  sets SO_LINGER 0 on that timeout, which is why MariaDB then closes with RST (wait_timeout).
- ``errno: 71  length: -1``: EPROTO, set by ``ssl_set_sys_error()`` in ``vio/viossl.c`` for
  SSL_ERROR_SSL; seen when a TLS client closed with FIN and no close_notify (tls).
- ``Could not write packet ... errno: 32 ... state: 2``: EPIPE on a socket the server had
  already shut down (KILL of a busy session, kill_busy); ``length`` there is the bytes unsent
  and ``vio_errno`` 1160 ER_NET_ERROR_ON_WRITE or 1161 ER_NET_WRITE_INTERRUPTED.

`ReadOutcome` names these cases; `ErrorLogRecord.read_outcome` applies them.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from functools import lru_cache
from typing import IO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mysqlwire.errorlog.patterns import (
    LINE_PREFIXES,
    MESSAGES,
    NET_ERROR_TEXTS,
    UNAUTHENTICATED_USER,
    Kind,
    Reason,
    reason_of,
)

# Linux errno values named in "Could not read/write packet" lines.
EAGAIN = 11
EPIPE = 32
EPROTO = 71
ECONNRESET = 104
ETIMEDOUT = 110

# A thread column at or above this is a pthread id (MariaDB before 10.4), not a connection id:
# MySQL's connection ids are 32-bit and MariaDB's never get near 2**32 in practice.
MAX_CONNECTION_ID = 2**32 - 1

# "Could not read packet" and its "Aborted connection" are written microseconds apart by the
# same thread; with one-second stamps they can straddle a second, never more. The window also
# stops a pairing across a server restart, where thread ids start again from 1.
PAIR_WINDOW_SECONDS = 5.0
PENDING_READS_LIMIT = 4096  # unpaired "Could not read packet" lines kept while streaming

TzArgument = tzinfo | str | None


class ErrorLogUnreadable(Exception):
    """The error log could not be opened or read to the end; str() is one line saying why."""


class ReadOutcome(StrEnum):
    """How the read behind a "Could not read packet" line ended (see the module docstring)."""

    EOF = "eof"  # length 0: the peer's FIN was read; errno (often 11 EAGAIN) is stale
    RESET = "reset"  # ECONNRESET: RST from the peer or a device between the hosts
    TIMEOUT = "timeout"  # ETIMEDOUT: the server's read timeout expired (it then sends RST)
    TLS_ERROR = "tls_error"  # EPROTO: TLS layer error, e.g. FIN without close_notify
    ERROR = "error"  # any other errno, kept in `errno`


_OUTCOME_BY_ERRNO = {
    ECONNRESET: ReadOutcome.RESET,
    ETIMEDOUT: ReadOutcome.TIMEOUT,
    EPROTO: ReadOutcome.TLS_ERROR,
}


@dataclass(slots=True, kw_only=True)
class ErrorLogRecord:
    """One relevant error-log line, treated as immutable once yielded. Unstated fields are None.

    `thread_id` is the connection the line is about: the N of "Aborted connection N" (None for
    N = 0, a connection refused before it had a thread), otherwise the prefix's thread column
    when that is a connection id (MySQL 5.7/8, MariaDB 10.4+; MySQL 5.6 wrote its process id
    there, which cannot be told apart). `db`, `user` and `host` are as written, placeholders
    included (`patterns.UNCONNECTED_DB`, `UNAUTHENTICATED_USER`, `CONNECTING_HOST`).

    An "Aborted connection" record paired with the MariaDB "Could not read packet" line of the
    same thread carries that line's socket fields and its number in `paired_line_number`.
    """

    kind: Kind
    line_number: int
    raw: str  # the line as read, without its line ending
    message: str  # the line after the prefix
    timestamp: str | None  # as written
    epoch: float | None  # seconds since 1970 UTC; naive stamps read in the `tz` given
    timestamp_has_zone: bool  # False: epoch depends on the `tz` argument (MariaDB, legacy)
    severity: str | None  # "Note", "Warning", "ERROR", "System" as written
    error_code: str | None  # MySQL 8: "MY-010914"
    subsystem: str | None  # MySQL 8: "Server"
    logging_thread: int | None  # the prefix's thread column: who wrote the line
    thread_id: int | None
    db: str | None = None
    user: str | None = None
    host: str | None = None
    real_ip: str | None = (
        None  # MariaDB, proxy protocol: the TCP peer (the proxy); host is the client
    )
    # The server's words: the text in parentheses, the message itself, or for "Could not
    # read/write packet" the error its vio_errno field stands for.
    reason: str | None = None
    reason_kind: Reason | None = None
    using_password: bool | None = None
    fd: int | None = None
    state: int | None = None
    read_length: int | None = None
    errno: int | None = None
    vio_errno: int | None = None
    length: int | None = None
    paired_line_number: int | None = None

    @property
    def authenticated(self) -> bool | None:
        """Whether the connection had logged in; None when the line cannot say.

        Aborted connects (MySQL's Aborted_connects: refused, abandoned or failed logins) are
        the lines where this is False; aborted clients (Aborted_clients) where it is True.
        """
        if self.kind is Kind.ABORTED_CONNECTION:
            return self.user != UNAUTHENTICATED_USER
        if self.kind in (Kind.ACCESS_DENIED, Kind.HOST_BLOCKED, Kind.HOST_NOT_ALLOWED):
            return False
        return None

    @property
    def read_outcome(self) -> ReadOutcome | None:
        """How the failed read ended, for "Could not read packet" and records paired with one."""
        if self.length is None or self.kind not in (
            Kind.COULD_NOT_READ_PACKET,
            Kind.ABORTED_CONNECTION,
        ):
            return None
        if self.length == 0:
            return ReadOutcome.EOF
        if self.errno is None:
            return ReadOutcome.ERROR
        return _OUTCOME_BY_ERRNO.get(self.errno, ReadOutcome.ERROR)


@dataclass(slots=True, frozen=True)
class UnmatchedLine:
    """A non-blank line that became no record.

    `has_prefix` says the line began like an error-log line of a known server (a timestamp
    and severity) and only its message is not one we read (InnoDB notes, startup lines);
    False means the line is in no format we know: a continuation line or the wrong file.
    """

    line_number: int
    text: str
    has_prefix: bool


@dataclass(slots=True)
class ErrorLog:
    """A whole error log read: its records, and an account of every line that gave none."""

    path: str
    records: list[ErrorLogRecord] = field(default_factory=list)
    lines: int = 0  # every line read, blank ones included
    counts: Counter[str] = field(default_factory=Counter)  # per Kind value, plus "unmatched"
    unmatched_count: int = 0
    unmatched: list[UnmatchedLine] = field(default_factory=list)  # the first kept_limit ones
    unmatched_kept_limit: int = 1000

    def of_kind(self, kind: Kind) -> list[ErrorLogRecord]:
        """The records of one kind, in file order."""
        return [record for record in self.records if record.kind is kind]


def parse_line(line: str, *, line_number: int = 0, tz: TzArgument = None) -> ErrorLogRecord | None:
    """The record for one error-log line, or None when the line is not one we read.

    `tz` is the zone of naive timestamps (MariaDB and legacy formats): a tzinfo, an IANA name,
    or None for this machine's local zone. Stamps with "Z" or an offset ignore it.
    """
    record, _ = _parse(line.rstrip("\r\n"), line_number, _zone(tz))
    return record


def iter_error_log(
    path: str | os.PathLike[str], tz: TzArgument = None
) -> Iterator[ErrorLogRecord | UnmatchedLine]:
    """Stream a log (plain or gzip): records and unmatched lines, in file order.

    The file is opened before this returns, so a missing or unreadable file raises
    `ErrorLogUnreadable` here and not at the first `next()`. Blank lines are skipped.
    """
    stream = _open_text(path)
    return _close_after(stream, _scan(stream, path, _zone(tz)))


def read_error_log(
    path: str | os.PathLike[str], tz: TzArgument = None, *, unmatched_kept_limit: int = 1000
) -> ErrorLog:
    """Read a whole log into an `ErrorLog`: records, per-kind counts and unmatched lines.

    Every unmatched line is counted; the first `unmatched_kept_limit` are kept for listing
    (an error log is mostly server notes, and a big one must not be held in memory).
    """
    log = ErrorLog(path=os.fspath(path), unmatched_kept_limit=unmatched_kept_limit)
    with _open_text(path) as stream:
        for line_number, item in _scan(stream, path, _zone(tz)):
            log.lines = line_number
            if item is None:
                continue
            if isinstance(item, UnmatchedLine):
                log.unmatched_count += 1
                log.counts["unmatched"] += 1
                if len(log.unmatched) < unmatched_kept_limit:
                    log.unmatched.append(item)
            else:
                log.records.append(item)
                log.counts[item.kind.value] += 1
    return log


# --- internals ---------------------------------------------------------------------------


def _open_text(path: str | os.PathLike[str]) -> IO[str]:
    try:
        with open(path, "rb") as probe:
            compressed = probe.read(2) == b"\x1f\x8b"
        binary: IO[bytes] = (
            gzip.open(path, "rb") if compressed else open(path, "rb")  # type: ignore[assignment]  # noqa: SIM115
        )
    except OSError as error:
        raise ErrorLogUnreadable(
            f"cannot read error log {os.fspath(path)}: {error.strerror or error}"
        ) from None
    # Servers write user names and query text as the bytes they got; never fail on them.
    return io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline="")


def _close_after(
    stream: IO[str], items: Iterator[tuple[int, ErrorLogRecord | UnmatchedLine | None]]
) -> Iterator[ErrorLogRecord | UnmatchedLine]:
    with stream:
        for _, item in items:
            if item is not None:
                yield item


def _scan(
    lines: Iterable[str],
    path: str | os.PathLike[str],
    tz: tzinfo | None,
) -> Iterator[tuple[int, ErrorLogRecord | UnmatchedLine | None]]:
    """(line number, record or unmatched line, or None for a blank line), in file order.

    Pairs each "Aborted connection" with the "Could not read packet" of its thread before it.
    """
    pending_reads: dict[int, ErrorLogRecord] = {}
    line_number = 0
    iterator = iter(lines)
    while True:
        try:
            line = next(iterator)
        except StopIteration:
            return
        except (OSError, EOFError, zlib.error) as error:
            raise ErrorLogUnreadable(
                f"cannot read error log {os.fspath(path)} after line {line_number}: {error}"
            ) from None
        line_number += 1
        text = line.rstrip("\r\n")
        if not text.strip():
            yield line_number, None
            continue
        record, has_prefix = _parse(text, line_number, tz)
        if record is None:
            yield line_number, UnmatchedLine(line_number, text, has_prefix)
            continue
        if record.kind is Kind.COULD_NOT_READ_PACKET and record.thread_id is not None:
            pending_reads.pop(record.thread_id, None)
            pending_reads[record.thread_id] = record
            if len(pending_reads) > PENDING_READS_LIMIT:
                del pending_reads[next(iter(pending_reads))]
        elif record.kind is Kind.ABORTED_CONNECTION and record.thread_id is not None:
            read = pending_reads.pop(record.thread_id, None)
            if read is not None and _close_in_time(read, record):
                _attach_read(record, read)
        yield line_number, record


def _parse(text: str, line_number: int, tz: tzinfo | None) -> tuple[ErrorLogRecord | None, bool]:
    """The record for a line without its ending, and whether its prefix was recognised."""
    for format_name, prefix_pattern in LINE_PREFIXES:  # noqa: B007 - used after the loop
        prefix = prefix_pattern.fullmatch(text)
        if prefix is not None:
            break
    else:
        return None, False
    fields = prefix.groupdict()
    message = fields["message"]
    for kind, pattern in MESSAGES:
        matched = pattern.fullmatch(message)
        if matched is not None:
            return _record(kind, matched, format_name, fields, text, line_number, tz), True
    return None, True


def _attach_read(aborted: ErrorLogRecord, read: ErrorLogRecord) -> None:
    aborted.fd, aborted.state, aborted.read_length = read.fd, read.state, read.read_length
    aborted.errno, aborted.vio_errno, aborted.length = read.errno, read.vio_errno, read.length
    aborted.paired_line_number = read.line_number


def _close_in_time(earlier: ErrorLogRecord, later: ErrorLogRecord) -> bool:
    if earlier.epoch is None or later.epoch is None:
        return True
    return 0 <= later.epoch - earlier.epoch <= PAIR_WINDOW_SECONDS


_INT_FIELDS = ("fd", "state", "read_length", "errno", "vio_errno", "length")
_TEXT_FIELDS = ("db", "user", "host", "real_ip")


def _record(
    kind: Kind,
    matched: re.Match[str],
    format_name: str,
    prefix: dict[str, str | None],
    raw: str,
    line_number: int,
    tz: tzinfo | None,
) -> ErrorLogRecord:
    groups = matched.groupdict()
    thread_text = prefix.get("thread")
    logging_thread = int(thread_text) if thread_text else None
    if "thread_id" in groups:
        named = int(groups["thread_id"] or 0)
        thread_id = named or None
    elif logging_thread and logging_thread <= MAX_CONNECTION_ID:
        thread_id = logging_thread
    else:
        thread_id = None  # 0 is a server thread; above MAX_CONNECTION_ID a pthread id
    if "reason" in groups:
        reason = groups["reason"]
    elif "vio_errno" in groups:
        reason = NET_ERROR_TEXTS.get(int(groups["vio_errno"] or 0))
    else:
        reason = prefix["message"]
    using_password = groups.get("using_password")
    timestamp = prefix["ts"]
    epoch, has_zone = _epoch(timestamp, format_name, tz) if timestamp else (None, False)
    values: dict[str, object] = {
        name: groups[name] for name in _TEXT_FIELDS if groups.get(name) is not None
    }
    values.update((name, int(groups[name])) for name in _INT_FIELDS if groups.get(name) is not None)
    return ErrorLogRecord(
        kind=kind,
        line_number=line_number,
        raw=raw,
        message=prefix["message"] or "",
        timestamp=timestamp,
        epoch=epoch,
        timestamp_has_zone=has_zone,
        severity=prefix.get("severity"),
        error_code=prefix.get("code"),
        subsystem=prefix.get("subsystem"),
        logging_thread=logging_thread,
        thread_id=thread_id,
        reason=reason,
        reason_kind=reason_of(reason) if kind is not Kind.ACCESS_DENIED else None,
        using_password=None if using_password is None else using_password == "YES",
        **values,  # type: ignore[arg-type]
    )


def _zone(tz: TzArgument) -> tzinfo | None:
    if tz is None or isinstance(tz, tzinfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        if tz.upper() == "UTC":
            return UTC
        raise ValueError(f"unknown time zone {tz!r}") from None


def _epoch(text: str, format_name: str, tz: tzinfo | None) -> tuple[float | None, bool]:
    try:
        if format_name == "mysql":
            return _iso_epoch(text, tz)
        return _naive_epoch(text, tz), False
    except ValueError:
        return None, False


@lru_cache(maxsize=4096)
def _iso_epoch(text: str, tz: tzinfo | None) -> tuple[float, bool]:
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        return _localize(stamp, tz), False
    return stamp.timestamp(), True


@lru_cache(maxsize=4096)
def _naive_epoch(text: str, tz: tzinfo | None) -> float:
    day, clock = text.split()
    hour, minute, second = (int(part) for part in clock.split(":"))
    if "-" in day:
        year, month, mday = (int(part) for part in day.split("-"))
    else:  # legacy YYMMDD
        year, month, mday = 2000 + int(day[:2]), int(day[2:4]), int(day[4:6])
    return _localize(datetime(year, month, mday, hour, minute, second), tz)


def _localize(stamp: datetime, tz: tzinfo | None) -> float:
    if tz is None:
        return stamp.timestamp()  # naive: read in this machine's local zone
    return stamp.replace(tzinfo=tz).timestamp()


__all__ = [
    "ErrorLog",
    "ErrorLogRecord",
    "ErrorLogUnreadable",
    "ReadOutcome",
    "UnmatchedLine",
    "iter_error_log",
    "parse_line",
    "read_error_log",
]
