"""Classic libpcap files: microsecond and nanosecond magic, either byte order.

Layout (https://www.tcpdump.org/manpages/pcap-savefile.5.html): a 24-byte file header whose
magic also gives byte order and timestamp unit, then records of a 16-byte header
(seconds, fraction, captured length, original length) followed by the captured bytes.

The record loop is the hottest code of the reader: the file is read 64 KiB at a time and
`PcapRecords.advance` reads each record header byte by byte where it lies, leaving the
record in the buffer for the tracker (`capture.cursor`), so a frame costs no object at all
compiled. dpkt's `pcap.Reader` does the same job with a read() call and a header object per
record: several times slower on the benchmark capture (bench/capture_throughput.py).

Damage: a record header whose captured length is larger than any record of the file can be
(the snapshot length, or Wireshark's 262,144 bytes when that is larger) is corrupt. The reader
never allocates for it: it looks ahead for the next header that is plausible (a timestamp
within a day of the last good one, lengths in range, and another plausible header right after
its record), warns, and carries on from there. When nothing plausible follows within
`RESYNC_WINDOW` bytes, it stops with a warning; the frames read so far are kept either way.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Final

from capture._tally import FileTally
from capture.cursor import FileRecords, u32
from capture.errors import CaptureError

# Bytes read at a time. Below glibc's threshold for serving an allocation with its own memory
# map (128 KiB), so the read buffers come from the heap and are reused, instead of mapped,
# zeroed by the kernel and unmapped again for every chunk (about 3% of an analysis with 1 MiB
# reads). A record larger than that is read whole at once (`_refill`), never piecewise.
CHUNK: Final = 64 << 10
FILE_HEADER_LEN: Final = 24
RECORD_HEADER_LEN: Final = 16
MAX_RECORD: Final = 1 << 26  # a captured length above 64 MiB means the file is corrupt
STANDARD_MAX_CAPLEN: Final = 262144  # Wireshark's limit for Ethernet and most link types
RESYNC_WINDOW: Final = 16 << 20  # bytes searched for the next plausible record after damage
RESYNC_TS_SLACK: Final = 86400  # seconds a resynchronised record may differ from the last good one

# magic bytes as stored -> (byte order, seconds per timestamp fraction unit, format name)
MAGICS: dict[bytes, tuple[str, float, str]] = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6, "pcap"),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6, "pcap"),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9, "pcap-ns"),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9, "pcap-ns"),
}
MODIFIED_MAGICS = {b"\x34\xcd\xb2\xa1", b"\xa1\xb2\xcd\x34"}  # Kuznetzov's patched libpcap


def open_pcap(read: Callable[[int], bytes], head: bytes, tally: FileTally) -> PcapRecords:
    """Parse the file header now (so a bad file fails at open) and return a cursor over the
    records, numbered from 1 (`capture.cursor.frames_of` gives them as frame tuples)."""
    magic = head[:4]
    if magic in MODIFIED_MAGICS:
        raise CaptureError(tally.label, "modified (Kuznetzov) pcap format is not supported")
    order, unit, name = MAGICS[magic]
    while len(head) < FILE_HEADER_LEN:
        more = read(FILE_HEADER_LEN - len(head))
        if not more:
            raise CaptureError(tally.label, f"{name} file header truncated ({len(head)} bytes)")
        head += more
    snaplen, network = struct.unpack_from(order + "II", head, 16)
    linktype = network & 0xFFFF  # upper bits may carry FCS length flags
    tally.file.format = name
    max_caplen = min(MAX_RECORD, max(snaplen, STANDARD_MAX_CAPLEN))
    return PcapRecords(read, head, order, unit, linktype, tally, max_caplen)


class PcapRecords(FileRecords):
    """The records of one pcap file, read in place in 1 MiB buffers.

    `advance` reads the next record header byte by byte (compiled, no object is made) and
    takes the record when it is whole in the buffer; anything else (the buffer's end, damage,
    the file's end) goes to `_refill`, which also hands the counts to the tally at each
    refill and when the file ends or the cursor is closed."""

    def __init__(
        self,
        read: Callable[[int], bytes],
        head: bytes,
        order: str,
        unit: float,
        linktype: int,
        tally: FileTally,
        max_caplen: int,
    ) -> None:
        super().__init__(read, head, tally, "record", RECORD_HEADER_LEN)
        self.pos = FILE_HEADER_LEN  # the next record header
        self.order = order
        self.little = order == "<"
        self.unit = unit
        self.linktype = linktype
        self.max_caplen = max_caplen
        self.unpack = struct.Struct(order + "IIII").unpack_from  # the slow path's
        self.skipped = 0  # bytes stepped over after damage (not part of any frame)
        self.first_ts = 0.0
        # seconds of the first record of the latest buffer: a resync anchor
        self.chunk_sec = self._seconds_at(self.pos)

    def advance(self) -> bool:
        buf = self.buf
        pos = self.pos
        if pos + RECORD_HEADER_LEN <= self.end:
            little = self.little
            caplen = u32(buf, pos + 8, little)
            nxt = pos + RECORD_HEADER_LEN + caplen
            if caplen <= self.max_caplen and nxt <= self.end:
                sec = u32(buf, pos, little)
                frac = u32(buf, pos + 4, little)
                self.wire_len = u32(buf, pos + 12, little)
                self._take(pos, caplen, sec, frac)
                return True
        return self._refill()

    def _take(self, pos: int, caplen: int, sec: int, frac: int) -> None:
        ts = sec + frac * self.unit
        self.ts = ts
        self.frame_no += 1
        if self.frame_no == 1:
            self.first_ts = ts
        self.start = pos + RECORD_HEADER_LEN
        self.caplen = caplen
        self.pos = self.start + caplen

    def _seconds_at(self, pos: int) -> int:
        return int(self.unpack(self.buf, pos)[0]) if pos + RECORD_HEADER_LEN <= self.end else -1

    def _refill(self) -> bool:
        """The record at `pos` is not whole in the buffer, or its header is damaged: account,
        step over damage or read on, and take the next record; False at the file's end."""
        sec: int
        frac: int
        caplen: int
        wirelen: int
        while not self.closed:
            buf, pos, end = self.buf, self.pos, self.end
            if pos + RECORD_HEADER_LEN <= end:
                sec, frac, caplen, wirelen = self.unpack(buf, pos)
                if caplen <= self.max_caplen and pos + RECORD_HEADER_LEN + caplen <= end:
                    self.wire_len = wirelen
                    self._take(pos, caplen, sec, frac)
                    return True
            self._flush()
            if pos + RECORD_HEADER_LEN <= end and self.unpack(buf, pos)[2] > self.max_caplen:
                if not self._step_over_damage():
                    break
                continue
            wanted = CHUNK
            if pos + RECORD_HEADER_LEN <= end:  # the rest of a record longer than a chunk
                wanted = max(CHUNK, pos + RECORD_HEADER_LEN + self.unpack(buf, pos)[2] - end)
            if not self._read_more(wanted):
                break
            self.chunk_sec = self._seconds_at(0)
        self.close()
        return False

    def _step_over_damage(self) -> bool:
        """The header at `pos` claims a record longer than any of this file can be: find the
        next plausible record (True) or give up (False), warning either way."""
        frames = self.frame_no
        anchors = {int(self.first_ts), int(self.ts), self.chunk_sec} if frames else set()
        found = _resynchronise(
            self.read, self.buf, self.pos, self.base, self.order, self.unit, anchors,
            self.max_caplen,
        )  # fmt: skip
        damaged_at = self.base + self.pos
        caplen = self.unpack(self.buf, self.pos)[2]
        max_caplen = self.max_caplen
        if found is None:
            self.tally.warn_damage(
                f"corrupt record header at byte {damaged_at} (captured length "
                f"{caplen:,}, above the {max_caplen:,} any record of this file can "
                f"have) and no valid record after it; {frames} frames read"
            )
            return False
        buf, base, next_pos = found
        pos = damaged_at - base
        self.skipped += next_pos - pos
        self.tally.warn_damage(
            f"corrupt record header at byte {damaged_at} (captured length "
            f"{caplen:,}, above the {max_caplen:,} any record of this file can have); "
            f"skipped {next_pos - pos:,} bytes to the next valid record",
            next_pos - pos,
        )
        self.buf, self.base, self.pos, self.end = buf, base, next_pos, len(buf)
        self.chunk_sec = self._seconds_at(next_pos)
        return True

    def _flush(self) -> None:
        frames = self.frame_no
        captured = (
            self.base + self.pos - FILE_HEADER_LEN - RECORD_HEADER_LEN * frames - self.skipped
        )
        self.tally.flush(frames, captured, self.first_ts, self.ts, self.linktype)


def _resynchronise(
    read: Callable[[int], bytes],
    buf: bytes,
    pos: int,
    base: int,
    order: str,
    unit: float,
    anchors: set[int],
    max_caplen: int,
) -> tuple[bytes, int, int] | None:
    """After the corrupt header at `buf[pos]`, find the next plausible record header,
    reading more of the file as needed (at most `RESYNC_WINDOW` bytes). Returns
    `(buf, base, position)` with the header at `buf[position]` (`buf` may have been refilled,
    `base` is its stream offset, and it still starts at or before the damaged header), or None.

    Plausible: a timestamp within `RESYNC_TS_SLACK` of one of the `anchors` (the seconds of
    the file's first frame, of the latest frame, of the first record of the latest chunk: one
    of them may be damage that still looked like a record; with none, the reader cannot tell
    and gives up), a fraction below one second, a captured length within the file's limit and
    not above the original length, and either another plausible header right after the
    record or the end of the file."""
    anchors = {sec for sec in anchors if sec >= 0}
    if not anchors:
        return None
    unpack = struct.Struct(order + "IIII").unpack_from
    fraction_limit = round(1 / unit)
    patterns = {
        struct.pack(">H" if order == ">" else "<H", ((sec >> 16) + step) & 0xFFFF)
        for sec in anchors
        for step in (-1, 0, 1)
    }
    where = 0 if order == ">" else 2  # the seconds' two high bytes within a header

    def plausible(at: int) -> bool:
        sec, frac, caplen, wirelen = unpack(buf, at)
        return (
            any(abs(sec - anchor) <= RESYNC_TS_SLACK for anchor in anchors)
            and frac < fraction_limit
            and caplen <= max_caplen
            and caplen <= wirelen <= MAX_RECORD
        )

    def next_candidate(start: int) -> int | None:
        found = [at - where for p in patterns if (at := buf.find(p, start + where)) >= 0]
        return min(found) if found else None

    searched_from = pos + 1
    at_eof = False
    while True:
        candidate = next_candidate(searched_from)
        while candidate is not None and candidate + RECORD_HEADER_LEN <= len(buf):
            if plausible(candidate):
                following = candidate + RECORD_HEADER_LEN + unpack(buf, candidate)[2]
                if following + RECORD_HEADER_LEN <= len(buf):
                    if plausible(following):
                        return buf, base, candidate
                elif following == len(buf) and at_eof:
                    return buf, base, candidate
                elif not at_eof:
                    break  # its follower is not read yet
            searched_from = candidate + 1
            candidate = next_candidate(searched_from)
        if candidate is None:  # nothing left here: search only the new bytes next time
            searched_from = max(searched_from, len(buf) - RECORD_HEADER_LEN)
        if at_eof or len(buf) - pos > RESYNC_WINDOW:
            return None
        chunk = read(CHUNK)
        if not chunk:
            at_eof = True
            continue
        # Keep the damaged header (for the caller's message) and what is still to search.
        buf = buf[pos:] + chunk
        base += pos
        searched_from -= pos
        pos = 0
