"""The sync protocol's rules: who wants what, and which streams are refused."""
from __future__ import annotations

import io
import struct

import msgpack
import pytest

from objstore.common.timestamp import Timestamp
from objstore.obj import layout
from objstore.obj.sync_protocol import (
    MAX_FRAME, FrameReader, ProtocolError, State, StreamEnded, body_frames, check_header,
    check_item, check_offer, end_count, pack, parse_results, parse_wants, wanted,
)

T = {n: Timestamp(1000 + n) for n in range(10)}
NO_RECLAIM = 0.0  # a cutoff no tombstone is older than


def state(data: int | None = None, meta: int | None = None, ts: int | None = None) -> State:
    return State(*(T[n] if n is not None else None for n in (data, meta, ts)))


@pytest.mark.parametrize("offered, held, want", [
    # a .data: wanted by a peer holding nothing, or anything older
    (state(data=5), state(), ["data"]),
    (state(data=5), state(data=4), ["data"]),
    (state(data=5), state(ts=4), ["data"]),
    (state(data=5), state(data=5), []),
    (state(data=5), state(data=6), []),
    (state(data=5), state(ts=6), []),
    # at equal times a .data beats a .ts (layout.resolve's tie rule)
    (state(data=5), state(ts=5), ["data"]),
    (state(ts=5), state(data=5), []),
    # a tombstone: wanted over anything older, never over something newer
    (state(ts=5), state(), ["ts"]),
    (state(ts=5), state(data=4, meta=8), ["ts"]),
    (state(ts=5), state(ts=5), []),
    (state(ts=5), state(data=6), []),
    # a .meta goes with its data, or over an older .data without a newer .meta
    (state(data=5, meta=7), state(), ["data", "meta"]),
    (state(data=5, meta=7), state(data=5), ["meta"]),
    (state(data=5, meta=7), state(data=5, meta=6), ["meta"]),
    (state(data=5, meta=7), state(data=5, meta=7), []),
    (state(data=5, meta=7), state(data=6), ["meta"]),  # a POST after the newer PUT
    (state(data=5, meta=7), state(data=8), []),
    (state(data=5, meta=7), state(ts=6), []),  # deleted there: the .meta would not count
])
def test_wanted_follows_the_layout_rules(offered: State, held: State, want: list[str]) -> None:
    assert wanted(offered, held, NO_RECLAIM) == want


def test_wanted_agrees_with_resolve_on_which_file_counts() -> None:
    # Whatever the peer holds, after taking what it wants its winner is the newest.
    now = Timestamp.now()
    for offered in (state(data=5), state(ts=5), state(data=5, meta=7)):
        for held in (state(), state(data=4), state(ts=5), state(data=5), state(data=6),
                     state(ts=6), state(data=5, meta=6)):
            names = set(held.file_names())
            names.update(name for kind in wanted(offered, held, NO_RECLAIM)
                         if (name := offered.file_name(kind)) is not None)
            both = set(held.file_names()) | set(offered.file_names())
            assert State.of(layout.resolve(list(names), now, 1e9)) == \
                State.of(layout.resolve(list(both), now, 1e9)), (offered, held)


def test_a_tombstone_the_peer_would_reclaim_is_not_wanted() -> None:
    assert wanted(state(ts=5), state(), float(T[5]) + 1) == []
    assert wanted(state(ts=5), state(), float(T[5]) - 1) == ["ts"]


def reader(data: bytes, step: int = 7) -> FrameReader:
    source = io.BytesIO(data)
    return FrameReader(lambda n: source.read(min(n, step)))


def test_frames_read_across_small_reads_and_end_cleanly() -> None:
    body = b"x" * 300_000
    stream = pack({"v": 1, "op": "push"}) + b"".join(f for f, _ in body_frames(iter([body])))
    frames = reader(stream, step=1000)
    assert frames.next() == {"v": 1, "op": "push"}
    assert frames.next() == body
    assert frames.at_end()


