"""The disk backend on a real ext4 directory: durability, newest wins, rot."""
from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import stat
from collections.abc import Callable
from typing import Any
from pathlib import Path

import pytest

from objstore.common.timestamp import Timestamp
from objstore.obj import diskfile as diskfile_module
from objstore.obj import durable_names, hashes, young_dirs
from objstore.obj.diskfile import DiskFile, DiskFileManager
from objstore.obj.exceptions import (
    DiskFileBadRequest, DiskFileDeleted, DiskFileDeviceUnavailable, DiskFileExpired,
    DiskFileNotFound, DiskFileQuarantined,
)
from objstore.obj.integrity import CHUNK, table_length
from ring.hashing import PathHasher

HASHER = PathHasher("pre", "suf")


@pytest.fixture
def devices(tmp_path: Path) -> Path:
    (tmp_path / "sda").mkdir()
    return tmp_path


@pytest.fixture
def manager(devices: Path) -> DiskFileManager:
    return DiskFileManager(str(devices), hasher=HASHER)


def put(df: DiskFile, body: bytes, ts: float, **meta: object) -> None:
    with df.create(len(body)) as writer:
        for start in range(0, len(body), 10_000):
            writer.write(body[start:start + 10_000])
        writer.commit({"X-Timestamp": Timestamp(ts).internal, "Content-Type": "text/plain",
                       **meta})


def read_all(df: DiskFile, start: int = 0, end: int | None = None) -> bytes:
    return b"".join(df.read(df.open(), start, end))


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5])
def test_round_trip_at_every_chunk_boundary(manager: DiskFileManager, size: int) -> None:
    body = os.urandom(size)
    df = manager.get("sda", 7, "a", "c", "o")
    put(df, body, 1000.5, **{"X-Object-Meta-Color": "blue"})
    info = df.open()
    assert info.content_length == size
    assert info.etag == __import__("hashlib").md5(body).hexdigest()
    assert info.metadata["X-Object-Meta-Color"] == "blue"
    assert info.data_timestamp == Timestamp(1000.5)
    assert read_all(df) == body
    assert sorted(os.listdir(df.hash_dir)) == [Timestamp(1000.5).internal + ".data"]


def test_ranges_read_only_what_is_asked(manager: DiskFileManager) -> None:
    body = os.urandom(3 * CHUNK + 17)
    df = manager.get("sda", 7, "a", "c", "o")
    put(df, body, 1000)
    for start, end in [(0, 1), (5, CHUNK + 3), (CHUNK, 2 * CHUNK), (3 * CHUNK, 3 * CHUNK + 17),
                       (100, 10**9)]:
        assert read_all(df, start, end) == body[start:end]


def test_layout_on_disk(manager: DiskFileManager, devices: Path) -> None:
    df = manager.get("sda", 7, "a", "c", "o", policy_index=2)
    put(df, b"x", 1000)
    name_hash = HASHER.hash_path("a", "c", "o")
    assert df.hash_dir == str(devices / "sda" / "objects-2" / "7" / name_hash[-3:] / name_hash)
    assert (devices / "sda" / "objects-2" / "7" / "hashes.invalid").read_text() == \
        name_hash[-3:] + "\n"


@pytest.fixture
def names_by_file(monkeypatch: pytest.MonkeyPatch) -> Callable[[bool], None]:
    """Say whether the device's filesystem makes a linked file's name
    durable with the file's fsync (durable_names), whatever it really is."""
    return lambda covered: monkeypatch.setattr(
        durable_names, "fsync_names_new_files", lambda path: covered)


def record_fsyncs(monkeypatch: pytest.MonkeyPatch, entry: Callable[[int], Any]) -> list[Any]:
    """``entry(fd)`` for each fsync of the object layer, in order (the real
    fsync still runs)."""
    seen: list[Any] = []
    real = os.fsync

    def recording(fd: int) -> None:
        seen.append(entry(fd))
        real(fd)

    monkeypatch.setattr(diskfile_module, "_fsync", recording)
    return seen


