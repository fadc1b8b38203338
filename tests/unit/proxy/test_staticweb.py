"""staticweb over a stand-in proxy: which requests are web requests, index
pages, redirects, listings, error pages, directory markers, and that a
private container is never a site to a stranger; the listing page."""
from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from objstore.common.http import Request
from objstore.proxy import acl
from objstore.proxy.middleware.staticweb import (
    Site, filter_factory, web_mode,
)
from objstore.proxy.middleware.staticweb_listing import css_href, human_size, render
from objstore.proxy.middleware.tempauth import AUTHORIZE, IDENTITY

LOG = logging.getLogger("test.staticweb")
SITE = "/v1/AUTH_test/site"


class StandInProxy:
    """Containers (their HEAD headers) and objects (type, body); listings in
    JSON with prefix, delimiter and limit; every request authorized as the
    proxy does, with the environ's ``objstore.authorize``."""

    def __init__(self) -> None:
        self.containers: dict[str, dict[str, str]] = {}
        self.objects: dict[str, tuple[str, bytes]] = {}
        self.seen: list[tuple[str, str, str]] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        query = environ.get("QUERY_STRING", "")
        self.seen.append((method, path, query))
        if path.count("/") < 3:
            return self.answer(start_response, "404 Not Found", b"accounts are not here\n")
        _, _, account, container, *rest = path.split("/", 4)
        container_path = f"/v1/{account}/{container}"
        obj = rest[0] if rest and rest[0] else None
        facts = self.containers.get(container_path)
        denied = self.authorize(environ, method, account, container, obj, facts or {})
        if denied:
            return self.answer(start_response, denied, b"not allowed\n")
        if facts is None:
            return self.answer(start_response, "404 Not Found", b"no such container\n")
        if obj is None and method == "HEAD":
            return self.answer(start_response, "204 No Content", b"", facts)
        if obj is None:
            return self.listing(container_path, query, start_response)
        found = self.objects.get(path)
        if found is None:
            return self.answer(start_response, "404 Not Found",
                               b"" if method == "HEAD" else b"not found\n")
        kind, body = found
        start_response("200 OK", [("Content-Type", kind), ("Content-Length", str(len(body))),
                                  ("ETag", "etag-of-" + path)])
        return [] if method == "HEAD" else [body]

    @staticmethod
    def authorize(environ: dict[str, Any], method: str, account: str, container: str,
                  obj: str | None, facts: dict[str, str]) -> str | None:
        decide = environ.get(AUTHORIZE)
        if decide is None:
            return None
        status = decide(acl.Request(method, account, container, obj,
                                    environ.get("HTTP_REFERER")), environ,
                        container_read=acl.parse_container_acl(facts.get("x-container-read")))
        return {None: None, 401: "401 Unauthorized", 403: "403 Forbidden"}[status]

    def listing(self, container_path: str, query: str, start_response: Callable[..., Any]
                ) -> list[bytes]:
        params = dict(urllib.parse.parse_qsl(query))
        prefix, limit = params.get("prefix", ""), int(params.get("limit", "10000"))
        items: list[dict[str, Any]] = []
        for path in sorted(self.objects):
            if not path.startswith(container_path + "/"):
                continue
            name = path[len(container_path) + 1:]
            if not name.startswith(prefix):
                continue
            rest = name[len(prefix):]
            if "/" in rest and params.get("delimiter") == "/":
                subdir = prefix + rest.split("/", 1)[0] + "/"
                if {"subdir": subdir} not in items:
                    items.append({"subdir": subdir})
                continue
            kind, body = self.objects[path]
            items.append({"name": name, "bytes": len(body), "content_type": kind,
                          "last_modified": "2024-05-06T07:08:09.123456", "hash": "h"})
        return self.answer(start_response, "200 OK", json.dumps(items[:limit]).encode(),
                           {"Content-Type": "application/json; charset=utf-8"})

    @staticmethod
    def answer(start_response: Callable[..., Any], status: str, body: bytes,
               headers: dict[str, str] | None = None) -> list[bytes]:
        start_response(status, [*(headers or {}).items(), ("Content-Length", str(len(body)))])
        return [body]


def as_anyone(target: acl.Request, environ: dict[str, Any] | None = None, **acls: Any
              ) -> int | None:
    return acl.decide(target, None, **acls)


