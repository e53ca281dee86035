"""Sustained packets per second `mysqlwire live` takes on loopback without a kernel drop.

    sudo .venv/bin/python bench/live_throughput.py [--rates 10000,20000,...] [--seconds 10]
        [--buffer-size 4M] [--exchanges 8] [--consumer live|capture] [--live-args '...']

A raw traffic generator (a separate process writing prebuilt Ethernet frames to `lo` through
an AF_PACKET socket, paced to the offered rate) replays MySQL conversations: handshake,
greeting, login, OK, `--exchanges` queries each answered by a small result set, COM_QUIT and
the FIN exchange, about 20 + 4 x exchanges frames per connection, many connections
interleaved. The addresses are in 198.18.0.0/15 (RFC 2544's benchmarking range), so the
host's IP stack drops the frames after the capture saw them. The consumer is the real
command (`python -m mysqlwire.live_cli -i lo --format jsonl`) in its own process, writing
every verdict to a file.

For each offered rate the run lasts `--seconds`; then the consumer is interrupted and its
final summary read: packets received and the kernel's drop counter (`PACKET_STATISTICS`).
The ring is kept small (`--buffer-size`, default 4 MiB: well under a second of traffic at
these rates) so that a rate the consumer cannot sustain overflows it within the run instead
of hiding in a large buffer. The consumer's CPU time per packet comes from /proc.

`--consumer capture` replaces the command by a loop that only reads the ring and counts
frames: the ceiling of the capture layer, against which the analysis cost shows.

Prints one line per rate and the highest rate without a drop. No assertion: figures only.
The generator and the consumer each want a CPU: on a busy or small machine the figures say
as much about the neighbours as about mysqlwire.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.craft import TcpSession  # noqa: E402
from tests.mysql_builder import (  # noqa: E402
    column,
    frame,
    handshake_response41,
    mariadb_greeting,
    ok,
    query,
    result_set,
)

SERVER_PORT = 3306
CLIENT_IP_OFFSET, SERVER_IP_OFFSET = 26, 30  # Ethernet + IPv4 source, destination
CLIENT_PORT_OFFSET = 34
CONCURRENCY = 200  # connections interleaved at a time
TICKS = os.sysconf("SC_CLK_TCK")


def template(exchanges: int) -> list[tuple[str, bytes]]:
    """One conversation's frames, (sender, Ethernet frame)."""
    s = TcpSession(client=("198.18.0.1", 40000), server=("198.19.0.1", SERVER_PORT))
    s.handshake()
    s.server_send(frame(mariadb_greeting(thread_id=1000), 0))
    s.client_ack()
    s.client_send(
        frame(handshake_response41("app", "shop", auth_plugin="mysql_native_password"), 1)
    )
    s.server_send(frame(ok(session_track=False), 2))
    for n in range(exchanges):
        s.client_send(frame(query(f"SELECT id, name FROM items WHERE id = {n}"), 0))
        packets = result_set([column("id"), column("name")], [[str(n), "widget"]])
        stream = b"".join(frame(p, seq) for seq, p in enumerate(packets, 1))
        s.server_send(stream)
        s.client_ack()
    s.client_send(frame(b"\x01", 0))
    s.client_fin()
    s.server_fin()
    s.client_ack()
    return [(p.sender, p.data) for p in s.frames]


def conversations(frames_of_one: list[tuple[str, bytes]], first: int, count: int) -> list[bytes]:
    """`count` copies of a conversation numbered from `first`, interleaved frame by frame."""
    patches = []
    for conn in range(first, first + count):
        ip = bytes([198, 18, (conn >> 8) & 0xFF, conn & 0xFF])
        port = struct.pack("!H", 1024 + (conn >> 16) % 60000)
        patches.append((ip, port))
    out = []
    for sender, data in frames_of_one:
        for ip, port in patches:
            if sender == "client":
                out.append(data[:26] + ip + data[30:34] + port + data[36:])
            else:
                out.append(data[:30] + ip + data[34:36] + port + data[38:])
    return out


