"""The committed capture suite (pcaps/): real clients against a real MariaDB, decoded.

Each capture's NAME.expected.json says what the scenario did (written from the clients, never
from mysqlwire). The decoder must agree on what the wire shows: thread id, login user and
schema, the ERR codes, the protocol findings (split packets, sequence errors, TLS, compression,
mid-stream start, gaps), and it must decode every capture without a malformed or unexpected
packet — except where the scenario itself explains the problem events (table below).
"""

from __future__ import annotations

import itertools
import json
import re
from functools import cache
from pathlib import Path

import pytest

from mysqlwire.protocol.constants import CLIENT, MAX_PAYLOAD, SERVER
from mysqlwire.protocol.events import (
    Command,
    Err,
    Greeting,
    HandshakeResponse,
    IncompletePacket,
    MalformedPacket,
    MidStreamStart,
    PacketEvent,
    ProxyHeader,
    Resynchronised,
    Row,
    SequenceError,
    StreamGap,
    UnexpectedPacket,
)
from tests.protocol.replay import DecodedConnection, decode_capture

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
EXPECTED = sorted(PCAPS.glob("*.expected.json"))

# Problem events a scenario explains, by capture: anything else is a decoder bug.
EXPLAINED_PROBLEMS = {
    "max_allowed_packet": {
        IncompletePacket: "the server answered ERR 1153 and reset the connection while the "
        "client was still sending its 2 MiB query: the query never arrives whole",
    },
    "sequence_error": {
        SequenceError: "the proxy shifted the sequence id of one reply on the client leg",
    },
    "truncated_snaplen": {
        IncompletePacket: "-s 128 cuts every long segment: greeting, login and rows lose bytes",
        Resynchronised: "a cut segment held the next packet headers: decoding resumes at the "
        "next command",
    },
}
PROBLEMS = (MalformedPacket, UnexpectedPacket, SequenceError, IncompletePacket, Resynchronised)

# Facts the capture cannot show, by (capture, field): each says why.
NOT_ON_THE_WIRE = {
    ("truncated_snaplen", "database"): "the snapshot length cut the login before the schema",
}


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def stem(path: Path) -> str:
    return path.name.removesuffix(".expected.json")


def server_ports(expected: dict) -> set[int]:
    ports = {int(c["server"].rsplit(":", 1)[1]) for c in expected["connections"]}
    options = expected["analyze_options"]
    ports |= {int(value) for flag, value in itertools.pairwise(options) if flag == "--port"}
    return ports


@cache
def decoded(name: str) -> dict[str, DecodedConnection]:
    expected = load(PCAPS / f"{name}.expected.json")
    capture = PCAPS / expected["capture"]
    connections = decode_capture(capture, server_ports(expected), detail=True)
    return {str(c.facts.client): c for c in connections}


def connection_cases() -> list:
    cases = []
    for path in EXPECTED:
        for index, connection in enumerate(load(path)["connections"]):
            cases.append(pytest.param(stem(path), connection, id=f"{stem(path)}[{index}]"))
    return cases


def endpoint(address: str) -> str:
    return re.sub(r"^\[(.*)\]", r"\1", address)


@pytest.mark.parametrize("path", EXPECTED, ids=stem)
def test_every_connection_of_the_capture_is_decoded(path):
    expected = load(path)
    found = decoded(stem(path))
    assert len(found) == expected["connection_count"]
    for connection in expected["connections"]:
        assert connection["client"] in found or endpoint(connection["client"]) in found


@pytest.mark.parametrize("path", EXPECTED, ids=stem)
def test_no_problem_event_the_scenario_does_not_explain(path):
    explained = EXPLAINED_PROBLEMS.get(stem(path), {})
    for connection in decoded(stem(path)).values():
        unexplained = [e for e in connection.of(*PROBLEMS) if type(e) not in explained]
        assert unexplained == [], str(connection.facts.client)


@pytest.mark.parametrize(("name", "connection"), connection_cases())
def test_greeting_and_login_facts_match_the_scenario(name, connection):
    decoded_connection = decoded(name)[connection["client"]]
    decoder = decoded_connection.decoder
    if connection.get("handshake_captured") is False:
        assert decoded_connection.of(Greeting) == []
        assert decoder.mid_stream
        return
    greetings = decoded_connection.of(Greeting)
    if connection["thread_id"] is not None:
        assert [g.thread_id for g in greetings] == [connection["thread_id"]]
    logins = decoded_connection.of(HandshakeResponse)
    if decoder.tls:
        assert logins == [], "the login travels encrypted after SSLRequest"
        return
    for field in ("user", "database"):
        value = connection[field]
        if value is None or (name, field) in NOT_ON_THE_WIRE:
            continue
        assert [getattr(login, field) for login in logins] == [value], field


