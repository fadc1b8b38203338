"""staticweb: a container served as a web site.

    swift post -r '.r:*,.rlistings' site            anyone may read (and list)
    swift post -m 'web-index:index.html' site       X-Container-Meta-Web-Index
    swift post -m 'web-listings:true' site          X-Container-Meta-Web-Listings
    swift post -m 'web-listings-css:style.css' site X-Container-Meta-Web-Listings-CSS
    swift post -m 'web-listings-label:example.com' site
    swift post -m 'web-error:error.html' site       X-Container-Meta-Web-Error
    swift post -m 'web-directory-type:text/directory' site

Which requests: a GET or HEAD of a container or an object in it, sent
without a token (or with ``X-Web-Mode: true``), when the client may read
the container's objects (the ACLs, judged as the proxy judges them: for
a client without a token, ``.r:*`` or a rule its Referer meets) and the
container has a Web-Index or Web-Listings (for objects, Web-Error is
enough). Everything else passes untouched: a private container answers
a stranger with its usual 401 or 403, never a page, a listing, a
redirect or a word on whether it is a site. ``X-Web-Mode: true`` for a
container that is no site is 404.

* ``/c`` is 301 to ``/c/``; ``/c/`` is the index object (``c/index.html``)
  when it exists, else a listing, else 404.
* An object that exists is served as it is, unless it is a directory
  marker (at most one byte of Web-Directory-Type, by default
  ``application/directory``), which counts as missing. For a missing one:
  ``<path>/<index>`` when it exists (``/c/dir`` first 301 to ``/c/dir/``),
  else 301 to ``<path>/`` when anything is listed under it, else for
  ``<path>/`` a listing of that prefix, else 404.
* Listings (Web-Listings true): HTML of one page of the container's
  JSON listing (``delimiter=/``): a ``../`` row, pseudo-directories, then
  objects with size and date (``staticweb_listing``). The title is the
  path, or ``<label>/<pseudo-directory>`` with Web-Listings-Label; with
  Web-Listings-CSS the page links that style sheet. A listing is read as
  the client, so anonymous listings need ``.rlistings`` (otherwise 401).
* Errors: with Web-Error ``<suffix>``, a 404 (or a listing's 401) is
  answered with the object ``<status><suffix>`` (``404error.html``) and
  that status; when it cannot be read, with the plain error.
* Every read is a subrequest to the app below in the client's own
  environ (its token, Referer and transaction id): the proxy authorizes
  each as the client. The container's settings come from the proxy's
  cached facts of the container (``CACHED_FACTS``; a HEAD through the app
  when there are none), so a site costs no extra request to the storage
  nodes.
"""
from __future__ import annotations

import dataclasses
import http
import io
import json
import logging
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from objstore.common.config import ConfigError, build, is_true
from objstore.common.http import HTTPError, Response, WSGIApp, error_response, text_to_wsgi
from objstore.proxy import acl
from objstore.proxy.middleware.copy import Answer, call
from objstore.proxy.middleware.signed_urls import split_v1, subrequest_environ
from objstore.proxy.middleware.staticweb_listing import render
from objstore.proxy.middleware.tempauth import AUTHORIZE, IDENTITY
from objstore.proxy.pipeline import CACHED_FACTS, split_options

SECTION: Final = "filter:staticweb"
SOURCE: Final = "SW"   # Swift's name for this filter's subrequests
DIRECTORY_TYPE: Final = "application/directory"
META: Final = "x-container-meta-web-"
# What a listing or an error page is not: the client's range or conditions
# were about the page it asked for.
NOT_FOR_PAGES: Final = ("HTTP_RANGE", "HTTP_IF_")
_DROPPED: Final = ("webob.", "RAW_PATH_INFO", "REQUEST_URI", "headers_raw")


@dataclasses.dataclass(frozen=True)
class StaticWebConfig:
    """No options: the section exists so unknown options are reported."""


@dataclasses.dataclass(frozen=True)
class Site:
    """A container's web settings (its X-Container-Meta-Web-* metadata)."""

    index: str = ""
    error: str = ""
    listings: bool = False
    css: str = ""
    label: str = ""
    directory_type: str = DIRECTORY_TYPE

    @classmethod
    def of(cls, facts: Mapping[str, str]) -> Site:
        def setting(name: str) -> str:
            return _text(facts.get(META + name, "")).strip()
        return cls(setting("index"), setting("error"), is_true(setting("listings")),
                   setting("listings-css"), setting("listings-label"),
                   setting("directory-type") or DIRECTORY_TYPE)

    def serves(self, obj: str | None) -> bool:
        """Whether the container is a site for this request at all."""
        return bool(self.index or self.listings or (obj is not None and self.error))


