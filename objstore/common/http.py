"""HTTP for our servers: webob behind a few helpers, decided in one place.

* webob is imported only here (its import of the deprecated ``cgi``
  module warns; that warning is silenced here and nowhere else).
* Where bytes become str: WSGI hands paths over as latin-1 code points
  of the raw bytes; ``split_path`` turns them into UTF-8 text, and
  anything that is not UTF-8 (or holds a NUL) is 412, as in Swift.
  ``query_params`` and ``headers_as_text`` do the same for query
  parameters and stored header values, where Swift answers 400 instead;
  ``text_to_wsgi`` is the way back.
* Errors: a handler raises ``HTTPError(status, reason)``; ``wsgi_app``
  answers it as a short plain-text body with the reason. Anything else
  escaping a handler is logged with the transaction id and answered 500
  without a traceback.
* Ranges (RFC 7233) and conditional requests (RFC 7232) are ours: Swift
  clients rely on multi-range responses, which webob does not produce.
"""
from __future__ import annotations

import functools
import logging
import re
import urllib.parse
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"'cgi' is deprecated", category=DeprecationWarning)
    import webob
    import webob.acceptparse
    import webob.exc

from objstore.common.timestamp import InvalidTimestamp, Timestamp, parse_http_date

Request = webob.Request
Response = webob.Response
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_REASONS: Final = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable", 409: "Conflict",
    411: "Length Required", 412: "Precondition Failed", 413: "Request Entity Too Large",
    416: "Requested Range Not Satisfiable", 422: "Unprocessable Entity",
    499: "Client Disconnect", 500: "Internal Error", 503: "Service Unavailable",
    507: "Insufficient Storage",
}


class HTTPError(Exception):
    """Raised by handlers: answered as ``status`` with ``reason`` as the body."""

    def __init__(self, status: int, reason: str = "", headers: dict[str, str] | None = None
                 ) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.headers = headers or {}


_NO_LENGTH_STATUS = frozenset((204, 304))  # RFC 9110: no Content-Length


def error_response(status: int, reason: str = "", headers: dict[str, str] | None = None
                   ) -> Response:
    body = (reason or _REASONS.get(status, "")).encode("utf-8") + b"\n"
    response = Response(status=f"{status} {_REASONS.get(status, 'Error')}", body=body,
                        content_type="text/plain", charset="utf-8")
    response.headers.update(headers or {})
    return response


def wsgi_app(handler: Callable[[Request], Response], logger: logging.Logger) -> WSGIApp:
    """A WSGI app from a handler of Request -> Response (see module doc)."""
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = handler(request)
        except HTTPError as err:
            response = error_response(err.status, err.reason, err.headers)
        except Exception:
            txn = request.headers.get("X-Trans-Id", "-")
            logger.exception("%s %s failed (txn %s)", request.method,
                             environ.get("PATH_INFO", ""), txn)
            response = error_response(500, f"internal error, transaction {txn}")
        if response.content_length is None and isinstance(response.app_iter, list) \
                and response.status_code not in _NO_LENGTH_STATUS \
                and environ["REQUEST_METHOD"] != "HEAD":
            # a body known whole (often none): framed by its length, not
            # chunked, which costs a second send and the reader's parsing
            # (a HEAD's length is its GET's: left to the handler)
            response.content_length = sum(map(len, response.app_iter))
        return response(environ, start_response)  # type: ignore[no-any-return]
    return app


def wsgi_to_text(value: str, what: str = "path") -> str:
    """A WSGI (latin-1) string as UTF-8 text; 412 if it is not UTF-8."""
    try:
        text = value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        raise HTTPError(412, f"invalid UTF-8 in {what}") from None
    if "\x00" in text:
        raise HTTPError(412, f"NUL byte in {what}")
    return text


def split_path(request: Request, minimum: int, maximum: int, rest: bool = False) -> list[str]:
    """The path's segments as text: between ``minimum`` and ``maximum``
    of them, the last holding the rest (slashes included) when ``rest``."""
    path = wsgi_to_text(request.environ.get("PATH_INFO", ""))
    if not path.startswith("/"):
        raise HTTPError(400, "path must start with /")
    parts = path[1:].split("/", maximum - 1) if rest else path[1:].split("/")
    if len(parts) < minimum or len(parts) > maximum or any(not p for p in parts[:minimum]):
        raise HTTPError(400, f"invalid path {path!r}")
    # An object name (the rest) may hold any text: it is hashed, never a path.
    if any(p in (".", "..") for p in (parts[:-1] if rest else parts)):
        raise HTTPError(400, f"invalid path {path!r}: '.' and '..' are not names")
    return parts


