"""Segments: serving a large object from the objects it is made of.

Both large-object filters (``slo``, ``dlo``) answer for an object that is
the concatenation of others. What they share lives here: which bytes of
which segment a byte range needs (``spans``), each segment's GET through
the app below as the client (its token and ACLs, its transaction id), and
the response of the whole (``serve``: conditionals on the whole's ETag,
single and multiple ranges, HEAD).

The invariant, enforced in ``SegmentReader``: a byte goes out only from
a segment whose ETag and size are the ones the manifest (or listing)
recorded, and only as many bytes as were promised. A segment that is
missing, changed, or ends short stops the response: before the status
line (the first segment) that is a 409 with the reason; after it the
body iterator raises, so the server drops the connection and the client
sees a short body, never wrong bytes taken for the object.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from objstore.common.http import (
    HTTPError, Request, check_conditions, error_response, multipart_body, multipart_length,
    parse_ranges, text_to_wsgi,
)
from objstore.common.timestamp import InvalidTimestamp, Timestamp
from objstore.proxy.middleware.copy import Answer, call, subrequest

# Headers of the manifest's response that describe its own body, not the whole's.
OWN_BODY = ("content-length", "etag", "content-range", "accept-ranges", "transfer-encoding")
# A segment GET passes any large-object filter below untouched: a segment
# that is itself a DLO manifest is its own bytes, as in Swift.
RAW_QUERY = "multipart-manifest=get"


class SegmentError(Exception):
    """A segment that cannot be served as recorded (the message says why);
    ``status``: the segment's own answer, when that was the trouble."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclasses.dataclass(frozen=True)
class Piece:
    """Bytes ``[start, end)`` of one segment object (or of inline ``data``),
    and what that object must be: its ETag and whole size (None: unchecked)."""
    container: str = ""
    obj: str = ""
    etag: str | None = None
    size: int | None = None
    start: int = 0
    end: int = 0
    data: bytes | None = None

    @property
    def length(self) -> int:
        return self.end - self.start

    @property
    def path(self) -> str:
        return f"/{self.container}/{self.obj}"