@pytest.fixture
def fsynced(monkeypatch: pytest.MonkeyPatch, names_by_file: Callable[[bool], None]
            ) -> list[str]:
    """Paths fsynced, on a filesystem that wants every directory fsynced."""
    names_by_file(False)
    return record_fsyncs(monkeypatch, lambda fd: os.readlink(f"/proc/self/fd/{fd}"))


@pytest.fixture
def synced_names(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bool, int]]:
    """For each fsync: whether it was of a directory, and how many names the
    file or directory had then."""
    return record_fsyncs(monkeypatch, lambda fd: (
        os.path.isdir(f"/proc/self/fd/{fd}"), os.fstat(fd).st_nlink))


def test_first_put_fsyncs_file_hash_dir_and_every_new_directory(
        manager: DiskFileManager, devices: Path, fsynced: list[str]) -> None:
    df = manager.get("sda", 7, "a", "c", "o")
    put(df, b"hello", 1000)
    hash_dir = Path(df.hash_dir)
    suffix_dir, part_dir = hash_dir.parent, hash_dir.parent.parent
    objects_dir, device_dir = part_dir.parent, part_dir.parent.parent
    assert fsynced[0].startswith(str(devices / "sda" / "tmp" / ""))  # unnamed or .put-*
    assert fsynced[1:] == [str(hash_dir), str(suffix_dir), str(part_dir), str(objects_dir),
                           str(device_dir)]


def test_overwrite_fsyncs_the_file_and_the_hash_dir_only(
        manager: DiskFileManager, fsynced: list[str]) -> None:
    df = manager.get("sda", 7, "a", "c", "o")
    put(df, b"one", 1000)
    fsynced.clear()
    put(df, b"two", 1001)
    assert len(fsynced) == 2 and fsynced[1] == df.hash_dir
    fsynced.clear()
    df.delete(Timestamp(float(Timestamp.now())))
    assert len(fsynced) == 2 and fsynced[1] == df.hash_dir
    fsynced.clear()
    put(df, b"three", float(Timestamp.now()) + 1)
    df_post = manager.get("sda", 7, "a", "c", "o")
    fsynced.clear()
    df_post.post(Timestamp(float(Timestamp.now()) + 2), {"X-Object-Meta-A": "b"})
    assert len(fsynced) == 2 and fsynced[1] == df.hash_dir


def test_where_the_files_fsync_names_it_a_new_object_takes_one(
        manager: DiskFileManager, synced_names: list[tuple[bool, int]],
        names_by_file: Callable[[bool], None]) -> None:
    names_by_file(True)
    now = float(Timestamp.now())  # recent: tombstones past reclaim_age are dropped
    df = manager.get("sda", 7, "a", "c", "o")
    put(df, b"hello", now - 30)  # new hash, suffix and partition directories
    # once named: the bytes, the name and its directories in one fsync
    assert synced_names == [(False, 1)]
    synced_names.clear()
    df.post(Timestamp(now - 20), {"X-Object-Meta-A": "b"})
    assert manager.get("sda", 7, "a", "c", "o").open().meta_timestamp == Timestamp(now - 20)
    df.delete(Timestamp(now - 10))
    assert synced_names == [(False, 1)] * 2
    with pytest.raises(DiskFileDeleted):
        manager.get("sda", 7, "a", "c", "o").open()


def test_a_directory_another_write_made_and_has_not_made_durable_is_made_so_here(
        manager: DiskFileManager, devices: Path, monkeypatch: pytest.MonkeyPatch,
        names_by_file: Callable[[bool], None]) -> None:
    """A write that finishes first, in directories another write (another
    worker process, say) has made but not yet fsynced, makes their entries
    durable itself: its own fsync covers only what it made."""
    names_by_file(True)
    paths = record_fsyncs(monkeypatch, lambda fd: os.readlink(f"/proc/self/fd/{fd}"))
    df = manager.get("sda", 7, "a", "c", "o")
    suffix_dir = os.path.dirname(df.hash_dir)
    part_dir = os.path.dirname(suffix_dir)
    objects_dir = os.path.dirname(part_dir)
    for directory in (objects_dir, part_dir, suffix_dir):  # the other write's making
        os.mkdir(directory, young_dirs.YOUNG)
    put(df, b"hello", 1000)
    # one fsync for the file, its name and the hash dir it made; then the
    # entries of the other write's directories, each in its parent
    assert paths[1:] == [part_dir, objects_dir, str(devices / "sda")]
    assert all(os.stat(d).st_mode & stat.S_ISVTX == 0
               for d in (objects_dir, part_dir, suffix_dir, df.hash_dir))
    paths.clear()
    put(manager.get("sda", 7, "a", "c", "o2"), b"later", 1000)
    assert len(paths) == 1  # nothing young on the way any more


