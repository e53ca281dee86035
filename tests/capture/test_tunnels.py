"""Mirrored traffic in tunnels: a real capture wrapped in each tunnel reads exactly as the
capture itself, connection by connection; what only looks like a tunnel is counted as before.

The wrapped captures are built here from pcaps/busy_mix.pcap (real MariaDB traffic): every
frame inside VXLAN, GENEVE, GRE, ERSPAN I/II/III, IP in IP, MPLS or PPPoE, the way a mirroring
service or a router delivers it. (tshark reads these files as the same inner conversations;
the formats follow the RFCs named in capture/tunnels.py.)"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path

import dpkt
import pytest
from click.testing import CliRunner

from mysqlwire.cli import main
from tests.capture.recorder import track
from tests.craft import Packet

SOURCE = Path(__file__).resolve().parents[2] / "pcaps" / "busy_mix.pcap"
OUTER_MACS = b"\x02\x00\x00\x00\x00\x0b" + b"\x02\x00\x00\x00\x00\x0a"
OUTER_SRC, OUTER_DST = bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2])
OUTER_SRC6, OUTER_DST6 = (
    bytes.fromhex("20010db8" + "00" * 11 + "01"),
    bytes.fromhex("20010db8" + "00" * 11 + "02"),
)


def ethernet(ethertype: int, payload: bytes) -> bytes:
    return OUTER_MACS + struct.pack("!H", ethertype) + payload


def ipv4(protocol: int, payload: bytes) -> bytes:
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0x4000, 64, protocol, 0, OUTER_SRC,
        OUTER_DST,
    )  # fmt: skip
    return header + payload


def ipv6(next_header: int, payload: bytes) -> bytes:
    return (
        struct.pack("!IHBB", 6 << 28, len(payload), next_header, 64)
        + OUTER_SRC6
        + OUTER_DST6
        + payload
    )


def udp(port: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", 49152, port, 8 + len(payload), 0) + payload


def gre(protocol: int, payload: bytes, *, key: bool = False, seq: bool = False,
        checksum: bool = False) -> bytes:  # fmt: skip
    flags = (0x80 if checksum else 0) | (0x20 if key else 0) | (0x10 if seq else 0)
    extra = (b"\0\0\0\0" if checksum else b"") + (b"\0\0\0\x07" if key else b"")
    extra += b"\0\0\0\x01" if seq else b""
    return struct.pack("!BBH", flags, 0, protocol) + extra + payload


def vxlan(frame: bytes, port: int = 4789) -> bytes:
    return ethernet(0x0800, ipv4(17, udp(port, b"\x08\0\0\0" + b"\0\x12\x34\0" + frame)))


def geneve_ethernet(frame: bytes) -> bytes:
    options = b"\x01\x02\x80\x01" + b"\xde\xad\xbe\xef"  # one 8-byte option: length field 2
    header = struct.pack("!BBH", 2, 0, 0x6558) + b"\0\0\x2a\0" + options
    return ethernet(0x0800, ipv4(17, udp(6081, header + frame)))


def geneve_ip(frame: bytes) -> bytes:
    header = struct.pack("!BBH", 0, 0, 0x0800) + b"\0\0\x2a\0"
    return ethernet(0x0800, ipv4(17, udp(6081, header + frame[14:])))


def erspan_1(frame: bytes) -> bytes:
    return ethernet(0x0800, ipv4(47, gre(0x88BE, frame)))


def erspan_2(frame: bytes) -> bytes:
    header = struct.pack("!HHI", 0x1000 | 10, 0x0005, 0x00000001)  # version 1, VLAN 10
    return ethernet(0x0800, ipv4(47, gre(0x88BE, header + frame, seq=True)))


def erspan_3(frame: bytes) -> bytes:
    # version 2, timestamp, SGT; P=0, frame type 0 (Ethernet), hardware id 1, O set
    header = struct.pack("!HHIHH", 0x2000 | 10, 0x0005, 123456, 0, (1 << 4) | 0x0001)
    platform = b"\x08" + b"\0" * 7  # the optional platform-specific subheader
    return ethernet(0x0800, ipv4(47, gre(0x22EB, header + platform + frame, seq=True)))


def gre_ethernet(frame: bytes) -> bytes:
    return ethernet(0x0800, ipv4(47, gre(0x6558, frame, key=True)))


def gre_ip(frame: bytes) -> bytes:
    return ethernet(0x0800, ipv4(47, gre(0x0800, frame[14:], checksum=True)))


def ip_in_ip(frame: bytes) -> bytes:
    return ethernet(0x0800, ipv4(4, frame[14:]))


def ipv4_in_ipv6(frame: bytes) -> bytes:
    return ethernet(0x86DD, ipv6(4, frame[14:]))


def mpls(frame: bytes) -> bytes:
    labels = struct.pack("!II", (16 << 12) | 64, (17 << 12) | 0x100 | 64)  # bottom of stack
    return ethernet(0x8847, labels + frame[14:])


def mpls_pseudowire(frame: bytes) -> bytes:
    label = struct.pack("!I", (18 << 12) | 0x100 | 64)
    return ethernet(0x8847, label + b"\0\0\0\x01" + frame)  # with its control word


def pppoe(frame: bytes) -> bytes:
    ip = frame[14:]
    header = struct.pack("!BBHHH", 0x11, 0, 0x1234, len(ip) + 2, 0x0021)
    return ethernet(0x8864, header + ip)


def vxlan_in_gre(frame: bytes) -> bytes:
    return ethernet(0x0800, ipv4(47, gre(0x0800, vxlan(frame)[14:])))


TUNNELS: dict[str, tuple[Callable[[bytes], bytes], dict[str, int]]] = {
    "vxlan": (vxlan, {"VXLAN": 1}),
    "vxlan-8472": (lambda f: vxlan(f, 8472), {"VXLAN": 1}),
    "geneve-ethernet": (geneve_ethernet, {"GENEVE": 1}),
    "geneve-ip": (geneve_ip, {"GENEVE": 1}),
    "erspan-1": (erspan_1, {"ERSPAN": 1}),
    "erspan-2": (erspan_2, {"ERSPAN": 1}),
    "erspan-3": (erspan_3, {"ERSPAN": 1}),
    "gre-ethernet": (gre_ethernet, {"GRE": 1}),
    "gre-ip": (gre_ip, {"GRE": 1}),
    "ip-in-ip": (ip_in_ip, {"IP-in-IP": 1}),
    "ipv4-in-ipv6": (ipv4_in_ipv6, {"IP-in-IP": 1}),
    "mpls": (mpls, {"MPLS": 1}),
    "mpls-pseudowire": (mpls_pseudowire, {"MPLS": 1}),
    "pppoe": (pppoe, {"PPPoE": 1}),
    "vxlan-in-gre": (vxlan_in_gre, {"GRE": 1, "VXLAN": 1}),
}


def rewrap(target: Path, wrap: Callable[[bytes], bytes]) -> int:
    frames = 0
    with SOURCE.open("rb") as source, target.open("wb") as out:
        writer = dpkt.pcap.Writer(out, snaplen=262144, linktype=dpkt.pcap.DLT_EN10MB)
        for ts, frame in dpkt.pcap.Reader(source):
            writer.writepkt(wrap(frame), ts)
            frames += 1
    return frames


def analyze(path: Path) -> tuple[list[dict], dict]:
    result = CliRunner().invoke(main, ["analyze", "--format", "jsonl", str(path)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    return [r for r in records if r["type"] == "connection"], records[-1]


@pytest.fixture(scope="module")
def plain() -> tuple[list[dict], dict]:
    return analyze(SOURCE)


@pytest.mark.parametrize("name", list(TUNNELS))
def test_a_capture_in_a_tunnel_reads_as_the_capture_itself(tmp_path: Path, plain, name):
    wrap, per_frame = TUNNELS[name]
    path = tmp_path / f"{name}.pcap"
    frames = rewrap(path, wrap)
    connections, summary = analyze(path)
    expected_connections, expected_summary = plain
    assert connections == expected_connections  # verdicts, bytes, TTL-based findings, frames
    assert summary["by_verdict"] == expected_summary["by_verdict"]
    capture = summary["capture"]
    assert capture["frames_in_connections"] == frames
    assert not any(capture["skipped"].values())
    assert capture["tunnelled"] == {tunnel: frames * n for tunnel, n in per_frame.items()}


def test_the_table_names_the_tunnels(tmp_path: Path):
    path = tmp_path / "vxlan.pcap"
    frames = rewrap(path, vxlan)
    result = CliRunner().invoke(main, ["analyze", str(path)])
    assert result.exit_code == 0, result.output
    assert f"frames unwrapped from tunnels: VXLAN {frames:,}" in result.output


# -- what only looks like a tunnel -------------------------------------------------------------


def frame_of(data: bytes) -> Packet:
    return Packet(1.0, 1, data, len(data))


INNER = bytes(dpkt.ethernet.Ethernet(
    src=b"\x02" * 6, dst=b"\x04" * 6, type=0x0800,
    data=dpkt.ip.IP(src=b"\x0a\0\0\x01", dst=b"\x0a\0\0\x02", p=6,
                    data=dpkt.tcp.TCP(sport=50000, dport=3306, flags=dpkt.tcp.TH_SYN)),
))  # fmt: skip


@pytest.mark.parametrize(
    ("data", "counter", "key"),
    [
        # VXLAN's port without the I flag: some other UDP protocol there
        (ethernet(0x0800, ipv4(17, udp(4789, b"\0" * 8 + INNER))), "non_tcp", 17),
        # GENEVE version 1 does not exist
        (
            ethernet(0x0800, ipv4(17, udp(6081, b"\x40\0\x65\x58" + b"\0" * 4 + INNER))),
            "non_tcp",
            17,
        ),
        # GRE version 1 is PPTP's, carrying PPP
        (ethernet(0x0800, ipv4(47, b"\x30\x81\x88\x0b" + b"\0" * 8 + INNER)), "non_tcp", 47),
        # GRE carrying a protocol we do not read (IPX)
        (ethernet(0x0800, ipv4(47, gre(0x8137, INNER))), "non_tcp", 47),
        # an MPLS stack that never ends
        (ethernet(0x8847, struct.pack("!I", 16 << 12) * 12 + INNER[14:]), "non_ip", 0x8847),
        # PPPoE carrying a PPP control protocol (LCP)
        (
            ethernet(0x8864, struct.pack("!BBHHH", 0x11, 0, 1, 6, 0xC021) + b"\0" * 4),
            "non_ip",
            0x8864,
        ),
    ],
    ids=["vxlan-no-i-flag", "geneve-v1", "gre-v1", "gre-ipx", "mpls-no-bottom", "pppoe-lcp"],
)
def test_what_is_not_a_tunnel_we_read_is_counted_as_before(data, counter, key):
    _, stats = track([frame_of(data)])
    assert getattr(stats, counter) == {key: 1}
    assert stats.tunnelled == {}
    assert stats.unaccounted_frames() == 0


def test_tunnels_nested_too_deep_stop_at_the_limit():
    data = INNER[14:]
    for _ in range(10):
        data = ipv4(4, data)
    _, stats = track([frame_of(ethernet(0x0800, data))])
    assert stats.tunnelled == {"IP-in-IP": 4}
    assert stats.non_tcp == {4: 1}
    assert stats.unaccounted_frames() == 0


@pytest.mark.parametrize("wrap", [vxlan, erspan_3, geneve_ethernet, mpls, pppoe])
def test_a_tunnel_cut_short_is_counted_as_too_short(wrap):
    data = wrap(INNER)
    cut = data[: len(data) - len(INNER) + 6]  # the tunnel header whole, the inner frame not
    _, stats = track([frame_of(cut)])
    assert stats.too_short == 1
    assert stats.unaccounted_frames() == 0


def test_a_tunnel_packet_the_outer_network_fragmented_is_reassembled(tmp_path: Path):
    """ERSPAN over GRE whose outer IPv4 packets were fragmented (a mirrored full-size frame
    plus the tunnel headers exceeds the path MTU): each inner segment comes out whole."""
    path = tmp_path / "erspan-fragmented.pcap"
    frames = 0
    with SOURCE.open("rb") as source, path.open("wb") as out:
        writer = dpkt.pcap.Writer(out, snaplen=262144, linktype=dpkt.pcap.DLT_EN10MB)
        for ident, (ts, frame) in enumerate(dpkt.pcap.Reader(source)):
            ip = erspan_2(frame)[14:]
            payload = ip[20:]
            cut = (len(payload) // 2) & ~7 or len(payload)  # fragment offsets are in 8 bytes
            for start, end in ((0, cut), (cut, len(payload))):
                if start == end:
                    continue
                more = 0x2000 if end < len(payload) else 0
                header = struct.pack(
                    "!BBHHHBBH4s4s", 0x45, 0, 20 + end - start, ident, more | start // 8, 64, 47,
                    0, OUTER_SRC, OUTER_DST,
                )  # fmt: skip
                writer.writepkt(ethernet(0x0800, header + payload[start:end]), ts)
            frames += 1
    connections, summary = analyze(path)
    # Frame numbers differ (each frame is two now); what each connection did does not.
    assert list(map(essentials, connections)) == list(map(essentials, plain_connections()))
    capture = summary["capture"]
    assert capture["tunnelled"] == {"ERSPAN": frames}
    assert capture["ip_fragments_reassembled"] == frames
    assert capture["ip_fragments_given_up"] == 0


def plain_connections() -> list[dict]:
    return analyze(SOURCE)[0]


def essentials(connection: dict) -> tuple:
    return (
        *(connection[key] for key in ("client", "server", "thread_id", "user", "close")),
        *(connection[key] for key in ("closed_by", "commands", "bytes_c2s", "bytes_s2c")),
        connection["packets_c2s"],
        connection["packets_s2c"],
        connection["error_codes"],
        sorted(f["kind"] for f in connection["findings"]),
    )
