"""The PROXY protocol header a load balancer puts before the client's first bytes.

HAProxy (`send-proxy`, `send-proxy-v2`), AWS Network Load Balancers and others
tell the server who the real client is by sending a PROXY header first on each connection
they open to it. MariaDB (`proxy_protocol_networks`) and MySQL behind such proxies read it and
use the address inside as the client's: that is the host their error log names. A capture
on the server's side of the balancer sees only the balancer's address, so the header is the
one place on the wire that says whose connection it was.

MariaDB sends its greeting at once and reads the header as the client's first bytes, before
the login; a balancer sends it as soon as it connects. So the header comes before or after
the greeting, never after the login.

Version 1 is one line of text, at most 107 bytes: ``PROXY TCP4 <src> <dst> <sport> <dport>``
(or TCP6, or ``PROXY UNKNOWN``) and CRLF. Version 2 is binary: a 12-byte signature, a
version/command byte (LOCAL: the balancer's own health check; PROXY: a relayed client), an
address family byte, a 2-byte length, the addresses and ports, then optional TLVs.
Specification: https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from mysqlwire.protocol.events import reduce_by_keywords

V1_PREFIX = b"PROXY "
V1_MAX = 107
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V2_FIXED = 16  # signature, version/command, family, length
V2_MAX = V2_FIXED + 0xFFFF
NEED_MORE = "need more"  # the bytes so far are the start of a header


@dataclass(frozen=True, slots=True)
class ProxyHeaderFields:
    version: int  # 1 or 2
    command: str  # "PROXY" (a relayed client), "LOCAL" (the proxy's own), "UNKNOWN" (v1)
    source: str | None  # "ip:port" of the real client, when the header names one
    destination: str | None  # "ip:port" the client connected to, at the proxy
    size: int  # bytes the header takes on the wire

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return reduce_by_keywords(self)


def parse(data: bytes) -> ProxyHeaderFields | str | None:
    """The header at the start of `data`; NEED_MORE when `data` is a header's beginning;
    None when it is not a PROXY header (or not one we can read: then it is not taken)."""
    if data[: len(V1_PREFIX)] == V1_PREFIX[: len(data)]:
        return _v1(data)
    if data[: len(V2_SIGNATURE)] == V2_SIGNATURE[: len(data)]:
        return _v2(data)
    return None


def _endpoint(address: bytes | str, port: int) -> str:
    ip = ipaddress.ip_address(address)
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


def _v1(data: bytes) -> ProxyHeaderFields | str | None:
    end = data.find(b"\r\n", 0, V1_MAX)
    if end < 0:
        return NEED_MORE if len(data) < V1_MAX else None
    fields = data[:end].split(b" ")
    if fields[1:2] == [b"UNKNOWN"]:  # the proxy could not tell (the receiver ignores the rest)
        return ProxyHeaderFields(1, "UNKNOWN", None, None, end + 2)
    if len(fields) != 6 or fields[1] not in (b"TCP4", b"TCP6"):
        return None
    version = 4 if fields[1] == b"TCP4" else 6
    try:
        addresses = [ipaddress.ip_address(f.decode("ascii")) for f in fields[2:4]]
        if any(a.version != version or "%" in str(a) for a in addresses):
            return None
        source = _endpoint(addresses[0].packed, _port(fields[4]))
        destination = _endpoint(addresses[1].packed, _port(fields[5]))
    except ValueError:
        return None
    return ProxyHeaderFields(1, "PROXY", source, destination, end + 2)


def _port(text: bytes) -> int:
    port = int(text)
    if not 0 <= port <= 0xFFFF or not text.isdigit():
        raise ValueError("port out of range")
    return port


def _v2(data: bytes) -> ProxyHeaderFields | str | None:
    if len(data) < V2_FIXED:
        return NEED_MORE
    version_command, family = data[12], data[13]
    size = V2_FIXED + int.from_bytes(data[14:16], "big")
    if version_command >> 4 != 2 or version_command & 0x0F > 1:
        return None
    if len(data) < size:
        return NEED_MORE
    command = "PROXY" if version_command & 0x0F else "LOCAL"
    body = data[V2_FIXED:size]
    source = destination = None
    if command == "PROXY" and family >> 4 == 1 and len(body) >= 12:  # AF_INET
        source = _endpoint(body[0:4], int.from_bytes(body[8:10], "big"))
        destination = _endpoint(body[4:8], int.from_bytes(body[10:12], "big"))
    elif command == "PROXY" and family >> 4 == 2 and len(body) >= 36:  # AF_INET6
        source = _endpoint(body[0:16], int.from_bytes(body[32:34], "big"))
        destination = _endpoint(body[16:32], int.from_bytes(body[34:36], "big"))
    return ProxyHeaderFields(2, command, source, destination, size)
