"""dlo: dynamic large objects, an object made of the objects under a prefix.

    PUT /v1/a/c/o    X-Object-Manifest: <container>/<prefix>     (URL-quoted, as swift sends it)
    GET /v1/a/c/o    the objects listed under <container>/<prefix>, in name order, one after another
    GET /v1/a/c/o?multipart-manifest=get    the manifest object itself

* The manifest's header is checked on PUT (400 unless it is
  ``container/prefix`` with a container name); the object stores it.
* GET and HEAD of a manifest list the segment container through the app
  below as the client (paged, ``container_listing_limit`` names at a
  time) and answer for the whole: length, ETag (the quoted MD5 of the
  listed ETags, Swift's), conditionals against those, ranges across
  segments. Each segment is read as the client and checked against its
  listing entry (``segments.py``): a listing that lags behind a segment's
  overwrite stops the response rather than mix old and new. A listing
  that fails is answered with its status (a missing container is 404).
* A segment is read as it is stored, never followed as a manifest.
* ``/info`` lists ``dlo`` (the proxy names each filter of its pipeline);
  there is nothing to configure.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final

from objstore.common.config import ConfigError, build
from objstore.common.constraints import DEFAULT_CONSTRAINTS
from objstore.common.http import HTTPError, WSGIApp, error_response
from objstore.proxy.middleware.copy import Answer, Path, object_path
from objstore.proxy.middleware.segments import (
    Piece, SegmentError, SegmentReader, Whole, client_answer, conflict, passthrough, read_all,
    serve,
    spans,
)
from objstore.proxy.middleware.slo import multipart_mode
from objstore.proxy.pipeline import split_options

SECTION = "filter:dlo"
PAGE: Final = DEFAULT_CONSTRAINTS.container_listing_limit
# A page of listing is some 300 bytes a name at most; far more is not a listing.
PAGE_BYTES: Final = PAGE * 4096


@dataclasses.dataclass(frozen=True)
class DLOConfig:
    """No options yet; the section exists so unknown options are reported."""


@dataclasses.dataclass(frozen=True)
class Listed:
    name: str
    etag: str
    size: int


def parse_manifest_header(value: str) -> tuple[str, str]:
    """(container, prefix) of an ``X-Object-Manifest`` value (WSGI latin-1,
    URL-quoted UTF-8); ValueError with the reason when it is not one."""
    try:
        text = urllib.parse.unquote_to_bytes(value.strip().encode("latin-1")).decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        raise ValueError("X-Object-Manifest is not valid UTF-8") from None
    container, slash, prefix = text.partition("/")
    if not slash or not container or "\x00" in text:
        raise ValueError("X-Object-Manifest must be in the format container/prefix")
    return container, prefix


def parse_listing(body: bytes) -> list[Listed]:
    """A JSON container listing's objects; ValueError if it is not one."""
    items = json.loads(body)
    if not isinstance(items, list):
        raise ValueError("a listing is a JSON list")
    return [Listed(str(item["name"]), str(item["hash"]), int(item["bytes"]))
            for item in items if "name" in item]


def dlo_etag(segments: Iterable[Listed]) -> str:
    digest = hashlib.md5()
    for segment in segments:
        digest.update(segment.etag.encode())
    return digest.hexdigest()


