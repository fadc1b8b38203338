"""Object requests in a versioned container (``object_versioning``).

Versions live in the container's hidden versions container, named as
``version_names`` says; the current object of a versioned write is a
link to its version there.

* PUT, versioning enabled: an unversioned current object (the ``null``
  version) is first copied into the versions container under its own
  timestamp; the client's body is stored as version ``t`` (now) there,
  then the link is written over the current object. 201 with
  ``X-Object-Version-Id: t``. Suspended: a plain PUT (a ``null`` version).
* DELETE, enabled: the null version is kept the same way, a zero-byte
  delete marker is written as version ``t`` (Content-Type
  ``application/x-deleted;swift_versions_deleted=1``), then the current
  object is deleted; ``X-Object-Version-Id: t``, 204 (404 if there was
  none). Suspended: a plain DELETE, the versions stay.
* GET and HEAD of a link answer with its version (Range and conditions
  apply to it) and ``X-Object-Version-Id``; a POST to a link updates its
  version's metadata (X-Delete-At there is 400: it would apply to the
  version, not to the current object).
* ``?version-id=<t>``: GET/HEAD that version (a delete marker is 404);
  DELETE it (and the current object too if it links to it); PUT (no
  body) restores it: its bytes and metadata are written as a new current
  object, a new version when versioning is enabled. ``version-id=null``
  is the unversioned current object.

The filter has authorized the client for the request on the client's own
path before any of this; the versions are then read and written as the
cluster (``versioning.internal``).
"""
from __future__ import annotations

import logging
import mimetypes
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from objstore.common import constraints
from objstore.common.config import is_true
from objstore.common.http import HTTPError, WSGIApp, text_to_wsgi
from objstore.common.timestamp import InvalidTimestamp, Timestamp
from objstore.proxy.middleware.copy import Answer, Path, call, client_content_type
from objstore.proxy.middleware.version_names import (
    LINK, LISTING_ETAG, LISTING_SIZE, check_versionable_object, hidden_container, link_content_type,
    link_of, parse_version_id, version_object,
)
from objstore.proxy.middleware.versioning import (
    AUTH_KEYS, BACKEND_HEADERS, DELETE_MARKER, OBJECT_SYSMETA, copy_object, drain, internal,
    lowered, reason_of, relay,
)

SOURCE: Final = "OV"
VERSION_ID: Final = "X-Object-Version-Id"
CURRENT_ID: Final = "X-Object-Current-Version-Id"
# Answers that come with the object's headers (a link shows itself in them) ...
WITH_HEADERS: Final = (200, 206, 304, 412)
# ... and one that does not: a Range judged against a (zero-byte) link
RANGE_NOT_SATISFIABLE: Final = 416
# Client headers that belong to the current object, not to a version's data
CURRENT_ONLY: Final = ("HTTP_X_DELETE_AT", "HTTP_X_DELETE_AFTER", "HTTP_IF_NONE_MATCH",
                       "HTTP_X_DETECT_CONTENT_TYPE", "HTTP_X_VERSIONS_ENABLED")
StartResponse = Callable[..., Any]


