"""The backend HTTP client against a real server on loopback.

Most tests run the client on plain sockets against tests/fakes/http_backend
in a thread; one runs it in a child process patched by eventlet, as the
servers run it. Timings are checked loosely: a timeout must fire, and not
much later than asked.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from objstore.common import http_client
from objstore.common.http_client import (
    BackendConnection, BackendError, ConnectError, ConnectTimeout, ProtocolError,
    ReadTimeout, WriteTimeout, quote_path, request)
from tests.fakes.http_backend import FakeBackend

ROOT = Path(__file__).resolve().parents[3]
LOOPBACK = "127.0.0.1"


@pytest.fixture
def backend() -> Iterator[FakeBackend]:
    with FakeBackend() as server:
        yield server
    assert server.errors == []


@pytest.fixture
def unaccepting_port() -> Iterator[int]:
    """A port whose listen(0) backlog is full: connecting to it hangs."""
    listener = socket.socket()
    fillers: list[socket.socket] = []
    try:
        listener.bind((LOOPBACK, 0))
        listener.listen(0)
        for _ in range(16):
            probe = socket.socket()
            probe.settimeout(0.2)
            try:
                probe.connect(listener.getsockname())
            except TimeoutError:
                probe.close()
                break
            fillers.append(probe)
        else:
            pytest.skip("this kernel accepts connections beyond a listen(0) backlog")
        yield listener.getsockname()[1]
    finally:
        for sock in fillers:
            sock.close()
        listener.close()


def connect(port: int, host: str = LOOPBACK, *, read_timeout: float = 2.0
            ) -> BackendConnection:
    return BackendConnection(host, port, connect_timeout=1.0, read_timeout=read_timeout)


def put(port: int, path: str, body: bytes) -> int:
    return request(LOOPBACK, port, "PUT", path, {}, body, connect_timeout=1.0,
                   read_timeout=2.0)[0]


def test_put_get_head_delete(backend: FakeBackend) -> None:
    with connect(backend.port) as conn:
        conn.send_request("PUT", "/sda/1/a/c/o", {"X-Timestamp": "1700000000.00000"},
                          body_length=11)
        conn.send(b"hello ")
        conn.send(b"world")
        conn.finish()
        response = conn.getresponse()
        assert (response.status, response.reason) == (201, "Created")
        assert response.read() == b""
    assert backend.seen[0].body == b"hello world"
    assert ("Content-Length", b"11") in backend.seen[0].headers
    assert ("X-Timestamp", b"1700000000.00000") in backend.seen[0].headers

    with connect(backend.port) as conn:
        conn.send_request("GET", "/sda/1/a/c/o", {})
        response = conn.getresponse()
        assert response.status == 200
        assert response.headers["x-object"] == response.headers["X-OBJECT"] == "yes"
        assert "content-length" in response.headers
        assert response.read(5) == b"hello"
        assert response.read() == b" world"
        assert response.read() == b""

    with connect(backend.port) as conn:
        conn.send_request("HEAD", "/sda/1/a/c/o", {})
        response = conn.getresponse()
        assert (response.status, response.headers["Content-Length"]) == (200, "11")
        assert response.read() == b""  # no body to wait for, despite the length

    status, _, body = request(LOOPBACK, backend.port, "DELETE", "/sda/1/a/c/o", {},
                              connect_timeout=1.0, read_timeout=2.0)
    assert (status, body) == (204, b"")
    status, headers, body = request(LOOPBACK, backend.port, "GET", "/sda/1/a/c/o", {},
                                    connect_timeout=1.0, read_timeout=2.0)
    assert (status, headers["content-length"], body) == (404, "9", b"not found")
    assert [seen.method for seen in backend.seen] == ["PUT", "GET", "HEAD", "DELETE", "GET"]


def test_one_shot_request_sends_length_and_connection_close(backend: FakeBackend) -> None:
    status, headers, body = request(
        LOOPBACK, backend.port, "PUT", "/sdb/3/a/c/o", {"X-Size": "3"}, b"abc",
        connect_timeout=1.0, read_timeout=2.0, query="op=update")
    assert (status, headers["x-received"], body) == (201, "3", b"")
    seen = backend.seen[0]
    assert (seen.path, seen.body) == ("/sdb/3/a/c/o?op=update", b"abc")
    names = {name.lower(): value for name, value in seen.headers}
    assert names["host"] == f"{LOOPBACK}:{backend.port}".encode()
    assert names["connection"] == b"close"
    assert put(backend.port, "/sdb/3/a/c/empty", b"") == 201
    assert ("Content-Length", b"0") in backend.seen[1].headers


def test_chunked_request_body(backend: FakeBackend) -> None:
    with connect(backend.port) as conn:
        conn.send_request("PUT", "/sda/1/a/c/chunky", {}, chunked=True)
        for piece in (b"abc", b"", b"x" * 70000, b"end"):
            conn.send(piece)
        conn.finish()
        assert conn.getresponse().status == 201
    assert ("Transfer-Encoding", b"chunked") in backend.seen[0].headers
    assert backend.objects["/sda/1/a/c/chunky"] == b"abc" + b"x" * 70000 + b"end"


def test_chunked_response_read_and_iterated(backend: FakeBackend) -> None:
    backend.objects["/o"] = b"0123456789abcdefg"
    for read_all in (True, False):
        with connect(backend.port) as conn:
            conn.send_request("GET", "/o", {}, query="chunked")
            response = conn.getresponse()
            assert response.headers.get_all("X-MULTI") == ["one", "two"]
            assert response.headers["x-multi"] == "one, two"
            assert list(response.headers).count("X-Multi") == 1
            if read_all:
                assert response.read(4) == b"0123"  # across the 3-byte chunks
                assert response.read() == b"456789abcdefg"
            else:
                pieces = list(response)
                assert b"".join(pieces) == b"0123456789abcdefg"
                assert max(len(piece) for piece in pieces) <= 3
            assert response.bytes_read == 17


def test_expect_100_continue_then_body(backend: FakeBackend) -> None:
    with connect(backend.port) as conn:
        conn.send_request("PUT", "/sda/1/a/c/o", {}, body_length=4, expect_continue=True)
        assert conn.wait_for_continue(2.0) == 100
        conn.send(b"data")
        conn.finish()
        assert conn.getresponse().status == 201
    assert ("Expect", b"100-continue") in backend.seen[0].headers
    assert backend.objects["/sda/1/a/c/o"] == b"data"


def test_a_100_not_waited_for_is_skipped(backend: FakeBackend) -> None:
    with connect(backend.port) as conn:
        conn.send_request("PUT", "/o", {}, body_length=2, expect_continue=True)
        conn.send(b"ok")  # the body goes without waiting; the 100 comes anyway
        conn.finish()
        assert conn.getresponse().status == 201
    with connect(backend.port) as conn:
        conn.send_request("GET", "/o", {})
        with pytest.raises(RuntimeError, match="no 100-continue to wait for"):
            conn.wait_for_continue(1.0)


@pytest.mark.parametrize("status", [507, 409])
def test_expect_100_continue_answered_early(backend: FakeBackend, status: int) -> None:
    with connect(backend.port) as conn:
        conn.send_request("PUT", f"/early/{status}", {}, chunked=True, expect_continue=True)
        assert conn.wait_for_continue(2.0) == status
        with pytest.raises(RuntimeError, match="already answered"):
            conn.send(b"too late")
        conn.finish()  # nothing to end: harmless, so callers need no special case
        response = conn.getresponse()
        assert (response.status, response.read()) == (status, b"no room")


def test_connect_refused() -> None:
    with socket.socket() as holder:  # bound, never listening: the kernel refuses
        holder.bind((LOOPBACK, 0))
        port = holder.getsockname()[1]
        conn = connect(port)
        with pytest.raises(ConnectError) as caught:
            conn.send_request("GET", "/", {})
    message = str(caught.value)
    assert message.startswith(f"{LOOPBACK}:{port}: cannot connect: ")
    assert "\n" not in message
    assert not isinstance(caught.value, TimeoutError)
    with pytest.raises(RuntimeError):
        conn.send_request("GET", "/", {})  # a failed connection stays closed


def test_connect_timeout(unaccepting_port: int) -> None:
    conn = BackendConnection(LOOPBACK, unaccepting_port, connect_timeout=0.3, read_timeout=5)
    started = time.monotonic()
    with pytest.raises(ConnectTimeout) as caught:
        conn.send_request("GET", "/", {})
    assert 0.25 < time.monotonic() - started < 2.0
    assert str(caught.value) == f"{LOOPBACK}:{unaccepting_port}: no connection within 0.3s"
    assert isinstance(caught.value, ConnectError) and isinstance(caught.value, TimeoutError)


def test_read_timeout_mid_body(backend: FakeBackend) -> None:
    conn = connect(backend.port, read_timeout=0.3)
    conn.send_request("GET", "/stall/1000", {})
    response = conn.getresponse()
    assert response.status == 200
    assert response.read(1000) == b"a" * 1000
    started = time.monotonic()
    with pytest.raises(ReadTimeout) as caught:
        response.read()
    assert 0.25 < time.monotonic() - started < 2.0
    assert str(caught.value) == (f"{LOOPBACK}:{backend.port}: nothing received for 0.3s "
                                 f"while reading the response body (after 1000 bytes)")
    assert response.bytes_read == 1000  # where to resume on another replica
    with pytest.raises(BackendError, match="failed earlier, after 1000 body bytes"):
        response.read()  # never b"", which would pass for the end of the body
    conn.close()


def test_slow_response_head(backend: FakeBackend) -> None:
    with connect(backend.port, read_timeout=0.2) as conn:
        conn.send_request("GET", "/slow-head/5", {})
        started = time.monotonic()
        with pytest.raises(ReadTimeout, match="while waiting for the response$"):
            conn.getresponse()
        assert time.monotonic() - started < 2.0
    with connect(backend.port, read_timeout=0.2) as conn:
        conn.send_request("GET", "/slow-head/0.4", {})
        response = conn.getresponse(timeout=3.0)  # a longer wait for this answer only
        assert response.read() == b"late"


def test_write_timeout_when_the_peer_reads_nothing(backend: FakeBackend) -> None:
    with connect(backend.port, read_timeout=0.3) as conn:
        conn.send_request("PUT", "/no-read/o", {}, chunked=True)
        started = time.monotonic()
        with pytest.raises(WriteTimeout, match="could not send for 0.3s while sending the body"):
            for _ in range(256):  # far more than loopback socket buffers hold
                conn.send(b"x" * (1 << 20))
        assert time.monotonic() - started < 3.0


@pytest.mark.parametrize("headers", [
    {"X-Evil": "a\r\nX-Injected: 1"},
    {"X-Evil": "a\nb"},
    {"X-Evil": "a\rb"},
    {"X-Evil": "a\x00b"},
    {"X-Evil\r\nX-Injected": "1"},
    {"X-Evil: 1\r\n": "1"},
    {"X Evil": "1"},
    {"": "1"},
])
def test_header_injection_refused_before_connecting(backend: FakeBackend,
                                                    headers: dict[str, str]) -> None:
    with connect(backend.port) as conn:
        with pytest.raises(ValueError):
            conn.send_request("PUT", "/o", headers, body_length=0)
    with pytest.raises(ValueError):
        request(LOOPBACK, backend.port, "PUT", "/o", headers, connect_timeout=1.0,
                read_timeout=1.0)
    assert backend.seen == []


@pytest.mark.parametrize("bad", [
    {"method": "GE T"}, {"path": "no-slash"}, {"query": "a=b c"}, {"query": "a=\r\n"},
    {"query": "a=é"}, {"headers": {"Content-Length": "5"}},
    {"headers": {"transfer-encoding": "chunked"}}, {"headers": {"Expect": "100-continue"}},
    {"chunked": True, "body_length": 3}, {"body_length": -1},
])
def test_bad_requests_are_refused(backend: FakeBackend, bad: dict[str, object]) -> None:
    args: dict[str, object] = {"method": "PUT", "path": "/o", "headers": {}}
    args.update(bad)
    with connect(backend.port) as conn:
        with pytest.raises(ValueError):
            conn.send_request(**args)  # type: ignore[arg-type]
    assert backend.seen == []


def test_body_must_match_its_length(backend: FakeBackend) -> None:
    with connect(backend.port) as conn:
        conn.send_request("PUT", "/o", {}, body_length=4)
        with pytest.raises(ValueError, match="more than the 4 left"):
            conn.send(b"12345")
        conn.send(b"12")
        with pytest.raises(ValueError, match="2 bytes short"):
            conn.finish()
    with connect(backend.port) as conn:
        conn.send_request("GET", "/o", {})
        with pytest.raises(RuntimeError, match="no more body"):
            conn.send(b"x")


def test_header_values_latin1_when_possible_else_utf8(backend: FakeBackend) -> None:
    wsgi_string = "caf\u00c3\u00a9"  # UTF-8 of "café" read back as latin-1 by a server
    request(LOOPBACK, backend.port, "PUT", "/o",
            {"X-Latin": "caf\u00e9", "X-Passed-Through": wsgi_string,
             "X-Text": "\u65e5\u672c \u20ac"},
            connect_timeout=1.0, read_timeout=2.0)
    raw = dict(backend.seen[0].headers)
    assert raw["X-Latin"] == b"caf\xe9"
    assert raw["X-Passed-Through"] == "café".encode("utf-8")
    assert raw["X-Text"] == "\u65e5\u672c \u20ac".encode("utf-8")
    with pytest.raises(TypeError):
        request(LOOPBACK, backend.port, "PUT", "/o", {"X-Size": 5},  # type: ignore[dict-item]
                connect_timeout=1.0, read_timeout=2.0)


def test_paths_are_quoted() -> None:
    assert quote_path("/sda/1/AUTH_a/c/o") == "/sda/1/AUTH_a/c/o"
    assert quote_path("/a b/\u00fc?#%;+&=") == "/a%20b/%C3%BC%3F%23%25%3B%2B%26%3D"
    assert quote_path("/\u65e5/-._~") == "/%E6%97%A5/-._~"


def test_quoted_path_reaches_the_server(backend: FakeBackend) -> None:
    assert put(backend.port, "/sda/1/a/c/\u00fc ber?x#y", b"1") == 201
    assert backend.seen[0].path == "/sda/1/a/c/%C3%BC%20ber%3Fx%23y"


@pytest.mark.parametrize("path, error, message", [
    ("/garbage", ProtocolError, "bad status line b'HTP/1.1 2OO OK\\r\\n'"),
    ("/bad-chunk", ProtocolError, "bad chunk size line b'zz\\r\\n'"),
    ("/short", BackendError, "connection closed after 5 of 10 body bytes"),
])
def test_a_broken_peer(backend: FakeBackend, path: str, error: type[BackendError],
                       message: str) -> None:
    with connect(backend.port) as conn:
        conn.send_request("GET", path, {})
        with pytest.raises(error) as caught:
            conn.getresponse().read()
    assert str(caught.value) == f"{LOOPBACK}:{backend.port}: {message}"


def test_exception_tree() -> None:
    for name in ("ConnectError", "ReadTimeout", "WriteTimeout", "ProtocolError"):
        assert issubclass(getattr(http_client, name), BackendError)
    assert issubclass(ConnectTimeout, ConnectError)
    assert issubclass(BackendError, OSError)
    for timeout in (ConnectTimeout, ReadTimeout, WriteTimeout):
        assert issubclass(timeout, TimeoutError)


def ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback (::1) on this machine")
def test_ipv6() -> None:
    with FakeBackend("::1") as server:
        for host in ("::1", "[::1]"):
            status, _, _ = request(host, server.port, "PUT", "/v6", {}, b"six",
                                   connect_timeout=1.0, read_timeout=2.0)
            assert status == 201
        with BackendConnection("::1", server.port, connect_timeout=1.0,
                               read_timeout=2.0) as conn:
            conn.send_request("GET", "/v6", {})
            assert conn.getresponse().read() == b"six"
        assert dict(server.seen[0].headers)["Host"] == f"[::1]:{server.port}".encode()
    assert server.errors == []
    with socket.socket(socket.AF_INET6) as holder:
        holder.bind(("::1", 0))
        port = holder.getsockname()[1]
        with pytest.raises(ConnectError, match=rf"^\[::1\]:{port}: cannot connect"):
            request("::1", port, "GET", "/", {}, connect_timeout=1.0, read_timeout=1.0)


GREEN_CLIENT = """
import json, sys, time
from objstore.common import concurrency
concurrency.patch_process()
from objstore.common import http_client

