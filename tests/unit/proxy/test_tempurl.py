"""The tempurl filter: signatures, parsing, and the filter over a stand-in proxy."""
from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
import time
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from swiftclient.utils import generate_temp_url

from objstore.common.http import HTTPError, Request
from objstore.proxy import acl
from objstore.proxy.middleware import signed_urls, tempauth
from objstore.proxy.middleware.signed_urls import matching_keys, parse_signature, split_v1
from objstore.proxy.middleware.tempurl import (
    HeaderRule, TempURLQuery, content_disposition, filter_factory, parse_expires, parse_query,
    signed_messages, without_parameters,
)

LOG = logging.getLogger("test.tempurl")
KEY = "account-secret"
CONTAINER_KEY = "container-secret"


# -- signatures -------------------------------------------------------------------

@pytest.mark.parametrize("digest", ["sha1", "sha256", "sha512"])
def test_hex_and_base64_signatures_parse_to_the_same_mac(digest: str) -> None:
    mac = hmac.new(b"k", b"message", getattr(hashlib, digest)).digest()
    assert parse_signature(mac.hex()) == (digest, mac)
    assert parse_signature(mac.hex().upper()) == (digest, mac)
    urlsafe = base64.urlsafe_b64encode(mac).decode().rstrip("=")
    standard = base64.b64encode(mac).decode()
    assert parse_signature(f"{digest}:{urlsafe}") == (digest, mac)
    assert parse_signature(f"{digest.upper()}:{standard}") == (digest, mac)


