"""CORS: which web pages (origins) may call a container and its objects.

A container's metadata says who may, for the container and every object
in it (the proxy's options add origins for every container)::

    X-Container-Meta-Access-Control-Allow-Origin    origins, space separated, or *
    X-Container-Meta-Access-Control-Max-Age         seconds a browser keeps a preflight
    X-Container-Meta-Access-Control-Expose-Headers  more headers scripts may read

* A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``)
  is answered 200 with ``Access-Control-Allow-Origin`` (``*`` when the
  container says ``*``, else the origin, with ``Vary: Origin``),
  ``-Allow-Methods``, ``-Allow-Headers`` (what was asked for) and
  ``-Max-Age``; 401 when the origin is not allowed or the method is not
  one the path takes. A browser sends no token with a preflight, so it
  needs none, and it learns nothing but those headers. ``OPTIONS``
  without ``Origin`` is 200 with ``Allow``. Accounts have no CORS
  settings: their ``OPTIONS`` is always the plain one, as in Swift.
* An actual request to a container or object with ``Origin`` gets
  ``Access-Control-Allow-Origin`` and ``Access-Control-Expose-Headers``
  (the simple response headers, etag, x-timestamp, x-trans-id,
  x-openstack-request-id, ``cors_expose_headers``, every
  ``X-Container-Meta-*``/``X-Object-Meta-*`` header of the response, and
  the container's own list) on every answer, errors included, so a
  script can read why it failed. With ``strict_cors_mode`` (the default)
  only allowed origins get them; without it every origin does.
* ``Max-Age`` must be a whole number of seconds, or empty to remove it
  (400 otherwise, on a container PUT or POST).

Why the proxy and not a filter: as in Swift, CORS belongs to the
controllers. They alone know which methods a path takes, they read the
container's facts anyway (cached, so the headers cost no request of
their own), and an ``OPTIONS`` must be answered before ``authorize``
asks for a token, which a filter above the proxy could only do by
repeating the container lookup as a subrequest.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

from objstore.common.http import HTTPError, Request, Response, error_response

if TYPE_CHECKING:
    from objstore.proxy.server import ProxyApp

# the container's settings, as its HEAD headers (lower case) hold them
ALLOW_ORIGIN: Final = "x-container-meta-access-control-allow-origin"
MAX_AGE: Final = "x-container-meta-access-control-max-age"
EXPOSE_HEADERS: Final = "x-container-meta-access-control-expose-headers"
MAX_AGE_HEADER: Final = "X-Container-Meta-Access-Control-Max-Age"
# What every CORS answer lets scripts read: the simple response headers
# (W3C CORS) and what Swift adds.
EXPOSED: Final = ("cache-control", "content-language", "content-type", "expires",
                  "last-modified", "pragma", "etag", "x-timestamp", "x-trans-id",
                  "x-openstack-request-id")
USER_META: Final = ("x-container-meta-", "x-object-meta-")
_WHOLE: Final = re.compile(r"[0-9]+")


@dataclasses.dataclass(frozen=True)
class Policy:
    """A container's CORS settings together with the proxy's."""

    allow_origin: str = ""                 # the container's, space separated
    expose_headers: str = ""               # the container's, space separated
    max_age: str = ""
    cluster_origins: tuple[str, ...] = ()  # cors_allow_origin
    cluster_expose: tuple[str, ...] = ()   # cors_expose_headers
    strict: bool = True                    # strict_cors_mode

    @property
    def any_origin(self) -> bool:
        """The container allows every origin (answered ``*``)."""
        return self.allow_origin.strip() == "*"

    def allows(self, origin: str) -> bool:
        origins = set(self.allow_origin.split()) | set(self.cluster_origins)
        return "*" in origins or origin in origins

    def exposed(self, response_headers: Iterable[str]) -> str:
        names = [*EXPOSED, *(h.lower() for h in self.cluster_expose)]
        names += [h.lower() for h in response_headers if h.lower().startswith(USER_META)]
        names += [h.lower() for h in self.expose_headers.split()]
        return ", ".join(dict.fromkeys(names))


def policy_of(facts: Mapping[str, str] | None, cluster_origins: Iterable[str] = (),
              cluster_expose: Iterable[str] = (), strict: bool = True) -> Policy:
    """The policy of a container whose HEAD headers (lower-case names)
    are ``facts``; None or empty for one that does not exist."""
    facts = facts or {}
    return Policy(facts.get(ALLOW_ORIGIN, ""), facts.get(EXPOSE_HEADERS, ""),
                  facts.get(MAX_AGE, "").strip(), tuple(cluster_origins),
                  tuple(cluster_expose), strict)


def check_settings(headers: Mapping[str, str]) -> None:
    """400 for a container's CORS setting a browser could not use."""
    max_age = headers.get(MAX_AGE_HEADER)
    if max_age is not None and max_age.strip() and not _WHOLE.fullmatch(max_age.strip()):
        raise HTTPError(400, f"{MAX_AGE_HEADER} must be a whole number of seconds, or "
                             f"empty to remove it, not {max_age[:40]!r}")


