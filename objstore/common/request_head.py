"""A request's head, read off a connection: the request line and the
header fields (wsgi_server.py turns them into a WSGI environ).

    head = read_head(rfile, url_limit=16384)   # None: the peer closed first

``rfile`` is a buffered binary reader over the socket; each line is one
C-level ``readline``. What cannot be read is a ``BadHead`` carrying the
answer to send before the connection closes:

* 400 for a request line or header line that does not parse (a header
  line without a colon, a name with spaces around it, a bad version);
* 414 for a request line past ``url_limit``; 431 for a header line past
  8 KiB, all of them past 64 KiB, or more than 100 fields;
* 505 for HTTP/2 and later.

Obsolete line folding (a line starting with a space or tab) continues the
field before it. ``GET <path>`` alone is read as HTTP/0.9: answered, then
closed.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Final

MAX_HEADERS: Final = 100
MAX_LINE: Final = 8192
MAX_HEAD: Final = 65536
_END_OF_HEAD: Final = (b"\r\n", b"\n")


class BadHead(Exception):
    """A head that cannot be served: the status and reason to answer."""

    def __init__(self, status: int, reason: str, detail: str = "") -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.detail = detail


@dataclasses.dataclass(slots=True)
class RequestHead:
    method: str
    target: str   # the path and query as sent
    version: str  # "HTTP/1.1"
    fields: list[tuple[str, str]]
    keep_alive: bool


def read_head(rfile: Any, url_limit: int) -> RequestHead | None:
    """The next request's head; None when the connection ends before one."""
    block = _buffered_head(rfile)
    if block is not None:
        return _parse_block(block, url_limit)
    line = rfile.readline(url_limit + 1)
    if line in _END_OF_HEAD:  # one empty line before a request is allowed
        line = rfile.readline(url_limit + 1)
    if not line.endswith(b"\n"):
        if len(line) > url_limit:
            raise BadHead(414, "Request-URI Too Long",
                          f"the request line is longer than {url_limit} bytes")
        return None  # closed mid-line, or before a request
    method, target, version = _request_line(str(line, "iso-8859-1").rstrip("\r\n"))
    fields = _fields(rfile)
    if fields is None:
        return None
    return RequestHead(method, target, version, fields, _keeps_alive(version, fields))


def _buffered_head(rfile: Any) -> bytes | None:
    """The whole head, taken at once when it is in the read buffer already
    (it usually came in one segment) with CRLF line ends; else None and
    nothing is taken (then it is read line by line)."""
    data = rfile.peek(1)  # waits only if nothing is buffered
    end = data.find(b"\r\n\r\n")
    if end <= 0 or data[:1] in (b"\r", b"\n"):
        return None
    head = data[:end]
    if head.count(b"\n") != head.count(b"\r\n"):
        return None  # a bare LF somewhere: the line reader's rules apply
    rfile.read(end + 4)
    return head  # type: ignore[no-any-return]


def _parse_block(block: bytes, url_limit: int) -> RequestHead:
    line, _, rest = block.partition(b"\r\n")
    if len(line) >= url_limit:
        raise BadHead(414, "Request-URI Too Long",
                      f"the request line is longer than {url_limit} bytes")
    method, target, version = _request_line(str(line, "iso-8859-1"))
    fields: list[tuple[str, str]] = []
    if rest:
        if len(rest) > MAX_HEAD:
            raise BadHead(431, "Request Header Fields Too Large",
                          f"the header is longer than {MAX_HEAD} bytes")
        for field in rest.split(b"\r\n"):
            if len(field) >= MAX_LINE:
                raise BadHead(431, "Request Header Fields Too Large",
                              f"a header line is longer than {MAX_LINE} bytes")
            _add_field(fields, field)
    return RequestHead(method, target, version, fields, _keeps_alive(version, fields))


def _request_line(text: str) -> tuple[str, str, str]:
    words = text.split()
    if len(words) == 3:
        method, target, version = words
        number = _version_number(version)
        if number is None:
            raise BadHead(400, "Bad Request", f"Bad request version ({version!r})")
        if number >= (2, 0):
            raise BadHead(505, "HTTP Version Not Supported",
                          f"Invalid HTTP version ({version[5:]})")
    elif len(words) == 2 and words[0] == "GET":
        method, target, version = words[0], words[1], "HTTP/0.9"
    elif len(words) == 2:
        raise BadHead(400, "Bad Request", f"Bad HTTP/0.9 request type ({words[0]!r})")
    else:
        raise BadHead(400, "Bad Request", f"Bad request syntax ({text[:200]!r})")
    if target.startswith("//"):  # never a scheme-less absolute URI
        target = "/" + target.lstrip("/")
    return method, target, version


def _fields(rfile: Any) -> list[tuple[str, str]] | None:
    """The header fields in order; None if the peer closed mid-head."""
    fields: list[tuple[str, str]] = []
    total = 0
    while True:
        line = rfile.readline(MAX_LINE + 1)
        if line in _END_OF_HEAD:
            return fields
        if not line.endswith(b"\n"):
            if len(line) > MAX_LINE:
                raise BadHead(431, "Request Header Fields Too Large",
                              f"a header line is longer than {MAX_LINE} bytes")
            return None
        total += len(line)
        if total > MAX_HEAD:
            raise BadHead(431, "Request Header Fields Too Large",
                          f"the header is longer than {MAX_HEAD} bytes")
        _add_field(fields, line)


def _add_field(fields: list[tuple[str, str]], line: bytes) -> None:
    """One header line (its line end included or not) into ``fields``."""
    if line[:1] in (b" ", b"\t") and fields:  # obsolete line folding
        name, value = fields[-1]
        fields[-1] = (name, value + " " + line.strip(b" \t\r\n").decode("iso-8859-1"))
        return
    if len(fields) >= MAX_HEADERS:
        raise BadHead(431, "Request Header Fields Too Large",
                      f"Too many headers: got more than {MAX_HEADERS}")
    name, colon, value = line.decode("iso-8859-1").partition(":")
    if not colon or not name or name != name.strip():
        raise BadHead(400, "Bad Request",
                      f"Malformed header line: not a header field: {line[:80]!r}")
    fields.append((name, value.strip(" \t\r\n")))


def _keeps_alive(version: str, fields: list[tuple[str, str]]) -> bool:
    tokens = {token.strip().lower() for name, value in fields
              if name.lower() == "connection" for token in value.split(",")}
    if "close" in tokens:
        return False
    return (_version_number(version) or (0, 9)) >= (1, 1) or "keep-alive" in tokens


def _version_number(version: str) -> tuple[int, int] | None:
    if not version.startswith("HTTP/"):
        return None
    parts = version[5:].split(".")
    if len(parts) != 2 or not all(p.isdigit() and len(p) <= 10 for p in parts):
        return None
    return int(parts[0]), int(parts[1])
