"""What the network does to a connection: a resetting middlebox, a corrupting proxy."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time

from .. import netns
from ..clients import close_without_quit, describe, open_pymysql
from ..proxy import MARKER, ProxyProtocolRelay, SequenceCorruptingProxy
from ..scenario import Context, scenario
from ..server import APP, DATABASE, Server, ServerConfig
from ..tcpdump import CaptureSpec

NO_CHANGE = contextlib.nullcontext()
MIDDLEBOX_SPECS = {
    "client_side": CaptureSpec(interface=netns.CLIENT_IF, netns=netns.CLIENT_NS),
    "server_side": CaptureSpec(interface=netns.SERVER_IF, netns=netns.SERVER_NS),
}


@contextlib.contextmanager
def namespaced_server(ctx: Context, *, overlay: bool = False):
    """The three-namespace topology with a second private mariadbd on 10.231.2.2:3306 (with
    `overlay`, on 10.232.0.3:3306, its VXLAN overlay address)."""
    config = ServerConfig(
        workdir=ctx.workdir / "netns-server",
        bind_address=netns.SERVER_OVERLAY_IP if overlay else netns.SERVER_IP,
        netns=netns.SERVER_NS,
    )
    config.workdir.mkdir(parents=True, exist_ok=True)
    netns.setup()
    if overlay:
        netns.overlay_setup()
    server = Server(config)
    try:
        server.start()
        for output in ctx.outputs.values():
            output.server_address, output.server_version = server.address, server.version
        yield server
    finally:
        server.stop()
        netns.teardown()


@contextlib.contextmanager
def client_in_namespace(ctx: Context, role: str, server_ip: str = netns.SERVER_IP):
    """A `pcapgen.child` client in the client namespace; killed if still running at exit."""
    child = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            netns.CLIENT_NS,
            sys.executable,
            "-m",
            "pcapgen.child",
            role,
            server_ip,
            "3306",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ctx.workdir.parent,
    )
    try:
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()


def query_after_go(
    ctx: Context, server_ip: str, during_query: contextlib.AbstractContextManager = NO_CHANGE
) -> tuple[dict, dict]:
    """Start the namespaced server (on its overlay address when `server_ip` is that) and the
    capture; a `query_after_go` child connects, and its query runs inside `during_query` (what
    the network does to it). Returns the child's "connected" and "done" lines."""
    overlay = server_ip == netns.SERVER_OVERLAY_IP
    with namespaced_server(ctx, overlay=overlay) as server:
        log_offset = server.error_log_offset()
        ctx.start_capture()
        with client_in_namespace(ctx, "query_after_go", server_ip) as child:
            connected = json.loads(child.stdout.readline())
            with during_query:
                child.stdin.write("go\n")
                child.stdin.flush()
            done = json.loads(child.stdout.readline())
            child.wait(timeout=30)
        time.sleep(0.3)
        ctx.stop_capture()
        ctx.outputs[""].error_log = server.error_log_since(log_offset)
    return connected, done


def expect_child(ctx: Context, connected: dict, done: dict, **fields) -> None:
    """Record the connection of a `client_in_namespace` child from what it printed: its
    "connected" line (address, thread id, library) and its "done" line (what it reported)."""
    ctx.expect(
        client=connected["client"],
        thread_id=connected["thread_id"],
        user=APP[0],
        database=DATABASE,
        client_library=connected["library"],
        client_reported=done["reported"],
        **fields,
    )