def test_a_write_leaves_nothing_young_behind(manager: DiskFileManager,
                                             names_by_file: Callable[[bool], None]) -> None:
    for one_fsync in (True, False):
        names_by_file(one_fsync)
        df = manager.get("sda", 9 if one_fsync else 10, "a", "c", "o")
        put(df, b"hello", 1000)
        path = df.hash_dir
        while os.path.basename(path) != "sda":
            assert os.stat(path).st_mode & stat.S_ISVTX == 0, path
            path = os.path.dirname(path)


def test_a_failed_fsync_takes_the_new_name_back(
        manager: DiskFileManager, names_by_file: Callable[[bool], None],
        monkeypatch: pytest.MonkeyPatch) -> None:
    names_by_file(True)
    df = manager.get("sda", 7, "a", "c", "o")
    put(df, b"one", 1000)

    def failing(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(diskfile_module, "_fsync", failing)
    with pytest.raises(OSError):
        put(df, b"two", 2000)
    assert os.listdir(df.hash_dir) == [Timestamp(1000).internal + ".data"]
    assert read_all(manager.get("sda", 7, "a", "c", "o")) == b"one"


def test_a_name_that_replaces_a_file_fsyncs_its_directory_anyway(
        manager: DiskFileManager, devices: Path, fsynced: list[str],
        names_by_file: Callable[[bool], None], monkeypatch: pytest.MonkeyPatch) -> None:
    names_by_file(True)
    df = manager.get("sda", 7, "a", "c", "o")
    put(df, b"one", 1000)
    fsynced.clear()
    put(df, b"one", 1000)  # the same timestamp again: a rename over the old file
    # the file before it replaces the old one (fsynced by its path: unnamed)
    assert len(fsynced) == 2 and fsynced[0].startswith(str(devices / "sda" / "tmp" / ""))
    assert fsynced[1] == df.hash_dir
    monkeypatch.setattr(diskfile_module, "_unnamed", False)  # no O_TMPFILE: named temp files
    fsynced.clear()
    new = manager.get("sda", 7, "a", "c", "new")
    put(new, b"two", 1000)
    hash_dir = Path(new.hash_dir)
    assert fsynced[0].startswith(str(devices / "sda" / "tmp" / ".put-"))
    assert fsynced[1:] == [str(hash_dir), str(hash_dir.parent), str(hash_dir.parent.parent)]


def test_a_write_racing_into_an_empty_hash_dir_leaves_the_rehash_to_tidy(
        manager: DiskFileManager) -> None:
    first, second = (manager.get("sda", 7, "a", "c", "o") for _ in range(2))
    for df in (first, second):  # both look before either writes: nothing there
        with pytest.raises(DiskFileNotFound):
            df.open()
    put(second, b"newer", 2000)
    put(first, b"older", 1000)  # lands after the newer one; cleans nothing up
    assert read_all(manager.get("sda", 7, "a", "c", "o")) == b"newer"
    assert len(os.listdir(first.hash_dir)) == 2
    hashes.get_hashes(os.path.dirname(os.path.dirname(first.hash_dir)), 7 * 86400)
    assert os.listdir(first.hash_dir) == [Timestamp(2000).internal + ".data"]
    put(first, b"newest", 3000)  # a write that saw files cleans up after itself
    assert os.listdir(first.hash_dir) == [Timestamp(3000).internal + ".data"]


def test_big_bodies_of_unknown_length_go_to_the_disk_as_they_arrive(
        manager: DiskFileManager, monkeypatch: pytest.MonkeyPatch) -> None:
    handed: list[tuple[int, int]] = []
    real = diskfile_module._write_back
    monkeypatch.setattr(diskfile_module, "_write_back",
                        lambda fd, start, end: (handed.append((start, end)), real(fd, start, end)))
    small = manager.get("sda", 7, "a", "c", "small")
    with small.create(diskfile_module.KEEP_CACHE_SIZE) as writer:
        writer.write(b"s" * diskfile_module.KEEP_CACHE_SIZE)
        writer.commit({"X-Timestamp": Timestamp(1000).internal})
    assert handed == []  # an object that stays in the page cache is left to the fsync

    step = diskfile_module.WRITE_BACK_STEP
    size = diskfile_module.KEEP_CACHE_SIZE + 3 * step + 5
    body = os.urandom(size)
    big = manager.get("sda", 7, "a", "c", "big")
    with big.create(None) as writer:  # chunked: no length, no direct writes
        for start in range(0, size, 1 << 20):
            writer.write(body[start:start + (1 << 20)])
        assert handed, "nothing went to the disk before the commit"
        writer.commit({"X-Timestamp": Timestamp(1000).internal})
    # every byte but the tail was handed over, in order, each range
    # reaching back one step (pages written out by then leave the cache)
    assert handed[0][0] == 0 and handed[0][1] > diskfile_module.KEEP_CACHE_SIZE
    assert all(end - previous_end >= step and start == max(previous_end - step, 0)
               for (_, previous_end), (start, end) in zip(handed, handed[1:]))
    assert size - handed[-1][1] < step
    assert read_all(manager.get("sda", 7, "a", "c", "big")) == body


def _o_direct(fd: int) -> bool:
    return bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT)


