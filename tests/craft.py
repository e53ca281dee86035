"""A tiny capture builder: TCP sessions in, pcap / pcapng files out.

Tests that need a capture describe the conversation instead of writing hex::

    from tests.craft import TcpSession, pcap_bytes, write_capture

    s = TcpSession(client=("10.0.0.1", 50000), server=("10.0.0.2", 3306))
    s.handshake()
    greeting = s.server_send(b"...server greeting...")
    s.client_send(b"...login request...")
    s.client_fin(); s.server_fin(); s.client_ack()
    write_capture(tmp_path / "login.pcap", pcap_bytes(s.frames))

What a `TcpSession` gives:

* Sequence numbers are tracked for both sides (`client_isn`/`server_isn` choose where they
  start; pick one near 2**32 to test wraparound). Every `*_send`, `*_fin`, `*_rst`, `*_ack`
  appends a `Packet` to `s.frames` and returns it; keyword options override `ttl`, `window`,
  `flags`, `seq`, `ack` or `ts` for that one segment.
* The clock starts at `start_ts` and moves `step` seconds per frame; `s.wait(seconds)` jumps.
* Messing with the capture: `s.drop(p)`, `s.move_before(p, other)`, `s.retransmit(p,
  payload=...)` (a second copy, with other bytes if given), `s.truncate(p, caplen)` (what a
  snapshot length does), `s.fragment(p, sizes)` (IP fragments), `s.number(p)` (the frame
  number it will have in a capture of `s.frames` alone).
* `link=` picks the encapsulation: "ethernet" (with `vlan=(100,)` for 802.1Q, `vlan=(10, 20)`
  for QinQ), "sll", "sll2", "null" (`null_byte_order="<"` or ">"), "loop", "raw" (DLT 12),
  "raw101", "ipv4"/"ipv6" (DLT 228/229). IPv6 addresses make IPv6 packets; `ipv6_ext=[...]`
  inserts extension headers (`HOP_BY_HOP`, `DEST_OPTS`, `ROUTING`, `AH`).

Writers: `pcap_bytes(frames, nanosecond=..., big_endian=...)`, `pcapng_bytes(frames,
big_endian=..., tsresol=..., extra_blocks=..., drops=...)` (one section; one interface per
distinct link type; concatenate sections for a multi-section file), `gzip_bytes(data)`, and
`write_capture(path, data)`. `frame_tuples(frames)` gives what the readers yield, for
feeding a tracker directly.

IPv4/IPv6 and TCP headers (with checksums) are built by dpkt, an implementation independent
of the one under test; link headers, extension headers and file formats are plain struct.
"""

from __future__ import annotations

import gzip
import ipaddress
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import dpkt

FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20

LINKTYPES = {
    "null": 0,
    "ethernet": 1,
    "raw": 12,
    "raw101": 101,
    "loop": 108,
    "sll": 113,
    "ipv4": 228,
    "ipv6": 229,
    "sll2": 276,
}

# IPv6 extension headers to put in `ipv6_ext`: (next-header value, header length in bytes).
HOP_BY_HOP = (0, 8)
ROUTING = (43, 24)
DEST_OPTS = (60, 16)
AH = (51, 24)

MAC_CLIENT = bytes.fromhex("020000000001")
MAC_SERVER = bytes.fromhex("020000000002")


@dataclass(frozen=True)
class Packet:
    """One crafted frame, as a capture file stores it."""

    ts: float
    linktype: int
    data: bytes
    wire_len: int
    sender: str = ""  # "client" or "server"
    seq: int = 0
    payload: bytes = b""


