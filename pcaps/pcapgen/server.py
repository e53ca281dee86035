"""A private MariaDB server for the capture suite: own datadir, socket, log; loopback only.

Nothing here touches a system MariaDB service: the server is started with `--no-defaults`
from a datadir under `pcaps/work/`, and stopped by the PID it was started with.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

# Accounts every scenario may use. `admin` holds SUPER (so it also gets MariaDB's one extra
# connection beyond max_connections); `app` and `other` are ordinary users.
ADMIN = ("admin", "adminpw")
APP = ("app", "apppw")
OTHER = ("other", "otherpw")
DATABASE = "test"

BOOTSTRAP_SQL = f"""
CREATE DATABASE IF NOT EXISTS {DATABASE};
CREATE USER IF NOT EXISTS '{ADMIN[0]}'@'%' IDENTIFIED BY '{ADMIN[1]}';
GRANT ALL PRIVILEGES ON *.* TO '{ADMIN[0]}'@'%' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS '{APP[0]}'@'%' IDENTIFIED BY '{APP[1]}';
GRANT ALL PRIVILEGES ON {DATABASE}.* TO '{APP[0]}'@'%';
CREATE USER IF NOT EXISTS '{OTHER[0]}'@'%' IDENTIFIED BY '{OTHER[1]}';
GRANT ALL PRIVILEGES ON {DATABASE}.* TO '{OTHER[0]}'@'%';
CREATE TABLE IF NOT EXISTS {DATABASE}.items (
    id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64), qty INT, note TEXT);
CREATE TABLE IF NOT EXISTS {DATABASE}.blobs (id INT PRIMARY KEY, data LONGBLOB);
"""


@dataclass
class ServerConfig:
    """How to start one private server. `tls` adds the self-signed certificate options."""

    workdir: Path
    bind_address: str = "127.0.0.1"
    port: int = 3306
    tls: bool = False
    netns: str | None = None  # run inside this network namespace
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def datadir(self) -> Path:
        return self.workdir / "data"

    @property
    def socket(self) -> Path:
        return self.workdir / "mysqld.sock"

    @property
    def error_log(self) -> Path:
        return self.workdir / "error.log"

    @property
    def pid_file(self) -> Path:
        return self.workdir / "mysqld.pid"


def make_certificates(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key for the TLS scenario (made once, kept in workdir)."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "server-cert.pem", directory / "server-key.pem"
    if not cert.exists():
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "3650",
                "-subj",
                "/CN=mysqlwire-capture-suite",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
        )
    return cert, key


class Server:
    """One running mariadbd. Use as a context manager; `stop()` is safe to call twice."""

    def __init__(self, config: ServerConfig):
        self.config = config
        self.process: subprocess.Popen | None = None
        self.version = ""

    # -- lifecycle ----------------------------------------------------------------------------
    def _ns(self) -> list[str]:
        return ["ip", "netns", "exec", self.config.netns] if self.config.netns else []

    def initialise(self) -> None:
        """Create the datadir if it is missing (mariadb-install-db, no system files read)."""
        c = self.config
        if (c.datadir / "mysql").is_dir():
            return
        shutil.rmtree(c.datadir, ignore_errors=True)
        c.datadir.mkdir(parents=True)
        subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={c.datadir}",
                "--user=root",
                "--skip-test-db",
                "--auth-root-authentication-method=socket",
            ],
            check=True,
            capture_output=True,
        )

    def command_line(self) -> list[str]:
        c = self.config
        args = [
            "mariadbd",
            "--no-defaults",
            "--user=root",
            f"--datadir={c.datadir}",
            f"--socket={c.socket}",
            f"--pid-file={c.pid_file}",
            f"--port={c.port}",
            f"--bind-address={c.bind_address}",
            f"--log-error={c.error_log}",
            # 4: log aborted connections *and* aborted connects (handshake never finished,
            # access denied) with their "Could not read packet" notes; the default 2 omits them.
            "--log-warnings=4",
            "--skip-name-resolve",
            "--skip-log-bin",
            "--innodb-buffer-pool-size=64M",
            "--max-allowed-packet=64M",
            "--max-connections=100",
            "--local-infile=1",
            "--performance-schema=0",
        ]
        if c.tls:
            cert, key = make_certificates(c.workdir / "tls")
            args += [f"--ssl-cert={cert}", f"--ssl-key={key}"]
        else:
            # No certificate, no TLS offered: recent clients would otherwise switch to TLS.
            args += ["--skip-ssl"]
        args += [f"--{k}={v}" for k, v in c.extra.items()]
        return self._ns() + args

    def start(self) -> None:
        self.initialise()
        c = self.config
        c.error_log.touch()
        with open(c.workdir / "mariadbd.stdout", "ab") as out:
            self.process = subprocess.Popen(
                self.command_line(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mariadbd exited at start; see {c.error_log}")
            if c.socket.exists() and self.sql("SELECT 1", check=False).returncode == 0:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError("mariadbd did not come up within 60 s")
        self.sql(BOOTSTRAP_SQL)
        self.version = self.sql("SELECT VERSION()").stdout.strip()

    def stop(self) -> None:
        """SIGTERM by PID, then wait; SIGKILL only if it will not stop."""
        if self.process is None or self.process.poll() is not None:
            return
        if self.config.netns:
            # `ip netns exec` execs mariadbd, so the PID is the server's own.
            pass
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- administration -----------------------------------------------------------------------
    def sql(self, statement: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run SQL as root over the unix socket (never captured: the capture filter is TCP)."""
        return subprocess.run(
            [
                *self._ns(),
                "mariadb",
                "--no-defaults",
                f"--socket={self.config.socket}",
                "-uroot",
                "-N",
                "-B",
                "-e",
                statement,
            ],
            check=check,
            capture_output=True,
            text=True,
        )

    def set_global(self, **variables: object) -> None:
        self.sql("; ".join(f"SET GLOBAL {k} = {v!r}" for k, v in variables.items()))

    def get_global(self, name: str) -> str:
        return self.sql(f"SELECT @@GLOBAL.{name}").stdout.strip()

    def wait_for_connections(self, count: int, timeout: float = 10.0) -> None:
        """Wait until Threads_connected (ours over the socket included) drops to `count`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.sql("SHOW GLOBAL STATUS LIKE 'Threads_connected'").stdout.split()
            if int(out[1]) <= count + 1:
                return
            time.sleep(0.1)

    def error_log_offset(self) -> int:
        return self.config.error_log.stat().st_size if self.config.error_log.exists() else 0

    def error_log_since(self, offset: int) -> str:
        with open(self.config.error_log, "rb") as log:
            log.seek(offset)
            return log.read().decode("utf-8", "replace")

    @property
    def address(self) -> str:
        return f"{self.config.bind_address}:{self.config.port}"


def reset_workdir(workdir: Path) -> None:
    """Remove everything a previous run left except the datadir-independent certificates."""
    for name in ("error.log", "mysqld.sock", "mysqld.pid"):
        (workdir / name).unlink(missing_ok=True)
    os.makedirs(workdir, exist_ok=True)
