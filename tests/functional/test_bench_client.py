"""bench/lean_http.py, the load generator's HTTP client, against a real
server (our runtime's echo app) and against hand-made answers: a
benchmark that misreads an answer would count it as a success."""
from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_server_runtime import EchoServer

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from lean_http import Connection, ProtocolError  # noqa: E402


def test_answers_with_a_length_on_one_kept_connection(echo: EchoServer) -> None:
    conn = Connection("127.0.0.1", echo.port, 10)
    try:
        first = conn.request("GET", "/greet", {})
        assert (first.status, first.read()) == (200, b"hello")
        assert first.getheader("X-Trans-Id") == "tx-echo"
        pid = conn.request("GET", "/pid", {}).read()
        assert conn.request("GET", "/pid", {}).read() == pid  # the same worker, same socket
    finally:
        conn.close()


def test_a_body_goes_out_and_a_chunked_answer_comes_back(echo: EchoServer) -> None:
    conn = Connection("127.0.0.1", echo.port, 10)
    try:
        seen = json.loads(conn.request("PUT", "/environ", {"Content-Length": "5"},
                                       b"hello").read())
        assert (seen["method"], seen["body"]) == ("PUT", "hello")
        big = b"x" * 200_000  # over one send: head and body go apart
        seen = json.loads(conn.request("PUT", "/environ", {"Content-Length": str(len(big))},
                                       [big[:100_000], memoryview(big)[100_000:]]).read())
        assert len(seen["body"]) == len(big)
        streamed = conn.request("GET", "/stream?pieces=4", {})
        assert streamed.getheader("Transfer-Encoding") == "chunked"
        assert streamed.read() == b"piece 0;piece 1;piece 2;piece 3;"
        for given in ({}, {"content-length": "0"}):  # one Content-Length either way
            empty = conn.request("PUT", "/environ", given)
            assert empty.status == 200 and json.loads(empty.read())["body"] == ""
        head = conn.request("HEAD", "/greet", {})
        assert (head.status, head.read()) == (200, b"")
        assert conn.request("GET", "/greet", {}).read() == b"hello"  # still in step
    finally:
        conn.close()


@pytest.fixture
def canned() -> Iterator[tuple[int, list[bytes]]]:
    """A server that sends, for each connection, the next canned answer
    and closes; yields its port and the list to fill."""
    answers: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            with sock:
                sock.recv(65536)
                sock.sendall(answers.pop(0))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], answers
    finally:
        listener.close()


def test_a_body_that_ends_with_the_connection(canned: tuple[int, list[bytes]]) -> None:
    port, answers = canned
    answers.append(b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nuntil the end")
    conn = Connection("127.0.0.1", port, 10)
    assert conn.request("GET", "/", {}).read() == b"until the end"


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",        # cut short
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",  # cut in a chunk
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",   # not a size
    b"SMTP ready\r\n\r\n",                                          # not HTTP
    b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",                # not a length
    b"",                                                            # nothing at all
])
def test_a_broken_answer_is_an_error_not_a_success(
        canned: tuple[int, list[bytes]], answer: bytes) -> None:
    port, answers = canned
    answers.append(answer)
    conn = Connection("127.0.0.1", port, 10)
    with pytest.raises(ProtocolError):
        conn.request("GET", "/", {}).read()
