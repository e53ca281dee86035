"""Running tcpdump (or dumpcap for pcapng) around a scenario, and compressing the result.

The capture is confirmed listening before any client starts (tcpdump prints "listening on"
to stderr once the socket is bound and the filter installed) and is stopped with SIGINT so
the last buffer is flushed and the file is complete.
"""

from __future__ import annotations

import gzip
import re
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

# 64 MiB of kernel buffer: a 16 MiB packet arrives on loopback as ~260 segments of 64 KiB in
# a few milliseconds; the default 2 MiB buffer drops most of them.
BUFFER_KIB = 65536


@dataclass
class CaptureSpec:
    """How one scenario is captured. `file_format` is "pcap" or "pcapng"; `gzip` compresses."""

    interface: str = "lo"
    capture_filter: str = "tcp port 3306"
    file_format: str = "pcap"
    gzip: bool = False
    netns: str | None = None
    snaplen: int = 0  # 0: whole packets; anything else truncates frames on purpose

    def file_name(self, name: str) -> str:
        suffix = ".pcapng" if self.file_format == "pcapng" else ".pcap"
        return name + suffix + (".gz" if self.gzip else "")


class Capture:
    """One running capture process writing `raw_path` (uncompressed)."""

    def __init__(self, spec: CaptureSpec, raw_path: Path):
        self.spec = spec
        self.raw_path = raw_path
        self.process: subprocess.Popen | None = None
        self.stderr_path = raw_path.with_suffix(raw_path.suffix + ".stderr")

    def argv(self, file_name: str) -> list[str]:
        s = self.spec
        if s.file_format == "pcapng":
            return [
                "dumpcap",
                "-i",
                s.interface,
                "-s",
                str(s.snaplen),
                "-B",
                str(BUFFER_KIB // 1024),
                "-n",
                "-f",
                s.capture_filter,
                "-w",
                file_name,
            ]
        # --immediate-mode: without it packets wait in the kernel's TPACKET_V3 blocks until a
        # block times out, and the ones still waiting when SIGINT arrives are never written.
        return [
            "tcpdump",
            "-i",
            s.interface,
            "-s",
            str(s.snaplen),
            "-B",
            str(BUFFER_KIB),
            "--immediate-mode",
            "-U",
            "-w",
            file_name,
            s.capture_filter,
        ]

    def command_string(self, file_name: str) -> str:
        """The command as recorded in the expected file (final file name, netns prefix)."""
        prefix = f"ip netns exec {self.spec.netns} " if self.spec.netns else ""
        return prefix + shlex.join(self.argv(file_name))

    def start(self) -> None:
        self.raw_path.unlink(missing_ok=True)
        argv = self.argv(str(self.raw_path))
        if self.spec.netns:
            argv = ["ip", "netns", "exec", self.spec.netns, *argv]
        self._stderr = open(self.stderr_path, "wb")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=self._stderr, start_new_session=True
        )
        ready = b"listening on" if self.spec.file_format == "pcap" else b"Capturing on"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if ready in self.stderr_path.read_bytes():
                # The socket is bound; give the kernel a moment to attach the filter.
                time.sleep(0.3)
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"capture failed: {self.stderr_path.read_text()}")
            time.sleep(0.05)
        raise RuntimeError("capture did not start listening within 15 s")

    def stop(self) -> str:
        """SIGINT and wait; returns the capture tool's final report (packets captured/dropped)."""
        if self.process is None or self.process.poll() is not None:
            return ""
        time.sleep(0.3)  # let the last segments reach the capture buffer
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._stderr.close()
        return self.stderr_path.read_text()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def dropped(self) -> int:
        """Packets the kernel dropped (tcpdump's "dropped by kernel" line; 0 when unknown)."""
        for line in self.stderr_path.read_text().splitlines():
            if "dropped by kernel" in line:
                return int(line.split()[0])
            counts = re.search(r"received/dropped .*: (\d+)/(\d+) ", line)  # dumpcap
            if counts:
                return int(counts.group(2))
        return 0


def publish(raw_path: Path, destination: Path) -> None:
    """Copy the capture into pcaps/, gzip-compressed when the destination ends in .gz."""
    if destination.suffix == ".gz":
        with (
            open(raw_path, "rb") as src,
            gzip.GzipFile(destination, "wb", compresslevel=9, mtime=0) as dst,
        ):
            shutil.copyfileobj(src, dst, 1 << 20)
    else:
        shutil.copyfile(raw_path, destination)
