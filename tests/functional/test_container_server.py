"""The container server as a real process over HTTP, fed by a real object server."""
from __future__ import annotations

import hashlib
import json

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
