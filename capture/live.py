"""Live capture: raw frames from the Linux kernel into the same `TcpTracker` as files.

`LiveCapture` opens an AF_PACKET socket the way libpcap does, with scapy's libpcap binding
only to compile the filter: a kernel BPF filter (so only the MySQL packets reach Python), a
TPACKET_V3 memory-mapped ring (the kernel writes whole blocks of packets with their
timestamps; reading one costs a struct unpack and a slice, no system call per packet) and
the kernel's drop counters (`PACKET_STATISTICS`). `read_block()` hands over the frames of
one ring block as the `(frame_no, ts, linktype, data, wire_len)` tuples the tracker takes;
nothing is dissected per packet. scapy's own `L2ListenSocket` is not used for the reading:
it makes a `recvmsg` and an interface-name ioctl per packet and cannot capture on `any`.

Link types: an Ethernet or loopback interface is read raw (DLT_EN10MB: loopback frames carry
a zeroed Ethernet header). `any` and every other kind of interface (tun, WireGuard, GRE...)
are read cooked: the kernel strips the link header and `read_block` puts a Linux cooked v2
header (DLT_LINUX_SLL2, what tcpdump writes for `-i any`) in front, made from the packet's
`sockaddr_ll`. The filter is compiled for the bytes the kernel filters: Ethernet for raw
sockets, raw IP for cooked ones (their filter runs on the network header).

Loopback is seen twice by a packet socket (once sent, once received); like libpcap, the
copy sent on `lo` is dropped, here in the kernel by a few BPF instructions put in front of
the compiled filter.

Drops: `TP_STATUS_LOSING` on a block says the kernel dropped packets since the counters
were last read; `read_block` then reads them at once, so each `DropWindow` says between
which two packet timestamps the packets went missing.

`RotatingPcapWriter` writes frames back out as a classic pcap, rotating by size like
`tcpdump -C` (FILE, FILE1, FILE2, ...) and keeping the newest N files like `-W`.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import mmap
import os
import select
import socket
import struct
import sys
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from capture.consumer import SinkFactory
from capture.errors import CaptureError
from capture.ip import IPPROTO_TCP, _walk_extensions
from capture.linktypes import (
    DLT_EN10MB,
    DLT_LINUX_SLL2,
    DLT_RAW,
    ETHERTYPE_IPV4,
    ETHERTYPE_IPV6,
    FIXED_ETHERTYPE,
    LINKTYPES,
    linktype_name,
)
from capture.stats import CaptureStats
from capture.tracker import (
    DEFAULT_LINGER,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_SERVER_PORTS,
    Frame,
    TcpTracker,
)
from capture.tunnels import MAX_DEPTH, unwrap_ip_payload, unwrap_link_payload

# <linux/if_packet.h>, <linux/if_ether.h>, <linux/filter.h>, <linux/if_arp.h>
SOL_PACKET = 263
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_VERSION = 10
TPACKET_V3 = 2
SO_ATTACH_FILTER = 26
ETH_P_ALL = 0x0003
ARPHRD_ETHER = 1
ARPHRD_LOOPBACK = 772
PACKET_OUTGOING = 4
TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1
TP_STATUS_LOSING = 4
TP_STATUS_VLAN_VALID = 0x10
TP_STATUS_VLAN_TPID_VALID = 0x40

ANY = "any"
DEFAULT_SNAPLEN = 262144  # tcpdump's default: whole frames, even GRO/TSO super-frames on lo
DEFAULT_BUFFER = 32 << 20
BLOCK_SIZE = 1 << 20
BLOCK_TIMEOUT_MS = 100  # a partly filled block is handed over after this long
DROP_WINDOWS_KEPT = 1024

# The ring's block descriptor (tpacket_block_desc + tpacket_hdr_v1): status, packet count,
# offset of the first packet; then each packet's tpacket3_hdr: next offset, seconds,
# nanoseconds, captured length, wire length, status, MAC offset, network offset, and the
# VLAN fields of hv1. The packet's sockaddr_ll follows the header at TPACKET_ALIGN(48).
BLOCK_HEADER = struct.Struct("<8xIII")
PACKET_HEADER = struct.Struct("<IIIIIIHH4xIH")
SOCKADDR_LL_OFFSET = 48
SOCKADDR_LL = struct.Struct("<2x2siHBB8s")  # protocol (kept big-endian), ifindex, ...
SLL2_HEADER = struct.Struct("!2s2xiHBB8s")
SLL2_LEN = SLL2_HEADER.size
TPACKET_REQ3 = struct.Struct("7I")
PACKET_STATS_V3 = struct.Struct("III")  # packets (drops included), drops, queue freezes

# Classic BPF opcodes for the loopback prefix, and the ancillary data offsets.
BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_RET_K = 0x06
SKF_AD_PKTTYPE = 0xFFFFF000 + 4  # SKF_AD_OFF (-0x1000) + SKF_AD_PKTTYPE
SKF_AD_IFINDEX = 0xFFFFF000 + 8

Instruction = tuple[int, int, int, int]  # code, jt, jf, k


class LiveCaptureError(CaptureError):
    """A live capture that cannot start; the message is the one line the user sees."""

    def __init__(self, message: str) -> None:
        Exception.__init__(self, message)
        self.source = ""
        self.problem = message


class CapturePermissionError(LiveCaptureError):
    pass


class UnknownInterfaceError(LiveCaptureError):
    pass


class FilterError(LiveCaptureError):
    pass


def interfaces() -> list[str]:
    """Interface names a capture can use, `any` first."""
    return [ANY, *(name for _index, name in socket.if_nameindex())]


def default_filter(ports: Sequence[int] | None) -> str:
    """The kernel filter for server ports (None: every TCP port)."""
    if not ports:
        return "tcp"
    return "tcp and (" + " or ".join(f"port {port}" for port in sorted(ports)) + ")"


def permission_hint() -> str:
    python = os.path.realpath(sys.executable)
    return (
        "capturing packets needs root or the CAP_NET_RAW capability: run it with sudo, "
        f"or grant the capability to this interpreter once: sudo setcap cap_net_raw+eip {python}"
    )


def compile_filter(
    expression: str, linktype: int, snaplen: int = DEFAULT_SNAPLEN
) -> list[Instruction]:
    """Compile a tcpdump filter expression with libpcap for frames of `linktype`."""
    try:
        from scapy.libs.structures import bpf_program
        from scapy.libs.winpcapy import (
            pcap_close,
            pcap_compile,
            pcap_freecode,
            pcap_geterr,
            pcap_open_dead,
        )
    except (ImportError, OSError) as exc:
        raise FilterError(
            f"cannot compile the capture filter: libpcap is missing ({exc}); on Debian "
            "and Ubuntu: apt-get install libpcap0.8"
        ) from None
    handle = pcap_open_dead(linktype, snaplen)
    program = bpf_program()
    try:
        if pcap_compile(handle, ctypes.byref(program), expression.encode(), 1, 0xFFFFFFFF) == -1:
            reason = pcap_geterr(handle) or b""
            raise FilterError(
                f"bad filter expression {expression!r}: {reason.decode(errors='replace')}"
            )
        instructions = [
            (insn.code, insn.jt, insn.jf, insn.k & 0xFFFFFFFF)
            for insn in program.bf_insns[: program.bf_len]
        ]
        pcap_freecode(ctypes.byref(program))
    finally:
        pcap_close(handle)
    return instructions


def skip_loopback_copies(
    program: list[Instruction], loopback_index: int | None
) -> list[Instruction]:
    """Prefix a filter so the kernel drops the sent copy of each loopback packet.

    `loopback_index` None: the socket is bound to `lo`, every outgoing packet is a copy.
    Otherwise (`any`): only outgoing packets on that interface index are. Jumps in classic
    BPF are relative, so the compiled program is unchanged behind the prefix."""
    if loopback_index is None:
        prefix = [
            (BPF_LD_W_ABS, 0, 0, SKF_AD_PKTTYPE),
            (BPF_JEQ_K, 0, 1, PACKET_OUTGOING),
            (BPF_RET_K, 0, 0, 0),
        ]
    else:
        prefix = [
            (BPF_LD_W_ABS, 0, 0, SKF_AD_PKTTYPE),
            (BPF_JEQ_K, 0, 3, PACKET_OUTGOING),
            (BPF_LD_W_ABS, 0, 0, SKF_AD_IFINDEX),
            (BPF_JEQ_K, 0, 1, loopback_index),
            (BPF_RET_K, 0, 0, 0),
        ]
    return prefix + program


def _attach_filter(sock: socket.socket, program: list[Instruction]) -> None:
    insns = (ctypes.c_uint8 * (8 * len(program)))()
    for index, (code, jt, jf, k) in enumerate(program):
        struct.pack_into("HBBI", insns, 8 * index, code, jt, jf, k)
    _set_filter(sock, insns, len(program))


def _set_filter(sock: socket.socket, insns: ctypes.Array[ctypes.c_uint8], count: int) -> None:
    """The kernel reads the instructions at their address during the call: they are an
    argument here so that the caller holds them until it returns (the compiled build frees a
    local after its last use, which would be the addressof())."""
    sock.setsockopt(
        socket.SOL_SOCKET, SO_ATTACH_FILTER, struct.pack("HL", count, ctypes.addressof(insns))
    )


def _bind(sock: socket.socket, ifindex: int) -> None:
    """bind(2) with an interface index: Python's AF_PACKET addresses take a name, and `any`
    (index 0) has none."""
    libc = ctypes.CDLL(None, use_errno=True)
    address = struct.pack("HHiHBB8s", socket.AF_PACKET, socket.htons(ETH_P_ALL), ifindex, 0, 0, 0,
                          b"")  # fmt: skip
    if libc.bind(sock.fileno(), address, len(address)) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def hardware_type(interface: str) -> int | None:
    try:
        return int(Path(f"/sys/class/net/{interface}/type").read_text())
    except (OSError, ValueError):
        return None


@dataclass(slots=True)
class DropWindow:
    """Packets the kernel dropped between two captured packets (timestamps), for matching
    with the connections open then."""

    after_ts: float
    before_ts: float
    drops: int


@dataclass(slots=True)
class KernelCounters:
    """Cumulative `PACKET_STATISTICS` since the capture opened (the kernel resets them on
    every read, so they are summed here)."""

    packets: int = 0  # packets that passed the filter, dropped ones included
    drops: int = 0  # packets that passed the filter but found the ring full
    queue_freezes: int = 0  # times the ring was full
    windows: deque[DropWindow] = field(default_factory=lambda: deque(maxlen=DROP_WINDOWS_KEPT))

    def drops_between(self, start: float, end: float) -> int:
        """Drops in the windows that overlap [start, end]."""
        return sum(w.drops for w in self.windows if w.before_ts >= start and w.after_ts <= end)


class LiveCapture:
    """One capture on one interface (or `any`); see the module docstring.

    Raises `UnknownInterfaceError`, `FilterError`, `CapturePermissionError` or
    `LiveCaptureError` with a one-line message when it cannot start."""

    def __init__(
        self,
        interface: str,
        bpf: str,
        *,
        stats: CaptureStats | None = None,
        buffer_size: int = DEFAULT_BUFFER,
        snaplen: int = DEFAULT_SNAPLEN,
        block_timeout_ms: int = BLOCK_TIMEOUT_MS,
    ) -> None:
        self.interface = interface
        self.bpf = bpf
        self.stats = stats if stats is not None else CaptureStats()
        self.counters = KernelCounters()
        self.frames = 0
        self.snaplen = snaplen
        names = interfaces()
        if interface not in names:
            raise UnknownInterfaceError(
                f"no interface {interface!r}; available: {', '.join(names)}"
            )
        kind = None if interface == ANY else hardware_type(interface)
        self.cooked = kind not in (ARPHRD_ETHER, ARPHRD_LOOPBACK)
        self.linktype = DLT_LINUX_SLL2 if self.cooked else DLT_EN10MB
        program = compile_filter(bpf, DLT_RAW if self.cooked else DLT_EN10MB, snaplen)
        if interface == ANY:
            program = skip_loopback_copies(program, socket.if_nametoindex("lo"))
        elif kind == ARPHRD_LOOPBACK:
            program = skip_loopback_copies(program, None)
        ifindex = 0 if interface == ANY else socket.if_nametoindex(interface)
        blocks = max(2, buffer_size // BLOCK_SIZE)
        try:
            # Protocol 0: the socket receives nothing until bind, after the filter is set.
            self.sock = socket.socket(
                socket.AF_PACKET, socket.SOCK_DGRAM if self.cooked else socket.SOCK_RAW, 0
            )
        except PermissionError:
            raise CapturePermissionError(permission_hint()) from None
        except OSError as exc:
            raise LiveCaptureError(f"cannot open a packet socket: {exc.strerror}") from None
        try:
            _attach_filter(self.sock, program)
            self.sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
            request = TPACKET_REQ3.pack(
                BLOCK_SIZE, blocks, BLOCK_SIZE, blocks, block_timeout_ms, 0, 0
            )
            try:
                self.sock.setsockopt(SOL_PACKET, PACKET_RX_RING, request)
            except OSError as exc:
                raise LiveCaptureError(
                    f"cannot set up a {blocks} MiB capture ring ({exc.strerror}): "
                    "try a smaller --buffer-size"
                ) from None
            self.ring = mmap.mmap(self.sock.fileno(), blocks * BLOCK_SIZE, mmap.MAP_SHARED,
                                  mmap.PROT_READ | mmap.PROT_WRITE)  # fmt: skip
            _bind(self.sock, ifindex)
            self._read_kernel_counters(0.0, 0.0)  # start from zero
            self.counters = KernelCounters()
        except OSError as exc:
            self.sock.close()
            if exc.errno == errno.EPERM:
                raise CapturePermissionError(permission_hint()) from None
            raise LiveCaptureError(
                f"cannot start capturing on {interface}: {exc.strerror}"
            ) from None
        except BaseException:
            self.sock.close()
            raise
        self.blocks = blocks
        self.block = 0
        self.last_ts = 0.0
        self._poll = select.poll()
        self._poll.register(self.sock.fileno(), select.POLLIN | select.POLLERR)

    @property
    def description(self) -> str:
        mode = "cooked" if self.cooked else "raw"
        return (
            f"{self.interface} ({linktype_name(self.linktype)}, {mode}), filter {self.bpf!r}, "
            f"{self.blocks} MiB ring"
        )

    def fileno(self) -> int:
        return self.sock.fileno()

    def ready(self) -> bool:
        """A block is waiting (no system call)."""
        return bool(
            struct.unpack_from("<I", self.ring, self.block * BLOCK_SIZE + 8)[0] & TP_STATUS_USER
        )

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a block; True when one is ready."""
        if self.ready():
            return True
        events = self._poll.poll(max(0, int(timeout * 1000)))
        if events and events[0][1] & select.POLLERR:
            # The interface went down (ENETDOWN) or away: note it once, and do not spin
            # while it is; the kernel resumes delivery when it comes back up.
            code = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                self.stats.warn(f"capture on {self.interface}: {os.strerror(code)}")
            time.sleep(timeout)
        return self.ready()

    def read_block(self) -> list[Frame]:
        """The frames of the next ready block (empty when none is ready), returned to the
        kernel before this returns: the frames hold copies."""
        ring = self.ring
        base = self.block * BLOCK_SIZE
        status, count, position = BLOCK_HEADER.unpack_from(ring, base)
        if not status & TP_STATUS_USER:
            return []
        position += base
        unpack = PACKET_HEADER.unpack_from
        linktype = self.linktype
        frame_no = self.frames
        frames: list[Frame] = []
        # Declared so that compiled, the header fields are machine integers, not objects
        # (struct's unpack is typed as returning Any).
        next_offset: int
        sec: int
        nsec: int
        snaplen: int
        wire_len: int
        packet_status: int
        mac: int
        captured = 0
        first_ts = ts = 0.0
        for _ in range(count):
            (next_offset, sec, nsec, snaplen, wire_len, packet_status, mac, _net,
             vlan_tci, vlan_tpid) = unpack(ring, position)  # fmt: skip
            start = position + mac
            data = ring[start : start + snaplen]
            if self.cooked:
                protocol, ifindex, hatype, pkttype, halen, address = SOCKADDR_LL.unpack_from(
                    ring, position + SOCKADDR_LL_OFFSET
                )
                data = SLL2_HEADER.pack(protocol, ifindex, hatype, pkttype, halen, address) + data
                wire_len += SLL2_LEN
            elif packet_status & TP_STATUS_VLAN_VALID:
                # The NIC stripped the 802.1Q tag into metadata; put it back, as libpcap does.
                tpid = vlan_tpid if packet_status & TP_STATUS_VLAN_TPID_VALID else 0x8100
                data = data[:12] + struct.pack("!HH", tpid, vlan_tci) + data[12:]
                wire_len += 4
            ts = sec + nsec * 1e-9
            frame_no += 1
            captured += len(data)
            frames.append((frame_no, ts, linktype, data, wire_len))
            position += next_offset
            if not first_ts:
                first_ts = ts
        struct.pack_into("<I", ring, base + 8, TP_STATUS_KERNEL)
        self.block = (self.block + 1) % self.blocks
        if status & TP_STATUS_LOSING:
            self._read_kernel_counters(self.last_ts, first_ts)
        if frames:
            self._count(frames, captured, first_ts, ts)
        return frames

    def _count(self, frames: list[Frame], captured: int, first_ts: float, last_ts: float) -> None:
        stats = self.stats
        self.frames = frames[-1][0]
        stats.frames += len(frames)
        stats.bytes += captured
        if stats.first_ts is None:
            stats.first_ts = first_ts
        stats.last_ts = self.last_ts = last_ts
        by_linktype = stats.frames_by_linktype
        by_linktype[self.linktype] = by_linktype.get(self.linktype, 0) + len(frames)

    def read_counters(self, now: float) -> KernelCounters:
        """Bring the kernel's counters up to date (drops since the last read are put in a
        window ending at `now`) and return the totals."""
        self._read_kernel_counters(self.last_ts, now)
        return self.counters

    def _read_kernel_counters(self, after_ts: float, before_ts: float) -> None:
        raw = self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, PACKET_STATS_V3.size)
        packets, drops, freezes = PACKET_STATS_V3.unpack(raw)
        counters = self.counters
        counters.packets += packets
        counters.drops += drops
        counters.queue_freezes += freezes
        if drops:
            counters.windows.append(DropWindow(after_ts, before_ts, drops))

    def close(self) -> None:
        with contextlib.suppress(AttributeError, BufferError):
            self.ring.close()
        self.sock.close()