@pytest.mark.parametrize("size", [diskfile_module.DIRECT_WRITE_SIZE,  # one read's worth
                                  diskfile_module.DIRECT_WRITE_SIZE + 1,
                                  diskfile_module.KEEP_CACHE_SIZE + 1,
                                  diskfile_module.KEEP_CACHE_SIZE + 3 * 4096,
                                  3 * diskfile_module.KEEP_CACHE_SIZE + 12345])
def test_big_bodies_of_known_length_skip_the_page_cache(
        manager: DiskFileManager, size: int) -> None:
    body = os.urandom(size)
    big = manager.get("sda", 7, "a", "c", "direct")
    with big.create(size) as writer:
        piece = 300_001  # not a multiple of anything
        for start in range(0, size, piece):
            writer.write(body[start:start + piece])
            assert _o_direct(writer.fd)  # the filesystem under tmp_path takes O_DIRECT
        writer.commit({"X-Timestamp": Timestamp(1000).internal})
        assert not _o_direct(writer.fd)  # off again for the tail, table and metadata
    got = big.open()
    assert (got.content_length, got.etag) == (size, hashlib.md5(body).hexdigest())
    assert read_all(manager.get("sda", 7, "a", "c", "direct")) == body
    assert os.path.getsize(got.data_path) == size + table_length(size)


def test_bodies_below_the_direct_write_size_go_through_the_page_cache(
        manager: DiskFileManager) -> None:
    size = diskfile_module.DIRECT_WRITE_SIZE - 1
    body = os.urandom(size)
    small = manager.get("sda", 7, "a", "c", "cached")
    with small.create(size) as writer:
        writer.write(body)
        assert not _o_direct(writer.fd)
        writer.commit({"X-Timestamp": Timestamp(1000).internal})
    assert read_all(manager.get("sda", 7, "a", "c", "cached")) == body


def test_direct_writes_fall_back_to_the_page_cache(
        manager: DiskFileManager, monkeypatch: pytest.MonkeyPatch) -> None:
    size = diskfile_module.KEEP_CACHE_SIZE + 5000
    body = os.urandom(size)
    real_write = os.write
    refused: list[int] = []

    def write_refusing_direct(fd: int, data: Any) -> int:
        if _o_direct(fd):  # as a filesystem without direct I/O answers
            refused.append(fd)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write_refusing_direct)
    df = manager.get("sda", 7, "a", "c", "refused")
    with df.create(size) as writer:
        writer.write(body)
        writer.commit({"X-Timestamp": Timestamp(1000).internal})
    assert refused and read_all(manager.get("sda", 7, "a", "c", "refused")) == body