def generate(rate: int, seconds: float, exchanges: int, report: str) -> None:
    """The generator process: send frames on lo at `rate` for `seconds`."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    sock.bind(("lo", 0))
    send = sock.send
    total = int(rate * seconds)
    sent = 0
    conn = 0
    batch = max(1, rate // 1000)
    frames_of_one = template(exchanges)
    start = time.monotonic()
    while sent < total:
        frames = conversations(frames_of_one, conn, CONCURRENCY)
        conn += CONCURRENCY
        for index in range(0, len(frames), batch):
            for data in frames[index : index + batch]:
                send(data)
            sent += min(batch, len(frames) - index)
            if sent >= total:
                break
            ahead = start + sent / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    elapsed = time.monotonic() - start
    Path(report).write_text(json.dumps({"sent": sent, "elapsed": elapsed, "connections": conn}))


def count_only(buffer_size: int) -> None:
    """The capture layer alone: read the ring and count, until SIGINT; then print a summary
    shaped like the jsonl one."""
    from capture.live import LiveCapture, default_filter

    stopping = []
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    capture = LiveCapture("lo", default_filter([SERVER_PORT]), buffer_size=buffer_size)
    print(f"capturing on {capture.description}", file=sys.stderr, flush=True)
    frames = 0
    while not stopping:
        if capture.wait(0.25):
            frames += len(capture.read_block())
    while (block := capture.read_block()) or capture.ready():
        frames += len(block)
    drops = capture.read_counters(time.time()).drops
    summary = {"frames": frames, "interface_drops": {"lo": drops}}
    print(json.dumps({"type": "summary", "connections": 0, "capture": summary}))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def measure(rate: int, args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    out_path = workdir / f"live-{rate}.jsonl"
    report = workdir / f"gen-{rate}.json"
    with open(out_path, "w") as out:
        command = (
            [sys.executable, __file__, "--count-only", "--buffer-size", args.buffer_size]
            if args.consumer == "capture"
            else [sys.executable, "-m", "mysqlwire.live_cli", "-i", "lo", "-p", str(SERVER_PORT),
                  "--format", "jsonl", "--interval", "0", "--user", "root", "--linger", "1",
                  "--buffer-size", args.buffer_size, *shlex.split(args.live_args)]
        )  # fmt: skip
        consumer = subprocess.Popen(
            command,
            stdout=out, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        assert consumer.stderr is not None
        banner = consumer.stderr.readline()
        if "capturing on" not in banner:
            raise SystemExit(banner + consumer.stderr.read())
        cpu_before = cpu_seconds(consumer.pid)
        subprocess.run(
            [sys.executable, __file__, "--generate", str(rate), "--seconds", str(args.seconds),
             "--exchanges", str(args.exchanges), "--report", str(report)],
            check=True,
        )  # fmt: skip
        time.sleep(1.5)  # let the consumer finish the ring and the lingering connections
        cpu = cpu_seconds(consumer.pid) - cpu_before
        consumer.send_signal(signal.SIGINT)
        _, err = consumer.communicate(timeout=120)
        if consumer.returncode != 0:
            raise SystemExit(err)
    generated = json.loads(report.read_text())
    received = drops = connections = 0
    with open(out_path) as records:
        for line in records:
            if '"summary"' in line and (summary := json.loads(line))["type"] == "summary":
                received = summary["capture"]["frames"]
                drops = summary["capture"]["interface_drops"].get("lo", 0)
                connections = summary["connections"]
    return {
        "offered": rate,
        "achieved": generated["sent"] / generated["elapsed"],
        "sent": generated["sent"],
        "received": received,
        "drops": drops,
        "connections": connections,
        "cpu_us_per_packet": cpu * 1e6 / max(1, received),
        "cpu_share": cpu / generated["elapsed"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="5000,10000,20000,30000,40000,50000,60000,80000")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--buffer-size", default="4M")
    parser.add_argument("--exchanges", type=int, default=8)
    parser.add_argument(
        "--consumer",
        default="live",
        choices=["live", "capture"],
        help="live: the whole command; capture: the kernel ring read alone (the ceiling)",
    )
    parser.add_argument(
        "--live-args",
        default="",
        help="more options for the command, e.g. '--write-problems /var/tmp/p.pcap'",
    )
    parser.add_argument("--generate", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--report", help=argparse.SUPPRESS)
    parser.add_argument("--count-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        generate(args.generate, args.seconds, args.exchanges, args.report)
        return
    if args.count_only:
        from mysqlwire.cli import SizeType

        count_only(SizeType().convert(args.buffer_size, None, None))
        return
    if os.geteuid() != 0:
        raise SystemExit("live_throughput: needs root (raw sockets on lo)")
    per_connection = len(template(args.exchanges))
    print(
        f"{args.consumer} consumer on lo: {per_connection} frames per connection ({args.exchanges} "
        f"queries), {CONCURRENCY} connections interleaved, ring {args.buffer_size}, "
        f"{args.seconds:g} s per rate, {os.cpu_count()} CPU(s)"
        + (f", options {args.live_args}" if args.live_args else "")
    )
    print(
        f"{'offered pps':>12} {'achieved':>10} {'sent':>10} {'received':>10} {'drops':>8} "
        f"{'conns':>8} {'CPU us/pkt':>11} {'CPU':>6}"
    )
    best = 0.0
    failures = 0
    with tempfile.TemporaryDirectory(prefix="live-bench-") as tmp:
        for rate in map(int, args.rates.split(",")):
            figures = measure(rate, args, Path(tmp))
            print(
                f"{figures['offered']:>12,} {figures['achieved']:>10,.0f} {figures['sent']:>10,} "
                f"{figures['received']:>10,} {figures['drops']:>8,} {figures['connections']:>8,} "
                f"{figures['cpu_us_per_packet']:>11.1f} {figures['cpu_share']:>6.0%}",
                flush=True,
            )
            if figures["drops"] == 0 and figures["received"] >= figures["sent"]:
                best = max(best, figures["achieved"])
            else:
                failures += 1
                if failures >= 2:
                    break
    print(f"highest sustained rate without a drop: {best:,.0f} packets/s")


if __name__ == "__main__":
    main()
