"""Request heads as every server reads them (objstore/common/request_head.py),
over a real socket to a server on the real runtime."""
from __future__ import annotations

import json
import socket

import pytest

from .test_server_runtime import EchoServer


def exchange(port: int, raw: bytes, answers: int = 1) -> list[bytes]:
    """Send ``raw`` as is; the raw answers, until the server closes or
    ``answers`` came."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        data = b""
        while data.count(b"HTTP/1.") < answers or not _complete(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return [b"HTTP/1." + part for part in data.split(b"HTTP/1.")[1:]]


def _complete(data: bytes) -> bool:
    head, _, body = data.rpartition(b"HTTP/1.")[2].partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    return bool(_) and len(body) >= length


def seen(answer: bytes) -> dict[str, str]:
    assert answer.startswith(b"HTTP/1.1 200"), answer
    return json.loads(answer.partition(b"\r\n\r\n")[2])  # type: ignore[no-any-return]


def test_fields_reach_the_app_as_wsgi_keys(echo: EchoServer) -> None:
    answer, = exchange(echo.port, (
        b"PUT /environ?a=1 HTTP/1.1\r\nHost: x\r\ncontent-length: 5\r\n"
        b"X-Object-Meta-Color:  blue \r\nX-Dup: one\r\nX-Dup: two\r\n"
        b"X-Folded: first\r\n  second\r\nX-Empty:\r\nConnection: close\r\n\r\nhello"))
    got = seen(answer)
    assert (got["method"], got["path"], got["query"], got["body"]) == \
        ("PUT", "/environ", "a=1", "hello")
    assert got["CONTENT_LENGTH"] == "5" and "CONTENT_TYPE" not in got  # none was sent
    assert got["HTTP_X_OBJECT_META_COLOR"] == "blue"
    assert got["HTTP_X_DUP"] == "one,two"
    assert got["HTTP_X_FOLDED"] == "first second"
    assert got["HTTP_X_EMPTY"] == ""


def test_keep_alive_and_close(echo: EchoServer) -> None:
    one = b"GET /greet HTTP/1.1\r\nHost: x\r\n\r\n"
    assert len(exchange(echo.port, one + one, answers=2)) == 2  # 1.1: kept alive
    closing = b"GET /greet HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    assert len(exchange(echo.port, closing + one, answers=2)) == 1
    old = b"GET /greet HTTP/1.0\r\n\r\n"
    assert len(exchange(echo.port, old + one, answers=2)) == 1  # 1.0: closed


@pytest.mark.parametrize("raw, status, reason", [
    (b"GET /greet HTTP/1.1\r\nHost x\r\n\r\n", b"400", b"Malformed header line"),
    (b"GET /greet HTTP/1.1\r\n: nameless\r\n\r\n", b"400", b"Malformed header line"),
    (b"GET /greet HTTP/1.1\r\nHost : x\r\n\r\n", b"400", b"Malformed header line"),
    (b"GET /greet HTTP/x.y\r\n\r\n", b"400", b"Bad request version"),
    (b"GET /greet HTTP/2.0\r\n\r\n", b"505", b"Invalid HTTP version"),
    (b"GET /greet HTTP/1.1 extra\r\n\r\n", b"400", b"Bad request syntax"),
    (b"PUT /greet\r\n\r\n", b"400", b"Bad HTTP/0.9 request type"),
    (b"GET /greet HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % n for n in range(101)) + b"\r\n",
     b"431", b"Too many headers"),
])
def test_bad_heads_are_refused_with_a_reason(echo: EchoServer, raw: bytes, status: bytes,
                                             reason: bytes) -> None:
    with socket.create_connection(("127.0.0.1", echo.port), timeout=10) as sock:
        sock.sendall(raw)
        answer = b""
        while chunk := sock.recv(65536):  # the server closes after an error
            answer += chunk
    assert answer.startswith(b"HTTP/1.") and answer.split(b" ")[1] == status, answer[:200]
    assert reason in answer and b"Traceback" not in answer


def test_expect_100_continue_is_answered_on_the_first_read(echo: EchoServer) -> None:
    with socket.create_connection(("127.0.0.1", echo.port), timeout=10) as sock:
        sock.sendall(b"PUT /environ HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b"abc")
        data = b""
        while not data.endswith(b"}"):
            data += sock.recv(65536)
    assert json.loads(data.partition(b"\r\n\r\n")[2])["body"] == "abc"


def test_a_path_that_starts_with_two_slashes_is_one_slash(echo: EchoServer) -> None:
    answer, = exchange(echo.port, b"GET //environ HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert seen(answer)["path"] == "/environ"