def test_newest_write_wins_in_any_order(manager: DiskFileManager) -> None:
    df = manager.get("sda", 1, "a", "c", "o")
    put(df, b"newer", 2000)
    put(df, b"older", 1000)  # arrives late (replication, a slow proxy)
    assert read_all(df) == b"newer"
    assert os.listdir(df.hash_dir) == [Timestamp(2000).internal + ".data"]


def test_delete_leaves_a_tombstone_that_older_puts_cannot_beat(manager: DiskFileManager) -> None:
    now = float(Timestamp.now())  # recent: tombstones past reclaim_age are dropped
    df = manager.get("sda", 1, "a", "c", "o")
    put(df, b"data", now - 30)
    df.delete(Timestamp(now - 20))
    with pytest.raises(DiskFileDeleted) as caught:
        df.open()
    assert caught.value.timestamp == Timestamp(now - 20)
    put(df, b"late", now - 25)
    with pytest.raises(DiskFileDeleted):
        df.open()
    assert os.listdir(df.hash_dir) == [Timestamp(now - 20).internal + ".ts"]
    put(df, b"again", now - 10)
    assert read_all(df) == b"again"


def test_post_replaces_user_metadata_and_expiry_but_not_the_data(manager: DiskFileManager) -> None:
    df = manager.get("sda", 1, "a", "c", "o")
    put(df, b"data", 1000, **{"X-Object-Meta-Old": "1", "X-Delete-At": "9999999999"})
    df.post(Timestamp(1001), {"X-Object-Meta-New": "2", "Content-Type": "image/png"})
    info = df.open()
    assert info.metadata["X-Object-Meta-New"] == "2"
    assert "X-Object-Meta-Old" not in info.metadata and "X-Delete-At" not in info.metadata
    assert info.metadata["Content-Type"] == "image/png"
    assert (info.content_length, info.data_timestamp, info.meta_timestamp) == (
        4, Timestamp(1000), Timestamp(1001))
    assert read_all(df) == b"data"
    put(df, b"fresh", 1002)  # a newer PUT makes the .meta obsolete
    assert "X-Object-Meta-New" not in df.open().metadata
    assert len(os.listdir(df.hash_dir)) == 1


def test_expired_objects_are_not_found(manager: DiskFileManager) -> None:
    df = manager.get("sda", 1, "a", "c", "o")
    put(df, b"data", 1000, **{"X-Delete-At": "5000"})
    assert df.open(now=4999).content_length == 4
    with pytest.raises(DiskFileExpired):
        df.open(now=5000)


def test_rot_is_never_served(manager: DiskFileManager, devices: Path) -> None:
    body = os.urandom(4 * CHUNK)
    df = manager.get("sda", 3, "a", "c", "o")
    put(df, body, 1000)
    data_file = Path(df.hash_dir) / (Timestamp(1000).internal + ".data")
    with open(data_file, "r+b") as handle:  # one bit flips in the third chunk
        handle.seek(2 * CHUNK + 100)
        byte = handle.read(1)
        handle.seek(2 * CHUNK + 100)
        handle.write(bytes([byte[0] ^ 1]))
    served = []
    with pytest.raises(DiskFileQuarantined, match="chunk 2"):
        for piece in df.read(df.open()):
            served.append(piece)
    assert b"".join(served) == body[:2 * CHUNK]  # good chunks only, then stop
    quarantined = devices / "sda" / "quarantined" / "objects" / df.name_hash
    assert sorted(os.listdir(quarantined)) == [data_file.name]
    with pytest.raises(DiskFileNotFound):
        df.open()
    assert df.name_hash[-3:] in (devices / "sda" / "objects" / "3" / "hashes.invalid").read_text()