def query_params(request: Request, *names: str) -> dict[str, str]:
    """The named query parameters that are present, as text (the last one
    of a repeated name). Their percent-decoded bytes must be UTF-8: 400
    otherwise, as in Swift (a path is 412, a query parameter 400)."""
    pairs = urllib.parse.parse_qsl(request.environ.get("QUERY_STRING", ""),
                                   keep_blank_values=True, encoding="latin-1")
    raw = {name: value for name, value in pairs if name in names}
    found = {}
    for name, value in raw.items():
        try:
            found[name] = value.encode("latin-1").decode("utf-8")
        except UnicodeDecodeError:
            raise HTTPError(400, f"{name!r} parameter is not valid UTF-8") from None
    return found


def read_body(request: Request, length: int) -> bytes:
    """All ``length`` bytes of a request's body, held whole (small bodies
    only); 499 when the client stops short or goes away."""
    source = request.environ["wsgi.input"]
    chunks, received = [], 0
    while received < length:
        try:
            chunk = source.read(length - received)
        except (OSError, ValueError):
            raise HTTPError(499, "client disconnected while sending the body") from None
        if not chunk:
            raise HTTPError(499, f"body ended after {received} of {length} bytes")
        chunks.append(chunk)
        received += len(chunk)
    return b"".join(chunks)


_BODY_FIELDS: Final = {"CONTENT_TYPE": "Content-Type", "CONTENT_LENGTH": "Content-Length"}


def header_fields(request: Request) -> dict[str, str]:
    """The request's headers by name, as ``request.headers.items()`` gives
    them, in one pass over the environ: webob's iteration translates
    every environ key through a generator, some 25 us a request, and a
    PUT's checks and metadata would walk it several times."""
    fields = {}
    for key, value in request.environ.items():
        if key[:5] == "HTTP_":
            fields[key[5:].replace("_", "-").title()] = value
        elif key in _BODY_FIELDS:
            fields[_BODY_FIELDS[key]] = value
    return fields


def headers_as_text(request: Request, keep: Callable[[str], bool]) -> dict[str, str]:
    """The headers whose lower-case name ``keep`` accepts, names and values
    as UTF-8 text (metadata to store); 400 for one that is not UTF-8."""
    found = {}
    for name, value in header_fields(request).items():
        if not keep(name.lower()):
            continue
        try:
            found[name.encode("latin-1").decode("utf-8")] = \
                value.encode("latin-1").decode("utf-8")
        except UnicodeError:
            raise HTTPError(400, f"header {name[:60]!r} is not valid UTF-8") from None
    return found


def text_to_wsgi(text: str) -> str:
    """Text as a WSGI header string: its UTF-8 bytes as latin-1 code points."""
    return text.encode("utf-8").decode("latin-1")


def best_offer(accept: str | None, offers: Sequence[str]) -> str | None:
    """Which of ``offers`` an Accept header value prefers (the first among
    equals; the first of all when there is no header, or an empty one),
    None if it accepts none of them; 400 for a header that does not parse."""
    if accept is not None and not accept.strip(" \t,"):
        accept = None
    header = webob.acceptparse.create_accept_header(accept)
    if isinstance(header, webob.acceptparse.AcceptInvalidHeader):
        raise HTTPError(400, f"invalid Accept header {accept!r}")
    acceptable = header.acceptable_offers(list(offers))
    return str(acceptable[0][0]) if acceptable else None


def header_timestamp(request: Request, name: str = "X-Timestamp") -> Timestamp:
    """A required timestamp header, 400 when missing or malformed."""
    value = request.headers.get(name)
    if value is None:
        raise HTTPError(400, f"missing {name}")
    try:
        return Timestamp(value)
    except InvalidTimestamp as err:
        raise HTTPError(400, f"invalid {name}: {err}") from None


def header_int(request: Request, name: str, default: int | None = None) -> int | None:
    value = request.headers.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise HTTPError(400, f"invalid {name} {value!r}: not a whole number") from None


