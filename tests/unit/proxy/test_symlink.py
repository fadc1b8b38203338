"""The symlink filter: parsing a link, and the filter over a fake proxy that
shows object sysmeta as the real one does (environ["objstore.object_sysmeta"])."""
from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from objstore.common.http import HTTPError
from objstore.proxy.middleware.symlink import (
    EMPTY_ETAG, LISTING_ETAG, Link, filter_factory, parse_link, rewrite_listing, stored_link,
)
from objstore.proxy.objects import OBJECT_SYSMETA

LOG = logging.getLogger("test.symlink")
ACCOUNT = "AUTH_a"


class FakeProxy:
    """Objects in a dict; GET/HEAD judge If-Match and Range against the
    object itself, as the object servers do; PUT keeps backend headers."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, str]] = []
        self.forbidden: set[str] = set()

    def add(self, path: str, body: bytes = b"", sysmeta: dict[str, str] | None = None,
            **headers: str) -> None:
        self.objects[path] = {"body": body, "sysmeta": dict(sysmeta or {}), "headers": {
            "Content-Type": "text/plain", "ETag": hashlib.md5(body).hexdigest(),
            **{k.replace("_", "-"): v for k, v in headers.items()}}}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        self.requests.append((method, path, environ.get("QUERY_STRING", "")))
        if path == "/info":
            return answer(start_response, "200 OK", b'{"swift": {}}',
                          {"Content-Type": "application/json"})
        if path in self.forbidden:
            return answer(start_response, "403 Forbidden", b"no\n")
        if path.count("/") == 3:
            return self.listing(environ, path, start_response)
        if method == "PUT":
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            backend = environ.get("objstore.backend_headers") or {}
            self.add(path, body, {k: v for k, v in backend.items()},
                     Content_Type=environ.get("CONTENT_TYPE") or "application/octet-stream")
            return answer(start_response, "201 Created")
        found = self.objects.get(path)
        if found is None:
            return answer(start_response, "404 Not Found", b"not found\n")
        if method == "POST":
            found["headers"].update({k[5:].replace("_", "-").title(): v
                                     for k, v in environ.items()
                                     if k.startswith("HTTP_X_OBJECT_META_")})
            return answer(start_response, "202 Accepted")
        environ[OBJECT_SYSMETA] = dict(found["sysmeta"])
        headers, body = dict(found["headers"]), found["body"]
        if_match = environ.get("HTTP_IF_MATCH")
        if if_match is not None and if_match.strip('"') != headers["ETag"]:
            return answer(start_response, "412 Precondition Failed", b"", headers)
        if "HTTP_RANGE" in environ:
            first, _, last = environ["HTTP_RANGE"].removeprefix("bytes=").partition("-")
            if int(first) >= len(body):
                return answer(start_response, "416 Requested Range Not Satisfiable")
            body = body[int(first):int(last) + 1]
            headers["Content-Range"] = f"bytes {first}-{last}/{len(found['body'])}"
            status = "206 Partial Content"
        else:
            status = "200 OK"
        if method == "HEAD":  # the length of what a GET would send
            headers["Content-Length"] = str(len(body))
            body = b""
        return answer(start_response, status, body, headers)

    def listing(self, environ: dict[str, Any], path: str, start_response: Callable[..., Any]
                ) -> Iterable[bytes]:
        rows = [{"name": name.rsplit("/", 1)[1], "bytes": len(o["body"]),
                 "hash": o["sysmeta"].get(LISTING_ETAG, o["headers"]["ETag"]),
                 "content_type": o["headers"]["Content-Type"]}
                for name, o in sorted(self.objects.items()) if name.startswith(path + "/")]
        if "format=xml" in environ.get("QUERY_STRING", ""):
            body = "".join(f"<object><name>{r['name']}</name><hash>{r['hash']}</hash></object>"
                           for r in rows).encode()
            return answer(start_response, "200 OK", body, {"Content-Type": "application/xml"})
        return answer(start_response, "200 OK", json.dumps(rows).encode(),
                      {"Content-Type": "application/json; charset=utf-8"})


def answer(start_response: Callable[..., Any], status: str, body: bytes = b"",
           headers: dict[str, str] | None = None) -> list[bytes]:
    start_response(status, list({"Content-Length": str(len(body)), **(headers or {})}.items()))
    return [body]


@pytest.fixture
def proxy() -> FakeProxy:
    return FakeProxy()


def run(app: Any, method: str, path: str, body: bytes = b"", query: str = "",
        environ: dict[str, Any] | None = None, **headers: str
        ) -> tuple[int, dict[str, str], bytes]:
    env: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
                           "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
                           **(environ or {})}
    for name, value in headers.items():
        key = name.upper()
        env[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key] = value
    started: list[Any] = []
    result = app(env, lambda status, hdrs, exc=None: started.extend([status, hdrs]))
    data = b"".join(result)
    getattr(result, "close", lambda: None)()
    return int(started[0].split()[0]), dict(started[1]), data


def symlinks(proxy: FakeProxy, **options: str) -> Any:
    return filter_factory(options, LOG)(proxy)


def link(app: Any, name: str, target: str, **headers: str) -> int:
    return run(app, "PUT", f"/v1/{ACCOUNT}/c/{name}", X_SYMLINK_TARGET=target, **headers)[0]


# -- parsing ------------------------------------------------------------------------

def env_of(**headers: str) -> dict[str, str]:
    return {"HTTP_" + k.upper(): v for k, v in headers.items()}


def test_parse_link_accepts_quoted_utf8_and_another_account() -> None:
    parsed = parse_link(env_of(X_SYMLINK_TARGET="c2/caf%C3%A9/x", X_SYMLINK_TARGET_ACCOUNT="B"),
                        (ACCOUNT, "c", "o"))
    assert parsed == Link("B", "c2", "café/x")
    assert parsed.location == "/v1/B/c2/caf%C3%A9/x"
    assert stored_link(parsed.sysmeta()) == parsed
    assert parse_link(env_of(X_SYMLINK_TARGET="c/t", X_SYMLINK_TARGET_ETAG='"abc"',
                             X_SYMLINK_TARGET_BYTES="5"), (ACCOUNT, "c", "o")) \
        == Link(ACCOUNT, "c", "t", "abc", 5)


@pytest.mark.parametrize("headers, status, words", [
    ({"X_SYMLINK_TARGET": "/c/o"}, 412, "<container name>/<object name>"),
    ({"X_SYMLINK_TARGET": "no-slash"}, 412, "<container name>/<object name>"),
    ({"X_SYMLINK_TARGET": "c/"}, 412, "<container name>/<object name>"),
    ({"X_SYMLINK_TARGET": "c/%FF"}, 412, "UTF-8"),
    ({"X_SYMLINK_TARGET": "c/%00"}, 412, "NUL"),
    ({"X_SYMLINK_TARGET": "c/" + "x" * 1100}, 400, "length"),
    ({"X_SYMLINK_TARGET": "c/o", "X_SYMLINK_TARGET_ACCOUNT": "a/b"}, 412, "account name"),
    ({"X_SYMLINK_TARGET": "c/self"}, 400, "itself"),
    ({"X_SYMLINK_TARGET": "c/o", "X_SYMLINK_TARGET_ETAG": "a;b"}, 400, "X-Symlink-Target-Etag"),
    ({"X_SYMLINK_TARGET": "c/o", "X_SYMLINK_TARGET_BYTES": "5"}, 400, "needs"),
    ({"X_SYMLINK_TARGET": "c/o", "X_SYMLINK_TARGET_ETAG": "e",
      "X_SYMLINK_TARGET_BYTES": "-1"}, 400, "whole number"),
])
def test_parse_link_refuses(headers: dict[str, str], status: int, words: str) -> None:
    with pytest.raises(HTTPError) as caught:
        parse_link(env_of(**headers), (ACCOUNT, "c", "self"))
    assert caught.value.status == status and words in caught.value.reason


# -- PUT ----------------------------------------------------------------------------

def test_put_stores_the_target_as_sysmeta_with_a_default_type(proxy: FakeProxy) -> None:
    app = symlinks(proxy)
    assert link(app, "l", "c2/t%20x") == 201
    stored = proxy.objects[f"/v1/{ACCOUNT}/c/l"]
    assert stored["sysmeta"]["X-Object-Sysmeta-Symlink-Target"] == "c2/t%20x"
    assert stored["sysmeta"]["X-Object-Sysmeta-Symlink-Target-Account"] == ACCOUNT
    assert stored["sysmeta"][LISTING_ETAG] == (
        f"{EMPTY_ETAG}; symlink_target=c2/t%20x; symlink_target_account={ACCOUNT}")
    assert stored["headers"]["Content-Type"] == "application/symlink"
    assert link(app, "typed", "c/t", CONTENT_TYPE="text/x-mine") == 201
    assert proxy.objects[f"/v1/{ACCOUNT}/c/typed"]["headers"]["Content-Type"] == "text/x-mine"


def test_put_refuses_a_body_and_temp_urls_but_takes_an_empty_chunked_one(
        proxy: FakeProxy) -> None:
    app = symlinks(proxy)
    status, _, body = run(app, "PUT", f"/v1/{ACCOUNT}/c/l", b"data", X_SYMLINK_TARGET="c/t")
    assert status == 400 and b"zero-byte" in body
    assert f"/v1/{ACCOUNT}/c/l" not in proxy.objects
    status, _, _ = run(app, "PUT", f"/v1/{ACCOUNT}/c/l", X_SYMLINK_TARGET="c/t",
                       environ={"HTTP_TRANSFER_ENCODING": "chunked", "CONTENT_LENGTH": ""})
    assert status == 201
    status, _, body = run(app, "PUT", f"/v1/{ACCOUNT}/c/l2", X_SYMLINK_TARGET="c/t",
                          environ={"objstore.authorize_override": True})
    assert status == 400 and b"temp URL" in body
    status, _, body = run(app, "PUT", f"/v1/{ACCOUNT}/c/l3", X_SYMLINK_TARGET_ETAG="e")
    assert status == 400 and b"need" in body


def test_static_put_checks_the_target(proxy: FakeProxy) -> None:
    app = symlinks(proxy)
    etag = hashlib.md5(b"target").hexdigest()
    assert link(app, "s", "c/missing", X_SYMLINK_TARGET_ETAG=etag) == 409
    proxy.add(f"/v1/{ACCOUNT}/c/t", b"target", Content_Type="image/png")
    status, _, body = run(app, "PUT", f"/v1/{ACCOUNT}/c/s", X_SYMLINK_TARGET="c/t",
                          X_SYMLINK_TARGET_ETAG="0" * 32)
    assert status == 409 and b"does not match" in body
    assert link(app, "s", "c/t", X_SYMLINK_TARGET_ETAG=etag, X_SYMLINK_TARGET_BYTES="7") == 409
    assert f"/v1/{ACCOUNT}/c/s" not in proxy.objects
    assert link(app, "s", "c/t", X_SYMLINK_TARGET_ETAG=f'"{etag}"') == 201
    stored = proxy.objects[f"/v1/{ACCOUNT}/c/s"]
    assert stored["headers"]["Content-Type"] == "image/png"  # the target's, as in Swift
    assert stored["sysmeta"]["X-Object-Sysmeta-Symlink-Target-Bytes"] == "6"
    proxy.forbidden.add(f"/v1/{ACCOUNT}/c/t")
    assert link(app, "s2", "c/t", X_SYMLINK_TARGET_ETAG=etag) == 403


# -- GET / HEAD ----------------------------------------------------------------------

def test_get_and_head_follow_the_link(proxy: FakeProxy) -> None:
    app = symlinks(proxy)
    proxy.add(f"/v1/{ACCOUNT}/c2/t", b"the target", X_Object_Meta_Color="red")
    assert link(app, "l", "c2/t") == 201
    status, headers, body = run(app, "GET", f"/v1/{ACCOUNT}/c/l")
    assert (status, body) == (200, b"the target")
    assert headers["Content-Location"] == f"/v1/{ACCOUNT}/c2/t"
    assert headers["X-Object-Meta-Color"] == "red"
    status, headers, body = run(app, "HEAD", f"/v1/{ACCOUNT}/c/l")
    assert (status, body, headers["ETag"]) == (200, b"", hashlib.md5(b"the target").hexdigest())
    status, headers, body = run(app, "GET", f"/v1/{ACCOUNT}/c/l", query="symlink=get")
    assert (status, body) == (200, b"")
    assert headers["X-Symlink-Target"] == "c2/t"
    assert headers["X-Symlink-Target-Account"] == ACCOUNT
    assert "Content-Location" not in headers
    status, headers, _ = run(app, "GET", f"/v1/{ACCOUNT}/c/plain-missing")
    assert status == 404 and "Content-Location" not in headers


def test_range_and_conditionals_are_judged_on_the_target(proxy: FakeProxy) -> None:
    app = symlinks(proxy)
    proxy.add(f"/v1/{ACCOUNT}/c/t", b"0123456789")
    link(app, "l", "c/t")
    status, headers, body = run(app, "GET", f"/v1/{ACCOUNT}/c/l", RANGE="bytes=2-4")
    assert (status, body) == (206, b"234")
    etag = hashlib.md5(b"0123456789").hexdigest()
    assert run(app, "GET", f"/v1/{ACCOUNT}/c/l", IF_MATCH=etag)[:3:2] == (200, b"0123456789")
    assert run(app, "GET", f"/v1/{ACCOUNT}/c/l", IF_MATCH="0" * 32)[0] == 412
    # a plain object answers as it is; only a 416 (which shows no sysmeta) costs a HEAD
    proxy.requests.clear()
    assert run(app, "GET", f"/v1/{ACCOUNT}/c/t", IF_MATCH="0" * 32)[0] == 412
    assert [r[0] for r in proxy.requests] == ["GET"]
    assert run(app, "GET", f"/v1/{ACCOUNT}/c/t", RANGE="bytes=20-30")[0] == 416
    assert [r[0] for r in proxy.requests] == ["GET", "GET", "HEAD"]


def test_chains_are_followed_up_to_symloop_max(proxy: FakeProxy) -> None:
    app = symlinks(proxy, symloop_max="2")
    proxy.add(f"/v1/{ACCOUNT}/c/t", b"end")
    link(app, "one", "c/t")
    link(app, "two", "c/one")
    link(app, "three", "c/two")
    status, headers, body = run(app, "GET", f"/v1/{ACCOUNT}/c/two")
    assert (status, body, headers["Content-Location"]) == (200, b"end", f"/v1/{ACCOUNT}/c/t")
    status, _, body = run(app, "GET", f"/v1/{ACCOUNT}/c/three")
    assert status == 409 and b"too many levels" in body
    link(app, "loop-a", "c/loop-b")
    link(app, "loop-b", "c/loop-a")
    assert run(app, "HEAD", f"/v1/{ACCOUNT}/c/loop-a")[0] == 409


def test_a_missing_or_forbidden_target_answers_for_itself(proxy: FakeProxy) -> None:
    app = symlinks(proxy)
    link(app, "dangling", "c/nothing")
    status, headers, _ = run(app, "GET", f"/v1/{ACCOUNT}/c/dangling")
    assert status == 404 and headers["Content-Location"] == f"/v1/{ACCOUNT}/c/nothing"
    proxy.add(f"/v1/{ACCOUNT}/secret/t", b"x")
    proxy.forbidden.add(f"/v1/{ACCOUNT}/secret/t")
    link(app, "peek", "secret/t")
    assert run(app, "GET", f"/v1/{ACCOUNT}/c/peek")[0] == 403


def test_a_static_link_notices_a_changed_target(proxy: FakeProxy) -> None:
    app = symlinks(proxy)
    proxy.add(f"/v1/{ACCOUNT}/c/t", b"first")
    assert link(app, "s", "c/t", X_SYMLINK_TARGET_ETAG=hashlib.md5(b"first").hexdigest()) == 201
    assert run(app, "GET", f"/v1/{ACCOUNT}/c/s")[2] == b"first"
    status, headers, _ = run(app, "HEAD", f"/v1/{ACCOUNT}/c/s", query="symlink=get")
    assert headers["X-Symlink-Target-Etag"] == hashlib.md5(b"first").hexdigest()
    assert headers["X-Symlink-Target-Bytes"] == "5"
    proxy.add(f"/v1/{ACCOUNT}/c/t", b"second")
    status, _, body = run(app, "GET", f"/v1/{ACCOUNT}/c/s")
    assert status == 409 and b"no longer matches" in body


def test_another_account_needs_an_auth_filter(proxy: FakeProxy) -> None:
    app = symlinks(proxy)
    proxy.add("/v1/AUTH_b/c/t", b"theirs")
    assert link(app, "l", "c/t", X_SYMLINK_TARGET_ACCOUNT="AUTH_b") == 201
    status, _, body = run(app, "GET", f"/v1/{ACCOUNT}/c/l")
    assert status == 403 and b"another account" in body
    authorized = {"objstore.authorize": lambda *args, **kwargs: None}
    assert run(app, "GET", f"/v1/{ACCOUNT}/c/l", environ=authorized)[2] == b"theirs"


# -- POST -------------------------------------------------------------------------------

def test_post_to_a_link_is_applied_and_redirected(proxy: FakeProxy) -> None:
    app = symlinks(proxy)
    proxy.add(f"/v1/{ACCOUNT}/c/t", b"x")
    link(app, "l", "c/t")
    status, headers, _ = run(app, "POST", f"/v1/{ACCOUNT}/c/l", X_OBJECT_META_A="1")
    assert status == 307 and headers["Location"] == f"/v1/{ACCOUNT}/c/t"
    assert proxy.objects[f"/v1/{ACCOUNT}/c/l"]["headers"]["X-Object-Meta-A"] == "1"
    assert run(app, "POST", f"/v1/{ACCOUNT}/c/t", X_OBJECT_META_A="1")[0] == 202
    status, _, body = run(app, "POST", f"/v1/{ACCOUNT}/c/t", X_SYMLINK_TARGET="c/o")
    assert status == 400 and b"PUT the link again" in body
    assert run(app, "POST", f"/v1/{ACCOUNT}/c/none")[0] == 404


# -- listings and /info -------------------------------------------------------------------

def test_json_and_xml_listings_show_links(proxy: FakeProxy) -> None:
    app = symlinks(proxy)
    proxy.add(f"/v1/{ACCOUNT}/c/t", b"target")
    link(app, "dyn", "c/t")
    link(app, "pinned", "c/t", X_SYMLINK_TARGET_ETAG=hashlib.md5(b"target").hexdigest())
    rows = {row["name"]: row for row in json.loads(run(app, "GET", f"/v1/{ACCOUNT}/c")[2])}
    assert rows["dyn"]["symlink_path"] == f"/v1/{ACCOUNT}/c/t"
    assert rows["dyn"]["hash"] == EMPTY_ETAG and "symlink_etag" not in rows["dyn"]
    assert rows["pinned"]["symlink_etag"] == hashlib.md5(b"target").hexdigest()
    assert rows["pinned"]["symlink_bytes"] == 6
    assert "symlink_path" not in rows["t"]
    status, headers, body = run(app, "GET", f"/v1/{ACCOUNT}/c", query="format=xml")
    assert b"symlink" not in body and f"<hash>{EMPTY_ETAG}</hash>".encode() in body
    assert headers["Content-Length"] == str(len(body))


def test_rewrite_listing_keeps_what_is_not_a_link() -> None:
    plain = json.dumps([{"name": "o", "hash": "abc; swift_other=1"}]).encode()
    assert rewrite_listing(plain, "application/json") == plain
    assert rewrite_listing(b"not json symlink_target=", "application/json") \
        == b"not json symlink_target="
    mixed = json.dumps([{"name": "l", "hash": "e; other=2; symlink_target=c/o; "
                         "symlink_target_account=A"}]).encode()
    row = json.loads(rewrite_listing(mixed, "application/json"))[0]
    assert row["hash"] == "e; other=2" and row["symlink_path"] == "/v1/A/c/o"


def test_info_and_options(proxy: FakeProxy, caplog: pytest.LogCaptureFixture) -> None:
    info = json.loads(run(symlinks(proxy, symloop_max="5"), "GET", "/info")[2])
    assert info["symlink"] == {"symloop_max": 5, "static_links": True}
    with pytest.raises(ValueError, match="symloop_max"):
        symlinks(proxy, symloop_max="0")
    with caplog.at_level(logging.WARNING):
        symlinks(proxy, symloop_maximum="3")
    assert "symloop_maximum" in caplog.text
