"""Properties, checked with hypothesis over conversations built with tests/mysql_builder.py.

* However each side's bytes are cut into segments, the same events come out: for plain,
  split (16 MB) and compressed streams, and for both sides taking turns.
* Whatever is done to real packets (bytes flipped, streams truncated, lengths and sequence ids
  bent, chunks dropped or repeated, gaps), nothing raises out of the decoder and what it holds
  stays bounded.
"""

from __future__ import annotations

import dataclasses
import itertools
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mysqlwire.protocol import MySQLDecoder
from mysqlwire.protocol.constants import CLIENT, MAX_PAYLOAD, SERVER
from mysqlwire.protocol.events import CommandFinished, Event
from mysqlwire.protocol.exchange import MAX_OUTSTANDING
from tests.mysql_builder import (
    DOUBLE,
    LONG,
    LONGLONG,
    PING,
    Chunk,
    Conversation,
    Param,
    application_data,
    change_cipher_spec,
    client_hello,
    column,
    err,
    greeting,
    local_infile_request,
    ok,
    prepare_response,
    query,
    result_set,
    server_hello,
    ssl_request,
    stmt_execute,
    stmt_prepare,
)
from tests.protocol.helpers import problems
from tests.protocol.test_detail_and_secrets import everything

# CI runs few examples; MYSQLWIRE_PROPERTY_SCALE=50 (say) searches much harder, locally.
SCALE = int(os.environ.get("MYSQLWIRE_PROPERTY_SCALE", "1"))


def examples(count: int) -> settings:
    return settings(
        max_examples=count * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )


FAST = examples(40)
SLOW = examples(6)

# --- conversations ------------------------------------------------------------------------

values = st.one_of(st.none(), st.text(max_size=12), st.binary(max_size=12))
names = st.text(alphabet="abcdefghij_", min_size=1, max_size=8)


@st.composite
def exchanges(draw, talk: Conversation, deprecate_eof: bool) -> None:
    """Add one command and its reply to `talk`."""
    kind = draw(
        st.sampled_from(["rows", "ok", "err", "ping", "prepared", "infile", "multi", "pipelined"])
    )
    if kind == "rows":
        columns = [column(draw(names)) for _ in range(draw(st.integers(1, 4)))]
        rows = draw(st.lists(st.lists(values, min_size=len(columns), max_size=len(columns))))
        talk.command(query(draw(st.text(max_size=40))))
        talk.server(*result_set(columns, rows, deprecate_eof=deprecate_eof))
    elif kind == "ok":
        talk.command(query("update t set a = 1"))
        talk.server(ok(draw(st.integers(0, 1 << 20)), info=draw(st.text(max_size=20))))
    elif kind == "err":
        talk.command(query("select nope"))
        talk.server(err(draw(st.integers(1000, 4000)), draw(st.text(max_size=30)), "42000"))
    elif kind == "ping":
        talk.command(PING).server(ok())
    elif kind == "prepared":
        columns = [column("a", LONGLONG), column("b", DOUBLE), column("c")]
        talk.command(stmt_prepare("select a, b, c from t where a > ?"))
        talk.server(*prepare_response(1, [column("?")], columns, deprecate_eof=deprecate_eof))
        talk.command(stmt_execute(1, [Param(LONG, draw(st.integers(-100, 100)))]))
        rows = [[1, 2.5, "x"], [None, None, None]]
        talk.server(*result_set(columns, rows, binary=True, deprecate_eof=deprecate_eof))
    elif kind == "infile":
        talk.command(query("load data local infile 'f' into table t"))
        talk.server(local_infile_request("f"))
        for piece in draw(st.lists(st.binary(min_size=1, max_size=50), max_size=3)):
            talk.client(piece)
        talk.client(b"").server(ok(1))
    elif kind == "multi":
        talk.command(query("select 1; select 2"))
        one = result_set([column("1")], [["1"]], deprecate_eof=deprecate_eof, more_results=True)
        talk.server(*one)
        talk.server(*result_set([column("2")], [["2"]], deprecate_eof=deprecate_eof))
    else:
        talk.command(query("select 1"), PING)  # each reply continues its own command's sequences
        first, second = talk.pipelined
        talk.server(
            *result_set([column("1")], [["1"]], deprecate_eof=deprecate_eof),
            seq=1,
            compressed_seq=first,
        )
        talk.server(ok(), seq=1, compressed_seq=second)


