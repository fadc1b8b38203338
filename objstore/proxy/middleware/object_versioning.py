"""object_versioning: Swift's current versioning API (``X-Versions-Enabled``).

    PUT|POST /v1/a/c      X-Versions-Enabled: true|false   enable / suspend
    GET      /v1/a/c?versions[&marker=..&version_marker=..]  every version (JSON)
    GET|HEAD|DELETE /v1/a/c/o?version-id=<id|null>          one version
    PUT      /v1/a/c/o?version-id=<id>   (no body)          restore a version

* Enabling makes the container's hidden versions container
  (``version_names``) in its storage policy and marks the container,
  in a metadata item this filter reserves and shows as
  ``X-Versions-Enabled: True|False`` on HEAD and GET (a client may not
  set or remove it: 400). A value other than true or false is 400; so is
  enabling on a container with ``X-Versions-Location`` or
  ``X-History-Location``, or setting those on a versioned container.
* Objects: see ``version_objects``; listings: ``version_listing``.
  ``X-Container-Bytes-Used`` of a versioned container counts its versions.
* A versioned container can be deleted only once its versions are (409
  while any remain); its versions container goes with it.
* Container names starting with U+0001 are the cluster's (400), and
  account listings leave them out.
* ``version-id`` with POST is 400, with any other method than GET,
  HEAD, PUT, DELETE 400; an id that is not a timestamp 400, and one in a
  container that was never versioned 400 (``null`` excepted).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from objstore.common.config import parse_bool
from objstore.common.http import (
    HTTPError, Request, WSGIApp, error_response, query_params,
)
from objstore.proxy.middleware.copy import Answer, Path, call
from objstore.proxy.middleware.version_listing import VersionsListing, account_listing
from objstore.proxy.middleware.version_names import (
    RESERVED, check_versionable_container, hidden_container, parse_version_id,
)
from objstore.proxy.middleware.version_objects import ObjectVersions
from objstore.proxy.middleware.versioning import (
    account_acl, authorize, container_facts, drain, forget_facts, internal, reason_of, relay,
    request_path,
)

SOURCE: Final = "OV"
LEGACY_SOURCE: Final = "VW"
STATE: Final = "x-container-meta-objstore-versions-enabled"   # the reserved metadata item
STATE_KEY: Final = "HTTP_X_CONTAINER_META_OBJSTORE_VERSIONS_ENABLED"
STATE_KEYS: Final = (STATE_KEY, "HTTP_X_REMOVE_CONTAINER_META_OBJSTORE_VERSIONS_ENABLED")
ENABLED_KEY: Final = "HTTP_X_VERSIONS_ENABLED"
LEGACY: Final = ("x-versions-location", "x-history-location")
VERSION_METHODS: Final = ("GET", "HEAD", "PUT", "DELETE")
StartResponse = Callable[..., Any]


def state_of(facts: Mapping[str, str]) -> bool | None:
    """True (enabled), False (suspended) or None (never versioned)."""
    value = facts.get(STATE)
    if not value:
        return None
    return value.strip().lower() == "true"


def legacy_location(headers: Mapping[str, str]) -> str | None:
    return next((name for name in LEGACY if (headers.get(name) or "").strip()), None)


class ObjectVersioning:
    def __init__(self, app: WSGIApp, logger: logging.Logger) -> None:
        self.app = app
        self.logger = logger
        self.objects = ObjectVersions(app, logger)
        self.listing = VersionsListing(app)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse
                 ) -> Iterable[bytes]:
        path = request_path(environ)
        if path is None or environ.get("objstore.source") == LEGACY_SOURCE:
            # versioned_writes, above, reads containers as they are stored
            return self.app(environ, start_response)
        account, container, obj = path
        try:
            if container is None:
                if environ.get("REQUEST_METHOD") == "GET":
                    return account_listing(self.app, environ, start_response, account)
                return self.app(environ, start_response)
            if container.startswith(RESERVED):
                raise HTTPError(400, "container names starting with U+0001 are reserved "
                                     "for the cluster's own use")
            if obj is None:
                return self.container_request(environ, start_response, account, container)
            return self.object_request(environ, start_response, (account, container, obj))
        except HTTPError as err:
            return error_response(err.status, err.reason, err.headers)(environ, start_response)

    # -- objects -----------------------------------------------------------------

    def object_request(self, environ: dict[str, Any], start_response: StartResponse,
                       path: Path) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "")
        version_id = query_params(Request(environ), "version-id").get("version-id") or None
        if version_id is not None:
            return self.version_request(environ, start_response, path, method, version_id)
        if method in ("GET", "HEAD"):
            return self.objects.read(environ, start_response, path)
        if method not in ("PUT", "DELETE", "POST"):
            return self.app(environ, start_response)
        code, facts = container_facts(self.app, environ, path[0], path[1])
        state = state_of(facts) if 200 <= code < 300 else None
        if state is None:
            return self.app(environ, start_response)
        authorize(environ, method, path, facts)
        if method == "POST":
            return self.objects.post(environ, start_response, path)
        if not state:
            return self.app(environ, start_response)
        if method == "PUT":
            return self.objects.put(environ, start_response, path, facts)
        return self.objects.delete(environ, start_response, path, facts)

    def version_request(self, environ: dict[str, Any], start_response: StartResponse,
                        path: Path, method: str, version_id: str) -> Iterable[bytes]:
        if method not in VERSION_METHODS:
            raise HTTPError(400, f"{method} to a version (version-id) is not allowed")
        if version_id != "null":
            parse_version_id(version_id)
        code, facts = container_facts(self.app, environ, path[0], path[1])
        if code == 404:
            raise HTTPError(404, "no such container")
        state = state_of(facts)
        if state is None and version_id != "null":
            raise HTTPError(400, "version-id needs a container that is or was versioned "
                                 "(X-Versions-Enabled)")
        authorize(environ, method, path, facts)
        if method == "DELETE":
            return self.objects.delete_version(environ, start_response, path, version_id)
        if method == "PUT":
            return self.objects.restore(environ, start_response, path, version_id,
                                        bool(state), facts)
        if version_id == "null":
            return self.objects.read_null(environ, start_response, path)
        return self.objects.serve(environ, start_response, path, parse_version_id(version_id))

    # -- containers ----------------------------------------------------------------

    def container_request(self, environ: dict[str, Any], start_response: StartResponse,
                          account: str, container: str) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "")
        if any(key in environ for key in STATE_KEYS):
            raise HTTPError(400, "X-Container-Meta-Objstore-Versions-Enabled is kept by the "
                                 "cluster: use X-Versions-Enabled")
        if method in ("PUT", "POST"):
            if ENABLED_KEY in environ:
                return self.set_versioning(environ, start_response, account, container)
            if legacy_location(request_headers(environ)):
                _, facts = container_facts(self.app, environ, account, container, fresh=True)
                if state_of(facts) is not None:
                    raise HTTPError(400, "this container uses X-Versions-Enabled versioning: "
                                         "it cannot also have X-Versions-Location or "
                                         "X-History-Location")
            return self.app(environ, start_response)
        if method == "DELETE":
            return self.delete_container(environ, start_response, account, container)
        if method == "GET" and "versions" in query_params(Request(environ), "versions"):
            return self.listing(environ, start_response, account, container,
                                lambda answer: self.shown_headers(environ, account,
                                                                  container, answer))
        if method in ("GET", "HEAD"):
            answer = call(self.app, environ)
            return relay(answer, start_response, ()) if not 200 <= answer.code < 300 else \
                self.with_state(environ, start_response, account, container, answer)
        return self.app(environ, start_response)

    def with_state(self, environ: dict[str, Any], start_response: StartResponse, account: str,
                   container: str, answer: Answer) -> Iterable[bytes]:
        start_response(answer.status, self.shown_headers(environ, account, container, answer))
        return answer

    def shown_headers(self, environ: dict[str, Any], account: str, container: str,
                      answer: Answer) -> list[tuple[str, str]]:
        """A container's headers as a client sees them: the state as
        X-Versions-Enabled, the versions' bytes in X-Container-Bytes-Used."""
        headers = [(k, v) for k, v in answer.headers if k.lower() != STATE]
        state = state_of({k.lower(): v for k, v in answer.headers})
        if state is None:
            return headers
        versions = call(self.app, internal(environ, "HEAD", (account, hidden_container(
            container)), SOURCE))
        drain(versions)
        extra = int(versions.header("X-Container-Bytes-Used") or 0) \
            if 200 <= versions.code < 300 else 0
        shown = [(name, str(int(value) + extra) if name.lower() == "x-container-bytes-used"
                  and value.strip().isdigit() else value) for name, value in headers]
        return [*shown, ("X-Versions-Enabled", "True" if state else "False")]

    def set_versioning(self, environ: dict[str, Any], start_response: StartResponse,
                       account: str, container: str) -> Iterable[bytes]:
        try:
            enabled = parse_bool(environ[ENABLED_KEY])
        except ValueError:
            raise HTTPError(400, "X-Versions-Enabled must be true or false") from None
        code, facts = container_facts(self.app, environ, account, container, fresh=True)
        authorize(environ, environ["REQUEST_METHOD"], (account, container, None),
                  facts if 200 <= code < 300 else {}, account_acl(self.app, environ, account))
        if (200 <= code < 300 and legacy_location(facts)) \
                or legacy_location(request_headers(environ)):
            raise HTTPError(400, "X-Versions-Enabled cannot be used on a container with "
                                 "X-Versions-Location or X-History-Location")
        if enabled:
            check_versionable_container(container)
        sub = {key: value for key, value in environ.items() if key != ENABLED_KEY}
        sub[STATE_KEY] = "true" if enabled else "false"
        answer = call(self.app, sub)
        forget_facts(environ, account, container)
        if enabled and 200 <= answer.code < 300:
            policy = facts.get("x-storage-policy") if 200 <= code < 300 else \
                environ.get("HTTP_X_STORAGE_POLICY")
            made = call(self.app, internal(environ, "PUT", (account, hidden_container(
                container)), SOURCE, headers={"X-Storage-Policy": policy} if policy else {}))
            if not 200 <= made.code < 300:  # object writes make it when it is missing
                self.logger.warning("versions container of %s/%s not made: %s", account,
                                    container, reason_of(made))
            else:
                drain(made)
        return relay(answer, start_response)

    def delete_container(self, environ: dict[str, Any], start_response: StartResponse,
                         account: str, container: str) -> Iterable[bytes]:
        code, facts = container_facts(self.app, environ, account, container, fresh=True)
        if not 200 <= code < 300 or state_of(facts) is None:
            return self.app(environ, start_response)
        authorize(environ, "DELETE", (account, container, None), facts,
                  account_acl(self.app, environ, account))
        hidden = (account, hidden_container(container))
        versions = call(self.app, internal(environ, "HEAD", hidden, SOURCE))
        drain(versions)
        count = int(versions.header("X-Container-Object-Count") or 0) \
            if 200 <= versions.code < 300 else 0
        if count:
            raise HTTPError(409, f"{count} object versions remain: delete them all (and "
                                 "the current objects) before the container")
        if versions.code != 404 and not 200 <= versions.code < 300:
            raise HTTPError(503, f"could not read the versions container: {versions.status}")
        answer = call(self.app, environ)
        if 200 <= answer.code < 300:
            gone = call(self.app, internal(environ, "DELETE", hidden, SOURCE))
            if not (200 <= gone.code < 300 or gone.code == 404):
                self.logger.warning("versions container of %s/%s not deleted: %s", account,
                                    container, reason_of(gone))
            else:
                drain(gone)
        return relay(answer, start_response)


def request_headers(environ: Mapping[str, Any]) -> dict[str, str]:
    return {key[5:].replace("_", "-").lower(): value for key, value in environ.items()
            if key.startswith("HTTP_")}


def filter_factory(options: Mapping[str, str], logger: logging.Logger,
                   source: str = "proxy config") -> Callable[[WSGIApp], ObjectVersioning]:
    """No options of its own."""
    return lambda app: ObjectVersioning(app, logger)


__all__ = ["ObjectVersioning", "filter_factory"]
