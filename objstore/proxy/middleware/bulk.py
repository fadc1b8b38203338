"""bulk: many objects created or deleted by one request.

    PUT         /v1/<account>[/<container>[/<prefix>]]?extract-archive=tar|tar.gz|tar.bz2
    POST|DELETE /v1/<account>?bulk-delete        body: one URL-quoted path a line

``bulk_extract`` makes objects (and containers) of an archive's files,
``bulk_delete`` deletes the listed objects and containers; each item is
a subrequest through the rest of the pipeline as the client
(``bulk_items``), so the auth filter, rate limits and quotas after this
filter hold for every one. Both answer with Swift's per-item report
(``bulk_report``): counts, ``Response Status``, ``Response Body`` and
``Errors``, as text, JSON or XML.

* A request refused before any item is tried gets its own status with
  the report: 406 (an ``Accept`` no form of the report matches, plain),
  400 (an archive format other than tar, tar.gz, tar.bz2, a body that is
  not an archive, an empty list), 411 (no length), 413 (a list of more
  than ``max_deletes_per_request`` paths, or with a path too long to be one).
* Once items are worked on, the answer is 200: it begins (with a space
  every ``yield_frequency`` seconds, so clients do not time out) before
  the work ends, and the report's ``Response Status`` says how it ended,
  as in Swift, whose answer is always 200.
* Placed before tempurl and formpost, as in Swift; a bulk request that a
  signature authorized (they were put first) is refused (403): a grant
  for one object must not write a whole archive.
* ``/info`` lists ``bulk_upload`` (max_containers_per_extraction,
  max_failed_extractions) and ``bulk_delete`` (max_deletes_per_request,
  max_failed_deletes); the swift CLI deletes in bulk when it sees the latter.
"""
from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final

from objstore.common.config import ConfigError, build
from objstore.common.http import HTTPError, WSGIApp, error_response
from objstore.proxy.middleware import bulk_delete, bulk_extract
from objstore.proxy.middleware.bulk_archive import open_archive
from objstore.proxy.middleware.bulk_items import BulkConfig, body_length
from objstore.proxy.middleware.bulk_report import (
    Report, headers, report_format, status_line, stream,
)
from objstore.proxy.middleware.signed_urls import info_with, is_info, split_v1
from objstore.proxy.middleware.tempauth import AUTHORIZE_OVERRIDE
from objstore.proxy.pipeline import split_options

SECTION: Final = "filter:bulk"


def load_config(options: Mapping[str, str], source: str = "proxy config"
                ) -> tuple[BulkConfig, list[str]]:
    own, shared, section = split_options(options, SECTION)
    try:
        return build(BulkConfig, own, shared=shared, source=source, section=section)
    except ConfigError as err:
        raise ValueError(str(err).removeprefix(f"{source} [{section}]").lstrip(": ")) from None


def guarded(work: Iterator[None], report: Report, environ: Mapping[str, Any],
            logger: logging.Logger) -> Iterator[None]:
    """``work``, with anything it raises logged and reported as a 500: the
    answer has begun, so a traceback can only end it mid-body."""
    try:
        yield from work
    except Exception:
        trans_id = environ.get("objstore.trans_id", "-")
        logger.exception("%s %s failed (txn %s)", environ.get("REQUEST_METHOD"),
                         environ.get("PATH_INFO"), trans_id)
        report.fail(500, f"internal error, transaction {trans_id}")


class Bulk:
    """The WSGI filter (see the module docstring)."""

    def __init__(self, app: WSGIApp, conf: BulkConfig, logger: logging.Logger) -> None:
        self.app, self.conf, self.logger = app, conf, logger

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        if is_info(environ):
            return self.info(environ, start_response)
        method = environ.get("REQUEST_METHOD")
        path = split_v1(environ.get("PATH_INFO", ""))
        if path is None or method not in ("PUT", "POST", "DELETE"):
            return self.app(environ, start_response)
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        if method == "PUT" and "extract-archive" in query:
            handler = self.extract
            value = query["extract-archive"][-1]
        elif method in ("POST", "DELETE") and "bulk-delete" in query:
            handler, value = self.delete, ""
        else:
            return self.app(environ, start_response)
        try:
            if environ.get(AUTHORIZE_OVERRIDE):
                # a signature's grant (a filter before this one: a misordered
                # pipeline) must not stretch from one object to a whole archive
                raise HTTPError(403, "bulk requests need a token, not a signature")
            kind = report_format(environ.get("HTTP_ACCEPT"))
        except HTTPError as err:
            return error_response(err.status, err.reason)(environ, start_response)
        return handler(environ, path, value, kind, start_response)

    def extract(self, environ: dict[str, Any], path: tuple[str, str | None, str | None],
                value: str, kind: str, start_response: Callable[..., Any]) -> Iterable[bytes]:
        work = bulk_extract.Extraction(self.app, environ, path[0],
                                       bulk_extract.upload_base(path[1], path[2]), self.conf)
        try:
            bulk_extract.archive_type(value)
            length = body_length(environ)
            archive = open_archive(environ["wsgi.input"], length)
        except HTTPError as err:
            return refuse(work.report, err, kind, "extract", start_response)
        start_response("200 OK", headers(kind))
        return stream(work.report, guarded(work.run(archive), work.report, environ, self.logger),
                      kind, "extract", self.conf.yield_frequency)

    def delete(self, environ: dict[str, Any], path: tuple[str, str | None, str | None],
               value: str, kind: str, start_response: Callable[..., Any]) -> Iterable[bytes]:
        report = Report({"Number Deleted": 0, "Number Not Found": 0}, status_line(200))
        limit = self.conf.max_deletes_per_request
        try:
            length = body_length(environ)
            if length is not None and length > limit * (bulk_delete.MAX_LINE + 1):
                raise HTTPError(413, f"a list of {length} bytes is longer than "
                                     f"{limit} paths can be")
            lines = bulk_delete.read_lines(environ["wsgi.input"], limit)
            items, refused = bulk_delete.parse_list(lines)
        except HTTPError as err:
            return refuse(report, err, kind, "delete", start_response)
        work = bulk_delete.Deletion(self.app, environ, path[0], items, refused, self.conf)
        start_response("200 OK", headers(kind))
        return stream(work.report, guarded(work.run(), work.report, environ, self.logger),
                      kind, "delete", self.conf.yield_frequency)

    def info(self, environ: dict[str, Any], start_response: Callable[..., Any]
             ) -> Iterable[bytes]:
        conf = self.conf

        def with_upload(env: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
            return info_with(self.app, env, start, "bulk_upload", {
                "max_containers_per_extraction": conf.max_containers_per_extraction,
                "max_failed_extractions": conf.max_failed_extractions})
        return info_with(with_upload, environ, start_response, "bulk_delete", {
            "max_deletes_per_request": conf.max_deletes_per_request,
            "max_failed_deletes": conf.max_failed_deletes})


def refuse(report: Report, err: HTTPError, kind: str, root: str,
           start_response: Callable[..., Any]) -> Iterable[bytes]:
    """A bulk request refused before any item: its status, with the report."""
    report.fail(err.status, err.reason)
    body = report.whole(kind, root)
    start_response(status_line(err.status), headers(kind, len(body)))
    return [body]


def filter_factory(options: Mapping[str, str], logger: logging.Logger,
                   source: str = "proxy config") -> Callable[[WSGIApp], Bulk]:
    """The pipeline's way in: options of ``[filter:bulk]`` from ``source``."""
    conf, warnings = load_config(options, source or "proxy config")
    for warning in warnings:
        logger.warning(warning)
    return lambda app: Bulk(app, conf, logger)
