"""Application-shaped traffic: the Go connection leak, and a busy mix of concurrent clients."""

from __future__ import annotations

import json
import random
import subprocess
import threading
import time

from ..clients import (
    Opened,
    cli_version,
    close_without_quit,
    go_driver_version,
    open_connector,
    open_pymysql,
    run_cli,
    run_go,
)
from ..scenario import Context, scenario
from ..server import APP, DATABASE


@scenario(interface="any")
def go_too_many_connections(ctx: Context) -> None:
    """The classic leak, captured on -i any. With max_connections = 10, a Go service
    (database/sql + go-sql-driver/mysql) calls db.Query("SELECT CONNECTION_ID()") in a loop,
    reads one row and never calls rows.Close(): each result set keeps its connection busy, so
    the pool dials a new one for every query. The 11th login is answered with ERR 1040 and the
    driver returns "Error 1040: Too many connections"; the service then exits without closing
    anything, so the kernel closes the 10 open connections with FIN and no COM_QUIT — ten
    'Aborted connection ... (Got an error reading communication packets)' lines in the
    server's error log."""
    binary = ctx.go_client()
    ctx.server.set_global(max_connections=10)
    try:
        events = run_go(binary, "leak", "127.0.0.1:3306")
    finally:
        time.sleep(0.5)
        ctx.server.wait_for_connections(0)
        ctx.server.set_global(max_connections=100)
    library = go_driver_version()
    for event in events:
        if event["event"] == "query":
            ctx.expect(
                client=event["local"],
                thread_id=event["thread_id"],
                user=APP[0],
                database=DATABASE,
                client_library=library,
                client_reported="ok (rows never closed; the process exited)",
                close="client_fin_no_quit",
                closed_by="client",
            )
        elif event["event"] == "error":
            ctx.expect(
                client=event["local"],
                thread_id=None,
                user=APP[0],
                database=DATABASE,
                client_library=library,
                client_reported=event["reported"],
                close="server_closed_error",
                closed_by="server",
                error_codes=[1040],
                note="the driver does not expose the thread id of a refused login",
            )


# -- the busy mix -----------------------------------------------------------------------------
# (library, how it ends, how many): 20 clients, most closing properly.
BUSY_CLIENTS = (
    ("pymysql", "quit", 5),
    ("pymysql", "fin", 2),
    ("pymysql", "rst", 1),
    ("connector", "quit", 5),
    ("connector", "fin", 2),
    ("go", "quit", 2),
    ("cli", "quit", 2),
    ("pymysql", "open", 1),
)
QUERIES_PER_CLIENT = 40
CLOSES = {
    "quit": ("clean_quit", "client"),
    "fin": ("client_fin_no_quit", "client"),
    "rst": ("client_rst_no_quit", "client"),
}


def _busy_python_client(
    kind: str, ending: str, seed: int, out: list, lock: threading.Lock, barrier: threading.Barrier
) -> None:
    rng = random.Random(seed)
    opened: Opened = open_pymysql() if kind == "pymysql" else open_connector()
    barrier.wait()
    cursor = opened.handle.cursor()
    for i in range(QUERIES_PER_CLIENT):
        if rng.random() < 0.3:
            cursor.execute(
                "INSERT INTO items (name, qty, note) VALUES (%s, %s, %s)",
                (f"busy-{seed}-{i}", rng.randrange(100), "x" * rng.randrange(200)),
            )
            opened.handle.commit()
        else:
            cursor.execute(
                "SELECT id, name, qty FROM items WHERE qty BETWEEN %s AND %s "
                "ORDER BY id DESC LIMIT %s",
                (rng.randrange(50), 50 + rng.randrange(50), 1 + rng.randrange(20)),
            )
            cursor.fetchall()
        time.sleep(rng.random() * 0.02)
    cursor.close()
    if ending == "quit":
        opened.handle.close()
    elif ending in ("fin", "rst"):
        close_without_quit(opened, reset=ending == "rst")
    with lock:
        out.append((opened, ending))


@scenario()
def busy_mix(ctx: Context) -> None:
    """Twenty concurrent clients for about two seconds, the traffic the performance benchmark
    replicates: 9 PyMySQL and 7 mysql-connector-python (pure) threads, each running 40
    queries (30% INSERT + COMMIT, 70% SELECT of 1-20 rows) with short random pauses, plus 2 Go
    processes (prepared statements, db.Close()) and 2 mariadb CLI runs. Most close with
    COM_QUIT; 4 close their socket without COM_QUIT (FIN), 1 resets (SO_LINGER 0), and 1
    PyMySQL connection is still open when the capture stops."""
    results: list = []
    lock = threading.Lock()
    python_clients = [
        (kind, ending)
        for kind, ending, count in BUSY_CLIENTS
        if kind in ("pymysql", "connector")
        for _ in range(count)
    ]
    barrier = threading.Barrier(len(python_clients))
    threads = [
        threading.Thread(
            target=_busy_python_client, args=(kind, ending, seed, results, lock, barrier)
        )
        for seed, (kind, ending) in enumerate(python_clients)
    ]
    binary = ctx.go_client()
    go_procs = [
        subprocess.Popen(
            [str(binary), "work", "127.0.0.1:3306", "60"], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    cli_runs = []
    for _ in range(2):
        cli_runs.append(
            run_cli(
                "SELECT COUNT(*) FROM items; SELECT SLEEP(0.2); "
                "SELECT name FROM items ORDER BY id DESC LIMIT 50;"
            )
        )
    for thread in threads:
        thread.join()
    go_events = []
    for proc in go_procs:
        stdout, _ = proc.communicate(timeout=60)
        go_events += [e for e in map(_json, stdout.splitlines()) if e.get("event") == "query"]
    time.sleep(0.3)
    ctx.stop_capture()
    for opened, ending in results:
        if ending == "open":
            opened.handle.close()
            ctx.expect(opened, close="still_open_at_capture_end", closed_by="none")
        else:
            close, closed_by = CLOSES[ending]
            ctx.expect(opened, close=close, closed_by=closed_by)
    library = go_driver_version()
    for event in go_events:
        ctx.expect(
            client=event["local"],
            thread_id=event["thread_id"],
            user=APP[0],
            database=DATABASE,
            client_library=library,
            client_reported=event["reported"],
            close="clean_quit",
            closed_by="client",
        )
    for whoami, proc in cli_runs:
        ctx.expect(
            client=whoami["client"],
            thread_id=int(whoami["thread_id"]),
            user=APP[0],
            database=DATABASE,
            client_library=cli_version(),
            client_reported="ok" if proc.returncode == 0 else proc.stderr.strip(),
            close="clean_quit",
            closed_by="client",
        )


def _json(line: str) -> dict:
    try:
        return json.loads(line)
    except ValueError:
        return {}