@pytest.mark.parametrize(("text", "reason"), [
    ("abc", "neither hex"),
    ("z" * 40, "not hex"),
    ("md5:" + base64.b64encode(b"x" * 16).decode(), "unknown digest"),
    ("sha256:" + base64.b64encode(b"x" * 20).decode(), "not the length"),
    ("sha1:***", "not base64"),
])
def test_malformed_signatures_say_why(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_signature(text)


def test_only_the_right_key_matches_and_every_key_is_tried() -> None:
    mac = hmac.new(b"two", b"GET\n1\n/v1/a/c/o", hashlib.sha256).digest()
    assert matching_keys([b"one", b"two", b"three"], ["HEAD\n1\n/v1/a/c/o", "GET\n1\n/v1/a/c/o"],
                         "sha256", mac) == [b"two"]
    assert matching_keys([b"one"], ["GET\n1\n/v1/a/c/o"], "sha256", mac) == []


def test_paths_split_into_account_container_object() -> None:
    assert split_v1("/v1/AUTH_a/c/dir/o") == ("AUTH_a", "c", "dir/o")
    assert split_v1("/v1/AUTH_a/c/") == ("AUTH_a", "c", None)
    assert split_v1("/v1/AUTH_a") == ("AUTH_a", None, None)
    assert split_v1("/v1/caf\xc3\xa9/c/o") == ("caf\u00e9", "c", "o")
    assert split_v1("/info") is None and split_v1("/v1/\xff/c") is None


# -- the URL ----------------------------------------------------------------------------

def test_expires_is_unix_time_or_iso_8601_utc() -> None:
    assert parse_expires("1390852007") == 1390852007
    assert parse_expires("2014-01-27T19:46:47Z") == 1390852007
    for bad in ("-5", "1.5", "2014-01-27", "2014-01-27T19:46:47+01:00", ""):
        with pytest.raises(ValueError, match="Unix time or"):
            parse_expires(bad)


def test_query_parameters() -> None:
    assert parse_query("") is None and parse_query("filename=x&format=json") is None
    query = parse_query("temp_url_sig=ab&temp_url_expires=2014-01-27T19:46:47Z"
                        "&temp_url_prefix=p%2F&filename=na%C3%AFve+%22x%22&inline")
    assert query == TempURLQuery("ab", 1390852007, "p/", None, 'na\u00efve "x"', True)
    for bad in ("temp_url_sig=ab", "temp_url_expires=5", "temp_url_sig=&temp_url_expires=5",
                "temp_url_sig=ab&temp_url_expires=soon"):
        with pytest.raises(HTTPError) as caught:
            parse_query(bad)
        assert caught.value.status == 401
    with pytest.raises(HTTPError) as caught:
        parse_query("temp_url_sig=ab&temp_url_expires=5&filename=%FF")
    assert caught.value.status == 400


def test_signed_messages_as_swift_defines_them() -> None:
    query = TempURLQuery("sig", 100)
    assert signed_messages("GET", query, "AUTH_a", "c", "o") == ["GET\n100\n/v1/AUTH_a/c/o"]
    assert signed_messages("HEAD", query, "AUTH_a", "c", "o") == [
        f"{m}\n100\n/v1/AUTH_a/c/o" for m in ("HEAD", "GET", "PUT", "POST")]
    ranged = TempURLQuery("sig", 100, prefix="pre", ip_range="10.0.0.0/8")
    assert signed_messages("PUT", ranged, "AUTH_a", "c", "pre/o") == [
        "ip=10.0.0.0/8\nPUT\n100\nprefix:/v1/AUTH_a/c/pre"]


def test_the_filters_parameters_leave_the_query_string() -> None:
    assert without_parameters("temp_url_sig=a&multipart-manifest=get&temp_url_expires=1"
                              "&inline&filename=x&temp%5Furl%5Fprefix=p") == \
        "multipart-manifest=get"


def test_content_disposition() -> None:
    plain = TempURLQuery("s", 1)
    assert content_disposition(plain, None, "dir/report.pdf") == \
        "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
    assert content_disposition(plain, "inline", "o") == "inline"
    named = TempURLQuery("s", 1, filename='caf\u00e9 "1".txt')
    assert content_disposition(named, "inline", "o") == (
        "attachment; filename=\"caf%C3%A9 %221%22.txt\"; "
        "filename*=UTF-8''caf%C3%A9%20%221%22.txt")
    assert content_disposition(TempURLQuery("s", 1, inline=True), "x", "o") == "inline"
    assert content_disposition(TempURLQuery("s", 1, filename="a b", inline=True), None, "o") \
        == "inline; filename=\"a b\"; filename*=UTF-8''a%20b"


def test_header_rules_match_names_and_prefixes() -> None:
    rule = HeaderRule(["x-object-meta-*", "x-timestamp"], ["x-object-meta-public-*"])
    assert rule.drops("X-Object-Meta-Secret") and rule.drops("x-timestamp")
    assert not rule.drops("X-Object-Meta-Public-Name") and not rule.drops("Content-Type")


@pytest.mark.parametrize(("options", "message"), [
    ({"allowed_digests": "sha256 md5"}, "md5"),
    ({"allowed_digests": ""}, "allowed_digests"),
    ({"methods": "GET COPY"}, "methods"),
    ({"key_cache_time": "-1"}, "at least 0"),
])
def test_bad_options_stop_the_filter(options: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        filter_factory(options, LOG)


# -- the filter over a stand-in proxy ----------------------------------------------------

class StandIn:
    """Plays the proxy below the filter: account and container metadata
    (the keys) answered to HEAD, objects in a dict, and every request
    authorized with environ["objstore.authorize"] as the proxy does."""

    def __init__(self) -> None:
        self.meta: dict[str, dict[str, str]] = {
            "/v1/AUTH_a": {"X-Account-Meta-Temp-Url-Key": KEY},
            "/v1/AUTH_a/c": {"X-Container-Meta-Temp-Url-Key-2": CONTAINER_KEY},
            "/v1/AUTH_a/other": {}}
        self.objects: dict[str, tuple[dict[str, str], bytes]] = {
            "/v1/AUTH_a/c/o": ({"Content-Type": "text/plain", "X-Object-Meta-Color": "red",
                                "X-Object-Meta-Public-Title": "hi"}, b"hello"),
            "/v1/AUTH_a/other/o": ({}, b"elsewhere")}
        self.calls: list[dict[str, Any]] = []
        self.during_post: Callable[[], None] | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        self.calls.append(environ)
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        if path == "/info":
            body = json.dumps({"swift": {}, "tempurl": {}}).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        parts = path.split("/", 4) + [None, None]
        authorize = environ.get(tempauth.AUTHORIZE)
        if authorize is not None:
            decision = authorize(acl.Request(method, parts[2], parts[3], parts[4]), environ)
            if decision:
                start_response(f"{decision} No", [])
                return [b"denied\n"]
        if parts[4] is None:
            return self.metadata(environ, method, path, start_response)
        if method == "PUT":
            self.objects[path] = ({"Content-Type": environ.get("CONTENT_TYPE", "")},
                                  environ["wsgi.input"].read())
            start_response("201 Created", [])
            return [b""]
        found = self.objects.get(path)
        if found is None:
            start_response("404 Not Found", [])
            return [b"not found\n"]
        start_response("200 OK", list(found[0].items()))
        return [b"" if method == "HEAD" else found[1]]

    def metadata(self, environ: dict[str, Any], method: str, path: str,
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        if method == "POST":
            if self.during_post is not None:
                self.during_post()
            self.meta.setdefault(path, {}).update(
                {key[5:].replace("_", "-").title(): value for key, value in environ.items()
                 if key.startswith("HTTP_X_")})
        if path not in self.meta:
            start_response("404 Not Found", [])
            return [b""]
        start_response("204 No Content", list(self.meta[path].items()))
        return [b""]

    def key_reads(self) -> int:
        return sum(1 for env in self.calls if env["REQUEST_METHOD"] == "HEAD"
                   and env.get("objstore.source") == "TU")


@pytest.fixture
def proxy() -> StandIn:
    return StandIn()


def make_filter(proxy: StandIn, **options: str) -> Any:
    return filter_factory(options, LOG)(proxy)


def url(path: str, key: str = KEY, method: str = "GET", seconds: int = 86400, **kw: Any) -> str:
    """swiftclient's temp URL (the one ``swift tempurl`` prints); a day long, since
    parametrized ones are made at collection, maybe minutes before their test."""
    return generate_temp_url(path, int(time.time()) + seconds, key, method, absolute=True, **kw)


def send(app: Any, method: str, target: str, body: bytes = b"", **headers: str) -> Any:
    path, _, query = target.partition("?")
    request = Request.blank("/", method=method,
                            headers={k.replace("_", "-"): v for k, v in headers.items()})
    request.environ.update({"PATH_INFO": urllib.parse.unquote(path, "latin-1"),
                            "QUERY_STRING": query, "REMOTE_ADDR": "10.1.2.3"})
    if body:
        request.environ.update({"wsgi.input": io.BytesIO(body),
                                "CONTENT_LENGTH": str(len(body))})
    return request.get_response(app)


@pytest.mark.parametrize("digest", ["sha1", "sha256", "sha512"])
def test_swiftclient_urls_work_with_each_digest(proxy: StandIn, digest: str) -> None:
    app = make_filter(proxy)
    response = send(app, "GET", url("/v1/AUTH_a/c/o", digest=digest))
    assert (response.status_int, response.body) == (200, b"hello")
    seen = proxy.calls[-1]
    assert seen[tempauth.AUTHORIZE_OVERRIDE] is True and seen[tempauth.OWNER] is False
    assert "temp_url_sig" not in seen["QUERY_STRING"]


def test_get_hides_private_metadata_and_names_the_download(proxy: StandIn) -> None:
    response = send(make_filter(proxy), "GET", url("/v1/AUTH_a/c/o"))
    assert "X-Object-Meta-Color" not in response.headers
    assert response.headers["X-Object-Meta-Public-Title"] == "hi"
    assert response.headers["Content-Disposition"] == \
        "attachment; filename=\"o\"; filename*=UTF-8''o"
    response = send(make_filter(proxy), "GET", url("/v1/AUTH_a/c/o") + "&inline")
    assert response.headers["Content-Disposition"] == "inline"


def test_head_works_with_get_put_and_post_signatures_not_delete(proxy: StandIn) -> None:
    app = make_filter(proxy)
    for method in ("HEAD", "GET", "PUT", "POST"):
        assert send(app, "HEAD", url("/v1/AUTH_a/c/o", method=method)).status_int == 200
    assert send(app, "HEAD", url("/v1/AUTH_a/c/o", method="DELETE")).status_int == 401


def test_put_stores_through_a_put_url_only(proxy: StandIn) -> None:
    app = make_filter(proxy)
    assert send(app, "PUT", url("/v1/AUTH_a/c/new", method="PUT"), b"data").status_int == 201
    assert proxy.objects["/v1/AUTH_a/c/new"][1] == b"data"
    response = send(app, "PUT", url("/v1/AUTH_a/c/new2", method="GET"), b"data")
    assert response.status_int == 401 and b"does not match" in response.body
    assert "/v1/AUTH_a/c/new2" not in proxy.objects


@pytest.mark.parametrize(("method", "target", "reason"), [
    ("GET", url("/v1/AUTH_a/c/o", seconds=-10), b"expired"),
    ("GET", url("/v1/AUTH_a/c/o").replace("/c/o", "/c/other"), b"does not match"),
    ("GET", url("/v1/AUTH_a/c/o", key="wrong"), b"does not match"),
    ("GET", url("/v1/AUTH_a/c/o", digest="sha1").replace("temp_url_sig=", "temp_url_sig=0"),
     b"invalid signature"),
    ("COPY", url("/v1/AUTH_a/c/o", method="COPY"), b"may not be used to COPY"),
    ("GET", url("/v1/AUTH_a/c/p/o", prefix=True).replace("/c/p/o", "/c/q/o"), b"prefix"),
    ("GET", url("/v1/AUTH_a/c/o", ip_range="192.168.0.0/16"), b"address"),
    ("GET", url("/v1/AUTH_a/c/o", ip_range="not-an-ip"), b"IP address or network"),
    ("GET", "/v1/AUTH_a/c?temp_url_sig=00&temp_url_expires=99999999999", b"for objects"),
])
def test_bad_temp_urls_are_401_with_a_reason(proxy: StandIn, method: str, target: str,
                                             reason: bytes) -> None:
    response = send(make_filter(proxy), method, target)
    assert response.status_int == 401 and reason in response.body
    assert not any(env["REQUEST_METHOD"] == method and env["PATH_INFO"].count("/") >= 4
                   for env in proxy.calls)


def test_prefix_and_ip_range_urls(proxy: StandIn) -> None:
    app = make_filter(proxy)
    proxy.objects["/v1/AUTH_a/c/p/deep/o"] = ({}, b"deep")
    response = send(app, "GET", url("/v1/AUTH_a/c/p/", prefix=True).replace(
        "/c/p/?", "/c/p/deep/o?"))
    assert (response.status_int, response.body) == (200, b"deep")
    response = send(app, "GET", url("/v1/AUTH_a/c/o", ip_range="10.0.0.0/8", iso8601=True))
    assert (response.status_int, response.body) == (200, b"hello")


def test_a_container_key_is_good_for_its_container_only(proxy: StandIn) -> None:
    app = make_filter(proxy)
    assert send(app, "GET", url("/v1/AUTH_a/c/o", key=CONTAINER_KEY)).status_int == 200
    authorize = proxy.calls[-1][tempauth.AUTHORIZE]
    assert authorize(acl.Request("GET", "AUTH_a", "c", "segment")) is None
    assert authorize(acl.Request("GET", "AUTH_a", "other", "o")) == 401
    assert send(app, "GET", url("/v1/AUTH_a/other/o", key=CONTAINER_KEY)).status_int == 401
    # the account key reaches the whole account, no further
    assert send(app, "GET", url("/v1/AUTH_a/other/o")).status_int == 200
    authorize = proxy.calls[-1][tempauth.AUTHORIZE]
    assert authorize(acl.Request("GET", "AUTH_a", "c", "o")) is None
    assert authorize(acl.Request("GET", "AUTH_b", "c", "o")) == 401


def test_manifests_copies_and_owner_headers_are_refused_or_dropped(proxy: StandIn) -> None:
    app = make_filter(proxy)
    response = send(app, "PUT", url("/v1/AUTH_a/c/m", method="PUT"),
                    X_Object_Manifest="other/")
    assert response.status_int == 400 and b"X-Object-Manifest" in response.body
    response = send(app, "PUT", url("/v1/AUTH_a/c/m", method="PUT"), X_Copy_From="other/o")
    assert response.status_int == 400 and b"X-Copy-From" in response.body
    assert "/v1/AUTH_a/c/m" not in proxy.objects
    send(app, "PUT", url("/v1/AUTH_a/c/m", method="PUT"), b"x", X_Timestamp="1",
         X_Container_Read=".r:*", X_Object_Meta_Keep="yes")
    seen = proxy.calls[-1]
    assert "HTTP_X_TIMESTAMP" not in seen and "HTTP_X_CONTAINER_READ" not in seen
    assert seen["HTTP_X_OBJECT_META_KEEP"] == "yes"


def test_keys_are_cached_and_a_new_key_works_at_once(proxy: StandIn) -> None:
    app = make_filter(proxy)
    for _ in range(3):
        assert send(app, "GET", url("/v1/AUTH_a/c/o")).status_int == 200
    assert proxy.key_reads() == 2  # account and container, once
    proxy.meta["/v1/AUTH_a"] = {"X-Account-Meta-Temp-Url-Key": "rotated"}
    assert send(app, "GET", url("/v1/AUTH_a/c/o", key="rotated")).status_int == 200
    # the old key is forgotten at once when the change passes this filter
    send(app, "POST", "/v1/AUTH_a", X_Account_Meta_Temp_Url_Key="third")
    assert send(app, "GET", url("/v1/AUTH_a/c/o", key="rotated")).status_int == 401
    assert send(app, "GET", url("/v1/AUTH_a/c/o", key="third")).status_int == 200


def test_keys_read_while_a_key_changes_are_forgotten_after_it(proxy: StandIn) -> None:
    app = make_filter(proxy)
    old = url("/v1/AUTH_a/c/o")
    # a temp URL request that reads (and caches) the keys while the change is under way
    proxy.during_post = lambda: send(app, "GET", old)
    send(app, "POST", "/v1/AUTH_a", X_Account_Meta_Temp_Url_Key="new")
    assert send(app, "GET", old).status_int == 401


def test_no_keys_no_access(proxy: StandIn) -> None:
    proxy.meta = {}
    response = send(make_filter(proxy), "GET", url("/v1/AUTH_a/c/o"))
    assert response.status_int == 401


def test_requests_without_a_temp_url_pass_untouched(proxy: StandIn) -> None:
    response = send(make_filter(proxy), "GET", "/v1/AUTH_a/c/o?filename=x")
    assert response.status_int == 200 and "Content-Disposition" not in response.headers
    assert tempauth.AUTHORIZE not in proxy.calls[-1]


def test_info_lists_methods_and_digests(proxy: StandIn) -> None:
    app = make_filter(proxy, methods="GET HEAD", allowed_digests="sha256 sha1")
    whole = send(app, "GET", "/info").body
    head = send(app, "HEAD", "/info")
    assert head.body == b"" and head.headers["Content-Length"] == str(len(whole))
    info = json.loads(whole)
    assert info["tempurl"]["methods"] == ["GET", "HEAD"]
    assert info["tempurl"]["allowed_digests"] == ["sha1", "sha256"]
    assert info["tempurl"]["deprecated_digests"] == ["sha1"]
    assert info["tempurl"]["outgoing_allow_headers"] == ["x-object-meta-public-*"]
    assert send(app, "PUT", url("/v1/AUTH_a/c/o", method="PUT"), b"x").status_int == 401
    response = send(app, "GET", url("/v1/AUTH_a/c/o", digest="sha512"))
    assert response.status_int == 401 and b"sha512" in response.body


def test_tempauth_leaves_a_signed_request_alone() -> None:
    seen: list[dict[str, Any]] = []

    def below(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        seen.append(environ)
        start_response("200 OK", [])
        return [b""]
    auth = tempauth.filter_factory({"token_secret": "0123456789abcdef-secret"}, LOG)(below)
    grant = signed_urls.Grant("AUTH_a", "c")
    request = Request.blank("/v1/AUTH_a/c/o")
    grant.hand_over(request.environ)
    decide = request.environ[tempauth.AUTHORIZE]
    request.get_response(auth)
    assert seen[-1][tempauth.AUTHORIZE] is decide
    Request.blank("/v1/AUTH_a/c/o").get_response(auth)
    assert seen[-1][tempauth.AUTHORIZE] is not decide


def test_expired_is_judged_by_the_clock(proxy: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_filter(proxy)
    target = url("/v1/AUTH_a/c/o", seconds=30)
    assert send(app, "GET", target).status_int == 200
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 31)
    assert send(app, "GET", target).status_int == 401
