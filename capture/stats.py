"""Counters for everything a capture held, so nothing is dropped silently.

Every frame read lands in exactly one place: one of the frame counters below, or the packet
count of a tracked connection (summed into `connection_frames` when the connection is
released). `unaccounted_frames()` is therefore 0 after `TcpTracker.finish()`; the tests hold
the layer to that.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class CaptureFile:
    """One input file, with where its frames sit in the merged global numbering.

    With several files merged by timestamp, frames of overlapping files interleave;
    `CaptureStats.file_of(frame)` gives the file of any frame.
    """

    path: str
    format: str = ""  # "pcap", "pcap-ns", "pcapng", each with "+gzip"/"+zstd" when compressed
    first_frame: int = 0  # global number of its first frame (0: none read)
    frames: int = 0
    problem: str = ""  # why it was left out, when it could not be read among several files


@dataclass(slots=True)
class CaptureStats:
    """What the readers and the tracker saw, frame by frame and connection by connection."""

    files: list[CaptureFile] = field(default_factory=list)
    frames: int = 0
    bytes: int = 0  # captured bytes of all frames
    first_ts: float | None = None
    last_ts: float | None = None
    frames_by_linktype: dict[int, int] = field(default_factory=dict)
    # Frame counters: each frame lands in exactly one of these or in a connection.
    unsupported_linktype: dict[int, int] = field(default_factory=dict)  # DLT -> frames
    non_ip: dict[int, int] = field(default_factory=dict)  # ethertype (or -1) -> frames
    non_tcp: dict[int, int] = field(default_factory=dict)  # IP protocol -> frames
    tcp_other_ports: int = 0  # TCP frames skipped: neither port is a server port
    other_shard: int = 0  # frames of connections another process tracks (--jobs)
    too_short: int = 0  # frames too short to hold the headers they announce
    malformed: int = 0  # headers that contradict themselves (IHL < 5, TCP offset < 5...)
    ip_fragments: int = 0  # frames carrying an IPv4 or IPv6 fragment of a TCP or tunnel datagram
    connection_frames: int = 0  # frames of released connections (summed at release)
    # Fragment reassembly (frames counted in `ip_fragments`, datagrams here).
    fragments_reassembled: int = 0  # datagrams rebuilt from fragments and tracked
    fragments_given_up: int = 0  # datagrams dropped incomplete (timeout, table cap, overlap)
    # pcapng bookkeeping.
    interface_drops: dict[str, int] = field(default_factory=dict)  # "file#if" -> ISB if_drop
    skipped_blocks: dict[int, int] = field(default_factory=dict)  # pcapng block type -> count
    # Connections.
    connections: int = 0
    connections_evicted: int = 0
    # frames of evicted connections that came after the eviction: counted, not tracked
    # again (re-tracking one would evict another, and so on)
    after_eviction: int = 0
    cut_by_snaplen: int = 0  # tracked frames whose TCP payload the snapshot length cut
    # Frames found inside a tunnel (VXLAN, GENEVE, GRE, ERSPAN, IP-in-IP, MPLS, PPPoE), by
    # tunnel; not a frame counter: each is also counted where its inner packet went.
    tunnelled: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    _runs: list[tuple[int, int]] = field(default_factory=list, repr=False)  # (frame, file)

    def warn(self, message: str) -> None:
        """Record a one-line warning (each distinct message once)."""
        if message not in self.warnings:
            self.warnings.append(message)

    def skipped_frames(self) -> int:
        """Frames that reached no connection, by whichever counter took them."""
        return (
            sum(self.unsupported_linktype.values())
            + sum(self.non_ip.values())
            + sum(self.non_tcp.values())
            + self.tcp_other_ports
            + self.other_shard
            + self.after_eviction
            + self.too_short
            + self.malformed
            + self.ip_fragments
        )

    def unaccounted_frames(self) -> int:
        """Frames read but found in no counter and no connection: 0 once tracking finished."""
        return self.frames - self.skipped_frames() - self.connection_frames

    def file_of(self, frame: int) -> CaptureFile | None:
        """The input file that held global frame number `frame`."""
        runs = self._runs
        lo, hi = 0, len(runs)
        while lo < hi:
            mid = (lo + hi) // 2
            if runs[mid][0] <= frame:
                lo = mid + 1
            else:
                hi = mid
        if lo == 0 or frame > self.frames:
            return None
        return self.files[runs[lo - 1][1]]

    def note_file_run(self, first_frame: int, file_index: int) -> None:
        """Readers call this when the merged frame sequence switches to another file."""
        self._runs.append((first_frame, file_index))