@st.composite
def conversations(draw, compression: bool = False) -> Conversation:
    deprecate_eof = draw(st.booleans())
    algorithm = draw(st.sampled_from(["zlib", "zstd"])) if compression else None
    talk = Conversation().login(deprecate_eof=deprecate_eof, compression=algorithm)
    if compression:
        talk.compress(draw(st.sampled_from(["zlib", "zstd", "stored"])), draw(st.integers(5, 400)))
    for _ in range(draw(st.integers(1, 5))):
        draw(exchanges(talk, deprecate_eof))
    return talk


def tls_conversation() -> Conversation:
    talk = Conversation().server(greeting(), seq=0).client(ssl_request())
    talk.raw(CLIENT, client_hello()).raw(SERVER, server_hello("TLS 1.3") + change_cipher_spec())
    talk.raw(CLIENT, change_cipher_spec() + application_data(300)).raw(SERVER, application_data())
    return talk


def split_conversation() -> Conversation:
    talk = Conversation().login()
    talk.command(query("select '" + "q" * MAX_PAYLOAD + "'"))
    talk.server(*result_set([column("big")], [["r" * (MAX_PAYLOAD - 1)]]))  # row = 0xFFFFFF
    talk.command(PING).server(ok())
    return talk


# --- cutting ------------------------------------------------------------------------------


def runs(chunks: list[Chunk]) -> list[tuple[int, bytes]]:
    """Consecutive chunks of one side joined: the bytes that side sent before the other
    answered. Within a run they may be cut anywhere without changing the conversation."""
    out: list[tuple[int, bytes]] = []
    for chunk in chunks:
        if out and out[-1][0] == chunk.side:
            out[-1] = (chunk.side, out[-1][1] + chunk.data)
        else:
            out.append((chunk.side, chunk.data))
    return out


@st.composite
def recut(draw, chunks: list[Chunk], max_cuts: int = 12) -> list[Chunk]:
    out = []
    for side, data in runs(chunks):
        cuts = sorted(draw(st.sets(st.integers(1, max(1, len(data) - 1)), max_size=max_cuts)))
        bounds = [0, *[c for c in cuts if c < len(data)], len(data)]
        out += [Chunk(side, data[a:b]) for a, b in itertools.pairwise(bounds) if b > a]
    return out


TIMING = {"frame", "ts", "started_frame", "started_ts", "latency"}
FIELDS: dict[type, list[str]] = {}


class _Fields(dict):
    def __missing__(self, kind: type) -> list[str]:
        self[kind] = [f.name for f in dataclasses.fields(kind)]
        return self[kind]


FIELDS = _Fields()


def without_timing(events: list[Event]) -> list[tuple]:
    """Events with where and when they happened left out: re-cutting moves bytes between
    segments, so only what was decoded can be compared."""
    return [
        (
            type(e).__name__,
            *(getattr(e, f.name) for f in dataclasses.fields(e) if f.name not in TIMING),
        )
        for e in events
    ]


def decode_chunks(chunks: list[Chunk], **options) -> list[Event]:
    decoder = MySQLDecoder(**options)
    out = []
    for number, chunk in enumerate(chunks, start=1):
        decoder.receive_data(chunk.side, chunk.data, number, float(number))
        out += decoder.events()
    decoder.receive_eof(len(chunks) + 1, float(len(chunks) + 1))
    return out + decoder.events()


def assert_cut_invariant(talk: Conversation, cut: list[Chunk], **options) -> None:
    whole = decode_chunks(talk.chunks, **options)
    assert problems(whole) == []
    assert without_timing(decode_chunks(cut, **options)) == without_timing(whole)


