"""Link types, VLAN tags, IPv4 options and fragments, IPv6 extension headers."""

from __future__ import annotations

import struct

import dpkt
import pytest

from tests.capture.recorder import track
from tests.craft import AH, DEST_OPTS, HOP_BY_HOP, ROUTING, Packet, TcpSession


def login(**options) -> TcpSession:
    s = TcpSession(**options)
    s.handshake()
    s.server_send(b"greeting")
    s.client_send(b"login")
    s.client_fin()
    s.server_fin()
    s.client_ack()
    return s


def assert_streams_delivered(s: TcpSession, **options) -> None:
    recorder, stats = track(s.frames, **options)
    record = recorder.only
    assert bytes(record.data[0]) == b"login"
    assert bytes(record.data[1]) == b"greeting"
    assert record.facts.packets == (5, 3)
    assert record.facts.role_source == "syn"
    assert stats.skipped_frames() == 0


@pytest.mark.parametrize(
    "link", ["ethernet", "sll", "sll2", "null", "loop", "raw", "raw101", "ipv4"]
)
def test_every_supported_link_type_carries_ipv4(link):
    assert_streams_delivered(login(link=link))


@pytest.mark.parametrize("link", ["ethernet", "sll", "sll2", "null", "loop", "raw", "ipv6"])
def test_every_supported_link_type_carries_ipv6(link):
    assert_streams_delivered(
        login(link=link, client=("2001:db8::1", 50000), server=("2001:db8::2", 3306))
    )


def test_null_loopback_family_in_big_endian_host_order():
    assert_streams_delivered(login(link="null", null_byte_order=">"))


def test_openbsd_raw_ip_dlt_14():
    s = login(link="raw")
    s.frames[:] = [Packet(p.ts, 14, p.data, p.wire_len) for p in s.frames]
    assert_streams_delivered(s)


@pytest.mark.parametrize("tags", [(100,), (10, 20), (10, 20, 30)], ids=["802.1Q", "QinQ", "3"])
def test_vlan_tags_are_stepped_over(tags):
    assert_streams_delivered(login(vlan=tags))


def test_ipv6_extension_headers_are_walked():
    s = login(
        client=("2001:db8::1", 50000),
        server=("2001:db8::2", 3306),
        ipv6_ext=[HOP_BY_HOP, DEST_OPTS, ROUTING, AH],
    )
    assert_streams_delivered(s)


def test_ipv6_hop_limit_is_kept_as_ttl():
    s = login(client=("2001:db8::1", 50000), server=("2001:db8::2", 3306), server_ttl=42)
    recorder, _ = track(s.frames)
    assert recorder.only.facts.ttls[1] == {42: 3}


def test_ipv4_options_are_skipped():
    s = login()
    with_options = []
    for packet in s.frames:
        ip = dpkt.ip.IP(packet.data[14:])
        ip.opts = b"\x01\x01\x01\x00"  # NOP NOP NOP EOL
        ip.hl = 6
        ip.len = len(ip)
        ip.sum = 0
        frame = packet.data[:14] + bytes(ip)
        with_options.append(Packet(packet.ts, 1, frame, len(frame)))
    assert_streams_delivered_frames(with_options)


def assert_streams_delivered_frames(frames: list[Packet]) -> None:
    recorder, stats = track(frames)
    assert bytes(recorder.only.data[0]) == b"login"
    assert bytes(recorder.only.data[1]) == b"greeting"
    assert stats.skipped_frames() == 0


def test_unsupported_link_type_is_counted_by_dlt_with_one_warning():
    s = login()
    frames = [Packet(p.ts, 147, p.data, p.wire_len) for p in s.frames]
    _, stats = track(frames)
    assert stats.unsupported_linktype == {147: len(frames)}
    assert stats.warnings == ["link type 147 is not supported: its frames are counted"]


def test_non_ip_and_non_tcp_frames_are_counted():
    arp = Packet(1.0, 1, b"\xff" * 6 + b"\x02" * 6 + b"\x08\x06" + bytes(28), 42)
    udp = dpkt.ip.IP(
        src=b"\x0a\x00\x00\x01",
        dst=b"\x0a\x00\x00\x02",
        p=17,
        data=dpkt.udp.UDP(sport=53, dport=53, data=b"q"),
    )
    udp_frame = b"\x02" * 12 + b"\x08\x00" + bytes(udp)
    _, stats = track([arp, Packet(2.0, 1, udp_frame, len(udp_frame))])
    assert stats.non_ip == {0x0806: 1}
    assert stats.non_tcp == {17: 1}


def test_frames_too_short_for_their_headers_are_counted():
    s = login()
    frames = [Packet(p.ts, 1, p.data[:30], p.wire_len) for p in s.frames[:3]]
    frames.append(Packet(9.0, 1, b"\x00" * 5, 60))
    _, stats = track(frames)
    assert stats.too_short == 4


