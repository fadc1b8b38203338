"""ContainerBroker: object rows merged newest-wins, statistics, and Swift's listing."""
from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from objstore.common.timestamp import Timestamp
from objstore.container.broker import ContainerBroker

ETAG = "d41d8cd98f00b204e9800998ecf8427e"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[ContainerBroker]:
    made = ContainerBroker(str(tmp_path / "c.db"))
    made.initialize(Timestamp(1), account="AUTH_a", container="photos", storage_policy_index=2)
    yield made
    made.close()


def fill(broker: ContainerBroker, names: list[str]) -> None:
    for offset, name in enumerate(names):
        broker.put_object(name, Timestamp(1000, delta=offset), len(name), "text/plain", ETAG)


def names_of(listing: list[dict[str, Any]]) -> list[str]:
    return [entry["name"] if "name" in entry else entry["subdir"] for entry in listing]


# --- rows and statistics -----------------------------------------------------------


def test_info_holds_the_container_and_its_policy(broker: ContainerBroker) -> None:
    info = broker.get_info()
    assert (info["account"], info["container"], info["storage_policy_index"]) == \
        ("AUTH_a", "photos", 2)
    assert (info["object_count"], info["bytes_used"]) == (0, 0)
    assert broker.empty()


def test_a_listed_object_says_what_swift_says(broker: ContainerBroker) -> None:
    broker.put_object("cat.jpg", Timestamp("1700000000.12345"), 2048, "image/jpeg", ETAG)
    assert broker.list_objects() == [{
        "name": "cat.jpg", "hash": ETAG, "bytes": 2048, "content_type": "image/jpeg",
        "last_modified": "2023-11-14T22:13:20.123450",
    }]


def test_statistics_count_live_objects_only(broker: ContainerBroker) -> None:
    broker.put_object("a", Timestamp(10), 100, "t", ETAG)
    broker.put_object("b", Timestamp(10), 20, "t", ETAG)
    broker.put_object("c", Timestamp(10), 3, "t", ETAG)
    broker.put_object("a", Timestamp(11), 1000, "t", ETAG)  # overwritten
    broker.delete_object("b", Timestamp(12))
    info = broker.get_info()
    assert (info["object_count"], info["bytes_used"]) == (2, 1003)
    assert names_of(broker.list_objects()) == ["a", "c"]
    broker.delete_object("a", Timestamp(13))
    broker.delete_object("c", Timestamp(13))
    assert broker.empty() and broker.list_objects() == []
    assert len(broker.get_items_since(-1, 10)) == 3  # the tombstones stay for replication


def test_a_head_reads_the_statistics_without_scanning_rows(broker: ContainerBroker) -> None:
    fill(broker, [f"o{i}" for i in range(50)])
    broker.get_info()  # merges the pending rows
    statements: list[str] = []
    broker._connection().set_trace_callback(statements.append)
    assert broker.get_info()["object_count"] == 50
    assert not any("object" in s.lower().split("from", 1)[-1] for s in statements)


def test_an_older_put_after_a_delete_is_ignored(broker: ContainerBroker) -> None:
    broker.delete_object("a", Timestamp(20))
    broker.put_object("a", Timestamp(10), 5, "t", ETAG)
    assert broker.list_objects() == [] and broker.empty()
    broker.put_object("a", Timestamp(30), 5, "t", ETAG)
    assert names_of(broker.list_objects()) == ["a"]


def test_any_order_of_updates_gives_the_same_container(tmp_path: Path) -> None:
    updates = [("a", 3, 30, False), ("a", 1, 10, False), ("a", 2, 0, True),
               ("b", 5, 0, True), ("b", 4, 40, False)]
    outcomes = set()
    for number, order in enumerate(itertools.permutations(updates)):
        with ContainerBroker(str(tmp_path / f"{number}.db")) as made:
            made.initialize(Timestamp(1))
            for name, stamp, size, deleted in order:
                made.put_object(name, Timestamp(stamp), size, "t", ETAG, deleted=deleted)
            info = made.get_replication_info()
            listing = tuple((e["name"], e["bytes"]) for e in made.list_objects())
            outcomes.add((listing, info["object_count"], info["bytes_used"], info["hash"]))
    assert len(outcomes) == 1
    listing, count, used, _ = outcomes.pop()
    assert (listing, count, used) == ((("a", 30),), 1, 30)