@scenario(server="own", captures=MIDDLEBOX_SPECS, starts_capture=True)
def middlebox_rst(ctx: Context) -> None:
    """Client and server in two network namespaces joined through a router namespace by
    veth pairs (client 10.231.1.2, server 10.231.2.2, a second private mariadbd listening on
    its namespace address). PyMySQL connects, runs SELECT 1, enables TCP keepalive (1 s) and
    sends SELECT SLEEP(4). While it runs, the router gets iptables rules answering MySQL
    segments in both directions with REJECT --reject-with tcp-reset. The client's next
    keepalive probe is answered by the router's RST (client side: the RST claims to come from
    the server but has TTL 64 and no ACK flag, while the server's own packets arrive with TTL
    63); when the server sends the SLEEP result, the router resets the server too (server
    side: RST with TTL 64 while the client's packets arrive with TTL 63). Captured on both
    sides."""
    with namespaced_server(ctx) as server:
        log_offset = server.error_log_offset()
        ctx.start_capture("client_side")
        ctx.start_capture("server_side")
        with client_in_namespace(ctx, "stalled_behind_middlebox") as child:
            connected = json.loads(child.stdout.readline())
            started = time.monotonic()
            time.sleep(0.5)
            rules = netns.insert_reset_rules()
            done = json.loads(child.stdout.readline())
            child.wait(timeout=30)
        # The server answers SLEEP(4) about 4 s after the query; that reply meets the rule.
        time.sleep(max(0.0, started + 5.0 - time.monotonic()))
        ctx.stop_capture("client_side")
        ctx.stop_capture("server_side")
        time.sleep(0.5)
        log = server.error_log_since(log_offset)
    ctx.notes.append("Router rules: " + "; ".join(rules) + ".")
    for side in ("client_side", "server_side"):
        ctx.outputs[side].error_log = log
        expect_child(
            ctx,
            connected,
            done,
            close="middlebox_rst",
            closed_by="middlebox",
            findings=("middlebox_rst",),
            capture=side,
        )


@scenario(server="own", interface=netns.CLIENT_IF, netns=netns.CLIENT_NS, starts_capture=True)
def retransmission(ctx: Context) -> None:
    """In the three-namespace topology (see middlebox_rst), PyMySQL connects to the
    namespaced server and runs SELECT 1; the router then silently drops client-to-server
    MySQL segments (iptables DROP) for 0.7 s while the client sends a query. The client's
    TCP retransmits the query three times (about 0.2, 0.4 and 0.85 s later), and the server,
    whose previous reply was acknowledged only by the dropped segment, retransmits that reply
    too (spurious retransmissions, each answered by a duplicate ACK). Once the rule is
    deleted the query completes and the client quits normally. Captured on the client side,
    where every copy is visible."""
    rules: list[str] = []

    @contextlib.contextmanager
    def dropping_the_query():
        rules.append(netns.drop_to_server(True))
        yield
        time.sleep(0.7)
        netns.drop_to_server(False)

    connected, done = query_after_go(ctx, netns.SERVER_IP, dropping_the_query())
    ctx.notes.append(f"Router rule, for 0.7 s: {rules[0]}.")
    expect_child(
        ctx,
        connected,
        done,
        close="clean_quit",
        closed_by="client",
        findings=("retransmissions",),
    )


@scenario(
    server="own",
    interface=netns.CLIENT_IF,
    netns=netns.CLIENT_NS,
    capture_filter=f"udp port {netns.VXLAN_PORT}",
    starts_capture=True,
)
def vxlan_overlay(ctx: Context) -> None:
    """In the three-namespace topology (see middlebox_rst), client and server talk over a
    VXLAN overlay the kernel encapsulates (VNI 42, UDP 4789; client 10.232.0.2, server
    10.232.0.3), as on a Kubernetes or cloud overlay network. PyMySQL connects to the server's
    overlay address, runs SELECT 1, then a 20-row query, and quits. Captured on the client's
    underlay interface with the filter 'udp port 4789': every MySQL segment is inside VXLAN,
    none is on the wire as plain TCP."""
    connected, done = query_after_go(ctx, netns.SERVER_OVERLAY_IP)
    expect_child(
        ctx,
        connected,
        done,
        close="clean_quit",
        closed_by="client",
    )


PROXIED_CLIENTS = [("192.0.2.10", 40001), ("192.0.2.11", 40002)]


