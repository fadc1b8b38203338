"""versioned_writes: Swift's legacy versioning, by an archive container.

    PUT|POST /v1/a/c   X-Versions-Location: <archive>    stack mode
    PUT|POST /v1/a/c   X-History-Location: <archive>     history mode
    PUT|POST /v1/a/c   X-Remove-Versions-Location: x     (or an empty value) off

* The archive is a container of the client's (URL-quoted name, no
  ``/``: 400; nor the container itself, nor a reserved name: 400). A
  container has one mode: both headers with values is 400, and setting
  one removes the other. The container server keeps them.
* PUT over an object (a copy's destination too) first copies the object
  there to ``<archive>/<len><name>/<timestamp>``: ``len`` the name's
  length in UTF-8 bytes as 3 hex digits, ``timestamp`` when the old
  object was written.
* DELETE, stack mode: the newest archived version is copied back over the
  object and removed from the archive, so N versions take N deletes to
  be gone. A delete marker there (left from history mode) restores the
  version before it when the object is gone, or lets the delete through.
* DELETE, history mode: the object is archived, then a zero-byte delete
  marker ``application/x-deleted;swift_versions_deleted=1`` is written
  as a version of its own, then the object is deleted.
* The client must be allowed the write on its container; the archive is
  then read and written as the cluster (as Swift does). A missing
  archive container, or one the copy cannot be written to, is 412;
  storage trouble 503. An object over ``max_file_size`` cannot be archived (413).

``/info`` has ``versioned_writes`` with ``allowed_flags``.
"""
from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final

from objstore.common import constraints
from objstore.common.http import HTTPError, WSGIApp, error_response
from objstore.common.timestamp import InvalidTimestamp, Timestamp
from objstore.proxy.middleware.copy import Answer, Path, call
from objstore.proxy.middleware.signed_urls import info_with, is_info
from objstore.proxy.middleware.version_names import RESERVED
from objstore.proxy.middleware.versioning import (
    DELETE_MARKER, authorize, container_facts, copy_object, drain, internal, pages, read_json,
    reason_of, request_path, unquoted_container,
)

SOURCE: Final = "VW"
VERSIONS: Final = "x-versions-location"
HISTORY: Final = "x-history-location"
KEYS: Final = {VERSIONS: "HTTP_X_VERSIONS_LOCATION", HISTORY: "HTTP_X_HISTORY_LOCATION"}
REMOVE_KEYS: Final = ("HTTP_X_REMOVE_VERSIONS_LOCATION", "HTTP_X_REMOVE_HISTORY_LOCATION")
PAGE: Final = 1000
StartResponse = Callable[..., Any]


def archive_prefix(obj: str) -> str:
    return f"{len(obj.encode('utf-8')):03x}{obj}/"


def archive_name(obj: str, written: Timestamp) -> str:
    return archive_prefix(obj) + written.internal


def checked_location(value: str, header: str, container: str) -> str:
    """The archive container a header names, as text; 400 if it cannot be one."""
    name = unquoted_container(value, header)
    try:
        constraints.check_container_name(name)
    except constraints.ConstraintError as err:
        raise HTTPError(400, f"{header}: {err.reason}") from None
    if name.startswith(RESERVED):
        raise HTTPError(400, f"{header}: container names starting with U+0001 are reserved")
    if name == container:
        raise HTTPError(400, f"{header} must name another container than this one")
    return name


def location_settings(environ: Mapping[str, Any], container: str) -> dict[str, str] | None:
    """The environ changes a container PUT or POST makes to the two headers
    (one mode at a time; empty values remove), None if it touches neither."""
    given = {name: environ[key].strip() for name, key in KEYS.items() if key in environ}
    removing = any((environ.get(key) or "").strip() for key in REMOVE_KEYS)
    if not given and not removing and not any(key in environ for key in REMOVE_KEYS):
        return None
    if given.get(VERSIONS) and given.get(HISTORY):
        raise HTTPError(400, "only one of X-Versions-Location and X-History-Location may "
                             "be given")
    chosen = next(((name, value) for name, value in given.items() if value), None)
    if chosen is None:  # empty values or X-Remove-*: versioning off
        return {key: "" for key in KEYS.values()} if given or removing else {}
    name, value = chosen
    checked_location(value, name.title(), container)
    other = HISTORY if name == VERSIONS else VERSIONS
    return {KEYS[name]: value, KEYS[other]: ""}