def test_the_policy_index_of_each_object_travels_with_it(broker: ContainerBroker) -> None:
    broker.put_object("a", Timestamp(10), 1, "t", ETAG, storage_policy_index=3)
    assert broker.get_items_since(-1, 1)[0]["storage_policy_index"] == 3


# --- listing: Swift's rules against a naive model ----------------------------------------

NAMES = [
    "a", "b", "photos", "photos/", "photos/2024/", "photos/2024/a.jpg", "photos/2024/b.jpg",
    "photos/2024/deep/x.jpg", "photos/2025/c.jpg", "photos/cat.jpg", "photos/dog.jpg",
    "photos0", "photos0/z", "music/rock/1.mp3", "music/jazz/1.mp3", "z-z", "z",
    "é", "éa/b", "\uffff", "\U00010000", "\U00010000/x",
]
MARKERS = ["", "a", "photos", "photos/", "photos/2024/", "photos/2024/b.jpg", "photos0", "é",
           "\U00010000"]
END_MARKERS = ["", "photos/", "photos/dog.jpg", "z", "\U00010000/"]


def model(names: list[str], *, limit: int = 10_000, marker: str = "", end_marker: str = "",
          prefix: str = "", delimiter: str = "", reverse: bool = False,
          path: str | None = None) -> list[str]:
    """Swift's listing rules applied one name at a time to the whole sorted list."""
    if path is not None:
        prefix, delimiter = (path.rstrip("/") + "/" if path else ""), "/"
    ordered = sorted(names, key=lambda name: name.encode("utf-8"), reverse=reverse)
    lower, upper = (end_marker, marker) if reverse else (marker, end_marker)
    out: list[str] = []
    for name in ordered:
        if (lower and name <= lower) or (upper and name >= upper) or not name.startswith(prefix):
            continue
        if path is not None and name == prefix:
            continue
        cut = name.find(delimiter, len(prefix)) if delimiter else -1
        if cut >= 0:
            group = name[:cut + len(delimiter)]
            if path is not None:
                if len(name) > len(group):
                    continue
            else:
                if group != lower and group not in out:
                    out.append(group)
                continue
        out.append(name)
    return out[:limit]


@pytest.fixture(scope="module")
def listed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContainerBroker]:
    made = ContainerBroker(str(tmp_path_factory.mktemp("listing") / "c.db"))
    made.initialize(Timestamp(1))
    fill(made, NAMES)
    for offset, name in enumerate(["photos/gone.jpg", "photos/2026/gone.jpg", "c"]):
        made.delete_object(name, Timestamp(2000, delta=offset))  # tombstones are never listed
    yield made
    made.close()


@pytest.mark.parametrize("prefix", ["", "p", "photos/", "photos/2024/", "é", "nothing"])
@pytest.mark.parametrize("delimiter", ["", "/", "-"])
@pytest.mark.parametrize("reverse", [False, True])
def test_listing_matches_the_model(listed: ContainerBroker, prefix: str, delimiter: str,
                                   reverse: bool) -> None:
    for marker, end_marker, limit in itertools.product(MARKERS, END_MARKERS, (10_000, 2)):
        params: dict[str, Any] = dict(limit=limit, marker=marker, end_marker=end_marker,
                                      prefix=prefix, delimiter=delimiter, reverse=reverse)
        assert names_of(listed.list_objects(**params)) == model(NAMES, **params), params


@pytest.mark.parametrize("path", ["", "photos", "photos/", "photos/2024", "music", "nothing"])
@pytest.mark.parametrize("reverse", [False, True])
def test_path_listing_matches_the_model(listed: ContainerBroker, path: str,
                                        reverse: bool) -> None:
    for marker, end_marker in itertools.product(MARKERS, END_MARKERS):
        params: dict[str, Any] = dict(marker=marker, end_marker=end_marker, reverse=reverse,
                                      path=path)
        assert names_of(listed.list_objects(**params)) == model(NAMES, **params), params


# --- listing: the cases people ask about, spelled out -------------------------------------


