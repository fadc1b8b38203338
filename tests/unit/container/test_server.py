"""The container server's HTTP handling, on real databases in a device directory."""
from __future__ import annotations

import errno
import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from objstore.common.http import Request, wsgi_app
from objstore.common.policies import StoragePolicies, StoragePolicy
from objstore.common.timestamp import Timestamp
from objstore.container.broker import ContainerBroker
from objstore.container.server import ContainerController, ContainerServerConfig, account_nodes
from ring.hashing import PathHasher

from ...fakes.recording_server import RecordingServer, recording_server
from ...fakes.requests import call as fake_call, stamp, wsgi

HASHER = PathHasher("pre", "suf")
PATH = "/sda/7/AUTH_a/photos"
ETAG = "d41d8cd98f00b204e9800998ecf8427e"
POLICIES = StoragePolicies([StoragePolicy(0, "gold", is_default=True), StoragePolicy(1, "silver"),
                            StoragePolicy(2, "bronze")])


def make_app(tmp_path: Path, **options: Any) -> Any:
    conf = ContainerServerConfig(devices=str(tmp_path), **{"mount_check": False, **options})
    logger = logging.getLogger("test.container")
    return wsgi_app(ContainerController(conf, logger, policies=POLICIES, hasher=HASHER), logger)


@pytest.fixture
def app(tmp_path: Path) -> Any:
    (tmp_path / "sda").mkdir()
    return make_app(tmp_path)


def call(app: Any, method: str, path: str = PATH, **headers: str) -> Any:
    return fake_call(app, method, path, **headers)


def create(app: Any, path: str = PATH, **headers: str) -> Any:
    return call(app, "PUT", path, X_Timestamp=stamp(), **headers)


def put_object(app: Any, name: str, size: int = 3, path: str = PATH, ts: str | None = None,
               content_type: str = "text/plain", **headers: str) -> Any:
    return call(app, "PUT", f"{path}/{wsgi(name)}", X_Timestamp=ts or stamp(), X_Size=str(size),
                X_Content_Type=content_type, X_Etag=ETAG, **headers)


def listing(app: Any, query: str = "", path: str = PATH) -> list[str]:
    got = call(app, "GET", f"{path}?format=json&{query}")
    assert got.status_int == 200, got.body
    return [entry.get("name", entry.get("subdir")) for entry in json.loads(got.body)]


# --- PUT, HEAD, the database's place -----------------------------------------


def test_put_creates_then_accepts(app: Any, tmp_path: Path) -> None:
    ts = stamp()
    created = call(app, "PUT", X_Timestamp=ts)
    assert created.status_int == 201
    assert created.headers["X-Backend-Storage-Policy-Index"] == "0"
    name_hash = HASHER.hash_path("AUTH_a", "photos")
    db = tmp_path / "sda" / "containers" / "7" / name_hash[-3:] / name_hash / f"{name_hash}.db"
    assert db.is_file()
    assert call(app, "PUT", X_Timestamp=stamp(1)).status_int == 202
    head = call(app, "HEAD")
    assert head.status_int == 204 and head.body == b""
    assert head.headers["X-Container-Object-Count"] == "0"
    assert head.headers["X-Container-Bytes-Used"] == "0"
    assert head.headers["X-PUT-Timestamp"] != Timestamp(ts).normal  # moved by the second PUT
    assert head.headers["Last-Modified"] == Timestamp(head.headers["X-PUT-Timestamp"]).http_date
    assert float(head.headers["X-Timestamp"]) > 0
    assert head.headers["X-Backend-Storage-Policy-Index"] == "0"
    assert head.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_an_older_put_is_accepted_and_changes_nothing(app: Any) -> None:
    ts = stamp()
    call(app, "PUT", X_Timestamp=ts)
    assert call(app, "PUT", X_Timestamp=stamp(-100)).status_int == 202
    assert call(app, "HEAD").headers["X-PUT-Timestamp"] == Timestamp(ts).normal


def test_policies(app: Any) -> None:
    assert create(app, X_Backend_Storage_Policy_Index="1").status_int == 201
    other = create(app, X_Backend_Storage_Policy_Index="2")
    assert other.status_int == 409 and other.headers["X-Backend-Storage-Policy-Index"] == "1"
    assert create(app, X_Backend_Storage_Policy_Index="1").status_int == 202
    assert create(app).status_int == 202  # no index: whatever it has
    assert call(app, "HEAD").headers["X-Backend-Storage-Policy-Index"] == "1"
    defaulted = create(app, path="/sda/7/AUTH_a/other", X_Backend_Storage_Policy_Default="2")
    assert defaulted.headers["X-Backend-Storage-Policy-Index"] == "2"
    for bad in ("9", "one", "-1"):
        response = create(app, path="/sda/7/AUTH_a/new", X_Backend_Storage_Policy_Index=bad)
        assert response.status_int == 400 and b"Policy-Index" in response.body
    assert create(app, path="/sda/7/AUTH_a/new", X_Backend_Storage_Policy_Default="9"
                  ).status_int == 400


