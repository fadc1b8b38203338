"""wsgi.input as an app reads it (objstore/common/request_body.py)."""
from __future__ import annotations

import io

import pytest

from objstore.common.request_body import BodyError, RequestBody


class Wire:
    """What the server sent back, and a body over the given bytes."""

    def __init__(self, raw: bytes) -> None:
        self.stream = io.BufferedReader(io.BytesIO(raw))
        self.sent: list[bytes] = []

    def body(self, length: int = 0, chunked: bool = False, expect: bool = False) -> RequestBody:
        return RequestBody(self.stream, length, chunked, self.sent.append, expect)


def test_a_framed_body_stops_at_its_length() -> None:
    wire = Wire(b"hello world|NEXT REQUEST")
    body = wire.body(11)
    assert body.read(5) == b"hello"
    assert not body.finished
    assert body.read() == b" world"
    assert body.finished and body.read() == b""
    assert wire.stream.read() == b"|NEXT REQUEST"


def test_readline_and_iteration_stay_inside_the_body() -> None:
    wire = Wire(b"one\ntwo\nthree|rest")
    body = wire.body(len(b"one\ntwo\nthree"))
    assert body.readline() == b"one\n"
    assert list(body) == [b"two\n", b"three"]


def test_a_client_that_stops_short_gives_a_short_read_and_a_broken_body() -> None:
    body = Wire(b"abc").body(10)
    assert body.read(10) == b"abc"
    assert body.broken and body.read() == b""


def test_a_chunked_body_is_decoded_across_chunks_and_ends_at_the_last() -> None:
    wire = Wire(b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\nNEXT")
    body = wire.body(chunked=True)
    assert body.read(3) == b"hel"
    assert body.read(100) == b"lo world"
    assert body.finished and body.read() == b""
    assert wire.stream.read() == b"NEXT"


def test_a_chunked_body_reads_by_line() -> None:
    body = Wire(b"8\r\nab\ncd\nef\r\n0\r\n\r\n").body(chunked=True)
    assert body.readlines() == [b"ab\n", b"cd\n", b"ef"]


@pytest.mark.parametrize("raw", [
    b"zz\r\nhello\r\n0\r\n\r\n",       # not a size
    b"5\r\nhelloXX0\r\n\r\n",          # no CRLF after the data
    b"5\r\nhel",                       # stops mid-chunk
    b"5\r\nhello\r\n",                 # no last chunk
    b"-5\r\nhello\r\n0\r\n\r\n",       # negative
])
def test_a_chunked_body_that_does_not_parse_raises_and_breaks(raw: bytes) -> None:
    body = Wire(raw).body(chunked=True)
    with pytest.raises(BodyError):
        body.read()
    assert body.broken


def test_100_continue_goes_out_on_the_first_read_with_the_apps_headers() -> None:
    wire = Wire(b"abc")
    body = wire.body(3, expect=True)
    body.set_hundred_continue_response_headers([("X-Footer", "yes")])
    assert wire.sent == [] and body.continue_pending
    assert body.read() == b"abc"
    assert wire.sent == [b"HTTP/1.1 100 Continue\r\nX-Footer: yes\r\n\r\n"]
    body.read()
    assert len(wire.sent) == 1 and not body.continue_pending


def test_no_100_continue_once_the_answer_has_started() -> None:
    wire = Wire(b"abc")
    body = wire.body(3, expect=True)
    body.response_started = True
    body.read()
    assert wire.sent == []


def test_discard_reads_to_the_end() -> None:
    wire = Wire(b"4\r\nabcd\r\n0\r\n\r\nNEXT")
    body = wire.body(chunked=True)
    body.discard()
    assert body.finished and wire.stream.read() == b"NEXT"


def test_readinto_stays_inside_a_framed_body() -> None:
    wire = Wire(b"hello world|NEXT REQUEST")
    body = wire.body(11, expect=True)
    buffer = bytearray(8)
    assert body.readinto(buffer) == 8 and buffer == b"hello wo"
    assert wire.sent and wire.sent[0].startswith(b"HTTP/1.1 100 Continue")
    assert body.readinto(buffer) == 3 and buffer[:3] == b"rld"
    assert body.finished and body.readinto(buffer) == 0
    assert wire.stream.read() == b"|NEXT REQUEST"


def test_readinto_a_short_body_breaks_it() -> None:
    body = Wire(b"abc").body(10)
    buffer = bytearray(10)
    assert body.readinto(buffer) == 3 and buffer[:3] == b"abc"
    assert body.broken and body.readinto(buffer) == 0


def test_readinto_a_chunked_body_decodes_it() -> None:
    body = Wire(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n").body(chunked=True)
    buffer = bytearray(20)
    view = memoryview(buffer)
    got = body.readinto(view)
    got += body.readinto(view[got:])
    assert buffer[:got] == b"hello world" and body.finished
