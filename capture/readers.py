"""Opening captures: files or standard input, compressed or not, one or many, in time order.

`open_frames(paths, stats)` is the entry point for callers that want frames. It yields every
frame of every file as a plain tuple `(frame_no, ts, linktype, data, wire_len)`:

* `frame_no` is global and 1-based in the merged order; `stats.files` lists the inputs with
  each one's first global frame number, and `stats.file_of(frame_no)` names a frame's file;
* `ts` is seconds since the epoch (float), `linktype` the DLT of the frame's interface,
  `data` the captured bytes and `wire_len` the frame's original length (larger than
  `len(data)` when the snapshot length cut it).

`open_records(paths, stats)` gives the same frames as a cursor that leaves each record where
the reader read it (`capture.cursor`): the analysis's hot path, which makes no object per
frame. Both number and count the frames the same way; `open_frames` is the cursor's records
turned into tuples (or, for several files, the merge, which the cursor then walks).

The format is detected from the first bytes, never from the name and never by seeking, so
`-` (standard input, a pipe) works like a file: gzip (`1f 8b`) and zstd (`28 b5 2f fd`) are
unwrapped first, then the pcap or pcapng magic picks the reader.

Several files are merged by timestamp. Each file is first opened only to read its first
timestamp; during the merge a file is (re)opened only when the merge reaches that time, so a
rotated set of hundreds of files holds one or two open at a time and memory stays flat.

Errors: with one input, a path that cannot be opened, an empty file or unknown magic raise
`CaptureError` when `open_frames` is called. With several, such a file is left out with a
warning in `stats.warnings` (one line, also kept as its `CaptureFile.problem`) and the others
are read; `CaptureError` comes only when none of them can be read. A file that ends inside a
record, whose compressed stream breaks, or that holds damaged records keeps every frame that
can be read and adds a warning.
"""

from __future__ import annotations

import gzip
import heapq
import os
import sys
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import BinaryIO

from capture._tally import FileTally
from capture.cursor import FrameCursor, RecordCursor, frames_of
from capture.errors import CaptureError
from capture.pcap import MAGICS as PCAP_MAGICS
from capture.pcap import MODIFIED_MAGICS, open_pcap
from capture.pcapng import open_pcapng
from capture.stats import CaptureFile, CaptureStats

Frame = tuple[int, float, int, bytes, int]

CHUNK = 1 << 20
STDIN = "-"
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"

try:  # optional: zstd-compressed captures
    import zstandard

    _ZSTD_ERRORS: tuple[type[BaseException], ...] = (zstandard.ZstdError,)
except ImportError:  # pragma: no cover - zstandard is a declared dependency
    zstandard = None  # type: ignore[assignment]
    _ZSTD_ERRORS = ()

_READ_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, zlib.error, *_ZSTD_ERRORS)


def open_frames(
    paths: Sequence[str | os.PathLike[str]],
    stats: CaptureStats,
    stdin: BinaryIO | None = None,
) -> Iterator[Frame]:
    """Every frame of `paths` (`"-"` is standard input, or `stdin` when given), merged in
    timestamp order and numbered from 1. Raises `CaptureError` now for an unreadable input."""
    sources = _sources(paths, stats, stdin)
    if isinstance(sources, _Source):
        frames = sources.open()
        _first_of_one(sources, stats)
        return frames
    return _merge(sources, stats)


def open_records(
    paths: Sequence[str | os.PathLike[str]],
    stats: CaptureStats,
    stdin: BinaryIO | None = None,
) -> RecordCursor:
    """The same frames as `open_frames`, as a cursor that reads them in place (the analysis's
    hot path: see `capture.cursor`). Close it if you stop before its end."""
    sources = _sources(paths, stats, stdin)
    if isinstance(sources, _Source):
        cursor = sources.open_cursor()
        _first_of_one(sources, stats)
        return cursor
    return FrameCursor(_merge(sources, stats))


def _first_of_one(source: _Source, stats: CaptureStats) -> None:
    """A single input opened: its frames are numbered from 1."""
    stats.note_file_run(1, 0)
    source.file.first_frame = 1


def _sources(
    paths: Sequence[str | os.PathLike[str]], stats: CaptureStats, stdin: BinaryIO | None
) -> _Source | list[_Source]:
    """The one input, or the readable ones of several (probed for their first timestamp)."""
    if not paths:
        raise CaptureError("<no input>", "no capture file given")
    sources: list[_Source] = []
    for path in paths:
        name = os.fspath(path)
        cfile = CaptureFile(path=name)
        stats.files.append(cfile)
        sources.append(_Source(name, len(sources), cfile, stats, stdin))
    if len(sources) == 1:
        return sources[0]
    readable, failures = [], []
    for source in sources:
        try:
            source.probe()
        except CaptureError as error:
            failures.append(error)
            source.file.problem = error.problem
        else:
            readable.append(source)
    if not readable:
        raise CaptureError("no input could be read: " + "; ".join(map(str, failures)))
    for failure in failures:
        stats.warn(f"{failure}: left out, the other files are analysed")
    return readable