def test_a_deleted_container_comes_back_with_a_new_policy(app: Any) -> None:
    create(app, X_Backend_Storage_Policy_Index="1")
    assert call(app, "DELETE", X_Timestamp=stamp(1)).status_int == 204
    stale = call(app, "PUT", X_Timestamp=stamp(-10), X_Backend_Storage_Policy_Index="2")
    assert stale.status_int == 409  # older than the delete: still deleted
    assert call(app, "HEAD").status_int == 404
    back = call(app, "PUT", X_Timestamp=stamp(2), X_Backend_Storage_Policy_Index="2")
    assert back.status_int == 201 and back.headers["X-Backend-Storage-Policy-Index"] == "2"
    assert call(app, "HEAD").headers["X-Backend-Storage-Policy-Index"] == "2"


# --- metadata ------------------------------------------------------------------


def test_metadata_is_kept_with_its_timestamp(app: Any) -> None:
    create(app, X_Container_Meta_Color="blue", X_Container_Read=".r:*",
           X_Container_Write="AUTH_b", X_Container_Sync_Key="k", X_Container_Sync_To="//r/c/a/c",
           X_Versions_Location="old", X_History_Location="hist",
           X_Container_Sysmeta_Owner="me", X_Unrelated="nope")
    headers = call(app, "HEAD").headers
    assert headers["X-Container-Meta-Color"] == "blue"
    assert headers["X-Container-Read"] == ".r:*"
    assert headers["X-Container-Write"] == "AUTH_b"
    assert headers["X-Container-Sync-Key"] == "k"
    assert headers["X-Container-Sync-To"] == "//r/c/a/c"
    assert headers["X-Versions-Location"] == "old"
    assert headers["X-History-Location"] == "hist"
    assert headers["X-Container-Sysmeta-Owner"] == "me"
    assert "X-Unrelated" not in headers
    assert call(app, "POST", X_Timestamp=stamp(5), X_Container_Meta_Color="red",
                X_Container_Read="").status_int == 204
    assert call(app, "POST", X_Timestamp=stamp(1), X_Container_Meta_Color="green"
                ).status_int == 204  # older than the value held: ignored
    headers = call(app, "GET").headers
    assert headers["X-Container-Meta-Color"] == "red"
    assert "X-Container-Read" not in headers  # an empty value deletes


def test_metadata_is_utf8_both_ways(app: Any) -> None:
    wsgi_value = "caf\u00c3\u00a9"  # b"caf\xc3\xa9" as a WSGI string
    create(app, X_Container_Meta_Name=wsgi_value)
    assert call(app, "HEAD").headers["X-Container-Meta-Name"] == wsgi_value
    bad = call(app, "POST", X_Timestamp=stamp(1), X_Container_Meta_Name="caf\u00e9")
    assert bad.status_int == 400 and b"UTF-8" in bad.body


@pytest.mark.parametrize("headers", [
    {"X_Container_Meta_" + "n" * 129: "v"},
    {"X_Container_Meta_Big": "v" * 257},
    {f"X_Container_Meta_M{i}": "v" for i in range(91)},
])
def test_metadata_over_the_limits_is_400(app: Any, headers: dict[str, str]) -> None:
    response = create(app, **headers)
    assert response.status_int == 400 and response.body.strip()
    assert call(app, "HEAD").status_int == 404  # refused before anything was made


def test_post(app: Any) -> None:
    assert call(app, "POST", X_Timestamp=stamp()).status_int == 404
    create(app)
    call(app, "DELETE", X_Timestamp=stamp(1))
    assert call(app, "POST", X_Timestamp=stamp(2), X_Container_Meta_A="b").status_int == 404
    assert call(app, "POST", f"{PATH}/obj", X_Timestamp=stamp(3)).status_int == 400


# --- object rows -----------------------------------------------------------------


