"""What account_quotas and container_quotas share.

* Facts: an account's or container's HEAD answer. First as the proxy
  caches it (``CACHED_FACTS``): most have no quota, and then that is all
  an upload costs. One with a quota is read again, fresh, through the app
  below as the proxy itself (no token: a client that may only write must
  still be held to the quota), so its usage is current. A missing one has
  no quota; one that cannot be read is let through with a warning, as
  Swift does.
* Quota values: a client's must be a whole number of bytes or objects, or
  empty to remove it (400 otherwise); a stored one that is not a number
  is no quota.
* An upload over a quota is 413 with a reason, but only once the client
  may write there at all: otherwise its 401 or 403, so a quota tells a
  stranger nothing. A chunked upload's length is known only at its end:
  its body is counted as the proxy reads it and cut off with 413 (no
  replica commits a body that did not end) once it passes the room left.
"""
from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, Final, NoReturn

from objstore.common.config import ConfigError, build
from objstore.common.http import HTTPError, WSGIApp
from objstore.proxy import acl
from objstore.proxy.middleware.copy import Path, call
from objstore.proxy.middleware.signed_urls import subrequest_environ
from objstore.proxy.middleware.tempauth import AUTHORIZE
from objstore.proxy.pipeline import CACHED_FACTS, split_options

Facts = dict[str, str]  # lower-case header name -> value
EXCEEDED: Final = "Upload exceeds quota"  # Swift's words, which clients may look for
_WHOLE: Final = re.compile(r"[0-9]+")
# Whose presence in cached facts means: read them fresh.
QUOTA_HEADERS: Final = ("x-account-meta-quota-bytes", "x-container-meta-quota-bytes",
                        "x-container-meta-quota-count")


@dataclasses.dataclass(frozen=True)
class QuotaFilterConfig:
    """No options: the section exists so unknown options are reported."""


def warn_of_options(options: Mapping[str, str], section: str, source: str,
                    logger: logging.Logger) -> None:
    """A quota filter's section: any option of its own is unknown (a warning)."""
    own, shared, name = split_options(options, section)
    try:
        _, warnings = build(QuotaFilterConfig, own, shared=shared,
                            source=source or "proxy config", section=name)
    except ConfigError as err:
        raise ValueError(str(err)) from None
    for warning in warnings:
        logger.warning(warning)


def check_quota_value(value: str, header: str) -> None:
    """400 unless a client's quota is a whole number, or empty (no quota)."""
    text = value.strip()
    if text and not _WHOLE.fullmatch(text):
        raise HTTPError(400, f"{header} must be a whole number, or empty to remove the "
                             f"quota, not {value[:40]!r}")


def stored_number(facts: Facts, header: str) -> int | None:
    text = facts.get(header.lower(), "").strip()
    return int(text) if _WHOLE.fullmatch(text) else None


def read_facts(app: WSGIApp, environ: Mapping[str, Any], path: str, source: str,
               logger: logging.Logger) -> Facts | None:
    """The HEAD answer's headers of ``path`` (text, ``/v1/...``); None when
    it does not exist or could not be read."""
    cached = environ.get(CACHED_FACTS)
    if cached is not None:
        facts = cached(environ, path)
        if facts is None or not any(header in facts for header in QUOTA_HEADERS):
            return facts
    answer = call(app, subrequest_environ(environ, "HEAD", path, source))
    answer.close()
    if answer.code == 404:
        return None
    if not 200 <= answer.code < 300:
        logger.warning("quotas of %s unknown (%s): the upload is let through", path,
                       answer.status)
        return None
    return {name.lower(): value for name, value in answer.headers}


def upload_length(environ: Mapping[str, Any]) -> int | None:
    """A PUT's body length; None when chunked (or not yet known)."""
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return None
    text = (environ.get("CONTENT_LENGTH") or "").strip()
    return int(text) if _WHOLE.fullmatch(text) else None


class CappedInput:
    """A body that ends the request with 413 once more than ``room`` bytes
    have been read from it."""

    def __init__(self, source: Any, room: int, reason: str) -> None:
        self.source, self.room, self.reason = source, room, reason
        self.received = 0

    def _count(self, data: bytes) -> bytes:
        self.received += len(data)
        if self.received > self.room:
            raise HTTPError(413, self.reason)
        return data

    def read(self, size: int = -1) -> bytes:
        return self._count(self.source.read(size))

    def readline(self, size: int = -1) -> bytes:
        return self._count(self.source.readline(size))


class QuotaCheck:
    """One upload's checks against quotas (``source``: whose subrequests)."""

    def __init__(self, app: WSGIApp, environ: dict[str, Any], path: Path, source: str,
                 logger: logging.Logger) -> None:
        self.app, self.environ, self.path = app, environ, path
        self.source, self.logger = source, logger
        self._facts: dict[str, Facts | None] = {}

    def facts(self, path: str) -> Facts | None:
        if path not in self._facts:
            self._facts[path] = read_facts(self.app, self.environ, path, self.source,
                                           self.logger)
        return self._facts[path]

    @property
    def account_path(self) -> str:
        return f"/v1/{self.path[0]}"

    @property
    def container_path(self) -> str:
        return f"/v1/{self.path[0]}/{self.path[1]}"

    def bytes_within(self, quota: int, used: int, reason: str) -> None:
        """413 for an upload that takes ``used`` bytes past ``quota``; a
        chunked one is counted as it is read."""
        room = quota - used
        length = upload_length(self.environ)
        if room < 0 or length is not None and length > room:
            self.refuse(reason)
        if length is None:
            self.environ["wsgi.input"] = CappedInput(self.environ["wsgi.input"], room, reason)

    def refuse(self, reason: str) -> NoReturn:
        """413, or the 401/403 of a client that may not write here at all."""
        decide: Callable[..., int | None] | None = self.environ.get(AUTHORIZE)
        if decide is not None:
            account = self.facts(self.account_path) or {}
            container = self.facts(self.container_path) or {}
            try:
                acls = {
                    "container_read": acl.parse_container_acl(container.get("x-container-read")),
                    "container_write": acl.parse_container_acl(
                        container.get("x-container-write"), False),
                    "account_acl": acl.parse_account_acl(account.get("x-account-access-control"))}
            except ValueError:  # as the proxy: an ACL that does not parse grants nothing
                acls = {}
            status = decide(acl.Request("PUT", *self.path, self.environ.get("HTTP_REFERER")),
                            self.environ, **acls)
            if status:
                raise HTTPError(status, "a valid token is required" if status == 401
                                else "this token may not do that")
        raise HTTPError(413, reason)
