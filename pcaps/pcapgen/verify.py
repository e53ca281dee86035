"""A cross-check of each expected file against the capture, with tshark (never mysqlwire).

The expected files are written from what the scenarios did; this only warns when the wire
disagrees (a connection missing, the other side closing first, other ERR codes), so that a
surprise in the server's behaviour is noticed and written into the scenario's description.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .expected import ExpectedCapture

SERVER_PORTS = (3306, 3307, 3399)
FIELDS = (
    "tcp.stream",
    "ip.src",
    "tcp.srcport",
    "ip.dst",
    "tcp.dstport",
    "tcp.flags.syn",
    "tcp.flags.fin",
    "tcp.flags.reset",
    "tcp.flags.ack",
    "ip.ttl",
    "mysql.error_code",
)


@dataclass
class WireConnection:
    client: str
    server: str
    first_close: str | None = None  # "client FIN", "server RST", ...
    error_codes: list[int] = field(default_factory=list)


def wire_connections(capture: Path) -> dict[str, WireConnection]:
    """TCP connections by client address: who closed first, which ERR codes the server sent."""
    argv = [
        "tshark",
        "-r",
        str(capture),
        "-n",
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-E",
        "occurrence=l",  # the innermost IP header of a tunnelled frame (vxlan_overlay)
        "-Y",
        "tcp.flags.syn==1 || tcp.flags.fin==1 || tcp.flags.reset==1 || mysql.error_code",
    ]
    for port in SERVER_PORTS[1:]:
        argv += ["-d", f"tcp.port=={port},mysql"]
    for name in FIELDS:
        argv += ["-e", name]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    by_stream: dict[str, WireConnection] = {}
    for line in out.splitlines():
        stream, src, sport, dst, dport, _syn, fin, rst, _ack, _ttl, codes = line.split("|")
        from_server = int(sport) in SERVER_PORTS and int(dport) not in SERVER_PORTS
        client = f"{dst}:{dport}" if from_server else f"{src}:{sport}"
        server = f"{src}:{sport}" if from_server else f"{dst}:{dport}"
        conn = by_stream.setdefault(stream, WireConnection(client, server))
        side = "server" if from_server else "client"
        if conn.first_close is None and (fin in ("1", "True") or rst in ("1", "True")):
            conn.first_close = f"{side} {'RST' if rst in ('1', 'True') else 'FIN'}"
        if codes and from_server:
            conn.error_codes += [int(c) for c in codes.split(",")]
    return {(c.client, c.server): c for c in by_stream.values()}


def check(capture: Path, expected: ExpectedCapture) -> list[str]:
    """Disagreements between the expected file and the wire, as readable lines."""
    try:
        wire = wire_connections(capture)
    except (OSError, subprocess.CalledProcessError) as error:
        return [f"tshark could not read {capture.name}: {error}"]
    problems = []
    if len(wire) != expected.connection_count:
        problems.append(
            f"{len(wire)} TCP connections on the wire, {expected.connection_count} expected"
        )
    for conn in expected.connections:
        seen = wire.get((conn.client, conn.server))
        label = f"{conn.client} ({conn.close})"
        if seen is None:
            problems.append(f"{label}: not on the wire")
            continue
        closer = seen.first_close.split()[0] if seen.first_close else "none"
        if conn.closed_by == "middlebox":
            if not (seen.first_close or "").endswith("RST"):
                problems.append(f"{label}: first close is {seen.first_close}, not an RST")
        elif (conn.close == "clean_quit" or conn.error_codes) and closer in ("client", "server"):
            pass  # after COM_QUIT or a fatal ERR both sides close at once, in either order
        elif closer != conn.closed_by:
            problems.append(
                f"{label}: closed_by {conn.closed_by} expected, wire shows "
                f"{seen.first_close or 'no close'}"
            )
        hidden = {"tls", "compressed", "mid_stream_start"} & set(conn.findings)
        if not hidden and seen.error_codes != conn.error_codes:
            problems.append(
                f"{label}: ERR codes {conn.error_codes} expected, tshark decodes {seen.error_codes}"
            )
    return problems
