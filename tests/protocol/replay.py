"""Drive the decoder from a capture file, the way the pipeline does, for tests.

`decode_capture(path, server_ports)` returns one `DecodedConnection` per TCP connection: the
capture layer's facts, the decoder (its final state) and every event it emitted, in order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from capture import TcpFacts, track_files
from mysqlwire.protocol import MySQLDecoder
from mysqlwire.protocol.events import Event


@dataclass
class DecodedConnection:
    facts: TcpFacts
    decoder: MySQLDecoder
    events: list[Event] = field(default_factory=list)

    def of(self, *kinds: type) -> list:
        return [event for event in self.events if isinstance(event, kinds)]


class _Sink:
    def __init__(self, connection, out: list[DecodedConnection], detail: bool, options) -> None:
        facts = connection.facts
        # as the pipeline decides it: the SYN opened it (facts.syn is not recorded yet)
        decoder = MySQLDecoder(detail=detail, start_seen=facts.role_source == "syn", **options)
        self.decoded = DecodedConnection(facts, decoder)
        out.append(self.decoded)

    def on_data(self, direction, data, frame, ts) -> None:
        decoder = self.decoded.decoder
        decoder.receive_data(int(direction), data, frame, ts)
        self.decoded.events += decoder.events()

    def on_gap(self, gap) -> None:
        decoder = self.decoded.decoder
        decoder.receive_gap(
            int(gap.direction), gap.size, gap.frame, gap.ts, gap.stream_offset, gap.size_known
        )
        self.decoded.events += decoder.events()

    def on_close(self, facts: TcpFacts) -> None:
        decoder = self.decoded.decoder
        decoder.receive_eof(facts.last_frame, facts.last_ts)
        self.decoded.events += decoder.events()
        self.decoded.facts = facts


def decode_capture(
    path: str | Path,
    server_ports: Iterable[int] | None = (3306,),
    *,
    detail: bool = False,
    **options,
) -> list[DecodedConnection]:
    """Every connection of the capture on `server_ports` (None: every TCP connection),
    decoded, in order of first frame. `options` go to the decoder."""
    out: list[DecodedConnection] = []
    track_files(
        [path],
        lambda connection: _Sink(connection, out, detail, options),
        server_ports=set(server_ports) if server_ports is not None else None,
    )
    return sorted(out, key=lambda decoded: decoded.facts.first_frame)