def _torn_newer_write(manager: DiskFileManager, devices: Path, old: bytes) -> tuple[DiskFile, Path]:
    """An object whose newer write a crash cut short: the older .data is
    still beside it (cleaned up only after the newer one's fsync)."""
    df = manager.get("sda", 3, "a", "c", "o")
    put(df, old, 1000)
    older = Path(df.hash_dir) / (Timestamp(1000).internal + ".data")
    kept = devices / "sda" / "kept"
    os.link(older, kept)
    put(df, b"newer " * 50_000, 2000)
    os.link(kept, older)
    return df, Path(df.hash_dir) / (Timestamp(2000).internal + ".data")


def test_a_torn_newer_write_is_set_aside_for_the_older_state(
        manager: DiskFileManager, devices: Path) -> None:
    df, newer = _torn_newer_write(manager, devices, b"old and acknowledged")
    with open(newer, "r+b") as handle:  # named, but its bytes never reached the disk
        handle.write(bytes(4096))
    with pytest.raises(DiskFileQuarantined) as raised:
        read_all(df)
    assert raised.value.set_aside
    assert read_all(manager.get("sda", 3, "a", "c", "o")) == b"old and acknowledged"
    quarantined = devices / "sda" / "quarantined" / "objects" / df.name_hash
    assert os.listdir(quarantined) == [newer.name]
    assert os.listdir(df.hash_dir) == [Timestamp(1000).internal + ".data"]


def test_a_newer_write_without_metadata_gives_way_on_open(
        manager: DiskFileManager, devices: Path) -> None:
    df, newer = _torn_newer_write(manager, devices, b"old and acknowledged")
    newer.unlink()
    newer.write_bytes(b"")  # the name only: no bytes, no metadata
    info = manager.get("sda", 3, "a", "c", "o").open()
    assert (info.data_timestamp, info.content_length) == (Timestamp(1000), 20)
    assert os.listdir(devices / "sda" / "quarantined" / "objects" / df.name_hash) == [newer.name]


def test_reads_come_in_whole_chunks_of_disk_chunk_size(devices: Path) -> None:
    manager = DiskFileManager(str(devices), hasher=HASHER, disk_chunk_size=4 * CHUNK + 100)
    body = os.urandom(10 * CHUNK + 7)
    df = manager.get("sda", 3, "a", "c", "o")
    put(df, body, 1000)
    info = df.open()
    assert [len(p) for p in df.read(info)] == [4 * CHUNK, 4 * CHUNK, 2 * CHUNK + 7]
    # a span starts at the chunk holding the range's first byte
    assert [len(p) for p in df.read(info, CHUNK + 5, 9 * CHUNK - 3)] == [
        4 * CHUNK - 5, 4 * CHUNK - 3]
    for start in (0, 1, CHUNK - 1, CHUNK, 4 * CHUNK - 1, 4 * CHUNK, 8 * CHUNK + 3):
        for end in (start + 1, start + CHUNK, start + 4 * CHUNK + 1, len(body)):
            assert read_all(df, start, end) == body[start:end], (start, end)


def test_rot_in_a_later_span_serves_the_good_chunks_before_it(devices: Path) -> None:
    manager = DiskFileManager(str(devices), hasher=HASHER, disk_chunk_size=4 * CHUNK)
    body = os.urandom(10 * CHUNK + 7)
    df = manager.get("sda", 3, "a", "c", "o")
    put(df, body, 1000)
    data_file = Path(df.hash_dir) / (Timestamp(1000).internal + ".data")
    with open(data_file, "r+b") as handle:  # chunk 6: mid-way through the second span
        handle.seek(6 * CHUNK + 9)
        handle.write(bytes([body[6 * CHUNK + 9] ^ 0x80]))
    served = []
    with pytest.raises(DiskFileQuarantined, match="chunk 6"):
        for piece in df.read(df.open(), CHUNK + 1):
            served.append(piece)
    assert b"".join(served) == body[CHUNK + 1:6 * CHUNK]
    with pytest.raises(DiskFileNotFound):
        df.open()


def test_a_file_cut_short_after_open_is_quarantined_on_read(manager: DiskFileManager) -> None:
    df = manager.get("sda", 3, "a", "c", "o")
    put(df, os.urandom(2 * CHUNK), 1000)
    info = df.open()
    os.truncate(Path(df.hash_dir) / (Timestamp(1000).internal + ".data"), 2 * CHUNK + 5)
    with pytest.raises(DiskFileQuarantined, match="checksum table"):
        b"".join(df.read(info))


