"""An idle connection's decoder and recorder are packed (mysqlwire/packed_state.py) and
unpacked when it speaks again: nothing about the analysis may change. Packing before every
delivery, on every real capture, is the strongest form of that: the reports must be the same,
and so must every event of the detailed decoding (`dump`), which shows the decoder's state
(prepared statements, negotiated capabilities, the exchange in progress) came back whole."""

from __future__ import annotations

import json
import math
import pickle
import random
import re
from pathlib import Path

import dpkt
import pytest

from capture import CaptureStats, Direction, StreamGap, TcpFacts, TcpTracker, open_records
from capture.consumer import TrackedConnection
from capture.tracker import IDLE_AFTER, IDLE_SWEEP_INTERVAL
from mysqlwire import packed_state
from mysqlwire.output.schema import connection_record
from mysqlwire.pipeline import AnalysisOptions, ConnectionAnalysis, analyze
from mysqlwire.protocol import MySQLDecoder
from mysqlwire.protocol.events import Event
from mysqlwire.report.connection_report import ConnectionRecorder, ConnectionReport

ROOT = Path(__file__).resolve().parents[2]
PCAPS = sorted((ROOT / "pcaps").glob("*.pcap"))  # (the silences are written by dpkt's pcap)
ALL_CAPTURES = sorted(
    path
    for path in (ROOT / "pcaps").iterdir()
    if path.name.endswith((".pcap", ".pcapng", ".pcap.gz"))
)
CORPUS = ROOT.parent / "shared" / "corpus"
MANIFEST = CORPUS / "MANIFEST.json"
CORPUS_ENTRIES = json.loads(MANIFEST.read_text()) if MANIFEST.is_file() else []
real_pack = packed_state.pack


class PackedBetweenCalls:
    """A sink that packs its analysis before every call the tracker makes."""

    def __init__(self, analysis: ConnectionAnalysis) -> None:
        self.analysis = analysis
        self.packs = 0

    def _pack(self) -> None:
        self.analysis.on_idle()
        self.packs += self.analysis.packed is not None

    def on_data(self, direction: Direction, data: bytes, frame: int, ts: float) -> None:
        self._pack()
        self.analysis.on_data(direction, data, frame, ts)

    def on_gap(self, gap: StreamGap) -> None:
        self._pack()
        self.analysis.on_gap(gap)

    def on_close(self, facts: TcpFacts) -> None:
        self._pack()
        self.analysis.on_close(facts)


def records(
    path: Path, server_ports: set[int] | None, packed: bool, detail: bool = False
) -> tuple[list[object], int]:
    """The connection records of a capture (with `detail`, every event's repr too), and how
    many times a connection was packed."""
    options = AnalysisOptions(
        server_ports=None if server_ports is None else frozenset(server_ports),
        detail=detail,
        lean=not detail,
    )
    reports: list[ConnectionReport] = []
    events: list[str] = []
    sinks: list[PackedBetweenCalls] = []

    def on_event(facts: TcpFacts, event: Event) -> None:
        events.append(f"{facts.conn_id} {event!r}")

    def open_connection(connection: TrackedConnection):
        analysis = ConnectionAnalysis(
            connection, options, reports.append, on_event if detail else None
        )
        if not packed:
            return analysis
        sinks.append(PackedBetweenCalls(analysis))
        return sinks[-1]

    stats = CaptureStats()
    tracker = TcpTracker(open_connection, stats, server_ports=options.server_ports)
    tracker.run_cursor(open_records([path], stats))
    tracker.finish()
    output: list[object] = [connection_record(report) for report in reports]
    return output + events, sum(s.packs for s in sinks)


def assert_same_analysis(path: Path, server_ports: set[int] | None) -> None:
    for detail in (False, True):
        plain, _ = records(path, server_ports, packed=False, detail=detail)
        repacked, packs = records(path, server_ports, packed=True, detail=detail)
        assert repacked == plain
        assert packs > 0