class LiveTracker(TcpTracker):
    """A tracker whose clock also moves without frames: on a quiet link a closed connection
    is still released (and reported) once its linger has passed.

    Half-open connections get a `Connection` (and a sink) at their SYN unless told otherwise
    (`compact_handshakes=True`): live sinks keep each connection's packets from its first one,
    so they must exist when the SYN arrives."""

    def __init__(
        self,
        sink_factory: SinkFactory,
        stats: CaptureStats | None = None,
        *,
        server_ports: Iterable[int] | None = DEFAULT_SERVER_PORTS,
        linger: float = DEFAULT_LINGER,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        compact_handshakes: bool = False,
    ) -> None:
        # (named one by one: the compiled build does not forward **options to a compiled
        # base class's __init__ correctly)
        super().__init__(
            sink_factory,
            stats,
            server_ports=server_ports,
            linger=linger,
            max_connections=max_connections,
            compact_handshakes=compact_handshakes,
        )

    def advance(self, now: float) -> None:
        if self._lingering and self._lingering[0][0] <= now:
            self._release_lingering(now)

    def still_open(self) -> int:
        """Connections neither closed nor released (lingering ones are closed)."""
        closing = sum(1 for _deadline, conn in self._lingering if not conn.released)
        return self.open_connections() - closing


