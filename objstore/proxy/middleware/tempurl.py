"""tempurl: time-limited access to objects without a token, as in Swift.

    GET /v1/AUTH_a/c/o?temp_url_sig=<sig>&temp_url_expires=<time>
        [&temp_url_prefix=<prefix>] [&temp_url_ip_range=<ip or network>]
        [&filename=<name>] [&inline]

The signature is an HMAC (sha1, sha256 or sha512, as ``allowed_digests``
allows; see ``signed_urls``) with one of the account's or the
container's temp URL keys of::

    [ip=<range>\\n]<METHOD>\\n<expires as Unix time>\\n<path>

where ``<path>`` is the object's unquoted path, or ``prefix:/v1/a/c/<prefix>``
for a URL good for every object under ``temp_url_prefix``. The request
method must be the signed one, except that a HEAD may use a GET, PUT or
POST signature; ``methods`` says which methods temp URLs may be used
for. ``temp_url_expires`` is a Unix time or ``YYYY-MM-DDThh:mm:ssZ``.

* Anything wrong with the URL is 401 with the reason: expired, not
  signed right, a method not allowed, a path outside the prefix, a
  client outside the IP range, a request for something not an object.
* An allowed request goes on with the grant of its key (its account, or
  its container for a container key) instead of a token; the auth filter
  after this one leaves it alone. It never counts as the owner: owner-only
  headers (ACLs, keys) are dropped, as are ``incoming_remove_headers``
  (less ``incoming_allow_headers``). A PUT or POST may not set
  ``X-Object-Manifest`` (it would reach objects the URL was not signed
  for) and a PUT may not copy (``X-Copy-From``): 400.
* Responses lose ``outgoing_remove_headers`` (less ``outgoing_allow_headers``:
  by default only ``X-Object-Meta-Public-*`` of the metadata is shown).
  A successful GET or HEAD gets ``Content-Disposition``: ``inline`` with
  ``inline``, an attachment named by ``filename``, else the object's own,
  else an attachment named after the object.
* ``GET /info`` shows the methods, header rules and digests under ``tempurl``.
"""
from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import logging
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from objstore.common.config import ConfigError, build, option
from objstore.common.http import error_response, HTTPError, WSGIApp
from objstore.proxy import acl
from objstore.proxy.middleware.signed_urls import (
    check_digests, check_signature, digests_info, Grant, info_with, is_info, KeyStore, split_v1,
)
from objstore.proxy.pipeline import split_options

SECTION = "filter:tempurl"
METHODS: Final = ("GET", "HEAD", "PUT", "POST", "DELETE")
HEAD_SIGNED_AS: Final = ("HEAD", "GET", "PUT", "POST")
PARAMETERS: Final = ("temp_url_sig", "temp_url_expires", "temp_url_prefix",
                     "temp_url_ip_range", "filename", "inline")
ISO8601: Final = "%Y-%m-%dT%H:%M:%SZ"


@dataclasses.dataclass(frozen=True)
class TempURLConfig:
    methods: list[str] = option(list(METHODS), "methods temp URLs may be used for")
    allowed_digests: list[str] = option(["sha1", "sha256", "sha512"],
                                        "HMAC digests a signature may use")
    incoming_remove_headers: list[str] = option(
        ["x-timestamp", "x-open-expired"],
        "request headers a temp URL may not send (a trailing * matches a prefix)")
    incoming_allow_headers: list[str] = option([], "exceptions to incoming_remove_headers")
    outgoing_remove_headers: list[str] = option(
        ["x-object-meta-*"], "response headers a temp URL does not see")
    outgoing_allow_headers: list[str] = option(["x-object-meta-public-*"],
                                               "exceptions to outgoing_remove_headers")
    key_cache_time: float = option(60.0, "seconds account and container keys are cached",
                                   minimum=0)

    def __post_init__(self) -> None:
        unknown = [m for m in self.methods if m.upper() not in METHODS]
        if unknown or not self.methods:
            raise ValueError("methods must name some of " + " ".join(METHODS))
        check_digests(self.allowed_digests)


def load_config(options: Mapping[str, str], source: str = "proxy config"
                ) -> tuple[TempURLConfig, list[str]]:
    """The typed options and warnings; a bad value is a ValueError."""
    own, shared, section = split_options(options, SECTION)
    try:
        return build(TempURLConfig, own, shared=shared, source=source, section=section)
    except ConfigError as err:
        # the pipeline names the file and the section; keep what is wrong
        raise ValueError(str(err).removeprefix(f"{source} [{section}]").lstrip(": ")) from None