@pytest.mark.parametrize("path", ALL_CAPTURES, ids=lambda p: p.name)
def test_packing_before_every_call_changes_nothing(path: Path) -> None:
    assert_same_analysis(path, None)


@pytest.mark.corpus
@pytest.mark.skipif(not CORPUS_ENTRIES, reason=f"corpus not found at {CORPUS}")
@pytest.mark.parametrize("entry", CORPUS_ENTRIES, ids=lambda e: e["local"].split("/")[-1])
def test_packing_changes_nothing_on_third_party_captures(entry: dict) -> None:
    ports = {int(port) for port in re.findall(r"\d+", entry["server_ports"])}
    assert_same_analysis(CORPUS / entry["local"], ports)


# -- end to end: real captures with long silences --------------------------------------------


def stretched(source: Path, target: Path, every: int, pause: float) -> int:
    """`source` with a silence of `pause` seconds before every `every`-th frame: connections
    go idle wherever they are, between exchanges or in the middle of a reply. Returns the
    number of silences."""
    with source.open("rb") as read, target.open("wb") as write:
        reader = dpkt.pcap.Reader(read)
        writer = dpkt.pcap.Writer(write, snaplen=reader.snaplen, linktype=reader.datalink())
        shift = 0.0
        for number, (ts, data) in enumerate(reader, 1):
            if number % every == 0:
                shift += pause
            writer.writepkt(data, ts + shift)
    return int(shift / pause)


@pytest.mark.parametrize("path", PCAPS, ids=lambda p: p.stem)
def test_silences_in_a_real_capture_change_nothing_but_the_memory_held(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    capture = tmp_path / path.name
    silences = stretched(path, capture, every=7, pause=IDLE_AFTER + IDLE_SWEEP_INTERVAL)
    packs = []
    monkeypatch.setattr(packed_state, "pack", lambda *a: packs.append(1) or real_pack(*a))

    def analysed(**tracker_options: float) -> list[dict]:
        reports: list[ConnectionReport] = []
        options = AnalysisOptions(server_ports=None, tracker_options=tracker_options)
        analyze([capture], options, reports.append)
        return [connection_record(report) for report in reports]

    never_idle = analysed(idle_after=math.inf)
    assert not packs
    assert analysed() == never_idle
    assert packs or silences < 2  # (a silence is seen when the next frame comes)


# -- the preset dictionary -------------------------------------------------------------------


def test_a_first_pack_holding_payload_bytes_does_not_become_the_dictionary(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(packed_state.PACKER, "dictionary", None)
    mid_packet = MySQLDecoder(lean=True, start_seen=False)  # quiet in the middle of 16 MB
    mid_packet.receive_data(0, b"\xff\xff\xff\x00\x03" + random.randbytes(60_000), 1, 1.0)
    mid_packet.drain_events()
    packed_mid = packed_state.pack(mid_packet, ConnectionRecorder())
    assert packed_state.PACKER.dictionary is None  # (taken as it is, compressed alone)
    first, second = ((MySQLDecoder(lean=True), ConnectionRecorder()) for _ in range(2))
    packed_state.pack(*first)
    assert packed_state.PACKER.dictionary is not None
    packed_second = packed_state.pack(*second)
    assert len(packed_second) < 200  # (all of it is in the dictionary)
    for original, packed in ((mid_packet, packed_mid), (second[0], packed_second)):
        unpacked, _ = packed_state.unpack(packed)
        for decoder in (original, unpacked):  # what each makes of the same end
            decoder.receive_data(0, b"more", 2, 2.0)
            decoder.receive_eof(3, 3.0)
        assert repr(unpacked.drain_events()) == repr(original.drain_events())


def test_a_state_that_will_not_pack_stays_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*state: object) -> bytes:
        raise pickle.PicklingError("a state no test reached")

    monkeypatch.setattr(packed_state, "pack", refuse)
    busy = ROOT / "pcaps" / "busy_mix.pcap"
    plain, _ = records(busy, None, packed=False)
    unpackable, packs = records(busy, None, packed=True)
    assert unpackable == plain
    assert packs == 0