@scenario()
def proxy_protocol(ctx: Context) -> None:
    """A load balancer in front of MariaDB, which trusts its PROXY protocol headers
    (SET GLOBAL proxy_protocol_networks = '127.0.0.0/8' for this scenario only). A relay on
    127.0.0.1:3309 opens a connection to the server for each client and sends a PROXY header
    first, as HAProxy's send-proxy does, before relaying: version 1 (text) naming the client
    192.0.2.10:40001, then version 2 (binary) naming 192.0.2.11:40002. PyMySQL connects
    through it twice: the first connection runs a query and quits; the second runs a query
    and closes its socket without COM_QUIT, and the server logs the aborted connection with
    host 192.0.2.11 and real ip 127.0.0.1 (the relay). MariaDB sends its greeting at once
    and reads the header as the client's first bytes. Captured on the server's side of the
    relay (port 3306): the TCP peer of both connections is the relay."""
    server = ctx.server
    assert server is not None
    server.set_global(proxy_protocol_networks="127.0.0.0/8")
    relay = ProxyProtocolRelay(PROXIED_CLIENTS)
    try:
        opened = []
        for version in (1, 2):
            relay.connect(version)
            connection = open_pymysql(port=relay.port)
            cursor = connection.handle.cursor()
            cursor.execute("SELECT id, name FROM items LIMIT 5")
            cursor.fetchall()
            if version == 1:
                connection.handle.close()
            else:
                close_without_quit(connection)
            opened.append(connection)
        time.sleep(0.5)
    finally:
        relay.close()
        server.set_global(proxy_protocol_networks="")
    for connection, leg, (ip, port), close, closed_by in zip(
        opened,
        relay.server_legs,
        PROXIED_CLIENTS,
        ("clean_quit", "client_fin_no_quit"),
        ("client", "client"),
        strict=True,
    ):
        ctx.expect(
            connection,
            client=leg,
            close=close,
            closed_by=closed_by,
            findings=("proxy_header",),
            note=f"PROXY header from the relay {leg}: the client is {ip}:{port}",
        )


@scenario(snaplen=128)
def truncated_snaplen(ctx: Context) -> None:
    """Deliberately captured with tcpdump -s 128 (the one capture of the suite without
    -s 0): PyMySQL runs a query whose result set is about 100 KB, so most server segments
    are cut after their first 128 bytes and their payload is missing from the capture; the
    connection is then closed with COM_QUIT, which fits in the snapshot length."""
    opened = open_pymysql()
    cursor = opened.handle.cursor()
    cursor.execute("SELECT 1")
    cursor.fetchall()
    cursor.execute(
        "WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
        "WHERE i < 100) SELECT i, REPEAT('t', 1000) FROM n"
    )
    cursor.fetchall()
    opened.handle.close()
    ctx.expect(
        opened,
        close="clean_quit",
        closed_by="client",
        findings=("capture_gap",),
        note="frames truncated to 128 bytes: payload bytes are missing, not lost on the network",
    )


@scenario(
    capture_filter="tcp port 3306 or tcp port 3307",
    analyze_options=("--port", "3306", "--port", "3307"),
)
def sequence_error(ctx: Context) -> None:
    """PyMySQL connects to a small loopback proxy on 127.0.0.1:3307 that relays to the
    server on 3306 (both legs captured). After one good query, the client sends a query
    carrying a marker comment; the proxy adds 5 to the sequence id of the server's first
    reply packet (column count, sequence 1 becomes 6) on the client leg only. PyMySQL raises
    'Packet sequence number wrong' and closes its socket without COM_QUIT; the proxy passes
    the FIN on to the server, whose leg is intact and ends with FIN, no COM_QUIT."""
    proxy = SequenceCorruptingProxy()
    proxy.start()
    opened = open_pymysql(port=3307)
    cursor = opened.handle.cursor()
    cursor.execute("SELECT 1")
    cursor.fetchall()
    try:
        cursor.execute(f"SELECT {MARKER.decode()} id, name FROM items LIMIT 2")
        cursor.fetchall()
        reported = "ok"
    except Exception as error:
        reported = describe(error)
    proxy.join()
    assert proxy.corrupted.is_set()
    ctx.expect(
        opened,
        server="127.0.0.1:3307",
        close="client_fin_no_quit",
        closed_by="client",
        findings=("sequence_error",),
        client_reported=reported,
        note="client leg: the proxy shifted the reply's sequence id by 5",
    )
    ctx.expect(
        client=proxy.server_leg_client,
        thread_id=opened.thread_id,
        user=opened.user,
        database=opened.database,
        client_library="pcapgen sequence-corrupting proxy (relaying " + opened.library + ")",
        client_reported="ok",
        close="client_fin_no_quit",
        closed_by="client",
        note="server leg: intact; the proxy closed after the client did",
    )
