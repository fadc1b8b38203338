"""account_quotas: a cap on the bytes an account holds, set by a reseller admin.

    POST /v1/AUTH_a   X-Account-Meta-Quota-Bytes: 10000000     (a reseller admin)
    POST /v1/AUTH_a   X-Remove-Account-Meta-Quota-Bytes: x     (a reseller admin)

* Only a reseller admin (a token of the ``.reseller_admin`` group) may set
  or remove the quota, on POST or on an account PUT: anyone else is 403
  (401 without a token). With no auth filter on the request there is no
  one to ask, and the proxy lets anyone manage the account anyway. A
  quota must be a whole number of bytes (400 otherwise); empty removes it.
* An object PUT (a copy's too: the copy filter writes with a PUT) that
  would take the account's bytes past its quota is 413 "Upload exceeds
  quota", once the client may write there (``quotas.QuotaCheck``); an
  account already over its quota takes no more, not even empty objects.
  A chunked upload is cut off with 413 once it passes the room left.
* The bytes used are the account's as its HEAD reports them, which trail
  the writes by a moment (container servers report to accounts in
  batches), so a quick series of uploads may pass a quota a little, as
  in Swift. An overwrite counts its new bytes as if they were all new.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from objstore.common.http import HTTPError, WSGIApp, error_response
from objstore.proxy.middleware.quotas import (
    EXCEEDED, QuotaCheck, check_quota_value, stored_number, warn_of_options,
)
from objstore.proxy.middleware.signed_urls import split_v1
from objstore.proxy.middleware.tempauth import AUTHORIZE, IDENTITY

SECTION: Final = "filter:account_quotas"
QUOTA: Final = "X-Account-Meta-Quota-Bytes"
SOURCE: Final = "AQ"  # Swift's name for this filter's subrequests


def check_quota_setting(environ: Mapping[str, Any]) -> None:
    """403 (401) for a quota set by other than a reseller admin; 400 for a bad one."""
    value = environ.get("HTTP_X_ACCOUNT_META_QUOTA_BYTES")
    if value is None and "HTTP_X_REMOVE_ACCOUNT_META_QUOTA_BYTES" not in environ:
        return
    if AUTHORIZE in environ:
        identity = environ.get(IDENTITY)
        if identity is None:
            raise HTTPError(401, "a reseller admin's token is required to set an account's "
                                 "quota")
        if ".reseller_admin" not in identity.groups:
            raise HTTPError(403, "only a reseller admin may set or remove an account's quota")
    if value is not None:
        check_quota_value(value, QUOTA)


class AccountQuotas:
    """The WSGI filter (see the module docstring)."""

    def __init__(self, app: WSGIApp, logger: logging.Logger) -> None:
        self.app, self.logger = app, logger

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        path = split_v1(environ.get("PATH_INFO", ""))
        try:
            if path is not None and path[1] is None and method in ("POST", "PUT"):
                check_quota_setting(environ)
            elif path is not None and path[2] is not None and method == "PUT":
                self.check_upload(environ, (path[0], path[1] or "", path[2]))
        except HTTPError as err:
            return error_response(err.status, err.reason, err.headers)(environ, start_response)
        return self.app(environ, start_response)

    def check_upload(self, environ: dict[str, Any], path: tuple[str, str, str]) -> None:
        check = QuotaCheck(self.app, environ, path, SOURCE, self.logger)
        facts = check.facts(check.account_path)
        quota = None if facts is None else stored_number(facts, QUOTA)
        if facts is None or quota is None:
            return
        used = stored_number(facts, "X-Account-Bytes-Used") or 0
        check.bytes_within(quota, used, f"{EXCEEDED}: the account's quota is {quota} bytes "
                                        f"and {used} are in use")


def filter_factory(options: Mapping[str, str], logger: logging.Logger,
                   source: str = "proxy config") -> Callable[[WSGIApp], AccountQuotas]:
    """The pipeline's way in: ``[filter:account_quotas]`` takes no options."""
    warn_of_options(options, SECTION, source, logger)
    return lambda app: AccountQuotas(app, logger)
