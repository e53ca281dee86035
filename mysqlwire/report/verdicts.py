"""The close verdicts: one per connection, saying how it ended and who ended it.

Each verdict has a severity (what `--fail-on` weighs) and the server status counter it moves.
The counters are MySQL's and MariaDB's `Aborted_clients` (an authenticated session that ended
without COM_QUIT: client vanished, wait_timeout, killed, packet too large) and
`Aborted_connects` (a connection attempt that never authenticated), as described in
https://dev.mysql.com/doc/refman/8.0/en/communication-errors.html . They are estimates from
the wire: a server's own bookkeeping has corner cases the capture cannot see.
"""

from __future__ import annotations

from dataclasses import dataclass

from capture.facts import reduce_by_fields

ABORTED_CLIENTS = "Aborted_clients"
ABORTED_CONNECTS = "Aborted_connects"


@dataclass(frozen=True, slots=True)
class VerdictKind:
    name: str
    severity: str | None  # None: nothing wrong
    meaning: str

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return reduce_by_fields(self)


VERDICTS: dict[str, VerdictKind] = {
    v.name: v
    for v in (
        VerdictKind("clean_quit", None, "COM_QUIT from the client, then the close"),
        VerdictKind(
            "client_fin_no_quit",
            "warning",
            "the client closed (FIN) without COM_QUIT: the application did not close "
            "its connection",
        ),
        VerdictKind("client_rst_no_quit", "warning", "the client reset (RST) without COM_QUIT"),
        VerdictKind(
            "handshake_aborted", "warning", "the connection ended before authentication finished"
        ),
        VerdictKind("auth_failed", "error", "the server refused the login with an ERR"),
        VerdictKind(
            "server_closed_error",
            "error",
            "the server sent an ERR outside authentication and closed",
        ),
        VerdictKind(
            "server_closed_idle",
            "warning",
            "the server closed an idle connection (wait_timeout, KILL of an idle session)",
        ),
        VerdictKind(
            "killed_by_server",
            "error",
            "the server closed while a command was outstanding, without an ERR",
        ),
        VerdictKind(
            "middlebox_rst",
            "error",
            "an RST that neither endpoint sent (firewall, NAT, load balancer)",
        ),
        VerdictKind("still_open_at_capture_end", None, "no FIN or RST before the capture ended"),
        VerdictKind("connection_refused", "error", "the SYN was answered by an RST"),
        VerdictKind(
            "closed_under_tls",
            None,
            "a TLS connection closed by FIN: whether COM_QUIT was sent is invisible",
        ),
    )
}

CLOSED_BY = ("client", "server", "middlebox", "none")


def server_counter(close: str, authenticated: bool) -> str | None:
    """Which of the server's abort counters this connection's end would have moved."""
    if close in (
        "clean_quit",
        "still_open_at_capture_end",
        "connection_refused",
        "closed_under_tls",
    ):
        return None
    if close in ("handshake_aborted", "auth_failed"):
        return ABORTED_CONNECTS
    return ABORTED_CLIENTS if authenticated else ABORTED_CONNECTS