def test_object_updates(app: Any) -> None:
    assert put_object(app, "a").status_int == 404  # no container yet
    create(app)
    assert put_object(app, "a", 10).status_int == 201
    assert put_object(app, "dir/b", 5, X_Backend_Storage_Policy_Index="1").status_int == 201
    head = call(app, "HEAD").headers
    assert (head["X-Container-Object-Count"], head["X-Container-Bytes-Used"]) == ("2", "15")
    stale = put_object(app, "a", 99, ts=stamp(-100))
    assert stale.status_int == 201  # recorded, and loses to the newer row
    assert call(app, "HEAD").headers["X-Container-Bytes-Used"] == "15"
    assert call(app, "DELETE", f"{PATH}/a", X_Timestamp=stamp(1)).status_int == 204
    head = call(app, "HEAD").headers
    assert (head["X-Container-Object-Count"], head["X-Container-Bytes-Used"]) == ("1", "5")
    assert listing(app) == ["dir/b"]
    assert call(app, "DELETE", f"{PATH}/gone", X_Timestamp=stamp(2)).status_int == 204
    assert call(app, "DELETE", "/sda/7/AUTH_a/none/x", X_Timestamp=stamp()).status_int == 404


@pytest.mark.parametrize(("headers", "status"), [
    ({"X_Size": "3", "X_Content_Type": "a/b"}, 400),  # no etag
    ({"X_Size": "3", "X_Etag": ETAG}, 400),  # no content type
    ({"X_Content_Type": "a/b", "X_Etag": ETAG}, 400),  # no size
    ({"X_Size": "-1", "X_Content_Type": "a/b", "X_Etag": ETAG}, 400),
    ({"X_Size": "x", "X_Content_Type": "a/b", "X_Etag": ETAG}, 400),
    ({"X_Size": "3", "X_Content_Type": "a/b", "X_Etag": ETAG,
      "X_Backend_Storage_Policy_Index": "7"}, 400),
    ({"X_Size": "3", "X_Content_Type": "caf\u00e9", "X_Etag": ETAG}, 400),  # not UTF-8
    ({"X_Size": "3", "X_Content_Type": "a/b", "X_Etag": "\u00ff"}, 400),
])
def test_object_updates_need_their_headers(app: Any, headers: dict[str, str],
                                           status: int) -> None:
    create(app)
    response = call(app, "PUT", f"{PATH}/o", X_Timestamp=stamp(), **headers)
    assert response.status_int == status and response.body.strip()


def test_object_updates_keep_utf8_content_types(app: Any) -> None:
    create(app)
    assert put_object(app, "o", content_type="caf\u00c3\u00a9").status_int == 201
    got = call(app, "GET", f"{PATH}?format=json")
    assert json.loads(got.body)[0]["content_type"] == "caf\u00e9"


