"""Keep-alive sockets to the backends: reused when clean, never when not."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from objstore.common.http_client import BackendConnection, ConnectionPool, request
from tests.fakes.http_backend import FakeBackend

LOOPBACK = "127.0.0.1"


@pytest.fixture
def backend() -> Iterator[FakeBackend]:
    with FakeBackend() as server:
        yield server


@pytest.fixture
def pool() -> Iterator[ConnectionPool]:
    kept = ConnectionPool()
    yield kept
    kept.close_all()


def call(backend: FakeBackend, pool: ConnectionPool, method: str, path: str,
         body: bytes = b"") -> tuple[int, bytes]:
    status, _, data = request(LOOPBACK, backend.port, method, path, {}, body,
                              connect_timeout=1.0, read_timeout=2.0, pool=pool)
    return status, data


def test_requests_share_one_connection(backend: FakeBackend, pool: ConnectionPool) -> None:
    assert call(backend, pool, "PUT", "/a/o", b"hello")[0] == 201
    assert call(backend, pool, "GET", "/a/o") == (200, b"hello")
    assert call(backend, pool, "HEAD", "/a/o")[0] == 200
    assert call(backend, pool, "GET", "/a/missing")[0] == 404
    assert backend.connections == 1
    assert not any(name.lower() == "connection" for seen in backend.seen
                   for name, _ in seen.headers)


def test_a_socket_the_server_closed_is_replaced_without_losing_the_request(
        backend: FakeBackend, pool: ConnectionPool) -> None:
    assert call(backend, pool, "GET", "/drop/1") == (200, b"dropped")  # server closes it
    assert call(backend, pool, "PUT", "/a/o", b"body after a drop")[0] == 201
    assert backend.objects["/a/o"] == b"body after a drop"
    assert backend.connections == 2
    # the streaming form: head re-sent before any body byte
    call(backend, pool, "GET", "/drop/2")
    with BackendConnection(LOOPBACK, backend.port, connect_timeout=1.0, read_timeout=2.0,
                           pool=pool) as conn:
        conn.send_request("PUT", "/a/p", {}, body_length=3, expect_continue=True)
        assert conn.wait_for_continue(2.0) == 100
        conn.send(b"xyz")
        conn.finish()
        assert conn.getresponse().status == 201
    assert backend.objects["/a/p"] == b"xyz"


def test_unclean_exchanges_never_go_back_to_the_pool(backend: FakeBackend, pool: ConnectionPool) -> None:
    assert call(backend, pool, "PUT", "/a/o", b"x" * 100_000)[0] == 201
    with BackendConnection(LOOPBACK, backend.port, connect_timeout=1.0, read_timeout=2.0,
                           pool=pool) as conn:  # body left unread
        conn.send_request("GET", "/a/o", {})
        assert conn.getresponse().read(10) == b"x" * 10
    with BackendConnection(LOOPBACK, backend.port, connect_timeout=1.0, read_timeout=2.0,
                           pool=pool) as conn:  # answered before the body was sent
        conn.send_request("PUT", "/early/413", {}, body_length=5, expect_continue=True)
        assert conn.wait_for_continue(2.0) == 413
        conn.getresponse().read()
    before = backend.connections
    assert call(backend, pool, "GET", "/a/o")[0] == 200
    assert backend.connections == before + 1  # neither socket was kept


def test_idle_sockets_expire_and_the_pool_is_bounded() -> None:
    now = [0.0]
    pool = ConnectionPool(max_idle=2, idle_seconds=10, clock=lambda: now[0])

    class Wire:
        closed = False

        def close(self) -> None:
            self.closed = True

    wires = [Wire() for _ in range(3)]
    for wire in wires:
        pool.give("h", 1, wire)  # type: ignore[arg-type]
    assert wires[2].closed  # over max_idle
    assert pool.take("h", 1) is wires[1]  # most recent first
    now[0] = 11
    assert pool.take("h", 1) is None and wires[0].closed
    assert pool.take("other", 1) is None


def test_ensure_counts_live_idle_sockets_and_replaces_closed_ones(
        backend: FakeBackend, pool: ConnectionPool) -> None:
    """The proxy's connect-first check before a small PUT: a server that
    takes connections counts; a kept socket its server has since closed
    does not (that server may be gone), and nothing listening is False."""
    import socket
    import time

    assert pool.ensure(LOOPBACK, backend.port, 1.0)  # a new socket, kept for the request
    assert call(backend, pool, "PUT", "/a/o", b"x")[0] == 201
    assert backend.connections == 1
    assert pool.ensure(LOOPBACK, backend.port, 1.0)  # the idle one, still open
    assert call(backend, pool, "GET", "/drop/1") == (200, b"dropped")  # then closed
    deadline = time.monotonic() + 5
    while backend.connections < 2 and time.monotonic() < deadline:
        assert pool.ensure(LOOPBACK, backend.port, 1.0)  # the closed one is not counted
        time.sleep(0.05)
    assert backend.connections == 2
    assert call(backend, pool, "GET", "/a/o") == (200, b"x")
    assert backend.connections == 2  # the request used the socket ensure made
    with socket.socket() as unused:
        unused.bind((LOOPBACK, 0))
        port = unused.getsockname()[1]  # bound, not listening: refused
        assert not pool.ensure(LOOPBACK, port, 1.0)


def test_has_idle_never_connects_and_drops_sockets_their_server_closed(
        backend: FakeBackend, pool: ConnectionPool) -> None:
    import time

    assert not pool.has_idle(LOOPBACK, backend.port)
    assert backend.connections == 0  # only looked
    assert call(backend, pool, "GET", "/a/o")[0] in (200, 404)
    assert pool.has_idle(LOOPBACK, backend.port)  # kept after the request
    assert call(backend, pool, "GET", "/drop/1") == (200, b"dropped")  # then closed
    deadline = time.monotonic() + 5
    while pool.has_idle(LOOPBACK, backend.port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pool.has_idle(LOOPBACK, backend.port)
    assert pool.take(LOOPBACK, backend.port) is None  # the closed one was dropped
