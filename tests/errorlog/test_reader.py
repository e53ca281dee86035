"""Reading whole files: gzip, streaming, counting what is not read, pairing, failures."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from mysqlwire.errorlog import (
    ErrorLogRecord,
    ErrorLogUnreadable,
    Kind,
    ReadOutcome,
    UnmatchedLine,
    iter_error_log,
    read_error_log,
)

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
GO_LEAK_LOG = PCAPS / "go_too_many_connections.error.log"

READ_76 = (
    "2026-11-24  9:40:22 76 [Warning] Could not read packet: fd: 65  state: 1  read_length: 4"
    "  errno: 11  vio_errno: 1158  length: 0"
)
ABORT_76 = (
    "2026-11-24  9:40:22 76 [Warning] Aborted connection 76 to db: 'test' user: 'app' "
    "host: '127.0.0.1' (Got an error reading communication packets)"
)
STARTUP = [
    "2026-11-24  9:39:30 0 [Note] Starting MariaDB 10.11.19-MariaDB-0+deb12u1 source "
    "revision  as process 4242",
    "2026-11-24  9:39:30 0 [Note] InnoDB: Buffer pool(s) load completed at 261124  9:39:30",
    "Version: '10.11.19-MariaDB-0+deb12u1'  socket: '/tmp/mysqld.sock'  port: 3306  Debian 12",
]


def write(path: Path, lines: list[str], newline: str = "\n") -> Path:
    path.write_bytes("".join(line + newline for line in lines).encode())
    return path


def test_a_gzip_log_reads_like_the_plain_one(tmp_path):
    compressed = tmp_path / "mysqld.err.1.gz"
    with GO_LEAK_LOG.open("rb") as source, gzip.open(compressed, "wb") as target:
        shutil.copyfileobj(source, target)
    plain, gz = read_error_log(GO_LEAK_LOG), read_error_log(compressed)
    assert gz.records == plain.records
    assert gz.counts == plain.counts == {"could_not_read_packet": 10, "aborted_connection": 10}


def test_unmatched_lines_are_counted_and_listed_with_their_numbers(tmp_path):
    path = write(tmp_path / "err.log", [*STARTUP, READ_76, "", ABORT_76])
    log = read_error_log(path)
    assert log.lines == 6
    assert log.unmatched_count == 3
    assert log.counts["unmatched"] == 3
    assert [(u.line_number, u.has_prefix) for u in log.unmatched] == [
        (1, True),
        (2, True),
        (3, False),
    ]
    assert log.unmatched[2].text == STARTUP[2]
    assert [r.line_number for r in log.records] == [4, 6]


def test_only_the_first_unmatched_lines_are_kept_but_all_are_counted(tmp_path):
    path = write(tmp_path / "err.log", STARTUP * 10)
    log = read_error_log(path, unmatched_kept_limit=4)
    assert log.unmatched_count == 30
    assert len(log.unmatched) == 4


def test_streaming_yields_records_and_unmatched_lines_in_file_order(tmp_path):
    path = write(tmp_path / "err.log", [STARTUP[0], READ_76, ABORT_76])
    items = list(iter_error_log(path))
    assert [type(item) for item in items] == [UnmatchedLine, ErrorLogRecord, ErrorLogRecord]


def test_crlf_line_endings_are_not_part_of_the_record(tmp_path):
    path = write(tmp_path / "err.log", [READ_76, ABORT_76], newline="\r\n")
    log = read_error_log(path)
    assert [r.raw for r in log.records] == [READ_76, ABORT_76]


def test_bytes_that_are_not_utf8_do_not_stop_the_reader(tmp_path):
    path = tmp_path / "err.log"
    path.write_bytes(ABORT_76.replace("'app'", "'caf\xe9'").encode("latin-1") + b"\n")
    (record,) = read_error_log(path).records
    assert record.user == "caf\ufffd"


def test_the_abort_carries_the_read_of_the_same_thread_that_came_before(tmp_path):
    read_77 = READ_76.replace(" 76 ", " 77 ").replace("errno: 11 ", "errno: 104 ")
    read_77 = read_77.replace("length: 0", "length: -1")
    abort_77 = ABORT_76.replace(" 76 ", " 77 ")
    path = write(tmp_path / "err.log", [READ_76, read_77, abort_77, ABORT_76])
    aborts = read_error_log(path).of_kind(Kind.ABORTED_CONNECTION)
    assert [(r.thread_id, r.paired_line_number, r.read_outcome) for r in aborts] == [
        (77, 2, ReadOutcome.RESET),
        (76, 1, ReadOutcome.EOF),
    ]


def test_a_read_is_not_paired_with_an_abort_long_after_it(tmp_path):
    # A restart in between: thread ids start again, so a late abort is another connection.
    late_abort = ABORT_76.replace("9:40:22", "9:52:01")
    path = write(tmp_path / "err.log", [READ_76, late_abort])
    (abort,) = read_error_log(path).of_kind(Kind.ABORTED_CONNECTION)
    assert abort.paired_line_number is None
    assert abort.read_outcome is None


def test_an_abort_without_a_read_line_has_no_socket_fields(tmp_path):
    path = write(tmp_path / "err.log", [ABORT_76])
    (abort,) = read_error_log(path).records
    assert (abort.paired_line_number, abort.errno, abort.read_outcome) == (None, None, None)


def test_a_missing_log_raises_a_one_line_error(tmp_path):
    missing = tmp_path / "nope.err"
    with pytest.raises(ErrorLogUnreadable) as raised:
        read_error_log(missing)
    message = str(raised.value)
    assert "\n" not in message
    assert str(missing) in message
    assert "No such file or directory" in message


def test_streaming_a_missing_log_raises_at_the_call_not_at_the_first_record(tmp_path):
    with pytest.raises(ErrorLogUnreadable):
        iter_error_log(tmp_path / "nope.err")


def test_a_directory_is_not_a_log(tmp_path):
    with pytest.raises(ErrorLogUnreadable, match="Is a directory"):
        read_error_log(tmp_path)


def test_a_truncated_gzip_log_raises_with_the_last_line_read(tmp_path):
    compressed = gzip.compress(GO_LEAK_LOG.read_bytes() * 50)
    path = tmp_path / "cut.err.gz"
    path.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(ErrorLogUnreadable, match=r"after line \d+"):
        read_error_log(path)


def test_an_empty_log_has_nothing(tmp_path):
    log = read_error_log(write(tmp_path / "err.log", []))
    assert (log.lines, log.records, log.unmatched_count) == (0, [], 0)
