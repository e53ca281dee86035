"""The performance benchmark of the performance issue: mysqlwire against tshark and against
the floor of any Python reader, on a real capture replicated to about a million packets, and on
one 4x larger to show memory stays flat.

    .venv/bin/python bench/run.py [--runs 5] [--copies 500] [--jobs 1] [--skip-tshark-4x]
                                  [--closed-only]

Steps: build bench/out/busy_x{copies}.pcap and busy_x{4*copies}.pcap from pcaps/busy_mix.pcap
(bench/replicate.py; cached; `busy_closed_x...` with `--closed-only`, without the connection
the busy mix never closes, so that the 4x capture holds no more connections at once), then
for each capture run, `--runs` times each, in fresh processes: `mysqlwire analyze --format
jsonl` (output discarded), tshark's MySQL field extraction, a bare struct loop over the pcap
records, and a dpkt Ethernet/IP/TCP parse loop.
Prints the median wall time, packets/s, MB/s and the peak RSS of each, and the ratios the
issue sets targets for; then, from one more (untimed) run of mysqlwire, what the capture makes
it hold: the connections still open at its end and the client addresses the summary tallies.
Installs tshark through scripts/setup if it is missing. Prints figures only; nothing here
asserts a timing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
SOURCE = ROOT / "pcaps" / "busy_mix.pcap"
PYTHON = sys.executable

BARE_LOOP = r"""
import struct, sys
header = struct.Struct("<IIII")
with open(sys.argv[1], "rb", buffering=0) as f:
    data = f.read(24)
    n = 0
    buf = b""
    pos = 0
    while True:
        if len(buf) - pos < 16:
            buf = buf[pos:] + f.read(1 << 20)
            pos = 0
            if len(buf) < 16:
                break
        _s, _u, caplen, _w = header.unpack_from(buf, pos)
        if len(buf) - pos < 16 + caplen:
            buf = buf[pos:] + f.read(max(1 << 20, caplen))
            pos = 0
            continue
        frame = pos + 16
        ihl = (buf[frame + 14] & 15) * 4
        tcp = frame + 14 + ihl
        payload = tcp + (buf[tcp + 12] >> 4) * 4
        n += payload - frame > 0
        pos = frame + caplen
print(n)
"""

DPKT_LOOP = r"""
import sys, dpkt
n = 0
with open(sys.argv[1], "rb") as f:
    for ts, buf in dpkt.pcap.Reader(f):
        eth = dpkt.ethernet.Ethernet(buf)
        ip = eth.data
        tcp = ip.data
        n += len(tcp.data)
print(n)
"""


def measure(command: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KB) of one fresh process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    stderr = process.stderr.read().decode() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed: {stderr.strip()}")
    return elapsed, usage.ru_maxrss


MYSQLWIRE = ROOT / ".venv" / "bin" / "mysqlwire"


def contenders(capture: Path, jobs: int) -> dict[str, list[str]]:
    analyze = [
        str(MYSQLWIRE),
        "analyze",
        str(capture),
        "--format",
        "jsonl",
    ]
    if jobs > 1:
        analyze += ["--jobs", str(jobs)]
    return {
        "mysqlwire analyze": analyze,
        "tshark -Y mysql": [
            "tshark",
            "-r",
            str(capture),
            "-Y",
            "mysql",
            "-T",
            "fields",
            "-e",
            "frame.number",
            "-e",
            "mysql.command",
            "-e",
            "mysql.error_code",
        ],
        "bare struct loop": [PYTHON, "-c", BARE_LOOP, str(capture)],
        "dpkt full parse": [PYTHON, "-c", DPKT_LOOP, str(capture)],
    }


def build(copies: int, closed_only: bool = False) -> Path:
    target = OUT / f"busy{'_closed' if closed_only else ''}_x{copies}.pcap"
    if not target.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                PYTHON,
                str(ROOT / "bench" / "replicate.py"),
                str(SOURCE),
                str(target),
                "--copies",
                str(copies),
                "--spread",
                str(copies * 0.12),
                *(["--closed-only"] if closed_only else []),
            ],
            check=True,
        )
    return target


def frames_of(capture: Path) -> int:
    out = subprocess.run(
        ["capinfos", "-c", "-M", str(capture)], capture_output=True, text=True, check=True
    ).stdout
    return int(out.strip().splitlines()[-1].split(":")[-1].strip())


def held(capture: Path) -> tuple[int, int]:
    """Connections still open at the end of the capture and client addresses, from mysqlwire's
    own jsonl records: the state it must keep whatever the capture's size."""
    still_open = 0
    clients = set()
    command = [str(MYSQLWIRE), "analyze", str(capture), "--format", "jsonl"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        for line in process.stdout:
            record = json.loads(line)
            if record.get("type") != "connection":
                continue
            still_open += record["close"] == "still_open_at_capture_end"
            clients.add(record["client"].rsplit(":", 1)[0])
    return still_open, len(clients)


def run(capture: Path, runs: int, jobs: int, skip: set[str]) -> dict[str, tuple[float, int]]:
    frames = frames_of(capture)
    size = capture.stat().st_size / 1e6
    print(f"\n{capture.name}: {frames:,} packets, {size:.0f} MB, medians of {runs} runs")
    print(f"  {'':22} {'seconds':>8} {'packets/s':>11} {'MB/s':>7} {'peak RSS':>9}")
    results = {}
    for name, command in contenders(capture, jobs).items():
        if name in skip:
            continue
        samples = [measure(command) for _ in range(runs)]
        seconds = statistics.median(s for s, _ in samples)
        rss = max(r for _, r in samples)
        results[name] = (seconds, rss)
        print(
            f"  {name:22} {seconds:8.2f} {frames / seconds:11,.0f} {size / seconds:7.1f} "
            f"{rss / 1024:7.0f} MB",
            flush=True,
        )
    mysqlwire = results["mysqlwire analyze"][0]
    if "tshark -Y mysql" in results:
        print(
            f"  tshark / mysqlwire: {results['tshark -Y mysql'][0] / mysqlwire:.1f}x "
            "(target >= 10x)"
        )
    print(
        f"  mysqlwire / bare loop: {mysqlwire / results['bare struct loop'][0]:.1f}x (target <= 3x)"
    )
    still_open, clients = held(capture)
    print(f"  held by mysqlwire: {still_open:,} connections open at the end, {clients:,} clients")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--copies", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument(
        "--skip-tshark-4x", action="store_true", help="tshark takes minutes on the 4x capture"
    )
    parser.add_argument(
        "--closed-only",
        action="store_true",
        help="replicate without the connection busy_mix never closes: the 4x capture then "
        "holds as many connections open at once as the 1x, and only its size grows",
    )
    args = parser.parse_args()
    if shutil.which("tshark") is None or shutil.which("capinfos") is None:
        subprocess.run([str(ROOT / "scripts" / "setup")], check=True)
    version = subprocess.run(
        [str(MYSQLWIRE), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    print(
        f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}; "
        f"mysqlwire --jobs {args.jobs}; {version}"
    )
    one = run(build(args.copies, args.closed_only), args.runs, args.jobs, set())
    four = run(
        build(args.copies * 4, args.closed_only),
        args.runs,
        args.jobs,
        {"tshark -Y mysql"} if args.skip_tshark_4x else set(),
    )
    growth = four["mysqlwire analyze"][1] / one["mysqlwire analyze"][1]
    print(
        f"\npeak RSS of mysqlwire, 4x capture / 1x capture: {growth:.2f} "
        "(target: no growth; under 150 MB)"
    )


if __name__ == "__main__":
    main()
