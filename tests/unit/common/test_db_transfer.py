"""A whole database pushed to a container server (REPLICATE, application/vnd.sqlite3):
checked, durable, and never over a newer one."""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import msgpack
import pytest

from objstore.account.broker import AccountBroker
from objstore.common import db_transfer
from objstore.common.http import Request, wsgi_app
from objstore.container.broker import ContainerBroker
from objstore.container.server import ContainerController, ContainerServerConfig
from ring.hashing import PathHasher

HASHER = PathHasher("", "transfer-tests")
NAME_HASH = HASHER.hash_path("AUTH_a", "c")
PATH = f"/sda/3/{NAME_HASH}"


def stamp(ago: float = 100.0) -> Any:
    from objstore.common.timestamp import Timestamp

    return Timestamp(float(Timestamp.now()) - ago)


@pytest.fixture
def app(tmp_path: Path) -> Any:
    (tmp_path / "node" / "sda").mkdir(parents=True)
    conf = ContainerServerConfig(devices=str(tmp_path / "node"), mount_check=False)
    logger = logging.getLogger("test.transfer")
    return wsgi_app(ContainerController(conf, logger, hasher=HASHER), logger)


def db_dir(tmp_path: Path) -> Path:
    return tmp_path / "node" / "sda" / "containers" / "3" / NAME_HASH[-3:] / NAME_HASH


def source(tmp_path: Path, rows: list[str], container: str = "c") -> tuple[ContainerBroker, str]:
    """A container database elsewhere, and a copy of it to push."""
    broker = ContainerBroker(str(tmp_path / "source" / f"{container}.db"))
    broker.initialize(stamp(1000), account="AUTH_a", container=container)
    for number, name in enumerate(rows):
        broker.put_object(name, stamp(50 - number), 3, "text/plain", "etag")
    broker.get_replication_info()  # the pending rows merged
    copy, _ = db_transfer.snapshot(broker.path, str(tmp_path / "tmp"), "object")
    return broker, copy


def push(app: Any, body: bytes, etag: str | None = None, path: str = PATH,
         **environ: str) -> Any:
    headers = {"Content-Type": db_transfer.DB_CONTENT_TYPE,
               "ETag": hashlib.md5(body).hexdigest() if etag is None else etag}
    request = Request.blank(path, method="REPLICATE", headers=headers, body=body)
    request.environ.update(environ)
    return request.get_response(app)


def test_a_pushed_database_becomes_the_replica(app: Any, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    sender, copy = source(tmp_path, ["a", "b"])
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)
    monkeypatch.setattr(os, "fsync", fsync)
    response = push(app, Path(copy).read_bytes())
    assert response.status_int == 201
    new_id = msgpack.unpackb(response.body)["id"]
    final = db_dir(tmp_path) / f"{NAME_HASH}.db"
    assert sorted(p.name for p in db_dir(tmp_path).iterdir()) == [final.name]  # no temp left
    # the body fsynced before it was linked, the directory after
    linked = synced.index(str(db_dir(tmp_path)), max(i for i, p in enumerate(synced)
                                                     if p.endswith(".tmp")))
    assert linked > 0
    replica = ContainerBroker(str(final))
    info, theirs = replica.get_replication_info(), sender.get_replication_info()
    assert [row["name"] for row in replica.list_objects()] == ["a", "b"]
    assert (info["id"], info["hash"]) == (new_id, theirs["hash"])
    assert replica.get_sync(theirs["id"]) == theirs["max_row"]
    assert replica.get_syncs(incoming=False) == []


