"""The formpost filter: the multipart reader, the fields, and the filter over a stand-in proxy."""
from __future__ import annotations

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

from objstore.common.http import HTTPError, Request
from objstore.proxy import acl
from objstore.proxy.middleware import tempauth
from objstore.proxy.middleware.form_parts import (
    FormError, FormReader, form_boundary, parse_header_value,
)
from objstore.proxy.middleware.formpost import check_fields, filter_factory, redirect_to

LOG = logging.getLogger("test.formpost")
KEY = "account-secret"
BOUNDARY = "----formBoundary7MA4YWxk"


def encode_form(fields: list[tuple[str, str]], files: list[tuple[str, str, bytes]] = (),
                boundary: str = BOUNDARY, after: list[tuple[str, str]] = ()) -> bytes:
    """A browser's multipart/form-data body: fields, files, more fields."""
    out = b""
    for name, value in fields:
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                f"{value}\r\n").encode()
    for name, filename, data in files:
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{filename}"\r\nContent-Type: text/plain\r\n\r\n').encode()
        out += data + b"\r\n"
    for name, value in after:
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                f"{value}\r\n").encode()
    return out + f"--{boundary}--\r\n".encode()


class Trickle:
    """A WSGI input that hands out at most ``step`` bytes a read."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step = data, step

    def read(self, size: int = -1) -> bytes:
        cut = min(self.step, size if size >= 0 else self.step)
        out, self.data = self.data[:cut], self.data[cut:]
        return out


def all_parts(reader: FormReader) -> list[tuple[dict[str, str], bytes]]:
    parts = []
    while (part := reader.next_part()) is not None:
        body = b""
        while chunk := reader.read(5):
            body += chunk
        parts.append((part.headers, body))
    return parts


# -- the reader --------------------------------------------------------------------

@pytest.mark.parametrize("step", [1, 2, 7, 65536])
def test_parts_come_out_whole_however_the_body_arrives(step: int) -> None:
    tricky = b"line\r\n--" + BOUNDARY[:-1].encode() + b"x\r\n\r\n--"
    body = b"preamble\r\n" + encode_form([("redirect", ""), ("expires", "5")],
                                         [("f", "a.txt", tricky), ("g", "b.txt", b"")])
    parts = all_parts(FormReader(Trickle(body, step), BOUNDARY.encode()))
    assert [p[1] for p in parts] == [b"", b"5", tricky, b""]
    assert parts[2][0]["content-disposition"] == 'form-data; name="f"; filename="a.txt"'
    assert parts[2][0]["content-type"] == "text/plain"


def test_an_unread_part_is_skipped_and_a_part_may_have_no_headers() -> None:
    body = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=a\r\n\r\n"
            f"{'x' * 200000}\r\n--{BOUNDARY}  \r\n\r\nbare\r\n--{BOUNDARY}--").encode()
    reader = FormReader(io.BytesIO(body), BOUNDARY.encode())
    assert reader.next_part() is not None
    part = reader.next_part()
    assert part is not None and part.headers == {} and reader.read() == b"bare"
    assert reader.next_part() is None and reader.next_part() is None


@pytest.mark.parametrize(("body", "reason"), [
    (b"no boundary at all", "no opening boundary"),
    (f"--{BOUNDARY}\r\nContent-Disposition: form-data".encode(), "in a part's headers"),
    (f"--{BOUNDARY}\r\n\r\nbody that never ends".encode(), "before its closing boundary"),
    (f"--{BOUNDARY}\r\n{'X-Long: ' + 'y' * 9000}\r\n\r\n".encode(), "over 8192 bytes"),
    (f"--{BOUNDARY}\r\nno colon here\r\n\r\nx\r\n--{BOUNDARY}--".encode(), "no ':'"),
    (f"--{BOUNDARY}junk\r\n\r\nx\r\n--{BOUNDARY}--".encode(), "more than the boundary"),
], ids=["preamble", "headers", "body", "long", "colon", "junk"])
def test_broken_forms_say_why(body: bytes, reason: str) -> None:
    with pytest.raises(FormError, match=reason):
        all_parts(FormReader(io.BytesIO(body), BOUNDARY.encode()))


def test_content_types_and_boundaries() -> None:
    assert parse_header_value('form-data; name="a;b"; filename="c \\"d\\""') == \
        ("form-data", {"name": "a;b", "filename": 'c "d"'})
    assert form_boundary('multipart/form-data; boundary="a b"') == b"a b"
    assert form_boundary("Multipart/Form-Data; charset=utf-8; boundary=xyz") == b"xyz"
    assert form_boundary("application/json") is None and form_boundary(None) is None
    for bad in ("multipart/form-data", "multipart/form-data; boundary=" + "b" * 71):
        with pytest.raises(FormError, match="boundary"):
            form_boundary(bad)


# -- the fields -----------------------------------------------------------------------

def test_fields_are_checked() -> None:
    good = {"max_file_size": "10", "max_file_count": "2", "expires": str(int(time.time()) + 60),
            "signature": "abc", "x_delete_after": "30"}
    form = check_fields(good, time.time())
    assert (form.max_file_size, form.max_file_count, form.delete_after, form.delete_at) == \
        (10, 2, 30, None)
    for name, value, status in [("max_file_size", "big", 400), ("max_file_count", "0", 400),
                                ("expires", "", 400), ("x_delete_at", "-1", 400),
                                ("expires", "1", 401), ("signature", "", 401)]:
        with pytest.raises(HTTPError) as caught:
            check_fields({**good, name: value}, time.time())
        assert caught.value.status == status, name


def test_redirects_carry_status_and_message() -> None:
    assert redirect_to("https://e.com/done", 201, "2 file(s) stored") == \
        "https://e.com/done?status=201&message=2+file%28s%29+stored"
    assert redirect_to("https://e.com/d?x=1", 400, "") == "https://e.com/d?x=1&status=400&message="
    assert redirect_to("https://e.com/caf\u00e9", 201, "") == \
        "https://e.com/caf%C3%A9?status=201&message="


# -- the filter over a stand-in proxy ---------------------------------------------------

class StandIn:
    """Plays the proxy below the filter: keys answered to HEAD, PUTs
    authorized with environ["objstore.authorize"] and stored only when
    their body arrives whole (a body that fails to read stores nothing,
    as the proxy's PUT does)."""

    def __init__(self) -> None:
        self.meta = {"/v1/AUTH_a": [("X-Account-Meta-Temp-Url-Key", KEY)], "/v1/AUTH_a/c": []}
        self.objects: dict[str, tuple[str | None, bytes, dict[str, Any]]] = {}
        self.calls: list[dict[str, Any]] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        self.calls.append(environ)
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        if path == "/info":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps({"formpost": {}}).encode()]
        if method == "HEAD":
            start_response("204 No Content", self.meta.get(path, []))
            return [b""]
        parts = path.split("/", 4)
        decision = environ[tempauth.AUTHORIZE](acl.Request(method, *parts[2:]), environ)
        if decision:
            start_response("401 Unauthorized", [])
            return [b"not yours\n"]
        if parts[4].startswith("missing/"):
            start_response("404 Not Found", [])
            return [b"no such container\n"]
        body = b""
        try:
            while chunk := environ["wsgi.input"].read(3):
                body += chunk
        except ValueError:
            start_response("499 Client Disconnect", [])
            return [b"body broke\n"]
        self.objects[path] = (environ.get("CONTENT_TYPE"), body, environ)
        start_response("201 Created", [])
        return [b""]