def spans(lengths: Iterable[int], start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """For bytes ``[start, end)`` of a concatenation of parts of ``lengths``:
    (part index, first byte, end byte) within each part they cover, in order."""
    offset = 0
    for index, length in enumerate(lengths):
        if offset >= end:
            return
        if length > 0 and offset + length > start:
            yield index, max(start - offset, 0), min(end - offset, length)
        offset += length


def quoted(etag: str) -> str:
    return f'"{etag}"'


def unquoted(etag: str | None) -> str:
    return (etag or "").strip().strip('"')


# -- one segment ---------------------------------------------------------------

class SegmentBody:
    """An opened segment's bytes: exactly ``piece.length`` of them, or
    SegmentError. ``close`` releases the subrequest even if never iterated."""

    def __init__(self, piece: Piece, answer: Answer | None, label: str) -> None:
        self.piece, self.answer, self.label = piece, answer, label

    def __iter__(self) -> Iterator[bytes]:
        piece = self.piece
        if self.answer is None:
            if piece.data is not None and piece.length:
                yield piece.data[piece.start:piece.end]
            return
        left = piece.length
        try:
            for chunk in self.answer.body:
                if len(chunk) > left:
                    chunk = chunk[:left]
                left -= len(chunk)
                if chunk:
                    yield chunk
                if not left:
                    return
        finally:
            self.close()
        raise SegmentError(f"{self.label}: segment {piece.path} ended {left} bytes short")

    def close(self) -> None:
        if self.answer is not None:
            self.answer.close()


class SegmentReader:
    """Segment GETs through ``app`` (the app below the filter) as the client
    of ``environ``; ``label`` names the large object in errors and logs."""

    def __init__(self, app: Callable[..., Any], environ: dict[str, Any], account: str,
                 source: str, label: str) -> None:
        self.app, self.environ, self.account = app, environ, account
        self.source, self.label = source, label

    def request(self, method: str, container: str, obj: str | None, query: str = RAW_QUERY,
                **headers: str) -> Answer:
        """A subrequest of the client's for one object (``obj`` None: for
        the container)."""
        sub = subrequest(self.environ, method, (self.account, container, obj or ""))
        if obj is None:
            sub["PATH_INFO"] = text_to_wsgi(f"/v1/{self.account}/{container}")
        sub.update({"QUERY_STRING": query, "objstore.source": self.source, **headers})
        return call(self.app, sub)

    def open(self, piece: Piece) -> SegmentBody:
        """The piece's bytes, the segment checked before any is read."""
        if piece.data is not None or not piece.length:
            return SegmentBody(piece, None, self.label)
        whole = piece.start == 0 and piece.end == piece.size
        headers = {} if whole else {"HTTP_RANGE": f"bytes={piece.start}-{piece.end - 1}"}
        answer = self.request("GET", piece.container, piece.obj, **headers)
        try:
            self.check(piece, answer, whole)
        except SegmentError:
            answer.close()
            raise
        return SegmentBody(piece, answer, self.label)

    def check(self, piece: Piece, answer: Answer, whole: bool) -> None:
        if answer.code != (200 if whole else 206):
            raise SegmentError(f"{self.label}: segment {piece.path} answered {answer.status}",
                               answer.code)
        etag = unquoted(answer.header("ETag"))
        if whole:
            size = _int(answer.header("Content-Length"))
        else:
            span, _, total = (answer.header("Content-Range") or "").partition("/")
            size = _int(total)
            if span.strip() != f"bytes {piece.start}-{piece.end - 1}":
                raise SegmentError(f"{self.label}: segment {piece.path} sent the wrong range "
                                   f"({span.strip() or 'none'})")
        if (piece.etag is not None and etag != piece.etag) or \
                (piece.size is not None and size != piece.size):
            raise SegmentError(
                f"{self.label}: segment {piece.path} changed: etag {etag or '-'} and "
                f"{size} bytes where {piece.etag or '-'} and {piece.size} were recorded")


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


# -- the whole -----------------------------------------------------------------

@dataclasses.dataclass
class Whole:
    """A large object as its filter found it: length, ETag (unquoted),
    the manifest's response headers, and its pieces of a byte range."""
    length: int
    etag: str
    headers: list[tuple[str, str]]
    pieces: Callable[[int, int], Iterator[Piece]]

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    @property
    def last_modified(self) -> Timestamp | None:
        try:
            return Timestamp(self.header("X-Timestamp") or "")
        except InvalidTimestamp:
            return None


def serve(environ: dict[str, Any], start_response: Callable[..., Any], whole: Whole,
          reader: SegmentReader, logger: logging.Logger) -> Iterable[bytes]:
    """The client's GET or HEAD of the whole: preconditions against its ETag
    and Last-Modified, then all of it, one range (206) or several
    (multipart/byteranges); the first segment opened before the status."""
    request = Request(environ)
    headers = [(k, v) for k, v in whole.headers if k.lower() not in OWN_BODY]
    headers += [("ETag", quoted(whole.etag)), ("Accept-Ranges", "bytes")]
    condition = check_conditions(request, whole.etag, whole.last_modified)
    if condition:
        reason = "Not Modified" if condition == 304 else "Precondition Failed"
        start_response(f"{condition} {reason}", [*headers, ("Content-Length", "0")])
        return []
    ranges = parse_ranges(request.headers.get("Range"), whole.length)
    head = environ["REQUEST_METHOD"] == "HEAD"
    if ranges is None or len(ranges) == 1:
        start, end = ranges[0] if ranges else (0, whole.length)
        body: Iterable[bytes] = [] if head else Stream(whole.pieces(start, end), reader, logger,
                                                       opened=True)
        if ranges:
            headers.append(("Content-Range", f"bytes {start}-{end - 1}/{whole.length}"))
        start_response("206 Partial Content" if ranges else "200 OK",
                       [*headers, ("Content-Length", str(end - start))])
        return body
    content_type = whole.header("Content-Type") or "application/octet-stream"
    boundary = uuid.uuid4().hex
    headers = [(k, v) for k, v in headers if k.lower() != "content-type"]
    headers += [("Content-Type", f"multipart/byteranges;boundary={boundary}"),
                ("Content-Length", str(multipart_length(ranges, whole.length, content_type,
                                                        boundary)))]
    if head:
        start_response("206 Partial Content", headers)
        return []
    streams = [Stream(whole.pieces(s, e), reader, logger, opened=index == 0)
               for index, (s, e) in enumerate(ranges)]
    start_response("206 Partial Content", headers)
    parts = ((s, e, iter(stream)) for (s, e), stream in zip(ranges, streams))
    return Closing(multipart_body(parts, whole.length, content_type, boundary), streams)


class Stream:
    """The bytes of a run of pieces, one segment open at a time. With
    ``opened`` the first segment is opened at once, so its SegmentError
    reaches the caller while a status can still say so. ``close`` releases
    the open segment even if the body was never read."""

    def __init__(self, pieces: Iterator[Piece], reader: SegmentReader, logger: logging.Logger,
                 opened: bool = False) -> None:
        self.pieces, self.reader, self.logger = pieces, reader, logger
        self.current: SegmentBody | None = None
        if opened:
            first = next(pieces, None)
            self.current = reader.open(first) if first is not None else None

    def __iter__(self) -> Iterator[bytes]:
        try:
            if self.current is not None:
                yield from self.current
            for piece in self.pieces:
                self.current = self.reader.open(piece)
                yield from self.current
        except SegmentError as err:
            # raised on: the server drops the connection, the client sees a short body
            self.logger.error("%s (txn %s)", err,
                              self.reader.environ.get("objstore.trans_id", "-"))
            raise
        finally:
            self.close()

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None


class Closing:
    """A body whose ``close`` also closes the streams it is made of."""

    def __init__(self, body: Iterator[bytes], streams: list[Stream]) -> None:
        self.body, self.streams = body, streams

    def __iter__(self) -> Iterator[bytes]:
        return self.body

    def close(self) -> None:
        close = getattr(self.body, "close", None)
        if close is not None:
            close()
        for stream in self.streams:
            stream.close()


def conflict(environ: dict[str, Any], start_response: Callable[..., Any],
             err: SegmentError) -> Iterable[bytes]:
    """What a client is told when the whole cannot be served from its start."""
    return error_response(409, str(err))(environ, start_response)


# -- subrequests ------------------------------------------------------------------

def read_all(answer: Answer, limit: int) -> bytes:
    """A subrequest's whole body (a manifest, a listing); SegmentError when
    it is over ``limit`` bytes."""
    data = bytearray()
    try:
        for chunk in answer.body:
            data += chunk
            if len(data) > limit:
                raise SegmentError(f"a body of more than {limit} bytes where a manifest "
                                   "or listing was expected")
    finally:
        answer.close()
    return bytes(data)


def client_answer(reader: SegmentReader, path: tuple[str, str, str],
                  marked: Callable[[Answer], bool]) -> tuple[Answer, bool]:
    """The app's answer to the client's own request, and whether its body
    is the whole of the stored object (a plain 200 GET). A range beyond the
    manifest's own bytes is a 416 without its headers: whether it is a
    manifest (``marked``) is asked again, then, with a HEAD."""
    environ = reader.environ
    answer = call(reader.app, environ)
    if answer.code == 416 and not marked(answer):
        probe = reader.request("HEAD", path[1], path[2])
        probe.close()
        if marked(probe):
            answer.close()
            return probe, False
    whole = answer.code == 200 and environ["REQUEST_METHOD"] == "GET" \
        and answer.header("Content-Range") is None
    return answer, whole


def passthrough(answer: Answer, start_response: Callable[..., Any],
                headers: Sequence[tuple[str, str]] | None = None) -> Iterable[bytes]:
    """The app's answer to the client as it is (``headers`` in place of its own)."""
    start_response(answer.status, list(answer.headers if headers is None else headers))
    return answer


# -- /info -------------------------------------------------------------------------

def advertise(app: Callable[..., Any], environ: dict[str, Any],
              start_response: Callable[..., Any], name: str, facts: dict[str, Any]
              ) -> Iterable[bytes]:
    """``GET /info`` with this filter's section filled in (the proxy lists
    each filter of the pipeline, but knows nothing of its limits)."""
    answer = call(app, environ)
    if answer.code != 200 or environ.get("REQUEST_METHOD") != "GET":
        return passthrough(answer, start_response)
    try:
        info = json.loads(read_all(answer, 1 << 20))
    except (ValueError, SegmentError):
        raise HTTPError(503, "the proxy's /info could not be read") from None
    info[name] = facts
    body = json.dumps(info).encode()
    headers = [(k, v) for k, v in answer.headers if k.lower() != "content-length"]
    start_response(answer.status, [*headers, ("Content-Length", str(len(body)))])
    return [body]