def as_owner(target: acl.Request, environ: dict[str, Any] | None = None, **acls: Any
             ) -> int | None:
    return acl.decide(target, {"AUTH_test", "test:tester"}, **acls)


def as_stranger(target: acl.Request, environ: dict[str, Any] | None = None, **acls: Any
                ) -> int | None:
    return acl.decide(target, {"AUTH_other", "other:user"}, **acls)


@pytest.fixture
def proxy() -> StandInProxy:
    proxy = StandInProxy()
    proxy.containers[SITE] = {
        "x-container-read": ".r:*,.rlistings",
        "x-container-meta-web-index": "index.html",
        "x-container-meta-web-listings": "true",
        "x-container-meta-web-error": "error.html",
        "x-container-meta-web-listings-css": "style.css"}
    proxy.containers["/v1/AUTH_test/private"] = {
        "x-container-meta-web-index": "index.html",
        "x-container-meta-web-listings": "true"}
    proxy.containers["/v1/AUTH_test/plain"] = {"x-container-read": ".r:*,.rlistings"}
    proxy.containers["/v1/AUTH_test/nolist"] = {
        "x-container-read": ".r:*", "x-container-meta-web-listings": "on",
        "x-container-meta-web-error": "error.html"}
    proxy.containers["/v1/AUTH_test/errors"] = {
        "x-container-read": ".r:*,.rlistings", "x-container-meta-web-error": ".html"}
    for path, kind, body in [
            (f"{SITE}/index.html", "text/html", b"<p>home</p>"),
            (f"{SITE}/404error.html", "text/html", b"<p>lost</p>"),
            (f"{SITE}/style.css", "text/css", b"h1 {}"),
            (f"{SITE}/docs/index.html", "text/html", b"<p>docs</p>"),
            (f"{SITE}/docs/a.txt", "text/plain", b"a"),
            (f"{SITE}/files/big.bin", "application/octet-stream", b"x" * 3000),
            (f"{SITE}/files/deeper/c.txt", "text/plain", b"c"),
            (f"{SITE}/marker", "application/directory", b""),
            (f"{SITE}/marker/page.txt", "text/plain", b"p"),
            ("/v1/AUTH_test/private/index.html", "text/html", b"<p>secret</p>"),
            ("/v1/AUTH_test/nolist/401error.html", "text/html", b"<p>who are you</p>"),
            ("/v1/AUTH_test/nolist/dir/x.txt", "text/plain", b"x"),
            ("/v1/AUTH_test/errors/404.html", "text/html", b"<p>gone</p>"),
            ("/v1/AUTH_test/errors/dir/x.txt", "text/plain", b"x")]:
        proxy.objects[path] = (kind, body)
    return proxy


def get(proxy: StandInProxy, path: str, method: str = "GET", owner: bool = False,
        stranger: bool = False, **headers: str) -> Any:
    request = Request.blank(path, method=method,
                            headers={k.replace("_", "-"): v for k, v in headers.items()})
    request.environ[AUTHORIZE] = as_owner if owner else as_stranger if stranger \
        else as_anyone
    request.environ[IDENTITY] = object() if owner or stranger else None
    return request.get_response(filter_factory({}, LOG)(proxy))


def test_site_settings() -> None:
    site = Site.of({"x-container-meta-web-index": " index.html ",
                    "x-container-meta-web-listings": "yes",
                    "x-container-meta-web-listings-label": "example.com",
                    "x-container-meta-web-directory-type": "text/directory",
                    "x-container-meta-web-error": "err.html"})
    assert site == Site("index.html", "err.html", True, "", "example.com", "text/directory")
    assert Site.of({}) == Site() and Site().directory_type == "application/directory"
    assert not Site().serves(None) and not Site(error="e.html").serves(None)
    assert Site(error="e.html").serves("obj") and Site(listings=True).serves(None)


@pytest.mark.parametrize("method, identity, web, expected", [
    ("GET", None, None, True), ("HEAD", None, None, True), ("PUT", None, None, False),
    ("GET", "token", None, False), ("GET", "token", "true", True),
    ("GET", "token", "false", False), ("POST", "token", "true", False),
])
def test_web_mode(method: str, identity: str | None, web: str | None, expected: bool) -> None:
    environ = {"REQUEST_METHOD": method, IDENTITY: identity}
    if web is not None:
        environ["HTTP_X_WEB_MODE"] = web
    assert web_mode(environ) is expected