def signed_fields(path: str, key: str = KEY, redirect: str = "", max_file_size: int = 100,
                  max_file_count: int = 5, expires_in: int = 60, digest: str = "sha256"
                  ) -> list[tuple[str, str]]:
    expires = str(int(time.time()) + expires_in)
    message = f"{path}\n{redirect}\n{max_file_size}\n{max_file_count}\n{expires}"
    signature = hmac.new(key.encode(), message.encode(), getattr(hashlib, digest)).hexdigest()
    return [("redirect", redirect), ("max_file_size", str(max_file_size)),
            ("max_file_count", str(max_file_count)), ("expires", expires),
            ("signature", signature)]


def post(app: Any, path: str, body: bytes, content_type: str | None = None) -> Any:
    request = Request.blank("/", method="POST")
    request.environ.update({"PATH_INFO": path, "wsgi.input": io.BytesIO(body),
                            "CONTENT_LENGTH": str(len(body)),
                            "CONTENT_TYPE": content_type
                            or f"multipart/form-data; boundary={BOUNDARY}"})
    return request.get_response(app)


@pytest.fixture
def proxy() -> StandIn:
    return StandIn()


@pytest.fixture
def app(proxy: StandIn) -> Any:
    return filter_factory({}, LOG)(proxy)


def test_files_are_stored_under_the_prefix_and_the_browser_redirected(
        app: Any, proxy: StandIn) -> None:
    fields = signed_fields("/v1/AUTH_a/c/up/", redirect="https://e.com/done?a=1")
    response = post(app, "/v1/AUTH_a/c/up/", encode_form(
        fields + [("x_delete_after", "60")], [("f1", "one.txt", b"first"),
                                             ("f2", "two.txt", b"second")]))
    assert response.status_int == 303
    assert response.headers["Location"] == \
        "https://e.com/done?a=1&status=201&message=2+file%28s%29+stored"
    assert {path: stored[:2] for path, stored in proxy.objects.items()} == {
        "/v1/AUTH_a/c/up/one.txt": ("text/plain", b"first"),
        "/v1/AUTH_a/c/up/two.txt": ("text/plain", b"second")}
    put = proxy.objects["/v1/AUTH_a/c/up/one.txt"][2]
    assert put["HTTP_X_DELETE_AFTER"] == "60" and put[tempauth.OWNER] is False
    # the grant is for PUTs under the prefix, nothing else
    authorize = put[tempauth.AUTHORIZE]
    assert authorize(acl.Request("GET", "AUTH_a", "c", "up/one.txt")) == 401
    assert authorize(acl.Request("PUT", "AUTH_a", "c", "elsewhere")) == 401


