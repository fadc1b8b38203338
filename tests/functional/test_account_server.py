"""The account server as a real process, told by a real container server."""
from __future__ import annotations

import http.client
import json
from pathlib import Path

import pytest

from objstore.common.timestamp import Timestamp
from ring.builder import RingBuilder
from ring.hashing import PathHasher
from ring.ring import Ring

from .storage_servers import StorageServer
from .test_server_runtime import wait_until

ACCOUNT = "/sda/2/AUTH_test"


def stamp(delta: float = 0) -> str:
    return Timestamp(float(Timestamp.now()) + delta).internal


def containers(server: StorageServer) -> list[dict[str, object]]:
    status, _, body = server.request("GET", f"{ACCOUNT}?format=json")
    assert status == 200
    return json.loads(body)  # type: ignore[no-any-return]


def test_an_account_over_http(account_server: StorageServer) -> None:
    assert account_server.request("HEAD", ACCOUNT)[0] == 404
    status = account_server.request("PUT", ACCOUNT, headers={
        "X-Timestamp": stamp(), "X-Account-Meta-Team": "storage"})[0]
    assert status == 201
    status = account_server.request("PUT", f"{ACCOUNT}/c\u00e9", headers={
        "X-Put-Timestamp": stamp(), "X-Delete-Timestamp": Timestamp(0).internal,
        "X-Object-Count": "3", "X-Bytes-Used": "30", "X-Backend-Storage-Policy-Index": "1"})[0]
    assert status == 201
    status, headers, _ = account_server.request("HEAD", ACCOUNT)
    assert status == 204 and headers["X-Account-Meta-Team"] == "storage"
    assert headers["X-Account-Storage-Policy-silver-Bytes-Used"] == "30"
    status, headers, body = account_server.request("GET", ACCOUNT, headers={
        "Accept": "application/xml"})
    assert status == 200 and headers["Content-Type"] == "application/xml; charset=utf-8"
    assert "<name>c\u00e9</name><count>3</count><bytes>30</bytes>" in body.decode()
    status, headers, _ = account_server.request("DELETE", ACCOUNT,
                                                headers={"X-Timestamp": stamp(1)})
    assert (status, headers["X-Account-Status"]) == (204, "Deleted")
    status, headers, _ = account_server.request("GET", ACCOUNT)
    assert (status, headers["X-Account-Status"]) == (404, "Deleted")


def test_container_stats_reach_the_account(
        account_server: StorageServer, container_server: StorageServer,
        object_server: StorageServer) -> None:
    tell = {"X-Account-Host": account_server.host, "X-Account-Device": "sda",
            "X-Account-Partition": "2"}
    missing = container_server.request("PUT", "/sda/4/AUTH_test/c", headers={
        "X-Timestamp": stamp(), "X-Backend-Storage-Policy-Index": "1", **tell})
    assert missing[0] == 404  # no such account: the account server said so
    assert account_server.request("PUT", ACCOUNT, headers={"X-Timestamp": stamp()})[0] == 201
    put = stamp()
    status = container_server.request("PUT", "/sda/4/AUTH_test/c", headers={
        "X-Timestamp": put, "X-Backend-Storage-Policy-Index": "1", **tell})[0]
    assert status == 202  # made by the first PUT, which the account refused
    assert containers(account_server) == [
        {"name": "c", "count": 0, "bytes": 0, "last_modified": Timestamp(put).isoformat,
         "storage_policy": "silver"}]  # the container's policy by name, as Swift lists it
    where = {"X-Container-Host": container_server.host, "X-Container-Device": "sda",
             "X-Container-Partition": "4", "X-Backend-Storage-Policy-Index": "1"}
    for name, body in (("a", b"12345"), ("b", b"678")):
        status = object_server.request("PUT", f"/sda/7/AUTH_test/c/{name}", body, {
            "X-Timestamp": stamp(1), "Content-Type": "text/plain", **where})[0]
        assert status == 201
    # The container updater (issue #5) reports the new counts; a container
    # PUT, as the proxy sends one, reports them as well.
    assert container_server.request("PUT", "/sda/4/AUTH_test/c", headers={
        "X-Timestamp": stamp(2), **tell})[0] == 202
    (entry,) = containers(account_server)
    assert (entry["count"], entry["bytes"]) == (2, 8)
    status, headers, _ = account_server.request("HEAD", ACCOUNT)
    assert (headers["X-Account-Object-Count"], headers["X-Account-Bytes-Used"]) == ("2", "8")
    assert headers["X-Account-Storage-Policy-silver-Container-Count"] == "1"
    for name in ("a", "b"):
        object_server.request("DELETE", f"/sda/7/AUTH_test/c/{name}",
                              headers={"X-Timestamp": stamp(3), **where})
    assert container_server.request("DELETE", "/sda/4/AUTH_test/c", headers={
        "X-Timestamp": stamp(4), **tell})[0] == 204
    assert containers(account_server) == []
    assert account_server.request("HEAD", ACCOUNT)[1]["X-Account-Container-Count"] == "0"


