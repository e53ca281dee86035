"""The small interface through which the capture layer hands streams to a decoder.

The tracker calls a `SinkFactory` once per new TCP connection and then feeds the returned
`ConnectionSink`, in capture order. A connection that begins with a bare SYN gets its sink
when it first carries anything beyond its handshake, or when it is handed over if it never
does (a SYN never answered, refused, or left at the SYN-ACK): the sink sees the same facts
either way (`TcpTracker(compact_handshakes=False)` calls the factory at the SYN).

* `on_data(direction, data, frame, ts)` for each segment's newly in-order payload bytes;
  buffered segments that a late segment made contiguous follow one call each, with their own
  frame number and timestamp, so evidence always points at the frame that carried the bytes;
* `on_gap(gap)` where bytes are missing, before the bytes that follow the hole;
* `on_close(facts)` exactly once, when the connection is finished (closed and lingered, reused
  by a new SYN, evicted, or still open at the end of the capture). After it the tracker
  forgets the connection.
* `on_idle()`, optional: the open connection has carried no new payload for `IDLE_AFTER`
  seconds of capture time (bare ACKs and keep-alive probes do not count), and the tracker
  puts it to sleep (capture/dormant.py). Said once per sleep: a packet without payload wakes
  the connection, and the next sweep says it again if the silence goes on (a connection whose
  state will not pack stays awake and hears it at every sweep). A sink may pack
  what it holds until its next call: a pool's idle connections are most of what a database
  host's capture holds open. Whatever `on_idle` raises goes to the tracker's caller, as for
  the other calls.

A factory may return None to ignore a connection; its packets are then only counted.
Any object with these three methods is a sink; one that inherits `CompiledSink` (the
analysis's own) gets its `on_data` called natively in the compiled build.
The sink may call `connection.swap_roles()` before it has consumed any data when the bytes
show that the tracker's guess of client and server was wrong (possible only when
`facts.role_source == "guess"`), from `on_data`. It reads `connection.facts` when it needs
them, rather than keeping the object: a connection that slept has new facts (and sides)
since it woke. (Read while it sleeps, `connection.facts` is an exact copy, made each time.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from capture.facts import Direction, StreamGap, TcpFacts


class ConnectionSink(Protocol):
    def on_data(self, direction: Direction, data: bytes, frame: int, ts: float) -> None: ...

    def on_gap(self, gap: StreamGap) -> None: ...

    def on_close(self, facts: TcpFacts) -> None: ...


class CompiledSink:
    """A base for the analysis's own sinks, compiled with the capture layer: the reassembly
    calls their `on_data` directly, a native call in the compiled build (no method lookup by
    name, no boxed frame number and timestamp), where any other `ConnectionSink` is called
    through Python, the protocol being structural. A subclass overrides the three required
    methods; `on_idle` does nothing unless overridden."""

    __slots__ = ()

    def on_data(self, direction: Direction, data: bytes, frame: int, ts: float) -> None:
        raise NotImplementedError

    def on_gap(self, gap: StreamGap) -> None:
        raise NotImplementedError

    def on_close(self, facts: TcpFacts) -> None:
        raise NotImplementedError

    def on_idle(self) -> None:
        """Nothing to pack, by default."""


class TrackedConnection(Protocol):
    """What a factory is given: the live facts, and the one correction it may make."""

    @property
    def facts(self) -> TcpFacts: ...

    def swap_roles(self) -> None: ...


class SinkFactory(Protocol):
    def __call__(self, connection: TrackedConnection) -> ConnectionSink | None: ...
