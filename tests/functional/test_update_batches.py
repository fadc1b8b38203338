"""Container updates batched by an object server, against a real container server."""
from __future__ import annotations

import concurrent.futures
import json
import time
from collections.abc import Iterator

import pytest

from objstore.common.concurrency import GreenPool, sleep
from objstore.common.http_client import ConnectionPool
from objstore.common.named_nodes import NamedNode
from objstore.common.timestamp import Timestamp
from objstore.obj.update_batches import UpdateBatcher

from .storage_servers import StorageServer

CONTAINER = "/sda/1/AUTH_test/photos"


@pytest.fixture
def batcher() -> Iterator[UpdateBatcher]:
    pool = ConnectionPool()
    yield UpdateBatcher(connect_timeout=1, read_timeout=5, pool=pool)
    pool.close_all()


def stamp(delta: float = 0) -> str:
    return Timestamp(float(Timestamp.now()) + delta).internal


def names_listed(server: StorageServer) -> list[str]:
    status, _, body = server.request("GET", CONTAINER + "?format=json")
    assert status == 200
    return [row["name"] for row in json.loads(body)]


def put_headers(size: int) -> dict[str, str]:
    return {"X-Timestamp": stamp(), "X-Size": str(size), "X-Content-Type": "text/plain",
            "X-Etag": "0" * 32, "X-Backend-Storage-Policy-Index": "0"}


def test_updates_that_meet_in_flight_go_as_one_request(container_server: StorageServer,
                                                       batcher: UpdateBatcher) -> None:
    assert container_server.request("PUT", CONTAINER, headers={"X-Timestamp": stamp()})[0] == 201
    node = NamedNode("127.0.0.1", container_server.port, "sda", "1")
    pool = GreenPool(64)
    names = [f"obj-{n:02d}-\u00e9" for n in range(30)]
    sent = [pool.spawn(batcher.send, node, "PUT", "AUTH_test", "photos", name, put_headers(n))
            for n, name in enumerate(names)]
    assert [thread.wait() for thread in sent] == [True] * 30
    assert names_listed(container_server) == sorted(names)
    head = container_server.request("HEAD", CONTAINER)[1]
    assert head["X-Container-Bytes-Used"] == str(sum(range(30)))
    log = container_server.log.read_text()
    assert log.count('"UPDATE /sda/1/AUTH_test/photos"') == 1  # one UPDATE carried all thirty
    assert "/AUTH_test/photos/obj-" not in log

    # a record the container server refuses is refused alone
    bad = {**put_headers(1), "X-Size": "many"}
    mixed = [pool.spawn(batcher.send, node, "DELETE", "AUTH_test", "photos", names[0],
                        {"X-Timestamp": stamp(1)}),
             pool.spawn(batcher.send, node, "PUT", "AUTH_test", "photos", "bad", bad),
             pool.spawn(batcher.send, node, "DELETE", "AUTH_test", "photos", names[1],
                        {"X-Timestamp": stamp(1)})]
    assert [thread.wait() for thread in mixed] == [True, False, True]
    assert names_listed(container_server) == sorted(names)[2:]


def test_updates_to_a_missing_or_stopped_container_server_fail(
        container_server: StorageServer, batcher: UpdateBatcher) -> None:
    node = NamedNode("127.0.0.1", container_server.port, "sda", "1")
    pool = GreenPool(8)
    missing = [pool.spawn(batcher.send, node, "PUT", "AUTH_test", "nowhere", f"o{n}",
                          put_headers(1)) for n in range(3)]
    assert [thread.wait() for thread in missing] == [False] * 3
    container_server.stop()
    down = [pool.spawn(batcher.send, node, "PUT", "AUTH_test", "photos", f"o{n}",
                       put_headers(1)) for n in range(3)]
    assert [thread.wait() for thread in down] == [False] * 3


def test_a_busy_object_server_fills_the_listing(container_server: StorageServer,
                                                 object_server: StorageServer) -> None:
    assert container_server.request("PUT", CONTAINER, headers={"X-Timestamp": stamp()})[0] == 201
    where = {"X-Container-Host": container_server.host, "X-Container-Device": "sda",
             "X-Container-Partition": "1"}

    def put(number: int) -> int:
        return object_server.request("PUT", f"/sda/{number % 7}/AUTH_test/photos/o{number:03d}",
                                     b"x" * number, {"X-Timestamp": stamp(),
                                                     "Content-Type": "text/plain", **where})[0]

    with concurrent.futures.ThreadPoolExecutor(16) as threads:
        assert list(threads.map(put, range(64))) == [201] * 64
    assert names_listed(container_server) == [f"o{n:03d}" for n in range(64)]
    head = container_server.request("HEAD", CONTAINER)[1]
    assert head["X-Container-Object-Count"] == "64"
    assert head["X-Container-Bytes-Used"] == str(sum(range(64)))


