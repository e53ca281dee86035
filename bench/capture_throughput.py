"""Throughput of the capture layer: reading, and reading + TCP tracking with a no-op sink.

    .venv/bin/python bench/capture_throughput.py [CAPTURE] [--runs 5] [--connections 10000]

Without CAPTURE it writes a synthetic MySQL-like capture to a temporary directory (about
1.1 M frames on 10,000 connections, 1,000 open at a time, small responses: the shape of the
capture in the performance issue). Each phase runs in a fresh process so its peak RSS is its
own; the medians of `--runs` runs are printed:

* bare:  a minimal struct loop over the pcap records that finds each TCP payload offset
         (the floor any Python reader can reach);
* read:  `capture.open_records`, every record read in place (the analysis's reader);
* track: `open_records` + `TcpTracker.run_cursor` with a sink that ignores everything;
* frames: `capture.open_frames`, every frame as a tuple (what a library caller gets).

No assertion on timings: this prints figures, the test suite never times anything.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from capture_workload import write_workload  # noqa: E402

from capture import CaptureStats, TcpTracker, open_frames, open_records  # noqa: E402


class NoopSink:
    __slots__ = ()

    def on_data(self, direction, data, frame, ts) -> None:
        pass

    def on_gap(self, gap) -> None:
        pass

    def on_close(self, facts) -> None:
        pass


NOOP = NoopSink()


def bare_loop(path: str) -> int:
    """Records and TCP payload offsets of an Ethernet/IPv4 classic pcap, nothing more."""
    record = struct.Struct("<IIII").unpack_from
    frames = 0
    with open(path, "rb") as capture:
        buf = capture.read(24)[24:]
        pos = 0
        while True:
            chunk = capture.read(1 << 20)
            if not chunk:
                return frames
            buf = buf[pos:] + chunk
            pos = 0
            end = len(buf)
            while pos + 16 <= end:
                _sec, _usec, caplen, _wirelen = record(buf, pos)
                start = pos + 16
                if start + caplen > end:
                    break
                _payload = start + 14 + (buf[start + 14] & 15) * 4 + (buf[start + 46] >> 4) * 4
                frames += 1
                pos = start + caplen


def run_phase(phase: str, path: str) -> dict:
    started = time.perf_counter()
    stats = CaptureStats()
    if phase == "bare":
        frames = bare_loop(path)
    elif phase == "read":
        records = open_records([path], stats)
        frames = 0
        while records.advance():
            frames += 1
    elif phase == "frames":
        frames = sum(1 for _ in open_frames([path], stats))
    else:
        tracker = TcpTracker(lambda connection: NOOP, stats)
        tracker.run_cursor(open_records([path], stats))
        tracker.finish()
        frames = stats.frames
        assert stats.unaccounted_frames() == 0
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6  # KiB on Linux
    return {"frames": frames, "seconds": seconds, "peak_rss_mb": peak,
            "connections": stats.connections}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture", nargs="?")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(run_phase(args.phase, args.capture)))
        return
    with tempfile.TemporaryDirectory() as scratch:
        path = args.capture
        if path is None:
            path = str(Path(scratch) / "workload.pcap")
            frames, size = write_workload(
                Path(path), args.connections, exchanges=40, response_segments=1,
                response_bytes=120,
            )  # fmt: skip
            print(f"wrote {path}: {frames} frames, {size / 1e6:.0f} MB")
        size_mb = Path(path).stat().st_size / 1e6
        results = {}
        for phase in ("bare", "read", "frames", "track"):
            runs = []
            for _ in range(args.runs):
                out = subprocess.run(
                    [sys.executable, __file__, path, "--phase", phase],
                    capture_output=True, text=True, check=True,
                ).stdout  # fmt: skip
                runs.append(json.loads(out))
            seconds = statistics.median(r["seconds"] for r in runs)
            frames = runs[0]["frames"]
            peak = max(r["peak_rss_mb"] for r in runs)
            results[phase] = seconds
            print(
                f"{phase:6s} {seconds:7.3f} s  {frames / seconds / 1e6:6.2f} M frames/s  "
                f"{size_mb / seconds:7.1f} MB/s  peak RSS {peak:6.1f} MB  "
                f"({frames} frames, {size_mb:.0f} MB, median of {args.runs})"
            )
        print(f"track / bare = {results['track'] / results['bare']:.1f}x, "
              f"read / bare = {results['read'] / results['bare']:.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
