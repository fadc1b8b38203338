"""Account and container requests in the proxy, and their cached facts.

Reads go to one replica at a time, writes to every replica at once with
one ``X-Timestamp`` the proxy chooses, answered by quorum
(``quorum.best_status``). A container write tells each container replica
which account replica to update (``X-Account-Host`` ...), spread over
them. With ``account_autocreate``, an account springs into being on its
first container PUT, and a missing account lists as empty.
"""
from __future__ import annotations

import dataclasses

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from objstore.common import constraints
from objstore.common.config import is_true
from objstore.common.http import HTTPError, Request, Response, header_fields, query_params
from objstore.common.named_nodes import node_headers
from objstore.common.timestamp import Timestamp
from objstore.proxy import acl, cors
from objstore.proxy.backend import Answer, strip_backend
from objstore.proxy.quorum import best_status

if TYPE_CHECKING:
    from objstore.proxy.server import ProxyApp

CLIENT_ACCOUNT_HEADERS = ("x-account-meta-", "x-remove-account-meta-")
CLIENT_CONTAINER_HEADERS = ("x-container-meta-", "x-remove-container-meta-")
CONTAINER_SETTINGS = ("x-container-read", "x-container-write", "x-versions-location",
                      "x-history-location", "x-container-sync-key", "x-container-sync-to",
                      "x-remove-container-read", "x-remove-container-write")


def trans_headers(request: Request) -> dict[str, str]:
    trans_id = request.environ.get("objstore.trans_id") or request.headers.get("X-Trans-Id")
    return {"X-Trans-Id": trans_id} if trans_id else {}


def listing_headers(request: Request) -> dict[str, str]:
    """A listing read's headers: the transaction and the client's Accept,
    which picks the format when no ``format`` parameter does (Swift's)."""
    accept = request.headers.get("Accept")
    return {**trans_headers(request), **({"Accept": accept} if accept else {})}


def listing_vary(request: Request) -> dict[str, str]:
    """Without ``format``, a listing's format follows the Accept header:
    caches must key on it (Swift says so then, and only then)."""
    return {} if query_params(request, "format") else {"Vary": "Accept"}


def passed_headers(request: Request, prefixes: tuple[str, ...],
                   exact: tuple[str, ...] = (),
                   fields: Mapping[str, str] | None = None) -> dict[str, str]:
    """Client headers a backend should get; X-Remove-* become empty values.
    ``fields``: the request's ``header_fields``, if the caller has them."""
    out = {}
    for name, value in (header_fields(request) if fields is None else fields).items():
        lowered = name.lower()
        if lowered.startswith(prefixes) or lowered in exact:
            if lowered.startswith("x-remove-"):
                out["X-" + name[len("X-Remove-"):]] = ""
            else:
                out[name] = value
    return out


def wants_newest(request: Request) -> bool:
    return is_true(request.headers.get("X-Newest"))


def read(app: ProxyApp, request: Request, ring: Any, part: int, path: str,
         headers: Mapping[str, str], query: str | None = None, spread: bool = False) -> Answer:
    """One replica's answer, or with ``X-Newest`` the newest of them all."""
    if wants_newest(request):
        return app.backend.read_newest(ring, part, request.method, path, headers, query)
    return app.backend.read_one(ring, part, request.method, path, headers, query, spread)


def is_owner(request: Request) -> bool:
    """Whether the request's token owns the account (set by the auth filter
    when it authorized the request; with no auth filter, everyone does)."""
    return request.environ.get("objstore.authorize") is None or \
        bool(request.environ.get("objstore.owner"))


def without_owner_headers(request: Request, response: Response) -> Response:
    """ACLs and keys are for the account's owners' eyes only."""
    if not is_owner(request):
        for name in [n for n in response.headers if acl.is_owner_header(n)]:
            del response.headers[name]
    return response


def respond(answer: Answer, head: bool = False,
            extra: Mapping[str, str] | None = None) -> Response:
    headers = {**strip_backend(answer.headers), **(extra or {})}
    response = Response(status=answer.status, content_type=None, charset=None)
    if not head and answer.body:
        response.body = answer.body
    response.headers.update(headers)
    if head:
        response.headers["Content-Length"] = str(
            int(dict(answer.headers).get("Content-Length", "0") or 0))
    return response


