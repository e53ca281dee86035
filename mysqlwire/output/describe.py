"""One short label and one line of text for each decoder event: what `dump` prints.

A table from event type to describer keeps every format (text, jsonl) in agreement.
"""
# Each describer is given only events of the type it is filed under, which the table's type
# cannot say to mypy (run by scripts/build_native.py):
# mypy: disable-error-code="attr-defined"

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from mysqlwire.protocol import events as ev
from mysqlwire.protocol.binary_values import shorten
from mysqlwire.protocol.constants import SIDE_NAMES
from mysqlwire.protocol.error_codes import error_label
from mysqlwire.protocol.tls import VERSION_NAMES

TEXT_LIMIT = 160


def format_ts(ts: float | None) -> str:
    """UTC, to the microsecond: captures from different hosts line up, logs can be matched.
    A timestamp no calendar can show (a damaged file) is given in seconds."""
    if ts is None:
        return "-"
    try:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S.%fZ")
    except (ValueError, OverflowError, OSError):
        return f"{ts:.6f}s"


def format_time_of_day(ts: float | None) -> str:
    if ts is None:
        return "-"
    try:
        return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S.%f")
    except (ValueError, OverflowError, OSError):
        return f"{ts:.6f}s"


def _values(values: list[str | None] | None) -> str:
    if values is None:
        return "(values need the column types, which the capture did not hold)"
    return " | ".join("NULL" if v is None else v for v in values)


Describer = Callable[[ev.Event], tuple[str, str]]

DESCRIBERS: dict[type, Describer] = {
    ev.Greeting: lambda e: (
        "greeting",
        f"{e.server_version} thread {e.thread_id} auth {e.auth_plugin or '-'}",
    ),
    ev.SslRequest: lambda e: ("ssl_request", "switching to TLS"),
    ev.HandshakeResponse: lambda e: (
        "login",
        f"user {e.user!r} db {'-' if e.database is None else repr(e.database)} plugin "
        f"{e.auth_plugin or '-'}"
        + (f" client {e.attributes['_client_name']}" if "_client_name" in e.attributes else ""),
    ),
    ev.AuthSwitchRequest: lambda e: ("auth_switch", e.plugin),
    ev.AuthMoreData: lambda e: ("auth_more_data", e.step),
    ev.AuthResponse: lambda e: ("auth_response", e.step),
    ev.Command: lambda e: (
        e.name,
        e.query if e.query is not None else ", ".join(f"{k}={v}" for k, v in e.arguments.items()),
    ),
    ev.Ok: lambda e: (
        "OK",
        f"affected {e.affected_rows} insert_id {e.last_insert_id} status "
        f"0x{e.status:04x} warnings {e.warnings}" + (f" {e.info}" if e.info else ""),
    ),
    ev.Err: lambda e: ("ERR", f"{error_label(e.code)} {e.sql_state} {e.message}"),
    ev.Eof: lambda e: ("EOF", f"status 0x{e.status:04x} warnings {e.warnings}"),
    ev.Progress: lambda e: (
        "progress",
        f"stage {e.stage}/{e.max_stage} {e.progress:.1f}% {e.info}",
    ),
    ev.ResultSetHeader: lambda e: ("result_set", f"{e.column_count} columns"),
    ev.ColumnDefinition: lambda e: (
        "column",
        f"{e.schema}.{e.table}.{e.name} type {e.column_type}",
    ),
    ev.Row: lambda e: ("row", _values(e.values)),
    ev.ResultSetEnd: lambda e: (
        "end_of_rows",
        f"{e.rows} rows, {e.row_bytes} bytes" + (", more results" if e.more_results else ""),
    ),
    ev.StmtPrepareOk: lambda e: (
        "prepare_ok",
        f"statement {e.statement_id}: {e.params} params, {e.columns} columns",
    ),
    ev.LocalInfileRequest: lambda e: ("local_infile", e.filename),
    ev.LocalInfileData: lambda e: ("infile_data", f"{e.size} bytes"),
    ev.LocalInfileEnd: lambda e: (
        "infile_end",
        f"{e.total_bytes} bytes in {e.data_packets} packets",
    ),
    ev.TextReply: lambda e: ("text", e.text),
    ev.BinlogEvent: lambda e: ("binlog", f"{e.event_name} server {e.server_id} pos {e.log_pos}"),
    ev.CommandFinished: lambda e: (
        "finished",
        f"{e.command} {e.outcome}: no reply seen in the {e.latency * 1000:.3f} ms to "
        f"{'the capture gap' if e.outcome == 'gap' else f'frame {e.frame}'}"
        if e.outcome in ("no_reply", "gap")
        else f"{e.command} {e.outcome} in {e.latency * 1000:.3f} ms, {e.rows} "
        f"{'fields' if e.command == 'COM_FIELD_LIST' else 'rows'}, {e.response_bytes} bytes",
    ),
    ev.CompressionStarted: lambda e: (
        "compression",
        e.algorithm + (" (inferred)" if e.inferred else ""),
    ),
    ev.TlsRecord: lambda e: ("tls_record", f"type {e.content_type} length {e.length}"),
    ev.TlsDetected: lambda e: ("tls", e.reason),
    ev.Undecodable: lambda e: (
        "UNDECODABLE",
        f"{e.size} bytes from frame {e.first_frame or e.frame}: {e.reason}",
    ),
    ev.TlsVersion: lambda e: ("tls_version", e.version),
    ev.TlsAlert: lambda e: (
        "tls_alert",
        "encrypted" if e.encrypted else f"level {e.level} description {e.description}",
    ),
    ev.SequenceError: lambda e: (
        "SEQUENCE ERROR",
        f"expected {e.expected} got {e.got} — {e.driver_error}",
    ),
    ev.MalformedPacket: lambda e: ("MALFORMED", e.reason),
    ev.UnexpectedPacket: lambda e: ("UNEXPECTED", e.reason),
    ev.PayloadCapped: lambda e: ("capped", f"only {e.kept} of {e.size} bytes kept"),
    ev.LargePacket: lambda e: (
        "large",
        f"{e.size} bytes"
        + (f" split over {e.wire_packets} wire packets" if e.wire_packets > 1 else ""),
    ),
    ev.StreamGap: lambda e: ("GAP", f"{e.size} bytes missing" if e.size_known else "bytes missing"),
    ev.Resynchronised: lambda e: (
        "resync",
        f"skipped {e.skipped} bytes from frame {e.first_frame or e.frame}: {e.reason}",
    ),
    ev.MidStreamStart: lambda e: (
        "mid_stream",
        "; ".join(f"{k}: {v}" for k, v in e.inferred.items()),
    ),
    ev.IncompletePacket: lambda e: ("INCOMPLETE", f"{e.received} of {e.expected} bytes"),
    ev.NotMySQL: lambda e: ("NOT MYSQL", f"{e.protocol}: {e.reason}"),
    ev.ProxyHeader: lambda e: (
        "proxy_header",
        f"v{e.version} {e.command}"
        + (f" client {e.source} to {e.destination}" if e.source else "")
        + f", {e.size} bytes",
    ),
}


def describe(event: ev.Event) -> tuple[str, str]:
    describer = DESCRIBERS.get(type(event))
    if describer is None:
        return type(event).__name__, ""
    label, text = describer(event)
    return label, shorten(text.replace("\n", " "), TEXT_LIMIT)


def side_name(event: ev.Event) -> str:
    return SIDE_NAMES[event.side]


__all__ = ["VERSION_NAMES", "describe", "format_time_of_day", "format_ts", "side_name"]