def _add_vary(headers: Any, name: str) -> None:
    present = headers.get("Vary")
    headers["Vary"] = f"{present}, {name}" if present else name


def _allow_origin(headers: Any, policy: Policy, origin: str) -> None:
    if policy.any_origin:
        headers["Access-Control-Allow-Origin"] = "*"
    else:
        headers["Access-Control-Allow-Origin"] = origin
        _add_vary(headers, "Origin")


def plain_options(methods: list[str]) -> Response:
    response = Response(status=200, body=b"", content_type=None, charset=None)
    del response.headers["Content-Type"]   # webob's default: there is no body to type
    response.headers["Allow"] = ", ".join(methods)
    return response


def preflight(request: Request, policy: Policy | None, methods: list[str]) -> Response:
    """The answer to an ``OPTIONS`` (see the module doc); ``policy`` None
    for a path without CORS settings (an account)."""
    origin = request.headers.get("Origin")
    if not origin or policy is None:
        return plain_options(methods)
    allow = {"Allow": ", ".join(methods)}
    if not policy.allows(origin):
        raise HTTPError(401, f"origin {origin[:200]!r} may not make cross-origin requests "
                             "here", allow)
    wanted = request.headers.get("Access-Control-Request-Method")
    if wanted not in methods:
        raise HTTPError(401, "Access-Control-Request-Method must be one of "
                             + ", ".join(methods), allow)
    response = plain_options(methods)
    headers = response.headers
    _allow_origin(headers, policy, origin)
    headers["Access-Control-Allow-Methods"] = ", ".join(methods)
    if _WHOLE.fullmatch(policy.max_age):
        headers["Access-Control-Max-Age"] = policy.max_age
    # Any header may be asked for: access is the ACLs' business, not CORS's.
    asked = [h.strip() for h in request.headers.get("Access-Control-Request-Headers",
                                                     "").split(",") if h.strip()]
    if asked:
        headers["Access-Control-Allow-Headers"] = ", ".join(dict.fromkeys(asked))
        _add_vary(headers, "Access-Control-Request-Headers")
    return response


def decorate(request: Request, response: Response, policy: Policy) -> Response:
    """An actual request's answer with the CORS headers it may carry."""
    origin = request.headers.get("Origin")
    if not origin or (policy.strict and not policy.allows(origin)):
        return response
    headers = response.headers
    if "Access-Control-Expose-Headers" not in headers:
        headers["Access-Control-Expose-Headers"] = policy.exposed(headers.keys())
    if "Access-Control-Allow-Origin" not in headers:
        _allow_origin(headers, policy, origin)
    return response


def methods_of(controller: object) -> list[str]:
    """What a controller takes, and OPTIONS, for Allow."""
    names = {name[3:] for name in dir(controller) if name.startswith("do_")}
    return sorted(names | {"OPTIONS"})


def container_policy(app: ProxyApp, request: Request, account: str,
                     container: str) -> Policy:
    from objstore.proxy.controllers import container_info

    info = container_info(app, request, account, container)
    conf = app.conf
    return policy_of((info or {}).get("headers"), conf.cors_allow_origin,
                     conf.cors_expose_headers, conf.strict_cors_mode)


def handle(app: ProxyApp, request: Request, controller: Any, account: str,
           container: str | None) -> Response:
    """A request for an account, container or object, through CORS: the
    proxy's way into its controllers."""
    handler: Callable[[Request], Response] = controller.handle
    if request.method == "OPTIONS":
        policy = None if container is None else container_policy(app, request, account,
                                                                  container)
        return preflight(request, policy, methods_of(controller))
    if container is None or not request.headers.get("Origin"):
        return handler(request)
    try:
        policy = container_policy(app, request, account, container)
    except HTTPError:
        # the request's own answer says what is wrong; only the cluster's origins apply
        policy = policy_of({}, app.conf.cors_allow_origin, app.conf.cors_expose_headers,
                           app.conf.strict_cors_mode)
    try:
        response = handler(request)
    except HTTPError as err:
        response = error_response(err.status, err.reason, err.headers)
    return decorate(request, response, policy)
