"""Which of an object's files counts (layout.resolve), as pure logic."""
from __future__ import annotations

from objstore.common.timestamp import Timestamp
from objstore.obj.layout import parse_file_name, resolve

NOW = Timestamp(10_000)


def n(ts: float, ext: str) -> str:
    return Timestamp(ts).internal + ext


def test_newest_data_wins_and_older_files_are_obsolete() -> None:
    found = resolve([n(1, ".data"), n(3, ".data"), n(2, ".ts"), "junk.tmp"], NOW, 10**6)
    assert found.data == n(3, ".data") and found.tombstone is None
    assert sorted(found.obsolete) == sorted([n(1, ".data"), n(2, ".ts")])


def test_a_newer_tombstone_wins_and_metas_go() -> None:
    found = resolve([n(1, ".data"), n(2, ".meta"), n(3, ".ts")], NOW, 10**6)
    assert (found.data, found.tombstone, found.meta) == (None, n(3, ".ts"), None)
    assert sorted(found.obsolete) == sorted([n(1, ".data"), n(2, ".meta")])
    assert found.timestamp == Timestamp(3)


def test_only_the_newest_meta_newer_than_the_data_applies() -> None:
    found = resolve([n(2, ".data"), n(1, ".meta"), n(3, ".meta"), n(4, ".meta")], NOW, 10**6)
    assert (found.data, found.meta) == (n(2, ".data"), n(4, ".meta"))
    assert sorted(found.obsolete) == sorted([n(1, ".meta"), n(3, ".meta")])


def test_metas_without_data_are_obsolete() -> None:
    found = resolve([n(5, ".meta")], NOW, 10**6)
    assert (found.data, found.meta, found.obsolete) == (None, None, (n(5, ".meta"),))


def test_tombstones_past_reclaim_age_are_obsolete() -> None:
    assert resolve([n(100, ".ts")], NOW, 20_000).tombstone == n(100, ".ts")
    found = resolve([n(100, ".ts")], NOW, 5_000)
    assert (found.tombstone, found.obsolete) == (None, (n(100, ".ts"),))


def test_file_names() -> None:
    assert parse_file_name(n(1.5, ".data")) == (Timestamp(1.5), ".data")
    assert parse_file_name(Timestamp(1, offset=3).internal + ".ts") == (Timestamp(1, offset=3), ".ts")
    for name in ("x.data", "1.5.tmp", "hashes.invalid", ".put-abc"):
        assert parse_file_name(name) is None