@functools.lru_cache(maxsize=4096)
def canonical_header(name: str) -> str:
    """``x-object-meta-color`` -> ``X-Object-Meta-Color``, as clients see it
    (remembered: the same few names come with every object)."""
    return "-".join(part[:1].upper() + part[1:] for part in name.split("-"))


def new_trans_id() -> str:
    return "tx" + uuid.uuid4().hex[:21] + "-" + uuid.uuid4().hex[:10]


# -- ranges -------------------------------------------------------------------

_RANGE: Final = re.compile(r"\s*(\d*)\s*-\s*(\d*)\s*")


def parse_ranges(header: str | None, length: int) -> list[tuple[int, int]] | None:
    """Byte ranges [start, end) of a Range header against ``length`` bytes.

    None means serve the whole object (no header, or one that is not a
    valid bytes range: RFC 7233 says ignore it). Raises 416 when the
    header is valid but no range overlaps the object."""
    if not header or not header.strip().lower().startswith("bytes="):
        return None
    ranges = []
    for spec in header.split("=", 1)[1].split(","):
        match = _RANGE.fullmatch(spec)
        if not match or match.groups() == ("", ""):
            return None
        first, last = match.groups()
        if first == "":
            suffix = int(last)
            if suffix == 0:
                continue
            ranges.append((max(0, length - suffix), length))
        else:
            start = int(first)
            end = length if last == "" else int(last) + 1
            if last != "" and end <= start:
                return None
            if start < length:
                ranges.append((start, min(end, length)))
    if not ranges:
        raise HTTPError(416, "no requested range overlaps the object",
                        {"Content-Range": f"bytes */{length}"})
    return ranges


def multipart_body(parts: Iterable[tuple[int, int, Iterator[bytes]]], length: int,
                   content_type: str, boundary: str) -> Iterator[bytes]:
    """A multipart/byteranges body from (start, end, bytes) parts."""
    for start, end, chunks in parts:
        yield (f"--{boundary}\r\nContent-Type: {content_type}\r\n"
               f"Content-Range: bytes {start}-{end - 1}/{length}\r\n\r\n").encode("latin-1")
        yield from chunks
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode("latin-1")


def multipart_length(ranges: list[tuple[int, int]], length: int, content_type: str,
                     boundary: str) -> int:
    total = len(f"--{boundary}--\r\n")
    for start, end in ranges:
        total += len(f"--{boundary}\r\nContent-Type: {content_type}\r\n"
                     f"Content-Range: bytes {start}-{end - 1}/{length}\r\n\r\n".encode("latin-1"))
        total += end - start + 2
    return total


# -- conditional requests -----------------------------------------------------

def _etags(header: str) -> list[str]:
    return [tag.strip().removeprefix("W/").strip('"') for tag in header.split(",") if tag.strip()]


def check_conditions(request: Request, etag: str | None, last_modified: Timestamp | None
                     ) -> int | None:
    """304 or 412 if the request's preconditions say so (RFC 7232 order),
    else None. ``etag`` None means the object does not exist."""
    if_match = request.headers.get("If-Match")
    if if_match is not None:
        tags = _etags(if_match)
        if etag is None or ("*" not in tags and etag not in tags):
            return 412
    elif last_modified is not None:
        since = parse_http_date(request.headers.get("If-Unmodified-Since", ""))
        if since is not None and last_modified.ceil() > float(since):
            return 412
    if_none_match = request.headers.get("If-None-Match")
    safe = request.method in ("GET", "HEAD")
    if if_none_match is not None:
        tags = _etags(if_none_match)
        if etag is not None and ("*" in tags or etag in tags):
            return 304 if safe else 412
    elif safe and last_modified is not None:
        since = parse_http_date(request.headers.get("If-Modified-Since", ""))
        if since is not None and last_modified.ceil() <= float(since):
            return 304
    return None


__all__ = ["HTTPError", "Request", "Response", "best_offer", "check_conditions",
           "error_response", "header_fields", "header_int", "header_timestamp", "headers_as_text",
           "multipart_body", "multipart_length", "new_trans_id", "parse_ranges", "query_params",
           "split_path", "text_to_wsgi", "webob", "wsgi_app", "wsgi_to_text"]
