"""The table report: it fits a 100-column terminal whatever the addresses and numbers in it,
and says what it does not know."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mysqlwire.cli import main
from mysqlwire.protocol.constants import CLIENT
from tests.craft import TcpSession, pcap_bytes, write_capture
from tests.mysql_builder import Conversation, column, command, query, result_set

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
CAPTURES = sorted(p.name for p in PCAPS.glob("*.pcap*"))


def widest_line(*args: str) -> int:
    result = CliRunner().invoke(main, ["analyze", *args])
    assert result.exit_code in (0, 1), result.output
    return max(len(line) for line in result.stdout.splitlines())


@pytest.mark.parametrize("name", CAPTURES)
def test_every_capture_of_the_suite_fits_in_100_columns(name: str) -> None:
    stem = name.split(".pcap")[0]
    expected = json.loads((PCAPS / f"{stem}.expected.json").read_text())
    assert widest_line(str(PCAPS / name), *expected["analyze_options"]) <= 100


def test_long_ipv6_addresses_and_thread_ids_wrap_instead_of_widening(tmp_path: Path) -> None:
    talk = Conversation().login(thread_id=4_294_967_295, user="reporting_service")
    talk.command(query("select 1")).server(*result_set([column("1")], [["1"]]))
    talk.command(command(0x01))
    s = TcpSession(
        client=("2001:db8:aaaa:bbbb:cccc:dddd:eeee:1", 65535),
        server=("2001:db8:aaaa:bbbb:cccc:dddd:eeee:2", 3306),
    )
    s.handshake()
    for chunk in talk.chunks:
        (s.client_send if chunk.side == CLIENT else s.server_send)(chunk.data)
    s.client_rst()
    capture = write_capture(tmp_path / "v6.pcap", pcap_bytes(s.frames))
    assert widest_line(str(capture)) <= 100


def test_a_database_cut_off_by_the_snapshot_length_is_unknown_not_absent() -> None:
    # The login of truncated_snaplen.pcap was cut before its database (which was 'test').
    result = CliRunner().invoke(main, ["analyze", str(PCAPS / "truncated_snaplen.pcap")])
    row = next(line for line in result.stdout.splitlines() if "clean_quit" in line)
    assert "app@?" in row.split()
    plain = CliRunner().invoke(main, ["analyze", str(PCAPS / "clean_quit.pcap")])
    assert "app@test" in plain.stdout
