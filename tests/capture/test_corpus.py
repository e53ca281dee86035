"""Every third-party capture in ../shared/corpus loads, and agrees with tshark's counts.

For each capture of MANIFEST.json, the per-connection frame and byte counts in each
direction (`TcpFacts.packets`, `TcpFacts.frame_bytes`: wire length of every frame) are
compared with `tshark -q -z conv,tcp`. Known, explained differences:

* tshark lists every TCP conversation; we track only those on the manifest's server ports.
  The frames of the others must add up to `stats.tcp_other_ports` instead.
* tshark 4.0 prints byte counts of 10000 and more in kB/MB, truncated. For those the exact
  per-direction sums come from a second tshark pass (`-T fields -e frame.len`).
* The manifest writes one server port as "3306?" (an unsure guess): digits are kept.

Skipped when the corpus (a sibling of the repository) or tshark is absent.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from capture import CaptureStats, TcpFacts, track_files

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
MANIFEST = CORPUS / "MANIFEST.json"

pytestmark = pytest.mark.corpus

CONVERSATION = re.compile(
    r"^(?P<a>\S+):(?P<a_port>\d+)\s+<->\s+(?P<b>\S+):(?P<b_port>\d+)\s+"
    r"(?P<ba_frames>\d+)\s+(?P<ba_bytes>\d+) (?P<ba_unit>bytes|kB|MB)\s+"
    r"(?P<ab_frames>\d+)\s+(?P<ab_bytes>\d+) (?P<ab_unit>bytes|kB|MB)"
)


def manifest_entries() -> list[dict]:
    if not MANIFEST.is_file():
        return []
    return json.loads(MANIFEST.read_text())


ENTRIES = manifest_entries()
CASES = [pytest.param(e, id=e["local"]) for e in ENTRIES] or [
    pytest.param(None, marks=pytest.mark.skip(reason=f"corpus not found at {CORPUS}"))
]


def server_ports(entry: dict) -> set[int]:
    return {int(port) for port in re.findall(r"\d+", entry["server_ports"])}


class Collect:
    def __init__(self) -> None:
        self.facts: list[TcpFacts] = []

    def __call__(self, connection):
        return self

    def on_data(self, direction, data, frame, ts) -> None:
        pass

    def on_gap(self, gap) -> None:
        pass

    def on_close(self, facts: TcpFacts) -> None:
        self.facts.append(facts)


def tshark(*arguments: str) -> str:
    return subprocess.run(
        ["tshark", *arguments], capture_output=True, text=True, check=True, timeout=120
    ).stdout


def exact_bytes(path: Path) -> dict[tuple[str, int, str, int], int]:
    """(src, sport, dst, dport) -> sum of frame lengths, from a per-frame tshark pass."""
    totals: dict[tuple[str, int, str, int], int] = defaultdict(int)
    fields = ["ip.src", "ipv6.src", "tcp.srcport", "ip.dst", "ipv6.dst", "tcp.dstport"]
    out = tshark(
        "-r",
        str(path),
        "-Y",
        "tcp",
        "-T",
        "fields",
        *[a for f in fields for a in ("-e", f)],
        "-e",
        "frame.len",
    )
    for line in out.splitlines():
        src4, src6, sport, dst4, dst6, dport, length = line.split("\t")
        totals[(src4 or src6, int(sport), dst4 or dst6, int(dport))] += int(length)
    return totals


def endpoint(facts_endpoint) -> tuple[str, int]:
    return facts_endpoint.address, facts_endpoint.port


@pytest.mark.parametrize("entry", CASES)
def test_corpus_capture_loads_and_accounts_for_every_frame(entry):
    path = CORPUS / entry["local"]
    collect = Collect()
    stats = track_files([path], collect, server_ports=server_ports(entry))
    assert stats.frames == int(entry["packets"])
    assert stats.unaccounted_frames() == 0
    assert stats.warnings == []
    assert len(collect.facts) == stats.connections >= 1


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
@pytest.mark.parametrize("entry", CASES)
def test_corpus_counts_agree_with_tshark_conversations(entry):
    path = CORPUS / entry["local"]
    ports = server_ports(entry)
    collect = Collect()
    stats: CaptureStats = track_files([path], collect, server_ports=ports)

    ours: dict[frozenset, list[TcpFacts]] = defaultdict(list)
    for facts in sorted(collect.facts, key=lambda f: f.first_frame):
        ours[frozenset([endpoint(facts.client), endpoint(facts.server)])].append(facts)

    exact = None
    other_port_frames = 0
    compared = 0
    for line in tshark("-r", str(path), "-q", "-z", "conv,tcp").splitlines():
        row = CONVERSATION.match(line)
        if row is None:
            continue
        a = (row["a"], int(row["a_port"]))
        b = (row["b"], int(row["b_port"]))
        if a[1] not in ports and b[1] not in ports:
            other_port_frames += int(row["ab_frames"]) + int(row["ba_frames"])
            continue
        candidates = ours.get(frozenset([a, b]))
        assert candidates, f"tshark conversation {a} <-> {b} not tracked"
        facts = candidates.pop(0)
        a_is_client = endpoint(facts.client) == a
        a_to_b, b_to_a = (0, 1) if a_is_client else (1, 0)
        got = {
            "a->b frames": facts.packets[a_to_b],
            "b->a frames": facts.packets[b_to_a],
            "a->b bytes": facts.frame_bytes[a_to_b],
            "b->a bytes": facts.frame_bytes[b_to_a],
        }
        expected = {}
        for name, prefix, src, dst in (("a->b", "ab", a, b), ("b->a", "ba", b, a)):
            expected[f"{name} frames"] = int(row[f"{prefix}_frames"])
            if row[f"{prefix}_unit"] == "bytes":
                expected[f"{name} bytes"] = int(row[f"{prefix}_bytes"])
            else:  # rounded by tshark: take the exact sum from the per-frame pass
                exact = exact if exact is not None else exact_bytes(path)
                expected[f"{name} bytes"] = exact[(*src, *dst)]
        assert got == expected, f"{a} <-> {b}"
        compared += 1
    assert compared == stats.connections
    assert all(not left for left in ours.values())
    assert stats.tcp_other_ports == other_port_frames
