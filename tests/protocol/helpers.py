"""Feeding the decoder in tests: chunks in, events out, with predictable frames and times."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mysqlwire.protocol import MySQLDecoder
from mysqlwire.protocol.events import Event
from tests.mysql_builder import Chunk, Conversation

START_TS = 1_700_000_000.0
STEP = 0.001


def ts_of(frame: int) -> float:
    return START_TS + frame * STEP


def feed(decoder: MySQLDecoder, chunks: Iterable[Chunk], *, first_frame: int = 1) -> list[Event]:
    """Feed each chunk as one frame (frame numbers count from `first_frame`, a millisecond
    apart) and return every event that came out."""
    out: list[Event] = []
    for number, chunk in enumerate(chunks, start=first_frame):
        decoder.receive_data(chunk.side, chunk.data, number, ts_of(number))
        out += decoder.events()
    return out


def decode(
    chunks: Conversation | Sequence[Chunk],
    *,
    detail: bool = False,
    start_seen: bool = True,
    eof: bool = False,
    **options,
) -> list[Event]:
    """Decode a whole conversation with a fresh decoder; `eof` also ends both streams."""
    decoder = MySQLDecoder(detail=detail, start_seen=start_seen, **options)
    return run(decoder, chunks, eof=eof)


def run(decoder: MySQLDecoder, chunks: Conversation | Sequence[Chunk], *, eof: bool = False):
    if isinstance(chunks, Conversation):
        chunks = chunks.chunks
    out = feed(decoder, chunks)
    if eof:
        last = len(chunks) + 1
        decoder.receive_eof(last, ts_of(last))
        out += decoder.events()
    return out


def of(events: Iterable[Event], *kinds: type) -> list:
    """The events of the given classes, in order."""
    return [event for event in events if isinstance(event, kinds)]


def one(events: Iterable[Event], kind: type):
    """The single event of class `kind` (fails when there are none or several)."""
    found = of(events, kind)
    assert len(found) == 1, f"expected one {kind.__name__}, got {names(events)}"
    return found[0]


def names(events: Iterable[Event]) -> list[str]:
    return [type(event).__name__ for event in events]


def problems(events: Iterable[Event]) -> list[Event]:
    """Events that say something went wrong in the decoding itself."""
    from mysqlwire.protocol.events import (
        IncompletePacket,
        MalformedPacket,
        NotMySQL,
        Resynchronised,
        SequenceError,
        UnexpectedPacket,
    )

    return of(
        events,
        MalformedPacket,
        UnexpectedPacket,
        SequenceError,
        NotMySQL,
        Resynchronised,
        IncompletePacket,
    )