def test_tcp_on_other_ports_is_skipped_before_tracking():
    s = login(server=("10.0.0.2", 5432))
    recorder, stats = track(s.frames)
    assert recorder.connections == []
    assert stats.tcp_other_ports == len(s.frames)


@pytest.mark.parametrize(
    ("server_ports", "tracked"),
    [
        ({3306}, [3306]),
        ({3307}, [3307]),
        ({3306, 3307}, [3306, 3307]),
        (None, [3306, 3307, 5432]),
    ],
    ids=["the-default", "another-one", "two", "any"],
)
def test_only_connections_to_a_server_port_are_tracked(server_ports, tracked):
    sessions = [login(client=("10.0.0.1", 40000 + port), server=("10.0.0.2", port))
                for port in (3306, 3307, 5432)]  # fmt: skip
    frames = sorted((p for s in sessions for p in s.frames), key=lambda p: p.ts)
    recorder, stats = track(frames, server_ports=server_ports)
    assert sorted(r.facts.server.port for r in recorder.connections) == tracked
    untracked = [s for s in sessions if s.server[1] not in tracked]
    assert stats.tcp_other_ports == sum(len(s.frames) for s in untracked)


def test_offloaded_segment_with_zero_ip_total_length_uses_the_frame_length():
    s = TcpSession()
    s.handshake()
    big = s.client_send(b"x" * 3000)
    ip = bytearray(big.data)
    struct.pack_into("!H", ip, 16, 0)  # what TSO leaves in a capture of sent packets
    s.frames[s.frames.index(big)] = Packet(big.ts, 1, bytes(ip), len(ip), "client")
    recorder, _ = track(s.frames)
    assert bytes(recorder.only.data[0]) == b"x" * 3000


def test_ethernet_padding_is_not_payload():
    s = TcpSession()
    s.handshake()
    small = s.client_send(b"hi")
    padded = small.data + b"\x00" * 6  # Ethernet minimum frame size padding
    s.frames[s.frames.index(small)] = Packet(small.ts, 1, padded, len(padded), "client")
    recorder, _ = track(s.frames)
    assert bytes(recorder.only.data[0]) == b"hi"


# -- IPv4 fragments ---------------------------------------------------------------------


def test_ipv4_fragments_are_reassembled_into_one_segment():
    s = TcpSession()
    s.handshake()
    query = s.client_send(b"q" * 1000)
    s.server_send(b"ok")
    fragments = s.fragment(query, [504, 504])
    recorder, stats = track(s.frames)
    record = recorder.only
    assert bytes(record.data[0]) == b"q" * 1000
    assert stats.fragments_reassembled == 1
    assert stats.ip_fragments == len(fragments) - 1  # the completing frame is the segment's
    assert record.events[0][3] == s.number(fragments[-1])


def test_ipv4_fragments_out_of_order_and_duplicated_are_reassembled():
    s = TcpSession()
    s.handshake()
    query = s.client_send(b"abcdefgh" * 100)
    first, second, third = s.fragment(query, [256, 256, 308])
    s.move_before(third, first)
    s.frames.insert(s.frames.index(second), second)
    recorder, stats = track(s.frames)
    assert bytes(recorder.only.data[0]) == b"abcdefgh" * 100
    assert stats.fragments_reassembled == 1


def test_incomplete_fragments_are_given_up_and_counted():
    s = TcpSession()
    s.handshake()
    query = s.client_send(b"q" * 1000)
    _first, second = s.fragment(query, [504, 504])
    s.drop(second)
    _, stats = track(s.frames)
    assert stats.fragments_given_up == 1
    assert stats.ip_fragments == 1


def test_fragments_of_other_protocols_are_counted_as_non_tcp():
    udp = dpkt.ip.IP(src=b"\x0a\x00\x00\x01", dst=b"\x0a\x00\x00\x02", p=17, id=7, data=b"x" * 64)
    udp._flags_offset = dpkt.ip.IP_MF
    frame = b"\x02" * 12 + b"\x08\x00" + bytes(udp)
    _, stats = track([Packet(1.0, 1, frame, len(frame))])
    assert stats.non_tcp == {17: 1}


def test_ipv6_fragments_are_reassembled_into_one_segment():
    s = TcpSession(client=("2001:db8::1", 50000), server=("2001:db8::2", 3306))
    s.handshake()
    query = s.client_send(b"v6" * 600)
    fragments = s.fragment(query, [600, 620])
    recorder, stats = track(s.frames)
    assert bytes(recorder.only.data[0]) == b"v6" * 600
    assert stats.fragments_reassembled == 1
    assert stats.ip_fragments == len(fragments) - 1