def test_object_writes_reach_the_account_through_the_account_ring(tmp_path: Path) -> None:
    """No container PUT after the objects: the container server finds the
    account on the ring and reports the new totals within its interval."""
    servers: list[StorageServer] = []
    try:
        account = StorageServer("account", tmp_path)
        servers.append(account)
        account.start()
        builder = RingBuilder(4, 1, 0)
        builder.add_dev(1, 1, "127.0.0.1", account.port, "sda", 1.0)
        builder.rebalance(seed=1)
        ring_path = tmp_path / "account.ring.gz"
        builder.get_ring().save(str(ring_path))
        part = Ring(str(ring_path), hasher=PathHasher("", "functional")).get_part("AUTH_ring")
        container = StorageServer("container", tmp_path)
        container.conf.write_text(container.conf.read_text() +
                                  f"ring_dir = {tmp_path}\naccount_update_interval = 0.2\n")
        servers.append(container)
        container.start()
        obj = StorageServer("object", tmp_path)
        servers.append(obj)
        obj.start()
        account_path = f"/sda/{part}/AUTH_ring"
        assert account.request("PUT", account_path, headers={"X-Timestamp": stamp()})[0] == 201
        assert container.request("PUT", "/sda/5/AUTH_ring/c",
                                 headers={"X-Timestamp": stamp()})[0] == 201
        where = {"X-Container-Host": container.host, "X-Container-Device": "sda",
                 "X-Container-Partition": "5"}
        for name, body in (("a", b"12345"), ("b", b"678")):
            assert obj.request("PUT", f"/sda/9/AUTH_ring/c/{name}", body, {
                "X-Timestamp": stamp(1), "Content-Type": "text/plain", **where})[0] == 201

        def totals() -> tuple[str, str] | None:
            headers = account.request("HEAD", account_path)[1]
            found = (headers.get("X-Account-Object-Count"), headers.get("X-Account-Bytes-Used"))
            return found if found == ("2", "8") else None  # type: ignore[return-value]

        assert wait_until(totals, timeout=10) == ("2", "8")
    finally:
        for server in reversed(servers):
            server.stop()


@pytest.mark.parametrize(("method", "path", "headers", "status"), [
    ("GET", "/sda/2/AUTH_%FF", {}, 412),
    ("GET", "/sda/2/" + "a" * 257, {}, 400),
    ("GET", "/sdz/2/AUTH_test", {}, 507),
    ("PUT", "/sda/2/AUTH_test", {"X-Timestamp": "later"}, 400),
    ("PUT", "/sda/2/AUTH_test", {"X-Timestamp": stamp(), "X-Account-Meta-Big": "v" * 257}, 400),
    ("PUT", "/sda/2/AUTH_test/c", {"X-Put-Timestamp": stamp()}, 400),  # report without counts
])
def test_bad_input_to_the_account_server_is_a_4xx_with_a_reason(
        account_server: StorageServer, method: str, path: str, headers: dict[str, str],
        status: int) -> None:
    assert account_server.request("PUT", ACCOUNT, headers={"X-Timestamp": stamp()})[0] in (201, 202)
    conn = http.client.HTTPConnection("127.0.0.1", account_server.port, timeout=10)
    try:
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        got, body = response.status, response.read()
    finally:
        conn.close()
    assert got == status and body.strip() and b"Traceback" not in body
