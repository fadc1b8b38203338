"""slo: static large objects, an object made of others that a manifest lists.

    PUT    /v1/a/c/o?multipart-manifest=put      body: the manifest (slo_manifest.py)
    GET    /v1/a/c/o                             the segments' bytes, one after another
    GET    /v1/a/c/o?multipart-manifest=get      the stored manifest [&format=raw: as PUT]
    DELETE /v1/a/c/o?multipart-manifest=delete   the segments, then the manifest

* A manifest PUT checks every segment with a HEAD as the client (at most
  ``concurrency`` at once): it must exist, and match the ETag and size
  the manifest gives; a range must fit it; every segment but the last
  must have ``min_segment_size`` bytes. Any problem is a 400 listing each
  segment's, and nothing is stored. A segment that is itself a manifest
  is nested (``sub_slo``), its size and ETag those of its whole. What is
  stored is Swift's manifest, marked ``X-Static-Large-Object: True``,
  with the whole's size for the container listing (the object server
  reports ``X-Object-Sysmeta-Container-Update-Override-Size``). An ETag
  sent with the PUT must be the whole's (422 otherwise).
* GET and HEAD of a manifest answer for the whole: its length, its ETag
  (quoted MD5 of the segments' ETags), conditionals against those, and
  ranges (one, or several as multipart/byteranges) across segments.
  Segments are read as the client, each checked against the manifest
  (``segments.py``); nested manifests are followed ``MAX_NESTING`` deep.
* ``multipart-manifest=delete`` deletes every segment (nested manifests
  and theirs too), then the manifest; if a segment cannot be deleted the
  manifest stays, so the delete can be retried. The answer is Swift's
  bulk report (Number Deleted, Number Not Found, Errors) as text or JSON
  (``Accept``), with the report's status.
* A plain PUT may not set ``X-Static-Large-Object`` (400); only this
  filter marks a manifest, through ``environ["objstore.backend_headers"]``,
  which the proxy adds to the object's backend PUT and no client can set.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final

from objstore.common.concurrency import GreenPool
from objstore.common.config import ConfigError, build, is_true, option
from objstore.common.http import HTTPError, WSGIApp, best_offer, error_response
from objstore.common.timestamp import InvalidTimestamp, Timestamp
from objstore.proxy.middleware.copy import Answer, Path, call, object_path
from objstore.proxy.middleware.segments import (
    Piece, SegmentError, SegmentReader, Whole, advertise, client_answer, conflict, passthrough,
    quoted,
    read_all, serve, spans, unquoted,
)
from objstore.proxy.middleware.slo_manifest import (
    Entry, ManifestError, Requested, dumps, parse_put, parse_stored, resolve_range, slo_etag,
    total_length,
)
from objstore.proxy.pipeline import split_options

SECTION = "filter:slo"
BACKEND_HEADERS: Final = "objstore.backend_headers"
MAX_NESTING: Final = 10   # manifests within manifests, as Swift allows
# A stored manifest is bigger than the client's (names, types, dates): room for that.
STORED_GROWTH: Final = 4
READ_CHUNK: Final = 65536


@dataclasses.dataclass(frozen=True)
class SLOConfig:
    max_manifest_segments: int = option(1000, "segments one manifest may list", minimum=1)
    max_manifest_size: int = option(8388608, "bytes of a manifest a client may send",
                                    minimum=1)
    min_segment_size: int = option(1, "bytes every segment but the last must have",
                                   minimum=1)
    concurrency: int = option(2, "segments checked (manifest PUT) or deleted at once",
                              minimum=1, maximum=100)


def load_config(options: Mapping[str, str], source: str = "proxy config"
                ) -> tuple[SLOConfig, list[str]]:
    own, shared, section = split_options(options, SECTION)
    try:
        return build(SLOConfig, own, shared=shared, source=source, section=section)
    except ConfigError as err:
        raise ValueError(str(err).removeprefix(f"{source} [{section}]").lstrip(": ")) from None


def multipart_mode(environ: Mapping[str, Any]) -> tuple[str | None, bool]:
    """The ``multipart-manifest`` query value (put, get, delete or None)
    and whether ``format=raw`` was asked for."""
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    mode = (query.get("multipart-manifest") or [None])[-1]
    return (mode if mode in ("put", "get", "delete") else None,
            (query.get("format") or [""])[-1] == "raw")


def is_manifest(answer: Answer) -> bool:
    return is_true(answer.header("X-Static-Large-Object"))


class StaticLargeObjects:
    """The WSGI filter (see the module docstring)."""

    def __init__(self, app: WSGIApp, conf: SLOConfig, logger: logging.Logger) -> None:
        self.app, self.conf, self.logger = app, conf, logger
        self.stored_limit = conf.max_manifest_size * STORED_GROWTH

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "")
        if environ.get("PATH_INFO") == "/info" and method in ("GET", "HEAD"):
            return advertise(self.app, environ, start_response, "slo", {
                "max_manifest_segments": self.conf.max_manifest_segments,
                "max_manifest_size": self.conf.max_manifest_size,
                "min_segment_size": self.conf.min_segment_size})
        path = object_path(environ)
        if path is None:
            return self.app(environ, start_response)
        mode, raw_format = multipart_mode(environ)
        try:
            if method == "PUT" and mode == "put":
                return self.put_manifest(environ, path, start_response)
            if method == "PUT" and "HTTP_X_STATIC_LARGE_OBJECT" in environ:
                raise HTTPError(400, "X-Static-Large-Object is a reserved header; to create a "
                                     "static large object add ?multipart-manifest=put")
            if method == "DELETE" and mode == "delete":
                return self.delete(environ, path, start_response)
            if method in ("GET", "HEAD"):
                return self.read(environ, path, mode, raw_format, start_response)
        except HTTPError as err:
            return error_response(err.status, err.reason, err.headers)(environ, start_response)
        return self.app(environ, start_response)

    def reader(self, environ: dict[str, Any], path: Path) -> SegmentReader:
        return SegmentReader(self.app, environ, path[0], "SLO",
                             f"manifest /{path[1]}/{path[2]}")

    # -- GET / HEAD ------------------------------------------------------------

    def read(self, environ: dict[str, Any], path: Path, mode: str | None, raw_format: bool,
             start_response: Callable[..., Any]) -> Iterable[bytes]:
        reader = self.reader(environ, path)
        # the client's own request first: most objects are no manifest
        answer, whole_body = client_answer(reader, path, is_manifest)
        if not is_manifest(answer):
            return passthrough(answer, start_response)
        if mode == "get" and not raw_format:
            return passthrough(answer, start_response, json_headers(answer.headers))
        try:
            found = self.manifest_of(answer, whole_body, environ, reader, path)
            if found is None:  # no longer a manifest: serve what is there now
                return self.app(environ, start_response)
            manifest, entries = found
            if mode == "get":
                return self.raw_manifest(environ, manifest, entries, start_response)
            whole = Whole(total_length(entries), slo_etag(entries), manifest.headers,
                          lambda start, end: self.pieces(reader, entries, start, end, 1))
            return serve(environ, start_response, whole, reader, self.logger)
        except SegmentError as err:
            return conflict(environ, start_response, err)

    def manifest_of(self, answer: Answer, whole_body: bool, environ: dict[str, Any],
                    reader: SegmentReader, path: Path) -> tuple[Answer, list[Entry]] | None:
        """The manifest's answer and entries. Unless the client's answer
        holds the whole manifest, it is fetched again without the client's
        range and conditions (they are the whole's)."""
        if not whole_body:
            answer.close()
            newest = {"HTTP_X_NEWEST": environ["HTTP_X_NEWEST"]} \
                if "HTTP_X_NEWEST" in environ else {}
            answer = reader.request("GET", path[1], path[2], **newest)
            if answer.code != 200:
                answer.read_error()
                if answer.code == 404:
                    raise HTTPError(404, "not found")
                raise SegmentError(f"{reader.label}: reading it answered {answer.status}")
            if not is_manifest(answer):
                answer.close()
                return None
        try:
            return answer, parse_stored(read_all(answer, self.stored_limit))
        except ManifestError as err:
            raise SegmentError(f"{reader.label}: {err}") from None

    def raw_manifest(self, environ: dict[str, Any], manifest: Answer, entries: list[Entry],
                     start_response: Callable[..., Any]) -> Iterable[bytes]:
        """``?multipart-manifest=get&format=raw``: the manifest as a client
        would PUT it again."""
        body = json.dumps([entry.requested() for entry in entries]).encode()
        headers = [(k, v) for k, v in json_headers(manifest.headers)
                   if k.lower() not in ("etag", "content-length", "content-range")]
        start_response("200 OK", [*headers, ("ETag", hashlib.md5(body).hexdigest()),
                                  ("Content-Length", str(len(body)))])
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]

    def pieces(self, reader: SegmentReader, entries: list[Entry], start: int, end: int,
               depth: int) -> Iterator[Piece]:
        """The pieces of bytes [start, end) of a manifest's whole; nested
        manifests are read as the bytes come to them."""
        for index, first, stop in spans([entry.length for entry in entries], start, end):
            entry = entries[index]
            if entry.data is not None:
                yield Piece(data=entry.data, start=first, end=stop)
            elif entry.sub_slo:
                nested = self.nested(reader, entry, depth)
                yield from self.pieces(reader, nested, entry.start + first, entry.start + stop,
                                       depth + 1)
            else:
                yield Piece(entry.container, entry.obj, entry.etag, entry.size,
                            entry.start + first, entry.start + stop)

    def nested(self, reader: SegmentReader, entry: Entry, depth: int) -> list[Entry]:
        """A nested manifest's entries, checked against what its parent recorded."""
        if depth >= MAX_NESTING:
            raise SegmentError(f"{reader.label}: manifests nest more than {MAX_NESTING} deep")
        entries = self.stored_manifest(reader, entry.container, entry.obj)
        size, etag = total_length(entries), slo_etag(entries)
        if (size, etag) != (entry.size, entry.etag):
            raise SegmentError(f"{reader.label}: nested manifest {entry.path} changed: etag "
                               f"{etag} and {size} bytes where {entry.etag} and {entry.size} "
                               "were recorded")
        return entries

    def stored_manifest(self, reader: SegmentReader, container: str, obj: str) -> list[Entry]:
        """The entries of a manifest other than the client's own."""
        answer = reader.request("GET", container, obj)
        if answer.code != 200 or not is_manifest(answer):
            answer.close()
            raise SegmentError(f"{reader.label}: nested manifest /{container}/{obj} answered "
                               f"{answer.status}" + ("" if answer.code != 200 else
                                                     ", and is no longer a manifest"),
                               answer.code)
        try:
            return parse_stored(read_all(answer, self.stored_limit))
        except ManifestError as err:
            raise SegmentError(f"{reader.label}: nested manifest /{container}/{obj}: "
                               f"{err}") from None

    # -- PUT ----------------------------------------------------------------------

    def put_manifest(self, environ: dict[str, Any], path: Path,
                     start_response: Callable[..., Any]) -> Iterable[bytes]:
        if "HTTP_X_OBJECT_MANIFEST" in environ:
            raise HTTPError(400, "a static large object cannot also have X-Object-Manifest")
        try:
            requested = parse_put(self.request_body(environ), self.conf.max_manifest_segments)
        except ManifestError as err:
            raise HTTPError(400, str(err)) from None
        reader = self.reader(environ, path)
        checked = self.check_segments(reader, path, requested)
        problems = [(f"Index {item.index}" if item.data is not None
                     else urllib.parse.quote(item.path), problem)
                    for item, (_, found) in zip(requested, checked) for problem in found]
        if problems:
            return report(environ, start_response, "400 Bad Request", problems, {})
        entries = [entry for entry, _ in checked if entry is not None]
        etag, size = slo_etag(entries), total_length(entries)
        sent = environ.get("HTTP_ETAG")
        if sent is not None and unquoted(sent).lower() != etag:
            raise HTTPError(422, f"the manifest's ETag is {etag}, not {unquoted(sent)}")
        answer = call(self.app, manifest_put(environ, dumps(entries), {
            "X-Static-Large-Object": "True", "X-Object-Sysmeta-Slo-Etag": etag,
            "X-Object-Sysmeta-Slo-Size": str(size),
            "X-Object-Sysmeta-Container-Update-Override-Size": str(size)}))
        if not 200 <= answer.code < 300:
            return passthrough(answer, start_response)
        answer.read_error()
        headers = [(k, v) for k, v in answer.headers
                   if k.lower() not in ("etag", "content-length")]
        start_response(answer.status, [*headers, ("ETag", quoted(etag)),
                                       ("Content-Length", "0")])
        return []

    def request_body(self, environ: dict[str, Any]) -> bytes:
        """The client's manifest: 411 without a length, 413 over the limit."""
        limit = self.conf.max_manifest_size
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        length_text = environ.get("CONTENT_LENGTH") or ""
        if not chunked and not length_text.strip():
            raise HTTPError(411, "a manifest needs a Content-Length or chunked encoding")
        if not chunked:
            if not length_text.strip().isdigit():
                raise HTTPError(400, f"invalid Content-Length {length_text[:40]!r}")
            if int(length_text) > limit:
                raise HTTPError(413, f"Manifest File > {limit} bytes")
        wanted = limit + 1 if chunked else int(length_text)
        body = bytearray()
        source = environ["wsgi.input"]
        while len(body) < wanted:
            try:
                chunk = source.read(min(READ_CHUNK, wanted - len(body)))
            except (OSError, ValueError):
                raise HTTPError(499, "client disconnected while sending the manifest") from None
            if not chunk:
                break
            body += chunk
        if len(body) > limit:
            raise HTTPError(413, f"Manifest File > {limit} bytes")
        if not chunked and len(body) < wanted:
            raise HTTPError(499, f"manifest ended after {len(body)} of {wanted} bytes")
        return bytes(body)

    def check_segments(self, reader: SegmentReader, path: Path, requested: list[Requested]
                       ) -> list[tuple[Entry | None, list[str]]]:
        """Each item's stored entry, or its problems (Swift's wording)."""
        last = len(requested) - 1

        def check(item: Requested) -> tuple[Entry | None, list[str]]:
            if item.data is not None:
                entry = Entry(data=item.data)
            else:
                found = self.segment(reader, path, item)
                if isinstance(found, str):
                    return None, [found]
                entry, problems = found
                if problems:
                    return None, problems
            least = 1 if item.index == last else self.conf.min_segment_size
            if entry.length < least:
                return None, [f"Too small; each segment must be at least {least} byte"
                              + ("s." if least > 1 else ".")]
            return entry, []

        return list(GreenPool(self.conf.concurrency).imap(check, requested))

    def segment(self, reader: SegmentReader, path: Path, item: Requested
                ) -> tuple[Entry, list[str]] | str:
        """What the segment is now, and how that differs from the item."""
        if (item.container, item.obj) == path[1:]:
            return "a manifest cannot list itself"
        answer = reader.request("HEAD", item.container, item.obj)
        answer.read_error()
        if not 200 <= answer.code < 300:
            return answer.status
        content_type = answer.header("Content-Type") or ""
        try:
            modified = Timestamp(answer.header("X-Timestamp") or "").isoformat
        except InvalidTimestamp:
            modified = ""
        if is_manifest(answer):
            try:
                nested = self.stored_manifest(reader, item.container, item.obj)
            except SegmentError:
                return "the nested manifest cannot be read"
            size, etag, sub_slo = total_length(nested), slo_etag(nested), True
        else:
            size = int(answer.header("Content-Length") or 0)
            etag, sub_slo = unquoted(answer.header("ETag")).lower(), False
        problems = []
        if item.size is not None and item.size != size:
            problems.append("Size Mismatch")
        if item.etag is not None and item.etag != etag:
            problems.append("Etag Mismatch")
        first, end = 0, None
        if item.range_spec is not None:
            span = resolve_range(item.range_spec, size)
            if span is None:
                problems.append("Unsatisfiable Range")
            else:
                first, end = span
        return Entry(item.container, item.obj, etag, size, content_type, modified, first, end,
                     sub_slo), problems

    # -- DELETE ---------------------------------------------------------------------

    def delete(self, environ: dict[str, Any], path: Path, start_response: Callable[..., Any]
               ) -> Iterable[bytes]:
        reader = self.reader(environ, path)
        answer = reader.request("GET", path[1], path[2])
        if answer.code == 404:
            answer.read_error()
            raise HTTPError(404, "not found")
        if not 200 <= answer.code < 300 or not is_manifest(answer):
            if 200 <= answer.code < 300:  # a plain object: deleted as one
                answer.close()
                return passthrough(reader.request("DELETE", path[1], path[2], query=""),
                                   start_response)
            return passthrough(answer, start_response)
        try:
            entries = parse_stored(read_all(answer, self.stored_limit))
        except (ManifestError, SegmentError) as err:
            raise HTTPError(409, f"{reader.label}: {err}") from None
        errors: list[tuple[str, str]] = []
        targets = self.to_delete(reader, entries, 1, errors)
        deleted, missing = self.delete_all(reader, targets, errors)
        if not errors:
            done, gone = self.delete_all(reader, [path[1:]], errors)
            deleted, missing = deleted + done, missing + gone
        return report(environ, start_response, "400 Bad Request" if errors else "200 OK",
                      errors, {"Number Deleted": deleted, "Number Not Found": missing})

    def to_delete(self, reader: SegmentReader, entries: list[Entry], depth: int,
                  errors: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The segments of a manifest, nested ones' segments before them."""
        targets: list[tuple[str, str]] = []
        for entry in entries:
            if entry.data is not None:
                continue
            if entry.sub_slo:
                try:
                    nested = self.nested(reader, entry, depth)
                except SegmentError as err:
                    if err.status != 404:  # one already gone has no segments to find
                        errors.append((urllib.parse.quote(entry.path), str(err)))
                        continue
                    nested = []
                targets += self.to_delete(reader, nested, depth + 1, errors)
            targets.append((entry.container, entry.obj))
        return list(dict.fromkeys(targets))

    def delete_all(self, reader: SegmentReader, targets: list[tuple[str, str]],
                   errors: list[tuple[str, str]]) -> tuple[int, int]:
        def delete(target: tuple[str, str]) -> int:
            answer = reader.request("DELETE", *target, query="")
            answer.read_error()
            if 200 <= answer.code < 300 or answer.code == 404:
                return answer.code
            errors.append((urllib.parse.quote(f"/{target[0]}/{target[1]}"), answer.status))
            return answer.code

        codes = list(GreenPool(self.conf.concurrency).imap(delete, targets))
        return sum(200 <= code < 300 for code in codes), codes.count(404)


# -- helpers ---------------------------------------------------------------------

def json_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """A manifest's own headers, as ``multipart-manifest=get`` shows it: JSON."""
    return [*((k, v) for k, v in headers if k.lower() != "content-type"),
            ("Content-Type", "application/json; charset=utf-8")]


def manifest_put(environ: dict[str, Any], body: bytes, backend: dict[str, str]
                 ) -> dict[str, Any]:
    """The client's PUT, its body now the stored manifest, marked for the backend."""
    dropped = ("HTTP_ETAG", "HTTP_TRANSFER_ENCODING", "HTTP_EXPECT", "HTTP_RANGE",
               "HTTP_X_STATIC_LARGE_OBJECT", "webob.")
    sub = {k: v for k, v in environ.items() if not k.startswith(dropped)}
    sub.update({"QUERY_STRING": "", "CONTENT_LENGTH": str(len(body)),
                "wsgi.input": io.BytesIO(body), "objstore.source": "SLO",
                BACKEND_HEADERS: {**environ.get(BACKEND_HEADERS, {}), **backend}})
    return sub


def report(environ: dict[str, Any], start_response: Callable[..., Any], status: str,
           errors: list[tuple[str, str]], counts: dict[str, int]) -> Iterable[bytes]:
    """Swift's bulk-style answer: counts, the status, each path's problem."""
    try:
        kind = best_offer(environ.get("HTTP_ACCEPT"), ["text/plain", "application/json"])
    except HTTPError:
        kind = None
    if kind == "application/json":
        body = json.dumps({**counts, "Response Status": status, "Response Body": "",
                           "Errors": [list(error) for error in errors]}).encode()
    else:
        kind = "text/plain"
        lines = [*(f"{name}: {value}" for name, value in counts.items()),
                 f"Response Status: {status}", "Response Body: ", "Errors:",
                 *(f"{path}, {problem}" for path, problem in errors)]
        body = ("\n".join(lines) + "\n").encode()
    start_response(status, [("Content-Type", f"{kind}; charset=utf-8"),
                            ("Content-Length", str(len(body)))])
    return [body]


def filter_factory(options: Mapping[str, str], logger: logging.Logger,
                   source: str = "proxy config") -> Callable[[WSGIApp], StaticLargeObjects]:
    """The pipeline's way in: options of ``[filter:slo]`` from ``source``."""
    conf, warnings = load_config(options, source or "proxy config")
    for warning in warnings:
        logger.warning(warning)
    return lambda app: StaticLargeObjects(app, conf, logger)
