"""The jsonl/json record schema: one place that turns reports into plain JSON data.

This is a stable interface (docs/jsonl-schema.md): `analyze --format jsonl`, `--format json`
and `live --format jsonl` all write exactly these records. Add fields; never rename or remove.
"""

from __future__ import annotations

from capture import CaptureStats
from mysqlwire.report.connection_report import ConnectionReport

SCHEMA_VERSION = 1


def connection_record(report: ConnectionReport) -> dict[str, object]:
    return {
        "type": "connection",
        "schema": SCHEMA_VERSION,
        "conn_id": report.conn_id,
        "client": report.client,
        "server": report.server,
        "thread_id": report.thread_id,
        "server_version": report.server_version,
        "user": report.user,
        "database": report.database,
        "client_name": report.client_name,
        "program_name": report.program_name,
        "tls": report.tls,
        "tls_version": report.tls_version,
        "compressed": report.compressed,
        "mid_stream": report.mid_stream,
        "start": report.start,
        "end": report.end,
        "duration": round(report.duration, 6),
        "commands": report.commands,
        "bytes_c2s": report.bytes_c2s,
        "bytes_s2c": report.bytes_s2c,
        "packets_c2s": report.packets_c2s,
        "packets_s2c": report.packets_s2c,
        "close": report.close,
        "closed_by": report.closed_by,
        "close_frame": report.close_frame,
        "close_ts": report.close_ts,
        "close_reason": report.close_reason,
        "idle_before_close": report.idle_before_close,
        "last_command": report.last_command,
        "severity": report.severity,
        "server_counter": report.server_counter,
        "error_codes": report.error_codes,
        "findings": [item.as_dict() for item in report.findings],
        "first_frame": report.first_frame,
        "last_frame": report.last_frame,
        "error_log": report.error_log,
        "finding_counts": report.finding_counts,
        "tcp_attempt": report.tcp_attempt,
        "proxied_client": report.proxied_client,
    }


def capture_record(stats: CaptureStats) -> dict[str, object]:
    """What was read and what could not be used, so nothing is dropped silently."""
    return {
        "files": [
            {
                "path": f.path,
                "format": f.format,
                "frames": f.frames,
                "first_frame": f.first_frame,
                "problem": f.problem or None,
            }
            for f in stats.files
        ],
        "frames": stats.frames,
        "bytes": stats.bytes,
        "first_ts": stats.first_ts,
        "last_ts": stats.last_ts,
        "tcp_connections": stats.connections,
        "frames_in_connections": stats.connection_frames,
        "skipped": {
            "tcp_other_ports": stats.tcp_other_ports,
            "non_tcp": sum(stats.non_tcp.values()),
            "non_ip": sum(stats.non_ip.values()),
            "unsupported_link_type": sum(stats.unsupported_linktype.values()),
            "too_short": stats.too_short,
            "malformed_headers": stats.malformed,
            "ip_fragments": stats.ip_fragments,
            "after_eviction": stats.after_eviction,
        },
        "tunnelled": stats.tunnelled,
        "ip_fragments_reassembled": stats.fragments_reassembled,
        "ip_fragments_given_up": stats.fragments_given_up,
        "unsupported_link_types": {str(k): v for k, v in stats.unsupported_linktype.items()},
        "interface_drops": stats.interface_drops,
        "connections_evicted": stats.connections_evicted,
        "frames_cut_by_snaplen": stats.cut_by_snaplen,
        "warnings": stats.warnings,
    }


def summary_record(
    summary: dict[str, object],
    stats: CaptureStats,
    error_log: dict[str, object] | None = None,
) -> dict[str, object]:
    return {
        "type": "summary",
        "schema": SCHEMA_VERSION,
        **summary,
        "capture": capture_record(stats),
        "error_log": error_log,
    }
