"""pcapng files: sections, interfaces and packet blocks.

Layout (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-02.html): a sequence of
blocks `type, total length, body, total length`. A Section Header Block (SHB) starts each
section and fixes its byte order; Interface Description Blocks (IDB) number the section's
interfaces, each with its own link type and timestamp resolution (`if_tsresol`) and offset
(`if_tsoffset`); packets come in Enhanced (EPB), Simple (SPB) or obsolete Packet Blocks (PB);
Interface Statistics Blocks (ISB) report the capture's own drops (`isb_ifdrop`). Every
other block (name resolution, decryption secrets, custom...) is skipped and counted in
`CaptureStats.skipped_blocks`.

Like the classic reader, it reads 64 KiB at a time and leaves each packet in the buffer
(`capture.cursor`): an EPB, the usual block, is read byte by byte in `advance`; every other
block goes through the general loop (`_blocks`), which reads fields with precompiled structs.

Damage: a block is corrupt when its length is impossible (below 12, not a multiple of 4, above
`MAX_BLOCK`), when a packet's captured length overruns its block, when a block is too short
for the fields of its type, or (for blocks other than EPBs, whose captured length already
checks the length) when the copy of the length at its end disagrees. The reader then looks
ahead (4 bytes at a time, block boundaries being aligned, at most `RESYNC_WINDOW` bytes) for
the next block that checks out (a known type, a sane length repeated at its end, and for a
packet block an interface the section described), warns, and carries on from there; when
none is found it stops with a warning. The frames read so far are kept either way.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

from capture._tally import FileTally
from capture.cursor import FileRecords, u32
from capture.errors import CaptureError

CHUNK = 64 << 10  # bytes read at a time: see capture/pcap.py
MAX_BLOCK = 1 << 26  # a block above 64 MiB means the file is corrupt
RESYNC_WINDOW = 16 << 20  # bytes searched for the next sound block after damage

SHB = 0x0A0D0D0A
IDB = 0x00000001
PB = 0x00000002  # obsolete Packet Block
SPB = 0x00000003
ISB = 0x00000005
EPB = 0x00000006
# Block types a resynchronisation may land on: the above, name resolution, systemd journal,
# decryption secrets, and the two custom block types.
KNOWN_BLOCKS = frozenset({SHB, IDB, PB, SPB, 0x4, ISB, EPB, 0x9, 0xA, 0xBAD, 0x40000BAD})
# The shortest each block type can be: header and trailer, plus its fixed fields.
MIN_LENGTH = {SHB: 28, IDB: 20, PB: 32, SPB: 16, ISB: 24, EPB: 32}

BYTE_ORDER_MAGIC = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}

OPT_END = 0
IF_TSRESOL = 9
IF_TSOFFSET = 14
ISB_IFDROP = 5

UNDESCRIBED_INTERFACE = -1  # link type given to packets naming an interface with no IDB


def open_pcapng(read: Callable[[int], bytes], head: bytes, tally: FileTally) -> PcapngRecords:
    """Check the first section header now (so a bad file fails at open) and return a cursor
    over the packets, numbered from 1 (`capture.cursor.frames_of` gives them as frame
    tuples)."""
    while len(head) < 12:
        more = read(12 - len(head))
        if not more:
            raise CaptureError(tally.label, f"pcapng section header truncated ({len(head)} bytes)")
        head += more
    if head[8:12] not in BYTE_ORDER_MAGIC:
        raise CaptureError(
            tally.label,
            f"pcapng section header has no byte-order magic (0x{head[8:12].hex()})",
        )
    tally.file.format = "pcapng"
    return PcapngRecords(read, head, tally)


class _Section:
    """Per-section decoding state: byte order, its structs, its interfaces."""

    __slots__ = ("epb", "header", "interfaces", "isb", "order", "pb", "spb", "u16", "u64")

    def __init__(self, order: str) -> None:
        self.order = order
        self.header = struct.Struct(order + "II").unpack_from
        self.epb = struct.Struct(order + "IIIII").unpack_from
        self.pb = struct.Struct(order + "HHIIII").unpack_from
        self.spb = struct.Struct(order + "I").unpack_from
        self.isb = struct.Struct(order + "III").unpack_from
        self.u16 = struct.Struct(order + "HH").unpack_from
        self.u64 = struct.Struct(order + "q").unpack_from
        # interface id -> (link type, timestamp units per second, offset in seconds, snaplen)
        self.interfaces: list[tuple[int, float, float, int]] = []

    def options(self, buf: bytes, start: int, end: int) -> Iterator[tuple[int, bytes]]:
        while start + 4 <= end:
            code, length = self.u16(buf, start)
            if code == OPT_END:
                return
            value = buf[start + 4 : start + 4 + length]
            yield code, value
            start += 4 + ((length + 3) & ~3)

    def add_interface(self, buf: bytes, body: int, end: int) -> None:
        linktype, _reserved = self.u16(buf, body)
        (snaplen,) = self.spb(buf, body + 4)
        units = 1e6
        offset = 0.0
        for code, value in self.options(buf, body + 8, end):
            if code == IF_TSRESOL and value:
                exponent = value[0]
                units = float(2 ** (exponent & 0x7F) if exponent & 0x80 else 10**exponent)
            elif code == IF_TSOFFSET and len(value) == 8:
                offset = float(self.u64(value, 0)[0])
        self.interfaces.append((linktype, units, offset, snaplen))


class PcapngRecords(FileRecords):
    """The packets of one pcapng file, read in place in the reader's buffer.

    `advance` takes the usual block, an EPB whole in the buffer on an interface the section
    described, reading its fields byte by byte (compiled, no object is made); every other
    block, the buffer's end and damage go through `_blocks`, the general loop, which also
    hands the counts to the tally at each refill and when the file ends or the cursor is
    closed. Frames are counted by link type as runs (`_count_linktype`), the link type of
    a file's packets rarely changing."""

    def __init__(self, read: Callable[[int], bytes], buf: bytes, tally: FileTally) -> None:
        super().__init__(read, buf, tally, "block", 12)
        self.section = _Section(BYTE_ORDER_MAGIC[buf[8:12]])
        self.little = self.section.order == "<"
        self.captured = 0
        self.first_ts = 0.0
        self.by_linktype: dict[int, int] = {}
        self.flushed_by_linktype: dict[int, int] = {}
        self.run_linktype = UNDESCRIBED_INTERFACE  # the link type of the latest frames,
        self.run_count = 0  # and how many of them are not yet in by_linktype

    def advance(self) -> bool:
        buf = self.buf
        pos = self.pos
        if pos + 28 <= self.end:
            little = self.little
            if u32(buf, pos, little) == EPB:
                blen = u32(buf, pos + 4, little)
                nxt = pos + blen
                caplen = u32(buf, pos + 20, little)
                iface = u32(buf, pos + 8, little)
                interfaces = self.section.interfaces
                if (
                    32 <= blen <= MAX_BLOCK
                    and not blen & 3
                    and nxt <= self.end
                    and 28 + caplen <= blen - 4
                    and iface < len(interfaces)
                ):
                    linktype, units, offset, _snaplen = interfaces[iface]
                    high = u32(buf, pos + 12, little)
                    low = u32(buf, pos + 16, little)
                    self.ts = ((high << 32) | low) / units + offset
                    self.wire_len = u32(buf, pos + 24, little)
                    self._take(pos + 28, caplen, linktype, nxt)
                    return True
        return self._blocks()

    def _take(self, start: int, caplen: int, linktype: int, nxt: int) -> None:
        self.frame_no += 1
        if self.frame_no == 1:
            self.first_ts = self.ts
        self.start = start
        self.caplen = caplen
        self.captured += caplen
        if linktype == self.run_linktype:
            self.run_count += 1
        else:
            self._count_linktype(linktype)
        self.linktype = linktype
        self.pos = nxt

    def _count_linktype(self, linktype: int) -> None:
        if self.run_count:
            by_linktype = self.by_linktype
            by_linktype[self.run_linktype] = by_linktype.get(self.run_linktype, 0) + self.run_count
        self.run_linktype = linktype
        self.run_count = 1

    def _flush(self) -> None:
        if self.run_count:
            self._count_linktype(self.run_linktype)
            self.run_count = 0
        self.tally.flush(self.frame_no, self.captured, self.first_ts, self.ts, None)
        flushed = self.flushed_by_linktype
        for linktype, count in self.by_linktype.items():
            delta = count - flushed.get(linktype, 0)
            if delta:
                self.tally.count_linktype(linktype, delta)
                flushed[linktype] = count

    def _blocks(self) -> bool:
        """Every block up to the next packet (True, the cursor on it) or the end (False)."""
        stats = self.tally.stats
        tally = self.tally
        # Declared so that compiled, the header fields are machine integers, not objects
        # (struct's unpack is typed as returning Any).
        btype: int
        blen: int
        iface: int
        high: int
        low: int
        caplen: int
        wirelen: int
        while not self.closed:
            buf, pos, end = self.buf, self.pos, self.end
            section = self.section
            header = section.header
            damage = None
            try:
                while pos + 12 <= end:
                    btype, blen = header(buf, pos)
                    if btype == SHB:
                        order = BYTE_ORDER_MAGIC.get(buf[pos + 8 : pos + 12])
                        if order is None:
                            damage = "section header without byte-order magic"
                            break
                        section = self.section = _Section(order)
                        self.little = order == "<"
                        header = section.header
                        btype, blen = header(buf, pos)
                    if blen < 12 or blen & 3 or blen > MAX_BLOCK:
                        damage = f"block length {blen}"
                        break
                    nxt = pos + blen
                    if nxt > end:
                        break
                    if btype in (EPB, PB):
                        if btype == EPB:
                            iface, high, low, caplen, wirelen = section.epb(buf, pos + 8)
                        else:  # the obsolete Packet Block: the same, with a drops count
                            iface, _drops, high, low, caplen, wirelen = section.pb(buf, pos + 8)
                        if 28 + caplen > blen - 4:
                            damage = f"captured length {caplen} overruns its block"
                            break
                        interfaces = section.interfaces
                        if iface < len(interfaces):
                            linktype, units, offset, _snaplen = interfaces[iface]
                            self.ts = ((high << 32) | low) / units + offset
                        else:
                            linktype = UNDESCRIBED_INTERFACE
                        self.wire_len = wirelen
                        self._take(pos + 28, caplen, linktype, nxt)
                        return True
                    if btype == SPB:
                        if blen < MIN_LENGTH[SPB]:
                            damage = f"block of type 0x{btype:x} too short ({blen} bytes)"
                            break
                        (wirelen,) = section.spb(buf, pos + 8)
                        caplen = min(wirelen, blen - 16)
                        if section.interfaces:
                            linktype, _units, _offset, snaplen = section.interfaces[0]
                            if snaplen:
                                caplen = min(caplen, snaplen)
                        else:
                            linktype = UNDESCRIBED_INTERFACE
                        self.wire_len = wirelen
                        self._take(pos + 12, caplen, linktype, nxt)  # no timestamp: the last
                        return True
                    # An EPB's length is checked against its captured length; other blocks
                    # (rare, so the check costs nothing) by the copy at their end.
                    if section.spb(buf, nxt - 4)[0] != blen:
                        damage = f"block length {blen} not repeated at the block's end"
                        break
                    if blen < MIN_LENGTH.get(btype, 12):
                        damage = f"block of type 0x{btype:x} too short ({blen} bytes)"
                        break
                    if btype == IDB:
                        section.add_interface(buf, pos + 8, nxt - 4)
                    elif btype == ISB:
                        iface = section.isb(buf, pos + 8)[0]
                        for code, value in section.options(buf, pos + 20, nxt - 4):
                            if code == ISB_IFDROP and len(value) == 8:
                                drops = struct.unpack(section.order + "Q", value)[0]
                                stats.interface_drops[f"{tally.label}#{iface}"] = drops
                    elif btype != SHB:
                        skipped = stats.skipped_blocks
                        skipped[btype] = skipped.get(btype, 0) + 1
                    pos = self.pos = nxt
            except struct.error:  # a packet block too short for its fields, at the buffer's end
                damage = f"block of type 0x{btype:x} too short ({blen} bytes)"
            self._flush()
            if damage is not None:
                found = _resynchronise(self.read, buf, pos, self.base, section)
                damaged_at = self.base + pos
                if found is None:
                    tally.warn_damage(
                        f"corrupt pcapng block at byte {damaged_at} ({damage}) and no sound "
                        f"block after it; {self.frame_no} frames read"
                    )
                    break
                self.buf, self.base, self.pos = found
                self.end = len(self.buf)
                skipped_bytes = self.base + self.pos - damaged_at
                tally.warn_damage(
                    f"corrupt pcapng block at byte {damaged_at} ({damage}); skipped "
                    f"{skipped_bytes:,} bytes to the next sound block",
                    skipped_bytes,
                )
                continue
            wanted = CHUNK
            if pos + 12 <= end:  # the rest of a block longer than a chunk, read at once
                blen = header(buf, pos)[1]
                if blen <= MAX_BLOCK:
                    wanted = max(CHUNK, pos + blen - end)
            if not self._read_more(wanted):
                break
        self.close()
        return False