def test_names_order_as_utf8_bytes(listed: ContainerBroker) -> None:
    tail = names_of(listed.list_objects(marker="z-z"))
    # U+FFFF sorts before U+10000 in UTF-8 (and code points), unlike UTF-16.
    assert tail == ["é", "éa/b", "\uffff", "\U00010000", "\U00010000/x"]


def test_delimiter_rolls_up_each_subdir_once(listed: ContainerBroker) -> None:
    assert names_of(listed.list_objects(delimiter="/")) == [
        "a", "b", "music/", "photos", "photos/", "photos0", "photos0/", "z", "z-z", "é",
        "éa/", "\uffff", "\U00010000", "\U00010000/"]
    # The object named "photos/" is a name under the prefix, not a subdir.
    assert listed.list_objects(prefix="photos/", delimiter="/")[:4] == [
        {"name": "photos/", "hash": ETAG, "bytes": 7, "content_type": "text/plain",
         "last_modified": Timestamp(1000, delta=3).isoformat},
        {"subdir": "photos/2024/"}, {"subdir": "photos/2025/"},
        {"name": "photos/cat.jpg", "hash": ETAG, "bytes": 14, "content_type": "text/plain",
         "last_modified": Timestamp(1000, delta=9).isoformat}]
    assert names_of(listed.list_objects(prefix="photos/2024/", delimiter="/")) == [
        "photos/2024/", "photos/2024/a.jpg", "photos/2024/b.jpg", "photos/2024/deep/"]


def test_paging_a_delimited_listing_by_its_last_entry(listed: ContainerBroker) -> None:
    pages, marker = [], ""
    while page := names_of(listed.list_objects(limit=2, marker=marker, prefix="photos/",
                                               delimiter="/")):
        pages.append(page)
        marker = page[-1]
    assert pages == [["photos/", "photos/2024/"], ["photos/2025/", "photos/cat.jpg"],
                     ["photos/dog.jpg"]]


def test_marker_end_marker_and_prefix_together(listed: ContainerBroker) -> None:
    assert names_of(listed.list_objects(marker="photos/2024/a.jpg", end_marker="photos/cat.jpg",
                                        prefix="photos/2024/")) == \
        ["photos/2024/b.jpg", "photos/2024/deep/x.jpg"]
    assert names_of(listed.list_objects(marker="a", prefix="photos/2")) == \
        ["photos/2024/", "photos/2024/a.jpg", "photos/2024/b.jpg", "photos/2024/deep/x.jpg",
         "photos/2025/c.jpg"]


def test_reverse_swaps_the_markers(listed: ContainerBroker) -> None:
    assert names_of(listed.list_objects(reverse=True, marker="photos/2024/b.jpg",
                                        end_marker="photos/", limit=3)) == \
        ["photos/2024/a.jpg", "photos/2024/"]
    assert names_of(listed.list_objects(reverse=True, prefix="photos/", delimiter="/")) == \
        ["photos/dog.jpg", "photos/cat.jpg", "photos/2025/", "photos/2024/", "photos/"]


def test_path_lists_direct_children_only(listed: ContainerBroker) -> None:
    forward = names_of(listed.list_objects(path="photos/2024"))
    assert forward == ["photos/2024/a.jpg", "photos/2024/b.jpg"]
    # Not "photos/" itself, nor anything deeper than "photos/2024/", a child marker.
    children = ["photos/2024/", "photos/cat.jpg", "photos/dog.jpg"]
    assert names_of(listed.list_objects(path="photos")) == children
    assert names_of(listed.list_objects(path="photos/", prefix="ignored")) == children
    assert names_of(listed.list_objects(path="photos", reverse=True)) == children[::-1]


def test_path_keeps_a_direct_child_ending_in_a_slash(broker: ContainerBroker) -> None:
    fill(broker, ["p/", "p/a", "p/d/", "p/d/x", "p/e"])
    assert names_of(broker.list_objects(path="p")) == ["p/a", "p/d/", "p/e"]
    assert names_of(broker.list_objects(path="p", reverse=True)) == ["p/e", "p/d/", "p/a"]


def test_a_limit_counts_subdirs_and_zero_lists_nothing(listed: ContainerBroker) -> None:
    assert names_of(listed.list_objects(limit=3, delimiter="/")) == ["a", "b", "music/"]
    assert listed.list_objects(limit=0) == []