def test_object_updates_at_once_all_land(app: Any) -> None:
    create(app)
    statuses: list[int] = []

    def send(worker: int) -> None:
        for i in range(20):
            statuses.append(put_object(app, f"w{worker:02d}/o{i:02d}").status_int)

    threads = [threading.Thread(target=send, args=(w,)) for w in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert statuses == [201] * 240
    assert call(app, "HEAD").headers["X-Container-Object-Count"] == "240"
    assert len(listing(app, "limit=1000")) == 240


def test_a_full_disk_under_the_pending_file_is_507(app: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    create(app)
    assert put_object(app, "kept").status_int == 201
    real_write = os.write

    def write(fd: int, data: Any) -> int:
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".pending"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    response = put_object(app, "lost")
    assert response.status_int == 507 and b"full" in response.body
    monkeypatch.undo()
    assert listing(app) == ["kept"]


def test_internal_accounts_get_their_containers_made(app: Any) -> None:
    path = "/sda/7/.expiring_objects/1700000000"
    assert put_object(app, "1700000000-AUTH_a/c/o", path=path,
                      X_Backend_Storage_Policy_Index="2").status_int == 201
    head = call(app, "HEAD", path)
    assert head.status_int == 204 and head.headers["X-Container-Object-Count"] == "1"
    assert head.headers["X-Backend-Storage-Policy-Index"] == "2"


def test_an_empty_auto_create_prefix_makes_no_account_internal(tmp_path: Path) -> None:
    (tmp_path / "sda").mkdir()
    app = make_app(tmp_path, auto_create_account_prefix="")
    assert put_object(app, "o", path="/sda/7/.expiring_objects/1").status_int == 404
    assert put_object(app, "o", path="/sda/7/AUTH_a/c").status_int == 404


# --- DELETE -----------------------------------------------------------------------


def test_delete(app: Any) -> None:
    assert call(app, "DELETE", X_Timestamp=stamp()).status_int == 404
    create(app)
    put_object(app, "o")
    busy = call(app, "DELETE", X_Timestamp=stamp(1))
    assert busy.status_int == 409 and b"not empty" in busy.body
    call(app, "DELETE", f"{PATH}/o", X_Timestamp=stamp(2))
    assert call(app, "DELETE", X_Timestamp=stamp(-100)).status_int == 409  # older than the PUT
    assert call(app, "DELETE", X_Timestamp=stamp(3)).status_int == 204
    gone = call(app, "HEAD")
    assert gone.status_int == 404
    assert gone.headers["X-Backend-DELETE-Timestamp"] > gone.headers["X-Backend-PUT-Timestamp"]
    assert "X-Container-Object-Count" not in gone.headers
    assert call(app, "GET").status_int == 404
    assert call(app, "DELETE", X_Timestamp=stamp(4)).status_int == 404


# --- listings ----------------------------------------------------------------------


def fill(app: Any, names: list[str]) -> None:
    create(app)
    for offset, name in enumerate(names):
        put_object(app, name, len(name), ts=Timestamp(1_700_000_000, delta=offset).internal)


NAMES = ["a", "b/1", "b/2", "b/c/3", "c", "d/", "d/e"]


@pytest.mark.parametrize(("query", "expected"), [
    ("", NAMES),
    ("limit=2", ["a", "b/1"]),
    ("limit=0", []),
    ("limit=abc", NAMES),  # not a number: the maximum, as in Swift
    ("marker=b/2", ["b/c/3", "c", "d/", "d/e"]),
    ("end_marker=b/2", ["a", "b/1"]),
    ("marker=a&end_marker=c", ["b/1", "b/2", "b/c/3"]),
    ("prefix=b/", ["b/1", "b/2", "b/c/3"]),
    ("delimiter=/", ["a", "b/", "c", "d/"]),
    ("prefix=b/&delimiter=/", ["b/1", "b/2", "b/c/"]),
    ("reverse=true", NAMES[::-1]),
    ("reverse=yes&limit=2", ["d/e", "d/"]),
    ("reverse=1&marker=c", ["b/c/3", "b/2", "b/1", "a"]),
    ("reverse=false", NAMES),
    ("reverse=no&delimiter=/", ["a", "b/", "c", "d/"]),
    ("delimiter=/c", ["a", "b/1", "b/2", "b/c", "c", "d/", "d/e"]),  # several characters
    ("prefix=b&delimiter=/c/", ["b/1", "b/2", "b/c/"]),
    ("path=b", ["b/1", "b/2"]),
    ("path=d", ["d/e"]),
    ("path=", ["a", "c", "d/"]),
    ("prefix=%C3%A9", []),
])
def test_listing_parameters(app: Any, query: str, expected: list[str]) -> None:
    fill(app, NAMES)
    assert listing(app, query) == expected


def test_json_listing(app: Any) -> None:
    fill(app, ["caf\u00e9", "dir/x"])
    got = call(app, "GET", f"{PATH}?format=json&delimiter=/")
    assert got.status_int == 200
    assert got.headers["Content-Type"] == "application/json; charset=utf-8"
    assert got.headers["X-Container-Object-Count"] == "2"
    assert json.loads(got.body) == [
        {"name": "caf\u00e9", "hash": ETAG, "bytes": 4, "content_type": "text/plain",
         "last_modified": "2023-11-14T22:13:20.000000"},
        {"subdir": "dir/"},
    ]
    assert got.body.isascii()
    assert int(got.headers["Content-Length"]) == len(got.body)


def test_xml_listing_is_swifts_shape_and_escaped(app: Any) -> None:
    create(app, path="/sda/7/AUTH_a/a%26b")
    put_object(app, "<x>&\"y\"", 1, path="/sda/7/AUTH_a/a%26b", content_type="t/&",
               ts=Timestamp(1_700_000_000).internal)
    put_object(app, "d/z", 1, path="/sda/7/AUTH_a/a%26b", ts=Timestamp(1_700_000_000).internal)
    got = call(app, "GET", "/sda/7/AUTH_a/a%26b?format=xml&delimiter=/")
    assert got.headers["Content-Type"] == "application/xml; charset=utf-8"
    assert got.body == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<container name="a%26b">'
        b'<object><name>&lt;x&gt;&amp;"y"</name><hash>' + ETAG.encode() + b'</hash>'
        b'<bytes>1</bytes><content_type>t/&amp;</content_type>'
        b'<last_modified>2023-11-14T22:13:20.000000</last_modified></object>'
        b'<subdir name="d/"><name>d/</name></subdir></container>')


def test_plain_listing(app: Any) -> None:
    fill(app, ["caf\u00e9", "dir/x"])
    got = call(app, "GET", f"{PATH}?delimiter=/")
    assert got.status_int == 200
    assert got.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert got.body == "caf\u00e9\ndir/\n".encode()


def test_empty_listings(app: Any) -> None:
    create(app)
    plain = call(app, "GET")
    assert plain.status_int == 204 and plain.body == b""
    as_json = call(app, "GET", f"{PATH}?format=json")
    assert (as_json.status_int, as_json.body) == (200, b"[]")
    as_xml = call(app, "GET", f"{PATH}?format=xml")
    assert as_xml.status_int == 200
    assert as_xml.body == b'<?xml version="1.0" encoding="UTF-8"?>\n<container name="photos" />'


def test_swift_bytes_in_the_content_type_is_the_listed_size(app: Any) -> None:
    create(app)
    put_object(app, "manifest", 0, content_type="text/plain;swift_bytes=2048")
    (entry,) = json.loads(call(app, "GET", f"{PATH}?format=json").body)
    assert (entry["bytes"], entry["content_type"]) == (2048, "text/plain")


@pytest.mark.parametrize(("query", "accept", "content_type"), [
    ("", None, "text/plain"),
    ("", "application/json", "application/json"),
    ("", "application/xml", "application/xml"),
    ("", "text/xml", "text/xml"),
    ("", "*/*", "text/plain"),
    ("", "application/*", "application/json"),
    ("", "text/plain;q=0.1, application/json", "application/json"),
    ("format=json", "application/xml", "application/json"),
    ("format=XML", None, "application/xml"),
    ("format=plain", "application/json", "text/plain"),
    ("format=csv", None, "text/plain"),
])
def test_format_and_accept(app: Any, query: str, accept: str | None,
                           content_type: str) -> None:
    fill(app, ["x"])
    headers = {"Accept": accept} if accept else {}
    got = call(app, "GET", f"{PATH}?{query}", **headers)
    assert got.status_int == 200
    assert got.headers["Content-Type"] == f"{content_type}; charset=utf-8"
    head = call(app, "HEAD", f"{PATH}?{query}", **headers)
    assert head.headers["Content-Type"] == f"{content_type}; charset=utf-8"


@pytest.mark.parametrize(("query", "headers", "status"), [
    ("", {"Accept": "image/png"}, 406),
    ("", {"Accept": "text/plain;q=abc"}, 400),
    ("limit=10001", {}, 412),
    ("limit=10000", {}, 200),
    ("delimiter=ab", {}, 200),  # any text, as Swift takes it now
    ("marker=%FF", {}, 400),
    ("prefix=%C3", {}, 400),
    ("format=%FF", {}, 400),
    ("marker=" + "m" * 1025, {}, 400),
    ("end_marker=" + "%C3%A9" * 513, {}, 400),  # 1026 bytes
    ("prefix=%00", {}, 400),
])
def test_bad_listing_requests(app: Any, query: str, headers: dict[str, str],
                              status: int) -> None:
    fill(app, ["x"])
    response = call(app, "GET", f"{PATH}?{query}", **headers)
    assert response.status_int == status
    assert response.body.strip()
    assert b"Traceback" not in response.body


# --- bad requests ------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "headers", "status"), [
    ("PUT", PATH, {}, 400),  # no X-Timestamp
    ("PUT", PATH, {"X_Timestamp": "yesterday"}, 400),
    ("PUT", PATH, {"X_Timestamp": "-1"}, 400),
    ("POST", PATH, {"X_Timestamp": "nan"}, 400),
    ("DELETE", PATH, {}, 400),
    ("GET", "/sda/7/AUTH_a", {}, 400),
    ("GET", "/sda/x/AUTH_a/c", {}, 400),
    ("GET", "/sda/12345678901/AUTH_a/c", {}, 400),
    ("GET", "/../7/AUTH_a/c", {}, 400),
    ("GET", "/sd%a/7/AUTH_a/c", {}, 400),
    ("GET", "/sda/7/AUTH_a/\u00ff", {}, 412),  # the byte 0xFF: not UTF-8
    ("GET", "/sda/7/AUTH_a/c\x00", {}, 412),
    ("GET", "/sdz/7/AUTH_a/c", {}, 507),
    ("GET", "/sda/7/AUTH_a/" + "c" * 257, {}, 400),
    ("GET", "/sda/7/" + "a" * 257 + "/c", {}, 400),
    ("PUT", "/sda/7/AUTH_a/c/" + "o" * 1025, {"X_Timestamp": "1"}, 400),
    ("GET", PATH + "/obj", {}, 400),
    ("PATCH", PATH, {}, 405),
    ("PUT", PATH, {"X_Timestamp": "1", "X_Account_Host": "127.0.0.1:1,127.0.0.1:2",
                   "X_Account_Device": "sda", "X_Account_Partition": "1"}, 400),
    ("PUT", PATH, {"X_Timestamp": "1", "X_Account_Host": "nowhere",
                   "X_Account_Device": "sda", "X_Account_Partition": "1"}, 400),
    ("PUT", PATH, {"X_Timestamp": "1", "X_Account_Host": "127.0.0.1:1",
                   "X_Account_Device": "sda", "X_Account_Partition": "p"}, 400),
])
def test_bad_requests(app: Any, method: str, path: str, headers: dict[str, str],
                      status: int) -> None:
    response = call(app, method, path, **headers)
    assert response.status_int == status
    assert response.body.strip()  # a reason, never an empty error
    assert b"Traceback" not in response.body


