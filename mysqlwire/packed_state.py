"""An idle connection's decoder and recorder packed into a few hundred bytes.

A connection pool keeps connections open and silent for minutes, and a database host has
thousands of them: those are most of what a long capture, or a live run, holds open. The
tracker tells a connection's sink when it has been silent for a while (`on_idle`); the sink
then keeps its decoder and recorder here, pickled and compressed, until the connection's
next packet, and unpacks them exactly as they were (the equivalence suite packs and unpacks
every connection before every delivery and compares the reports).

Compression uses a preset dictionary: the pickle of the first connection this process
packed, which every later one largely repeats (class and attribute names, the same server's
version and capabilities, the same client's habits). About 4 KB of pickle becomes about
300 bytes, where `zlib.compress` alone gives 2 KB. The dictionary never changes once set, so
every packed connection unpacks with it. Packing and unpacking take about 100 µs each, once
per silence.
"""

from __future__ import annotations

import pickle
import zlib

from mysqlwire.protocol.decoder import MySQLDecoder
from mysqlwire.report.connection_report import ConnectionRecorder

PROTOCOL = pickle.HIGHEST_PROTOCOL
LEVEL = 1  # zlib's fastest: with the dictionary, higher levels save a few bytes more


class _Dictionary:
    """The preset dictionary, set by the first `pack` of the process."""

    data: bytes | None = None


def pack(decoder: MySQLDecoder, recorder: ConnectionRecorder) -> bytes:
    data = pickle.dumps((decoder, recorder), PROTOCOL)
    if _Dictionary.data is None:
        _Dictionary.data = data
    compressor = zlib.compressobj(LEVEL, zdict=_Dictionary.data)
    return compressor.compress(data) + compressor.flush()


def unpack(packed: bytes) -> tuple[MySQLDecoder, ConnectionRecorder]:
    assert _Dictionary.data is not None  # (set by the pack that made `packed`)
    decompressor = zlib.decompressobj(zdict=_Dictionary.data)
    decoder, recorder = pickle.loads(decompressor.decompress(packed) + decompressor.flush())
    return decoder, recorder