# --- listing: cost -------------------------------------------------------------------


def traced(broker: ContainerBroker) -> list[str]:
    statements: list[str] = []
    broker._connection().set_trace_callback(statements.append)
    return statements


def test_listing_queries_use_the_live_name_index(listed: ContainerBroker) -> None:
    statements = traced(listed)
    listed.list_objects(prefix="photos/", delimiter="/", marker="photos/2024/b.jpg")
    listed.list_objects(reverse=True, end_marker="b", marker="photos/dog.jpg")
    listed._connection().set_trace_callback(None)
    selects = [s for s in statements if s.startswith("SELECT name")]
    assert len(selects) >= 3
    conn = listed._connection()
    for select in selects:
        plan = " ".join(row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + select))
        assert "USING INDEX object_deleted_name (deleted=? AND name" in plan, plan
        assert "TEMP B-TREE" not in plan, plan


def test_a_delimited_listing_skips_past_each_subdir(broker: ContainerBroker) -> None:
    broker.merge_items([
        {"name": f"d{d}/o{o:05d}", "created_at": Timestamp(10).internal, "size": 1,
         "content_type": "t", "etag": ETAG, "deleted": 0, "storage_policy_index": 0}
        for d in range(5) for o in range(4000)])
    statements = traced(broker)
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    broker._connection().set_progress_handler(count, 100)
    assert names_of(broker.list_objects(delimiter="/")) == [f"d{d}/" for d in range(5)]
    broker._connection().set_progress_handler(None, 0)
    assert sum(s.startswith("SELECT name") for s in statements) == 6
    # A scan of the 20,000 rows would take several hundred thousand VM steps.
    assert steps[0] * 100 < 20_000


# --- replication and reclaim --------------------------------------------------------


def test_replication_round_trip_gives_equal_containers(broker: ContainerBroker,
                                                       tmp_path: Path) -> None:
    fill(broker, [f"o{i:03d}" for i in range(40)])
    for i in range(0, 40, 3):
        broker.delete_object(f"o{i:03d}", Timestamp(5000, delta=i))
    replica = ContainerBroker(str(tmp_path / "replica.db"))
    replica.initialize(Timestamp(1), account="AUTH_a", container="photos")
    replica.put_object("o001", Timestamp(9000), 7, "newer/here", ETAG)  # newer on the replica
    source = broker.get_info()["id"]
    while items := broker.get_items_since(replica.get_sync(source), 16):
        replica.merge_items(items, source_id=source)
    for item in replica.get_items_since(-1, 1000):  # and back
        broker.merge_items([item])
    assert replica.list_objects() == broker.list_objects()
    mine, theirs = broker.get_replication_info(), replica.get_replication_info()
    for key in ("object_count", "bytes_used", "hash", "row_count"):
        assert mine[key] == theirs[key]
    assert broker.list_objects(prefix="o001")[0]["content_type"] == "newer/here"
    replica.close()


def test_reclaim_keeps_listings_and_statistics(broker: ContainerBroker) -> None:
    fill(broker, ["a", "b", "c"])
    broker.delete_object("b", Timestamp(1500))
    broker.delete_object("c", Timestamp(2500))
    before = (broker.list_objects(), broker.get_info()["object_count"],
              broker.get_info()["bytes_used"])
    assert broker.reclaim(Timestamp(2000)) == 1
    assert (broker.list_objects(), broker.get_info()["object_count"],
            broker.get_info()["bytes_used"]) == before
    assert [item["name"] for item in broker.get_items_since(-1, 10)] == ["a", "c"]


def test_a_container_with_objects_is_not_deleted(broker: ContainerBroker) -> None:
    broker.put_object("a", Timestamp(5), 1, "t", ETAG)
    broker.mark_deleted(Timestamp(10))
    assert not broker.is_deleted()
    broker.delete_object("a", Timestamp(11))
    assert broker.is_deleted()


def test_sqlite_stores_names_as_utf8_text(broker: ContainerBroker) -> None:
    broker.put_object("é", Timestamp(5), 1, "t", ETAG)
    broker.get_info()
    conn = sqlite3.connect(broker.path)
    assert conn.execute("SELECT typeof(name), hex(name) FROM object").fetchone() == \
        ("text", "C3A9")
    conn.close()
