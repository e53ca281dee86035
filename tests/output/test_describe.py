"""`mysqlwire dump` names every event the decoder can emit: none is printed as a bare class
name with no text."""

from __future__ import annotations

import inspect

from mysqlwire.output.describe import DESCRIBERS, describe
from mysqlwire.protocol import events as ev
from mysqlwire.protocol.constants import CLIENT


def test_every_event_class_has_a_description() -> None:
    emitted = [
        cls
        for _name, cls in inspect.getmembers(ev, inspect.isclass)
        if issubclass(cls, ev.Event) and cls not in (ev.Event, ev.PacketEvent)
    ]
    assert emitted and [cls.__name__ for cls in emitted if cls not in DESCRIBERS] == []


def test_a_split_packet_says_how_it_was_split() -> None:
    event = ev.LargePacket(
        side=CLIENT, frame=9, ts=1.0, seq=0, size=16_777_220, wire_packets=2, first_byte=3
    )
    assert describe(event) == ("large", "16777220 bytes split over 2 wire packets")
