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
300 bytes, where `zlib.compress` alone gives 2 KB. A pickle larger than `DICTIONARY_MAX`
holds payload bytes (a connection gone quiet in the middle of a large packet), which others
do not repeat, so it is not taken as the dictionary; until one is, connections are packed
without. The dictionary never changes once set, so every packed connection unpacks with it.
Packing takes about 130 µs and unpacking 70 µs; a connection already packed is not packed again.
"""

from __future__ import annotations

import pickle
import zlib
from typing import Final

from mysqlwire.protocol.decoder import MySQLDecoder
from mysqlwire.report.connection_report import ConnectionRecorder

PROTOCOL = pickle.HIGHEST_PROTOCOL
LEVEL = 1  # zlib's fastest: with the dictionary, higher levels save a few bytes more
DICTIONARY_MAX = 16_384  # a typical connection pickles to about 4 KB
# The first byte of a packed state: how it was compressed.
PLAIN: Final = b"p"
WITH_DICTIONARY: Final = b"d"


class _Dictionary:
    """The preset dictionary, set by the first `pack` of the process small enough for it."""

    data: bytes | None = None


def pack(decoder: MySQLDecoder, recorder: ConnectionRecorder) -> bytes:
    data = pickle.dumps((decoder, recorder), PROTOCOL)
    if _Dictionary.data is None and len(data) <= DICTIONARY_MAX:
        _Dictionary.data = data
    if _Dictionary.data is None:
        return PLAIN + zlib.compress(data, LEVEL)
    compressor = zlib.compressobj(LEVEL, zdict=_Dictionary.data)
    return WITH_DICTIONARY + compressor.compress(data) + compressor.flush()


def unpack(packed: bytes) -> tuple[MySQLDecoder, ConnectionRecorder]:
    if packed[:1] == PLAIN:
        data = zlib.decompress(packed[1:])
    else:
        assert _Dictionary.data is not None  # (set before the pack that made `packed`)
        decompressor = zlib.decompressobj(zdict=_Dictionary.data)
        data = decompressor.decompress(packed[1:]) + decompressor.flush()
    decoder, recorder = pickle.loads(data)
    return decoder, recorder