class DynamicLargeObjects:
    """The WSGI filter (see the module docstring)."""

    def __init__(self, app: WSGIApp, logger: logging.Logger) -> None:
        self.app, self.logger = app, logger

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "")
        path = object_path(environ)
        if path is None:
            return self.app(environ, start_response)
        try:
            if method == "PUT" and "HTTP_X_OBJECT_MANIFEST" in environ:
                try:
                    parse_manifest_header(environ["HTTP_X_OBJECT_MANIFEST"])
                except ValueError as err:
                    raise HTTPError(400, str(err)) from None
            elif method in ("GET", "HEAD") and multipart_mode(environ)[0] != "get":
                return self.read(environ, path, start_response)
        except HTTPError as err:
            return error_response(err.status, err.reason, err.headers)(environ, start_response)
        return self.app(environ, start_response)

    def read(self, environ: dict[str, Any], path: Path, start_response: Callable[..., Any]
             ) -> Iterable[bytes]:
        reader = SegmentReader(self.app, environ, path[0], "DLO",
                               f"manifest /{path[1]}/{path[2]}")
        answer, whole_body = client_answer(reader, path, is_manifest)
        value = answer.header("X-Object-Manifest")
        if value is None:
            return passthrough(answer, start_response)
        try:
            container, prefix = parse_manifest_header(value)
        except ValueError as err:
            answer.close()
            return conflict(environ, start_response, SegmentError(f"{reader.label}: {err}"))
        manifest = manifest_headers(answer, whole_body, reader, path)
        if manifest is None:  # no longer a manifest: serve what is there now
            return self.app(environ, start_response)
        try:
            segments = self.listing(reader, container, prefix)
            whole = Whole(sum(s.size for s in segments), dlo_etag(segments), manifest,
                          lambda start, end: pieces(container, segments, start, end))
            return serve(environ, start_response, whole, reader, self.logger)
        except SegmentError as err:
            return conflict(environ, start_response, err)

    def listing(self, reader: SegmentReader, container: str, prefix: str) -> list[Listed]:
        """Every object under the prefix, page by page, in name order."""
        found: list[Listed] = []
        marker = ""
        while True:
            query = urllib.parse.urlencode({"format": "json", "prefix": prefix,
                                            "marker": marker})
            answer = reader.request("GET", container, None, query=query)
            if answer.code == 204:  # no names (a JSON listing is 200 even empty)
                answer.close()
                return found
            if answer.code != 200:
                reason = answer.read_error().decode("utf-8", "replace").strip()
                status = answer.code if 400 <= answer.code < 500 else 503
                raise HTTPError(status, f"listing the segments in {container}: "
                                        f"{reason or answer.status}")
            try:
                page = parse_listing(read_all(answer, PAGE_BYTES))
            except (ValueError, KeyError, TypeError) as err:
                raise SegmentError(f"{reader.label}: the segments' listing is not valid: "
                                   f"{err}") from None
            found += page
            if len(page) < PAGE:
                return found
            marker = page[-1].name


def pieces(container: str, segments: list[Listed], start: int, end: int) -> Iterator[Piece]:
    for index, first, stop in spans([s.size for s in segments], start, end):
        segment = segments[index]
        yield Piece(container, segment.name, segment.etag, segment.size, first, stop)


def is_manifest(answer: Answer) -> bool:
    return answer.header("X-Object-Manifest") is not None


def manifest_headers(answer: Answer, whole_body: bool, reader: SegmentReader, path: Path
                     ) -> list[tuple[str, str]] | None:
    """The manifest's own headers. Its answer to the client's conditions or
    range is not its own (those are the whole's): asked again, plainly."""
    answer.close()
    if whole_body or (answer.code == 200 and answer.header("Content-Range") is None):
        return answer.headers
    again = reader.request("HEAD", path[1], path[2])
    again.close()
    if again.code == 404:
        raise HTTPError(404, "not found")
    if again.code != 200 or not is_manifest(again):
        return None
    return again.headers


def filter_factory(options: Mapping[str, str], logger: logging.Logger,
                   source: str = "proxy config") -> Callable[[WSGIApp], DynamicLargeObjects]:
    """The pipeline's way in: ``[filter:dlo]`` takes no options."""
    own, shared, section = split_options(options, SECTION)
    try:
        _, warnings = build(DLOConfig, own, shared=shared, source=source or "proxy config",
                            section=section)
    except ConfigError as err:
        raise ValueError(str(err)) from None
    for warning in warnings:
        logger.warning(warning)
    return lambda app: DynamicLargeObjects(app, logger)
