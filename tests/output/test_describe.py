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


def test_a_command_left_without_reply_does_not_read_as_a_measured_latency() -> None:
    event = ev.CommandFinished(
        side=1, frame=17, ts=2.0, command="COM_QUERY", code=3, started_frame=12,
        started_ts=1.5, latency=0.5, outcome="no_reply", error_code=None, rows=0,
        response_bytes=0, response_packets=0,
    )  # fmt: skip
    assert describe(event)[1] == "COM_QUERY no_reply: no reply seen in the 500.000 ms to frame 17"


def test_field_list_replies_count_fields_not_rows() -> None:
    event = ev.CommandFinished(
        side=1, frame=22, ts=2.0, command="COM_FIELD_LIST", code=4, started_frame=21,
        started_ts=1.999, latency=0.001, outcome="eof", error_code=None, rows=3,
        response_bytes=200, response_packets=4,
    )  # fmt: skip
    assert describe(event)[1] == "COM_FIELD_LIST eof in 1.000 ms, 3 fields, 200 bytes"