def _merge(sources: list[_Source], stats: CaptureStats) -> Iterator[Frame]:
    """Merge by timestamp; on equal times the file that began earlier goes first (then the
    earlier on the command line): the end of one rotated file and the start of the next often
    share a millisecond timestamp, and their frames must stay in file order, whatever order
    the files were named in.

    Frames within one file keep their order even if its clock steps back."""
    waiting = sorted(
        (s for s in sources if s.first_ts is not None), key=lambda s: (s.first_ts, s.index)
    )
    rank = {id(source): position for position, source in enumerate(waiting)}
    waiting.reverse()  # pop() takes the earliest
    heap: list[tuple[float, int, int, Frame, Iterator[Frame]]] = []
    frame_no = 0
    current = -1
    while heap or waiting:
        # (every source waiting has a first timestamp: see above)
        while waiting and (not heap or waiting[-1].first_ts <= heap[0][0]):  # type: ignore[operator]
            source = waiting.pop()
            try:
                frames = source.reopen()
            except CaptureError as error:  # changed or removed since it was probed
                source.file.problem = error.problem
                stats.warn(f"{error}: left out, the other files are analysed")
                continue
            first = next(frames, None)
            if first is not None:
                heapq.heappush(heap, (first[1], rank[id(source)], source.index, first, frames))
        if not heap:
            continue
        ts, order, index, frame, frames = heap[0]
        frame_no += 1
        if index != current:
            current = index
            stats.note_file_run(frame_no, index)
            if not stats.files[index].first_frame:
                stats.files[index].first_frame = frame_no
        yield (frame_no, ts, frame[2], frame[3], frame[4])
        following = next(frames, None)
        if following is None:
            heapq.heappop(heap)
        else:
            heapq.heapreplace(heap, (following[1], order, index, following, frames))


class _Source:
    """One input: how to open it, and (for merging) its first timestamp."""

    def __init__(
        self,
        path: str,
        index: int,
        file: CaptureFile,
        stats: CaptureStats,
        stdin: BinaryIO | None,
    ) -> None:
        self.path = path
        self.index = index
        self.file = file
        self.stats = stats
        self.stdin = stdin
        self.label = "<stdin>" if path == STDIN else path
        self.first_ts: float | None = None
        self._kept: Iterator[Frame] | None = None  # a probed pipe cannot be reopened

    def open(
        self, stats: CaptureStats | None = None, file: CaptureFile | None = None
    ) -> Iterator[Frame]:
        """Open, detect the format and return the frame generator. Raises CaptureError.

        `stats`/`file` default to the real ones; the merge probe passes scratch ones so the
        frame it peeks at is not counted twice."""
        reader = self._open_reader(stats, file)
        return frames_of(reader) if isinstance(reader, RecordCursor) else reader

    def open_cursor(self) -> RecordCursor:
        """Open for the hot path: the records in place (see `capture.cursor`)."""
        reader = self._open_reader(None, None)
        return reader if isinstance(reader, RecordCursor) else FrameCursor(reader)

    def _open_reader(
        self, stats: CaptureStats | None, file: CaptureFile | None
    ) -> RecordCursor | Iterator[Frame]:
        stats = self.stats if stats is None else stats
        file = self.file if file is None else file
        raw = self._open_raw()
        stdin = raw is self._stdin()
        try:
            read, head, compression = _unwrap(raw, self.label, stats.warn)
            if not head:
                raise CaptureError(
                    self.label, f"empty {compression} stream" if compression else "empty file"
                )
            tally = FileTally(stats, file, self.label)
            tally.close_input = None if stdin else raw.close
            magic = head[:4]
            reader: RecordCursor | Iterator[Frame]
            if magic == PCAPNG_MAGIC:
                reader = open_pcapng(read, head, tally)
            elif magic in PCAP_MAGICS or magic in MODIFIED_MAGICS:
                reader = open_pcap(read, head, tally)
            else:
                inside = f" inside the {compression} stream" if compression else ""
                raise CaptureError(
                    self.label,
                    f"not a pcap or pcapng file{inside} (starts with 0x{magic.hex()})",
                )
            if compression:
                file.format += "+" + compression
            return reader
        except BaseException:
            if not stdin:
                raw.close()
            raise

    def probe(self) -> None:
        """Read the first timestamp, then let go of the file until the merge needs it.

        Standard input cannot be read twice: its generator is kept, counting as it goes."""
        if self.path == STDIN:
            frames = self.open()
        else:
            frames = self.open(CaptureStats(), CaptureFile(self.path))
        first = next(frames, None)
        if first is None:
            return
        self.first_ts = first[1]
        if self.path == STDIN:
            self._kept = _prepend(first, frames)
        else:
            frames.close()  # type: ignore[attr-defined]

    def reopen(self) -> Iterator[Frame]:
        if self._kept is not None:
            kept, self._kept = self._kept, None
            return kept
        return self.open()

    def _stdin(self) -> BinaryIO:
        return self.stdin if self.stdin is not None else sys.stdin.buffer

    def _open_raw(self) -> BinaryIO:
        if self.path == STDIN:
            return self._stdin()
        try:
            return open(self.path, "rb")
        except OSError as error:
            raise CaptureError(self.label, f"cannot open ({error.strerror})") from None