def test_without_a_redirect_the_answer_is_the_status(app: Any, proxy: StandIn) -> None:
    body = encode_form(signed_fields("/v1/AUTH_a/c", digest="sha512"),
                       [("f", "o", b"data"), ("empty", "", b"")])
    response = post(app, "/v1/AUTH_a/c", body)
    assert (response.status_int, response.body) == (201, b"FormPost: 1 file(s) stored\n")
    assert list(proxy.objects) == ["/v1/AUTH_a/c/o"]


# Fields are signed when the test runs, not when it is collected: a form
# signed at collection could expire before a long run reaches the test.
@pytest.mark.parametrize(("make_fields", "status", "reason"), [
    (lambda: signed_fields("/v1/AUTH_a/c", key="wrong"), 401, b"does not match"),
    (lambda: signed_fields("/v1/AUTH_a/other"), 401, b"does not match"),
    (lambda: signed_fields("/v1/AUTH_a/c", expires_in=-5), 401, b"expired"),
    (lambda: signed_fields("/v1/AUTH_a/c", max_file_size=-1), 400, b"max_file_size"),
    (lambda: [("max_file_size", "1"), ("max_file_count", "1"), ("expires", "9999999999")], 401,
     b"no signature"),
])
def test_untrusted_forms_store_nothing_and_are_not_redirected(
        app: Any, proxy: StandIn, make_fields: Any, status: int, reason: bytes) -> None:
    fields = [(n, v) if n != "redirect" else (n, "https://e.com/") for n, v in make_fields()]
    response = post(app, "/v1/AUTH_a/c", encode_form(fields, [("f", "o", b"x")]))
    assert response.status_int == status and reason in response.body
    assert "Location" not in response.headers and proxy.objects == {}


