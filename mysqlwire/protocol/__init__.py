"""Sans-I/O decoder of the MySQL client/server protocol: bytes in, typed events out.

Where things are: `framing.py` (packets and 16 MB split packets), `compression.py` (the
compressed protocol), `tls.py` (records after SSLRequest), `commands.py` (the command table),
`connection_phase.py` and `command_phase.py` (the readers for each phase), `exchange.py` (a
command and its reply, the unit sequence ids count in), `reply_states.py` (the state machine
that reads a server's reply), `fast_lane.py` (the analyzer's shortcut through plain exchanges,
checked against those readers), `handshake.py` and
`replies.py` (pure parsers), `synchronise.py` (finding packet boundaries at the start,
mid-stream and after gaps, with the byte heuristics of `midstream.py`), `decoder.py` (the
state machine that ties them together), `events.py` (what comes out).
"""

from mysqlwire.protocol import events
from mysqlwire.protocol.constants import CLIENT, SERVER, SIDE_NAMES
from mysqlwire.protocol.decoder import NEED_DATA, MySQLDecoder
from mysqlwire.protocol.phases import Phase, Transport

__all__ = [
    "CLIENT",
    "NEED_DATA",
    "SERVER",
    "SIDE_NAMES",
    "MySQLDecoder",
    "Phase",
    "Transport",
    "events",
]
