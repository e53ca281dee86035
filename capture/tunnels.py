"""Tunnels that deliver mirrored traffic: where the inner frame of an encapsulated one starts.

A capture taken where mirrored traffic arrives holds the MySQL conversation wrapped in a
tunnel: AWS VPC Traffic Mirroring and most overlays send it in VXLAN (UDP 4789, or 8472, the
Linux and flannel default), AWS Gateway Load Balancer and other cloud appliances in
GENEVE (UDP 6081), Cisco and Arista remote SPAN in ERSPAN (GRE types II and III), others in
plain GRE or IP in IP. Between routers the frames may carry MPLS labels, and on DSL links
PPPoE sits between Ethernet and IP. Unwrapped, these frames would count as UDP or as "not
IP" and the capture would seem to hold no MySQL at all.

Each function here looks at one layer and returns `(tunnel name, inner EtherType, offset of
the inner network header)`, or None when the bytes are not that tunnel (or a variant we do
not read): the caller then counts the frame as it did before. The inner connection is the
one tracked: its addresses, ports and TTL. Nothing is copied; offsets point into the frame.

References: RFC 7348 (VXLAN), RFC 8926 (GENEVE), RFC 2784 and 2890 (GRE), the ERSPAN draft
draft-foschiano-erspan-03, RFC 3032 (MPLS label stack), RFC 4385 (pseudowire control word),
RFC 2516 (PPPoE), RFC 2003 and 4213 (IPv4 and IPv6 in IPv4).
"""

from __future__ import annotations

from capture.linktypes import ETHERTYPE_IPV4, ETHERTYPE_IPV6, skip_vlan_tags

# Tunnels inside tunnels are followed this deep (a loop of crafted headers ends here).
MAX_DEPTH = 4

IPPROTO_IPIP = 4
IPPROTO_IPV6 = 41
IPPROTO_UDP = 17
IPPROTO_GRE = 47
TUNNEL_PROTOCOLS = frozenset({IPPROTO_IPIP, IPPROTO_IPV6, IPPROTO_UDP, IPPROTO_GRE})
# Fragmented tunnel packets are reassembled for the protocols that are only ever tunnels.
# UDP fragments are not: nearly all are other traffic (DNS, NFS), and the tunnel port is in
# the first fragment only, so they stay counted as non-TCP.
REASSEMBLED_TUNNELS = frozenset({IPPROTO_IPIP, IPPROTO_IPV6, IPPROTO_GRE})

VXLAN_PORTS = frozenset({4789, 8472})
GENEVE_PORT = 6081

ETHERTYPE_TEB = 0x6558  # transparent Ethernet bridging: an Ethernet frame follows
ETHERTYPE_MPLS = frozenset({0x8847, 0x8848})
ETHERTYPE_PPPOE_SESSION = 0x8864
ETHERTYPE_ERSPAN_2 = 0x88BE  # also type I, which has no ERSPAN header
ETHERTYPE_ERSPAN_3 = 0x22EB

MPLS_MAX_LABELS = 8
PPP_PROTOCOLS = {0x0021: ETHERTYPE_IPV4, 0x0057: ETHERTYPE_IPV6}
INNER_IP = {ETHERTYPE_IPV4, ETHERTYPE_IPV6}

Inner = tuple[str, int, int]


def _ethernet(name: str, data: bytes, offset: int) -> Inner:
    """An inner Ethernet frame at `offset` (VLAN tags stepped over)."""
    ethertype = data[offset + 12] << 8 | data[offset + 13]
    ethertype, network = skip_vlan_tags(data, ethertype, offset + 14)
    return name, ethertype, network


def unwrap_ip_payload(protocol: int, data: bytes, offset: int) -> Inner | None:
    """The inner frame of an IP payload of protocol `protocol` starting at `offset`."""
    if protocol == IPPROTO_UDP:
        return _udp(data, offset)
    if protocol == IPPROTO_GRE:
        return _gre(data, offset)
    if protocol == IPPROTO_IPIP:
        return "IP-in-IP", ETHERTYPE_IPV4, offset
    if protocol == IPPROTO_IPV6:
        return "IP-in-IP", ETHERTYPE_IPV6, offset
    return None


def unwrap_link_payload(ethertype: int, data: bytes, offset: int) -> Inner | None:
    """The network header under an MPLS label stack or a PPPoE session header."""
    if ethertype in ETHERTYPE_MPLS:
        return _mpls(data, offset)
    if ethertype == ETHERTYPE_PPPOE_SESSION:
        inner = PPP_PROTOCOLS.get(data[offset + 6] << 8 | data[offset + 7])
        return None if inner is None else ("PPPoE", inner, offset + 8)
    return None


def _udp(data: bytes, offset: int) -> Inner | None:
    port = data[offset + 2] << 8 | data[offset + 3]  # the destination port names the tunnel
    header = offset + 8
    if len(data) < header + 8:  # too short for either header: some other use of the port
        return None
    if port in VXLAN_PORTS:
        if not data[header] & 0x08:  # the I flag: a valid VNI, set by every sender
            return None
        return _ethernet("VXLAN", data, header + 8)
    if port == GENEVE_PORT:
        if data[header] >> 6:  # version 0 is the only one
            return None
        inner = header + 8 + (data[header] & 0x3F) * 4  # options come in 4-byte units
        protocol = data[header + 2] << 8 | data[header + 3]
        if protocol == ETHERTYPE_TEB:
            return _ethernet("GENEVE", data, inner)
        return ("GENEVE", protocol, inner) if protocol in INNER_IP else None
    return None


def _gre(data: bytes, offset: int) -> Inner | None:
    flags, version = data[offset], data[offset + 1] & 0x07
    if version or flags & 0x4F:  # PPTP's enhanced GRE; source routing; recursion, strict route
        return None
    protocol = data[offset + 2] << 8 | data[offset + 3]
    header = offset + 4
    header += 4 * ((flags & 0x80 != 0) + (flags & 0x20 != 0) + (flags & 0x10 != 0))  # C, K, S
    if protocol == ETHERTYPE_ERSPAN_2:
        if not flags & 0x10:  # type I: no sequence number, no ERSPAN header
            return _ethernet("ERSPAN", data, header)
        return _ethernet("ERSPAN", data, header + 8)
    if protocol == ETHERTYPE_ERSPAN_3:
        frame_type = data[header + 10] >> 2 & 0x1F
        if frame_type:  # 0 is Ethernet; the others are not in use
            return None
        optional = 8 if data[header + 11] & 0x01 else 0  # the platform-specific subheader
        return _ethernet("ERSPAN", data, header + 12 + optional)
    if protocol == ETHERTYPE_TEB:
        return _ethernet("GRE", data, header)
    if protocol in INNER_IP or protocol in ETHERTYPE_MPLS:
        return "GRE", protocol, header
    return None


def _mpls(data: bytes, offset: int) -> Inner | None:
    for _ in range(MPLS_MAX_LABELS):
        bottom = data[offset + 2] & 0x01
        offset += 4
        if bottom:
            break
    else:
        return None
    version = data[offset] >> 4  # no protocol field: the first nibble tells
    if version == 4:
        return "MPLS", ETHERTYPE_IPV4, offset
    if version == 6:
        return "MPLS", ETHERTYPE_IPV6, offset
    if version == 0:  # an Ethernet pseudowire with its control word
        return _ethernet("MPLS", data, offset + 4)
    return None
