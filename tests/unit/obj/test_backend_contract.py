"""What every object backend must do, run against the disk and memory twins."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from objstore.common.timestamp import Timestamp
from objstore.obj.diskfile import DiskFileManager
from objstore.obj.exceptions import (
    DiskFileBadRequest, DiskFileDeleted, DiskFileDeviceUnavailable, DiskFileExpired,
    DiskFileNotFound,
)
from objstore.obj.memfile import MemoryDiskFileManager
from ring.hashing import PathHasher

HASHER = PathHasher("pre", "suf")


@pytest.fixture(params=["disk", "memory"])
def manager(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "memory":
        return MemoryDiskFileManager(["sda"], hasher=HASHER)
    (tmp_path / "sda").mkdir()
    return DiskFileManager(str(tmp_path), hasher=HASHER)


def put(df: Any, body: bytes, ts: Timestamp, **meta: str) -> None:
    with df.create(len(body)) as writer:
        writer.write(body)
        writer.commit({"X-Timestamp": ts.internal, "Content-Type": "a/b", **meta})


def test_put_then_open_and_read(manager: Any) -> None:
    df = manager.get("sda", 5, "a", "c", "o")
    put(df, b"hello world", Timestamp(1000))
    info = df.open()
    assert (info.content_length, info.etag) == (11, hashlib.md5(b"hello world").hexdigest())
    assert b"".join(df.read(info)) == b"hello world"
    assert b"".join(df.read(info, 6, 9)) == b"wor"


def test_bodies_of_several_megabytes_and_their_ranges(manager: Any) -> None:
    body = bytes(range(256)) * (9 * 4096) + b"tail"  # 9 MiB and 4 bytes
    df = manager.get("sda", 5, "a", "c", "o")
    with df.create(len(body)) as writer:
        for start in range(0, len(body), 100_000):
            writer.write(body[start:start + 100_000])
        writer.commit({"X-Timestamp": Timestamp(1000).internal, "Content-Type": "a/b"})
    info = df.open()
    assert (info.content_length, info.etag) == (len(body), hashlib.md5(body).hexdigest())
    assert b"".join(df.read(info)) == body
    assert b"".join(df.read(info, 2**20 - 3, 2 * 2**20 + 3)) == body[2**20 - 3:2 * 2**20 + 3]


def test_newest_wins_and_tombstones_hide(manager: Any) -> None:
    now = Timestamp.now()
    df = manager.get("sda", 5, "a", "c", "o")
    put(df, b"new", Timestamp(now, delta=2))
    put(df, b"old", Timestamp(now, delta=1))
    assert b"".join(df.read(df.open())) == b"new"
    df.delete(Timestamp(now, delta=3))
    with pytest.raises(DiskFileDeleted):
        df.open()


def test_post_and_expiry(manager: Any) -> None:
    df = manager.get("sda", 5, "a", "c", "o")
    put(df, b"x", Timestamp(1000), **{"X-Object-Meta-A": "1"})
    df.post(Timestamp(1001), {"X-Object-Meta-B": "2", "X-Delete-At": "3000"})
    info = df.open(now=2000)
    assert "X-Object-Meta-A" not in info.metadata and info.metadata["X-Object-Meta-B"] == "2"
    assert info.timestamp == Timestamp(1001)
    with pytest.raises(DiskFileExpired):
        df.open(now=3000)


def test_an_unfinished_upload_is_invisible(manager: Any) -> None:
    df = manager.get("sda", 5, "a", "c", "o")
    with df.create(10) as writer:
        writer.write(b"half")
    with pytest.raises(DiskFileNotFound):
        df.open()


def test_bad_names_and_missing_devices(manager: Any) -> None:
    with pytest.raises(DiskFileBadRequest):
        manager.get("..", 5, "a", "c", "o")
    with pytest.raises(DiskFileDeviceUnavailable):
        manager.get("sdq", 5, "a", "c", "o")