class CountingInput:
    """The client's body, counted as the proxy reads it."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data: bytes = self.source.read(size)
        self.count += len(data)
        return data


def redirected(environ: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """The client's request (headers, body) for another path, without auth;
    of its query only ``symlink=get`` (a version may be a symlink)."""
    sub = {key: value for key, value in environ.items()
           if key not in AUTH_KEYS and key not in ("RAW_PATH_INFO", "REQUEST_URI", OBJECT_SYSMETA)}
    sub["PATH_INFO"] = text_to_wsgi("/v1/" + "/".join(path))
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    sub["QUERY_STRING"] = "symlink=get" if query.get("symlink", [""])[-1] == "get" else ""
    return sub


def stored_content_type(environ: Mapping[str, Any], obj: str) -> str:
    """What the proxy would store as the object's Content-Type: the
    client's, or one guessed from the object's own name (not the version's)."""
    given = client_content_type(environ)
    if given and not is_true(environ.get("HTTP_X_DETECT_CONTENT_TYPE")):
        return str(given)
    return mimetypes.guess_type(obj)[0] or "application/octet-stream"


class ObjectVersions:
    def __init__(self, app: WSGIApp, logger: logging.Logger) -> None:
        self.app = app
        self.logger = logger

    # -- paths and lookups --------------------------------------------------------

    @staticmethod
    def version_path(path: Path, version: Timestamp) -> Path:
        account, container, obj = path
        return account, hidden_container(container), version_object(obj, version)

    def current(self, environ: dict[str, Any], path: Path) -> dict[str, str] | None:
        """The current object's headers (lower-cased), None if there is none."""
        answer = call(self.app, internal(environ, "HEAD", path, SOURCE, "symlink=get",
                                         {"X-Newest": "true"}))
        drain(answer)
        if answer.code == 404:
            return None
        if not 200 <= answer.code < 300:
            raise HTTPError(503, f"could not read the current object: {answer.status}")
        return lowered(answer)

    def ensure_versions_container(self, environ: dict[str, Any], path: Path,
                                  facts: Mapping[str, str]) -> None:
        """Make the hidden container (it is made on enabling; this covers a
        failure then), in the versioned container's policy."""
        policy = facts.get("x-storage-policy")
        answer = call(self.app, internal(environ, "PUT", (path[0], hidden_container(path[1])),
                                         SOURCE, headers={"X-Storage-Policy": policy}
                                         if policy else {}))
        if not 200 <= answer.code < 300:
            raise HTTPError(503, f"could not make the versions container: {reason_of(answer)}")
        drain(answer)

    # -- GET / HEAD ---------------------------------------------------------------

    def read(self, environ: dict[str, Any], start_response: StartResponse,
             path: Path) -> Iterable[bytes]:
        """A GET or HEAD without version-id: a link is followed."""
        answer = call(self.app, environ)
        version = link_of(lowered(answer)) if answer.code in WITH_HEADERS else None
        if answer.code == RANGE_NOT_SATISFIABLE:
            body = drain(answer)
            version = self.link_version(environ, path)
            if version is None:
                start_response(answer.status, answer.headers)
                return [body]
        if version is None:
            return relay(answer, start_response)
        answer.close()
        return self.serve(environ, start_response, path, version)

    def link_version(self, environ: dict[str, Any], path: Path) -> Timestamp | None:
        answer = call(self.app, internal(environ, "HEAD", path, SOURCE, "symlink=get"))
        drain(answer)
        return link_of(lowered(answer)) if 200 <= answer.code < 300 else None

    def serve(self, environ: dict[str, Any], start_response: StartResponse, path: Path,
              version: Timestamp) -> Iterable[bytes]:
        """The client's GET or HEAD, answered by a version."""
        got = call(self.app, redirected(environ, self.version_path(path, version)))
        if got.code == 404:
            drain(got)
            raise HTTPError(404, f"no version {version.normal} of this object")
        if 200 <= got.code < 300 and \
                (got.header("Content-Type") or "").replace(" ", "") == DELETE_MARKER:
            drain(got)
            raise HTTPError(404, f"version {version.normal} is a delete marker",
                            {VERSION_ID: version.normal, "Content-Type": DELETE_MARKER})
        return relay(got, start_response, [(VERSION_ID, version.normal)])

    def read_null(self, environ: dict[str, Any], start_response: StartResponse,
                  path: Path) -> Iterable[bytes]:
        """``?version-id=null``: the current object unless it is a link."""
        sub = {**environ, "QUERY_STRING": ""}
        answer = call(self.app, sub)
        version = link_of(lowered(answer)) if answer.code in WITH_HEADERS else None
        if answer.code == RANGE_NOT_SATISFIABLE:
            version = self.link_version(environ, path)
        if version is not None:
            drain(answer)
            raise HTTPError(404, "there is no null version: the current version is "
                                 f"{version.normal}")
        extra = [(VERSION_ID, "null")] if 200 <= answer.code < 300 else []
        return relay(answer, start_response, extra)

    # -- PUT / DELETE / POST --------------------------------------------------------

    def put(self, environ: dict[str, Any], start_response: StartResponse, path: Path,
            facts: Mapping[str, str]) -> Iterable[bytes]:
        """A versioned PUT (versioning enabled)."""
        check_versionable_object(path[2])
        if_none_match = environ.get("HTTP_IF_NONE_MATCH")
        if if_none_match is not None and if_none_match.strip() != "*":
            raise HTTPError(400, "If-None-Match on a PUT takes only *")
        check_delete_headers(environ)
        current = self.current(environ, path)
        if current is not None and if_none_match is not None:
            raise HTTPError(412, "the object exists (If-None-Match: *)")
        if current is not None and link_of(current) is None:
            self.keep_null_version(environ, path, current, facts)
        version = Timestamp.now()
        data, size = self.put_data(environ, path, version, facts)
        if not 200 <= data.code < 300:
            return relay(data, start_response)
        drain(data)
        etag = (data.header("ETag") or "").strip('"')
        backend = environ.get(BACKEND_HEADERS) or {}
        self.link(environ, path, version, stored_content_type(environ, path[2]),
                  int(backend.get(LISTING_SIZE, size)), backend.get(LISTING_ETAG, etag))
        start_response("201 Created", [("ETag", etag), ("Last-Modified", version.http_date),
                                       (VERSION_ID, version.normal), ("Content-Length", "0")])
        return []

    def put_data(self, environ: dict[str, Any], path: Path, version: Timestamp,
                 facts: Mapping[str, str]) -> tuple[Answer, int]:
        """The client's body and metadata as version ``version``."""
        body = CountingInput(environ["wsgi.input"])
        sub = redirected(environ, self.version_path(path, version))
        for key in CURRENT_ONLY:
            sub.pop(key, None)
        sub.update({"wsgi.input": body, "CONTENT_TYPE": stored_content_type(environ, path[2]),
                    BACKEND_HEADERS: {**(environ.get(BACKEND_HEADERS) or {}),
                                      "X-Timestamp": version.internal}})
        answer = call(self.app, sub)
        if answer.code == 404 and body.count == 0:  # no versions container yet
            drain(answer)
            self.ensure_versions_container(environ, path, facts)
            answer = call(self.app, sub)
        length = environ.get("CONTENT_LENGTH") or ""
        return answer, int(length) if length.isdigit() else body.count

    def link(self, environ: dict[str, Any], path: Path, version: Timestamp, content_type: str,
             size: int, etag: str) -> None:
        """Make version ``version`` the current object."""
        headers = {name: environ[key] for name, key in (("X-Delete-At", "HTTP_X_DELETE_AT"),
                                                         ("X-Delete-After", "HTTP_X_DELETE_AFTER"))
                   if key in environ}
        sub = internal(environ, "PUT", path, SOURCE, headers=headers, backend={
            "X-Timestamp": version.internal, LINK: version.normal, LISTING_ETAG: etag})
        sub.update({"CONTENT_LENGTH": "0", "CONTENT_TYPE": link_content_type(content_type, size)})
        answer = call(self.app, sub)
        if not 200 <= answer.code < 300:
            raise HTTPError(503, f"version {version.normal} is stored but could not be made "
                                 f"current: {reason_of(answer)}")
        drain(answer)

    def keep_null_version(self, environ: dict[str, Any], path: Path, current: Mapping[str, str],
                          facts: Mapping[str, str]) -> None:
        """Copy an unversioned current object into the versions, under the
        timestamp it was written at (it keeps its Last-Modified)."""
        try:
            version = Timestamp(current.get("x-timestamp", ""))
        except InvalidTimestamp:
            raise HTTPError(503, "the current object has no timestamp to version it by") from None
        destination = self.version_path(path, version)
        for attempt in (1, 2):
            got, put = copy_object(self.app, environ, path, destination, SOURCE,
                                   {"X-Timestamp": version.internal}, "symlink=get")
            if put is None:
                if got.code == 404:
                    return  # deleted meanwhile: nothing to keep
                raise HTTPError(503, f"could not read the current object to keep it: "
                                     f"{got.status}")
            if put.code == 404 and attempt == 1:
                drain(put)
                self.ensure_versions_container(environ, path, facts)
                continue
            if put.code == 409 and self.exists(environ, destination):
                drain(put)
                return  # kept already, by an earlier request
            if not 200 <= put.code < 300:
                raise HTTPError(503, f"could not keep the current object as version "
                                     f"{version.normal}: {reason_of(put)}")
            drain(put)
            return

    def exists(self, environ: dict[str, Any], path: Path) -> bool:
        answer = call(self.app, internal(environ, "HEAD", path, SOURCE, headers={
            "X-Newest": "true"}))
        drain(answer)
        return 200 <= answer.code < 300

    def delete(self, environ: dict[str, Any], start_response: StartResponse, path: Path,
               facts: Mapping[str, str]) -> Iterable[bytes]:
        """A versioned DELETE: keep what is there, write a delete marker."""
        check_versionable_object(path[2])
        current = self.current(environ, path)
        if current is not None and link_of(current) is None:
            self.keep_null_version(environ, path, current, facts)
        marker = Timestamp.now()
        sub = internal(environ, "PUT", self.version_path(path, marker), SOURCE,
                       backend={"X-Timestamp": marker.internal})
        sub.update({"CONTENT_LENGTH": "0", "CONTENT_TYPE": DELETE_MARKER})
        answer = call(self.app, sub)
        if answer.code == 404:
            drain(answer)
            self.ensure_versions_container(environ, path, facts)
            answer = call(self.app, sub)
        if not 200 <= answer.code < 300:
            raise HTTPError(503, f"could not write a delete marker: {reason_of(answer)}")
        drain(answer)
        deleted = call(self.app, internal(environ, "DELETE", path, SOURCE))
        extra = [(VERSION_ID, marker.normal)] if deleted.code < 300 or deleted.code == 404 else []
        return relay(deleted, start_response, extra)

    def post(self, environ: dict[str, Any], start_response: StartResponse,
             path: Path) -> Iterable[bytes]:
        """A POST in a versioned container: a link's version gets it."""
        current = self.current(environ, path)
        version = link_of(current) if current is not None else None
        if version is None:
            return self.app(environ, start_response)
        if "HTTP_X_DELETE_AT" in environ or "HTTP_X_DELETE_AFTER" in environ:
            raise HTTPError(400, "X-Delete-At and X-Delete-After cannot be POSTed to a "
                                 "versioned object: PUT it again with them")
        answer = call(self.app, redirected(environ, self.version_path(path, version)))
        return relay(answer, start_response, [(VERSION_ID, version.normal)])

    # -- ?version-id ------------------------------------------------------------------

    def delete_version(self, environ: dict[str, Any], start_response: StartResponse,
                       path: Path, version_id: str) -> Iterable[bytes]:
        current = self.current(environ, path)
        linked = link_of(current) if current is not None else None
        if version_id == "null":
            if current is None or linked is not None:
                raise HTTPError(404, "there is no null version of this object")
            answer = call(self.app, internal(environ, "DELETE", path, SOURCE))
            return relay(answer, start_response, [(VERSION_ID, "null"), (CURRENT_ID, "null")])
        version = parse_version_id(version_id)
        left = linked.normal if linked is not None and linked != version else "null"
        if linked == version:  # the current object goes with its version
            unlinked = call(self.app, internal(environ, "DELETE", path, SOURCE))
            if not (200 <= unlinked.code < 300 or unlinked.code == 404):
                return relay(unlinked, start_response)
            drain(unlinked)
        answer = call(self.app, internal(environ, "DELETE", self.version_path(path, version),
                                         SOURCE))
        return relay(answer, start_response, [(VERSION_ID, version.normal), (CURRENT_ID, left)])

    def restore(self, environ: dict[str, Any], start_response: StartResponse, path: Path,
                version_id: str, enabled: bool, facts: Mapping[str, str]) -> Iterable[bytes]:
        """``PUT ?version-id=<t>`` with no body: the version's bytes and
        metadata become the current object (as a copy of it would)."""
        refuse_a_body(environ)
        if version_id == "null":
            raise HTTPError(400, "the null version is the current object: nothing to restore")
        version = parse_version_id(version_id)
        source = self.version_path(path, version)
        found = call(self.app, internal(environ, "HEAD", source, SOURCE,
                                        headers={"X-Newest": "true"}))
        drain(found)
        if found.code == 404:
            raise HTTPError(404, f"no version {version.normal} of this object")
        if not 200 <= found.code < 300:
            raise HTTPError(503, f"could not read version {version.normal}: {found.status}")
        if (found.header("Content-Type") or "").replace(" ", "") == DELETE_MARKER:
            raise HTTPError(400, f"version {version.normal} is a delete marker: nothing to "
                                 "restore")
        if not enabled:
            return self.copy_to(environ, start_response, source, path, None, "null")
        current = self.current(environ, path)
        if current is not None and link_of(current) is None:
            self.keep_null_version(environ, path, current, facts)
        new = Timestamp.now()
        return self.copy_to(environ, start_response, source, self.version_path(path, new),
                            (path, new), new.normal)

    def copy_to(self, environ: dict[str, Any], start_response: StartResponse, source: Path,
                destination: Path, link: tuple[Path, Timestamp] | None,
                version_id: str) -> Iterable[bytes]:
        backend = {"X-Timestamp": link[1].internal} if link else {}
        got, put = copy_object(self.app, environ, source, destination, SOURCE, backend)
        if put is None:
            raise HTTPError(404 if got.code == 404 else 503,
                            f"could not read the version to restore: {got.status}")
        if not 200 <= put.code < 300:
            return relay(put, start_response)
        drain(put)
        etag = (put.header("ETag") or got.header("ETag") or "").strip('"')
        if link is not None:
            size = int(got.header("Content-Length") or 0)
            self.link(environ, link[0], link[1], got.header("Content-Type")
                      or "application/octet-stream", size, etag)
        start_response("201 Created", [("ETag", etag), (VERSION_ID, version_id),
                                       ("Content-Length", "0")])
        return []


def check_delete_headers(environ: Mapping[str, Any]) -> None:
    """400 for a bad X-Delete-At/After before anything is written."""
    headers = {name: environ[key] for name, key in (("X-Delete-At", "HTTP_X_DELETE_AT"),
                                                     ("X-Delete-After", "HTTP_X_DELETE_AFTER"))
               if key in environ}
    try:
        constraints.check_delete_headers(headers, time.time())
    except constraints.ConstraintError as err:
        raise HTTPError(err.status, err.reason) from None


def refuse_a_body(environ: dict[str, Any]) -> None:
    """A restore takes its body from the version: 400 for one, 411 for
    a request that says nothing of its length."""
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    length = (environ.get("CONTENT_LENGTH") or "").strip()
    if chunked:
        if environ["wsgi.input"].read(1):
            raise HTTPError(400, "PUT with version-id restores that version: send no body")
    elif not length:
        raise HTTPError(411, "PUT with version-id needs Content-Length: 0")
    elif length != "0":
        raise HTTPError(400, "PUT with version-id restores that version: send no body")
