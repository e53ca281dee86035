"""Classic libpcap files: microsecond and nanosecond magic, either byte order.

Layout (https://www.tcpdump.org/manpages/pcap-savefile.5.html): a 24-byte file header whose
magic also gives byte order and timestamp unit, then records of a 16-byte header
(seconds, fraction, captured length, original length) followed by the captured bytes.

The record loop is the hottest code of the reader: the file is read in 1 MiB chunks and
each record is sliced out of the chunk with a precompiled `struct.Struct.unpack_from`, so a
frame costs one unpack and one slice. dpkt's `pcap.Reader` does the same job with a read()
call and a header object per record: about four times slower on the benchmark capture
(bench/capture_throughput.py).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

from capture._tally import FileTally
from capture.errors import CaptureError

Frame = tuple[int, float, int, bytes, int]

CHUNK = 1 << 20
FILE_HEADER_LEN = 24
RECORD_HEADER_LEN = 16
MAX_RECORD = 1 << 26  # a captured length above 64 MiB means the file is corrupt

# magic bytes as stored -> (byte order, seconds per timestamp fraction unit, format name)
MAGICS: dict[bytes, tuple[str, float, str]] = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6, "pcap"),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6, "pcap"),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9, "pcap-ns"),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9, "pcap-ns"),
}
MODIFIED_MAGICS = {b"\x34\xcd\xb2\xa1", b"\xa1\xb2\xcd\x34"}  # Kuznetzov's patched libpcap


def open_pcap(read: Callable[[int], bytes], head: bytes, tally: FileTally) -> Iterator[Frame]:
    """Parse the file header now (so a bad file fails at open) and return a generator of
    `(frame_no, ts, linktype, data, wire_len)` numbered from 1."""
    magic = head[:4]
    if magic in MODIFIED_MAGICS:
        raise CaptureError(tally.label, "modified (Kuznetzov) pcap format is not supported")
    order, unit, name = MAGICS[magic]
    while len(head) < FILE_HEADER_LEN:
        more = read(FILE_HEADER_LEN - len(head))
        if not more:
            raise CaptureError(tally.label, f"{name} file header truncated ({len(head)} bytes)")
        head += more
    (network,) = struct.unpack_from(order + "I", head, 20)
    linktype = network & 0xFFFF  # upper bits may carry FCS length flags
    tally.file.format = name
    return _records(read, head, FILE_HEADER_LEN, order, unit, linktype, tally)


def _records(
    read: Callable[[int], bytes],
    buf: bytes,
    pos: int,
    order: str,
    unit: float,
    linktype: int,
    tally: FileTally,
) -> Iterator[Frame]:
    unpack = struct.Struct(order + "IIII").unpack_from
    base = 0  # stream offset of buf[0]
    frames = 0
    first_ts = ts = 0.0
    try:
        while True:
            end = len(buf)
            while pos + RECORD_HEADER_LEN <= end:
                sec, frac, caplen, wirelen = unpack(buf, pos)
                nxt = pos + RECORD_HEADER_LEN + caplen
                if nxt > end:
                    if caplen > MAX_RECORD:
                        tally.stats.warn(
                            f"{tally.label}: corrupt record header at byte {base + pos} "
                            f"(captured length {caplen}); {frames} frames read"
                        )
                        return
                    break
                ts = sec + frac * unit
                frames += 1
                if frames == 1:
                    first_ts = ts
                data = buf[pos + RECORD_HEADER_LEN : nxt]
                pos = nxt
                yield (frames, ts, linktype, data, wirelen)
            captured = base + pos - FILE_HEADER_LEN - RECORD_HEADER_LEN * frames
            tally.flush(frames, captured, first_ts, ts, linktype)
            chunk = read(CHUNK)
            if not chunk:
                if pos < end:
                    what = "inside a record header" if end - pos < 16 else "inside a record"
                    tally.warn_truncated(base + end, what)
                return
            base += pos
            buf = buf[pos:] + chunk
            pos = 0
    finally:
        captured = base + pos - FILE_HEADER_LEN - RECORD_HEADER_LEN * frames
        tally.flush(frames, captured, first_ts, ts, linktype)
        tally.done()
