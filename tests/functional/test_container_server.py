"""The container server as a real process over HTTP, fed by a real object server."""
from __future__ import annotations

import hashlib
import http.client
import json

import pytest

from objstore.common.timestamp import Timestamp

from .storage_servers import StorageServer


def stamp(delta: float = 0) -> str:
    return Timestamp(float(Timestamp.now()) + delta).internal


def listing(server: StorageServer, path: str, query: str = "") -> list[dict[str, object]]:
    status, headers, body = server.request("GET", f"{path}?format=json&{query}")
    assert status == 200 and headers["Content-Type"] == "application/json; charset=utf-8"
    return json.loads(body)  # type: ignore[no-any-return]


def test_a_container_over_http(container_server: StorageServer) -> None:
    path = "/sda/5/AUTH_test/caf\u00e9"
    assert container_server.request("HEAD", path)[0] == 404
    status, headers, _ = container_server.request(
        "PUT", path, headers={"X-Timestamp": stamp(), "X-Container-Meta-Owner": "me",
                              "X-Backend-Storage-Policy-Index": "1"})
    assert (status, headers["X-Backend-Storage-Policy-Index"]) == (201, "1")
    for offset, name in enumerate(["d\u00e9j\u00e0/vu", "plain", "d\u00e9j\u00e0/lu"]):
        status = container_server.request("PUT", f"{path}/{name}", headers={
            "X-Timestamp": stamp(offset), "X-Size": str(offset + 1), "X-Content-Type": "a/b",
            "X-Etag": "0" * 32, "X-Backend-Storage-Policy-Index": "1"})[0]
        assert status == 201
    status, headers, _ = container_server.request("HEAD", path)
    assert status == 204
    assert (headers["X-Container-Object-Count"], headers["X-Container-Bytes-Used"]) == ("3", "6")
    assert headers["X-Container-Meta-Owner"] == "me"
    rolled_up, plain = listing(container_server, path, "delimiter=/")
    assert rolled_up == {"subdir": "d\u00e9j\u00e0/"}
    assert (plain["name"], plain["hash"], plain["bytes"], plain["content_type"]) == (
        "plain", "0" * 32, 2, "a/b")
    status, _, body = container_server.request("GET", f"{path}?prefix=d\u00e9j\u00e0/")
    assert (status, body) == (200, "d\u00e9j\u00e0/lu\nd\u00e9j\u00e0/vu\n".encode())
    assert container_server.request("DELETE", path, headers={"X-Timestamp": stamp(5)})[0] == 409
    for offset, name in enumerate(["d\u00e9j\u00e0/vu", "plain", "d\u00e9j\u00e0/lu"]):
        container_server.request("DELETE", f"{path}/{name}",
                                 headers={"X-Timestamp": stamp(6 + offset)})
    assert container_server.request("DELETE", path, headers={"X-Timestamp": stamp(10)})[0] == 204
    assert container_server.request("GET", path)[0] == 404
    status, _, body = container_server.request("GET", "/sda/5/AUTH_test/c?limit=10001")
    assert status == 412 and body.strip()


def test_the_object_servers_updates_reach_the_listing(
        container_server: StorageServer, object_server: StorageServer) -> None:
    container = "/sda/1/AUTH_test/photos"
    assert container_server.request("PUT", container, headers={"X-Timestamp": stamp()})[0] == 201
    where = {"X-Container-Host": container_server.host, "X-Container-Device": "sda",
             "X-Container-Partition": "1"}
    body = b"a cat, sleeping"
    ts = stamp(1)
    status = object_server.request("PUT", "/sda/9/AUTH_test/photos/cats/\u00e9t\u00e9.jpg",
                                   body, {"X-Timestamp": ts, "Content-Type": "image/jpeg",
                                          **where})[0]
    assert status == 201
    assert listing(container_server, container) == [{
        "name": "cats/\u00e9t\u00e9.jpg", "hash": hashlib.md5(body).hexdigest(),
        "bytes": len(body), "content_type": "image/jpeg",
        "last_modified": Timestamp(ts).isoformat}]
    status = object_server.request("DELETE", "/sda/9/AUTH_test/photos/cats/\u00e9t\u00e9.jpg",
                                   headers={"X-Timestamp": stamp(2), **where})[0]
    assert status == 204
    assert listing(container_server, container) == []
    assert container_server.request("HEAD", container)[1]["X-Container-Object-Count"] == "0"


