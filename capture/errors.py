"""The one exception the capture layer lets escape.

Whatever goes wrong inside a capture file (bad magic, an unreadable path, a corrupt gzip
stream) reaches the caller as a `CaptureError` whose `str()` is one line naming the file and
the problem, fit to print as is. Low-level exceptions (`struct.error`, `EOFError`, `OSError`,
`zlib.error`) never cross the public API; problems that leave the frames read so far usable
(a truncated last record) are not errors at all but warnings in `CaptureStats`.
"""

from __future__ import annotations


class CaptureError(Exception):
    """A capture cannot be read. `str(error)` is one line: "<file>: <what is wrong>", or just
    the message when no single file is to blame (`CaptureError(message)`)."""

    def __init__(self, source: str, problem: str | None = None) -> None:
        super().__init__(source if problem is None else f"{source}: {problem}")
        self.source = source if problem is not None else ""
        self.problem = problem if problem is not None else source
