"""`mysqlwire dump`: one line per logical MySQL packet (and per notable event), in capture
order, as text or jsonl."""

from __future__ import annotations

from typing import TextIO

from capture import TcpFacts
from mysqlwire.output.describe import describe, format_time_of_day, format_ts
from mysqlwire.output.records import dumps
from mysqlwire.output.redact import redact_event
from mysqlwire.output.schema import SCHEMA_VERSION
from mysqlwire.protocol import events as ev
from mysqlwire.protocol.constants import CLIENT, SIDE_NAMES


class DumpWriter:
    """Writes each event as it comes; `redact` hides literals first (output/redact.py)."""

    def __init__(self, out: TextIO, fmt: str = "text", *, redact: bool = False) -> None:
        self.out = out
        self.jsonl = fmt == "jsonl"
        self.redact = redact
        self.introduced: set[int] = set()

    def event(self, facts: TcpFacts, event: ev.Event) -> None:
        if self.redact:
            event = redact_event(event)
        label, text = describe(event)
        packet = isinstance(event, ev.PacketEvent)
        if self.jsonl:
            record: dict[str, object] = {
                "type": "packet" if packet else "event",
                "schema": SCHEMA_VERSION,
                "frame": event.frame,
                "ts": event.ts,
                "conn_id": facts.conn_id,
                "client": str(facts.client),
                "server": str(facts.server),
                "direction": "c2s" if event.side == CLIENT else "s2c",
                "kind": label,
                "text": text,
            }
            if isinstance(event, ev.PacketEvent):
                record.update(seq=event.seq, length=event.size, wire_packets=event.wire_packets)
            self.out.write(dumps(record) + "\n")
            return
        if facts.conn_id not in self.introduced:
            self.introduced.add(facts.conn_id)
            self.out.write(
                f"#{facts.conn_id} {facts.client} -> {facts.server} "
                f"(first frame {facts.first_frame} at {format_ts(facts.first_ts)})\n"
            )
        arrow = "C>S" if event.side == CLIENT else "S>C"
        if isinstance(event, ev.PacketEvent):
            split = f"/{event.wire_packets}" if event.wire_packets > 1 else ""
            where = f"seq={event.seq:<3} len={event.size}{split}"
        else:
            where = ""
        self.out.write(
            f"{event.frame:>8} {format_time_of_day(event.ts)} #{facts.conn_id} "
            f"{arrow} {where:<18} {label} {text}".rstrip()
            + "\n"
        )


__all__ = ["SIDE_NAMES", "DumpWriter"]
