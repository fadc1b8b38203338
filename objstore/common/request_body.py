"""A request's body as the app reads it (``environ["wsgi.input"]``).

    body = RequestBody(rfile, length=5, chunked=False, send=sock.sendall,
                       expects_continue=True)
    body.read(65536)

The body is framed by Content-Length or by chunked transfer coding;
reads never go past its end, so the next request on the connection stays
intact. A client that sent ``Expect: 100-continue`` is told ``100
Continue`` on the first read, with any headers the app set through
``set_hundred_continue_response_headers`` (the object server confirms a
footer that way), unless the response has started by then.

A client that stops short gives a short read (then b""); a chunked body
that does not parse raises ``BodyError``, a ValueError. Either leaves
the connection unusable (``broken``); the server closes it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final

MAX_SIZE_LINE: Final = 4096  # a chunk's size line, with any extensions
_HEX: Final = frozenset(b"0123456789abcdefABCDEF")


class BodyError(ValueError):
    """A chunked body that does not parse, or ends mid-chunk."""


def read_into(source: Any, buffer: Any) -> int:
    """``source.readinto(buffer)`` where a body (or a filter's wrapper
    of one) has it; else a ``read`` copied into ``buffer``."""
    readinto = getattr(source, "readinto", None)
    if readinto is not None:
        return readinto(buffer)  # type: ignore[no-any-return]
    with memoryview(buffer) as view:
        data = source.read(len(view))
        view[:len(data)] = data
    return len(data)


class RequestBody:
    def __init__(self, rfile: Any, length: int, chunked: bool,
                 send: Callable[[bytes], Any], expects_continue: bool) -> None:
        self._rfile = rfile
        self._send = send
        self._left = length          # framed by length: bytes still to come
        self._chunked = chunked
        self._chunk_left = 0         # chunked: bytes left of the current chunk
        self._crlf_due = False       # chunked: a chunk's data was read, its CRLF not
        self._done = not chunked and length == 0
        self.broken = False
        self.continue_pending = expects_continue  # "100 Continue" owed, not sent
        self.response_started = False
        self._continue_headers: list[tuple[str, str]] = []

    @property
    def finished(self) -> bool:
        """Every byte of the body was read."""
        return self._done

    def set_hundred_continue_response_headers(self, headers: Iterable[tuple[str, str]]) -> None:
        self._continue_headers = list(headers)

    def read(self, size: int | None = -1) -> bytes:
        return self._take(size, self._rfile.read)

    def readinto(self, buffer: Any) -> int:
        """Like ``read(len(buffer))``, into ``buffer``: a body framed by its
        length lands there with no copy of its own (the object server
        reads big bodies straight into the buffer it writes to disk)."""
        with memoryview(buffer) as view:
            if self._chunked:
                data = self.read(len(view))
                view[:len(data)] = data
                return len(data)
            if self.continue_pending:
                self._say_continue()
            if self._done or not len(view):
                return 0
            count = min(len(view), self._left)
            with view[:count] as target:
                try:
                    got = self._rfile.readinto(target) or 0
                except BaseException:
                    self.broken = True
                    raise
        self._framed_read(count, got)
        return got  # type: ignore[no-any-return]

    def readline(self, size: int | None = -1) -> bytes:
        return self._take(size, self._rfile.readline, line=True)

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines, total = [], 0
        while line := self.readline():
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def discard(self) -> None:
        """Read the rest of the body, so the connection can carry on."""
        while self.read(65536):
            pass

    def _take(self, size: int | None, reader: Callable[[int], bytes], line: bool = False
              ) -> bytes:
        if self.continue_pending:
            self._say_continue()
        if self._done or size == 0:
            return b""
        wanted = None if size is None or size < 0 else size
        try:
            if self._chunked:
                return self._take_chunked(wanted, reader, line)
            return self._take_framed(wanted, reader, line)
        except BaseException:
            self.broken = True
            raise

    def _take_framed(self, wanted: int | None, reader: Callable[[int], bytes], line: bool
                     ) -> bytes:
        count = self._left if wanted is None else min(wanted, self._left)
        data = reader(count)
        self._framed_read(count, len(data), line)
        return data  # type: ignore[no-any-return]

    def _framed_read(self, count: int, got: int, line: bool = False) -> None:
        """``got`` of the ``count`` bytes asked for came (a line may stop early)."""
        self._left -= got
        if self._left == 0:
            self._done = True
        elif not got or (got < count and not line):
            self.broken = self._done = True  # the client stopped short

    def _take_chunked(self, wanted: int | None, reader: Callable[[int], bytes],
                      line: bool) -> bytes:
        parts = []
        while not self._done and (wanted is None or wanted > 0):
            if self._chunk_left == 0:
                self._next_chunk()
                continue
            count = self._chunk_left if wanted is None else min(wanted, self._chunk_left)
            data = reader(count)
            if not data:
                raise BodyError("the client stopped in the middle of a chunk")
            parts.append(data)
            self._chunk_left -= len(data)
            self._crlf_due = self._chunk_left == 0
            if wanted is not None:
                wanted -= len(data)
            if line and data.endswith(b"\n"):
                break
        return b"".join(parts)

    def _next_chunk(self) -> None:
        if self._crlf_due:
            if self._rfile.readline(3) not in (b"\r\n", b"\n"):
                raise BodyError("a chunk's data is not followed by CRLF")
            self._crlf_due = False
        size_line = self._rfile.readline(MAX_SIZE_LINE + 1)
        if not size_line.endswith(b"\n"):
            raise BodyError("the chunked body ended without its last chunk"
                            if len(size_line) <= MAX_SIZE_LINE else "a chunk size line is too long")
        digits = size_line.split(b";", 1)[0].strip(b" \t\r\n")
        if not digits or not _HEX.issuperset(digits):
            raise BodyError(f"bad chunk size line {size_line[:40]!r}")
        self._chunk_left = int(digits, 16)
        if self._chunk_left == 0:
            self._skip_trailers()
            self._done = True

    def _skip_trailers(self) -> None:
        while True:
            line = self._rfile.readline(MAX_SIZE_LINE + 1)
            if line in (b"\r\n", b"\n"):
                return
            if not line.endswith(b"\n"):
                raise BodyError("the chunked body's trailer does not end")

    def _say_continue(self) -> None:
        self.continue_pending = False
        if self.response_started:
            return  # too late: the final answer is on its way
        lines = ["HTTP/1.1 100 Continue\r\n"]
        lines.extend(f"{name}: {value}\r\n" for name, value in self._continue_headers)
        lines.append("\r\n")
        self._send("".join(lines).encode("latin-1"))