class TcpSession:
    """Both ends of one TCP connection, producing frames as the conversation goes."""

    def __init__(
        self,
        client: tuple[str, int] = ("10.0.0.1", 50000),
        server: tuple[str, int] = ("10.0.0.2", 3306),
        *,
        client_isn: int = 1000,
        server_isn: int = 5000,
        start_ts: float = 1_700_000_000.0,
        step: float = 0.001,
        link: str = "ethernet",
        vlan: Sequence[int] = (),
        null_byte_order: str = "<",
        ipv6_ext: Sequence[tuple[int, int]] = (),
        client_ttl: int = 64,
        server_ttl: int = 63,
        window: int = 65535,
    ) -> None:
        self.client = (ipaddress.ip_address(client[0]), client[1])
        self.server = (ipaddress.ip_address(server[0]), server[1])
        self.next_seq = {"client": client_isn & 0xFFFFFFFF, "server": server_isn & 0xFFFFFFFF}
        self.ttl = {"client": client_ttl, "server": server_ttl}
        self.window = window
        self.ts = start_ts
        self.step = step
        self.link = link
        self.vlan = tuple(vlan)
        self.null_byte_order = null_byte_order
        self.ipv6_ext = tuple(ipv6_ext)
        self.ident = 1
        self.frames: list[Packet] = []

    # -- the conversation ---------------------------------------------------------------

    def handshake(self) -> TcpSession:
        self.client_syn()
        self.server_syn_ack()
        self.client_ack()
        return self

    def client_syn(self, **options: int | float) -> Packet:
        return self.segment("client", b"", flags=SYN, ack=0, **options)

    def server_syn_ack(self, **options: int | float) -> Packet:
        return self.segment("server", b"", flags=SYN | ACK, **options)

    def client_send(self, payload: bytes, **options: int | float) -> Packet:
        return self.segment("client", payload, **options)

    def server_send(self, payload: bytes, **options: int | float) -> Packet:
        return self.segment("server", payload, **options)

    def client_ack(self, **options: int | float) -> Packet:
        return self.segment("client", b"", flags=ACK, **options)

    def server_ack(self, **options: int | float) -> Packet:
        return self.segment("server", b"", flags=ACK, **options)

    def client_fin(self, **options: int | float) -> Packet:
        return self.segment("client", b"", flags=FIN | ACK, **options)

    def server_fin(self, **options: int | float) -> Packet:
        return self.segment("server", b"", flags=FIN | ACK, **options)

    def client_rst(self, *, with_ack: bool = True, **options: int | float) -> Packet:
        return self.segment("client", b"", flags=RST | (ACK if with_ack else 0), **options)

    def server_rst(self, *, with_ack: bool = True, **options: int | float) -> Packet:
        return self.segment("server", b"", flags=RST | (ACK if with_ack else 0), **options)

    def segment(
        self,
        sender: str,
        payload: bytes,
        *,
        flags: int = PSH | ACK,
        seq: int | None = None,
        ack: int | None = None,
        ttl: int | None = None,
        window: int | None = None,
        ts: float | None = None,
        advance: bool = True,
    ) -> Packet:
        """Any segment. SYN and FIN take one sequence number, payload its length;
        `advance=False` leaves the sender's sequence where it was (for crafted oddities)."""
        receiver = "server" if sender == "client" else "client"
        if not payload and flags == PSH | ACK:
            flags = ACK
        this_seq = self.next_seq[sender] if seq is None else seq & 0xFFFFFFFF
        this_ack = self.next_seq[receiver] if ack is None else ack
        if not flags & ACK and ack is None:
            this_ack = 0
        if advance and seq is None:
            used = len(payload) + (1 if flags & SYN else 0) + (1 if flags & FIN else 0)
            self.next_seq[sender] = (this_seq + used) & 0xFFFFFFFF
        src, dst = (self.client, self.server) if sender == "client" else (self.server, self.client)
        tcp = dpkt.tcp.TCP(
            sport=src[1],
            dport=dst[1],
            seq=this_seq,
            ack=this_ack,
            flags=flags,
            win=self.window if window is None else window,
            data=payload,
        )
        network = self._ip(src[0], dst[0], tcp, self.ttl[sender] if ttl is None else ttl)
        frame = self._link(network, sender)
        if ts is None:
            self.ts += self.step
            ts = self.ts
        packet = Packet(ts, LINKTYPES[self.link], frame, len(frame), sender, this_seq, payload)
        self.frames.append(packet)
        return packet

    def wait(self, seconds: float) -> None:
        self.ts += seconds

    # -- messing with the capture --------------------------------------------------------

    def number(self, packet: Packet) -> int:
        """Frame number of `packet` in a capture holding exactly `self.frames`."""
        return self.frames.index(packet) + 1

    def drop(self, packet: Packet) -> None:
        self.frames.remove(packet)

    def move_before(self, packet: Packet, other: Packet) -> None:
        """Capture `packet` just before `other` (keeping its own timestamp)."""
        self.frames.remove(packet)
        self.frames.insert(self.frames.index(other), packet)

    def retransmit(self, packet: Packet, payload: bytes | None = None) -> Packet:
        """Append another copy of `packet` (same sequence number), optionally with other
        bytes of the same or another length."""
        copy = self.segment(
            packet.sender,
            packet.payload if payload is None else payload,
            seq=packet.seq,
            advance=False,
        )
        return copy

    def truncate(self, packet: Packet, caplen: int) -> Packet:
        """What a snapshot length of `caplen` bytes makes of `packet`."""
        cut = replace(packet, data=packet.data[:caplen])
        self.frames[self.frames.index(packet)] = cut
        return cut

    def fragment(self, packet: Packet, sizes: Sequence[int]) -> list[Packet]:
        """Replace `packet` by IP fragments carrying `sizes` bytes of its IP payload each
        (multiples of 8 but the last), in order; returns them. IPv6 packets (without
        extension headers) get a fragment header."""
        header_len = _link_header_len(packet)
        link, network = packet.data[:header_len], packet.data[header_len:]
        if network[0] >> 4 == 6:
            return self._fragment_ipv6(packet, link, network, sizes)
        ip = dpkt.ip.IP(network)
        body = network[ip.hl * 4 :]
        fragments = []
        offset = 0
        for index, size in enumerate(sizes):
            last = index == len(sizes) - 1
            piece = body[offset:] if last else body[offset : offset + size]
            frag = dpkt.ip.IP(src=ip.src, dst=ip.dst, p=ip.p, ttl=ip.ttl, id=ip.id, data=piece)
            frag._flags_offset = (0 if last else dpkt.ip.IP_MF) | (offset // 8)
            frame = link + bytes(frag)
            fragments.append(replace(packet, data=frame, wire_len=len(frame)))
            offset += size
        index = self.frames.index(packet)
        self.frames[index : index + 1] = fragments
        return fragments

    def _fragment_ipv6(
        self, packet: Packet, link: bytes, network: bytes, sizes: Sequence[int]
    ) -> list[Packet]:
        header, body = network[:40], network[40:]
        next_header = header[6]
        fragments = []
        offset = 0
        self.ident += 1
        for index, size in enumerate(sizes):
            last = index == len(sizes) - 1
            piece = body[offset:] if last else body[offset : offset + size]
            fragment_header = struct.pack(
                "!BBHI", next_header, 0, offset | (0 if last else 1), self.ident
            )
            fixed = header[:4] + struct.pack("!HB", 8 + len(piece), 44) + header[7:40]
            frame = link + fixed + fragment_header + piece
            fragments.append(replace(packet, data=frame, wire_len=len(frame)))
            offset += size
        index = self.frames.index(packet)
        self.frames[index : index + 1] = fragments
        return fragments

    # -- layers -------------------------------------------------------------------------

    def _ip(
        self, src: ipaddress._BaseAddress, dst: ipaddress._BaseAddress, tcp: dpkt.tcp.TCP, ttl: int
    ) -> bytes:
        if src.version == 4:
            self.ident += 1
            ip = dpkt.ip.IP(src=src.packed, dst=dst.packed, p=6, ttl=ttl, id=self.ident, data=tcp)
            return bytes(ip)
        if not self.ipv6_ext:
            ip6 = dpkt.ip6.IP6(src=src.packed, dst=dst.packed, nxt=6, hlim=ttl, data=tcp)
            ip6.plen = len(tcp)
            return bytes(ip6)
        body = bytes(tcp)
        chain = [kind for kind, _length in self.ipv6_ext]
        extensions = b""
        for position, (_kind, length) in enumerate(self.ipv6_ext):
            following = chain[position + 1] if position + 1 < len(chain) else 6
            units = length // 4 - 2 if _kind == AH[0] else length // 8 - 1
            extensions += bytes([following, units]) + bytes(length - 2)
        header = struct.pack("!IHBB", 6 << 28, len(extensions) + len(body), chain[0], ttl)
        return header + src.packed + dst.packed + extensions + body

    def _link(self, network: bytes, sender: str) -> bytes:
        version = network[0] >> 4
        ethertype = 0x0800 if version == 4 else 0x86DD
        src_mac, dst_mac = (
            (MAC_CLIENT, MAC_SERVER) if sender == "client" else (MAC_SERVER, MAC_CLIENT)
        )
        link = self.link
        if link == "ethernet":
            tags = b""
            tpids = [0x88A8] * (len(self.vlan) - 1) + [0x8100] if self.vlan else []
            for tpid, vid in zip(tpids, self.vlan, strict=True):
                tags += struct.pack("!HH", tpid, vid)
            return dst_mac + src_mac + tags + struct.pack("!H", ethertype) + network
        if link == "sll":
            packet_type = 4 if sender == "client" else 0
            return struct.pack("!HHH8sH", packet_type, 1, 6, src_mac, ethertype) + network
        if link == "sll2":
            packet_type = 4 if sender == "client" else 0
            return struct.pack("!HHIHBB8s", ethertype, 0, 2, 1, packet_type, 6, src_mac) + network
        if link in ("null", "loop"):
            family = 2 if version == 4 else 30  # AF_INET6 as macOS numbers it
            order = ">" if link == "loop" else self.null_byte_order
            return struct.pack(order + "I", family) + network
        return network  # raw, raw101, ipv4, ipv6


def _link_header_len(packet: Packet) -> int:
    data = packet.data
    if packet.linktype == 1:
        offset = 12
        while data[offset : offset + 2] in (b"\x81\x00", b"\x88\xa8", b"\x91\x00"):
            offset += 4
        return offset + 2
    return {0: 4, 108: 4, 113: 16, 276: 20}.get(packet.linktype, 0)


# -- writers ----------------------------------------------------------------------------


def frame_tuples(frames: Iterable[Packet]) -> list[tuple[int, float, int, bytes, int]]:
    """The frames as the readers yield them: (frame_no, ts, linktype, data, wire_len)."""
    return [(n, p.ts, p.linktype, p.data, p.wire_len) for n, p in enumerate(frames, 1)]


def pcap_bytes(
    frames: Sequence[Packet],
    *,
    nanosecond: bool = False,
    big_endian: bool = False,
    snaplen: int = 262144,
    linktype: int | None = None,
) -> bytes:
    """A classic pcap file (all frames must share one link type)."""
    order = ">" if big_endian else "<"
    if linktype is None:
        linktype = frames[0].linktype if frames else 1
    magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for packet in frames:
        seconds = int(packet.ts)
        fraction = round((packet.ts - seconds) * (1e9 if nanosecond else 1e6))
        out.append(
            struct.pack(order + "IIII", seconds, fraction, len(packet.data), packet.wire_len)
        )
        out.append(packet.data)
    return b"".join(out)


def pcapng_bytes(
    frames: Sequence[Packet],
    *,
    big_endian: bool = False,
    tsresol: dict[int, int] | None = None,
    extra_blocks: Sequence[tuple[int, bytes]] = (),
    drops: dict[int, int] | None = None,
    simple: bool = False,
) -> bytes:
    """One pcapng section: an SHB, one IDB per distinct link type (in order of first use),
    an EPB per frame (SPB when `simple`, for single-interface sections), then
    `extra_blocks` (type, body) and an ISB with `if_drop` for each interface in `drops`.

    `tsresol` maps link type -> if_tsresol byte (6 = microseconds, 9 = nanoseconds,
    0x80 | n = 2**-n seconds)."""
    order = ">" if big_endian else "<"
    tsresol = tsresol or {}

    def block(block_type: int, body: bytes) -> bytes:
        body += bytes(-len(body) % 4)
        length = 12 + len(body)
        return (
            struct.pack(order + "II", block_type, length) + body + struct.pack(order + "I", length)
        )

    def option(code: int, value: bytes) -> bytes:
        return struct.pack(order + "HH", code, len(value)) + value + bytes(-len(value) % 4)

    out = [block(0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))]
    interfaces: dict[int, int] = {}
    for packet in frames:
        if packet.linktype in interfaces:
            continue
        interfaces[packet.linktype] = len(interfaces)
        options = b""
        resolution = tsresol.get(packet.linktype)
        if resolution is not None:
            options = option(9, bytes([resolution])) + option(0, b"")
        out.append(block(1, struct.pack(order + "HHI", packet.linktype, 0, 262144) + options))
    for packet in frames:
        if simple:
            out.append(block(3, struct.pack(order + "I", packet.wire_len) + packet.data))
            continue
        resolution = tsresol.get(packet.linktype, 6)
        units = 2 ** (resolution & 0x7F) if resolution & 0x80 else 10**resolution
        ticks = round(packet.ts * units)
        body = struct.pack(
            order + "IIIII",
            interfaces[packet.linktype],
            ticks >> 32,
            ticks & 0xFFFFFFFF,
            len(packet.data),
            packet.wire_len,
        )
        out.append(block(6, body + packet.data))
    for block_type, body in extra_blocks:
        out.append(block(block_type, body))
    for interface, count in (drops or {}).items():
        body = struct.pack(order + "III", interface, 0, 0) + option(
            5, struct.pack(order + "Q", count)
        )
        out.append(block(5, body + option(0, b"")))
    return b"".join(out)


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data)


def write_capture(path: Path | str, data: bytes) -> Path:
    path = Path(path)
    path.write_bytes(data)
    return path
