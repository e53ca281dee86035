"""Link-layer types: how to find the network header in a frame of each DLT.

`LINKTYPES[dlt]` is a `LinkType` with a name and a `locate(data) -> (ethertype, offset)`
function: the EtherType-style protocol of the network header (0x0800 IPv4, 0x86DD IPv6,
anything else is "not IP") and where it starts in `data`. A DLT missing from the table is
unsupported: its frames are counted by DLT in `CaptureStats.unsupported_linktype`.

`FIXED_ETHERTYPE[dlt] = (ethertype offset, network offset)` lists the link types whose
header has a fixed size; the tracker's hot path reads those inline and comes here only for
the rest (VLAN tags, loopback families, raw IP).

References: https://www.tcpdump.org/linktypes.html, libpcap's pcap-common.c, and for the
loopback families https://www.tcpdump.org/linktypes/LINKTYPE_NULL.html.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
NOT_IP = -1  # the "ethertype" of frames whose link header names no network protocol we know

# 802.1Q customer tag, 802.1ad service tag (QinQ), and the pre-standard QinQ tag.
VLAN_TPIDS = frozenset({0x8100, 0x88A8, 0x9100})
VLAN_TAG_LEN = 4

# BSD loopback address families: AF_INET is 2 everywhere, AF_INET6 differs by system
# (24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS, 10 Linux).
LOOPBACK_FAMILIES = {
    2: ETHERTYPE_IPV4,
    10: ETHERTYPE_IPV6,
    24: ETHERTYPE_IPV6,
    28: ETHERTYPE_IPV6,
    30: ETHERTYPE_IPV6,
}

DLT_NULL = 0
DLT_EN10MB: Final = 1
DLT_RAW = 12  # DLT_RAW on most systems
DLT_RAW_OPENBSD = 14  # DLT_RAW as OpenBSD numbers it; libpcap maps both to LINKTYPE_RAW
LINKTYPE_RAW = 101
DLT_LOOP = 108
DLT_LINUX_SLL: Final = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
DLT_LINUX_SLL2: Final = 276

Locator = Callable[[bytes], tuple[int, int]]


@dataclass(frozen=True, slots=True)
class LinkType:
    name: str
    locate: Locator


def skip_vlan_tags(data: bytes, ethertype: int, offset: int) -> tuple[int, int]:
    """Step over 802.1Q / 802.1ad tags: (inner ethertype, offset of the network header)."""
    while ethertype in VLAN_TPIDS:
        ethertype = data[offset + 2] << 8 | data[offset + 3]
        offset += VLAN_TAG_LEN
    return ethertype, offset


def _ethernet(data: bytes) -> tuple[int, int]:
    # Values below 0x0600 are 802.3 lengths (LLC frames), never IP.
    return skip_vlan_tags(data, data[12] << 8 | data[13], 14)


def _linux_sll(data: bytes) -> tuple[int, int]:
    # 16-byte header; the protocol field is an EtherType for Ethernet-like devices.
    return skip_vlan_tags(data, data[14] << 8 | data[15], 16)


def _linux_sll2(data: bytes) -> tuple[int, int]:
    # 20-byte header beginning with the protocol type.
    return skip_vlan_tags(data, data[0] << 8 | data[1], 20)


def _raw_ip(data: bytes) -> tuple[int, int]:
    version = data[0] >> 4
    if version == 4:
        return ETHERTYPE_IPV4, 0
    if version == 6:
        return ETHERTYPE_IPV6, 0
    return NOT_IP, 0


def _ipv4(data: bytes) -> tuple[int, int]:
    return ETHERTYPE_IPV4, 0


def _ipv6(data: bytes) -> tuple[int, int]:
    return ETHERTYPE_IPV6, 0


def _bsd_null(data: bytes) -> tuple[int, int]:
    # The family is in the byte order of the host that captured: a value too large to be a
    # family means the other order.
    family = int.from_bytes(data[:4], "little")
    if family > 0xFFFF:
        family = int.from_bytes(data[:4], "big")
    return LOOPBACK_FAMILIES.get(family, NOT_IP), 4


def _bsd_loop(data: bytes) -> tuple[int, int]:
    # OpenBSD's DLT_LOOP: like NULL, but the family is always in network byte order.
    return LOOPBACK_FAMILIES.get(int.from_bytes(data[:4], "big"), NOT_IP), 4


LINKTYPES: dict[int, LinkType] = {
    DLT_NULL: LinkType("BSD loopback (NULL)", _bsd_null),
    DLT_EN10MB: LinkType("Ethernet", _ethernet),
    DLT_RAW: LinkType("raw IP", _raw_ip),
    DLT_RAW_OPENBSD: LinkType("raw IP (OpenBSD DLT_RAW)", _raw_ip),
    LINKTYPE_RAW: LinkType("raw IP", _raw_ip),
    DLT_LOOP: LinkType("OpenBSD loopback (LOOP)", _bsd_loop),
    DLT_LINUX_SLL: LinkType("Linux cooked (SLL)", _linux_sll),
    LINKTYPE_IPV4: LinkType("raw IPv4", _ipv4),
    LINKTYPE_IPV6: LinkType("raw IPv6", _ipv6),
    DLT_LINUX_SLL2: LinkType("Linux cooked v2 (SLL2)", _linux_sll2),
}

# Link types with a fixed-size header: DLT -> (offset of the EtherType, network offset).
FIXED_ETHERTYPE: dict[int, tuple[int, int]] = {
    DLT_EN10MB: (12, 14),
    DLT_LINUX_SLL: (14, 16),
    DLT_LINUX_SLL2: (0, 20),
}


def linktype_name(dlt: int) -> str:
    known = LINKTYPES.get(dlt)
    return known.name if known else f"DLT {dlt}"