def _text(value: str) -> str:
    """A stored header value (latin-1 code points of UTF-8 bytes) as text."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def web_mode(environ: Mapping[str, Any]) -> bool:
    """A GET or HEAD without a valid token, or one asking for web mode."""
    if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
        return False
    return is_true(environ.get("HTTP_X_WEB_MODE")) or environ.get(IDENTITY) is None


def may_read(environ: Mapping[str, Any], target: acl.Request, facts: Mapping[str, str],
             account_facts: Mapping[str, str] | None) -> bool:
    """Whether the client may read ``target`` by the container's ACLs (and
    the account's, for a token), judged by the auth filter as the proxy
    would: a site shows a stranger nothing of a container it may not read."""
    decide = environ.get(AUTHORIZE)
    if decide is None:
        return True   # no auth filter: everyone may do everything
    try:
        read = acl.parse_container_acl(facts.get("x-container-read"))
        write = acl.parse_container_acl(facts.get("x-container-write"), False)
        account_acl = acl.parse_account_acl((account_facts or {}).get(
            "x-account-access-control"))
    except ValueError:
        return False  # as the proxy: an ACL that does not parse grants nothing
    # the decision may note ownership in the environ it is given: a scratch one
    return decide(target, {}, container_read=read, container_write=write,
                  account_acl=account_acl) is None


def relay(answer: Answer, status: str | None = None) -> WSGIApp:
    """A subrequest's answer as the client's (with another status line)."""
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response(status or answer.status, answer.headers)
        return answer
    return app


def status_line(code: int) -> str:
    try:
        return f"{code} {http.HTTPStatus(code).phrase}"
    except ValueError:
        return f"{code} Error"


class Visit:
    """One web-mode request to a site: the pages it may be answered with."""

    def __init__(self, app: WSGIApp, environ: dict[str, Any], account: str, container: str,
                 site: Site) -> None:
        self.app, self.environ, self.site = app, environ, site
        self.account, self.container = account, container
        self.method = environ["REQUEST_METHOD"]
        self.base = f"/v1/{account}/{container}"

    def sub(self, path: str, query: str = "", method: str | None = None,
            for_page: bool = False) -> dict[str, Any]:
        """The client's environ for another path (text) of the container."""
        dropped = _DROPPED + NOT_FOR_PAGES if for_page else _DROPPED
        environ = {k: v for k, v in self.environ.items() if not k.startswith(dropped)}
        environ.update({"REQUEST_METHOD": method or self.method, "PATH_INFO": text_to_wsgi(path),
                        "QUERY_STRING": query, "CONTENT_LENGTH": "0",
                        "wsgi.input": io.BytesIO(b""), "objstore.source": SOURCE})
        return environ

    def redirect(self) -> Response:
        """301 to the client's path with a slash at the end."""
        path = self.environ.get("PATH_INFO", "").encode("latin-1")
        response = Response(status=301, body=b"", content_type=None, charset=None)
        del response.headers["Content-Type"]   # webob's default: there is no body to type
        response.location = urllib.parse.quote(path) + "/"
        return response

    # -- containers and objects --------------------------------------------

    def container_page(self) -> WSGIApp:
        if not self.environ.get("PATH_INFO", "").endswith("/"):
            return self.redirect()
        if not self.site.index:
            return self.listing("")
        index = call(self.app, self.sub(f"{self.base}/{self.site.index}"))
        if index.code == 404:
            index.close()
            return self.listing("")
        if index.code >= 400:
            return self.failed(index)
        return relay(index)

    def object_page(self, obj: str) -> WSGIApp:
        got = call(self.app, self.environ)
        if got.code < 400 and not self.is_directory_marker(got):
            return relay(got)
        if 400 <= got.code and got.code != 404:
            return relay(got)   # only a missing page is the site's business
        got.close()
        if not self.site.index and not self.site.listings:
            return self.error(404)   # a site of error pages only
        directory = obj if obj.endswith("/") else obj + "/"
        if self.site.index:
            index = call(self.app, self.sub(f"{self.base}/{directory}{self.site.index}"))
            if index.code < 400:
                if not obj.endswith("/"):
                    index.close()
                    return self.redirect()
                return relay(index)
            if index.code != 404:
                return self.failed(index)
            index.close()
        if not obj.endswith("/"):
            return self.redirect() if self.has_entries(directory) else self.error(404)
        return self.listing(obj)

    def is_directory_marker(self, got: Answer) -> bool:
        kind = (got.header("Content-Type") or "").split(";", 1)[0].strip().lower()
        length = (got.header("Content-Length") or "0").strip()
        return kind == self.site.directory_type.lower() and length in ("0", "1")

    # -- listings ----------------------------------------------------------------

    def _list(self, prefix: str, limit: int | None = None) -> tuple[Answer, list[Any] | None]:
        query = {"format": "json", "delimiter": "/", "prefix": prefix}
        if limit is not None:
            query["limit"] = str(limit)
        answer = call(self.app, self.sub(self.base, urllib.parse.urlencode(query), "GET",
                                         for_page=True))
        if not 200 <= answer.code < 300:
            return answer, None
        try:
            body = b"".join(answer.body)
            items = json.loads(body) if body.strip() else []   # 204: nothing listed
        except ValueError:
            items = None
        finally:
            answer.close()
        if not isinstance(items, list):
            raise HTTPError(503, "the container's listing could not be read")
        return answer, items

    def has_entries(self, prefix: str) -> bool:
        answer, items = self._list(prefix, limit=1)
        if items is None:
            answer.close()
        return bool(items)

    def listing(self, prefix: str) -> WSGIApp:
        if not self.site.listings:
            return self.error(404)
        answer, items = self._list(prefix)
        if items is None:
            return self.failed(answer)
        if not items and prefix:
            return self.error(404)
        if self.site.label:
            title = f"{self.site.label}/{prefix}"
        else:
            title = _text(self.environ.get("PATH_INFO", ""))
        return Response(status=200, body=render(items, title, prefix, self.site.css),
                        content_type="text/html", charset="UTF-8")

    # -- errors --------------------------------------------------------------------

    def failed(self, answer: Answer) -> WSGIApp:
        """A subrequest's error, with the site's page for it when there is one."""
        reason = answer.read_error().decode("utf-8", "replace").strip()
        return self.error(answer.code, reason)

    def error(self, code: int, reason: str = "") -> WSGIApp:
        if self.site.error and code in (401, 404):
            page = call(self.app, self.sub(f"{self.base}/{code}{self.site.error}",
                                           for_page=True))
            if 200 <= page.code < 300:
                return relay(page, status_line(code))
            page.close()
        return error_response(code, reason or ("not found" if code == 404 else ""))