def test_too_big_a_file_is_not_stored_and_too_many_files_stop(app: Any, proxy: StandIn) -> None:
    fields = signed_fields("/v1/AUTH_a/c/", max_file_size=5, max_file_count=2)
    response = post(app, "/v1/AUTH_a/c/", encode_form(
        fields, [("a", "small", b"12345"), ("b", "big", b"123456"), ("c", "late", b"1")]))
    assert response.status_int == 400
    assert response.body == b"FormPost: max_file_size exceeded (1 file(s) stored before)\n"
    assert list(proxy.objects) == ["/v1/AUTH_a/c/small"]
    proxy.objects.clear()
    response = post(app, "/v1/AUTH_a/c/", encode_form(
        fields, [("a", "1", b"1"), ("b", "2", b"2"), ("c", "3", b"3")]))
    assert response.status_int == 400 and b"max_file_count exceeded" in response.body
    assert sorted(proxy.objects) == ["/v1/AUTH_a/c/1", "/v1/AUTH_a/c/2"]


def test_a_failed_put_ends_the_form_with_its_status(app: Any, proxy: StandIn) -> None:
    fields = signed_fields("/v1/AUTH_a/c/", redirect="https://e.com/")
    response = post(app, "/v1/AUTH_a/c/", encode_form(fields, [("a", "missing/x", b"1")]))
    location = urllib.parse.urlsplit(response.headers["Location"])
    assert urllib.parse.parse_qs(location.query) == {
        "status": ["404"], "message": ["missing/x: no such container"]}


def test_a_form_cut_short_stores_no_half_file(app: Any, proxy: StandIn) -> None:
    body = encode_form(signed_fields("/v1/AUTH_a/c"), [("f", "o", b"x" * 50)])
    response = post(app, "/v1/AUTH_a/c", body[:-60])
    assert response.status_int == 400 and b"closing boundary" in response.body
    assert proxy.objects == {}


def test_odd_forms(app: Any, proxy: StandIn) -> None:
    fields = signed_fields("/v1/AUTH_a/c")
    response = post(app, "/v1/AUTH_a/c", encode_form(fields))
    assert (response.status_int, response.body) == (400, b"FormPost: no files to process\n")
    response = post(app, "/v1/AUTH_a/c", encode_form(fields, [("f", "o", b"1")],
                                                       after=[("redirect", "https://e.com/")]))
    assert response.status_int == 201  # fields after the files are ignored
    response = post(app, "/v1/AUTH_a/c", encode_form([("redirect", "r" * 5000)]))
    assert response.status_int == 400 and b"over 4096 bytes" in response.body
    response = post(app, "/v1/AUTH_a/c", b"x", "multipart/form-data")
    assert response.status_int == 400 and b"boundary" in response.body


def test_other_requests_pass_by(app: Any, proxy: StandIn) -> None:
    request = Request.blank("/v1/AUTH_a/c/o", method="POST",
                            headers={"Content-Type": "multipart/form-data; boundary=x"})
    proxy.meta["/v1/AUTH_a/c/o"] = []
    seen = len(proxy.calls)
    request.environ[tempauth.AUTHORIZE] = lambda *args, **kw: None
    request.get_response(app)  # an empty POST: a Content-Type change, not a form
    assert proxy.calls[seen]["PATH_INFO"] == "/v1/AUTH_a/c/o"
    assert "FormPost" not in proxy.calls[seen].get("objstore.source", "")
    info = json.loads(Request.blank("/info").get_response(app).body)
    assert info["formpost"] == {"allowed_digests": ["sha1", "sha256", "sha512"],
                                "deprecated_digests": ["sha1"]}


def test_a_digest_not_allowed_is_refused(proxy: StandIn) -> None:
    app = filter_factory({"allowed_digests": "sha512"}, LOG)(proxy)
    response = post(app, "/v1/AUTH_a/c", encode_form(signed_fields("/v1/AUTH_a/c"),
                                                       [("f", "o", b"1")]))
    assert response.status_int == 401 and b"sha256" in response.body
