"""The TCP side of a sleeping connection: its facts and both stream directions in one packed
bytes object.

An open connection that has gone idle (see capture/tracker.py) costs several kilobytes as
objects: the facts with their TTL profile, SYN and SYN-ACK records and evidence lists, two
stream directions with their counters and keys. A pool's connections sit like that for
minutes, and a capture or a live run holds thousands of them. The tracker puts such a
connection to sleep: it takes the two directions out of its table and keeps what `pack`
returns (a few hundred bytes, see capture/packing.py) until a packet of the connection, the
end of the capture or an eviction wakes it, when `unpack` gives back the same facts and
directions, in new objects. Nothing else changes: the equivalence suite puts every connection
to sleep after every frame and compares what the sinks receive.
"""

from __future__ import annotations

from typing import Final

from capture.consumer import ConnectionSink
from capture.facts import TcpFacts
from capture.packing import Packer
from capture.tcp_reassembly import SideAsleep, StreamDirection

# A connection asleep pickles to about 550 bytes (under 200 packed); a much larger one holds
# segments waiting for a hole to be filled, which others do not repeat (capture/packing.py).
DICTIONARY_MAX: Final = 8_192

PACKER = Packer(DICTIONARY_MAX)


def pack(facts: TcpFacts, sides: list[StreamDirection]) -> bytes:
    """`facts` (brought up to date by the caller) and the two directions, packed."""
    return PACKER.pack((facts, sides[0].asleep(), sides[1].asleep()))


def unpack(packed: bytes, sink: ConnectionSink | None) -> tuple[TcpFacts, list[StreamDirection]]:
    """What `pack` took: the facts and the two directions (client's first), linked to the facts
    and to `sink`, not yet to their connection or to each other."""
    state: tuple[TcpFacts, SideAsleep, SideAsleep] = PACKER.unpack(packed)
    facts, client_side, server_side = state
    return facts, [
        StreamDirection.awoken(client_side, facts, sink),
        StreamDirection.awoken(server_side, facts, sink),
    ]
