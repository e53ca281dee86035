"""State that sits unused for minutes, kept as a few hundred bytes: pickled and compressed with
a preset dictionary.

A connection pool keeps connections open and silent for minutes, and a database host has
thousands of them: those are most of what a long capture, or a live run, holds open. The
tracker packs the TCP side of such a connection (capture/dormant.py) and the analysis packs
its decoder and recorder (mysqlwire/packed_state.py), each with its own `Packer`.

The dictionary of a packer is the first pickle it made that was no larger than its
`dictionary_max`: every later pickle of the same kind largely repeats it (class and
attribute names, the same server's version and capabilities, the same client's habits), so
a state compresses to between an eighth and a third of its pickle, where `zlib.compress`
alone leaves more than half (measured on pcaps/busy_mix.pcap). A larger pickle holds
payload bytes (a connection gone quiet in the middle of a large packet), which others do not
repeat, so it is not taken; until one is, states are compressed without. The dictionary
never changes once set, so every packed state unpacks with it.
"""

from __future__ import annotations

import pickle
import zlib
from typing import Any, Final

PROTOCOL: Final = pickle.HIGHEST_PROTOCOL
LEVEL: Final = 1  # zlib's fastest: with the dictionary, higher levels save a few bytes more
# The first byte of a packed state: how it was compressed.
PLAIN: Final = b"p"
WITH_DICTIONARY: Final = b"d"


class Packer:
    """Packs and unpacks one kind of state (see the module docstring)."""

    def __init__(self, dictionary_max: int) -> None:
        self.dictionary_max = dictionary_max
        self.dictionary: bytes | None = None

    def pack(self, state: object) -> bytes:
        data = pickle.dumps(state, PROTOCOL)
        if self.dictionary is None and len(data) <= self.dictionary_max:
            self.dictionary = data
        if self.dictionary is None:
            return PLAIN + zlib.compress(data, LEVEL)
        compressor = zlib.compressobj(LEVEL, zdict=self.dictionary)
        return WITH_DICTIONARY + compressor.compress(data) + compressor.flush()

    def unpack(self, packed: bytes) -> Any:
        if packed[:1] == PLAIN:
            data = zlib.decompress(packed[1:])
        else:
            assert self.dictionary is not None  # (set before the pack that made `packed`)
            decompressor = zlib.decompressobj(zdict=self.dictionary)
            data = decompressor.decompress(packed[1:]) + decompressor.flush()
        return pickle.loads(data)
