"""DatabaseBroker: creation, durability, errors, pending file, merges, replication, reclaim.

The base is exercised through ``NoteBroker``, the smallest subclass (a note
per name, newest timestamp wins): it proves the subclass interface is all
a broker needs, and keeps these tests apart from container and account rules.
"""
from __future__ import annotations

import fcntl
import itertools
import multiprocessing
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from objstore.common import db_pending
from objstore.common.db import (
    DatabaseAlreadyExists, DatabaseBroker, DatabaseCorrupt, DatabaseError,
    DatabaseLockTimeout, DatabaseNotFound, DatabaseVersionError, Row,
)
from objstore.common.db_files import STALE_TEMP_AGE
from objstore.common.db_listing import Bounds, Subdir, initial_bounds, prefix_end, walk
from objstore.common.timestamp import Timestamp


class NoteBroker(DatabaseBroker):
    DB_TYPE: ClassVar[str] = "note"
    APPLICATION_ID: ClassVar[int] = 0x4F534E01
    ROW_TABLE: ClassVar[str] = "note"
    ROW_COLUMNS: ClassVar[dict[str, str]] = {
        "name": "text", "timestamp": "timestamp", "value": "text", "deleted": "int"}
    INFO_COLUMNS: ClassVar[dict[str, str]] = {"owner": "text", "note_count": "int"}
    STAT_COLUMNS: ClassVar[frozenset[str]] = frozenset({"note_count"})
    RECLAIM_COLUMN: ClassVar[str] = "timestamp"
    LIVE_COUNT: ClassVar[str] = "note_count"

    def put_note(self, name: str, stamp: float, value: str = "v", deleted: bool = False) -> None:
        self.put_record({"name": name, "timestamp": Timestamp(stamp), "value": value,
                         "deleted": int(deleted)})

    def notes(self) -> dict[str, str]:
        rows = self._list_rows(("value",), limit=10_000, marker="", end_marker="", prefix="",
                               delimiter="", reverse=False)
        return {row[0]: row[1] for row in rows if not isinstance(row, Subdir)}

    def _resolve(self, current: Row | None, incoming: Row) -> Row:
        if current is None or incoming["timestamp"] > current["timestamp"]:
            return incoming
        return current

    def _update_stats(self, conn: sqlite3.Connection, removed: Sequence[Row],
                      added: Sequence[Row]) -> None:
        moved = sum(not r["deleted"] for r in added) - sum(not r["deleted"] for r in removed)
        conn.execute("UPDATE info SET note_count = note_count + ?", (moved,))


def note(name: str, stamp: float, value: str = "v", deleted: int = 0) -> dict[str, Any]:
    return {"name": name, "timestamp": Timestamp(stamp).internal, "value": value,
            "deleted": deleted}


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "part" / "notes.db")


@pytest.fixture
def broker(db_path: str) -> Iterator[NoteBroker]:
    made = NoteBroker(db_path)
    made.initialize(Timestamp(100), owner="alice")
    yield made
    made.close()