def test_mount_check_refuses_a_device_that_is_no_mount(tmp_path: Path) -> None:
    (tmp_path / "sda").mkdir()
    response = call(make_app(tmp_path, mount_check=True), "PUT", X_Timestamp=stamp())
    assert response.status_int == 507 and b"not mounted" in response.body


def test_a_corrupt_database_is_500_with_a_reason(app: Any, tmp_path: Path) -> None:
    create(app)
    (db,) = (tmp_path / "sda" / "containers").rglob("*.db")
    for side in db.parent.iterdir():
        if side != db:
            side.unlink()
    db.write_bytes(b"not a database at all" * 100)
    response = call(app, "HEAD", "/sda/7/AUTH_a/photos?format=json")
    assert response.status_int == 500
    got = call(app, "GET")
    assert got.status_int == 500 and b"database" in got.body and b"Traceback" not in got.body


def test_a_full_device_is_507(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    create(app)

    def full(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ContainerBroker, "put_records", full)
    response = put_object(app, "o")
    assert response.status_int == 507 and b"full" in response.body


# --- REPLICATE -----------------------------------------------------------------------


def test_replicate_returns_the_replication_info(app: Any) -> None:
    create(app, X_Container_Meta_A="b")
    put_object(app, "o")
    name_hash = HASHER.hash_path("AUTH_a", "photos")
    got = call(app, "REPLICATE", f"/sda/7/{name_hash}")
    assert got.status_int == 200
    assert got.headers["Content-Type"] == "application/json; charset=utf-8"
    info = json.loads(got.body)
    assert (info["account"], info["container"], info["object_count"]) == ("AUTH_a", "photos", 1)
    assert info["max_row"] >= 1 and info["row_count"] == 1
    assert info["metadata"]["X-Container-Meta-A"][0] == "b"
    assert call(app, "REPLICATE", f"/sda/7/{'0' * 32}").status_int == 404
    assert call(app, "REPLICATE", "/sda/7/nothex").status_int == 400
    assert call(app, "REPLICATE", f"/sdz/7/{name_hash}").status_int == 507


def replicate(app: Any, name_hash: str, message: Any, raw: bytes | None = None) -> Any:
    request = Request.blank(f"/sda/7/{name_hash}", method="REPLICATE")
    request.body = raw if raw is not None else msgpack.packb(message)
    return request.get_response(app)


def test_rows_sync_between_replicas_through_replicate(tmp_path: Path) -> None:
    apps = []
    for node in ("a", "b"):
        (tmp_path / node / "sda").mkdir(parents=True)
        apps.append(make_app(tmp_path / node))
    source, target = apps
    ts = stamp()
    for app in apps:
        assert call(app, "PUT", PATH, X_Timestamp=ts).status_int == 201
    for name in ("x", "y", "z"):
        put_object(source, name)
    name_hash = HASHER.hash_path("AUTH_a", "photos")
    source_info = json.loads(call(source, "REPLICATE", f"/sda/7/{name_hash}").body)
    # the replicator asks the target how far it has the source's rows
    synced = msgpack.unpackb(replicate(target, name_hash,
                                       {"op": "sync", "remote_id": source_info["id"]}).body)
    assert synced["sync_point"] == -1 and synced["object_count"] == 0
    rows = msgpack.unpackb(replicate(source, name_hash, {
        "op": "get_items", "since": synced["sync_point"], "count": 100}).body)["items"]
    assert [row["name"] for row in rows] == ["x", "y", "z"]
    merged = replicate(target, name_hash, {"op": "merge_items", "items": rows,
                                           "source_id": source_info["id"]})
    assert merged.status_int == 202
    assert json.loads(call(target, "GET", PATH + "?format=json").body) == \
        json.loads(call(source, "GET", PATH + "?format=json").body)
    again = msgpack.unpackb(replicate(target, name_hash,
                                      {"op": "sync", "remote_id": source_info["id"]}).body)
    assert again["sync_point"] == source_info["max_row"]
    assert again["hash"] == source_info["hash"]  # the same rows, the same hash
    points = [{"remote_id": "another", "sync_point": 5}]
    assert replicate(target, name_hash, {"op": "merge_syncs", "points": points}).status_int == 202


@pytest.mark.parametrize(("message", "raw"), [
    (None, b"\xc1 not msgpack"),
    ({"op": "drop_table"}, None),
    (["op", "sync"], None),
    ({"op": "merge_items", "items": "rows"}, None),
    ({"op": "merge_items", "items": [{"name": "x"}]}, None),
    ({"op": "get_items", "since": "start"}, None),
    ({"op": "get_items", "since": 0, "count": 10**9}, None),
    ({"op": "sync"}, None),
])
def test_malformed_replicate_requests_are_400(app: Any, message: Any, raw: bytes | None) -> None:
    create(app)
    response = replicate(app, HASHER.hash_path("AUTH_a", "photos"), message, raw)
    assert response.status_int == 400 and response.body.strip()


# --- telling the account -------------------------------------------------------------


@pytest.fixture
def account_server() -> Iterator[RecordingServer]:
    with recording_server() as server:
        yield server


def where(host: str) -> dict[str, str]:
    return {"X_Account_Host": host, "X_Account_Device": "sdb", "X_Account_Partition": "3",
            "X_Trans_Id": "tx-9"}


def test_put_and_delete_tell_the_account(app: Any, account_server: RecordingServer) -> None:
    ts = stamp()
    response = call(app, "PUT", X_Timestamp=ts, X_Backend_Storage_Policy_Index="2",
                    **where(account_server.host))
    assert response.status_int == 201
    deleted = stamp(1)
    assert call(app, "DELETE", X_Timestamp=deleted, **where(account_server.host)).status_int == 204
    (op1, path1, put), (op2, path2, delete) = account_server.seen
    assert (op1, path1, op2, path2) == ("PUT", "/sdb/3/AUTH_a/photos", "PUT",
                                        "/sdb/3/AUTH_a/photos")
    assert (put["X-Put-Timestamp"], put["X-Delete-Timestamp"]) == (ts, Timestamp(0).internal)
    assert (put["X-Object-Count"], put["X-Bytes-Used"]) == ("0", "0")
    assert put["X-Backend-Storage-Policy-Index"] == "2" and put["X-Trans-Id"] == "tx-9"
    assert delete["X-Delete-Timestamp"] == deleted


def test_object_updates_that_name_the_account_tell_it(app: Any, account_server: RecordingServer) -> None:
    create(app)
    assert put_object(app, "o", 7, **where(account_server.host)).status_int == 201
    assert put_object(app, "p", 1).status_int == 201  # names no account: tells none
    ((_, _, headers),) = account_server.seen
    assert (headers["X-Object-Count"], headers["X-Bytes-Used"]) == ("1", "7")


def test_an_account_that_does_not_exist_makes_the_put_404(app: Any,
                                                           account_server: RecordingServer) -> None:
    account_server.status = 404
    response = call(app, "PUT", X_Timestamp=stamp(), **where(account_server.host))
    assert response.status_int == 404 and b"account" in response.body


def test_an_unreachable_account_is_logged_and_the_put_stands(
        app: Any, account_server: RecordingServer, caplog: pytest.LogCaptureFixture) -> None:
    import socket

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nobody listens there
    account_server.status = 500
    hosts = {"X_Account_Host": f"127.0.0.1:{port},{account_server.host}",
             "X_Account_Device": "sdb,sdc", "X_Account_Partition": "3"}
    with caplog.at_level(logging.ERROR, "test.container"):
        assert call(app, "PUT", X_Timestamp=stamp(), **hosts).status_int == 201
    assert len(account_server.seen) == 1
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"127.0.0.1:{port}/sdb failed" in m for m in messages)
    assert any("answered 500" in m for m in messages)