def test_streams_that_break_the_protocol_are_refused() -> None:
    header = pack({"v": 1, "op": "offer"})
    with pytest.raises(StreamEnded):
        reader(header[:-2]).next()
    with pytest.raises(StreamEnded):
        reader(header[:2]).next()
    cut = reader(header + header[:3])
    assert cut.next() == {"v": 1, "op": "offer"} and not cut.at_end()
    with pytest.raises(ProtocolError, match="not one msgpack object"):
        reader(struct.pack(">I", 5) + b"\xc1junk").next()
    with pytest.raises(ProtocolError, match="not one msgpack object"):  # two in one frame
        reader(struct.pack(">I", 2) + b"\x01\x02").next()
    with pytest.raises(ProtocolError, match="larger than"):
        reader(pack(b"x" * (MAX_FRAME + 10)), step=65536).next()
    with pytest.raises(ProtocolError, match="larger than"):  # refused before it is read
        FrameReader(lambda n: struct.pack(">I", 2 ** 32 - 1) if n else b"").next()
    with pytest.raises(ProtocolError, match="version 2"):
        check_header({"v": 2, "op": "push"}, ("push",))
    with pytest.raises(ProtocolError, match="unknown sync op"):
        check_header({"v": 1, "op": "delete"}, ("offer", "push"))
    with pytest.raises(ProtocolError):
        check_header([1, 2], ("push",))
    assert end_count({"end": 3}) == 3 and end_count({"hash": "x"}) is None
    with pytest.raises(ProtocolError):
        end_count({"end": -1})


GOOD_HASH = "0" * 29 + "abc"


def item(**changes: object) -> dict[str, object]:
    frame: dict[str, object] = {
        "hash": GOOD_HASH, "kind": "data", "timestamp": T[1].internal,
        "metadata": {"X-Timestamp": T[1].internal, "Content-Length": 3, "ETag": "e",
                     "name": "/a/c/o"}}
    frame.update(changes)
    return frame


@pytest.mark.parametrize("frame, problem", [
    (item(hash="../../etc"), "invalid object hash"),
    (item(hash="0" * 31 + "G"), "invalid object hash"),
    (item(hash=5), "invalid object hash"),
    (item(kind="exe"), "unknown kind"),
    (item(timestamp="yesterday"), "invalid timestamp"),
    (item(metadata=[1]), "metadata must be a map"),
    (item(metadata={"X-Timestamp": T[1].internal, "a": [1]}), "not text or a number"),
    (item(metadata={"X-Timestamp": T[2].internal, "Content-Length": 3, "ETag": "e"}),
     "is not the item's"),
    (item(metadata={"X-Timestamp": T[1].internal, "Content-Length": "3", "ETag": "e"}),
     "Content-Length"),
    (item(metadata={"X-Timestamp": T[1].internal, "Content-Length": 3}), "no ETag"),
    ({"hash": GOOD_HASH}, "bad push frame"),
    (item(extra=1), "bad push frame"),
    (item(table=b"\0" * 3), "table must be 4 bytes"),
    (item(table="abcd"), "table must be 4 bytes"),
    (item(kind="ts", table=b"\0" * 4), "only a .data has a table"),
])
def test_bad_push_items_are_refused_with_a_reason(frame: dict[str, object],
                                                  problem: str) -> None:
    with pytest.raises(ProtocolError, match=problem):
        check_item(frame)


def test_a_good_item_and_offer_pass() -> None:
    good = check_item(item())
    assert (good.name_hash, good.kind, good.timestamp, good.length) == (GOOD_HASH, "data",
                                                                        T[1], 3)
    assert good.table is None and check_item(item(table=b"\1" * 4)).table == b"\1" * 4
    assert check_offer(state(data=1, meta=2).offer_frame(GOOD_HASH)) == (GOOD_HASH,
                                                                          state(data=1, meta=2))
    for bad in ({"hash": GOOD_HASH, "data": None, "meta": None, "ts": None},
                {"hash": GOOD_HASH, "data": T[1].internal, "ts": T[2].internal},
                {"hash": GOOD_HASH, "data": T[3].internal, "meta": T[2].internal},
                {"hash": GOOD_HASH, "data": T[1].internal, "size": 5}):
        with pytest.raises(ProtocolError):
            check_offer(bad)


def test_answers_are_checked() -> None:
    assert parse_wants(pack({"v": 1, "want": {GOOD_HASH: ["data", "meta"]}})) == (
        {GOOD_HASH: ["data", "meta"]}, False)
    assert parse_wants(pack({"v": 1, "want": {}, "tables": True})) == ({}, True)
    assert parse_results(pack({"v": 1, "results": [[GOOD_HASH, "ts", "1", 201, ""]]})) == [
        (GOOD_HASH, "ts", "1", 201, "")]
    for bad in (b"\xc1", pack({"v": 9, "want": {}}), pack({"v": 1, "want": {GOOD_HASH: ["x"]}}),
                pack({"v": 1, "want": {"../x": ["data"]}}), pack([1]),
                msgpack.packb({"v": 1, "want": {}}), pack({"v": 1, "want": {}})[:-1]):
        with pytest.raises(ProtocolError):
            parse_wants(bad)
    with pytest.raises(ProtocolError):
        parse_results(pack({"v": 1, "results": [[GOOD_HASH, "ts", "1", "201", ""]]}))