def _resynchronise(
    read: Callable[[int], bytes], buf: bytes, pos: int, base: int, section: _Section
) -> tuple[bytes, int, int] | None:
    """After the corrupt block at `buf[pos]`, find the next block that checks out, reading
    more of the file as needed (at most `RESYNC_WINDOW` bytes). Returns `(buf, base,
    position)` with that block at `buf[position]`, or None.

    Blocks start at multiples of 4 from the section start, so only those offsets are tried. A
    sound block: a section header with its byte-order magic, or a block of a known type whose
    length is sane and repeated at its end; a packet block must also name an interface the
    section described and hold its captured length."""
    header, tail, epb = section.header, section.spb, section.epb
    candidate = pos + 4
    at_eof = False
    while True:
        while candidate + 12 <= len(buf):
            btype, blen = header(buf, candidate)
            if btype == SHB:
                order = BYTE_ORDER_MAGIC.get(buf[candidate + 8 : candidate + 12])
                if order is not None:
                    blen = struct.unpack_from(order + "I", buf, candidate + 4)[0]
                    if 28 <= blen <= MAX_BLOCK and not blen & 3:
                        if candidate + blen > len(buf) and not at_eof:
                            break
                        return buf, base, candidate
            elif (
                btype in KNOWN_BLOCKS
                and MIN_LENGTH.get(btype, 12) <= blen <= MAX_BLOCK
                and not blen & 3
            ):
                if candidate + blen > len(buf):
                    if not at_eof:
                        break  # wait for the whole block
                elif tail(buf, candidate + blen - 4)[0] == blen:
                    if btype not in (EPB, PB):
                        return buf, base, candidate
                    if btype == EPB:
                        iface, _high, _low, caplen, _wire = epb(buf, candidate + 8)
                    else:
                        iface, _drops, _high, _low, caplen, _wire = section.pb(buf, candidate + 8)
                    if iface < len(section.interfaces) and 28 + caplen <= blen - 4:
                        return buf, base, candidate
            candidate += 4
        if at_eof or candidate - pos > RESYNC_WINDOW:
            return None
        chunk = read(CHUNK)
        if not chunk:
            at_eof = True
            continue
        # Keep the damaged block (the caller's message counts from it) and what follows.
        buf = buf[pos:] + chunk
        base += pos
        candidate -= pos
        pos = 0