def from_quorum(answers: list[Answer], replicas: int, reason: str) -> Response:
    status = best_status([a.status for a in answers], replicas)
    chosen = next((a for a in answers if a.status == status), None)
    if chosen is None:
        raise HTTPError(status, reason)
    response = Response(status=status, content_type=None, charset=None)
    response.headers.update(strip_backend(chosen.headers))
    if status >= 400:  # a replica's own reason, else ours (a bare 404: not there)
        response.body = chosen.body or ((b"not found" if status == 404 else reason.encode())
                                        + b"\n")
        response.content_type = "text/plain"
    return response


class Controller:
    """Dispatch to ``do_<METHOD>``; anything else is 405 with Allow."""

    KIND = ""

    def handler(self, request: Request) -> Callable[[Request], Response]:
        found = getattr(self, "do_" + request.method, None)
        if found is None:
            raise HTTPError(405, f"{request.method} is not supported on {self.KIND}",
                            {"Allow": "GET, HEAD, PUT, POST, DELETE, OPTIONS"})
        return found  # type: ignore[no-any-return]

    def handle(self, request: Request) -> Response:
        return self.handler(request)(request)


class AccountController(Controller):
    KIND = "accounts"

    def __init__(self, app: ProxyApp, account: str) -> None:
        self.app = app
        self.account = account
        self.ring = app.rings.account
        self.part = self.ring.get_part(account)
        self.path = f"/{account}"

    def do_HEAD(self, request: Request) -> Response:
        return self.do_GET(request, head=True)

    def do_GET(self, request: Request, head: bool = False) -> Response:
        answer = read(self.app, request, self.ring, self.part, self.path,
                      listing_headers(request), request.query_string or None)
        account_info = {"acl": dict(answer.headers).get("X-Account-Access-Control")}
        self.app.authorize(request, self.account, None, None, account_info=account_info)
        deleted = dict(answer.headers).get("X-Account-Status", "").lower() == "deleted"
        if answer.status == 404 and self.app.conf.account_autocreate and not deleted:
            return self._empty_listing(request, head)
        if answer.status == 404 and deleted:
            # as Swift: Gone while the database (and the reaper's work) is there
            answer = dataclasses.replace(answer, status=410)
        return without_owner_headers(request, respond(answer, head, listing_vary(request)))

    def _empty_listing(self, request: Request, head: bool) -> Response:
        headers = {"X-Account-Container-Count": "0", "X-Account-Object-Count": "0",
                   "X-Account-Bytes-Used": "0", "X-Timestamp": Timestamp.now().normal,
                   **listing_vary(request)}
        wants = request.params.get("format", "") or request.accept.best_match(
            ["text/plain", "application/json", "application/xml"]) or "text/plain"
        if "json" in wants:
            body, kind = b"[]", "application/json; charset=utf-8"
        elif "xml" in wants:
            body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<account name='
                    f'"{self.account}"></account>').encode()
            kind = "application/xml; charset=utf-8"
        else:
            response = Response(status=204, headers=headers, content_type=None, charset=None)
            return response
        response = Response(status=200, headers=headers, content_type=None, charset=None)
        response.headers["Content-Type"] = kind
        if not head:
            response.body = body
        return response

    def do_PUT(self, request: Request) -> Response:
        return self._manage(request, "PUT")

    def do_DELETE(self, request: Request) -> Response:
        return self._manage(request, "DELETE")

    def _manage(self, request: Request, method: str) -> Response:
        if not self.app.conf.allow_account_management:
            raise HTTPError(405, "accounts are made on first use here",
                            {"Allow": "GET, HEAD, POST"})
        identity = request.environ.get("objstore.identity")
        if request.environ.get("objstore.authorize") and (
                identity is None or ".reseller_admin" not in identity.groups):
            raise HTTPError(403, "only a reseller admin manages accounts")
        headers = {**trans_headers(request), "X-Timestamp": Timestamp.now().internal,
                   **passed_headers(request, CLIENT_ACCOUNT_HEADERS)}
        answers = self.app.backend.write_all(self.ring, self.part, method, self.path, headers)
        self.app.cache.forget(f"account/{self.account}")
        return from_quorum(answers, len(answers), f"account {method} failed")

    def do_POST(self, request: Request) -> Response:
        self.app.authorize(request, self.account, None, None,
                           account_info=account_info(self.app, request, self.account))
        headers = {**trans_headers(request), "X-Timestamp": Timestamp.now().internal,
                   **passed_headers(request, CLIENT_ACCOUNT_HEADERS)}
        try:
            constraints.check_metadata(request.headers, "account")
        except constraints.ConstraintError as err:
            raise HTTPError(err.status, err.reason) from None
        if "X-Account-Access-Control" in request.headers:
            try:
                acl.parse_account_acl(request.headers["X-Account-Access-Control"])
            except ValueError as err:
                raise HTTPError(400, str(err)) from None
            headers["X-Account-Access-Control"] = request.headers["X-Account-Access-Control"]
        if account_info(self.app, request, self.account) is None:
            if not self.app.conf.account_autocreate:
                raise HTTPError(404, "no such account")
            create_account(self.app, request, self.account)
        answers = self.app.backend.write_all(self.ring, self.part, "POST", self.path, headers)
        self.app.cache.forget(f"account/{self.account}")
        return from_quorum(answers, len(answers), "account POST failed")