def test_account_nodes() -> None:
    nodes = account_nodes({"X-Account-Host": "10.0.0.1:6202, [::1]:6002",
                           "X-Account-Device": "sda,sdb", "X-Account-Partition": "17"})
    assert [(n.host, n.port, n.device, n.partition) for n in nodes] == [
        ("10.0.0.1", 6202, "sda", "17"), ("::1", 6002, "sdb", "17")]
    assert account_nodes({}) == []
    assert account_nodes({"X-Account-Host": "10.0.0.1:6202", "X-Account-Device": "sda"}) == []


# -- UPDATE: object updates batched by an object server ---------------------------

def update(app: Any, records: Any, path: str = PATH, body: bytes | None = None) -> Any:
    request = Request.blank("/", method="UPDATE")
    request.environ["PATH_INFO"] = path
    request.body = msgpack.packb(records) if body is None else body
    return request.get_response(app)


def record(op: str, name: str, size: int = 3, **extra: str) -> list[Any]:
    headers = {"X-Timestamp": stamp(), "X-Backend-Storage-Policy-Index": "0"}
    if op == "PUT":
        headers.update({"X-Size": str(size), "X-Content-Type": "text/plain", "X-Etag": ETAG})
    headers.update({k.replace("_", "-"): v for k, v in extra.items()})
    return [op, name, headers]


