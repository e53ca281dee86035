"""Memory of the capture layer stays flat however large the capture.

    .venv/bin/python bench/capture_memory.py [CAPTURE] [--size-gb 1.0] [--keep]

Without CAPTURE it writes a synthetic capture of about `--size-gb` GB to /tmp (16,000
MySQL-like connections with multi-segment responses, 1,000 open at a time), then reads and
tracks it with a no-op sink, printing the resident set size every 10% of the frames. It
then runs the same on the first quarter of the connections (a separate capture of a
quarter of the size) in a fresh process to compare peaks: flat memory means the same peak
for 1x and 4x. The generated files are deleted unless --keep is given.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from capture_workload import write_workload  # noqa: E402

from capture import CaptureStats, TcpTracker, open_frames  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE / 1e6


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6  # KiB on Linux


class NoopSink:
    __slots__ = ()

    def on_data(self, direction, data, frame, ts) -> None:
        pass

    def on_gap(self, gap) -> None:
        pass

    def on_close(self, facts) -> None:
        pass


def sampled(frames: Iterator, every: int, samples: list) -> Iterator:
    for frame in frames:
        if frame[0] % every == 0:
            samples.append((frame[0], rss_mb()))
        yield frame


def track(path: Path, expected_frames: int) -> tuple[float, list, CaptureStats, float]:
    stats = CaptureStats()
    samples: list[tuple[int, float]] = []
    noop = NoopSink()
    tracker = TcpTracker(lambda connection: noop, stats)
    every = max(1, (expected_frames or 1_000_000) // 10)
    started = time.perf_counter()
    tracker.run(sampled(open_frames([path], stats), every, samples))
    tracker.finish()
    return time.perf_counter() - started, samples, stats, peak_rss_mb()


def report(path: Path) -> None:
    """Child process: track `path`, print RSS every 10% of its frames and the peak."""
    baseline = rss_mb()
    frames = int(sys.argv[sys.argv.index("--frames") + 1])
    seconds, samples, stats, peak = track(path, frames)
    size = path.stat().st_size / 1e9
    print(f"read + tracked {stats.frames} frames ({size:.2f} GB, {stats.connections} "
          f"connections) in {seconds:.1f} s; RSS before: {baseline:.1f} MB")  # fmt: skip
    for frame_no, rss in samples:
        print(f"  frame {frame_no:>9}: RSS {rss:6.1f} MB")
    print(f"peak RSS: {peak:.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture", nargs="?")
    parser.add_argument("--size-gb", type=float, default=1.0)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--frames", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.frames is not None:
        report(Path(args.capture))
        return

    made: list[Path] = []
    connections = int(16_000 * args.size_gb)
    try:
        if args.capture:
            runs = [(Path(args.capture), 0)]
        else:
            big = Path(f"/tmp/capture_memory_{os.getpid()}_1x.pcap")
            quarter = Path(f"/tmp/capture_memory_{os.getpid()}_quarter.pcap")
            made += [big, quarter]
            frames, size = write_workload(big, connections)
            quarter_frames, _ = write_workload(quarter, connections // 4)
            print(f"wrote {big}: {frames} frames, {size / 1e9:.2f} GB, and a quarter of it")
            runs = [(quarter, quarter_frames), (big, frames)]
        for path, frames in runs:  # each in a fresh process: its peak RSS is its own
            subprocess.run(
                [sys.executable, __file__, str(path), "--frames", str(frames)], check=True
            )
    finally:
        if not args.keep:
            for path in made:
                path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
