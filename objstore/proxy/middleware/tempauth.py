"""tempauth: the built-in auth, compatible with Swift's tempauth and its clients.

    [filter:tempauth]
    token_secret = <at least 16 random bytes, the same on every proxy>
    reseller_prefix = AUTH, SERVICE
    SERVICE_require_group = service
    user_test_tester = testing .admin
    user_admin_admin = admin .admin .reseller_admin

* ``GET /auth/v1.0`` (also ``/auth/v1/...``) with ``X-Auth-User: account:user``
  and ``X-Auth-Key`` (or ``X-Storage-User``/``X-Storage-Pass``) answers
  ``X-Auth-Token``/``X-Storage-Token``, ``X-Storage-Url``
  (``<scheme>://<host>/v1/AUTH_<account>``) and ``X-Auth-Token-Expires``;
  wrong credentials are 401.
* Any other request for ``/v1/<prefix><account>...`` of one of our
  prefixes: its ``X-Auth-Token`` (and ``X-Service-Token``) become the
  request's identity, and ``environ["objstore.authorize"]`` is set to a
  callable the proxy calls once it knows the ACLs::

      status = environ["objstore.authorize"](acl.Request(...), request_environ,
                                              container_read=..., container_write=...,
                                              account_acl=...)

  It returns None to allow, or 401/403 (see ``objstore.proxy.acl.decide``),
  and sets ``environ["objstore.owner"]`` when the token owns the account.
  A prefix with ``<PREFIX>_require_group`` demands that group from one of
  the tokens (``X-Service-Token``: a service acting for a user).
* Requests for other prefixes or paths pass through untouched, for
  another auth filter to handle; so do requests a filter before this one
  has already authorized (tempurl, formpost): they carry
  ``environ["objstore.authorize_override"]`` and their own
  ``objstore.authorize``, which this filter leaves alone.

Tokens are signed, not stored (``objstore.proxy.tokens``): every worker of
every proxy with the same ``token_secret`` accepts them.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from objstore.common.config import build, option
from objstore.common.http import error_response, HTTPError, Request, Response, wsgi_to_text, WSGIApp
from objstore.proxy import acl
from objstore.proxy.pipeline import split_options
from objstore.proxy.tokens import Identity, TokenSigner
from objstore.proxy.users import User, authenticate, identity_groups, parse_users

AUTHORIZE = "objstore.authorize"
IDENTITY = "objstore.identity"
OWNER = "objstore.owner"      # set by authorize: may this token set owner headers
# set by a filter that authorized the request itself (a signature, not a token)
AUTHORIZE_OVERRIDE = "objstore.authorize_override"


@dataclasses.dataclass(frozen=True)
class TempAuthConfig:
    token_secret: str = option("", "signs tokens; at least 16 bytes, the same on every proxy")
    reseller_prefix: list[str] = option(["AUTH"], "account prefixes this auth owns")
    auth_prefix: str = option("/auth/", "where clients get tokens")
    token_life: float = option(86400.0, "seconds a token lasts", minimum=1)
    storage_url_scheme: str = option("default", "scheme of X-Storage-Url",
                                     choices=("default", "http", "https"))

    def __post_init__(self) -> None:
        if len(self.token_secret.encode("utf-8")) < 16:
            raise ValueError("token_secret must be set to at least 16 bytes")


def _prefixes(names: list[str]) -> list[str]:
    return [name if name.endswith("_") else name + "_" for name in names]


class TempAuth:
    """The WSGI filter (see the module docstring)."""

    def __init__(self, app: WSGIApp, options: Mapping[str, str], logger: logging.Logger,
                 source: str = "proxy config") -> None:
        self.app = app
        self.logger = logger
        own, shared, section = split_options(options, "filter:tempauth")

        def plain(values: Mapping[str, str]) -> dict[str, str]:
            return {k: v for k, v in values.items()
                    if not k.lower().startswith(("user_", "user64_"))
                    and not k.lower().endswith("_require_group")}
        self.conf, warnings = build(TempAuthConfig, plain(own), shared=plain(shared),
                                    source=source, section=section)
        for warning in warnings:
            logger.warning(warning)
        self.users = parse_users(options)
        self.prefixes = _prefixes(self.conf.reseller_prefix)
        groups = {k.lower(): v.strip() for k, v in options.items()
                  if k.lower().endswith("_require_group")}
        self.required = {prefix: groups[f"{prefix[:-1].lower()}_require_group"]
                         for prefix in self.prefixes
                         if f"{prefix[:-1].lower()}_require_group" in groups}
        self.signer = TokenSigner(self.conf.token_secret)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        try:
            if path.startswith(self.conf.auth_prefix):
                return self._get_token(Request(environ))(environ, start_response)
            account = self._our_account(path)
            if account is not None and not environ.get(AUTHORIZE_OVERRIDE):
                self._attach(environ, account)
        except HTTPError as err:
            return error_response(err.status, err.reason, err.headers)(environ, start_response)
        return self.app(environ, start_response)

    def _our_account(self, path: str) -> str | None:
        parts = path.split("/", 3)
        if len(parts) < 3 or parts[1] != "v1":
            return None
        account = wsgi_to_text(parts[2])
        return account if any(account.startswith(p) for p in self.prefixes) else None

    # -- tokens out ------------------------------------------------------------

    def _get_token(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            raise HTTPError(405, "use GET to get a token", {"Allow": "GET, HEAD"})
        login = request.headers.get("X-Auth-User") or request.headers.get("X-Storage-User")
        key = request.headers.get("X-Auth-Key") or request.headers.get("X-Storage-Pass")
        if not login or key is None:
            raise HTTPError(401, "X-Auth-User and X-Auth-Key are required")
        user = authenticate(self.users, login, key)
        if user is None:
            self.logger.info("refused a token to %r", login)
            raise HTTPError(401, "wrong user or key")
        token, identity = self.signer.issue(user.account, user.user, user.groups,
                                            self.conf.token_life)
        headers = {"X-Auth-Token": token, "X-Storage-Token": token,
                   "X-Storage-Url": self._storage_url(request, user),
                   "X-Auth-Token-Expires": str(int(self.conf.token_life))}
        return Response(status=200, headers=headers, body=b"", content_type=None,
                        charset=None)

    def _storage_url(self, request: Request, user: User) -> str:
        scheme = request.scheme if self.conf.storage_url_scheme == "default" \
            else self.conf.storage_url_scheme
        return f"{scheme}://{request.host}/v1/{self.prefixes[0]}{user.account}"

    # -- tokens in -------------------------------------------------------------

    def _identity(self, environ: dict[str, Any], header: str) -> Identity | None:
        token = environ.get("HTTP_" + header.upper().replace("-", "_"))
        return self.signer.verify(token) if token else None

    def _attach(self, environ: dict[str, Any], account: str) -> None:
        user = self._identity(environ, "X-Auth-Token") or \
            self._identity(environ, "X-Storage-Token")
        service = self._identity(environ, "X-Service-Token")
        prefix = next(p for p in self.prefixes if account.startswith(p))
        groups = None if user is None else identity_groups(user, prefix)
        required = self.required.get(prefix)
        if required is not None and groups is not None:
            service_groups = set(service.groups) if service else set()
            if required not in groups and required not in service_groups:
                groups = set()  # a token, but for this prefix not enough of one
        environ[IDENTITY] = user
        reseller_admin = user is not None and ".reseller_admin" in user.groups

        def authorize(target: acl.Request, request_environ: dict[str, Any] | None = None,
                      **acls: Any) -> int | None:
            # a subrequest (a copy's GET or PUT) has an environ of its own
            status = acl.decide(target, groups, reseller_admin=reseller_admin, **acls)
            (environ if request_environ is None else request_environ)[OWNER] = \
                status is None and acl.is_owner(target.account, groups, reseller_admin,
                                                acls.get("account_acl"))
            return status
        environ[AUTHORIZE] = authorize


def filter_factory(options: Mapping[str, str], logger: logging.Logger,
                   source: str = "proxy config") -> Callable[[WSGIApp], TempAuth]:
    """The pipeline's way in: options of ``[filter:tempauth]`` from ``source``."""
    return lambda app: TempAuth(app, options, logger, source)
