"""IPv4 and IPv6 headers off the hot path: options, extension headers, fragments.

The tracker decodes the common case (IPv4 without options or fragmentation, behind a
fixed-size link header) inline. Everything else comes through `locate_tcp`, which finds the
TCP header or says why there is none by counting the frame in `CaptureStats`.

IPv6 extension headers (RFC 8200 section 4) are walked: hop-by-hop (0), routing (43),
fragment (44), destination options (60), mobility (135) and AH (51, RFC 4302, whose length
is in 4-byte units). ESP (50) hides what follows and counts as non-TCP.

A payload that is a tunnel (VXLAN, GENEVE, GRE, ERSPAN, IP in IP; MPLS and PPPoE under the
link header) is unwrapped by `capture.tunnels` and the inner packet located the same way; the
frame then also counts in `CaptureStats.tunnelled`.
"""

from __future__ import annotations

import struct

from capture.fragments import FragmentTable
from capture.linktypes import ETHERTYPE_IPV4, ETHERTYPE_IPV6
from capture.stats import CaptureStats
from capture.tunnels import (
    MAX_DEPTH,
    REASSEMBLED_TUNNELS,
    TUNNEL_PROTOCOLS,
    unwrap_ip_payload,
    unwrap_link_payload,
)

IPPROTO_TCP = 6
IPPROTO_HOPOPTS = 0
IPPROTO_ROUTING = 43
IPPROTO_FRAGMENT = 44
IPPROTO_AH = 51
IPPROTO_DSTOPTS = 60
IPPROTO_MOBILITY = 135
IPV6_EXTENSIONS = frozenset(
    {
        IPPROTO_HOPOPTS,
        IPPROTO_ROUTING,
        IPPROTO_FRAGMENT,
        IPPROTO_AH,
        IPPROTO_DSTOPTS,
        IPPROTO_MOBILITY,
    }
)

IPV4_HEADER = struct.Struct("!BxHHHBB")  # version/IHL, total length, id, flags/offset, TTL, proto
IPV6_HEADER = struct.Struct("!4xHBB")  # payload length, next header, hop limit
IPV6_FRAGMENT = struct.Struct("!BxHI")  # next header, offset/flags, identification

IPV4_MORE_FRAGMENTS = 0x2000
IPV4_OFFSET_MASK = 0x1FFF

# (addresses: source then destination, TTL or hop limit, buffer, TCP offset, IP end)
TcpLocation = tuple[bytes, int, bytes, int, int]


def locate_tcp(
    ethertype: int,
    data: bytes,
    offset: int,
    ts: float,
    stats: CaptureStats,
    fragments: FragmentTable,
    depth: int = 0,
) -> TcpLocation | None:
    """Find the TCP header of a frame whose network header starts at `offset`.

    Returns None when the frame holds no TCP segment (yet), having counted it. A reassembled
    datagram comes back in a new buffer. IndexError/struct.error mean the frame is too
    short; the caller counts that. `depth`: tunnels already unwrapped."""
    if ethertype == ETHERTYPE_IPV4:
        return _ipv4(data, offset, ts, stats, fragments, depth)
    if ethertype == ETHERTYPE_IPV6:
        return _ipv6(data, offset, ts, stats, fragments, depth)
    if depth < MAX_DEPTH and (inner := unwrap_link_payload(ethertype, data, offset)):
        return _unwrapped(inner, data, ts, stats, fragments, depth)
    stats.non_ip[ethertype] = stats.non_ip.get(ethertype, 0) + 1
    return None


def _unwrapped(
    inner: tuple[str, int, int],
    data: bytes,
    ts: float,
    stats: CaptureStats,
    fragments: FragmentTable,
    depth: int,
) -> TcpLocation | None:
    name, ethertype, offset = inner
    stats.tunnelled[name] = stats.tunnelled.get(name, 0) + 1
    return locate_tcp(ethertype, data, offset, ts, stats, fragments, depth + 1)


