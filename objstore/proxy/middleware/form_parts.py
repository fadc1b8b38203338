"""A multipart/form-data body read as it arrives, one part at a time.

``FormReader(source, boundary)`` pulls from ``source.read`` (a WSGI
input) in 64 KiB blocks and never holds more than a block and a
delimiter: ``next_part()`` gives each part's headers (``Part``), then
``read(size)`` its body until ``b""``. A part not read to its end is
skipped by the next ``next_part()``. Anything that is not a well-formed
form (no opening boundary, headers too long, a body that ends before the
closing boundary) raises ``FormError`` with the reason; a client that
goes away raises ``OSError``.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Final

BLOCK: Final = 65536
MAX_HEADERS: Final = 8192
_PARAMETER: Final = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


class FormError(ValueError):
    """The body is not a form we can read; the reason is the message."""


def parse_header_value(value: str) -> tuple[str, dict[str, str]]:
    """``text/plain; a=1; b="x y"`` -> ("text/plain", {"a": "1", "b": "x y"});
    the main value lower case, parameter names lower case."""
    main, _, rest = value.partition(";")
    params = {}
    for name, raw in _PARAMETER.findall(";" + rest):
        raw = raw.strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params[name.lower()] = raw
    return main.strip().lower(), params


def form_boundary(content_type: str | None) -> bytes | None:
    """The boundary of a multipart/form-data Content-Type; None for any
    other type; FormError for a form without a usable boundary."""
    kind, params = parse_header_value(content_type or "")
    if kind != "multipart/form-data":
        return None
    boundary = params.get("boundary", "")
    if not 1 <= len(boundary) <= 70 or not boundary.isascii():
        raise FormError("multipart/form-data needs a boundary of 1 to 70 ASCII characters")
    return boundary.encode("ascii")


@dataclasses.dataclass(frozen=True)
class Part:
    headers: dict[str, str]          # lower-case names

    @property
    def disposition(self) -> dict[str, str]:
        return parse_header_value(self.headers.get("content-disposition", ""))[1]

    @property
    def name(self) -> str:
        return self.disposition.get("name", "")

    @property
    def filename(self) -> str | None:
        """The file's name, None for a plain field ("" for an empty file input)."""
        return self.disposition.get("filename")

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type") or None


class FormReader:
    """See the module doc."""

    def __init__(self, source: Any, boundary: bytes) -> None:
        self.source = source
        self.delimiter = b"\r\n--" + boundary
        # the first delimiter may open the body without a line break before it
        self._buffer = b"\r\n"
        self._eof = False
        self._started = False
        self._in_part = False
        self._closed = False

    def _fill(self) -> bool:
        """Read one more block; False at the end of the body."""
        if self._eof:
            return False
        data = self.source.read(BLOCK)
        if not data:
            self._eof = True
            return False
        self._buffer += data
        return True

    def _skip_to_delimiter(self) -> None:
        while True:
            found = self._buffer.find(self.delimiter)
            if found >= 0:
                self._buffer = self._buffer[found + len(self.delimiter):]
                return
            self._buffer = self._buffer[-(len(self.delimiter) - 1):]
            if not self._fill():
                raise FormError("the form has no opening boundary" if not self._started
                                else "the form ended before its closing boundary")

    def next_part(self) -> Part | None:
        """The next part's headers; None after the closing boundary."""
        if self._closed:
            return None
        if not self._started or self._in_part:
            while self._in_part:
                self.read(BLOCK)
            if not self._started:
                self._skip_to_delimiter()
                self._started = True
        while len(self._buffer) < 2 and self._fill():
            pass
        if self._buffer.startswith(b"--"):
            self._closed = True
            return None
        return Part(self._headers())

    def _headers(self) -> dict[str, str]:
        # after the delimiter: optional padding, a line break, then the header lines
        while (end := self._buffer.find(b"\r\n\r\n")) < 0 \
                and len(self._buffer) <= MAX_HEADERS:
            if not self._fill():
                raise FormError("the form ended in a part's headers")
        if not 0 <= end <= MAX_HEADERS:
            raise FormError(f"a part's headers are over {MAX_HEADERS} bytes")
        first, _, block = self._buffer[:end + 2].partition(b"\r\n")
        if first.strip(b" \t"):
            raise FormError("a boundary line holds more than the boundary")
        self._buffer = self._buffer[end + 4:]
        headers = {}
        for line in block.split(b"\r\n"):
            if not line:
                continue
            name, colon, value = line.partition(b":")
            if not colon:
                raise FormError("a part's header line has no ':'")
            try:
                text = value.decode("utf-8")
            except UnicodeDecodeError:
                text = value.decode("latin-1")
            headers[name.decode("latin-1").strip().lower()] = text.strip()
        self._in_part = True
        return headers

    def read(self, size: int = BLOCK) -> bytes:
        """Up to ``size`` bytes of the current part's body; b"" at its end."""
        if not self._in_part:
            return b""
        size = BLOCK if size is None or size < 0 else max(size, 1)
        while True:
            found = self._buffer.find(self.delimiter)
            if found >= 0:
                if found > size:
                    data, self._buffer = self._buffer[:size], self._buffer[size:]
                    return data
                data = self._buffer[:found]
                self._buffer = self._buffer[found + len(self.delimiter):]
                self._in_part = False
                return data
            # all but what could be the start of a delimiter is body
            safe = len(self._buffer) - (len(self.delimiter) - 1)
            if safe > 0:
                cut = min(safe, size)
                data, self._buffer = self._buffer[:cut], self._buffer[cut:]
                return data
            if not self._fill():
                raise FormError("the form ended before its closing boundary")
