"""A load balancer's PROXY protocol header before the login: taken off the client's stream and
announced with the real client's address, before or after the greeting, whole or in pieces;
what only starts like one is not taken.

The real-traffic counterpart is pcaps/proxy_protocol.pcap (MariaDB with
proxy_protocol_networks behind a relay that sends version 1 and version 2 headers)."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mysqlwire.protocol import proxy_header
from mysqlwire.protocol.constants import CLIENT, SERVER
from mysqlwire.protocol.events import Command, HandshakeResponse, NotMySQL, ProxyHeader
from tests.mysql_builder import (
    CLIENT_BASE,
    Chunk,
    greeting,
    handshake_response41,
    ok,
    packets,
)
from tests.protocol.helpers import decode, names, of, one, problems

V1 = b"PROXY TCP4 192.0.2.10 10.0.0.5 41234 3306\r\n"
V1_IPV6 = b"PROXY TCP6 2001:db8::10 2001:db8::5 41234 3306\r\n"


def v2(command: int = 1, family: int = 0x11, body: bytes | None = None) -> bytes:
    if body is None:
        body = bytes([192, 0, 2, 10, 10, 0, 0, 5]) + struct.pack("!HH", 41234, 3306)
        body += b"\x04\x00\x02ok"  # a TLV (PP2_TYPE_NOOP), which readers skip
    return proxy_header.V2_SIGNATURE + bytes([0x20 | command, family]) + struct.pack(
        "!H", len(body)
    ) + body  # fmt: skip


def login_after(header: bytes, *, before_greeting: bool) -> list[Chunk]:
    """A connection through a balancer: its header, the greeting, the login, a query."""
    chunks = [
        Chunk(SERVER, packets(greeting(thread_id=9), seq=0)),
        Chunk(
            CLIENT, packets(handshake_response41("app", "test", capabilities=CLIENT_BASE), seq=1)
        ),
        Chunk(SERVER, packets(ok(), seq=2)),
        Chunk(CLIENT, packets(b"\x03SELECT 1", seq=0)),
    ]
    if before_greeting:  # HAProxy: as soon as it connects
        return [Chunk(CLIENT, header), *chunks]
    chunks[1] = Chunk(CLIENT, header + chunks[1].data)  # MariaDB reads it with the login
    return chunks


@pytest.mark.parametrize("before_greeting", [True, False], ids=["before", "after"])
@pytest.mark.parametrize(
    ("header", "version", "source"),
    [
        (V1, 1, "192.0.2.10:41234"),
        (V1_IPV6, 1, "[2001:db8::10]:41234"),
        (v2(), 2, "192.0.2.10:41234"),
    ],
    ids=["v1", "v1-ipv6", "v2"],
)
def test_the_header_is_taken_and_the_login_read_after_it(header, version, source, before_greeting):
    events = decode(login_after(header, before_greeting=before_greeting))
    found = one(events, ProxyHeader)
    assert (found.version, found.command, found.source) == (version, "PROXY", source)
    assert found.size == len(header)
    assert found.frame == (1 if before_greeting else 2)
    assert one(events, HandshakeResponse).user == "app"
    assert one(events, Command).name == "COM_QUERY"
    assert not problems(events)


def test_a_header_in_pieces_is_joined():
    header = v2()
    chunks = login_after(header, before_greeting=True)
    pieces = [Chunk(CLIENT, header[i : i + 5]) for i in range(0, len(header), 5)]
    events = decode([*pieces, *chunks[1:]])
    assert one(events, ProxyHeader).source == "192.0.2.10:41234"
    assert one(events, ProxyHeader).frame == 1
    assert not problems(events)


@pytest.mark.parametrize(
    ("header", "command"),
    [(v2(command=0, body=b""), "LOCAL"), (b"PROXY UNKNOWN\r\n", "UNKNOWN")],
    ids=["v2-local", "v1-unknown"],
)
def test_headers_without_a_client_address(header, command):
    events = decode(login_after(header, before_greeting=False))
    found = one(events, ProxyHeader)
    assert (found.command, found.source) == (command, None)
    assert one(events, HandshakeResponse).user == "app"


@pytest.mark.parametrize(
    "first",
    [
        b"PROXY TCP4 not-an-address 10.0.0.5 1 2\r\n",
        b"PROXY TCP4 192.0.2.10 10.0.0.5 99999 3306\r\n",
        b"PROXY " + b"x" * 120,
        b"GET / HTTP/1.1\r\nHost: db\r\n\r\n",
    ],
    ids=["bad-address", "bad-port", "no-end", "http"],
)
def test_what_only_starts_like_a_header_is_not_taken(first):
    events = decode(login_after(first, before_greeting=True))
    assert not of(events, ProxyHeader)
    assert of(events, NotMySQL)  # the client spoke before the greeting, as without headers


def test_a_second_header_is_not_taken():
    events = decode(login_after(V1 + V1, before_greeting=False))
    assert len(of(events, ProxyHeader)) == 1
    assert not of(events, HandshakeResponse)  # "PROXY ..." bytes where the login should be


@given(st.ip_addresses(), st.integers(0, 0xFFFF), st.binary(max_size=40))
def test_v2_addresses_round_trip(address, port, tlvs):
    destination = ipaddress.ip_address("10.0.0.5" if address.version == 4 else "2001:db8::5")
    body = address.packed + destination.packed + struct.pack("!HH", port, 3306) + tlvs
    family = 0x11 if address.version == 4 else 0x21
    header = v2(family=family, body=body)
    fields = proxy_header.parse(header + b"login bytes")
    assert isinstance(fields, proxy_header.ProxyHeaderFields)
    expected = f"{address}:{port}" if address.version == 4 else f"[{address}]:{port}"
    assert fields.source == expected
    assert fields.size == len(header)
    for cut in range(1, len(header)):
        assert proxy_header.parse(header[:cut]) == proxy_header.NEED_MORE


def test_names_are_stable():
    assert names(decode(login_after(V1, before_greeting=True)))[0] == "ProxyHeader"


@pytest.mark.parametrize("first", [b"P", b"\r\n"], ids=["v1-start", "v2-start"])
def test_the_start_of_a_header_the_greeting_interrupts_is_the_client_speaking_first(first):
    events = decode(login_after(first, before_greeting=True))
    assert not of(events, ProxyHeader)
    assert one(events, NotMySQL).reason == "the client spoke before the server's greeting"
    assert one(events, NotMySQL).frame == 1


def test_the_start_of_a_header_then_the_end_of_the_connection_is_reported():
    events = decode([Chunk(CLIENT, b"PROX")], eof=True)
    assert one(events, NotMySQL).reason == "the client spoke before the server's greeting"


def test_bytes_after_a_header_before_the_greeting_go_on_to_the_login():
    chunks = login_after(V1, before_greeting=False)
    login = chunks[1].data[len(V1) :]
    events = decode([Chunk(CLIENT, V1 + login), chunks[0], *chunks[2:]])
    assert one(events, ProxyHeader).frame == 1
    assert one(events, HandshakeResponse).user == "app"
    assert not problems(events)


@pytest.mark.parametrize(
    "line",
    [b"PROXY TCP4 2001:db8::1 10.0.0.5 1 2\r\n", b"PROXY TCP6 fe80::1%eth0 2001:db8::5 1 2\r\n"],
    ids=["tcp4-with-ipv6", "scope-id"],
)
def test_v1_addresses_must_match_their_family(line):
    assert proxy_header.parse(line) is None