def account_info(app: ProxyApp, request: Request, account: str) -> dict[str, Any] | None:
    """Cached facts of an account: None when it does not exist."""
    key = f"account/{account}"
    cached = app.cache.get(key)
    if cached is not None:
        return cached or None
    ring = app.rings.account
    answer = app.backend.read_one(ring, ring.get_part(account), "HEAD", f"/{account}",
                                  trans_headers(request))
    if answer.status >= 500:
        raise HTTPError(503, "the account's servers did not answer")
    info = {} if answer.status == 404 else {
        "acl": dict(answer.headers).get("X-Account-Access-Control"),
        "headers": {name.lower(): value for name, value in dict(answer.headers).items()}}
    app.cache.put(key, info)
    return info or None


def create_account(app: ProxyApp, request: Request, account: str) -> None:
    ring = app.rings.account
    answers = app.backend.write_all(ring, ring.get_part(account), "PUT", f"/{account}",
                                    {**trans_headers(request),
                                     "X-Timestamp": Timestamp.now().internal})
    status = best_status([a.status for a in answers], len(answers))
    if 400 <= status < 500:
        chosen = next(a for a in answers if a.status == status)
        raise HTTPError(status, chosen.body.decode("utf-8", "replace").strip()
                        or f"could not create account {account}")
    if status >= 300:
        raise HTTPError(503, f"could not create account {account}")
    app.cache.forget(f"account/{account}")


def container_info(app: ProxyApp, request: Request, account: str,
                   container: str) -> dict[str, Any] | None:
    """Cached facts of a container: None when it does not exist."""
    key = f"container/{account}/{container}"
    cached = app.cache.get(key)
    if cached is not None:
        return cached or None
    ring = app.rings.container
    answer = app.backend.read_one(ring, ring.get_part(account, container), "HEAD",
                                  f"/{account}/{container}", trans_headers(request))
    if answer.status >= 500:
        raise HTTPError(503, "the container's servers did not answer")
    return remember_container(app, account, container, answer.status, dict(answer.headers))


def remember_container(app: ProxyApp, account: str, container: str, status: int,
                       headers: Mapping[str, str]) -> dict[str, Any] | None:
    """Cache what a container's HEAD or GET answered (2xx or 404): its facts,
    None when it does not exist."""
    info: dict[str, Any] = {}
    if status < 300:
        info = {"policy": int(headers.get("X-Backend-Storage-Policy-Index", 0)),
                "read": headers.get("X-Container-Read"),
                "write": headers.get("X-Container-Write"),
                "object_count": headers.get("X-Container-Object-Count"),
                "headers": {name.lower(): value for name, value in headers.items()}}
    elif status != 404:
        return None
    app.cache.put(f"container/{account}/{container}", info)
    return info or None


