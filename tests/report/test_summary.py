"""The capture-wide summary on real captures: abort counters, errors by code, leak suspects."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from mysqlwire.pipeline import AnalysisOptions, analyze
from mysqlwire.report.summary import SPANS_PER_CLIENT, ClientTally

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"


def summary_of(name: str) -> dict:
    return analyze([PCAPS / name], AnalysisOptions(), lambda report: None).summary


def test_go_leak_is_the_classic_case() -> None:
    summary = summary_of("go_too_many_connections.pcap")
    assert summary["by_verdict"] == {"client_fin_no_quit": 10, "server_closed_error": 1}
    assert summary["aborted_clients"] == 10
    assert summary["errors_by_code"] == [{"code": 1040, "name": "ER_CON_COUNT_ERROR", "count": 1}]
    [leak] = summary["leaking_clients"]
    assert leak["client"] == "127.0.0.1"
    assert leak["closed_with_quit"] == 0
    assert leak["too_many_connections"] == 1
    assert leak["max_open"] >= 10


def test_busy_mix_of_mostly_well_behaved_clients_is_no_leak() -> None:
    summary = summary_of("busy_mix.pcap")
    assert summary["leaking_clients"] == []
    assert summary["by_verdict"]["clean_quit"] == 14
    assert summary["aborted_clients"] == 5  # 4 FIN + 1 RST without COM_QUIT
    assert summary["clients_by_aborted"] == [
        {"client": "127.0.0.1", "aborted": 5, "connections": 20}
    ]


def test_failed_logins_count_as_aborted_connects() -> None:
    summary = summary_of("wrong_password.pcap")
    assert summary["aborted_connects"] == 1
    assert summary["aborted_clients"] == 0


def test_clean_traffic_raises_no_counter() -> None:
    summary = summary_of("clean_quit.pcap")
    assert (summary["aborted_clients"], summary["aborted_connects"]) == (0, 0)
    assert summary["connections_by_severity"] == {}


def test_a_1040_alone_does_not_make_a_well_behaved_client_a_suspect() -> None:
    summary = summary_of("max_connections.pcap")  # 11 of 13 connections closed with COM_QUIT
    assert summary["errors_by_code"][0]["code"] == 1040
    assert summary["leaking_clients"] == []


def test_finding_counts_are_totals_not_the_listed_ones() -> None:
    from mysqlwire.report.connection_report import ConnectionRecorder
    from mysqlwire.report.findings import finding

    recorder = ConnectionRecorder()
    for frame in range(50):
        recorder.add(finding("mysql_error", frame, 0.0, "ERR 1064"))
    listed = [f for f in recorder.findings if f.kind == "mysql_error"]
    assert len(listed) == 20
    assert recorder.finding_counts["mysql_error"] == 50


def test_summary_does_not_depend_on_report_order() -> None:
    import random

    from mysqlwire.report.summary import SummaryBuilder

    reports: list = []
    analyze([PCAPS / "busy_mix.pcap"], AnalysisOptions(), reports.append)
    forward, shuffled = SummaryBuilder(), SummaryBuilder()
    for report in reports:
        forward.add(report)
    random.Random(7).shuffle(reports)
    for report in reports:
        shuffled.add(report)
    assert forward.result() == shuffled.result()


# -- a client's connection spans --------------------------------------------------------------

spans_strategy = st.lists(
    st.tuples(st.integers(0, 50), st.integers(0, 20)).map(
        lambda pair: (float(pair[0]), float(pair[0] + pair[1]))
    ),
    max_size=60,
)


@given(spans_strategy)
def test_a_clients_spans_are_kept_in_start_order_whatever_order_they_come_in(spans) -> None:
    tally = ClientTally()
    for start, end in spans:
        tally.add_span(start, end)
    assert list(zip(tally.starts, tally.ends, strict=True)) == sorted(spans)


@given(spans_strategy)
def test_max_open_is_the_most_spans_open_at_one_instant(spans) -> None:
    tally = ClientTally()
    for start, end in spans:
        tally.add_span(start, end)
    # open at instant t: start <= t < end; the peak is reached at some span's start
    expected = max((sum(1 for s, e in spans if s <= t < e) for t, _ in spans), default=0)
    assert tally.max_open() == expected


def test_past_the_cap_the_earliest_starting_spans_are_kept() -> None:
    tally = ClientTally()
    for start in range(SPANS_PER_CLIENT + 10, 0, -1):  # latest first
        tally.add_span(float(start), float(start) + 0.5)
    assert len(tally.starts) == SPANS_PER_CLIENT
    assert tally.starts[0] == 1.0 and tally.starts[-1] == float(SPANS_PER_CLIENT)
    tally.add_span(1e9, 1e9 + 1)  # later than every kept span: not kept
    assert tally.starts[-1] == float(SPANS_PER_CLIENT)