def test_index_pages_and_redirects(proxy: StandInProxy) -> None:
    response = get(proxy, SITE)
    assert response.status_int == 301
    assert response.location == "http://localhost/v1/AUTH_test/site/"
    response = get(proxy, SITE + "/")
    assert (response.status_int, response.body) == (200, b"<p>home</p>")
    assert response.content_type == "text/html"
    response = get(proxy, SITE + "/docs")
    assert response.status_int == 301 and response.location.endswith("/site/docs/")
    response = get(proxy, SITE + "/docs/")
    assert (response.status_int, response.body) == (200, b"<p>docs</p>")
    # objects themselves are served as they are, HEAD too
    assert get(proxy, SITE + "/docs/a.txt").body == b"a"
    response = get(proxy, SITE + "/docs/", "HEAD")
    assert response.status_int == 200 and response.headers["Content-Length"] == "11"


def test_listings(proxy: StandInProxy) -> None:
    response = get(proxy, SITE + "/files")   # a pseudo-directory without an index
    assert response.status_int == 301 and response.location.endswith("/site/files/")
    response = get(proxy, SITE + "/files/")
    assert response.status_int == 200 and response.content_type == "text/html"
    page = response.body.decode()
    assert "<title>Listing of /v1/AUTH_test/site/files/</title>" in page
    assert '<a href="../">../</a>' in page
    assert '<tr class="item subdir">' in page and '<a href="deeper/">deeper/</a>' in page
    assert '<tr class="item type-application type-octet-stream">' in page
    assert '<a href="big.bin">big.bin</a>' in page and ">3Ki<" in page
    assert ">2024-05-06 07:08:09<" in page
    assert '<link rel="stylesheet" type="text/css" href="../style.css" />' in page
    # the listing was read as the client, one JSON delimiter listing
    assert ("GET", SITE, "format=json&delimiter=%2F&prefix=files%2F") in proxy.seen
    # HEAD: the page's length, no body
    head = get(proxy, SITE + "/files/", "HEAD")
    assert head.status_int == 200 and head.body == b""
    assert head.headers["Content-Length"] == str(len(response.body))


def test_listing_label_and_root_listing(proxy: StandInProxy) -> None:
    proxy.containers[SITE]["x-container-meta-web-listings-label"] = "www.example.com"
    del proxy.objects[f"{SITE}/index.html"]
    page = get(proxy, SITE + "/").body.decode()
    assert "<h1 id=\"title\">Listing of www.example.com/</h1>" in page
    assert "../" not in page   # the top has no parent
    assert '<a href="docs/">docs/</a>' in page and '<a href="style.css">' in page
    page = get(proxy, SITE + "/files/deeper/").body.decode()
    assert "Listing of www.example.com/files/deeper/" in page
    assert 'href="../../style.css"' in page


def test_error_pages(proxy: StandInProxy) -> None:
    response = get(proxy, SITE + "/missing.html")
    assert (response.status_int, response.body) == (404, b"<p>lost</p>")
    assert response.content_type == "text/html"
    assert get(proxy, SITE + "/nothing/here/").status_int == 404  # an empty prefix
    del proxy.objects[f"{SITE}/404error.html"]
    response = get(proxy, SITE + "/missing.html")
    assert response.status_int == 404 and b"lost" not in response.body
    # a listing the client may not read (no .rlistings): 401 and the 401 page
    response = get(proxy, "/v1/AUTH_test/nolist/")
    assert (response.status_int, response.body) == (401, b"<p>who are you</p>")
    # ... and a pseudo-directory cannot be found out without listing it
    assert get(proxy, "/v1/AUTH_test/nolist/dir").status_int == 404
    assert get(proxy, "/v1/AUTH_test/nolist/dir/x.txt").body == b"x"


def test_a_site_of_error_pages_only(proxy: StandInProxy) -> None:
    # no index, no listings: missing objects get the page, nothing else changes
    assert get(proxy, "/v1/AUTH_test/errors/dir").body == b"<p>gone</p>"
    assert get(proxy, "/v1/AUTH_test/errors/dir/").status_int == 404
    assert get(proxy, "/v1/AUTH_test/errors/dir/x.txt").body == b"x"
    response = get(proxy, "/v1/AUTH_test/errors")
    assert response.status_int == 200 and response.content_type == "application/json"