@FAST
@given(st.data())
def test_plain_streams_decode_the_same_however_they_are_cut(data):
    talk = data.draw(conversations())
    assert_cut_invariant(talk, data.draw(recut(talk.chunks)), detail=True)


@FAST
@given(st.data())
def test_compressed_streams_decode_the_same_however_they_are_cut(data):
    talk = data.draw(conversations(compression=True))
    assert_cut_invariant(talk, data.draw(recut(talk.chunks)), detail=True)


@FAST
@given(st.data())
def test_the_kitchen_sink_decodes_the_same_however_it_is_cut(data):
    variant = data.draw(
        st.sampled_from(
            [{}, {"deprecate_eof": True}, {"compression": "zlib"}, {"compression": "zstd"}]
        )
    )
    talk = everything(**variant)
    assert_cut_invariant(talk, data.draw(recut(talk.chunks, max_cuts=6)), detail=True)


@FAST
@given(st.data())
def test_tls_streams_decode_the_same_however_they_are_cut(data):
    talk = tls_conversation()
    assert_cut_invariant(talk, data.draw(recut(talk.chunks)), detail=True)


SPLIT = split_conversation()


@SLOW
@given(st.data())
def test_split_streams_decode_the_same_however_they_are_cut(data):
    assert_cut_invariant(SPLIT, data.draw(recut(SPLIT.chunks, max_cuts=8)), retain_limit=1 << 16)


@FAST
@given(st.data())
def test_cutting_inside_segments_keeps_even_the_frame_numbers(data):
    """Split each segment (never join two): every piece keeps its segment's frame number, and
    the events are identical, evidence included."""
    talk = data.draw(conversations(compression=data.draw(st.booleans())))

    def feed(pieces):
        decoder = MySQLDecoder(detail=True)
        out = []
        for number, side, chunk in pieces:
            decoder.receive_data(side, chunk, number, float(number))
            out += decoder.events()
        return out

    whole = [(n, c.side, c.data) for n, c in enumerate(talk.chunks, start=1)]
    pieces = []
    for number, side, chunk in whole:
        cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(chunk) - 1)), max_size=5)))
        bounds = [0, *[c for c in cuts if c < len(chunk)], len(chunk)]
        pieces += [(number, side, chunk[a:b]) for a, b in itertools.pairwise(bounds)]
    assert feed(pieces) == feed(whole)


# --- robustness ---------------------------------------------------------------------------

RETAIN = 2048


def retained(decoder: MySQLDecoder) -> dict[str, int]:
    """What the decoder holds besides its event queue, by kind."""
    held = {"events": len(decoder.pending), "exchanges": len(decoder.exchanges)}
    for side in (CLIENT, SERVER):
        framer = decoder._framers[side]
        held[f"plain{side}"] = len(framer._buf) - framer._pos + len(framer._head) + framer._kept
        compressed = decoder.compressed_framers[side]
        if compressed is not None:
            inner = compressed.inner
            held[f"compressed{side}"] = sum(map(len, compressed._body)) + len(compressed._head)
            held[f"inner{side}"] = len(inner._buf) - inner._pos + len(inner._head) + inner._kept
        held[f"held{side}"] = sum(len(d) for d, _f, _t in decoder.held[side])
    lane = decoder.fast_lane
    held["lane"] = lane.held_bytes + len(lane.carry) if lane is not None else 0
    return held


mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 10_000), st.integers(0, 200)),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.binary(min_size=1, max_size=20)),
    st.tuples(st.just("length"), st.integers(0, 10_000), st.integers(0, 0xFFFFFF)),
    st.tuples(st.just("seq"), st.integers(0, 10_000), st.integers(0, 255)),
    st.tuples(st.just("drop"), st.integers(0, 10_000), st.just(0)),
    st.tuples(st.just("repeat"), st.integers(0, 10_000), st.just(0)),
    st.tuples(st.just("gap"), st.integers(0, 10_000), st.integers(1, 5000)),
    st.tuples(st.just("swap"), st.integers(0, 10_000), st.just(0)),
)


