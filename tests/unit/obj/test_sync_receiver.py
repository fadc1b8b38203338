"""SYNC at the object server: offers answered from disk, pushes stored durably,
and every bad stream refused with a 4xx and a reason, nothing half-written."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from objstore.common.http import Request
from objstore.common.metadata import read_metadata
from objstore.common.timestamp import Timestamp
from objstore.obj import diskfile as diskfile_module
from objstore.obj import durable_names
from objstore.obj.diskfile import DiskFileManager
from objstore.obj.integrity import ChecksumWriter
from objstore.obj.sync_protocol import (
    BAD_BODY, HELD, NO_BASE, STORED, State, body_frames, end_frame, header_frame, item_frame,
    pack, unpack,
)
from ring.hashing import PathHasher
from tests.fakes.app_transport import object_app

HASHER = PathHasher("", "sync-tests")
NAME = ("AUTH_a", "c", "photo.jpg")
HASH = HASHER.hash_path(*NAME)
NOW = int(float(Timestamp.now()))
T = {n: Timestamp(NOW - 100 + n) for n in range(10)}  # recent: no tombstone is reclaimable


@pytest.fixture
def devices(tmp_path: Path) -> Path:
    (tmp_path / "sda").mkdir()
    return tmp_path


@pytest.fixture
def app(devices: Path) -> Any:
    return object_app(devices, HASHER)


def sync(app: Any, body: bytes, path: str = "/sda/7", policy: int = 0) -> tuple[int, Any]:
    request = Request.blank("/", method="SYNC", body=body,
                            headers={"X-Backend-Storage-Policy-Index": str(policy)})
    request.environ["PATH_INFO"] = path
    response = request.get_response(app)
    if response.status_int == 200:
        return 200, unpack(response.body)
    return response.status_int, response.body.decode()


def data_metadata(body: bytes, stamp: Timestamp, **extra: Any) -> dict[str, Any]:
    return {"X-Timestamp": stamp.internal, "name": "/" + "/".join(NAME),
            "Content-Length": len(body), "ETag": hashlib.md5(body).hexdigest(),
            "Content-Type": "image/jpeg", **extra}


def data_item(body: bytes, stamp: Timestamp, name_hash: str = HASH, **extra: Any) -> bytes:
    frames = [item_frame(name_hash, "data", stamp, data_metadata(body, stamp, **extra))]
    frames += [frame for frame, _ in body_frames(iter([body]))]
    return b"".join(frames)


def push(*items: bytes, count: int | None = None) -> bytes:
    return header_frame("push") + b"".join(items) + end_frame(
        len(items) if count is None else count)


def offer(*states: tuple[str, State]) -> bytes:
    return header_frame("offer") + b"".join(pack(s.offer_frame(h)) for h, s in states) + \
        end_frame(len(states))


def files(devices: Path, policy_dir: str = "objects") -> list[str]:
    hash_dir = devices / "sda" / policy_dir / "7" / HASH[-3:] / HASH
    return sorted(os.listdir(hash_dir)) if hash_dir.exists() else []


def test_a_push_stores_each_file_as_sent(app: Any, devices: Path) -> None:
    body = os.urandom(3 * 1024 * 1024 + 17)  # several body frames
    meta = {"X-Timestamp": T[3].internal, "X-Object-Meta-Color": "blue"}
    status, answer = sync(app, push(data_item(body, T[1], **{"X-Object-Meta-Color": "red"}),
                                    item_frame(HASH, "meta", T[3], meta)))
    assert status == 200
    assert answer["results"] == [[HASH, "data", T[1].internal, STORED, ""],
                                 [HASH, "meta", T[3].internal, STORED, ""]]
    assert files(devices) == [T[1].internal + ".data", T[3].internal + ".meta"]
    manager = DiskFileManager(str(devices), hasher=HASHER)
    info = manager.get("sda", 7, *NAME).open()
    assert b"".join(manager.get("sda", 7, *NAME).read(info)) == body
    assert info.metadata["X-Object-Meta-Color"] == "blue" and info.etag == \
        hashlib.md5(body).hexdigest()
    with open(info.data_path, "rb") as handle:
        raw = read_metadata(handle.fileno())
    assert raw["X-Object-Meta-Color"] == "red" and raw["Content-Type"] == "image/jpeg"
    assert not os.listdir(devices / "sda" / "tmp")  # no temp file left behind
    assert HASH[-3:] in (devices / "sda" / "objects" / "7" / "hashes.invalid").read_text()


@pytest.mark.parametrize("names_by_file", [False, True])
def test_every_stored_file_is_durable_before_the_answer(app: Any, devices: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        names_by_file: bool) -> None:
    """``names_by_file``: the filesystem makes a linked file's name durable
    with the file's own fsync (durable_names), or wants its directories
    fsynced."""
    monkeypatch.setattr(durable_names, "fsync_names_new_files", lambda path: names_by_file)
    synced: list[tuple[str, int]] = []
    real = diskfile_module._fsync
    monkeypatch.setattr(diskfile_module, "_fsync", lambda fd: (
        synced.append((os.readlink(f"/proc/self/fd/{fd}"), os.fstat(fd).st_nlink)),
        real(fd))[1])
    status, _ = sync(app, push(data_item(b"abc", T[1]), item_frame(
        HASH, "meta", T[2], {"X-Timestamp": T[2].internal})))
    assert status == 200
    temps = [names for path, names in synced
             if path.startswith(str(devices / "sda" / "tmp") + "/")]
    paths = [path for path, _ in synced]
    hash_dir = str(devices / "sda" / "objects" / "7" / HASH[-3:] / HASH)
    if names_by_file:  # each file once named: its bytes, its name and directories at once
        assert temps == [1, 1] and len(synced) == 2
        return
    assert temps == [0, 0]  # each file's own bytes before its name
    assert paths.count(hash_dir) == 2  # the directory, after each name
    # and the new directories' entries in their parents
    assert {str(devices / "sda" / "objects" / "7" / HASH[-3:]),
            str(devices / "sda" / "objects" / "7"), str(devices / "sda" / "objects")} <= \
        set(paths)


def test_an_offer_is_answered_with_what_the_device_lacks(app: Any, devices: Path) -> None:
    other = HASHER.hash_path("AUTH_a", "c", "other")
    sync(app, push(data_item(b"old", T[1])))
    status, answer = sync(app, offer((HASH, State(data=T[2], meta=T[3])),
                                     (other, State(ts=T[4]))))
    assert status == 200 and answer["want"] == {HASH: ["data", "meta"], other: ["ts"]}
    assert answer["tables"] is True  # senders may send checksum tables with their .data
    status, answer = sync(app, offer((HASH, State(data=T[1]))))
    assert (status, answer["want"]) == (200, {})


def test_older_pushes_are_refused_and_newest_wins(app: Any, devices: Path) -> None:
    sync(app, push(item_frame(HASH, "ts", T[5], {"X-Timestamp": T[5].internal})))
    status, answer = sync(app, push(data_item(b"stale", T[4]),
                                    item_frame(HASH, "ts", T[5], {"X-Timestamp": T[5].internal}),
                                    item_frame(HASH, "meta", T[6],
                                               {"X-Timestamp": T[6].internal})))
    assert status == 200
    assert [row[3] for row in answer["results"]] == [HELD, HELD, HELD]
    assert files(devices) == [T[5].internal + ".ts"]  # no resurrection
    status, answer = sync(app, push(data_item(b"fresh", T[7])))
    assert answer["results"][0][3] == STORED and files(devices) == [T[7].internal + ".data"]


def test_a_meta_without_its_data_is_not_kept(app: Any, devices: Path) -> None:
    status, answer = sync(app, push(item_frame(HASH, "meta", T[2],
                                               {"X-Timestamp": T[2].internal})))
    assert (status, answer["results"][0][3]) == (200, NO_BASE) and files(devices) == []


def table_of(body: bytes) -> bytes:
    sums = ChecksumWriter(with_md5=False)
    sums.update(body)
    return sums.table()


def test_a_body_sent_with_its_checksum_table_is_checked_against_it(app: Any,
                                                                   devices: Path) -> None:
    body = os.urandom(3 * 1024 * 1024 + 17)
    # The table, not the MD5, is the proof: a body that matches the sender's
    # table is kept under the ETag its metadata states, unhashed.
    stated = data_metadata(body, T[1], ETag="0" * 32)
    good = [item_frame(HASH, "data", T[1], stated, table_of(body)),
            *(frame for frame, _ in body_frames(iter([body])))]
    flipped = body[:1000] + bytes([body[1000] ^ 1]) + body[1001:]
    bad = [item_frame(HASH, "data", T[2], data_metadata(body, T[2]), table_of(body)),
           *(frame for frame, _ in body_frames(iter([flipped])))]
    status, answer = sync(app, push(b"".join(good), b"".join(bad)))
    assert status == 200
    assert [row[3] for row in answer["results"]] == [STORED, BAD_BODY]
    assert "does not match the checksum table" in answer["results"][1][4]
    assert files(devices) == [T[1].internal + ".data"]
    manager = DiskFileManager(str(devices), hasher=HASHER)
    info = manager.get("sda", 7, *NAME).open()
    assert b"".join(manager.get("sda", 7, *NAME).read(info)) == body and info.etag == "0" * 32


def test_a_body_that_does_not_match_its_etag_is_not_kept(app: Any, devices: Path) -> None:
    frames = [item_frame(HASH, "data", T[1], {**data_metadata(b"good", T[1])}),
              *(frame for frame, _ in body_frames(iter([b"bad!"])))]
    status, answer = sync(app, push(b"".join(frames), data_item(b"next", T[2])))
    assert status == 200
    assert [row[3] for row in answer["results"]] == [BAD_BODY, STORED]  # the stream went on
    assert "does not match its ETag" in answer["results"][0][4]
    assert files(devices) == [T[2].internal + ".data"]


@pytest.mark.parametrize("path, body, status, reason", [
    ("/sda/7", push(data_item(b"abc", T[1], name_hash="0" * 32)), 400, "does not hash to it"),
    ("/sda/7", push(item_frame("../../../../etc", "ts", T[1],
                               {"X-Timestamp": T[1].internal})), 400, "invalid object hash"),
    ("/../7", push(), 400, "invalid path"),
    ("/.hidden/7", push(), 400, "invalid device name"),
    ("/sda/-1", push(), 400, "invalid partition"),
    ("/sda/7/x", push(), 400, "invalid path"),
    ("/sdz/7", push(), 507, "does not exist"),
    ("/sda/7", pack({"v": 2, "op": "push"}), 400, "version 2"),
    ("/sda/7", header_frame("push") + data_item(b"abc", T[1])[:-1], 400, "body ended"),
    ("/sda/7", push(data_item(b"abc", T[1]))[:30], 400, "body ended"),
    ("/sda/7", push() + b"extra", 400, "after the end frame"),
    ("/sda/7", header_frame("push") + item_frame(HASH, "data", T[1], data_metadata(b"abc", T[1]))
     + pack("abc") + end_frame(1), 400, "expected 3 more body bytes"),
    ("/sda/7", header_frame("push") + item_frame(HASH, "data", T[1], data_metadata(b"abc", T[1]))
     + pack(b"abcd") + end_frame(1), 400, "longer than its Content-Length"),
])
def test_bad_requests_are_4xx_with_a_reason_and_write_nothing(
        app: Any, devices: Path, path: str, body: bytes, status: int, reason: str) -> None:
    got, text = sync(app, body, path)
    assert got == status and reason in text
    assert not list((devices / "sda").rglob("*.data")) and not list((devices / "sda").rglob("*.ts"))
    assert not (devices / "sda" / "tmp").exists() or not os.listdir(devices / "sda" / "tmp")


def test_items_before_a_broken_end_stay_whole(app: Any, devices: Path) -> None:
    # Each item is durable on its own: a stream that breaks after one keeps it.
    for body in (header_frame("push") + data_item(b"abc", T[1]),
                 push(data_item(b"abc", T[1]), count=5)):
        status, text = sync(app, body)
        assert status == 400 and ("body ended" in text or "counts 5 items" in text)
        assert files(devices) == [T[1].internal + ".data"]
        manager = DiskFileManager(str(devices), hasher=HASHER)
        info = manager.get("sda", 7, *NAME).open()
        assert b"".join(manager.get("sda", 7, *NAME).read(info)) == b"abc"


def test_a_policy_index_picks_its_directory(app: Any, devices: Path) -> None:
    status, _ = sync(app, push(data_item(b"abc", T[1])), policy=1)
    assert status == 200 and files(devices, "objects-1") == [T[1].internal + ".data"]
    assert files(devices) == []
    assert sync(app, push(), policy=-1)[0] == 400