port, full_port = int(sys.argv[1]), int(sys.argv[2])

def put(index):
    with http_client.BackendConnection("127.0.0.1", port, connect_timeout=1,
                                       read_timeout=2) as conn:
        conn.send_request("PUT", f"/green/{index}", {}, chunked=True, expect_continue=True)
        assert conn.wait_for_continue(2) == 100
        for piece in (b"abc", b"def"):
            conn.send(piece)
            concurrency.sleep(0.05)
        conn.finish()
        return conn.getresponse().status

def stall():
    conn = http_client.BackendConnection("127.0.0.1", port, connect_timeout=1,
                                         read_timeout=0.5)
    conn.send_request("GET", "/stall/10", {})
    response = conn.getresponse()
    response.read(10)
    try:
        response.read()
    except http_client.ReadTimeout:
        return "ReadTimeout"
    finally:
        conn.close()

def write_stall():
    with http_client.BackendConnection("127.0.0.1", port, connect_timeout=1,
                                       read_timeout=0.5) as conn:
        conn.send_request("PUT", "/no-read/o", {}, chunked=True)
        try:
            for _ in range(256):
                conn.send(b"x" * (1 << 20))
        except http_client.WriteTimeout:
            return "WriteTimeout"

def connect_timeout():
    try:
        http_client.request("127.0.0.1", full_port, "GET", "/", {}, connect_timeout=0.3,
                            read_timeout=1)
    except http_client.ConnectTimeout:
        return "ConnectTimeout"