def test_update_records_every_object_of_a_batch_with_its_own_status(app: Any) -> None:
    create(app)
    put_object(app, "gone")
    response = update(app, [record("PUT", "a", 5), record("PUT", "snow ☃", 7),
                            record("DELETE", "gone")])
    assert response.status_int == 200
    assert msgpack.unpackb(response.body) == [201, 201, 204]
    assert listing(app) == ["a", "snow ☃"]
    head = call(app, "HEAD")
    assert head.headers["X-Container-Object-Count"] == "2"
    assert head.headers["X-Container-Bytes-Used"] == "12"


def test_a_bad_record_fails_alone_and_the_others_are_kept(app: Any) -> None:
    create(app)
    no_size = record("PUT", "b")
    del no_size[2]["X-Size"]
    response = update(app, [record("PUT", "a"), no_size, record("PUT", "c", X_Timestamp="soon"),
                            record("POST", "d"), record("PUT", "e" * 2000),
                            record("PUT", "f", X_Backend_Storage_Policy_Index="9")])
    assert msgpack.unpackb(response.body) == [201, 400, 400, 400, 400, 400]
    assert listing(app) == ["a"]


def test_update_of_a_missing_container_fails_every_record(app: Any) -> None:
    response = update(app, [record("PUT", "a"), record("PUT", "b")])
    assert response.status_int == 200 and msgpack.unpackb(response.body) == [404, 404]