NAMES = ["a/1", "a/2", "a/b/3", "b", "c/1", "\u00e9t\u00e9"]
LISTED = "/sda/6/AUTH_test/listed"


def filled(server: StorageServer) -> None:
    assert server.request("PUT", LISTED, headers={"X-Timestamp": stamp()})[0] == 201
    for offset, name in enumerate(NAMES):
        assert server.request("PUT", f"{LISTED}/{name}", headers={
            "X-Timestamp": stamp(offset), "X-Size": "1", "X-Content-Type": "a/b",
            "X-Etag": "0" * 32})[0] == 201


@pytest.mark.parametrize(("query", "expected"), [
    ("", NAMES),
    ("limit=2", ["a/1", "a/2"]),
    ("marker=a/2", ["a/b/3", "b", "c/1", "\u00e9t\u00e9"]),
    ("end_marker=b", ["a/1", "a/2", "a/b/3"]),
    ("marker=a/1&end_marker=c/1", ["a/2", "a/b/3", "b"]),
    ("prefix=a/", ["a/1", "a/2", "a/b/3"]),
    ("delimiter=/", ["a/", "b", "c/", "\u00e9t\u00e9"]),
    ("prefix=a/&delimiter=/", ["a/1", "a/2", "a/b/"]),
    ("path=a", ["a/1", "a/2"]),
    ("reverse=true", list(reversed(NAMES))),
    ("reverse=true&marker=b&limit=2", ["a/b/3", "a/2"]),
])
def test_every_listing_parameter_over_http(container_server: StorageServer, query: str,
                                           expected: list[str]) -> None:
    filled(container_server)
    entries = listing(container_server, LISTED, query)
    assert [e.get("name", e.get("subdir")) for e in entries] == expected


def test_listing_formats_over_http(container_server: StorageServer) -> None:
    filled(container_server)
    status, headers, body = container_server.request("GET", f"{LISTED}?format=xml&limit=1")
    assert status == 200 and headers["Content-Type"].startswith("application/xml")
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert b"<name>a/1</name>" in body and b'<container name="listed">' in body
    status, headers, body = container_server.request(
        "GET", f"{LISTED}?limit=2", headers={"Accept": "application/json"})
    assert [e["name"] for e in json.loads(body)] == ["a/1", "a/2"]
    status, headers, body = container_server.request("GET", f"{LISTED}?prefix=zz")
    assert status == 204 and body == b""


@pytest.mark.parametrize(("method", "path", "headers", "status"), [
    ("GET", "/sda/6/AUTH_test/c%FF", {}, 412),
    ("GET", "/sda/6/AUTH_test/" + "c" * 257, {}, 400),
    ("GET", "/../6/AUTH_test/c", {}, 400),
    ("GET", "/sdz/6/AUTH_test/c", {}, 507),
    ("PUT", "/sda/6/AUTH_test/c", {"X-Timestamp": "noon"}, 400),
    ("PUT", "/sda/6/AUTH_test/c", {}, 400),
    ("PUT", "/sda/6/AUTH_test/c", {"X-Timestamp": stamp(),
                                   "X-Container-Meta-" + "k" * 129: "v"}, 400),
    ("GET", f"{LISTED}?delimiter=" + "d" * 1100, {}, 400),
    ("GET", f"{LISTED}?marker=" + "m" * 1100, {}, 400),
    ("PUT", f"{LISTED}/o", {"X-Timestamp": stamp()}, 400),   # an object row without X-Size
])
def test_bad_input_to_the_container_server_is_a_4xx_with_a_reason(
        container_server: StorageServer, method: str, path: str, headers: dict[str, str],
        status: int) -> None:
    filled(container_server)
    conn = http.client.HTTPConnection("127.0.0.1", container_server.port, timeout=10)
    try:
        conn.request(method, path, headers=headers)  # the path's bytes exactly as written
        response = conn.getresponse()
        got, body = response.status, response.read()
    finally:
        conn.close()
    assert got == status and body.strip() and b"Traceback" not in body