started = time.monotonic()
pool = concurrency.GreenPool()
threads = [pool.spawn(stall) for _ in range(3)] + [pool.spawn(put, i) for i in range(3)]
threads += [pool.spawn(write_stall), pool.spawn(connect_timeout)]
results = [thread.wait() for thread in threads]
print(json.dumps({"patched": concurrency.is_patched("socket"), "results": results,
                  "seconds": time.monotonic() - started}))
"""


def test_green_threads_under_eventlet(backend: FakeBackend, unaccepting_port: int) -> None:
    """Under patch_process, waits are cooperative: three stalled reads, a
    stalled write and a hanging connect time out together while three PUTs
    complete."""
    done = subprocess.run([sys.executable, "-c", GREEN_CLIENT, str(backend.port),
                           str(unaccepting_port)], cwd=ROOT, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["patched"] is True
    assert report["results"] == (["ReadTimeout"] * 3 + [201] * 3
                                 + ["WriteTimeout", "ConnectTimeout"])
    assert report["seconds"] < 2.0  # one after another would take over 2.3
    assert sorted(backend.objects[f"/green/{i}"] for i in range(3)) == [b"abcdef"] * 3


def test_a_small_body_goes_with_the_head(backend: FakeBackend) -> None:
    with connect(backend.port) as conn:
        conn.send_request("PUT", "/sda/1/a/c/small", {}, body=b"all at once")
        assert conn.getresponse().status == 201
    assert backend.objects["/sda/1/a/c/small"] == b"all at once"
    with connect(backend.port) as conn:
        with pytest.raises(ValueError):
            conn.send_request("PUT", "/sda/1/a/c/o", {}, body=b"x", chunked=True)


@pytest.mark.parametrize("segments", [
    [b"HTTP/1.1 200 OK\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 2\r\n\r\nok"],  # one go
    [b"HTTP/1.1 200 OK\r\nX-A: 1\r\n", b"x-a: 2\r\nContent-Length: 2\r\n\r\nok"],  # split
    [b"HTTP/1.1 200 OK\nX-A: 1\nx-a: 2\r\nContent-Length: 2\n\r\nok"],  # bare LFs
])
def test_a_response_head_reads_the_same_however_it_arrives(segments: list[bytes]) -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        wire = http_client._Wire(ours, "peer")
        theirs.sendall(segments[0])
        later = threading.Timer(0.1, lambda: [theirs.sendall(s) for s in segments[1:]])
        later.start()  # the rest arrives while the head is being read
        head = http_client._read_head(wire, 5.0)
        later.join()
        assert (head.status, head.reason) == (200, "OK")
        assert head.headers.get_all("x-a") == ["1", "2"] and head.headers["content-length"] == "2"
        assert wire.recv(10, 5.0, "reading the body") == b"ok"


def test_a_bad_header_line_in_a_whole_head_is_a_protocol_error() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(b"HTTP/1.1 200 OK\r\nGood: 1\r\nno colon here\r\n\r\n")
        with pytest.raises(http_client.ProtocolError, match="bad header line"):
            http_client._read_head(http_client._Wire(ours, "peer"), 5.0)