def test_an_unreachable_container_server_is_left_alone_for_a_while(
        container_server: StorageServer) -> None:
    """While a container host is down, PUTs do not each wait out a connect
    timeout: after one failure its updates fail at once (async pendings),
    and it is tried again once the suspect window is over."""
    now = [1000.0]
    pool = ConnectionPool()
    batcher = UpdateBatcher(connect_timeout=1, read_timeout=5, pool=pool,
                            suspect_seconds=10, clock=lambda: now[0])
    node = NamedNode("127.0.0.1", container_server.port, "sda", "1")
    assert container_server.request("PUT", CONTAINER, headers={"X-Timestamp": stamp()})[0] == 201
    try:
        assert batcher.send(node, "PUT", "AUTH_test", "photos", "before", put_headers(1))
        container_server.stop()
        pool.close_all()  # a stopping server may still answer on a kept-alive socket
        assert not batcher.send(node, "PUT", "AUTH_test", "photos", "down", put_headers(1))
        container_server.start()
        # up again, but still suspect: not even tried
        assert not batcher.send(node, "PUT", "AUTH_test", "photos", "suspect", put_headers(1))
        now[0] += 11
        assert batcher.send(node, "PUT", "AUTH_test", "photos", "after", put_headers(1))
        assert names_listed(container_server) == ["after", "before"]
    finally:
        pool.close_all()


def test_an_update_waits_for_those_announced_and_they_go_as_one_request(
        container_server: StorageServer) -> None:
    """Writes announce their updates before their disk work; the first to
    be ready waits for the others (they are on their way), and one UPDATE
    carries all of them."""
    assert container_server.request("PUT", CONTAINER, headers={"X-Timestamp": stamp()})[0] == 201
    connections = ConnectionPool()
    batcher = UpdateBatcher(connect_timeout=1, read_timeout=5, pool=connections,
                            gather_seconds=2)
    node = NamedNode("127.0.0.1", container_server.port, "sda", "1")
    announced = [batcher.expect(node, "AUTH_test", "photos") for _ in range(5)]
    pool = GreenPool(8)

    def write(number: int, disk_seconds: float) -> tuple[bool, float]:
        sleep(disk_seconds)  # its disk work
        began = time.monotonic()
        taken = batcher.send(node, "PUT", "AUTH_test", "photos", f"w{number}", put_headers(1),
                             announced[number])
        return taken, time.monotonic() - began

    first = pool.spawn(write, 0, 0)
    rest = [pool.spawn(write, n, 0.02 * n) for n in range(1, 5)]
    taken, waited = first.wait()
    assert taken and 0.07 <= waited < 1.5  # waited for w4's disk work, not the 2 s
    assert all(thread.wait()[0] for thread in rest)
    assert names_listed(container_server) == [f"w{n}" for n in range(5)]
    log = container_server.log.read_text()
    assert log.count('"UPDATE /sda/1/AUTH_test/photos"') == 1
    assert "/AUTH_test/photos/w" not in log  # no update went alone
    assert not batcher._replicas  # nothing kept once all is sent
    connections.close_all()


def test_a_write_that_fails_or_never_comes_holds_no_one_long(
        container_server: StorageServer) -> None:
    assert container_server.request("PUT", CONTAINER, headers={"X-Timestamp": stamp()})[0] == 201
    pool = ConnectionPool()
    batcher = UpdateBatcher(connect_timeout=1, read_timeout=5, pool=pool, gather_seconds=0.3)
    node = NamedNode("127.0.0.1", container_server.port, "sda", "1")
    try:
        failed = batcher.expect(node, "AUTH_test", "photos")
        failed.settle()  # its disk work failed: nothing to wait for
        began = time.monotonic()
        assert batcher.send(node, "PUT", "AUTH_test", "photos", "alone", put_headers(1))
        assert time.monotonic() - began < 0.2
        lost = batcher.expect(node, "AUTH_test", "photos")  # announced, never settled
        began = time.monotonic()
        assert batcher.send(node, "PUT", "AUTH_test", "photos", "late", put_headers(1))
        assert 0.25 <= time.monotonic() - began < 2  # waited gather_seconds, no more
        began = time.monotonic()  # ... once: it is forgotten
        assert batcher.send(node, "PUT", "AUTH_test", "photos", "next", put_headers(1))
        assert time.monotonic() - began < 0.2
        assert not batcher._replicas
        lost.settle()  # late, and harmless
        assert names_listed(container_server) == ["alone", "late", "next"]
    finally:
        pool.close_all()
