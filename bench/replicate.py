"""Build a large benchmark capture from a committed real one: every connection replicated on
shifted client addresses and ports, the copies interleaved in time.

    .venv/bin/python bench/replicate.py pcaps/busy_mix.pcap OUT.pcap --copies 500 --spread 60

Copy k moves each client endpoint to 10.<k/250>.<k%250>.<octet> (the original last octet kept,
loopback addresses become 10.x.y.1), adds k*7 to the client port (mod the ephemeral range) and
starts `k * spread / copies` seconds later, so several copies run at once, as busy clients
would. IPv4 and TCP checksums are recomputed, so tshark reads the result as a clean capture.
The source must be Ethernet/IPv4 (pcaps/busy_mix.pcap is).

`--closed-only` leaves out the connections the source never closes (no FIN or RST): every
copy of busy_mix.pcap otherwise adds one connection open until the end, so a capture with
more copies ends with more open connections, and needs more memory for them. Without them,
captures of any size hold the same number of connections at once (for the memory figures in
docs/performance.md).
"""

from __future__ import annotations

import argparse
import heapq
import struct
from collections.abc import Iterator
from pathlib import Path

import dpkt

SERVER_PORTS = {3306}


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class Template:
    """One source frame, pre-split so a copy only patches addresses, ports and checksums."""

    __slots__ = ("client_is_src", "eth", "ip_head", "tcp", "ts", "wire_len")

    def __init__(self, ts: float, frame: bytes, wire_len: int) -> None:
        self.ts = ts
        self.wire_len = wire_len
        self.eth = frame[:14]
        ihl = (frame[14] & 15) * 4
        self.ip_head = bytearray(frame[14 : 14 + ihl])
        self.tcp = bytearray(frame[14 + ihl :])
        sport = struct.unpack_from("!H", self.tcp, 0)[0]
        self.client_is_src = sport not in SERVER_PORTS

    def copy(self, k: int) -> bytes:
        ip = bytearray(self.ip_head)
        tcp = bytearray(self.tcp)
        addr_at, port_at = (12, 0) if self.client_is_src else (16, 2)
        ip[addr_at : addr_at + 4] = bytes([10, k // 250, k % 250, max(1, ip[addr_at + 3])])
        port = struct.unpack_from("!H", tcp, port_at)[0]
        struct.pack_into("!H", tcp, port_at, 32768 + (port - 32768 + 7 * k) % 28000)
        ip[10:12] = b"\0\0"
        struct.pack_into("!H", ip, 10, checksum(bytes(ip)))
        tcp[16:18] = b"\0\0"
        pseudo = bytes(ip[12:20]) + struct.pack("!BBH", 0, 6, len(tcp))
        struct.pack_into("!H", tcp, 16, checksum(pseudo + bytes(tcp)))
        return self.eth + bytes(ip) + bytes(tcp)


def load(path: Path) -> list[Template]:
    with path.open("rb") as handle:
        reader = dpkt.pcap.Reader(handle)
        if reader.datalink() != dpkt.pcap.DLT_EN10MB:
            raise SystemExit(f"{path}: need an Ethernet capture")
        return [Template(ts, buf, len(buf)) for ts, buf in reader]


def connection_of(template: Template) -> frozenset[bytes]:
    ends = (bytes(template.ip_head[12:16]) + bytes(template.tcp[0:2]),
            bytes(template.ip_head[16:20]) + bytes(template.tcp[2:4]))  # fmt: skip
    return frozenset(ends)


def closed_only(templates: list[Template]) -> list[Template]:
    """The frames of the connections that end (a FIN or an RST) within the source."""
    closed = {connection_of(t) for t in templates if t.tcp[13] & 0x05}
    return [t for t in templates if connection_of(t) in closed]


def copies(templates: list[Template], count: int, spread: float) -> Iterator[tuple[float, bytes]]:
    start = templates[0].ts

    def one(k: int) -> Iterator[tuple[float, bytes]]:
        offset = k * spread / count
        for template in templates:
            yield template.ts - start + offset, template.copy(k)

    yield from heapq.merge(*(one(k) for k in range(count)), key=lambda item: item[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--copies", type=int, default=500)
    parser.add_argument(
        "--spread", type=float, default=60.0, help="seconds over which the copies start"
    )
    parser.add_argument(
        "--closed-only",
        action="store_true",
        help="leave out the connections the source never closes",
    )
    args = parser.parse_args()
    templates = load(args.source)
    if args.closed_only:
        templates = closed_only(templates)
    base = 1_700_000_000.0
    with args.output.open("wb") as handle:
        writer = dpkt.pcap.Writer(handle, snaplen=262144, nano=False)
        for ts, frame in copies(templates, args.copies, args.spread):
            writer.writepkt(frame, ts=base + ts)
    print(
        f"{args.output}: {len(templates) * args.copies:,} frames, "
        f"{args.output.stat().st_size / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    main()