def test_a_truncated_file_is_quarantined_on_open(manager: DiskFileManager) -> None:
    df = manager.get("sda", 3, "a", "c", "o")
    put(df, os.urandom(1000), 1000)
    os.truncate(Path(df.hash_dir) / (Timestamp(1000).internal + ".data"), 500)
    with pytest.raises(DiskFileQuarantined, match="holds"):
        df.open()


def test_metadata_too_big_for_ext4_xattrs_still_round_trips(manager: DiskFileManager) -> None:
    meta = {f"X-Object-Meta-{i:03d}-" + "n" * 100: "v" * 256 for i in range(90)}
    body = os.urandom(CHUNK + 1)
    df = manager.get("sda", 3, "a", "c", "o")
    put(df, body, 1000, **meta)
    info = df.open()
    assert {k: v for k, v in info.metadata.items() if k in meta} == meta
    assert read_all(df) == body


def test_a_failed_upload_leaves_nothing(manager: DiskFileManager, devices: Path) -> None:
    df = manager.get("sda", 3, "a", "c", "o")
    with pytest.raises(ConnectionError):
        with df.create(100) as writer:
            writer.write(b"partial")
            raise ConnectionError("client went away")
    assert os.listdir(devices / "sda" / "tmp") == []
    with pytest.raises(DiskFileNotFound):
        df.open()


def test_old_tombstones_are_reclaimed(devices: Path) -> None:
    manager = DiskFileManager(str(devices), hasher=HASHER, reclaim_age=3600)
    df = manager.get("sda", 3, "a", "c", "o")
    df.delete(Timestamp(Timestamp.now().raw / 100000 - 7200))
    assert not os.path.exists(df.hash_dir)


@pytest.mark.parametrize(("device", "partition", "error"), [
    ("..", 1, DiskFileBadRequest), ("a/b", 1, DiskFileBadRequest),
    ("sda", "1/../2", DiskFileBadRequest), ("sda", "-1", DiskFileBadRequest),
    ("sdz", 1, DiskFileDeviceUnavailable),
])
def test_paths_cannot_leave_their_device(manager: DiskFileManager, device: str,
                                         partition: str | int, error: type[Exception]) -> None:
    with pytest.raises(error):
        manager.get(device, partition, "a", "c", "o")


def test_mount_check_refuses_plain_directories(devices: Path) -> None:
    manager = DiskFileManager(str(devices), hasher=HASHER, mount_check=True)
    with pytest.raises(DiskFileDeviceUnavailable, match="not mounted"):
        manager.get("sda", 1, "a", "c", "o")


def test_a_write_at_the_same_timestamp_replaces_the_file_and_leaves_no_temp(
        manager: DiskFileManager, devices: Path) -> None:
    df = manager.get("sda", 7, "a", "c", "o")
    put(df, b"first", 1000)
    put(df, b"again", 1000)
    assert read_all(df) == b"again"
    assert os.listdir(df.hash_dir) == [Timestamp(1000).internal + ".data"]
    with df.create(5) as writer:  # abandoned mid-upload
        writer.write(b"never")
    assert os.listdir(devices / "sda" / "tmp") == []
    assert read_all(df) == b"again"


def test_a_hash_dir_a_rehash_removes_before_the_file_is_in_is_made_again(
        manager: DiskFileManager, monkeypatch: pytest.MonkeyPatch) -> None:
    df = manager.get("sda", 7, "a", "c", "o")
    real = diskfile_module._make_dirs
    calls = []

    def raced(path: str, made: young_dirs.Made) -> None:
        real(path, made)
        calls.append(path)
        if len(calls) == 1:
            os.rmdir(path)  # what a concurrent rehash does to an empty hash dir

    monkeypatch.setattr(diskfile_module, "_make_dirs", raced)
    put(df, b"still here", 1000)
    assert len(calls) == 2 and read_all(df) == b"still here"