def frame_key(linktype: int, data: bytes) -> bytes | None:
    """The sender's 4-tuple of a TCP frame as the tracker keys it (source and destination
    address, source and destination port, as raw bytes; inside a tunnel, the inner ones),
    or None for anything else (not TCP, an IP fragment, too short)."""
    fixed = FIXED_ETHERTYPE.get(linktype)
    if fixed is not None:
        where, ip = fixed
        if (
            data[where : where + 2] == b"\x08\x00"
            and len(data) >= ip + 24
            and data[ip] == 0x45
            and data[ip + 9] == IPPROTO_TCP
        ):
            return None if data[ip + 6] & 0x3F or data[ip + 7] else data[ip + 12 : ip + 24]
    link = LINKTYPES.get(linktype)
    if link is None:
        return None
    try:
        ethertype, offset = link.locate(data)
        for _depth in range(MAX_DEPTH + 1):
            inner = None
            if ethertype == ETHERTYPE_IPV4:
                header_len = (data[offset] & 0x0F) * 4
                protocol = data[offset + 9]
                if data[offset + 6] & 0x3F or data[offset + 7]:
                    return None
                if protocol == IPPROTO_TCP:
                    tcp = offset + header_len
                    addresses = data[offset + 12 : offset + 20]
                    break
                inner = unwrap_ip_payload(protocol, data, offset + header_len)
            elif ethertype == ETHERTYPE_IPV6:
                protocol, tcp, fragment = _walk_extensions(data, data[offset + 6], offset + 40)
                if fragment is not None:
                    return None
                if protocol == IPPROTO_TCP:
                    addresses = data[offset + 8 : offset + 40]
                    break
                inner = unwrap_ip_payload(protocol, data, tcp)
            else:
                inner = unwrap_link_payload(ethertype, data, offset)
            if inner is None:
                return None
            _name, ethertype, offset = inner
        else:
            return None
    except (IndexError, struct.error):
        return None
    ports = data[tcp : tcp + 4]
    return addresses + ports if len(ports) == 4 else None


