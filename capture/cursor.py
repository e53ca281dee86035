"""A capture's records one at a time, read in place: the hot path's alternative to frame tuples.

A reader that yields `(frame_no, ts, linktype, data, wire_len)` tuples makes, for every
frame, the tuple, a bytes copy of the record, and boxed numbers for the frame number, the
timestamp and the length, all freed a microsecond later. A `RecordCursor` instead leaves the
record where the reader read it: after `advance()` returns True, the frame's bytes are
`buf[start:start + caplen]` and its other fields are plain attributes. The tracker parses the
headers straight out of `buf` and copies only the TCP payload (`TcpTracker.run_cursor`).
Compiled, none of this makes a Python object per frame.

The pcap and pcapng readers are cursors natively (`capture.pcap.PcapRecords`,
`capture.pcapng.PcapngRecords`, sharing `FileRecords`); anything else (merged files, a live
capture, a test's list) is an iterator of frames, which `FrameCursor` presents the same way.
`frames_of` turns a cursor back into frame tuples, for the callers that want them; the
readers' frame iterators are exactly that, so the two never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from capture._tally import FileTally

Frame = tuple[int, float, int, bytes, int]


def u32(buf: bytes, at: int, little: bool) -> int:
    """The 32-bit unsigned field at `buf[at]`, in the file's byte order: read byte by byte,
    which compiled makes no object (a struct would make a tuple and an int)."""
    if little:
        return buf[at] | buf[at + 1] << 8 | buf[at + 2] << 16 | buf[at + 3] << 24
    return buf[at] << 24 | buf[at + 1] << 16 | buf[at + 2] << 8 | buf[at + 3]


class RecordCursor:
    """The record the cursor is on, valid until the next `advance()`.

    `buf` holds the record at `start`, `caplen` bytes long (the buffer is the reader's: it
    changes between records, so keep a slice, never the buffer); `frame_no` counts from 1;
    `ts` is seconds since the epoch; `wire_len` is the frame's length on the wire."""

    def __init__(self) -> None:
        self.buf = b""
        self.start = 0
        self.caplen = 0
        self.frame_no = 0
        self.ts = 0.0
        self.linktype = 0
        self.wire_len = 0

    def advance(self) -> bool:
        """Move to the next record; False at the end of the capture (then it is closed)."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop early: account what was read and let go of the input. Idempotent."""

    def record(self) -> bytes:
        return self.buf[self.start : self.start + self.caplen]


class FileRecords(RecordCursor):
    """What the pcap and pcapng cursors share: the read buffer (`buf[pos:end]` not read yet,
    `base` the file offset of `buf[0]`), reading on, and closing. A subclass says what a unit
    of its file is called ("record", "block") and how long the unit's header is, for the
    warning when the file ends inside one, and hands its counts to the tally in `_flush`."""

    def __init__(
        self,
        read: Callable[[int], bytes],
        head: bytes,
        tally: FileTally,
        unit_name: str,
        header_len: int,
    ) -> None:
        super().__init__()
        self.unit_name = unit_name
        self.header_len = header_len
        self.read = read
        self.buf = head
        self.pos = 0  # where the next unit begins
        self.end = len(head)
        self.base = 0  # stream offset of buf[0]
        self.tally = tally
        self.closed = False

    def _read_more(self, wanted: int) -> bool:
        """Append the next `wanted` bytes (or what the input gives) to what is left of the
        buffer; False at the end of the input, warning if it ends inside a unit."""
        chunk = self.read(wanted)
        pos, end = self.pos, self.end
        if not chunk:
            if pos < end:
                header = " header" if end - pos < self.header_len else ""
                self.tally.warn_truncated(self.base + end, f"inside a {self.unit_name}{header}")
            return False
        self.base += pos
        self.buf = self.buf[pos:] + chunk
        self.pos = 0
        self.end = len(self.buf)
        return True

    def _flush(self) -> None:
        """Hand the counts so far to the tally."""
        raise NotImplementedError

    def close(self) -> None:
        if not self.closed:
            self._flush()
            self.closed = True
            self.end = 0  # (so that `advance` finds nothing more)
            self.tally.done()


class FrameCursor(RecordCursor):
    """A cursor over an iterator of frame tuples."""

    def __init__(self, frames: Iterator[Frame]) -> None:
        super().__init__()
        self.frames = frames

    def advance(self) -> bool:
        frame = next(self.frames, None)
        if frame is None:
            return False
        self.frame_no, self.ts, self.linktype, data, self.wire_len = frame
        self.buf = data
        self.caplen = len(data)
        return True

    def close(self) -> None:
        close = getattr(self.frames, "close", None)
        if close is not None:
            close()


def frames_of(cursor: RecordCursor) -> Iterator[Frame]:
    """The cursor's records as frame tuples; closing the iterator closes the cursor."""
    try:
        while cursor.advance():
            yield (cursor.frame_no, cursor.ts, cursor.linktype, cursor.record(), cursor.wire_len)
    finally:
        cursor.close()