class ContainerController(Controller):
    KIND = "containers"

    def __init__(self, app: ProxyApp, account: str, container: str) -> None:
        self.app = app
        self.account = account
        self.container = container
        self.ring = app.rings.container
        self.part = self.ring.get_part(account, container)
        self.path = f"/{account}/{container}"

    def _policy_headers(self, answer_headers: Mapping[str, str]) -> dict[str, str]:
        index = answer_headers.get("X-Backend-Storage-Policy-Index")
        policy = self.app.policies.by_index(int(index)) if index is not None else None
        return {"X-Storage-Policy": policy.name} if policy else {}

    def do_HEAD(self, request: Request) -> Response:
        return self.do_GET(request, head=True)

    def do_GET(self, request: Request, head: bool = False) -> Response:
        answer = read(self.app, request, self.ring, self.part, self.path,
                      listing_headers(request), request.query_string or None)
        headers = dict(answer.headers)
        if answer.status < 300 or answer.status == 404:  # what object requests will ask
            remember_container(self.app, self.account, self.container, answer.status, headers)
        self.app.authorize(request, self.account, self.container, None,
                           container_info={"read": headers.get("X-Container-Read"),
                                           "write": headers.get("X-Container-Write")},
                           account_info=self._account_info(request))
        return without_owner_headers(request, respond(
            answer, head, {**self._policy_headers(headers), **listing_vary(request)}))

    def _account_info(self, request: Request) -> dict[str, Any] | None:
        if request.environ.get("objstore.authorize") is None:
            return None
        return account_info(self.app, request, self.account)

    def _account_nodes(self) -> list[Any]:
        ring = self.app.rings.account
        part, nodes = ring.get_nodes(self.account)
        return [(part, node) for node in nodes]

    def _write(self, request: Request, method: str, headers: dict[str, str]) -> list[Answer]:
        accounts = self._account_nodes()

        def per_node(index: int) -> dict[str, str]:
            if not accounts:
                return {}
            part, node = accounts[index % len(accounts)]
            return node_headers("Account", node.ip, node.port, node.device, part)

        answers = self.app.backend.write_all(self.ring, self.part, method, self.path,
                                             {**trans_headers(request), **headers}, b"", per_node)
        self.app.cache.forget(f"container/{self.account}/{self.container}")
        return answers

    def _settings(self, request: Request) -> dict[str, str]:
        try:
            constraints.check_metadata(request.headers, "container")
            acl.parse_container_acl(request.headers.get("X-Container-Read"))
            acl.parse_container_acl(request.headers.get("X-Container-Write"), False)
        except constraints.ConstraintError as err:
            raise HTTPError(err.status, err.reason) from None
        except ValueError as err:
            raise HTTPError(400, f"invalid ACL: {err}") from None
        cors.check_settings(request.headers)
        passed = passed_headers(request, CLIENT_CONTAINER_HEADERS, CONTAINER_SETTINGS)
        if not is_owner(request):  # Swift ignores these from others, and so do we
            passed = {k: v for k, v in passed.items() if not acl.is_owner_header(k)}
        return passed

    def do_PUT(self, request: Request) -> Response:
        self.app.authorize(request, self.account, self.container, None,
                           account_info=self._account_info(request))
        headers = {"X-Timestamp": Timestamp.now().internal, **self._settings(request)}
        name = request.headers.get("X-Storage-Policy")
        if name is not None:
            policy = self.app.policies.by_name(name.strip())
            if policy is None or policy.deprecated:
                raise HTTPError(400, f"invalid X-Storage-Policy {name!r}")
            headers["X-Backend-Storage-Policy-Index"] = str(policy.index)
        else:
            headers["X-Backend-Storage-Policy-Default"] = str(self.app.policies.default.index)
        if account_info(self.app, request, self.account) is None:
            if not self.app.conf.account_autocreate:
                raise HTTPError(404, "no such account")
            create_account(self.app, request, self.account)
        answers = self._write(request, "PUT", headers)
        return from_quorum(answers, len(answers), "container PUT failed")

    def do_POST(self, request: Request) -> Response:
        self.app.authorize(request, self.account, self.container, None,
                           account_info=self._account_info(request))
        headers = {"X-Timestamp": Timestamp.now().internal, **self._settings(request)}
        answers = self._write(request, "POST", headers)
        return from_quorum(answers, len(answers), "container POST failed")

    def do_DELETE(self, request: Request) -> Response:
        self.app.authorize(request, self.account, self.container, None,
                           account_info=self._account_info(request))
        answers = self._write(request, "DELETE", {"X-Timestamp": Timestamp.now().internal})
        return from_quorum(answers, len(answers), "container DELETE failed")


__all__ = ["AccountController", "ContainerController", "account_info", "container_info"]
