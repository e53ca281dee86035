"""The close classifier, one rule at a time, from TCP facts and MySQL facts alone.

Each test states an ending as the wire shows it and the verdict it must get. Real captures of
the same endings are checked in test_capture_suite.py; these cover the combinations a real
server will not produce on demand (ERR 4031, non-fatal errors before a close, TLS resets, ...).
"""

from __future__ import annotations

from ipaddress import ip_address

from capture.facts import C2S, S2C, ControlSegment, Direction, Endpoint, TcpFacts
from mysqlwire.report.close_classifier import (
    CloseEvidence,
    CommandSpan,
    ServerError,
    classify,
)

CLIENT = Endpoint(ip_address("10.0.0.1").packed, 50000)
SERVER = Endpoint(ip_address("10.0.0.2").packed, 3306)
ACK, FIN, RST = 0x10, 0x01, 0x04


def facts(
    *closes: ControlSegment,
    ttl: tuple[int, int] = (64, 64),
    refused: bool = False,
    evicted: bool = False,
) -> TcpFacts:
    result = TcpFacts(
        conn_id=1,
        client=CLIENT,
        server=SERVER,
        role_source="syn",
        first_frame=1,
        first_ts=100.0,
        last_frame=99,
        last_ts=200.0,
    )
    result.ttls = [{ttl[0]: 20}, {ttl[1]: 20}]
    result.refused = refused
    result.evicted = evicted
    for close in closes:
        (result.fins if close.kind == "FIN" else result.rsts).append(close)
    return result


def close(
    kind: str, sender: Direction, frame: int, ts: float, ttl: int = 64, window: int = 512
) -> ControlSegment:
    flags = (FIN if kind == "FIN" else RST) | ACK
    return ControlSegment(kind, sender, frame, ts, ttl, window, flags, True, 0, 0, 0)


def evidence(tcp: TcpFacts, **mysql: object) -> CloseEvidence:
    defaults: dict[str, object] = {
        "greeting_seen": True,
        "authenticated": True,
        "activity": [(10, 150.0)],
    }
    defaults.update(mysql)
    return CloseEvidence(facts=tcp, **defaults)  # type: ignore[arg-type]


def verdict(tcp: TcpFacts, **mysql: object) -> tuple[str, str]:
    result = classify(evidence(tcp, **mysql))
    return result.close, result.closed_by


def test_syn_answered_by_rst_is_refused() -> None:
    tcp = facts(close("RST", S2C, 2, 100.1), refused=True)
    assert verdict(tcp, greeting_seen=False, authenticated=False) == (
        "connection_refused",
        "server",
    )


def test_no_fin_or_rst_is_still_open() -> None:
    result = classify(evidence(facts()))
    assert (result.close, result.closed_by) == ("still_open_at_capture_end", "none")
    assert result.idle_before_close == 50.0  # capture end (200) minus last activity (150)


def test_evicted_connection_says_so() -> None:
    result = classify(evidence(facts(evicted=True)))
    assert result.close == "still_open_at_capture_end"
    assert "evicted" in result.reason


def test_rst_with_another_ttl_is_a_middlebox() -> None:
    tcp = facts(close("RST", S2C, 40, 160.0, ttl=64, window=0), ttl=(63, 63))
    result = classify(evidence(tcp))
    assert (result.close, result.closed_by) == ("middlebox_rst", "middlebox")
    assert "TTL 64" in result.reason and "TTL 63" in result.reason


def test_rst_with_the_senders_ttl_is_the_sender() -> None:
    tcp = facts(close("RST", C2S, 40, 160.0, ttl=64))
    assert verdict(tcp) == ("client_rst_no_quit", "client")


def test_quit_then_server_fin_first_is_clean() -> None:
    tcp = facts(close("FIN", S2C, 41, 160.1), close("FIN", C2S, 42, 160.2))
    assert verdict(tcp, quit_frame=40, quit_ts=160.0) == ("clean_quit", "client")


def test_quit_after_the_close_does_not_make_it_clean() -> None:
    tcp = facts(close("FIN", S2C, 41, 160.1))
    assert verdict(tcp, quit_frame=45, quit_ts=161.0)[0] != "clean_quit"


def test_tls_fin_cannot_tell_quit() -> None:
    tcp = facts(close("FIN", S2C, 41, 160.1), close("FIN", C2S, 42, 160.2))
    assert verdict(tcp, tls=True) == ("closed_under_tls", "server")


