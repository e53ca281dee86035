"""What the network does to a connection: a resetting middlebox, a corrupting proxy."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from .. import netns
from ..clients import describe, open_pymysql
from ..proxy import MARKER, SequenceCorruptingProxy
from ..scenario import Context, scenario
from ..server import Server, ServerConfig
from ..tcpdump import CaptureSpec

MIDDLEBOX_SPECS = {
    "client_side": CaptureSpec(interface=netns.CLIENT_IF, netns=netns.CLIENT_NS),
    "server_side": CaptureSpec(interface=netns.SERVER_IF, netns=netns.SERVER_NS),
}


@scenario(server="own", captures=MIDDLEBOX_SPECS, starts_capture=True)
def middlebox_rst(ctx: Context) -> None:
    """Client and server in two network namespaces joined through a router namespace by
    veth pairs (client 10.231.1.2, server 10.231.2.2, a second private mariadbd listening on
    its namespace address). PyMySQL connects, runs SELECT 1, enables TCP keepalive (1 s) and
    sends SELECT SLEEP(4). While it runs, the router gets iptables rules answering MySQL
    segments in both directions with REJECT --reject-with tcp-reset. The client's next
    keepalive probe is answered by the router's RST (client side: the RST claims to come from
    the server but has TTL 64 and no ACK flag, while the server's own packets arrive with TTL
    63); when the server
    sends the SLEEP result, the router resets the server too (server side: RST with TTL 64
    while the client's packets arrive with TTL 63). Captured on both sides."""
    config = ServerConfig(workdir=ctx.workdir / "middlebox-server", bind_address=netns.SERVER_IP,
                          netns=netns.SERVER_NS)
    config.workdir.mkdir(parents=True, exist_ok=True)
    netns.setup()
    server = Server(config)
    try:
        server.start()
        for output in ctx.outputs.values():
            output.server_address, output.server_version = server.address, server.version
        log_offset = server.error_log_offset()
        ctx.start_capture("client_side")
        ctx.start_capture("server_side")
        child = subprocess.Popen(
            ["ip", "netns", "exec", netns.CLIENT_NS, sys.executable, "-m", "pcapgen.child",
             "stalled_behind_middlebox", netns.SERVER_IP, "3306"],
            stdout=subprocess.PIPE, text=True, cwd=ctx.workdir.parent)
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
        ctx.notes.append("router rules: " + "; ".join(rules))
        for side in ("client_side", "server_side"):
            ctx.outputs[side].error_log = log
            ctx.expect(client=connected["client"], thread_id=connected["thread_id"],
                       user="app", database="test", client_library=connected["library"],
                       client_reported=done["reported"], close="middlebox_rst",
                       closed_by="middlebox", findings=("middlebox_rst",), capture=side)
    finally:
        server.stop()
        netns.teardown()


@scenario(capture_filter="tcp port 3306 or tcp port 3307",
          analyze_options=("--port", "3306", "--port", "3307"))
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
    ctx.expect(opened, server="127.0.0.1:3307", close="client_fin_no_quit", closed_by="client",
               findings=("sequence_error",), client_reported=reported,
               note="client leg: the proxy shifted the reply's sequence id by 5")
    ctx.expect(client=proxy.server_leg_client, thread_id=opened.thread_id, user=opened.user,
               database=opened.database, client_library="pcapgen sequence-corrupting proxy "
               "(relaying " + opened.library + ")", client_reported="ok",
               close="client_fin_no_quit", closed_by="client",
               note="server leg: intact; the proxy closed after the client did")
