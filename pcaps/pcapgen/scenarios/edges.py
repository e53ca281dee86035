"""Captures that do not hold a whole connection: started late, or stopped early."""

from __future__ import annotations

from ..clients import open_pymysql
from ..scenario import Context, scenario


def _queries(opened, count: int) -> None:
    cursor = opened.handle.cursor()
    for i in range(count):
        cursor.execute("SELECT id, name, qty FROM items WHERE qty >= %s LIMIT 3", (i,))
        cursor.fetchall()


@scenario(starts_capture=True)
def mid_stream_start(ctx: Context) -> None:
    """PyMySQL connects and runs 5 queries before tcpdump starts; the capture then sees 5
    more queries and the COM_QUIT, but no SYN, greeting or login: thread id, user and database
    are the truth but are not in the capture (handshake_captured false)."""
    opened = open_pymysql()
    _queries(opened, 5)
    ctx.start_capture()
    _queries(opened, 5)
    opened.handle.close()
    ctx.expect(
        opened,
        close="clean_quit",
        closed_by="client",
        findings=("mid_stream_start",),
        handshake_captured=False,
    )


@scenario(interface="any")
def open_at_end(ctx: Context) -> None:
    """Captured on -i any (Linux cooked capture). PyMySQL connects and runs 5 queries; tcpdump
    is stopped while the connection is still open, and only then is the connection closed
    (COM_QUIT, not in the capture)."""
    opened = open_pymysql()
    _queries(opened, 5)
    ctx.stop_capture()
    opened.handle.close()
    ctx.expect(opened, close="still_open_at_capture_end", closed_by="none")
