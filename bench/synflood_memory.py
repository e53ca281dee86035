"""Memory and report size of `mysqlwire analyze` under a SYN flood or a scan.

    .venv/bin/python bench/synflood_memory.py [--connections 100000] [--keep]

Writes synthetic captures to /tmp, each `--connections` half-open connections to port 3306
from as many source addresses (one frame or two per connection, checksums left at zero: the
capture layer does not check them), with pcaps/busy_mix.pcap's real MySQL traffic merged in:

* `syn`: SYNs never answered (a spoofed flood, or a server that is down);
* `synack`: each SYN answered by a SYN-ACK, then nothing (the classic half-open flood);
* `scan`: each SYN answered by an RST (a scan of closed addresses; "connection refused").

For each it runs `mysqlwire analyze` (table and jsonl) in a fresh process and prints the
wall time, the peak RSS of that process, and the size of the report. It also prints the peak
RSS of reading the real traffic alone, for comparison. Nothing is asserted: these are
figures (docs/performance.md).
"""

from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "pcaps" / "busy_mix.pcap"

RECORD = struct.Struct("<IIII")
ETHERNET = bytes.fromhex("0200000000020200000000010800")
SYN, RST, ACK = 0x02, 0x04, 0x10


def segment(
    src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int
) -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 1, 0, 64, 6, 0, src, dst)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 0x50, flags, 65535, 0, 0)
    return ETHERNET + ip + tcp


def write_flood(path: Path, connections: int, answer: str, start_ts: float) -> int:
    """`answer`: "" (none), "synack" or "rst". Returns the frames written."""
    server = bytes([10, 255, 0, 1])
    frames = 0
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for n in range(connections):
            client = bytes([172, 16 + (n >> 16) % 16, (n >> 8) & 0xFF, n & 0xFF])
            sport = 1024 + n % 60000
            ts = start_ts + n * 1e-5
            sec, usec = int(ts), int((ts % 1) * 1e6)
            frame = segment(client, server, sport, 3306, (n * 7919) & 0xFFFFFFFF, 0, SYN)
            out.write(RECORD.pack(sec, usec, len(frame), len(frame)) + frame)
            frames += 1
            if answer:
                flags = SYN | ACK if answer == "synack" else RST | ACK
                frame = segment(
                    server,
                    client,
                    3306,
                    sport,
                    (n * 104729) & 0xFFFFFFFF,
                    (n * 7919 + 1) & 0xFFFFFFFF,
                    flags,
                )
                out.write(RECORD.pack(sec, usec + 1, len(frame), len(frame)) + frame)
                frames += 1
    return frames


def first_ts(path: Path) -> float:
    with open(path, "rb") as capture:
        capture.read(24)
        sec, usec, _caplen, _wire = RECORD.unpack(capture.read(16))
    return sec + usec / 1e6


def run(args: list[str]) -> tuple[float, float, int, int]:
    """Run mysqlwire in a child process: (seconds, its peak RSS in MB, report bytes, exit)."""
    started = time.perf_counter()
    with open(os.devnull, "wb") as devnull, open(f"/tmp/synflood_{os.getpid()}.out", "w+b") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "mysqlwire.cli", *args],
            stdout=out,
            stderr=devnull,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        _pid, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        size = out.seek(0, os.SEEK_END)
    os.unlink(out.name)
    seconds = time.perf_counter() - started
    return seconds, usage.ru_maxrss * 1024 / 1e6, size, child.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    start = first_ts(REAL)
    made = []
    try:
        seconds, peak, size, code = run(["analyze", str(REAL)])
        print(f"real traffic alone ({REAL.name}): {seconds:.1f} s, peak RSS {peak:.0f} MB, "
              f"report {size:,} bytes, exit {code}")  # fmt: skip
        for name, answer in (("syn", ""), ("scan", "rst"), ("synack", "synack")):
            path = Path(f"/tmp/synflood_{os.getpid()}_{name}.pcap")
            made.append(path)
            frames = write_flood(path, args.connections, answer, start)
            for fmt in ("table", "jsonl"):
                seconds, peak, size, code = run(["analyze", "--format", fmt, str(path), str(REAL)])
                print(f"{name:>6} ({args.connections:,} connections, {frames:,} frames) "
                      f"{fmt:>5}: {seconds:5.1f} s, peak RSS {peak:5.0f} MB, "
                      f"report {size:>11,} bytes, exit {code}")  # fmt: skip
    finally:
        if not args.keep:
            for path in made:
                path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
