"""An idle connection's decoder and recorder packed into a few hundred bytes.

The tracker tells a connection's sink when it has been silent for a while (`on_idle`); the
sink then keeps its decoder and recorder here, pickled and compressed with a preset
dictionary (capture/packing.py), until the connection's next packet, and unpacks them exactly
as they were (the equivalence suite packs and unpacks every connection before every delivery
and compares the reports). About 4 KB of pickle becomes 300 to 500 bytes. Packing takes about
130 µs and unpacking 70 µs; a connection already packed is not packed again.
"""

from __future__ import annotations

from typing import Final

from capture.packing import Packer
from mysqlwire.protocol.decoder import MySQLDecoder
from mysqlwire.report.connection_report import ConnectionRecorder

DICTIONARY_MAX: Final = 16_384  # a typical connection pickles to about 4 KB

PACKER = Packer(DICTIONARY_MAX)


def pack(decoder: MySQLDecoder, recorder: ConnectionRecorder) -> bytes:
    return PACKER.pack((decoder, recorder))


def unpack(packed: bytes) -> tuple[MySQLDecoder, ConnectionRecorder]:
    decoder, recorder = PACKER.unpack(packed)
    return decoder, recorder