class StaticWeb:
    """The WSGI filter (see the module docstring)."""

    def __init__(self, app: WSGIApp, logger: logging.Logger) -> None:
        self.app, self.logger = app, logger

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        path = split_v1(environ.get("PATH_INFO", ""))
        if path is None or path[1] is None or not web_mode(environ):
            return self.app(environ, start_response)
        account, container, obj = path[0], path[1], path[2]
        try:
            page = self.page(environ, account, container, obj)
        except HTTPError as err:
            page = error_response(err.status, err.reason, err.headers)
        return (page or self.app)(environ, start_response)

    def page(self, environ: dict[str, Any], account: str, container: str, obj: str | None
             ) -> WSGIApp | None:
        """What answers a web-mode request; None for the app's usual answer."""
        facts = self.facts(environ, f"/v1/{account}/{container}")
        if facts is None:
            return None
        site = Site.of(facts)
        # only a token's groups can meet the account's ACL
        account_facts = None if environ.get(IDENTITY) is None else \
            self.facts(environ, f"/v1/{account}")
        target = acl.Request("GET", account, container, obj or site.index,
                             environ.get("HTTP_REFERER"))
        if not may_read(environ, target, facts, account_facts):
            return None
        if not site.serves(obj):
            if obj is None and is_true(environ.get("HTTP_X_WEB_MODE")):
                return error_response(404, "this container is not a web site")
            return None
        visit = Visit(self.app, environ, account, container, site)
        return visit.container_page() if obj is None else visit.object_page(obj)

    def facts(self, environ: dict[str, Any], path: str) -> dict[str, str] | None:
        """An account's or container's HEAD headers (lower-case names), None
        if it is missing; the proxy's cached copy when it offers one."""
        cached = environ.get(CACHED_FACTS)
        if cached is not None:
            found: dict[str, str] | None = cached(environ, path)
            return found
        answer = call(self.app, subrequest_environ(environ, "HEAD", path, SOURCE))
        answer.close()
        if not 200 <= answer.code < 300:
            return None
        return {name.lower(): value for name, value in answer.headers}


def filter_factory(options: Mapping[str, str], logger: logging.Logger,
                   source: str = "proxy config") -> Callable[[WSGIApp], StaticWeb]:
    """The pipeline's way in: ``[filter:staticweb]`` takes no options."""
    own, shared, section = split_options(options, SECTION)
    try:
        _, warnings = build(StaticWebConfig, own, shared=shared,
                            source=source or "proxy config", section=section)
    except ConfigError as err:
        raise ValueError(str(err)) from None
    for warning in warnings:
        logger.warning(warning)
    return lambda app: StaticWeb(app, logger)