class VersionedWrites:
    def __init__(self, app: WSGIApp, logger: logging.Logger) -> None:
        self.app = app
        self.logger = logger

    def __call__(self, environ: dict[str, Any], start_response: StartResponse
                 ) -> Iterable[bytes]:
        if is_info(environ):
            return info_with(self.app, environ, start_response, "versioned_writes",
                             {"allowed_flags": [VERSIONS, HISTORY]})
        account, container, obj = request_path(environ) or ("", None, None)
        method = environ.get("REQUEST_METHOD")
        try:
            if container is None:
                return self.app(environ, start_response)
            if obj is None:
                if method in ("PUT", "POST"):
                    return self.container_request(environ, start_response, container)
            elif method in ("PUT", "DELETE"):
                return self.object_request(environ, start_response, (account, container, obj))
        except HTTPError as err:
            return error_response(err.status, err.reason, err.headers)(environ, start_response)
        return self.app(environ, start_response)

    def container_request(self, environ: dict[str, Any], start_response: StartResponse,
                          container: str) -> Iterable[bytes]:
        settings = location_settings(environ, container)
        if settings is None:
            return self.app(environ, start_response)
        sub = {key: value for key, value in environ.items() if key not in REMOVE_KEYS}
        sub.update(settings)
        return self.app(sub, start_response)

    # -- objects ---------------------------------------------------------------------

    def object_request(self, environ: dict[str, Any], start_response: StartResponse,
                       path: Path) -> Iterable[bytes]:
        account, container, _ = path
        code, facts = container_facts(self.app, environ, account, container)
        history = (facts.get(HISTORY) or "").strip()
        location = history or (facts.get(VERSIONS) or "").strip()
        if not 200 <= code < 300 or not location:
            return self.app(environ, start_response)
        header = "X-History-Location" if history else "X-Versions-Location"
        try:
            archive = unquoted_container(location, header)
        except HTTPError:
            archive = ""
        if not archive or archive.startswith(RESERVED):
            raise HTTPError(412, f"the container's {header} is not a container of yours")
        method = environ["REQUEST_METHOD"]
        authorize(environ, method, path, facts)
        if method == "PUT":
            self.archive(environ, path, archive)
        elif history:
            self.archive(environ, path, archive)
            self.write_marker(environ, path, archive)
        else:
            return self.pop(environ, start_response, path, archive)
        return self.app(environ, start_response)

    def archive(self, environ: dict[str, Any], path: Path, archive: str) -> None:
        """Copy the object there now, if any, to the archive."""
        def destination(got: Answer) -> Path:
            try:
                written = Timestamp(got.header("X-Timestamp") or "")
            except InvalidTimestamp:
                raise HTTPError(503, "the current object has no timestamp") from None
            return path[0], archive, archive_name(path[2], written)

        got, put = copy_object(self.app, environ, path, destination, SOURCE,
                               source_query="symlink=get")
        if put is None:
            if got.code != 404:
                raise HTTPError(503, f"could not read the object to archive it: {got.status}")
            return
        self.check(put, archive, "archive the current object")

    def write_marker(self, environ: dict[str, Any], path: Path, archive: str) -> None:
        marker = (path[0], archive, archive_name(path[2], Timestamp.now()))
        sub = internal(environ, "PUT", marker, SOURCE)
        sub.update({"CONTENT_LENGTH": "0", "CONTENT_TYPE": DELETE_MARKER})
        self.check(call(self.app, sub), archive, "write a delete marker")

    @staticmethod
    def check(answer: Answer, archive: str, doing: str) -> None:
        """Nothing if ``answer`` is a success; else the client's error."""
        if 200 <= answer.code < 300:
            drain(answer)
            return
        reason = reason_of(answer)
        if answer.code == 404:
            raise HTTPError(412, f"could not {doing}: the archive container {archive!r} "
                                 "does not exist")
        if answer.code == 413:
            raise HTTPError(413, f"could not {doing}: {reason}")
        if answer.code < 500:
            raise HTTPError(412, f"could not {doing} in {archive!r}: {reason}")
        raise HTTPError(503, f"could not {doing}: {reason}")

    def pop(self, environ: dict[str, Any], start_response: StartResponse, path: Path,
            archive: str) -> Iterable[bytes]:
        """Stack mode DELETE: the newest archived version takes the object's place."""
        versions = self.archived(environ, path, archive)
        for newest in versions:
            if newest.get("content_type") == DELETE_MARKER:
                if self.exists(environ, path):
                    break  # back to the deleted state: the object goes, the marker stays
                for older in versions:
                    if older.get("content_type") == DELETE_MARKER or \
                            self.restore(environ, path, archive, older["name"]):
                        break
                return self.delete_archived(environ, start_response, path, archive,
                                            newest["name"])
            if self.restore(environ, path, archive, newest["name"]):
                return self.delete_archived(environ, start_response, path, archive,
                                            newest["name"])
        return self.app(environ, start_response)

    def archived(self, environ: dict[str, Any], path: Path, archive: str
                 ) -> Iterator[dict[str, Any]]:
        """The archived versions of the object, newest first."""
        def fetch(marker: str) -> list[dict[str, Any]]:
            query = "&".join(f"{k}={v}" for k, v in (
                ("format", "json"), ("reverse", "on"), ("limit", str(PAGE)),
                ("prefix", quoted(archive_prefix(path[2]))), ("marker", quoted(marker))))
            answer = call(self.app, internal(environ, "GET", (path[0], archive), SOURCE, query))
            if answer.code == 404:
                drain(answer)
                return []
            if not 200 <= answer.code < 300:
                raise HTTPError(503 if answer.code >= 500 else 412,
                                f"could not list the archive {archive!r}: {answer.status}")
            rows = read_json(answer)
            return [row for row in rows if isinstance(row, dict) and "name" in row]
        return pages(fetch, "", PAGE)

    def exists(self, environ: dict[str, Any], path: Path) -> bool:
        answer = call(self.app, internal(environ, "HEAD", path, SOURCE, "symlink=get",
                                         {"X-Newest": "true"}))
        drain(answer)
        if answer.code >= 500:
            raise HTTPError(503, f"could not read the object: {answer.status}")
        return 200 <= answer.code < 300

    def restore(self, environ: dict[str, Any], path: Path, archive: str, name: str) -> bool:
        """Copy an archived version over the object; False if it is gone."""
        got, put = copy_object(self.app, environ, (path[0], archive, name), path, SOURCE)
        if put is None:
            if got.code == 404:
                return False
            raise HTTPError(503, f"could not read the archived version: {got.status}")
        self.check(put, archive, "restore the previous version")
        return True

    def delete_archived(self, environ: dict[str, Any], start_response: StartResponse,
                        path: Path, archive: str, name: str) -> Iterable[bytes]:
        answer = call(self.app, internal(environ, "DELETE", (path[0], archive, name), SOURCE))
        start_response(answer.status, answer.headers)
        return answer


def quoted(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def filter_factory(options: Mapping[str, str], logger: logging.Logger,
                   source: str = "proxy config") -> Callable[[WSGIApp], VersionedWrites]:
    """No options of its own."""
    return lambda app: VersionedWrites(app, logger)


__all__ = ["VersionedWrites", "archive_name", "filter_factory", "location_settings"]
