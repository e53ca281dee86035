"""IP fragment reassembly in a bounded table.

Fragments are keyed by (addresses, identification, IP version) and held until the datagram
is whole, its first fragment is older than `timeout` seconds of capture time, or the table
is full (`max_datagrams`, `max_datagram_bytes`); each datagram dropped incomplete counts in
`CaptureStats.fragments_given_up`. Overlapping fragments keep the bytes of the copy that
arrived first, as the TCP reassembly does. Only TCP datagrams come here: other protocols
are counted by the tracker without being rebuilt.
"""

from __future__ import annotations

from capture.stats import CaptureStats

MAX_IP_DATAGRAM = 65535 + 8  # fragment offsets are 13 bits of 8-byte units


class _Datagram:
    __slots__ = ("first_ts", "pieces", "total")

    def __init__(self, first_ts: float) -> None:
        self.first_ts = first_ts
        self.pieces: list[tuple[int, bytes]] = []  # (offset, bytes) in arrival order
        self.total = -1  # known once the last fragment (more-fragments clear) arrives


class FragmentTable:
    def __init__(
        self,
        stats: CaptureStats,
        timeout: float = 30.0,
        max_datagrams: int = 4096,
    ) -> None:
        self.stats = stats
        self.timeout = timeout
        self.max_datagrams = max_datagrams
        self._datagrams: dict[tuple[bytes, int, int], _Datagram] = {}

    def add(
        self, key: tuple[bytes, int, int], offset: int, more: bool, payload: bytes, ts: float
    ) -> bytes | None:
        """Add one fragment's payload; return the whole datagram payload when complete."""
        datagrams = self._datagrams
        self._expire(ts)
        datagram = datagrams.get(key)
        if datagram is None:
            if len(datagrams) >= self.max_datagrams:
                del datagrams[next(iter(datagrams))]
                self.stats.fragments_given_up += 1
            datagram = datagrams[key] = _Datagram(ts)
        if offset + len(payload) > MAX_IP_DATAGRAM:
            del datagrams[key]
            self.stats.fragments_given_up += 1
            return None
        datagram.pieces.append((offset, payload))
        if not more:
            datagram.total = offset + len(payload)
        if datagram.total < 0:
            return None
        whole = _assemble(datagram)
        if whole is not None:
            del datagrams[key]
        return whole

    def give_up(self) -> None:
        """End of capture: whatever is still incomplete is lost."""
        self.stats.fragments_given_up += len(self._datagrams)
        self._datagrams.clear()

    def _expire(self, now: float) -> None:
        datagrams = self._datagrams
        while datagrams:
            key = next(iter(datagrams))
            if datagrams[key].first_ts + self.timeout >= now:
                return
            del datagrams[key]
            self.stats.fragments_given_up += 1


def _assemble(datagram: _Datagram) -> bytes | None:
    total = datagram.total
    covered = 0
    for offset, payload in sorted(datagram.pieces, key=lambda piece: piece[0]):
        if offset > covered:
            return None
        covered = max(covered, offset + len(payload))
    if covered < total:
        return None
    whole = bytearray(total)
    for offset, payload in reversed(datagram.pieces):  # the first arrival is written last
        whole[offset : offset + len(payload)] = payload[: max(0, total - offset)]
    return bytes(whole[:total])