def _prepend(first: Frame, rest: Iterator[Frame]) -> Iterator[Frame]:
    yield first
    yield from rest


FIRST_READ = 64  # more than a pcap file header and a record header, or a pcapng SHB


def _seekable(raw: BinaryIO) -> bool:
    try:
        return bool(raw.seekable())
    except (AttributeError, OSError, ValueError):
        return False


class _Prefixed:
    """A read-only stream giving back `head` before the rest of `raw` (no seeking needed)."""

    def __init__(self, head: bytes, raw: BinaryIO) -> None:
        self.head = head
        self.raw = raw
        self.mode = "rb"

    def read(self, size: int = -1) -> bytes:
        head = self.head
        if head:
            if size < 0 or size >= len(head):
                self.head = b""
                rest = self.raw.read(size - len(head)) if size > len(head) else b""
                if size < 0:
                    rest = self.raw.read()
                return head + rest
            self.head = head[size:]
            return head[:size]
        return self.raw.read(size)

    def read1(self, size: int = -1) -> bytes:
        """What is available now, without waiting for `size` bytes (pipes, standard input)."""
        if self.head:
            return self.read(min(size, len(self.head)) if size >= 0 else -1)
        read1 = getattr(self.raw, "read1", None)
        return read1(size) if read1 is not None else self.raw.read(size)

    def close(self) -> None:
        pass


def _unwrap(
    raw: BinaryIO, label: str, warn: Callable[[str], None]
) -> tuple[Callable[[int], bytes], bytes, str]:
    """Detect compression from the first bytes and return a safe `read(n)`, the first chunk
    of the (decompressed) capture and the compression name ("" when none)."""
    try:
        magic = raw.read(4)
    except OSError as error:
        raise CaptureError(label, f"cannot read ({error.strerror or error})") from None
    compression = ""
    if magic[:2] == GZIP_MAGIC:
        stream: BinaryIO = gzip.GzipFile(fileobj=_Prefixed(magic, raw), mode="rb")  # type: ignore[assignment,call-overload]
        compression = "gzip"
    elif magic == ZSTD_MAGIC and zstandard is not None:
        stream = zstandard.ZstdDecompressor().stream_reader(_Prefixed(magic, raw))  # type: ignore[arg-type]
        compression = "zstd"
    else:
        stream = _Prefixed(magic, raw)  # type: ignore[assignment]

    position = 0
    broken: _ReadFailed | None = None  # a failure not yet reported
    finished = False
    # Compressed streams are read piecewise (read1) so that a stream cut short still gives
    # the bytes before the cut; the failure is raised on the call after. A pipe is read
    # piecewise too, and a read returns what has arrived: `tcpdump -w - | mysqlwire` must not
    # wait for a megabyte before it shows anything.
    streaming = not _seekable(raw)
    read_piece = getattr(stream, "read1", stream.read) if compression or streaming else stream.read
    minimum = [FIRST_READ]  # the first read must hold the file header

    def read(size: int) -> bytes:
        nonlocal position, broken, finished
        if finished:
            return b""
        pieces = []
        wanted = size
        while wanted > 0 and broken is None:
            try:
                piece = read_piece(wanted)
            except _READ_ERRORS as error:
                broken = _ReadFailed(position + size - wanted, error)
                break
            if not piece:
                break
            pieces.append(piece)
            wanted -= len(piece)
            if streaming and size - wanted >= minimum[0]:
                break
        minimum[0] = 1
        data = b"".join(pieces)
        position += len(data)
        if not data and broken is not None:
            finished = True
            raise broken
        return data

    try:
        head = read(CHUNK)
    except _ReadFailed as failure:
        raise CaptureError(
            label, f"not a valid {compression or 'capture'} stream ({failure.reason})"
        ) from None

    def read_or_warn(size: int) -> bytes:
        try:
            return read(size)
        except _ReadFailed as failure:
            warn(f"{label}: read error at byte {failure.position} ({failure.reason})")
            return b""

    return read_or_warn, head, compression


class _ReadFailed(Exception):
    def __init__(self, position: int, error: BaseException) -> None:
        super().__init__(position, error)
        self.position = position
        self.reason = str(error) or type(error).__name__