def test_directory_markers_count_as_missing(proxy: StandInProxy) -> None:
    response = get(proxy, SITE + "/marker")
    assert response.status_int == 301 and response.location.endswith("/site/marker/")
    assert '<a href="page.txt">' in get(proxy, SITE + "/marker/").body.decode()
    proxy.containers[SITE]["x-container-meta-web-directory-type"] = "text/directory"
    response = get(proxy, SITE + "/marker")
    assert response.status_int == 200 and response.content_type == "application/directory"


def test_private_container_is_no_site_to_strangers(proxy: StandInProxy) -> None:
    for path in ("/v1/AUTH_test/private", "/v1/AUTH_test/private/",
                 "/v1/AUTH_test/private/index.html", "/v1/AUTH_test/private/missing"):
        response = get(proxy, path)
        assert response.status_int == 401, path
        assert b"secret" not in response.body and "Location" not in response.headers
    # another account's token in web mode learns no more
    for path in ("/v1/AUTH_test/private", "/v1/AUTH_test/private/"):
        response = get(proxy, path, stranger=True, X_Web_Mode="true")
        assert response.status_int == 403 and "Location" not in response.headers, path
    # its owner may ask for web mode
    response = get(proxy, "/v1/AUTH_test/private/", owner=True, X_Web_Mode="true")
    assert (response.status_int, response.body) == (200, b"<p>secret</p>")


def test_tokens_and_other_requests_pass_through(proxy: StandInProxy) -> None:
    # with a token the API is the API: a listing, not a site
    response = get(proxy, SITE, owner=True)
    assert response.status_int == 200 and response.content_type == "application/json"
    # a container that is no site, in web mode: 404
    response = get(proxy, "/v1/AUTH_test/plain/", owner=True, X_Web_Mode="true")
    assert response.status_int == 404 and b"not a web site" in response.body
    # ... and without it, anonymous: the plain listing
    assert get(proxy, "/v1/AUTH_test/plain").content_type == "application/json"
    # a container that does not exist: the app's own answer
    assert get(proxy, "/v1/AUTH_test/nowhere/").status_int == 401
    assert get(proxy, "/v1/AUTH_test/nowhere/", owner=True, X_Web_Mode="true"
               ).body == b"no such container\n"
    assert get(proxy, "/v1/AUTH_test", owner=True).status_int == 404   # accounts: untouched
    before = len(proxy.seen)
    assert get(proxy, "/info").status_int == 404
    assert proxy.seen[before:] == [("GET", "/info", "")]


def test_unknown_option_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        filter_factory({"cache_timeout": "5"}, LOG)
    assert "cache_timeout" in caplog.text


def test_listing_page_escapes_and_quotes() -> None:
    items = [{"subdir": "d/<b>/"},
             {"name": "d/a&b <i>.txt", "bytes": 5, "content_type": 'text/"x"; charset=utf-8',
              "last_modified": "2024-01-02T03:04:05.000001"},
             {"name": "d//root", "bytes": 0, "content_type": "text/plain",
              "last_modified": "2024-01-02T03:04:05"},
             {"name": "d/c:d", "bytes": 0, "content_type": "", "last_modified": ""}]
    page = render(items, "/v1/a/<c>/d/", "d/").decode()
    assert "Listing of /v1/a/&lt;c&gt;/d/" in page
    assert '<a href="%3Cb%3E/">&lt;b&gt;/</a>' in page
    assert '<a href="a%26b%20%3Ci%3E.txt">a&amp;b &lt;i&gt;.txt</a>' in page
    assert 'class="item type-text type-&quot;x&quot;"' in page
    assert '<a href=".//root">/root</a>' in page   # stays below this page
    assert '<a href="c%3Ad">c:d</a>' in page       # not a URL scheme
    assert "<style" in page and "<link" not in page


@pytest.mark.parametrize("size, shown", [(0, "0"), (1023, "1023"), (1024, "1Ki"),
                                         (1536, "2Ki"), (5 * 2**20, "5Mi"), (3 * 2**30, "3Gi")])
def test_human_size(size: int, shown: str) -> None:
    assert human_size(size) == shown


def test_css_links() -> None:
    assert css_href("s.css", "") == "s.css"
    assert css_href("s.css", "a/b/") == "../../s.css"
    assert css_href("/v1/AUTH_x/c/s s.css", "a/") == "/v1/AUTH_x/c/s%20s.css"
    assert css_href("https://cdn.example/s.css", "a/") == "https://cdn.example/s.css"
