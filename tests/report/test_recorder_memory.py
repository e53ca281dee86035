"""A connection's report holds what its verdict and findings need, not every event: a
connection that lives for days (live mode, pooled connections) must not grow with them."""

from __future__ import annotations

import tracemalloc

from mysqlwire.protocol.constants import CLIENT
from mysqlwire.protocol.events import IncompletePacket
from mysqlwire.report.connection_report import ConnectionRecorder


def cut_packet(frame: int) -> IncompletePacket:
    return IncompletePacket(side=CLIENT, frame=frame, ts=float(frame), expected=4000, received=96)


def test_packets_cut_by_a_snapshot_length_do_not_accumulate_in_the_report():
    recorder = ConnectionRecorder(64 << 20)
    tracemalloc.start()
    try:
        for frame in range(1, 1_001):
            recorder.record(cut_packet(frame))
        after_a_thousand, _ = tracemalloc.get_traced_memory()
        for frame in range(1_001, 20_001):
            recorder.record(cut_packet(frame))
        after_twenty_thousand, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 19,000 more cut packets: counted, the first kept as evidence, not stored one by one
    assert after_twenty_thousand - after_a_thousand < 20_000
    assert recorder.finding_counts["incomplete_packet"] == 20_000
    assert recorder.first_client_cut is not None and recorder.first_client_cut.frame == 1
