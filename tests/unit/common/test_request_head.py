"""Request heads read off a byte stream (objstore/common/request_head.py)."""
from __future__ import annotations

import io

import pytest

from objstore.common.request_head import MAX_HEADERS, BadHead, read_head


def head_of(raw: bytes, url_limit: int = 16384):  # type: ignore[no-untyped-def]
    return read_head(io.BufferedReader(io.BytesIO(raw)), url_limit)


def test_a_head_gives_method_target_version_and_fields_in_order() -> None:
    head = head_of(b"PUT /v1/a/c/o?x=1 HTTP/1.1\r\nHost: h\r\nX-A:  one \r\nx-a: two\r\n\r\nBODY")
    assert (head.method, head.target, head.version) == ("PUT", "/v1/a/c/o?x=1", "HTTP/1.1")
    assert head.fields == [("Host", "h"), ("X-A", "one"), ("x-a", "two")]
    assert head.keep_alive


def test_the_stream_is_left_at_the_body() -> None:
    stream = io.BufferedReader(io.BytesIO(b"PUT / HTTP/1.1\r\nA: b\r\n\r\nBODY"))
    read_head(stream, 100)
    assert stream.read() == b"BODY"


@pytest.mark.parametrize("raw, keep_alive", [
    (b"GET / HTTP/1.1\r\n\r\n", True),
    (b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", False),
    (b"GET / HTTP/1.1\r\nConnection: Keep-Alive, Close\r\n\r\n", False),
    (b"GET / HTTP/1.0\r\n\r\n", False),
    (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", True),
    (b"GET /\r\n\r\n", False),  # HTTP/0.9
])
def test_keep_alive_follows_the_version_and_connection(raw: bytes, keep_alive: bool) -> None:
    assert head_of(raw).keep_alive is keep_alive


def test_folded_lines_continue_the_field_before() -> None:
    assert head_of(b"GET / HTTP/1.1\r\nX: a\r\n\tb\r\n c\r\n\r\n").fields == [("X", "a b c")]


def test_one_empty_line_before_the_request_is_skipped() -> None:
    assert head_of(b"\r\nGET /x HTTP/1.1\r\n\r\n").target == "/x"


def test_two_leading_slashes_are_one() -> None:
    assert head_of(b"GET //a//b HTTP/1.1\r\n\r\n").target == "/a//b"


@pytest.mark.parametrize("raw", [b"", b"GET / HT", b"GET / HTTP/1.1\r\nHost: x\r\n"])
def test_a_peer_that_closes_before_the_end_of_the_head_gives_none(raw: bytes) -> None:
    assert head_of(raw) is None


@pytest.mark.parametrize("raw, status, words", [
    (b"GET / HTTP/1.1\r\nHost x\r\n\r\n", 400, "Malformed header line"),
    (b"GET / HTTP/1.1\r\n: v\r\n\r\n", 400, "Malformed header line"),
    (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, "Malformed header line"),
    (b"GET / HTTP/1.x\r\n\r\n", 400, "Bad request version"),
    (b"GET / FTP/1.1\r\n\r\n", 400, "Bad request version"),
    (b"GET / HTTP/3.0\r\n\r\n", 505, "Invalid HTTP version"),
    (b"GET / HTTP/1.1 more\r\n\r\n", 400, "Bad request syntax"),
    (b"POST /\r\n\r\n", 400, "Bad HTTP/0.9 request type"),
    (b"GET /" + b"a" * 200 + b" HTTP/1.1\r\n\r\n", 414, "longer than 100 bytes"),
    (b"GET / HTTP/1.1\r\nX: " + b"v" * 9000 + b"\r\n\r\n", 431, "header line is longer"),
    (b"GET / HTTP/1.1\r\n" + b"X: " + b"v" * 8000 + b"\r\n" * 1 + b"".join(
        b"Y%d: " % n + b"v" * 8000 + b"\r\n" for n in range(8)) + b"\r\n",
     431, "header is longer than 65536"),
    (b"GET / HTTP/1.1\r\n" + b"".join(b"X%d: v\r\n" % n for n in range(MAX_HEADERS + 1))
     + b"\r\n", 431, "Too many headers"),
])
def test_bad_heads_say_what_is_wrong(raw: bytes, status: int, words: str) -> None:
    with pytest.raises(BadHead) as caught:
        head_of(raw, url_limit=100)
    assert caught.value.status == status
    assert words in caught.value.detail


@pytest.mark.parametrize("raw", [
    b"PUT /v1/a/c/o?x=1 HTTP/1.1\r\nHost: h\r\nX-A:  one \r\nx-a: two\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"GET / HTTP/1.1\r\nX: a\r\n\tb\r\n c\r\n\r\n",
    b"GET //a//b HTTP/1.1\r\n\r\n",
    b"GET /\r\n\r\n",
    b"GET / HTTP/1.1\r\nX-Empty:\r\nY: 1\r\n\r\n",
])
def test_a_head_in_the_buffer_reads_as_one_read_line_by_line(raw: bytes) -> None:
    """Heads usually arrive whole and are split at once; a reader whose
    buffer holds less takes them line by line: the same head either way."""
    whole = read_head(io.BufferedReader(io.BytesIO(raw + b"BODY")), 16384)
    by_line = io.BufferedReader(io.BytesIO(raw + b"BODY"), buffer_size=1)
    assert read_head(by_line, 16384) == whole
    assert by_line.read() == b"BODY"


@pytest.mark.parametrize("raw, status", [
    (b"GET / HTTP/1.1\r\nHost x\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\n\r\n", 505),
    (b"GET /" + b"a" * 200 + b" HTTP/1.1\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\n" + b"".join(b"X%d: v\r\n" % n for n in range(MAX_HEADERS + 1))
     + b"\r\n", 431),
])
def test_bad_heads_are_refused_alike_whole_or_line_by_line(raw: bytes, status: int) -> None:
    for buffer_size in (65536, 1):
        with pytest.raises(BadHead) as caught:
            read_head(io.BufferedReader(io.BytesIO(raw), buffer_size=buffer_size), 100)
        assert caught.value.status == status