@pytest.mark.parametrize(("name", "connection"), connection_cases())
def test_error_codes_match_the_scenario(name, connection):
    decoded_connection = decoded(name)[connection["client"]]
    assert [e.code for e in decoded_connection.of(Err)] == connection["error_codes"]


FINDINGS = {
    "split_packet": lambda c: any(e.wire_packets > 1 for e in c.of(PacketEvent)),
    "sequence_error": lambda c: bool(c.of(SequenceError)),
    "tls": lambda c: c.decoder.tls,
    "compressed": lambda c: c.decoder.compression is not None,
    "mid_stream_start": lambda c: bool(c.of(MidStreamStart)),
    "capture_gap": lambda c: bool(c.of(StreamGap)),
    "mysql_error": lambda c: bool(c.of(Err)),
    "oversize_packet": lambda c: any(e.code == 1153 for e in c.of(Err)),
    "proxy_header": lambda c: bool(c.of(ProxyHeader)),
}
# TCP facts, for the capture layer and the reporter: the decoder has no say in them.
TCP_FINDINGS = {"retransmissions", "rst_after_quit", "connection_refused", "middlebox_rst"}


@pytest.mark.parametrize(("name", "connection"), connection_cases())
def test_protocol_findings_of_the_scenario_are_visible(name, connection):
    decoded_connection = decoded(name)[connection["client"]]
    for finding in connection["findings"]:
        if finding in TCP_FINDINGS:
            continue
        assert FINDINGS[finding](decoded_connection), finding
    unexpected = {
        finding
        for finding in (
            "split_packet",
            "sequence_error",
            "tls",
            "compressed",
            "mid_stream_start",
            "proxy_header",
        )
        if finding not in connection["findings"] and FINDINGS[finding](decoded_connection)
    }
    assert unexpected == set()


@pytest.mark.parametrize(("name", "connection"), connection_cases())
def test_a_clean_quit_is_a_com_quit_on_the_wire(name, connection):
    decoder = decoded(name)[connection["client"]].decoder
    if connection["close"] == "clean_quit":
        assert decoder.quit_sent
    elif connection["close"] in ("client_fin_no_quit", "client_rst_no_quit", "auth_failed"):
        assert not decoder.quit_sent


def only_connection(name: str) -> DecodedConnection:
    (connection,) = decoded(name).values()
    return connection


def test_split_16mb_joins_query_and_row_with_their_logical_sizes():
    connection = only_connection("split_16mb")
    (query,) = [c for c in connection.of(Command) if c.wire_packets > 1]
    (row,) = [r for r in connection.of(Row) if r.wire_packets > 1]
    assert (query.side, query.size, query.wire_packets) == (CLIENT, 17_000_001, 2)
    # a 17,000,000-byte value: 0xFE and an 8-byte length before it
    assert (row.side, row.size, row.wire_packets) == (SERVER, 17_000_009, 2)
    assert row.values[0].endswith("…(17000000 bytes)")


def test_split_exact_ffffff_counts_the_empty_packet_that_ends_each_payload():
    connection = only_connection("split_exact_ffffff")
    (query,) = [c for c in connection.of(Command) if c.wire_packets > 1]
    (row,) = [r for r in connection.of(Row) if r.wire_packets > 1]
    assert (query.size, query.wire_packets) == (MAX_PAYLOAD, 2)
    assert (row.size, row.wire_packets) == (MAX_PAYLOAD, 2)


def test_sequence_error_is_seen_on_the_client_leg_only_with_the_drivers_words():
    legs = decoded("sequence_error")
    client_leg = next(c for c in legs.values() if c.facts.server.port == 3307)
    server_leg = next(c for c in legs.values() if c.facts.server.port == 3306)
    (error,) = client_leg.of(SequenceError)
    assert (error.side, error.expected, error.got) == (SERVER, 1, 6)
    assert "ErrPktSyncMul" in error.driver_error
    assert server_leg.of(SequenceError) == []


def test_max_allowed_packet_err_1153_arrives_while_the_query_is_still_being_sent():
    connection = only_connection("max_allowed_packet")
    (error,) = connection.of(Err)
    assert error.code == 1153
    (cut,) = connection.of(IncompletePacket)
    assert cut.side == CLIENT and cut.expected > 2 * 1024 * 1024
