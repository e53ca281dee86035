"""The garbage collector's pace while an analysis runs.

An analysis allocates millions of short-lived objects (each frame's tuple and slices, each
exchange's events) while it holds a large, slowly changing set of live ones: every open or
lingering connection's state, a few hundred objects each. At CPython's default pace (a young
collection every 700 net allocations) the collector keeps finding that live state young,
promoting it and traversing it again in the older generations' collections: 17% of the time
on a capture of many short connections (docs/performance.md). The analysis frees its own
structures by reference counting (the tracker breaks each connection's cycles when it
releases it), so the collector has almost nothing to find; collecting every
`YOUNG_THRESHOLD` allocations instead still bounds what cyclic garbage could pile up to a
few megabytes, and takes that share down to a few percent.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

YOUNG_THRESHOLD: Final = 100_000  # net allocations between young collections (CPython: 700)


@contextmanager
def analysis_pace() -> Iterator[None]:
    """Collect at the analysis's pace inside the block, and restore the caller's after it
    (a library caller's own settings are left as they were)."""
    before = gc.get_threshold()
    gc.set_threshold(max(YOUNG_THRESHOLD, before[0]), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