def test_a_malformed_update_is_refused_with_a_reason(app: Any) -> None:
    create(app)
    assert update(app, None, body=b"\xc1 not msgpack").status_int == 400
    assert b"must be a list" in update(app, {"op": "PUT"}).body
    bad = update(app, [["PUT", "a"]])
    assert bad.status_int == 400 and b"record 0" in bad.body
    assert update(app, [record("PUT", "a")], path=PATH + "/obj").status_int == 400
    too_many = update(app, [record("PUT", f"o{i}") for i in range(1025)])
    assert too_many.status_int == 413
    assert listing(app) == []


# -- fallocate_reserve ----------------------------------------------------------------


def test_a_device_past_its_reserve_refuses_what_grows_and_takes_what_frees(app: Any,
                                                                           tmp_path: Path) -> None:
    create(app, X_Container_Meta_A="b")
    put_object(app, "kept")
    put_object(app, "gone")
    name_hash = HASHER.hash_path("AUTH_a", "photos")
    full = make_app(tmp_path, fallocate_reserve="100%")  # no disk is that empty
    refused = [create(full, f"/sda/7/AUTH_a/{name}") for name in ("photos", "new")]
    refused += [put_object(full, "more"), call(full, "POST", X_Timestamp=stamp(),
                                                X_Container_Meta_A="c")]
    refused.append(replicate(full, name_hash, {"op": "merge_syncs", "points": []}))
    assert [r.status_int for r in refused] == [507] * 5
    assert b"fallocate_reserve" in refused[0].body
    batch = update(full, [record("PUT", "batched"), record("DELETE", "gone")])
    assert msgpack.unpackb(batch.body) == [507, 204]  # deletes free space: they go in
    assert call(full, "DELETE", f"{PATH}/kept", X_Timestamp=stamp()).status_int == 204
    assert listing(full) == []
    assert call(full, "REPLICATE", f"/sda/7/{name_hash}").status_int == 200  # reads go on
    assert call(full, "DELETE", X_Timestamp=stamp()).status_int == 204
    assert ContainerServerConfig().fallocate_reserve == "1%"  # Swift's default
    with pytest.raises(ValueError, match="fallocate_reserve"):
        ContainerServerConfig(fallocate_reserve="a lot")
