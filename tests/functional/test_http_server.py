"""Bodies and answers as every server's HTTP layer handles them
(objstore/common/wsgi_server.py, request_body.py), over real sockets to a
server on the real runtime."""
from __future__ import annotations

import http.client
import json
import signal
import socket
import time
from pathlib import Path

import pytest

from .test_request_heads import exchange, seen
from .test_server_runtime import EchoServer


def status(answer: bytes) -> bytes:
    return answer.split(b" ", 2)[1]


def test_a_chunked_body_reaches_the_app_whole_and_the_connection_goes_on(
        echo: EchoServer) -> None:
    first, second = exchange(echo.port, (
        b"PUT /environ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n"
        b"GET /greet HTTP/1.1\r\nHost: x\r\n\r\n"), answers=2)
    assert seen(first)["body"] == "hello, world"
    assert second.endswith(b"\r\n\r\nhello")


def test_a_body_the_app_did_not_read_is_skipped_not_taken_for_a_request(
        echo: EchoServer) -> None:
    first, second = exchange(echo.port, (
        b"PUT /ignored HTTP/1.1\r\nHost: x\r\nContent-Length: 18\r\n\r\nGET /crash HTTP/1.1"
        b"GET /greet HTTP/1.1\r\nHost: x\r\n\r\n"), answers=2)
    assert first.endswith(b"\r\n\r\nok") and second.endswith(b"\r\n\r\nhello")


def test_no_100_continue_when_the_app_answers_without_the_body(echo: EchoServer) -> None:
    with socket.create_connection(("127.0.0.1", echo.port), timeout=10) as sock:
        sock.sendall(b"PUT /ignored HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):  # closed after: the body may or may not come
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 OK") and b"100 Continue" not in answer


@pytest.mark.parametrize("fields, code, reason", [
    (b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", b"400",
     b"Content-Length and Transfer-Encoding are not allowed together"),
    (b"Content-Length: -3\r\n", b"400", b"Invalid Content-Length"),
    (b"Content-Length: three\r\n", b"400", b"Invalid Content-Length"),
    (b"Transfer-Encoding: gzip\r\n", b"501", b"is not supported"),
])
def test_bodies_that_cannot_be_framed_are_refused_with_a_reason(
        echo: EchoServer, fields: bytes, code: bytes, reason: bytes) -> None:
    answer, = exchange(echo.port, b"PUT /environ HTTP/1.1\r\nHost: x\r\n" + fields
                       + b"\r\nabc" + b"GET /greet HTTP/1.1\r\n\r\n", answers=2)
    assert status(answer) == code and reason in answer


def test_a_chunked_body_that_does_not_parse_ends_the_connection(echo: EchoServer) -> None:
    answers = exchange(echo.port, (
        b"PUT /environ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"nonsense\r\n" + b"GET /greet HTTP/1.1\r\nHost: x\r\n\r\n"), answers=2)
    assert len(answers) == 1 and status(answers[0]) == b"500"
    assert b"Traceback" not in answers[0]


def test_an_app_that_fails_is_a_500_without_a_traceback_and_the_log_has_it(
        echo: EchoServer) -> None:
    answer, = exchange(echo.port, b"GET /raise HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status(answer) == b"500" and b"Traceback" not in answer
    assert b"the log says why" in answer
    assert "RuntimeError: the echo app fails on purpose" in echo.log.read_text()
    assert exchange(echo.port, b"GET /greet HTTP/1.1\r\n\r\n")[0].endswith(b"hello")


def test_an_answer_without_a_length_is_chunked_for_http_1_1(echo: EchoServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", echo.port, timeout=10)
    try:
        conn.request("GET", "/stream?pieces=3")
        response = conn.getresponse()
        assert response.getheader("Transfer-Encoding") == "chunked"
        assert response.read() == b"piece 0;piece 1;piece 2;"
        conn.request("GET", "/greet")  # the same connection carries on
        assert conn.getresponse().read() == b"hello"
    finally:
        conn.close()


def test_an_answer_without_a_length_ends_the_connection_for_http_1_0(echo: EchoServer) -> None:
    answers = exchange(echo.port, b"GET /stream?pieces=2 HTTP/1.0\r\nConnection: keep-alive"
                                  b"\r\n\r\nGET /greet HTTP/1.1\r\n\r\n", answers=2)
    assert len(answers) == 1
    head, _, body = answers[0].partition(b"\r\n\r\n")
    assert b"Connection: close" in head and b"chunked" not in head
    assert body == b"piece 0;piece 1;"


def test_head_answers_carry_the_length_and_no_body(echo: EchoServer) -> None:
    first, second = exchange(echo.port, b"HEAD /greet HTTP/1.1\r\nHost: x\r\n\r\n"
                                        b"GET /greet HTTP/1.1\r\nHost: x\r\n\r\n", answers=2)
    assert b"Content-Length: 5\r\n" in first and first.endswith(b"\r\n\r\n")
    assert second.endswith(b"\r\n\r\nhello")


def test_header_names_with_underscores_are_dropped(echo: EchoServer) -> None:
    answer, = exchange(echo.port, b"GET /environ HTTP/1.1\r\nX-Auth-Token: real\r\n"
                                  b"X_Auth_Token: forged\r\nConnection: close\r\n\r\n")
    assert seen(answer)["HTTP_X_AUTH_TOKEN"] == "real"


def test_a_stop_does_not_wait_for_idle_kept_alive_connections(tmp_path: Path) -> None:
    server = EchoServer(tmp_path, workers=1)
    try:
        server.ready()
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as idle:
            idle.sendall(b"GET /greet HTTP/1.1\r\nHost: x\r\n\r\n")
            assert idle.recv(65536).endswith(b"hello")
            started = time.monotonic()
            server.proc.send_signal(signal.SIGTERM)
            assert server.proc.wait(timeout=8) == 0
            assert time.monotonic() - started < 5  # graceful_shutdown_timeout is 10
            assert idle.recv(65536) == b""  # closed by the server, no answer owed
    finally:
        server.stop()


def test_the_path_is_percent_decoded_and_the_query_is_not(echo: EchoServer) -> None:
    answer, = exchange(echo.port, b"GET /env%69ron?q=%41 HTTP/1.1\r\nHost: x\r\n"
                                  b"Connection: close\r\n\r\n")
    got = json.loads(answer.partition(b"\r\n\r\n")[2])
    assert got["query"] == "q=%41" and got["path"] == "/environ"


def test_a_connection_accepted_before_a_stop_still_gets_its_first_answer(
        tmp_path: Path) -> None:
    server = EchoServer(tmp_path, workers=1)
    try:
        server.ready()
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as early:
            time.sleep(0.3)  # accepted; its request not sent yet
            server.proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            early.sendall(b"GET /greet HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while chunk := early.recv(65536):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"hello")
            assert b"Connection: close" in answer  # and then no more: the server stops
        assert server.proc.wait(timeout=10) == 0
    finally:
        server.stop()
