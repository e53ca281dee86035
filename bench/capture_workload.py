"""A large synthetic MySQL-like capture for the capture-layer benchmarks.

One template conversation (handshake, request/response exchanges with delayed ACKs and
multi-segment responses, FIN close) is built with the project's test builder, then copied
for many connections on shifted client addresses and ports, interleaved `concurrency`
connections at a time, and written straight to a classic pcap file. Patching addresses
into the template frames keeps generation at a few hundred thousand frames a second; the
IP/TCP checksums of the copies are left stale (the capture layer does not check them).
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.craft import TcpSession

RECORD = struct.Struct("<IIII")


def template(
    exchanges: int, response_segments: int, response_bytes: int
) -> list[tuple[str, bytes]]:
    s = TcpSession(client=("10.0.0.1", 40000), server=("10.255.0.1", 3306))
    s.handshake()
    s.server_send(b"\x4a\x00\x00\x00\x0a5.7.42-log\x00" + bytes(60))
    s.client_send(b"\xa0\x00\x00\x01" + bytes(156))
    s.server_send(b"\x07\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00")
    for n in range(exchanges):
        s.client_send(b"\x20\x00\x00\x00\x03" + f"SELECT * FROM t WHERE id = {n}".encode())
        for _ in range(response_segments):
            s.server_send(bytes(response_bytes))
        s.client_ack()
    s.client_send(b"\x01\x00\x00\x00\x01")
    s.client_fin()
    s.server_fin()
    s.client_ack()
    return [(p.sender, p.data) for p in s.frames]


def write_workload(
    path: Path,
    connections: int,
    *,
    exchanges: int = 20,
    response_segments: int = 2,
    response_bytes: int = 1448,
    concurrency: int = 1000,
) -> tuple[int, int]:
    """Write the capture; returns (frames, bytes written)."""
    frames_of_one = template(exchanges, response_segments, response_bytes)
    frames = 0
    ts = 1_700_000_000.0
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for first in range(0, connections, concurrency):
            group = range(first, min(first + concurrency, connections))
            patches = []
            for conn in group:
                ip = bytes([10, (conn >> 16) & 0xFF, (conn >> 8) & 0xFF, conn & 0xFF])
                port = struct.pack("!H", 1024 + conn % 60000)
                patches.append((ip, port))
            for sender, data in frames_of_one:
                chunk = []
                for ip, port in patches:
                    if sender == "client":
                        frame = data[:26] + ip + data[30:34] + port + data[36:]
                    else:
                        frame = data[:30] + ip + data[34:36] + port + data[38:]
                    ts += 0.00001
                    seconds = int(ts)
                    chunk.append(
                        RECORD.pack(seconds, int((ts - seconds) * 1e6), len(frame), len(frame))
                    )
                    chunk.append(frame)
                    frames += 1
                out.write(b"".join(chunk))
    return frames, path.stat().st_size


if __name__ == "__main__":
    target = Path(sys.argv[1])
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    print(write_workload(target, count))