def mutate(chunks: list[Chunk], mutations: list[tuple]) -> list[Chunk | tuple]:
    """Apply each mutation to the chunk it points at (modulo the count); gaps become
    ("gap", side, size) markers."""
    out: list[Chunk | tuple] = list(chunks)
    for kind, where, arg in mutations:
        if not out:
            break
        index = where % len(out)
        item = out[index]
        if not isinstance(item, Chunk):
            continue
        data = bytearray(item.data)
        position = where % max(1, len(data))
        if kind == "flip" and data:
            data[position] ^= arg
        elif kind == "truncate":
            data = data[: arg % (len(data) + 1)]
        elif kind == "insert":
            data[position:position] = arg
        elif kind == "length" and len(data) >= 3:
            data[0:3] = arg.to_bytes(3, "little")
        elif kind == "seq" and len(data) >= 4:
            data[3] = arg
        elif kind == "drop":
            del out[index]
            continue
        elif kind == "repeat":
            out.insert(index, item)
            continue
        elif kind == "gap":
            out.insert(index, ("gap", item.side, arg))
            continue
        elif kind == "swap" and index + 1 < len(out):
            out[index], out[index + 1] = out[index + 1], out[index]
            continue
        out[index] = Chunk(item.side, bytes(data))
    return out


def survive(items: list[Chunk | tuple], **options) -> MySQLDecoder:
    decoder = MySQLDecoder(retain_limit=RETAIN, **options)
    for number, item in enumerate(items, start=1):
        if isinstance(item, Chunk):
            decoder.receive_data(item.side, item.data, number, float(number))
        else:
            decoder.receive_gap(item[1], item[2], number, float(number), 0, True)
        decoder.events()
        held = retained(decoder)
        for kind, size in held.items():
            if kind.startswith(("plain", "inner")):
                assert size <= RETAIN + 64, held
            elif kind.startswith("compressed"):
                assert size <= MAX_PAYLOAD + 7, held
            elif kind.startswith("held"):
                assert size <= 128, held
        assert held["exchanges"] <= MAX_OUTSTANDING
    decoder.receive_eof(len(items) + 1, 0.0)
    decoder.events()
    return decoder


sources = st.one_of(
    conversations(),
    conversations(compression=True),
    st.sampled_from(
        [
            everything(),
            everything(deprecate_eof=True),
            everything(compression="zlib"),
            tls_conversation(),
        ]
    ),
)


@examples(150)
@given(
    sources,
    st.lists(mutation, min_size=1, max_size=8),
    st.booleans(),
    st.booleans(),
)
def test_mutated_real_packets_never_raise_and_memory_stays_bounded(
    talk, mutations, start_seen, detail
):
    survive(mutate(talk.chunks, mutations), start_seen=start_seen, detail=detail)


@examples(100)
@given(
    st.lists(st.tuples(st.sampled_from([CLIENT, SERVER]), st.binary(max_size=300)), max_size=30),
    st.booleans(),
)
def test_random_bytes_never_raise(chunks, start_seen):
    survive([Chunk(side, data) for side, data in chunks], start_seen=start_seen, detail=True)


def test_a_server_that_never_answers_does_not_grow_the_outstanding_commands():
    talk = Conversation().login()
    for _ in range(MAX_OUTSTANDING + 50):
        talk.command(PING)
    decoder = MySQLDecoder()
    finished = []
    for number, chunk in enumerate(talk.chunks, start=1):
        decoder.receive_data(chunk.side, chunk.data, number, float(number))
        finished += [e for e in decoder.events() if isinstance(e, CommandFinished)]
    assert len(decoder.exchanges) == MAX_OUTSTANDING
    assert len(finished) == 50 and {f.outcome for f in finished} == {"no_reply"}