def _ipv4(
    data: bytes,
    offset: int,
    ts: float,
    stats: CaptureStats,
    fragments: FragmentTable,
    depth: int,
) -> TcpLocation | None:
    # Declared so that compiled, the header fields are machine integers, not objects
    # (struct's unpack is typed as returning Any).
    version_ihl: int
    total: int
    ident: int
    flags_offset: int
    ttl: int
    proto: int
    version_ihl, total, ident, flags_offset, ttl, proto = IPV4_HEADER.unpack_from(data, offset)
    header_len = (version_ihl & 0x0F) * 4
    fragmented = flags_offset & (IPV4_MORE_FRAGMENTS | IPV4_OFFSET_MASK)
    if version_ihl >> 4 != 4 or header_len < 20 or (total and total < header_len):
        stats.malformed += 1
        return None
    tunnel = proto in TUNNEL_PROTOCOLS and depth < MAX_DEPTH
    if proto != IPPROTO_TCP and not (tunnel and (proto in REASSEMBLED_TUNNELS or not fragmented)):
        stats.non_tcp[proto] = stats.non_tcp.get(proto, 0) + 1
        return None
    if offset + header_len > len(data):
        raise IndexError("IPv4 options cut off")
    addresses = data[offset + 12 : offset + 20]
    # A zero total length is what TCP segmentation offload leaves in captures of sent
    # packets: the frame's own length is the only length there is.
    end = offset + total if total else len(data)
    if not fragmented:
        if tunnel:
            return _tunnel(proto, data, offset + header_len, ts, stats, fragments, depth)
        return addresses, ttl, data, offset + header_len, end
    stats.ip_fragments += 1
    if end > len(data):  # a fragment cut by the snapshot length cannot be rebuilt
        stats.fragments_given_up += 1
        return None
    whole = fragments.add(
        (addresses, ident, 4),
        (flags_offset & IPV4_OFFSET_MASK) * 8,
        bool(flags_offset & IPV4_MORE_FRAGMENTS),
        data[offset + header_len : end],
        ts,
    )
    if whole is None:
        return None
    stats.ip_fragments -= 1  # the completing frame is counted where the datagram goes
    stats.fragments_reassembled += 1
    if tunnel:  # a tunnel packet the outer network fragmented
        return _tunnel(proto, whole, 0, ts, stats, fragments, depth)
    return addresses, ttl, whole, 0, len(whole)


def _tunnel(
    protocol: int,
    data: bytes,
    offset: int,
    ts: float,
    stats: CaptureStats,
    fragments: FragmentTable,
    depth: int,
) -> TcpLocation | None:
    """The packet inside an IP payload of a tunnel protocol, or the frame counted as
    non-TCP when the payload is not a tunnel we read."""
    inner = unwrap_ip_payload(protocol, data, offset)
    if inner is None:
        stats.non_tcp[protocol] = stats.non_tcp.get(protocol, 0) + 1
        return None
    return _unwrapped(inner, data, ts, stats, fragments, depth)


def _ipv6(
    data: bytes,
    offset: int,
    ts: float,
    stats: CaptureStats,
    fragments: FragmentTable,
    depth: int,
) -> TcpLocation | None:
    if data[offset] >> 4 != 6:
        stats.malformed += 1
        return None
    payload_len: int  # (declared: machine integers when compiled, as in _ipv4)
    next_header: int
    hop_limit: int
    payload_len, next_header, hop_limit = IPV6_HEADER.unpack_from(data, offset)
    addresses = data[offset + 8 : offset + 40]
    if len(addresses) != 32:
        raise IndexError("IPv6 addresses cut off")
    position = offset + 40
    # Zero payload length: a jumbogram or offloaded segment; the frame gives the length.
    end = position + payload_len if payload_len else len(data)
    next_header, position, fragment = _walk_extensions(data, next_header, position)
    if fragment is not None:
        fragment_offset, more, ident = fragment
        tunnel = next_header in REASSEMBLED_TUNNELS and depth < MAX_DEPTH
        if next_header != IPPROTO_TCP and not tunnel and fragment_offset == 0:
            stats.non_tcp[next_header] = stats.non_tcp.get(next_header, 0) + 1
            return None
        stats.ip_fragments += 1
        if end > len(data):
            stats.fragments_given_up += 1
            return None
        whole = fragments.add((addresses, ident, 6), fragment_offset, more, data[position:end], ts)
        if whole is None:
            return None
        stats.ip_fragments -= 1
        stats.fragments_reassembled += 1
        next_header, position, _ = _walk_extensions(whole, next_header, 0)
        data, end = whole, len(whole)
    if next_header != IPPROTO_TCP:
        if next_header in TUNNEL_PROTOCOLS and depth < MAX_DEPTH:
            return _tunnel(next_header, data, position, ts, stats, fragments, depth)
        stats.non_tcp[next_header] = stats.non_tcp.get(next_header, 0) + 1
        return None
    return addresses, hop_limit, data, position, end


def _walk_extensions(
    data: bytes, next_header: int, position: int
) -> tuple[int, int, tuple[int, bool, int] | None]:
    """Step over extension headers: (upper-layer protocol, its offset, fragment info).

    Stops after a fragment header that is not the first fragment: what follows it is the
    middle of a datagram, not a header."""
    fragment = None
    while next_header in IPV6_EXTENSIONS:
        if next_header == IPPROTO_FRAGMENT:
            following, offset_flags, ident = IPV6_FRAGMENT.unpack_from(data, position)
            position += 8
            next_header = following
            if offset_flags & 0xFFF9:  # an offset or the more-fragments flag
                fragment = (offset_flags & 0xFFF8, bool(offset_flags & 1), ident)
                return next_header, position, fragment
            continue
        length = (
            (data[position + 1] + 2) * 4
            if next_header == IPPROTO_AH
            else (data[position + 1] + 1) * 8
        )
        next_header = data[position]
        position += length
    return next_header, position, fragment
