"""fallocate_reserve: a new object that would leave a device less than its
reserve is refused 507, while deletes and metadata updates still work."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from objstore.common.http import Request, wsgi_app
from objstore.common.timestamp import Timestamp
from objstore.obj.diskfile import DiskFileManager
from objstore.common.free_space import NONE, Reserve
from objstore.obj.server import ObjectController, ObjectServerConfig
from ring.hashing import PathHasher

PATH = "/sda/7/AUTH_a/c/o"


@pytest.mark.parametrize(("text", "reserve"), [
    ("1%", Reserve(1, True)), (" 2.5 % ", Reserve(2.5, True)), ("0", Reserve(0)),
    ("10737418240", Reserve(10737418240)), ("100%", Reserve(100, True)),
])
def test_a_reserve_is_bytes_or_a_percentage(text: str, reserve: Reserve) -> None:
    assert Reserve.parse(text) == reserve


@pytest.mark.parametrize("text", ["lots", "", "%", "-1", "101%", "nan", "1GB"])
def test_anything_else_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(ValueError, match="fallocate_reserve"):
        Reserve.parse(text)
    with pytest.raises(ValueError, match="fallocate_reserve"):
        ObjectServerConfig(fallocate_reserve=text)


def test_what_a_reserve_allows_follows_the_filesystems_free_space(tmp_path: Path) -> None:
    stats = os.statvfs(tmp_path)
    free = stats.f_bavail * stats.f_frsize
    assert NONE.allows(str(tmp_path), 10 ** 18)
    assert Reserve(1).allows(str(tmp_path), 4096)
    assert not Reserve(1).allows(str(tmp_path), free)  # would leave 0 bytes
    assert not Reserve(free + 1).allows(str(tmp_path), 0)
    assert not Reserve(100, True).allows(str(tmp_path), 0)  # no disk is all free
    assert Reserve(0.0001, True).allows(str(tmp_path), 4096) == (
        (free - 4096) * 100 >= 0.0001 * stats.f_blocks * stats.f_frsize)


def call(app: object, method: str, body: bytes | None = None, **headers: str) -> object:
    request = Request.blank(PATH, method=method, headers={
        "X-Timestamp": Timestamp.now().internal, **headers})
    if body is not None:
        request.body = body
    return request.get_response(app)


def test_a_device_past_its_reserve_refuses_new_objects_but_not_deletes(
        tmp_path: Path) -> None:
    (tmp_path / "sda").mkdir()
    conf = ObjectServerConfig(devices=str(tmp_path), mount_check=False)
    assert conf.fallocate_reserve == "1%"  # Swift's default
    manager = DiskFileManager(str(tmp_path), hasher=PathHasher("pre", "suf"))
    app = wsgi_app(ObjectController(conf, logging.getLogger("test"), manager),
                   logging.getLogger("test"))
    assert call(app, "PUT", b"before", Content_Type="a/b").status_int == 201
    manager.reserve = Reserve(100, True)
    for body in (b"small", os.urandom(3 * 1024 * 1024)):  # one trip; streamed
        refused = call(app, "PUT", body, Content_Type="a/b")
        assert refused.status_int == 507 and b"fallocate_reserve" in refused.body
    assert call(app, "GET").body == b"before"
    assert call(app, "POST", X_Object_Meta_Kept="yes").status_int == 202
    assert call(app, "DELETE").status_int == 204
    assert call(app, "GET").status_int == 404
    assert not os.listdir(tmp_path / "sda" / "tmp")  # nothing begun and left behind


def test_the_object_server_takes_its_reserve_from_its_config(tmp_path: Path) -> None:
    (tmp_path / "sda").mkdir()
    conf = ObjectServerConfig(devices=str(tmp_path), mount_check=False,
                              fallocate_reserve="100%")
    app = wsgi_app(ObjectController(conf, logging.getLogger("test")), logging.getLogger("t"))
    assert call(app, "PUT", b"x", Content_Type="a/b").status_int == 507