def connection_keys(
    client_ip: bytes, client_port: int, server_ip: bytes, server_port: int
) -> tuple[bytes, bytes]:
    """The two `frame_key`s of a connection: client to server, then server to client."""
    ports = struct.pack("!HH", client_port, server_port)
    return (
        client_ip + server_ip + ports,
        server_ip + client_ip + ports[2:] + ports[:2],
    )


PCAP_HEADER = struct.Struct("<IHHiIII")
PCAP_RECORD = struct.Struct("<IIII")
PCAP_MAGIC = 0xA1B2C3D4


class RotatingPcapWriter:
    """Frames to classic pcap files (microsecond timestamps, wire lengths kept).

    `rotate_bytes` > 0: a new file once the current one would pass that size, named like
    tcpdump -C names them: FILE, FILE1, FILE2... `max_files` > 0: only the newest that many
    files are kept (the oldest is deleted when a new one opens). The current file is opened
    at construction, so a capture that drops privileges keeps writing to it."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        linktype: int,
        *,
        snaplen: int = DEFAULT_SNAPLEN,
        rotate_bytes: int = 0,
        max_files: int = 0,
    ) -> None:
        self.base = os.fspath(path)
        self.linktype = linktype
        self.snaplen = snaplen
        self.rotate_bytes = rotate_bytes
        self.max_files = max_files
        self.paths: deque[str] = deque()
        self.sequence = 0
        self.packets = 0
        self.bytes = 0
        self.owner: tuple[int, int] | None = None
        try:
            self.out: BinaryIO = self._open(self.base)
        except OSError as exc:
            raise LiveCaptureError(f"cannot write {self.base}: {exc.strerror}") from None

    def _open(self, path: str) -> BinaryIO:
        out = open(path, "wb", buffering=1 << 20)  # noqa: SIM115
        out.write(PCAP_HEADER.pack(PCAP_MAGIC, 2, 4, 0, 0, self.snaplen, self.linktype))
        self.size = PCAP_HEADER.size
        self.file_packets = 0
        self.paths.append(path)
        if self.owner is not None:
            os.chown(path, *self.owner)
        while self.max_files and len(self.paths) > self.max_files:
            old = self.paths.popleft()
            with contextlib.suppress(OSError):
                os.unlink(old)
        return out

    def give_to(self, uid: int, gid: int) -> None:
        """Hand the open file to the user the process is about to become."""
        self.owner = (uid, gid)
        os.chown(self.paths[-1], uid, gid)

    def write(self, ts: float, data: bytes, wire_len: int) -> None:
        record = PCAP_RECORD.size + len(data)
        if self.rotate_bytes and self.file_packets and self.size + record > self.rotate_bytes:
            self.out.close()
            self.sequence += 1
            self.out = self._open(f"{self.base}{self.sequence}")
        seconds = int(ts)
        micro = round((ts - seconds) * 1e6)
        if micro >= 1_000_000:
            seconds, micro = seconds + 1, micro - 1_000_000
        self.out.write(PCAP_RECORD.pack(seconds, micro, len(data), wire_len))
        self.out.write(data)
        self.size += record
        self.file_packets += 1
        self.packets += 1
        self.bytes += len(data)

    def write_frame(self, frame: Frame) -> None:
        self.write(frame[1], frame[3], frame[4])

    def flush(self) -> None:
        self.out.flush()

    def close(self) -> None:
        self.out.close()
