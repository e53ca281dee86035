"""Protocol features the decoder must follow: prepared statements, multi-statements, LOAD DATA
LOCAL INFILE, COM_CHANGE_USER, compression, TLS."""

from __future__ import annotations

import pymysql

from ..clients import (
    cli_version,
    close_without_quit,
    open_connector,
    open_pymysql,
    run_cli,
)
from ..scenario import FIRST_FIN_ON_WIRE, Context, scenario
from ..server import APP, DATABASE, OTHER


@scenario(file_format="pcapng")
def prepared_statements(ctx: Context) -> None:
    """mysql-connector-python (pure) uses a prepared cursor: COM_STMT_PREPARE, then
    COM_STMT_EXECUTE with bound parameters and binary-protocol result rows, repeated, an
    INSERT through a second prepared statement, then COM_STMT_CLOSE and COM_QUIT. Captured
    with dumpcap as pcapng."""
    opened = open_connector()
    cursor = opened.handle.cursor(prepared=True)
    for qty in (1, 2, 3):
        cursor.execute(
            "INSERT INTO items (name, qty, note) VALUES (%s, %s, %s)",
            (f"prepared-{qty}", qty, None),
        )
    for qty in (0, 2, 5):
        cursor.execute("SELECT id, name, qty, note FROM items WHERE qty > %s LIMIT 10", (qty,))
        cursor.fetchall()
    opened.handle.commit()
    cursor.close()
    opened.handle.close()
    ctx.expect(opened, close="clean_quit", closed_by="client")


@scenario()
def multi_statements(ctx: Context) -> None:
    """PyMySQL with CLIENT_MULTI_STATEMENTS sends one COM_QUERY holding four statements
    (SELECT, SELECT, an UPDATE, SELECT); the server answers with three result sets and an OK,
    chained by SERVER_MORE_RESULTS_EXISTS; the client walks them with nextset(), then quits."""
    opened = open_pymysql(client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS)
    cursor = opened.handle.cursor()
    cursor.execute(
        "SELECT 1 AS a; SELECT name, qty FROM items LIMIT 3; "
        "UPDATE items SET qty = qty + 1 WHERE id < 0; SELECT NOW() AS t"
    )
    while True:
        cursor.fetchall()
        if not cursor.nextset():
            break
    opened.handle.close()
    ctx.expect(opened, close="clean_quit", closed_by="client")


@scenario()
def load_data_local(ctx: Context) -> None:
    """PyMySQL (local_infile=True) runs LOAD DATA LOCAL INFILE: the server answers the query
    with a 0xFB local-infile request naming the file, the client streams 2,000 CSV lines
    (about 60 KB) and an empty packet, the server answers OK; then COM_QUIT."""
    data = ctx.workdir / "items.csv"
    data.write_text("".join(f"loaded-{i},{i % 97},row {i}\n" for i in range(2000)))
    opened = open_pymysql(local_infile=True)
    cursor = opened.handle.cursor()
    cursor.execute(
        f"LOAD DATA LOCAL INFILE '{data}' INTO TABLE items "
        "FIELDS TERMINATED BY ',' (name, qty, note)"
    )
    opened.handle.commit()
    opened.handle.close()
    ctx.expect(opened, close="clean_quit", closed_by="client")


@scenario()
def change_user(ctx: Context) -> None:
    """mysql-connector-python (pure) logs in as app to test, queries, then sends
    COM_CHANGE_USER to become other (database test), queries again as other and quits.
    The expected user is the one of the initial login; the change is in `note`."""
    opened = open_connector()
    cursor = opened.handle.cursor()
    cursor.execute("SELECT CURRENT_USER()")
    cursor.fetchall()
    cursor.close()
    opened.handle.cmd_change_user(username=OTHER[0], password=OTHER[1], database=DATABASE)
    cursor = opened.handle.cursor()
    cursor.execute("SELECT CURRENT_USER()")
    became = cursor.fetchall()[0][0]
    cursor.close()
    opened.handle.close()
    ctx.expect(
        opened,
        close="clean_quit",
        closed_by="client",
        note=f"COM_CHANGE_USER to {OTHER[0]} (server then reported {became})",
    )


@scenario()
def compression(ctx: Context) -> None:
    """Two compressed connections (CLIENT_COMPRESS, zlib framing with its own 7-byte header
    and sequence ids): mysql-connector-python (pure, compress=True) runs queries returning a
    few KB, then quits; the mariadb CLI with --compress runs a query and quits. The COM_QUIT
    of each is inside a compressed frame."""
    opened = open_connector(compress=True)
    cursor = opened.handle.cursor()
    cursor.execute("SELECT REPEAT('compressible ', 400) AS text, 1 AS n")
    cursor.fetchall()
    cursor.execute("SELECT id, name, qty FROM items LIMIT 50")
    cursor.fetchall()
    cursor.close()
    opened.handle.close()
    ctx.expect(opened, close="clean_quit", closed_by="client", findings=("compressed",))
    whoami, proc = run_cli("SELECT REPEAT('z', 5000) AS z;", "--compress")
    ctx.expect(
        client=whoami["client"],
        thread_id=int(whoami["thread_id"]),
        user=APP[0],
        database=DATABASE,
        client_library=cli_version() + " --compress",
        client_reported="ok" if proc.returncode == 0 else proc.stderr.strip(),
        close="clean_quit",
        closed_by="client",
        findings=("compressed",),
    )


@scenario(server="tls")
def tls(ctx: Context) -> None:
    """The server runs with a self-signed certificate made by openssl. Three connections
    upgrade with an SSL request and run queries under TLS 1.3, so the capture shows only TLS
    records after the greeting: PyMySQL (ssl_ca set, identity not verified) closes normally
    with an encrypted COM_QUIT; the mariadb CLI (--ssl) does the same; a second PyMySQL
    connection is closed by the application without COM_QUIT (its socket closed: the
    client's FIN comes first). After an encrypted COM_QUIT both sides close at once and
    either FIN may come first (so closed_by is read from the capture, see each note); no
    record follows the COM_QUIT record: neither side sends a TLS close_notify."""
    cert = ctx.server.config.workdir / "tls" / "server-cert.pem"
    tls_options = {"ssl_disabled": False, "ssl_ca": str(cert), "ssl_verify_identity": False}
    opened = open_pymysql(**tls_options)
    cursor = opened.handle.cursor()
    cursor.execute("SELECT id, name FROM items LIMIT 5")
    cursor.fetchall()
    opened.handle.close()
    ctx.expect(
        opened,
        close="closed_under_tls",
        closed_by=FIRST_FIN_ON_WIRE,
        findings=("tls",),
        note="closed with COM_QUIT (encrypted)",
    )
    whoami, proc = run_cli("SELECT 1;", "--ssl", f"--ssl-ca={cert}")
    ctx.expect(
        client=whoami["client"],
        thread_id=int(whoami["thread_id"]),
        user=APP[0],
        database=DATABASE,
        client_library=cli_version() + " --ssl",
        client_reported="ok" if proc.returncode == 0 else proc.stderr.strip(),
        close="closed_under_tls",
        closed_by=FIRST_FIN_ON_WIRE,
        findings=("tls",),
        note="closed with COM_QUIT (encrypted)",
    )
    opened = open_pymysql(**tls_options)
    cursor = opened.handle.cursor()
    cursor.execute("SELECT COUNT(*) FROM items")
    cursor.fetchall()
    close_without_quit(opened)
    ctx.expect(
        opened,
        close="closed_under_tls",
        closed_by="client",
        findings=("tls",),
        note="socket closed without COM_QUIT",
    )