# -- the URL ------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class TempURLQuery:
    signature: str
    expires: int
    prefix: str | None = None
    ip_range: str | None = None
    filename: str | None = None
    inline: bool = False


def parse_expires(text: str) -> int:
    """A Unix time or an ISO 8601 UTC time; ValueError otherwise."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.datetime.strptime(text, ISO8601)
    except ValueError:
        raise ValueError("temp_url_expires must be a Unix time or "
                         "YYYY-MM-DDThh:mm:ssZ") from None
    return int(moment.replace(tzinfo=datetime.timezone.utc).timestamp())


def parse_query(query_string: str) -> TempURLQuery | None:
    """The temp URL in a query string; None if there is none; 401 if it is
    not one that can be checked (400 for a parameter that is not UTF-8)."""
    raw = {name: value for name, value in urllib.parse.parse_qsl(
        query_string, keep_blank_values=True, encoding="latin-1") if name in PARAMETERS}
    if "temp_url_sig" not in raw and "temp_url_expires" not in raw:
        return None
    values = {}
    for name, value in raw.items():
        try:
            values[name] = value.encode("latin-1").decode("utf-8")
        except UnicodeDecodeError:
            raise HTTPError(400, f"{name!r} parameter is not valid UTF-8") from None
    if not values.get("temp_url_sig") or not values.get("temp_url_expires"):
        raise HTTPError(401, "a temp URL needs both temp_url_sig and temp_url_expires")
    try:
        expires = parse_expires(values["temp_url_expires"])
    except ValueError as err:
        raise HTTPError(401, str(err)) from None
    return TempURLQuery(values["temp_url_sig"], expires, values.get("temp_url_prefix"),
                        values.get("temp_url_ip_range"), values.get("filename"),
                        "inline" in values)


def signed_messages(method: str, query: TempURLQuery, account: str, container: str,
                    obj: str) -> list[str]:
    """What a valid signature may be the HMAC of, for a request ``method``."""
    if query.prefix is None:
        path = f"/v1/{account}/{container}/{obj}"
    else:
        path = f"prefix:/v1/{account}/{container}/{query.prefix}"
    ip = "" if query.ip_range is None else f"ip={query.ip_range}\n"
    methods = HEAD_SIGNED_AS if method == "HEAD" else (method,)
    return [f"{ip}{signed}\n{query.expires}\n{path}" for signed in methods]


def without_parameters(query_string: str) -> str:
    """The query string without this filter's parameters (and the signature
    with them), for the app below."""
    kept = [pair for pair in query_string.split("&")
            if pair and urllib.parse.unquote_plus(pair.split("=", 1)[0]) not in PARAMETERS]
    return "&".join(kept)


def in_range(remote: str | None, ip_range: str) -> bool:
    try:
        network = ipaddress.ip_network(ip_range.strip(), strict=False)
    except ValueError:
        raise HTTPError(401, "temp_url_ip_range is not an IP address or network") from None
    try:
        return remote is not None and ipaddress.ip_address(remote) in network
    except ValueError:
        return False


# -- headers ------------------------------------------------------------------------

class HeaderRule:
    """Names to remove unless allowed; ``name*`` matches a prefix."""

    def __init__(self, remove: Iterable[str], allow: Iterable[str]) -> None:
        self.remove = [name.lower() for name in remove]
        self.allow = [name.lower() for name in allow]

    @staticmethod
    def _matches(name: str, patterns: list[str]) -> bool:
        return any(name.startswith(p[:-1]) if p.endswith("*") else name == p
                   for p in patterns)

    def drops(self, name: str) -> bool:
        name = name.lower()
        return self._matches(name, self.remove) and not self._matches(name, self.allow)


def _quoted(name: str) -> str:
    # a quoted-string keeps printable ASCII; '"', '\\', '%' and the rest are %-escaped
    return urllib.parse.quote(name, safe=" !#$&'()*+,-./:;<=>?@[]^_`{|}~")


def disposition(kind: str, filename: str | None) -> str:
    if filename is None:
        return kind
    return (f'{kind}; filename="{_quoted(filename)}"; '
            f"filename*=UTF-8''{urllib.parse.quote(filename, safe='')}")


def content_disposition(query: TempURLQuery, existing: str | None, obj: str) -> str:
    if query.inline:
        return disposition("inline", query.filename)
    if query.filename is not None:
        return disposition("attachment", query.filename)
    if existing:
        return existing
    return disposition("attachment", obj.rstrip("/").rsplit("/", 1)[-1])


# -- the filter -----------------------------------------------------------------------

class TempURL:
    def __init__(self, app: WSGIApp, conf: TempURLConfig, logger: logging.Logger) -> None:
        self.app = app
        self.conf = conf
        self.logger = logger
        self.methods = frozenset(m.upper() for m in conf.methods)
        self.incoming = HeaderRule(conf.incoming_remove_headers, conf.incoming_allow_headers)
        self.outgoing = HeaderRule(conf.outgoing_remove_headers, conf.outgoing_allow_headers)
        self.keys = KeyStore(app, conf.key_cache_time, "TU")
        self.info = {"methods": sorted(self.methods),
                     "incoming_remove_headers": conf.incoming_remove_headers,
                     "incoming_allow_headers": conf.incoming_allow_headers,
                     "outgoing_remove_headers": conf.outgoing_remove_headers,
                     "outgoing_allow_headers": conf.outgoing_allow_headers,
                     **digests_info(check_digests(conf.allowed_digests))}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        if is_info(environ):
            return info_with(self.app, environ, start_response, "tempurl", self.info)
        start_response = self.keys.observe(environ, start_response)
        try:
            query = parse_query(environ.get("QUERY_STRING", ""))
            if query is None or environ.get("REQUEST_METHOD") == "OPTIONS":
                return self.app(environ, start_response)
            obj = self.authorize(environ, query)
        except HTTPError as err:
            return error_response(err.status, err.reason, err.headers)(environ, start_response)
        return self.app(environ, self._responder(environ["REQUEST_METHOD"], query, obj,
                                                 start_response))

    def authorize(self, environ: dict[str, Any], query: TempURLQuery) -> str:
        """Check the URL and hand the request over to its grant; the object's name."""
        path = split_v1(environ.get("PATH_INFO", ""))
        if path is None or path[2] is None:
            raise HTTPError(401, "temp URLs are for objects: /v1/<account>/<container>/<object>")
        account, container, obj = path
        assert container is not None and obj is not None
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in self.methods:
            raise HTTPError(401, f"temp URLs may not be used to {method}")
        if query.expires < time.time():
            raise HTTPError(401, "the temp URL expired")
        if query.prefix is not None and not obj.startswith(query.prefix):
            raise HTTPError(401, "the object is not under the temp URL's prefix")
        if query.ip_range is not None and not in_range(environ.get("REMOTE_ADDR"),
                                                       query.ip_range):
            raise HTTPError(401, "the temp URL is not for this client's address")
        scope = check_signature(self.keys, environ, account, container,
                                signed_messages(method, query, account, container, obj),
                                query.signature, self.conf.allowed_digests)
        self._check_headers(environ, method)
        self._clean_incoming(environ)
        Grant(account, scope).hand_over(environ)
        environ["QUERY_STRING"] = without_parameters(environ.get("QUERY_STRING", ""))
        return obj

    @staticmethod
    def _check_headers(environ: Mapping[str, Any], method: str) -> None:
        if method in ("PUT", "POST") and "HTTP_X_OBJECT_MANIFEST" in environ:
            raise HTTPError(400, "X-Object-Manifest may not be set through a temp URL")
        if "HTTP_X_COPY_FROM" in environ or "HTTP_X_COPY_FROM_ACCOUNT" in environ:
            raise HTTPError(400, "a temp URL cannot copy: X-Copy-From is not allowed")

    def _clean_incoming(self, environ: dict[str, Any]) -> None:
        for key in [k for k in environ if k.startswith("HTTP_")]:
            name = key[5:].replace("_", "-").lower()
            if self.incoming.drops(name) or acl.is_owner_header(name):
                del environ[key]

    def _responder(self, method: str, query: TempURLQuery, obj: str,
                   start_response: Callable[..., Any]) -> Callable[..., Any]:
        def start(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            kept = [(k, v) for k, v in headers if not self.outgoing.drops(k)]
            if method in ("GET", "HEAD") and status.startswith("2"):
                existing = next((v for k, v in kept if k.lower() == "content-disposition"),
                                None)
                kept = [(k, v) for k, v in kept if k.lower() != "content-disposition"]
                kept.append(("Content-Disposition", content_disposition(query, existing, obj)))
            return start_response(status, kept, *exc_info)
        return start


def filter_factory(options: Mapping[str, str], logger: logging.Logger,
                   source: str = "proxy config") -> Callable[[WSGIApp], TempURL]:
    """The pipeline's way in: options of ``[filter:tempurl]`` from ``source``."""
    conf, warnings = load_config(options, source or "proxy config")
    for warning in warnings:
        logger.warning(warning)
    return lambda app: TempURL(app, conf, logger)
