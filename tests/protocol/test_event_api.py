"""The decoder's two ways of handing out events, h11 style one at a time (`next_event`) or
in batches (`events`), give the same events in the same order, mixed or not."""

from __future__ import annotations

from mysqlwire.protocol import NEED_DATA, MySQLDecoder
from tests.mysql_builder import Conversation, column, query, result_set


def test_events_one_at_a_time_are_the_same_events_in_the_same_order():
    talk = (
        Conversation()
        .login()
        .command(query("select 1"))
        .server(*result_set([column("1")], [["1"], ["2"]]))
    )
    batch, single = MySQLDecoder(detail=True), MySQLDecoder(detail=True)
    for chunk_number, chunk in enumerate(talk.chunks, 1):
        batch.receive_data(chunk.side, chunk.data, chunk_number, float(chunk_number))
        single.receive_data(chunk.side, chunk.data, chunk_number, float(chunk_number))
    expected = batch.events()
    pulled = []
    while (event := single.next_event()) is not NEED_DATA:
        pulled.append(event)
    assert pulled == expected and len(expected) > 5
    mixed = MySQLDecoder(detail=True)
    for chunk_number, chunk in enumerate(talk.chunks, 1):
        mixed.receive_data(chunk.side, chunk.data, chunk_number, float(chunk_number))
    first, second = mixed.next_event(), mixed.next_event()
    assert [first, second, *mixed.events()] == expected
    assert mixed.next_event() is NEED_DATA and mixed.events() == []


def test_drained_batches_are_the_same_events_and_each_batch_stays_whole_until_the_next():
    talk = (
        Conversation()
        .login()
        .command(query("select 1"))
        .server(*result_set([column("1")], [["1"], ["2"]]))
        .command(query("select 2"))
        .server(*result_set([column("2")], [["3"]]))
    )
    reference, drained = MySQLDecoder(detail=True), MySQLDecoder(detail=True)
    expected, batches = [], []
    for chunk_number, chunk in enumerate(talk.chunks, 1):
        for decoder in (reference, drained):
            decoder.receive_data(chunk.side, chunk.data, chunk_number, float(chunk_number))
        expected += reference.events()
        batch = drained.drain_events()
        batches.append(list(batch))  # a copy: the decoder takes the list back next time
        assert batch == batches[-1]
    assert [event for batch in batches for event in batch] == expected
    assert len([batch for batch in batches if batch]) > 2
    first = drained.next_event()  # nothing pending: next_event and drain_events agree
    assert first is NEED_DATA and drained.drain_events() == []
