"""A request head parser of our own for eventlet's HTTP server.

The standard library parses request headers through the email package
(``http.client.parse_headers``: a feed parser, a policy object, a
Message): about half of all the time eventlet.wsgi spends on a request
that does nothing, some 65 us of CPU (measured on this project's 2-core
machine), paid by every request to every server. ``FastRequestHead``
replaces only that step, ``parse_request``, keeping its contract with
eventlet (``command``, ``path``, ``request_version``, ``headers``,
``close_connection``) and the standard library's answers: 400 for a
request line it cannot read, 505 for HTTP/2 and later, 431 past 100
header fields. It is a mixin: concurrency.serve_wsgi, the one module
that imports eventlet, puts it in front of eventlet's ``HttpProtocol``.

It differs in two ways: a header line without a colon is a 400 (the
email parser would end the head there and treat the rest as body), and
an answer to a request line it cannot read has a status line (the stdlib
answers those as it would an HTTP/0.9 client: a bare page).
"""
from __future__ import annotations

from http import HTTPStatus
from typing import Any, Final

MAX_HEADERS: Final = 100  # as http.client
_END_OF_HEAD: Final = (b"\r\n", b"\n", b"")


class RequestHeaders:
    """What eventlet reads of a request's headers: ``get`` (first value,
    any case), ``_headers`` (every field in order) and the content type
    the email package would give a request without one."""

    __slots__ = ("_headers",)

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self._headers = fields

    def get(self, name: str, default: str | None = None) -> str | None:
        wanted = name.lower()
        for key, value in self._headers:
            if key.lower() == wanted:
                return value
        return default

    def get_content_type(self) -> str:
        return "text/plain"


class FastRequestHead:
    """``parse_request`` for a BaseHTTPRequestHandler (eventlet's
    HttpProtocol): it reads ``raw_requestline`` and ``rfile`` and answers
    errors with ``send_error``, as the stdlib's does."""

    raw_requestline: bytes
    rfile: Any
    protocol_version: str
    default_request_version: str
    send_error: Any

    def parse_request(self) -> bool:
        self.command = None
        self.request_version = self.default_request_version
        self.close_connection = True
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        if not self._parse_request_line(self.requestline.split()):
            return False
        fields = self._read_fields()
        if fields is None:
            return False
        self.headers = RequestHeaders(fields)
        connection = (self.headers.get("Connection") or "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive" and self.protocol_version >= "HTTP/1.1":
            self.close_connection = False
        # Expect: 100-continue is answered by eventlet's Input on the first read
        return True

    def _parse_request_line(self, words: list[str]) -> bool:
        if not words:
            return False
        # an answer to a line we cannot read still gets a status line (the
        # stdlib would send a bare HTML page, as to an HTTP/0.9 client)
        self.request_version = "HTTP/1.0"
        if len(words) == 3:
            version = words[2]
            number = _version_number(version)
            if number is None:
                self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request version ({version!r})")
                return False
            if number >= (2, 0):
                self.send_error(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED,
                                f"Invalid HTTP version ({version[5:]})")
                return False
            if number >= (1, 1) and self.protocol_version >= "HTTP/1.1":
                self.close_connection = False
            self.request_version = version
        elif len(words) == 2:  # HTTP/0.9
            self.close_connection = True
            if words[0] == "GET":
                self.request_version = self.default_request_version
            else:
                self.send_error(HTTPStatus.BAD_REQUEST,
                                f"Bad HTTP/0.9 request type ({words[0]!r})")
                return False
        else:
            self.send_error(HTTPStatus.BAD_REQUEST,
                            f"Bad request syntax ({self.requestline!r})")
            return False
        self.command, self.path = words[0], words[1]
        if self.path.startswith("//"):  # as the stdlib: never a scheme-less absolute URI
            self.path = "/" + self.path.lstrip("/")
        return True

    def _read_fields(self) -> list[tuple[str, str]] | None:
        """The header fields, or None once an error answer is sent. Line
        and total size limits are eventlet's (its rfile wrapper raises)."""
        fields: list[tuple[str, str]] = []
        while True:
            line = self.rfile.readline()
            if line in _END_OF_HEAD:
                return fields
            if line[:1] in (b" ", b"\t") and fields:  # obsolete line folding
                name, value = fields[-1]
                fields[-1] = (name, value + " " + line.strip(b" \t\r\n").decode("iso-8859-1"))
                continue
            if len(fields) >= MAX_HEADERS:
                self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                                "Too many headers", f"got more than {MAX_HEADERS} headers")
                return None
            name, colon, value = line.decode("iso-8859-1").partition(":")
            if not colon or not name or name != name.strip():
                self.send_error(HTTPStatus.BAD_REQUEST, "Malformed header line",
                                f"not a header field: {line[:80]!r}")
                return None
            fields.append((name, value.strip(" \t\r\n")))


def _version_number(version: str) -> tuple[int, int] | None:
    if not version.startswith("HTTP/"):
        return None
    parts = version[5:].split(".")
    if len(parts) != 2 or not all(p.isdigit() and len(p) <= 10 for p in parts):
        return None
    return int(parts[0]), int(parts[1])
