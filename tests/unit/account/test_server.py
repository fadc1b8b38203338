"""The account server's HTTP handling, on real databases in a device directory."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from objstore.account.server import AccountController, AccountServerConfig
from objstore.common.http import wsgi_app
from objstore.common.policies import StoragePolicies, StoragePolicy
from objstore.common.timestamp import Timestamp
from ring.hashing import PathHasher

from ...fakes.requests import call as fake_call, stamp, wsgi

HASHER = PathHasher("pre", "suf")
PATH = "/sda/3/AUTH_a"
POLICIES = StoragePolicies([StoragePolicy(0, "gold", is_default=True),
                            StoragePolicy(1, "silver-2")])
ZERO = Timestamp(0).internal


def make_app(tmp_path: Path, **options: Any) -> Any:
    conf = AccountServerConfig(devices=str(tmp_path), **{"mount_check": False, **options})
    logger = logging.getLogger("test.account")
    return wsgi_app(AccountController(conf, logger, policies=POLICIES, hasher=HASHER), logger)


@pytest.fixture
def app(tmp_path: Path) -> Any:
    (tmp_path / "sda").mkdir()
    return make_app(tmp_path)


def call(app: Any, method: str, path: str = PATH, **headers: str) -> Any:
    return fake_call(app, method, path, **headers)


def create(app: Any, path: str = PATH, **headers: str) -> Any:
    return call(app, "PUT", path, X_Timestamp=stamp(), **headers)


def report(app: Any, name: str, objects: int = 0, used: int = 0, policy: int = 0,
           put: str | None = None, delete: str = ZERO, path: str = PATH, **headers: str) -> Any:
    return call(app, "PUT", f"{path}/{wsgi(name)}", X_Put_Timestamp=put or stamp(),
                X_Delete_Timestamp=delete, X_Object_Count=str(objects), X_Bytes_Used=str(used),
                X_Backend_Storage_Policy_Index=str(policy), **headers)


def names(app: Any, query: str = "") -> list[str]:
    got = call(app, "GET", f"{PATH}?format=json&{query}")
    assert got.status_int == 200, got.body
    return [entry.get("name", entry.get("subdir")) for entry in json.loads(got.body)]


# --- the account ---------------------------------------------------------------


def test_put_creates_then_accepts(app: Any, tmp_path: Path) -> None:
    ts = stamp()
    assert call(app, "PUT", X_Timestamp=ts).status_int == 201
    name_hash = HASHER.hash_path("AUTH_a")
    db = tmp_path / "sda" / "accounts" / "3" / name_hash[-3:] / name_hash / f"{name_hash}.db"
    assert db.is_file()
    assert call(app, "PUT", X_Timestamp=stamp(1)).status_int == 202
    head = call(app, "HEAD")
    assert head.status_int == 204 and head.body == b""
    assert head.headers["X-Account-Container-Count"] == "0"
    assert head.headers["X-Account-Object-Count"] == "0"
    assert head.headers["X-Account-Bytes-Used"] == "0"
    assert float(head.headers["X-PUT-Timestamp"]) > float(ts)
    assert float(head.headers["X-Timestamp"]) > 0
    assert head.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert not [h for h in head.headers if h.startswith("X-Account-Storage-Policy")]


def test_metadata(app: Any) -> None:
    create(app, X_Account_Meta_Color="blue", X_Account_Sysmeta_Quota="10",
           X_Account_Access_Control='{"admin":["bob"]}', X_Other="no",
           X_Account_Meta_Name=wsgi("caf\u00e9"))
    headers = call(app, "HEAD").headers
    assert headers["X-Account-Meta-Color"] == "blue"
    assert headers["X-Account-Sysmeta-Quota"] == "10"
    assert headers["X-Account-Access-Control"] == '{"admin":["bob"]}'
    assert headers["X-Account-Meta-Name"] == wsgi("caf\u00e9")
    assert "X-Other" not in headers
    assert call(app, "POST", X_Timestamp=stamp(5), X_Account_Meta_Color="",
                X_Account_Meta_Size="L").status_int == 204
    assert call(app, "POST", X_Timestamp=stamp(1), X_Account_Meta_Size="S").status_int == 204
    headers = call(app, "GET").headers
    assert "X-Account-Meta-Color" not in headers and headers["X-Account-Meta-Size"] == "L"
    assert call(app, "POST", X_Timestamp=stamp(6),
                X_Account_Meta_Big="v" * 257).status_int == 400
    assert call(app, "POST", X_Timestamp=stamp(6),
                X_Account_Meta_Latin="caf\u00e9").status_int == 400
    assert call(app, "POST", "/sda/3/AUTH_b", X_Timestamp=stamp()).status_int == 404
    assert call(app, "POST", f"{PATH}/c", X_Timestamp=stamp()).status_int == 400


def test_delete_marks_the_account_deleted(app: Any) -> None:
    assert call(app, "DELETE", X_Timestamp=stamp()).status_int == 404
    assert call(app, "HEAD").headers.get("X-Account-Status") is None  # missing, not deleted
    create(app)
    report(app, "c", 1, 10)
    assert call(app, "DELETE", X_Timestamp=stamp(-100)).status_int == 409  # older than the PUT
    deleted = call(app, "DELETE", X_Timestamp=stamp(1))
    assert deleted.status_int == 204 and deleted.headers["X-Account-Status"] == "Deleted"
    for method in ("HEAD", "GET"):
        gone = call(app, method)
        assert gone.status_int == 404 and gone.headers["X-Account-Status"] == "Deleted"
    assert call(app, "POST", X_Timestamp=stamp(2)).status_int == 404
    again = call(app, "PUT", X_Timestamp=stamp(3))
    assert again.status_int == 403 and again.headers["X-Account-Status"] == "Deleted"
    assert call(app, "DELETE", X_Timestamp=stamp(4)).status_int == 404
    assert report(app, "d").status_int == 404
    assert report(app, "c", 0, 0, X_Account_Override_Deleted="yes").status_int == 201


# --- containers reported by container servers --------------------------------------


def test_container_reports_make_the_totals(app: Any) -> None:
    assert report(app, "c").status_int == 404  # no account yet
    create(app)
    assert report(app, "c1", 2, 20).status_int == 201
    assert report(app, "c2", 3, 30, policy=1).status_int == 201
    assert report(app, "c3", 5, 50, policy=1).status_int == 201
    assert report(app, "c4", 7, 70, policy=9).status_int == 201  # a policy no longer named
    head = call(app, "HEAD").headers
    assert head["X-Account-Container-Count"] == "4"
    assert head["X-Account-Object-Count"] == "17"
    assert head["X-Account-Bytes-Used"] == "170"
    assert head["X-Account-Storage-Policy-Gold-Container-Count"] == "1"
    assert head["X-Account-Storage-Policy-gold-Object-Count"] == "2"
    assert head["X-Account-Storage-Policy-gold-Bytes-Used"] == "20"
    assert head["X-Account-Storage-Policy-silver-2-Container-Count"] == "2"
    assert head["X-Account-Storage-Policy-silver-2-Object-Count"] == "8"
    assert head["X-Account-Storage-Policy-silver-2-Bytes-Used"] == "80"
    assert len([h for h in head if h.startswith("X-Account-Storage-Policy-")]) == 6


def test_a_deleted_container_leaves_the_listing(app: Any) -> None:
    create(app)
    put = stamp()
    report(app, "c", 1, 5, put=put)
    report(app, "d")
    response = report(app, "c", 0, 0, put=put, delete=stamp(1))
    assert response.status_int == 204
    assert names(app) == ["d"]
    assert call(app, "HEAD").headers["X-Account-Object-Count"] == "0"


def test_internal_accounts_are_made_on_their_first_report(app: Any) -> None:
    path = "/sda/3/.expiring_objects"
    assert report(app, "1700000000", 4, 0, path=path).status_int == 201
    assert call(app, "HEAD", path).headers["X-Account-Container-Count"] == "1"


@pytest.mark.parametrize("missing", ["X_Put_Timestamp", "X_Delete_Timestamp",
                                     "X_Object_Count", "X_Bytes_Used"])
def test_reports_need_their_headers(app: Any, missing: str) -> None:
    create(app)
    headers = {"X_Put_Timestamp": stamp(), "X_Delete_Timestamp": ZERO, "X_Object_Count": "1",
               "X_Bytes_Used": "1"}
    del headers[missing]
    response = call(app, "PUT", f"{PATH}/c", **headers)
    assert response.status_int == 400 and missing.replace("_", "-").encode() in response.body


@pytest.mark.parametrize(("header", "value"), [
    ("X_Object_Count", "-1"), ("X_Bytes_Used", "many"), ("X_Put_Timestamp", "soon"),
    ("X_Backend_Storage_Policy_Index", "x"),
])
def test_reports_with_bad_values_are_400(app: Any, header: str, value: str) -> None:
    create(app)
    headers = {"X_Put_Timestamp": stamp(), "X_Delete_Timestamp": ZERO, "X_Object_Count": "1",
               "X_Bytes_Used": "1", header: value}
    assert call(app, "PUT", f"{PATH}/c", **headers).status_int == 400


# --- listings ------------------------------------------------------------------------


NAMES = ["a", "b-1", "b-2", "c", "caf\u00e9"]


def fill(app: Any) -> None:
    create(app)
    for offset, name in enumerate(NAMES):
        report(app, name, offset, offset * 10, put=Timestamp(1_700_000_000, delta=offset).internal)


@pytest.mark.parametrize(("query", "expected"), [
    ("", NAMES),
    ("limit=2", ["a", "b-1"]),
    ("marker=b-1", ["b-2", "c", "caf\u00e9"]),
    ("end_marker=c", ["a", "b-1", "b-2"]),
    ("prefix=b", ["b-1", "b-2"]),
    ("delimiter=-", ["a", "b-", "c", "caf\u00e9"]),
    ("prefix=b-&delimiter=-", ["b-1", "b-2"]),
    ("reverse=on", NAMES[::-1]),
    ("reverse=t&end_marker=b-2", ["caf\u00e9", "c"]),
    ("marker=caf%C3%A9", []),
])
def test_listing_parameters(app: Any, query: str, expected: list[str]) -> None:
    fill(app)
    assert names(app, query) == expected


def test_listing_formats(app: Any) -> None:
    fill(app)
    as_json = call(app, "GET", f"{PATH}?format=json&limit=2&marker=a")
    assert as_json.headers["Content-Type"] == "application/json; charset=utf-8"
    assert as_json.headers["X-Account-Container-Count"] == "5"
    assert json.loads(as_json.body) == [
        {"name": "b-1", "count": 1, "bytes": 10, "last_modified": "2023-11-14T22:13:20.000010",
         "storage_policy": "gold"},
        {"name": "b-2", "count": 2, "bytes": 20, "last_modified": "2023-11-14T22:13:20.000020",
         "storage_policy": "gold"},
    ]
    as_xml = call(app, "GET", f"{PATH}?delimiter=-&limit=2&prefix=b-", Accept="text/xml")
    assert as_xml.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert as_xml.body == (b'<?xml version="1.0" encoding="UTF-8"?>\n<account name="AUTH_a">\n'
                           b'<container><name>b-1</name><count>1</count><bytes>10</bytes>'
                           b'<last_modified>2023-11-14T22:13:20.000010</last_modified>'
                           b'<storage_policy>gold</storage_policy>'
                           b'</container>\n<container><name>b-2</name><count>2</count>'
                           b'<bytes>20</bytes><last_modified>2023-11-14T22:13:20.000020'
                           b'</last_modified><storage_policy>gold</storage_policy></container>\n'
                           b'</account>')
    rolled = call(app, "GET", f"{PATH}?delimiter=-&format=xml&marker=a&limit=1")
    assert rolled.body.endswith(b'<account name="AUTH_a">\n<subdir name="b-" />\n</account>')
    plain = call(app, "GET", f"{PATH}?delimiter=-")
    assert plain.body == "a\nb-\nc\ncaf\u00e9\n".encode()


def test_empty_listings(app: Any) -> None:
    create(app)
    assert call(app, "GET").status_int == 204
    assert call(app, "GET", f"{PATH}?format=json").body == b"[]"
    assert call(app, "GET", f"{PATH}?format=xml").body == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<account name="AUTH_a">\n</account>')


@pytest.mark.parametrize(("query", "headers", "status"), [
    ("limit=10001", {}, 412),
    ("delimiter=" + "-" * 300, {}, 400),  # longer than any container name
    ("prefix=%FE", {}, 400),
    ("marker=" + "m" * 257, {}, 400),
    ("", {"Accept": "application/pdf"}, 406),
    ("", {"Accept": "a/b;q=9"}, 400),
])
def test_bad_listing_requests(app: Any, query: str, headers: dict[str, str],
                              status: int) -> None:
    fill(app)
    response = call(app, "GET", f"{PATH}?{query}", **headers)
    assert response.status_int == status and response.body.strip()


# --- bad requests, REPLICATE --------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "headers", "status"), [
    ("PUT", PATH, {}, 400),
    ("PUT", PATH, {"X_Timestamp": "later"}, 400),
    ("DELETE", PATH, {"X_Timestamp": ""}, 400),
    ("GET", "/sda/3", {}, 400),
    ("GET", "/sda/3/a/c/o", {}, 400),
    ("GET", f"{PATH}/c", {}, 400),
    ("DELETE", f"{PATH}/c", {"X_Timestamp": "1"}, 400),
    ("GET", "/sda/three/AUTH_a", {}, 400),
    ("GET", "/../3/AUTH_a", {}, 400),
    ("GET", "/sda/3/AUTH_\u00e9", {}, 412),  # the byte 0xE9 alone: not UTF-8
    ("GET", "/sda/3/" + "a" * 257, {}, 400),
    ("PUT", f"{PATH}/" + "c" * 257, {"X_Put_Timestamp": "1"}, 400),
    ("GET", "/sdq/3/AUTH_a", {}, 507),
    ("COPY", PATH, {}, 405),
])
def test_bad_requests(app: Any, method: str, path: str, headers: dict[str, str],
                      status: int) -> None:
    response = call(app, method, path, **headers)
    assert response.status_int == status
    assert response.body.strip() and b"Traceback" not in response.body


def test_mount_check_refuses_a_device_that_is_no_mount(tmp_path: Path) -> None:
    (tmp_path / "sda").mkdir()
    response = call(make_app(tmp_path, mount_check=True), "PUT", X_Timestamp=stamp())
    assert response.status_int == 507


def test_replicate(app: Any) -> None:
    create(app)
    report(app, "c", 1, 2)
    name_hash = HASHER.hash_path("AUTH_a")
    info = json.loads(call(app, "REPLICATE", f"/sda/3/{name_hash}").body)
    assert (info["account"], info["container_count"], info["row_count"]) == ("AUTH_a", 1, 1)
    assert call(app, "REPLICATE", f"/sda/3/{'f' * 32}").status_int == 404
    assert call(app, "REPLICATE", f"/sda/3/{name_hash}/x").status_int == 400


def test_a_device_past_its_reserve_refuses_what_grows_and_takes_what_frees(
        app: Any, tmp_path: Path) -> None:
    create(app)
    report(app, "photos")
    full = make_app(tmp_path, fallocate_reserve="100%")  # no disk is that empty
    refused = [create(full), create(full, "/sda/3/AUTH_new"), report(full, "more"),
               call(full, "POST", X_Timestamp=stamp(), X_Account_Meta_A="b")]
    assert [r.status_int for r in refused] == [507] * 4
    assert b"fallocate_reserve" in refused[0].body
    assert report(full, "photos", put=ZERO, delete=stamp()).status_int == 204  # frees space
    assert names(full) == []
    assert AccountServerConfig().fallocate_reserve == "1%"