@pytest.fixture
def fsynced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The path of every file or directory fsynced through os.fsync."""
    paths: list[str] = []
    real = os.fsync

    def recording(fd: int) -> None:
        paths.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", recording)
    return paths


# --- creation ----------------------------------------------------------------


def test_initialize_makes_a_wal_database_with_info(broker: NoteBroker) -> None:
    info = broker.get_info()
    assert info["put_timestamp"] == Timestamp(100)
    assert info["delete_timestamp"] == Timestamp(0)
    assert info["status_changed_at"] == Timestamp(100)
    assert info["owner"] == "alice" and info["note_count"] == 0
    assert len(info["id"]) == 36 and info["created_at"] > Timestamp(100)
    conn = broker._connection()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA user_version").fetchone()[0] == NoteBroker.SCHEMA_VERSION


def test_each_replica_gets_its_own_id(tmp_path: Path) -> None:
    ids = set()
    for name in ("a.db", "b.db"):
        with NoteBroker(str(tmp_path / name)) as made:
            made.initialize(Timestamp(1))
            ids.add(made.get_info()["id"])
    assert len(ids) == 2


def test_initialize_refuses_an_existing_database(broker: NoteBroker) -> None:
    with pytest.raises(DatabaseAlreadyExists, match="already exists"):
        NoteBroker(broker.path).initialize(Timestamp(200))
    assert broker.get_info()["put_timestamp"] == Timestamp(100)


def test_initialize_refuses_unknown_or_statistic_info(db_path: str) -> None:
    with pytest.raises(TypeError, match="no colour"):
        NoteBroker(db_path).initialize(Timestamp(1), colour="red")
    with pytest.raises(TypeError, match="no note_count"):
        NoteBroker(db_path).initialize(Timestamp(1), note_count=5)
    assert not os.path.exists(db_path)


def test_initialize_fsyncs_the_file_then_the_directory_before_and_after_the_link(
        broker: NoteBroker, tmp_path: Path, fsynced: list[str]) -> None:
    path = str(tmp_path / "part" / "second.db")
    NoteBroker(path).initialize(Timestamp(1))
    directory = str(tmp_path / "part")
    assert len(fsynced) == 3
    assert os.path.dirname(fsynced[0]) == directory
    assert os.path.basename(fsynced[0]).startswith(".second.db.")
    assert fsynced[1:] == [directory, directory]


def test_initialize_fsyncs_the_parents_of_directories_it_makes(
        tmp_path: Path, fsynced: list[str]) -> None:
    NoteBroker(str(tmp_path / "a" / "b" / "n.db")).initialize(Timestamp(1))
    assert str(tmp_path) in fsynced and str(tmp_path / "a") in fsynced


class PeekingBroker(NoteBroker):
    """Looks at the directory while the database is half built, then fails."""

    seen: ClassVar[list[str]] = []

    def _build_extra(self, conn: sqlite3.Connection) -> None:
        PeekingBroker.seen = sorted(os.listdir(os.path.dirname(self.path)))
        raise OSError("disk fell off")


def test_a_failed_initialize_leaves_nothing_visible(db_path: str) -> None:
    with pytest.raises(OSError, match="disk fell off"):
        PeekingBroker(db_path).initialize(Timestamp(1))
    # While it was being built, only the temp name existed.
    assert "notes.db" not in PeekingBroker.seen
    assert any(name.startswith(".notes.db.") for name in PeekingBroker.seen)
    assert os.listdir(os.path.dirname(db_path)) == []
    with pytest.raises(DatabaseNotFound):
        NoteBroker(db_path).get_info()


def test_a_temp_left_by_a_crash_is_ignored_then_cleaned_once_stale(
        tmp_path: Path) -> None:
    directory = tmp_path / "part"
    directory.mkdir()
    fresh, stale = directory / ".notes.db.aaaa.tmp", directory / ".notes.db.bbbb.tmp"
    for leftover in (fresh, stale):
        leftover.write_bytes(b"half a database")
    old = os.stat(stale).st_mtime - STALE_TEMP_AGE - 10
    os.utime(stale, (old, old))
    with NoteBroker(str(directory / "notes.db")) as made:
        made.initialize(Timestamp(1))
        made.put_note("a", 2)
        assert made.notes() == {"a": "v"}
    assert sorted(os.listdir(directory)) == [".notes.db.aaaa.tmp", "notes.db", "notes.db.pending"]


# --- opening and errors ------------------------------------------------------------


def test_a_path_that_is_awkward_in_a_uri_works(tmp_path: Path) -> None:
    with NoteBroker(str(tmp_path / "a b?c#d%e.db")) as odd:
        odd.initialize(Timestamp(1))
        odd.put_note("a", 2)
        assert odd.notes() == {"a": "v"}


def test_connection_opens_lazily_and_closes_explicitly(broker: NoteBroker) -> None:
    reopened = NoteBroker(broker.path)
    assert reopened._conn is None
    reopened.get_info()
    assert reopened._conn is not None
    with reopened:
        pass
    assert reopened._conn is None
    assert reopened.get_info()["owner"] == "alice"  # usable again after close
    reopened.close()


def test_a_missing_database_is_not_found_and_not_created(db_path: str) -> None:
    missing = NoteBroker(db_path)
    with pytest.raises(DatabaseNotFound, match="does not exist"):
        missing.get_info()
    with pytest.raises(DatabaseNotFound):
        missing.put_note("a", 1)
    assert not os.path.exists(db_path)


def test_garbage_is_a_corrupt_database_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not sqlite at all" * 200)
    with pytest.raises(DatabaseCorrupt, match=f"{path}.*not a database"):
        NoteBroker(str(path)).get_info()


def test_a_malformed_database_is_corrupt(broker: NoteBroker) -> None:
    broker.merge_items([note(f"name-{i:05d}", 1, "x" * 200) for i in range(2000)])
    broker.close()
    with open(broker.path, "r+b") as handle:
        handle.seek(8192)
        handle.write(b"\xff" * 65536)
    with pytest.raises(DatabaseCorrupt, match="malformed"):
        NoteBroker(broker.path).notes()


def test_an_empty_file_is_no_database_of_ours(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    with pytest.raises(DatabaseCorrupt, match="not an objstore note database"):
        NoteBroker(str(path)).get_info()
    assert path.stat().st_size == 0  # opening it wrote nothing


def test_another_kind_of_database_is_refused(broker: NoteBroker) -> None:
    class OtherBroker(NoteBroker):
        APPLICATION_ID: ClassVar[int] = 7

    with pytest.raises(DatabaseCorrupt, match="not an objstore"):
        OtherBroker(broker.path).get_info()


def test_a_newer_schema_version_is_refused_clearly(broker: NoteBroker) -> None:
    broker.close()
    conn = sqlite3.connect(broker.path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(DatabaseVersionError, match="schema version 99; this code knows up to 1"):
        NoteBroker(broker.path).get_info()


@pytest.mark.parametrize("error", [DatabaseNotFound, DatabaseAlreadyExists, DatabaseCorrupt,
                                   DatabaseVersionError, DatabaseLockTimeout])
def test_every_broker_error_is_a_database_error(error: type[Exception]) -> None:
    assert issubclass(error, DatabaseError)


def test_a_held_write_lock_times_out(broker: NoteBroker) -> None:
    blocker = sqlite3.connect(broker.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        impatient = NoteBroker(broker.path, timeout=0.05)
        with pytest.raises(DatabaseLockTimeout, match="stayed locked"):
            impatient.merge_items([note("a", 1)])
        impatient.close()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


# --- status -------------------------------------------------------------------


def test_deleted_needs_a_newer_delete_and_no_live_rows(broker: NoteBroker) -> None:
    broker.put_note("a", 150)
    broker.mark_deleted(Timestamp(200))
    assert not broker.is_deleted()  # still holds a live row
    assert broker.get_info()["status_changed_at"] == Timestamp(200)
    broker.put_note("a", 210, deleted=True)
    assert broker.is_deleted()
    broker.update_put_timestamp(Timestamp(300))
    assert not broker.is_deleted()
    assert broker.get_info()["status_changed_at"] == Timestamp(300)


def test_put_and_delete_timestamps_keep_the_newest(broker: NoteBroker) -> None:
    broker.update_put_timestamp(Timestamp(50))
    broker.mark_deleted(Timestamp(400))
    broker.mark_deleted(Timestamp(300))
    info = broker.get_info()
    assert (info["put_timestamp"], info["delete_timestamp"]) == (Timestamp(100), Timestamp(400))


# --- metadata ----------------------------------------------------------------


def test_metadata_merges_newest_wins_per_name(broker: NoteBroker) -> None:
    broker.update_metadata({"X-A": ("1", Timestamp(10)), "X-B": ("b", Timestamp(10))})
    broker.update_metadata({"X-A": ("old", Timestamp(5)), "X-B": ("new", Timestamp(11))})
    assert broker.metadata == {"X-A": ("1", Timestamp(10)), "X-B": ("new", Timestamp(11))}


def test_an_empty_value_deletes_but_is_kept_until_reclaimed(broker: NoteBroker) -> None:
    broker.update_metadata({"X-A": ("1", Timestamp(10)), "X-B": ("b", Timestamp(10))})
    broker.update_metadata({"X-A": ("", Timestamp(20))})
    broker.update_metadata({"X-A": ("late", Timestamp(15))})  # older than the delete
    assert broker.metadata == {"X-B": ("b", Timestamp(10))}
    assert broker.get_replication_info()["metadata"]["X-A"] == ["", Timestamp(20).internal]
    broker.reclaim(Timestamp(20))
    assert "X-A" in broker.get_replication_info()["metadata"]  # not older than the cutoff
    broker.reclaim(Timestamp(21))
    assert broker.get_replication_info()["metadata"] == {"X-B": ["b", Timestamp(10).internal]}


# --- pending file ---------------------------------------------------------------


def test_puts_wait_in_the_pending_file_until_a_read(broker: NoteBroker) -> None:
    broker.put_note("a", 1)
    broker.put_note("b", 2)
    pending = broker.path + ".pending"
    assert os.path.getsize(pending) > 0
    assert NoteBroker(broker.path).get_items_since(-1, 10) != []  # any reader merges
    assert os.path.getsize(pending) == 0
    assert broker.notes() == {"a": "v", "b": "v"}
    assert broker.statistics().pending_merges == 0  # the other broker merged


def test_each_put_call_appends_and_fsyncs_the_pending_file(
        broker: NoteBroker, fsynced: list[str]) -> None:
    broker.put_note("a", 1)
    broker.put_records([note("b", 2), note("c", 3)])
    pending = broker.path + ".pending"
    assert fsynced == [os.path.dirname(pending), pending, pending]  # new name, then 2 calls


def test_the_pending_file_merges_in_one_transaction(broker: NoteBroker) -> None:
    broker.put_records([note(f"n{i}", i + 1) for i in range(500)])
    statements: list[str] = []
    broker._connection().set_trace_callback(statements.append)
    assert len(broker.notes()) == 500
    assert sum(s.startswith("BEGIN IMMEDIATE") for s in statements) == 1
    assert broker.statistics().records_merged == 500


def test_the_pending_file_merges_once_past_its_cap(db_path: str) -> None:
    with NoteBroker(db_path, pending_cap=300) as small:
        small.initialize(Timestamp(1))
        for i in range(10):
            small.put_note(f"n{i}", i + 1)
        assert os.path.getsize(db_path + ".pending") < 300
        assert small.statistics().pending_merges >= 2
        assert len(small.notes()) == 10


def test_a_torn_last_record_is_skipped(broker: NoteBroker) -> None:
    broker.put_records([note("a", 1), note("b", 2)])
    frame = db_pending.encode([note("c", 3)])
    with open(broker.path + ".pending", "ab") as handle:
        handle.write(frame[:len(frame) // 2])  # the crash came mid-append
    assert broker.notes() == {"a": "v", "b": "v"}
    assert broker.statistics().skipped_bytes == len(frame) // 2
    assert os.path.getsize(broker.path + ".pending") == 0


def test_records_appended_after_a_torn_one_are_kept(broker: NoteBroker) -> None:
    broker.put_note("a", 1)
    torn = db_pending.encode([note("lost", 2)])[:15]
    with open(broker.path + ".pending", "ab") as handle:
        handle.write(torn + b"\0" * 100)  # and a page of zeroes after a power cut
    broker.put_note("b", 3)
    assert broker.notes() == {"a": "v", "b": "v"}
    assert broker.statistics().skipped_bytes == len(torn) + 100


def test_decode_resynchronises_past_a_damaged_frame() -> None:
    good = db_pending.encode([{"k": 1}, {"k": 2}, {"k": 3}])
    third = len(good) // 3
    damaged = bytearray(good)
    damaged[third + 14] ^= 0xFF  # a bit flip in the second body fails its crc
    contents = db_pending.decode(bytes(damaged))
    assert contents.records == [{"k": 1}, {"k": 3}]
    assert contents.skipped_bytes == third


def test_a_newer_pending_format_stops_the_merge_and_keeps_the_file(
        broker: NoteBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db_pending, "FORMAT_VERSION", 2)
    broker.put_note("a", 1)
    monkeypatch.undo()
    size = os.path.getsize(broker.path + ".pending")
    with pytest.raises(DatabaseVersionError, match="format 2 is newer"):
        broker.notes()
    assert os.path.getsize(broker.path + ".pending") == size


def test_a_bad_record_is_refused_before_it_reaches_the_file(broker: NoteBroker) -> None:
    with pytest.raises(ValueError, match="no 'value'"):
        broker.put_record({"name": "a", "timestamp": "1", "deleted": 0})
    with pytest.raises(ValueError, match="empty name"):
        broker.put_note("", 1)
    assert not os.path.exists(broker.path + ".pending")


def test_a_held_pending_lock_times_out(broker: NoteBroker) -> None:
    broker.put_note("a", 1)
    fd = os.open(broker.path + ".pending", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        impatient = NoteBroker(broker.path, lock_timeout=0.05)
        with pytest.raises(DatabaseLockTimeout, match="pending file .* stayed locked"):
            impatient.put_note("b", 2)
        impatient.close()
    finally:
        os.close(fd)
    assert broker.notes() == {"a": "v"}


def _put_many(path: str, worker: int, count: int) -> None:
    with NoteBroker(path, pending_cap=2048) as mine:
        for i in range(count):
            mine.put_note(f"w{worker}-{i:03d}", i + 1)


def test_processes_putting_at_once_lose_nothing(broker: NoteBroker) -> None:
    spawn = multiprocessing.get_context("spawn")
    workers = [spawn.Process(target=_put_many, args=(broker.path, w, 150)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert len(broker.notes()) == 600 == broker.get_info()["note_count"]


def test_two_brokers_on_one_file_share_the_pending_file(broker: NoteBroker) -> None:
    other = NoteBroker(broker.path, pending_cap=1)
    for i in range(20):
        (broker if i % 2 else other).put_note(f"n{i:02d}", i + 1)
    assert len(broker.notes()) == 20 == broker.get_info()["note_count"]
    other.close()


# --- merging and replication ---------------------------------------------------------


def test_newest_timestamp_wins_in_any_order(tmp_path: Path) -> None:
    rows = [note("a", 3, "three"), note("a", 1, "one"), note("a", 2, "two", deleted=1),
            note("b", 5, "b5", deleted=1), note("b", 6, "b6")]
    outcomes = set()
    for number, order in enumerate(itertools.permutations(rows)):
        with NoteBroker(str(tmp_path / f"{number}.db")) as made:
            made.initialize(Timestamp(1))
            for row in order:
                made.merge_items([row])
            info = made.get_replication_info()
            outcomes.add((tuple(sorted(made.notes().items())), info["hash"], info["note_count"]))
    assert len(outcomes) == 1
    assert outcomes.pop()[::2] == ((("a", "three"), ("b", "b6")), 2)


def test_merging_is_idempotent(broker: NoteBroker) -> None:
    rows = [note("a", 1), note("b", 2, deleted=1)]
    broker.merge_items(rows)
    before = broker.get_replication_info()
    broker.merge_items(rows)
    broker.put_records(rows)
    assert broker.get_replication_info() == before


def test_a_changed_row_gets_a_new_larger_row_id(broker: NoteBroker) -> None:
    broker.merge_items([note("a", 1), note("b", 1)])
    broker.merge_items([note("a", 2, "new")])
    assert [(r["row_id"], r["name"]) for r in broker.get_items_since(-1, 10)] == \
        [(2, "b"), (3, "a")]
    assert [r["name"] for r in broker.get_items_since(2, 10)] == ["a"]
    assert broker.get_items_since(-1, 1)[0]["name"] == "b"


def test_items_since_include_pending_rows_and_tombstones(broker: NoteBroker) -> None:
    broker.put_note("a", 1, deleted=True)
    assert broker.get_items_since(-1, 10) == [{"row_id": 1, **note("a", 1, deleted=1)}]


def test_replicating_in_pages_gives_equal_databases(broker: NoteBroker, tmp_path: Path) -> None:
    for i in range(25):
        broker.put_note(f"n{i:02d}", i + 1, value=str(i), deleted=i % 5 == 0)
    replica = NoteBroker(str(tmp_path / "replica.db"))
    replica.initialize(Timestamp(100))
    source = broker.get_info()["id"]
    point = replica.get_sync(source)
    assert point == -1
    while items := broker.get_items_since(point, 10):
        replica.merge_items(items, source_id=source)
        point = replica.get_sync(source)
    mine, theirs = broker.get_replication_info(), replica.get_replication_info()
    assert point == mine["max_row"] == 25
    assert replica.notes() == broker.notes()
    for key in ("hash", "note_count", "row_count", "max_row"):
        assert theirs[key] == mine[key]
    replica.close()


def test_sync_points_merge_keeping_the_largest(broker: NoteBroker) -> None:
    broker.merge_syncs([{"remote_id": "r1", "sync_point": 5}, {"remote_id": "r2", "sync_point": 9}])
    broker.merge_syncs([{"remote_id": "r1", "sync_point": 3}])
    broker.merge_syncs([{"remote_id": "r1", "sync_point": 7}], incoming=False)
    assert broker.get_sync("r1") == 5 and broker.get_sync("r1", incoming=False) == 7
    assert broker.get_syncs() == [{"remote_id": "r1", "sync_point": 5},
                                  {"remote_id": "r2", "sync_point": 9}]
    assert broker.get_sync("nobody") == -1


def test_replication_info_says_what_a_replicator_compares(broker: NoteBroker) -> None:
    info = broker.get_replication_info()
    assert info["max_row"] == -1 and info["row_count"] == 0 and info["hash"] == "0" * 32
    assert {"id", "created_at", "put_timestamp", "delete_timestamp", "status_changed_at",
            "metadata", "owner", "note_count"} <= set(info)
    assert info["put_timestamp"] == Timestamp(100).internal  # wire form


# --- reclaim ---------------------------------------------------------------------


def test_reclaim_drops_old_tombstones_only(broker: NoteBroker, tmp_path: Path) -> None:
    broker.merge_items([note("old", 10, deleted=1), note("new", 30, deleted=1), note("live", 5)])
    assert broker.reclaim(Timestamp(20)) == 1
    assert [r["name"] for r in broker.get_items_since(-1, 10)] == ["new", "live"]
    assert broker.get_replication_info()["max_row"] == 3  # row ids are never reused
    with NoteBroker(str(tmp_path / "same.db")) as same:
        same.initialize(Timestamp(1))
        same.merge_items([note("new", 30, deleted=1), note("live", 5)])
        assert same.get_replication_info()["hash"] == broker.get_replication_info()["hash"]


# --- the listing walk, apart from SQL ------------------------------------------------


@pytest.mark.parametrize(("prefix", "end"), [
    ("abc", "abd"), ("a/", "a0"), ("\U0010ffff", None), ("a\U0010ffff", "b"),
    ("\ud7ff", "\ue000"), ("", None),
])
def test_prefix_end_is_just_above_every_name_with_the_prefix(prefix: str, end: str | None) -> None:
    assert prefix_end(prefix) == end


def test_initial_bounds_take_the_tighter_of_markers_and_prefix() -> None:
    assert initial_bounds("a", "", "b/", False) == Bounds("b/", True, "b0", False)
    assert initial_bounds("b/x", "b/y", "b/", False) == Bounds("b/x", False, "b/y", False)
    assert initial_bounds("b/x", "b/a", "b/", True) == Bounds("b/a", False, "b/x", False)


def test_walk_asks_for_one_range_per_subdir() -> None:
    names = sorted(f"d{d}/o{o:03d}" for d in range(3) for o in range(500)) + ["z"]
    asked: list[Bounds] = []

    def fetch(bounds: Bounds, reverse: bool, limit: int) -> list[tuple[str]]:
        asked.append(bounds)
        above = [n for n in names if bounds.low is None or n > bounds.low
                 or (bounds.low_inclusive and n == bounds.low)]
        inside = [n for n in above if bounds.high is None or n < bounds.high]
        return [(n,) for n in inside[:limit]]

    result = walk(fetch, limit=100, delimiter="/")
    assert result == [Subdir("d0/"), Subdir("d1/"), Subdir("d2/"), ("z",)]
    assert len(asked) == 4
