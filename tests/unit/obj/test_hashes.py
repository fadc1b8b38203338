"""Suffix hashes: equal for equal replicas, cached, refreshed only when dirty."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import msgpack

from objstore.common.timestamp import Timestamp
from objstore.obj import hashes
from objstore.obj.diskfile import DiskFileManager
from ring.hashing import PathHasher

HASHER = PathHasher("pre", "suf")
WEEK = 7 * 86400.0


def make(devices: Path, device: str) -> DiskFileManager:
    (devices / device).mkdir(parents=True, exist_ok=True)
    return DiskFileManager(str(devices), hasher=HASHER)


def put(manager: DiskFileManager, device: str, obj: str, ts: Timestamp) -> None:
    df = manager.get(device, 9, "a", "c", obj)
    with df.create(1) as writer:
        writer.write(b"x")
        writer.commit({"X-Timestamp": ts.internal})


def partition(devices: Path, device: str) -> str:
    return str(devices / device / "objects" / "9")


def test_equal_replicas_have_equal_hashes_and_a_change_shows(tmp_path: Path) -> None:
    manager = make(tmp_path, "sda")
    make(tmp_path, "sdb")
    ts = Timestamp.now()
    for device in ("sda", "sdb"):
        for i in range(20):
            put(manager, device, f"o{i}", ts)
    a = hashes.get_hashes(partition(tmp_path, "sda"), WEEK)
    b = hashes.get_hashes(partition(tmp_path, "sdb"), WEEK)
    assert a == b and len(a) >= 10
    manager.get("sdb", 9, "a", "c", "o3").delete(Timestamp(ts, delta=1))
    changed = hashes.get_hashes(partition(tmp_path, "sdb"), WEEK)
    suffix = HASHER.hash_path("a", "c", "o3")[-3:]
    assert {s for s in a if a[s] != changed.get(s)} == {suffix}


def test_only_dirty_suffixes_are_recomputed(tmp_path: Path) -> None:
    manager = make(tmp_path, "sda")
    put(manager, "sda", "one", Timestamp.now())
    part = partition(tmp_path, "sda")
    first = hashes.get_hashes(part, WEEK)
    assert (Path(part) / hashes.INVALID).read_text() == ""  # marks folded in
    (suffix,) = first
    # change the suffix behind the cache's back: no mark, so the cache stands
    victim = next(Path(part, suffix).iterdir())
    shutil.rmtree(victim)
    os.makedirs(victim)
    assert hashes.get_hashes(part, WEEK) == first
    # asking for it explicitly recomputes it (and the emptied suffix goes)
    assert hashes.get_hashes(part, WEEK, recalculate=[suffix]) == {}
    assert not Path(part, suffix).exists()


def test_a_damaged_cache_is_rebuilt(tmp_path: Path) -> None:
    manager = make(tmp_path, "sda")
    put(manager, "sda", "one", Timestamp.now())
    part = partition(tmp_path, "sda")
    good = hashes.get_hashes(part, WEEK)
    (Path(part) / hashes.CACHE).write_bytes(b"\xc1 not msgpack")
    assert hashes.get_hashes(part, WEEK) == good
    cached = msgpack.unpackb((Path(part) / hashes.CACHE).read_bytes())
    assert cached == {"version": 1, "hashes": good}


def test_reclaimed_tombstones_leave_no_suffix(tmp_path: Path) -> None:
    manager = make(tmp_path, "sda")
    df = manager.get("sda", 9, "a", "c", "o")
    df.delete(Timestamp(float(Timestamp.now()) - 10))
    part = partition(tmp_path, "sda")
    assert len(hashes.get_hashes(part, WEEK)) == 1
    assert hashes.get_hashes(part, reclaim_age=5, recalculate=[df.name_hash[-3:]]) == {}


def test_missing_partition_is_empty(tmp_path: Path) -> None:
    assert hashes.get_hashes(str(tmp_path / "nope"), WEEK) == {}
