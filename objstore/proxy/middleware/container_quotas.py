"""container_quotas: caps on the bytes and the objects a container holds.

    POST /v1/AUTH_a/c   X-Container-Meta-Quota-Bytes: 10000
    POST /v1/AUTH_a/c   X-Container-Meta-Quota-Count: 100

* The quotas are container metadata, set by whoever may set the
  container's metadata; each must be a whole number (400 otherwise, on a
  container PUT or POST), empty removes it.
* An object PUT (a copy's too: the copy filter writes with a PUT) is 413
  "Upload exceeds quota" when the container would then hold more bytes
  than ``Quota-Bytes`` or more objects than ``Quota-Count``, once the
  client may write there (``quotas.QuotaCheck``). A chunked upload is cut
  off with 413 once it passes the room left. As in Swift, an overwrite
  counts as a new object of all new bytes, and the counts are the
  container's as its HEAD reports them.
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

SECTION: Final = "filter:container_quotas"
QUOTA_BYTES: Final = "X-Container-Meta-Quota-Bytes"
QUOTA_COUNT: Final = "X-Container-Meta-Quota-Count"
SOURCE: Final = "CQ"  # Swift's name for this filter's subrequests


def check_quota_settings(environ: Mapping[str, Any]) -> None:
    for header in (QUOTA_BYTES, QUOTA_COUNT):
        value = environ.get("HTTP_" + header.upper().replace("-", "_"))
        if value is not None:
            check_quota_value(value, header)


class ContainerQuotas:
    """The WSGI filter (see the module docstring)."""

    def __init__(self, app: WSGIApp, logger: logging.Logger) -> None:
        self.app, self.logger = app, logger

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        path = split_v1(environ.get("PATH_INFO", ""))
        try:
            if path is not None and path[1] is not None and path[2] is None \
                    and method in ("POST", "PUT"):
                check_quota_settings(environ)
            elif path is not None and path[1] is not None and path[2] is not None \
                    and method == "PUT":
                self.check_upload(environ, (path[0], path[1], path[2]))
        except HTTPError as err:
            return error_response(err.status, err.reason, err.headers)(environ, start_response)
        return self.app(environ, start_response)

    def check_upload(self, environ: dict[str, Any], path: tuple[str, str, str]) -> None:
        check = QuotaCheck(self.app, environ, path, SOURCE, self.logger)
        facts = check.facts(check.container_path)
        if facts is None:
            return
        count_quota = stored_number(facts, QUOTA_COUNT)
        if count_quota is not None:
            count = stored_number(facts, "X-Container-Object-Count") or 0
            if count + 1 > count_quota:
                check.refuse(f"{EXCEEDED}: the container's quota is {count_quota} objects "
                             f"and it holds {count}")
        bytes_quota = stored_number(facts, QUOTA_BYTES)
        if bytes_quota is not None:
            used = stored_number(facts, "X-Container-Bytes-Used") or 0
            check.bytes_within(bytes_quota, used, f"{EXCEEDED}: the container's quota is "
                                                  f"{bytes_quota} bytes and {used} are in use")


def filter_factory(options: Mapping[str, str], logger: logging.Logger,
                   source: str = "proxy config") -> Callable[[WSGIApp], ContainerQuotas]:
    """The pipeline's way in: ``[filter:container_quotas]`` takes no options."""
    warn_of_options(options, SECTION, source, logger)
    return lambda app: ContainerQuotas(app, logger)