def test_a_database_there_already_is_merged_into_never_replaced(app: Any,
                                                                 tmp_path: Path) -> None:
    final = db_dir(tmp_path) / f"{NAME_HASH}.db"
    os.makedirs(final.parent)
    there = ContainerBroker(str(final))
    there.initialize(stamp(500), account="AUTH_a", container="c")
    there.put_object("a", stamp(1), 9, "text/new", "newer")  # newer than the pushed a
    there.put_object("only-here", stamp(1), 1, "text/plain", "x")
    own_id = there.get_replication_info()["id"]
    sender, copy = source(tmp_path, ["a", "b"])
    sender.update_metadata({"X-Container-Meta-A": ("1", stamp(5).internal)})
    copy, _ = db_transfer.snapshot(sender.path, str(tmp_path / "tmp"), "object")

    assert push(app, Path(copy).read_bytes()).status_int == 202
    rows = {row["name"]: row for row in there.list_objects()}
    assert sorted(rows) == ["a", "b", "only-here"]
    assert (rows["a"]["bytes"], rows["a"]["content_type"]) == (9, "text/new")
    assert there.metadata["X-Container-Meta-A"][0] == "1"
    assert there.get_replication_info()["id"] == own_id
    theirs = sender.get_replication_info()
    assert there.get_sync(theirs["id"]) == theirs["max_row"]
    assert sorted(p.name for p in db_dir(tmp_path).iterdir() if ".tmp" in p.name) == []


@pytest.mark.parametrize("case", ["etag", "garbage", "account", "other-name", "short"])
def test_what_is_not_the_right_database_is_refused(app: Any, tmp_path: Path,
                                                   case: str) -> None:
    _, copy = source(tmp_path, ["a"], container="other" if case == "other-name" else "c")
    body = Path(copy).read_bytes()
    environ: dict[str, str] = {}
    etag = None
    if case == "etag":
        etag = hashlib.md5(b"something else").hexdigest()
    elif case == "garbage":
        body = b"SQLite format 3\x00" + b"\x01" * 4096
    elif case == "account":
        account = AccountBroker(str(tmp_path / "account.db"))
        account.initialize(stamp(), account="AUTH_a")
        copy, _ = db_transfer.snapshot(account.path, str(tmp_path / "tmp"), "container")
        body = Path(copy).read_bytes()
    elif case == "short":
        environ["CONTENT_LENGTH"] = str(len(body) + 10)
    response = push(app, body, etag, **environ)
    expected, reason = {"etag": (422, b"does not match its ETag"),
                        "garbage": (400, b"not a database"),
                        "account": (400, b"not a container database"),
                        "other-name": (400, b"not the container whose hash is in the path"),
                        "short": (400, b"10 bytes short")}[case]
    assert (response.status_int, reason in response.body) == (expected, True), response.body
    assert not (db_dir(tmp_path) / f"{NAME_HASH}.db").exists()
    assert not db_dir(tmp_path).exists()  # nothing left behind


def test_a_push_without_length_etag_or_device_is_refused(app: Any, tmp_path: Path) -> None:
    _, copy = source(tmp_path, ["a"])
    body = Path(copy).read_bytes()
    request = Request.blank(PATH, method="REPLICATE", body=body,
                            headers={"Content-Type": db_transfer.DB_CONTENT_TYPE, "ETag": "x"})
    del request.environ["CONTENT_LENGTH"]
    assert request.get_response(app).status_int == 411
    assert push(app, body, etag="").status_int == 400
    assert push(app, body, path=f"/sdz/3/{NAME_HASH}").status_int == 507


def test_merge_info_takes_what_is_newer_and_refuses_nonsense(app: Any, tmp_path: Path) -> None:
    final = db_dir(tmp_path) / f"{NAME_HASH}.db"
    os.makedirs(final.parent)
    there = ContainerBroker(str(final))
    there.initialize(stamp(500), account="AUTH_a", container="c")

    def op(**args: Any) -> Any:
        body = msgpack.packb({"op": "merge_info", **args})
        return Request.blank(PATH, method="REPLICATE", body=body).get_response(app)

    newer = stamp(10).internal
    assert op(put_timestamp=newer, metadata={"X-Container-Meta-A": ["1", newer]}
              ).status_int == 202
    assert there.get_info()["put_timestamp"].internal == newer
    assert op(put_timestamp=stamp(400).internal).status_int == 202  # older: no change
    assert there.get_info()["put_timestamp"].internal == newer
    assert op(delete_timestamp="yesterday").status_int == 400
    assert op(metadata=["not", "a", "map"]).status_int == 400
