"""Three network namespaces — client, router, server — joined by veth pairs.

    client ns            router ns                      server ns
    mwc0 10.231.1.2 --- mwr0 10.231.1.1 | mwr1 10.231.2.1 --- mws0 10.231.2.2

`overlay_setup` adds a VXLAN overlay on top (VNI 42, UDP 4789, the kernel's own
encapsulation): client 10.232.0.2 on vx0 in the client namespace, server 10.232.0.3 on vx0 in
the server namespace, carried between their veth addresses through the router.

Only addresses inside these namespaces are used; the namespaces and their veths are removed
on teardown (deleting a namespace deletes the veth ends inside it).
"""

from __future__ import annotations

import subprocess

CLIENT_NS, ROUTER_NS, SERVER_NS = "mwcap-client", "mwcap-router", "mwcap-server"
CLIENT_IP, ROUTER_CLIENT_IP = "10.231.1.2", "10.231.1.1"
SERVER_IP, ROUTER_SERVER_IP = "10.231.2.2", "10.231.2.1"
CLIENT_IF, SERVER_IF = "mwc0", "mws0"
CLIENT_OVERLAY_IP, SERVER_OVERLAY_IP = "10.232.0.2", "10.232.0.3"
OVERLAY_IF, VXLAN_ID, VXLAN_PORT = "vx0", "42", "4789"


def run(*argv: str, netns: str | None = None) -> None:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    subprocess.run([*prefix, *argv], check=True, capture_output=True)


def teardown() -> None:
    for ns in (CLIENT_NS, ROUTER_NS, SERVER_NS):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def setup() -> None:
    teardown()
    for ns in (CLIENT_NS, ROUTER_NS, SERVER_NS):
        run("ip", "netns", "add", ns)
        run("ip", "link", "set", "lo", "up", netns=ns)
    run(
        "ip",
        "link",
        "add",
        CLIENT_IF,
        "netns",
        CLIENT_NS,
        "type",
        "veth",
        "peer",
        "name",
        "mwr0",
        "netns",
        ROUTER_NS,
    )
    run(
        "ip",
        "link",
        "add",
        SERVER_IF,
        "netns",
        SERVER_NS,
        "type",
        "veth",
        "peer",
        "name",
        "mwr1",
        "netns",
        ROUTER_NS,
    )
    for ns, dev, ip in (
        (CLIENT_NS, CLIENT_IF, CLIENT_IP),
        (ROUTER_NS, "mwr0", ROUTER_CLIENT_IP),
        (ROUTER_NS, "mwr1", ROUTER_SERVER_IP),
        (SERVER_NS, SERVER_IF, SERVER_IP),
    ):
        run("ip", "addr", "add", f"{ip}/24", "dev", dev, netns=ns)
        run("ip", "link", "set", dev, "up", netns=ns)
    run("ip", "route", "add", "default", "via", ROUTER_CLIENT_IP, netns=CLIENT_NS)
    run("ip", "route", "add", "default", "via", ROUTER_SERVER_IP, netns=SERVER_NS)
    run("sysctl", "-qw", "net.ipv4.ip_forward=1", netns=ROUTER_NS)


def overlay_setup() -> None:
    """The VXLAN overlay between the client and server namespaces (after `setup`)."""
    for ns, underlay_if, local, remote, overlay_ip in (
        (CLIENT_NS, CLIENT_IF, CLIENT_IP, SERVER_IP, CLIENT_OVERLAY_IP),
        (SERVER_NS, SERVER_IF, SERVER_IP, CLIENT_IP, SERVER_OVERLAY_IP),
    ):
        run(
            "ip", "link", "add", OVERLAY_IF, "type", "vxlan", "id", VXLAN_ID, "local", local,
            "remote", remote, "dstport", VXLAN_PORT, "dev", underlay_if, netns=ns,
        )  # fmt: skip
        run("ip", "addr", "add", f"{overlay_ip}/24", "dev", OVERLAY_IF, netns=ns)
        run("ip", "link", "set", OVERLAY_IF, "up", netns=ns)


# The router answers every MySQL segment, either way, with an RST of its own.
REJECT_RULES = (
    ("-p", "tcp", "--dport", "3306", "-j", "REJECT", "--reject-with", "tcp-reset"),
    ("-p", "tcp", "--sport", "3306", "-j", "REJECT", "--reject-with", "tcp-reset"),
)


DROP_TO_SERVER = ("-p", "tcp", "--dport", "3306", "-j", "DROP")


def drop_to_server(enable: bool) -> str:
    """Add (or delete) a router rule silently dropping client-to-server MySQL segments."""
    argv = ["iptables", "-I" if enable else "-D", "FORWARD", *DROP_TO_SERVER]
    run(*argv, netns=ROUTER_NS)
    return " ".join(argv)


def insert_reset_rules() -> list[str]:
    """Install the router's REJECT rules; returns them as iptables command lines."""
    lines = []
    for rule in REJECT_RULES:
        run("iptables", "-I", "FORWARD", *rule, netns=ROUTER_NS)
        lines.append(" ".join(["iptables", "-I", "FORWARD", *rule]))
    return lines