def test_tls_client_reset_is_still_a_reset() -> None:
    tcp = facts(close("RST", C2S, 41, 160.1))
    assert verdict(tcp, tls=True) == ("client_rst_no_quit", "client")


def test_greeting_time_1040_blames_the_server_even_if_the_client_fins_first() -> None:
    tcp = facts(close("FIN", C2S, 5, 100.3), close("FIN", S2C, 6, 100.4))
    error = ServerError(1040, "greeting", 4, 100.2)
    assert verdict(tcp, greeting_seen=True, authenticated=False, last_error=error) == (
        "server_closed_error",
        "server",
    )


def test_access_denied_is_auth_failed() -> None:
    tcp = facts(close("FIN", S2C, 9, 100.5))
    error = ServerError(1045, "authentication", 8, 100.4)
    assert verdict(tcp, authenticated=False, last_error=error) == ("auth_failed", "server")


def test_host_not_allowed_in_place_of_greeting_is_auth_failed() -> None:
    tcp = facts(close("FIN", S2C, 5, 100.3))
    error = ServerError(1130, "greeting", 4, 100.2)
    assert verdict(tcp, authenticated=False, last_error=error) == ("auth_failed", "server")


def test_idle_timeout_err_4031_is_server_closed_idle() -> None:
    tcp = facts(close("FIN", S2C, 51, 180.0))
    error = ServerError(4031, "idle", 50, 180.0)
    assert verdict(tcp, last_error=error) == ("server_closed_idle", "server")


def test_query_error_then_client_fin_is_the_clients_doing() -> None:
    tcp = facts(close("FIN", C2S, 31, 170.0))
    error = ServerError(1064, "command", 30, 169.9)
    commands = [CommandSpan("COM_QUERY", 29, 169.8, 30)]
    assert verdict(tcp, last_error=error, recent_commands=commands) == (
        "client_fin_no_quit",
        "client",
    )


def test_query_error_then_server_close_is_server_closed_error() -> None:
    tcp = facts(close("FIN", S2C, 31, 170.0))
    error = ServerError(1317, "command", 30, 169.9)
    commands = [CommandSpan("COM_QUERY", 29, 169.8, 30)]
    assert verdict(tcp, last_error=error, recent_commands=commands) == (
        "server_closed_error",
        "server",
    )


def test_packet_too_large_then_server_rst() -> None:
    tcp = facts(close("RST", S2C, 19, 120.0))
    error = ServerError(1153, "command", 18, 119.9)
    assert verdict(tcp, last_error=error) == ("server_closed_error", "server")


def test_an_error_followed_by_more_commands_did_not_end_the_connection() -> None:
    tcp = facts(close("FIN", S2C, 60, 190.0))
    error = ServerError(1040, "command", 30, 169.9)
    commands = [CommandSpan("COM_QUERY", 40, 180.0, 41)]
    assert verdict(tcp, last_error=error, recent_commands=commands) == (
        "server_closed_idle",
        "server",
    )


def test_client_leaving_during_handshake() -> None:
    tcp = facts(close("FIN", C2S, 5, 100.3))
    assert verdict(tcp, authenticated=False) == ("handshake_aborted", "client")


def test_server_closing_a_silent_handshake_is_handshake_aborted() -> None:
    tcp = facts(close("FIN", S2C, 5, 110.3))  # connect_timeout: no login ever came
    assert verdict(tcp, authenticated=False) == ("handshake_aborted", "server")


def test_server_close_with_command_outstanding_is_killed() -> None:
    tcp = facts(close("FIN", S2C, 45, 175.0))
    commands = [CommandSpan("COM_QUERY", 40, 170.0, None)]
    result = classify(evidence(tcp, recent_commands=commands))
    assert (result.close, result.closed_by) == ("killed_by_server", "server")
    assert result.last_command == "COM_QUERY"


def test_server_close_after_the_reply_is_idle_with_idle_time() -> None:
    tcp = facts(close("RST", S2C, 45, 178.0))  # MariaDB's wait_timeout closes with RST
    commands = [CommandSpan("COM_QUERY", 40, 170.0, 41)]
    result = classify(evidence(tcp, recent_commands=commands, activity=[(41, 170.5)]))
    assert (result.close, result.closed_by) == ("server_closed_idle", "server")
    assert result.idle_before_close == 7.5


def test_reply_after_the_close_still_counts_as_outstanding() -> None:
    tcp = facts(close("FIN", S2C, 45, 175.0))
    commands = [CommandSpan("COM_QUERY", 40, 170.0, 46)]
    assert verdict(tcp, recent_commands=commands) == ("killed_by_server", "server")
