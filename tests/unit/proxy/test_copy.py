"""The copy filter: its header parsing and merging, and the filter over a fake proxy."""
from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from objstore.common.http import HTTPError, Request
from objstore.proxy.middleware.copy import (
    Copy, SourceBody, call, client_content_type, destination_headers, filter_factory, object_path,
    parse_account_header, parse_object_header,
)

LOG = logging.getLogger("test.copy")
CHUNK = 65536


class FakeProxy:
    """The app below the filter: objects in a dict, GET bodies pulled lazily
    chunk by chunk (``pulled`` counts them), PUTs checked as the proxy
    and object servers do (length, ETag)."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[dict[str, str], bytes]] = {}
        self.calls: list[dict[str, Any]] = []
        self.denied: set[str] = set()
        self.short_by = 0        # serve this many bytes fewer than Content-Length says
        self.corrupt = False     # serve a body other than the one the ETag is of
        self.pulled = 0
        self.pulled_at_first_read: int | None = None
        self.closed = 0

    def add(self, path: str, body: bytes, **headers: str) -> None:
        etag = hashlib.md5(body).hexdigest()
        self.objects[path] = ({"Content-Type": "application/octet-stream", "ETag": etag,
                               "Last-Modified": "Tue, 01 Apr 2025 10:00:00 GMT",
                               **{k.replace("_", "-"): v for k, v in headers.items()}}, body)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        self.calls.append(environ)
        path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
        if path in self.denied:
            start_response("403 Forbidden", [("Content-Length", "14")])
            return [b"not for you!!\n"]
        if method == "GET":
            return self.get(path, start_response)
        if method == "PUT":
            return self.put(environ, start_response)
        start_response("405 Method Not Allowed", [("Allow", "GET, PUT")])
        return [b"no\n"]

    def get(self, path: str, start_response: Callable[..., Any]) -> Iterable[bytes]:
        if path not in self.objects:
            start_response("404 Not Found", [("Content-Length", "10")])
            return [b"not found\n"]
        headers, body = self.objects[path]
        start_response("200 OK", [*headers.items(), ("Content-Length", str(len(body)))])
        served = (b"X" * len(body) if self.corrupt else body)[:len(body) - self.short_by]
        return Closing(self.chunks(served), self)

    def chunks(self, body: bytes) -> Iterator[bytes]:
        for start in range(0, len(body), CHUNK):
            self.pulled += 1
            yield body[start:start + CHUNK]

    def put(self, environ: dict[str, Any], start_response: Callable[..., Any]
            ) -> Iterable[bytes]:
        length, source = int(environ.get("CONTENT_LENGTH") or 0), environ["wsgi.input"]
        data = b""
        while len(data) < length:
            chunk = source.read(min(CHUNK, length - len(data)))
            if self.pulled_at_first_read is None:
                self.pulled_at_first_read = self.pulled
            if not chunk:
                start_response("499 Client Disconnect", [])
                return [b"body ended early\n"]
            data += chunk
        request = Request(environ)
        etag = hashlib.md5(data).hexdigest()
        if request.headers.get("ETag", etag) != etag:
            start_response("422 Unprocessable Entity", [])
            return [b"body MD5 does not match ETag\n"]
        self.objects[environ["PATH_INFO"]] = (dict(request.headers), data)
        start_response("201 Created", [("ETag", etag), ("Content-Length", "0"),
                                       ("Last-Modified", "Wed, 02 Apr 2025 10:00:00 GMT")])
        return [b""]


class Closing:
    """A body with close(), as a WSGI server (and the filter) must call it."""

    def __init__(self, chunks: Iterator[bytes], proxy: FakeProxy) -> None:
        self.chunks, self.proxy = chunks, proxy

    def __iter__(self) -> Iterator[bytes]:
        return self.chunks

    def close(self) -> None:
        self.proxy.closed += 1


@pytest.fixture
def proxy() -> FakeProxy:
    fake = FakeProxy()
    fake.add("/v1/AUTH_a/c/o", b"the source", X_Object_Meta_Color="blue",
             X_Object_Meta_Size="L", Content_Type="text/x-source", Content_Encoding="gzip",
             X_Delete_At="9999999999")
    return fake


def send(proxy: FakeProxy, method: str, path: str, body: bytes = b"", **headers: str) -> Any:
    request = Request.blank(path, method=method,
                            headers={k.replace("_", "-"): v for k, v in headers.items()})
    request.environ.update({"objstore.trans_id": "tx-copy-test", "HTTP_X_TRANS_ID": "tx-copy-test"})
    if body:
        request.body = body
    return request.get_response(filter_factory({}, LOG)(proxy))


def stored(proxy: FakeProxy, path: str) -> dict[str, str]:
    return {k.lower(): v for k, v in proxy.objects[path][0].items()}


# -- parsing --------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ("c/o", ("c", "o")),
    ("/c/o", ("c", "o")),
    ("c/dir/o", ("c", "dir/o")),
    ("c%20x/%E2%9C%93", ("c x", "\u2713")),
    (" /c/o ", ("c", "o")),
])
def test_container_object_headers(value: str, expected: tuple[str, str]) -> None:
    assert parse_object_header(value, "Destination") == expected


@pytest.mark.parametrize("value", [None, "", "c", "/c", "c/", "/", "//o", "%FF/o", "c/%00"])
def test_malformed_container_object_headers_are_412(value: str | None) -> None:
    with pytest.raises(HTTPError) as caught:
        parse_object_header(value, "X-Copy-From")
    assert caught.value.status == 412 and "X-Copy-From" in caught.value.reason


def test_account_headers() -> None:
    assert parse_account_header(None, "Destination-Account", "AUTH_a") == "AUTH_a"
    assert parse_account_header("AUTH_%C3%A9", "Destination-Account", "AUTH_a") == "AUTH_\xe9"
    for bad in ("", "AUTH_a/c", "%FF"):
        with pytest.raises(HTTPError) as caught:
            parse_account_header(bad, "Destination-Account", "AUTH_a")
        assert caught.value.status == 412


@pytest.mark.parametrize(("path", "expected"), [
    ("/v1/AUTH_a/c/o", ("AUTH_a", "c", "o")),
    ("/v1.0/AUTH_a/c/d/o/", ("AUTH_a", "c", "d/o/")),
    ("/v1/AUTH_a/c/\xe2\x9c\x93", ("AUTH_a", "c", "\u2713")),
    ("/v1/AUTH_a/c", None), ("/v1/AUTH_a/c/", None), ("/v1/AUTH_a", None),
    ("/v2/AUTH_a/c/o", None), ("/auth/v1.0", None), ("/v1/AUTH_a/c/\xff", None),
])
def test_only_object_paths_are_copies(path: str, expected: Any) -> None:
    assert object_path({"PATH_INFO": path}) == expected


def test_the_clients_content_type() -> None:
    assert client_content_type({"CONTENT_TYPE": "image/png"}) == "image/png"
    assert client_content_type({"CONTENT_TYPE": ""}) is None


# -- the merge --------------------------------------------------------------------

SOURCE = [("Content-Type", "text/x-source"), ("ETag", '"abc"'), ("Content-Encoding", "gzip"),
          ("X-Object-Meta-Color", "blue"), ("X-Object-Meta-Size", "L"),
          ("X-Delete-At", "9999999999"), ("X-Timestamp", "1.0"), ("Content-Length", "10"),
          ("Last-Modified", "yesterday")]


def test_the_copy_keeps_the_sources_settings_and_metadata() -> None:
    assert destination_headers(SOURCE, []) == {
        "Content-Type": "text/x-source", "ETag": "abc", "Content-Encoding": "gzip",
        "X-Object-Meta-Color": "blue", "X-Object-Meta-Size": "L", "X-Delete-At": "9999999999"}


@pytest.mark.parametrize("marker", [("X-Object-Manifest", "segs/o"),
                                    ("X-Static-Large-Object", "True")])
def test_a_large_objects_copy_is_a_plain_object_without_its_etag(marker: Any) -> None:
    copied = destination_headers([*SOURCE, marker], [])
    assert "ETag" not in copied and marker[0] not in copied
    assert copied["Content-Type"] == "text/x-source"


def test_the_requests_own_headers_win() -> None:
    merged = destination_headers(SOURCE, [
        ("x-object-meta-color", "red"), ("x-object-meta-new", "1"),
        ("x-remove-object-meta-size", "x"), ("content-encoding", ""),
        ("content-type", "image/png"), ("x-delete-after", "60"), ("x-auth-token", "t")])
    assert merged == {"ETag": "abc", "content-type": "image/png", "x-object-meta-color": "red",
                      "x-object-meta-new": "1", "x-delete-after": "60"}


def test_fresh_metadata_keeps_the_settings_but_none_of_the_metadata() -> None:
    merged = destination_headers(SOURCE, [("x-fresh-metadata", "True"),
                                          ("x-object-meta-mine", "yes")])
    assert merged == {"Content-Type": "text/x-source", "ETag": "abc",
                      "Content-Encoding": "gzip", "x-object-meta-mine": "yes"}
    assert "X-Object-Meta-Color" in destination_headers(SOURCE, [("x-fresh-metadata", "no")])


def test_an_empty_content_type_keeps_the_sources() -> None:
    assert destination_headers(SOURCE, [("content-type", "")])["Content-Type"] == "text/x-source"


# -- the source's body ----------------------------------------------------------

def test_the_source_body_is_pulled_only_as_far_as_it_is_read() -> None:
    pulled = []

    def chunks() -> Iterator[bytes]:
        for piece in (b"abc", b"defg", b"", b"hi"):
            pulled.append(piece)
            yield piece
    body = SourceBody(chunks())
    assert body.read(2) == b"ab" and len(pulled) == 1
    assert body.read(3) == b"cde" and len(pulled) == 2
    assert body.read() == b"fghi" and body.ended and body.received == 9
    assert body.read(5) == b""


# -- the filter -------------------------------------------------------------------

def test_copy_with_destination(proxy: FakeProxy) -> None:
    response = send(proxy, "COPY", "/v1/AUTH_a/c/o", Destination="/c2/o%20two",
                    X_Object_Meta_Color="red")
    assert response.status_int == 201
    assert response.headers["X-Copied-From"] == "c/o"
    assert response.headers["X-Copied-From-Account"] == "AUTH_a"
    assert response.headers["X-Copied-From-Last-Modified"] == "Tue, 01 Apr 2025 10:00:00 GMT"
    assert response.headers["ETag"] == hashlib.md5(b"the source").hexdigest()
    assert response.headers["Last-Modified"] == "Wed, 02 Apr 2025 10:00:00 GMT"
    headers = stored(proxy, "/v1/AUTH_a/c2/o two")
    assert proxy.objects["/v1/AUTH_a/c2/o two"][1] == b"the source"
    assert (headers["x-object-meta-color"], headers["x-object-meta-size"]) == ("red", "L")
    assert (headers["content-type"], headers["content-encoding"]) == ("text/x-source", "gzip")
    assert headers["x-delete-at"] == "9999999999"
    assert proxy.closed == 1  # the source's body was closed


def test_put_with_x_copy_from_and_fresh_metadata(proxy: FakeProxy) -> None:
    response = send(proxy, "PUT", "/v1/AUTH_a/c2/o2", X_Copy_From="c/o",
                    X_Fresh_Metadata="true", X_Object_Meta_Mine="1", Content_Type="text/plain")
    assert response.status_int == 201 and response.headers["X-Copied-From"] == "c/o"
    headers = stored(proxy, "/v1/AUTH_a/c2/o2")
    assert headers["x-object-meta-mine"] == "1" and "x-object-meta-color" not in headers
    assert headers["content-type"] == "text/plain" and "x-delete-at" not in headers


def test_copy_onto_itself_changes_the_content_type(proxy: FakeProxy) -> None:
    response = send(proxy, "COPY", "/v1/AUTH_a/c/o", Destination="c/o",
                    Content_Type="image/png")
    assert response.status_int == 201
    headers = stored(proxy, "/v1/AUTH_a/c/o")
    assert headers["content-type"] == "image/png" and headers["x-object-meta-color"] == "blue"
    assert proxy.objects["/v1/AUTH_a/c/o"][1] == b"the source"


def test_subrequests_are_the_clients_own(proxy: FakeProxy) -> None:
    def authorize(*args: Any, **kwargs: Any) -> None:
        return None
    request = Request.blank("/v1/AUTH_a/c/o?multipart-manifest=get", method="COPY", headers={
        "Destination": "c2/o2", "X-Auth-Token": "secret", "Range": "bytes=0-1",
        "If-Match": "nope", "Referer": "http://example.com/"})
    request.environ.update({"objstore.trans_id": "tx1", "HTTP_X_TRANS_ID": "tx1",
                            "objstore.authorize": authorize})
    assert request.get_response(Copy(proxy, LOG)).status_int == 201
    get, put = proxy.calls
    for sub in (get, put):
        assert sub["HTTP_X_AUTH_TOKEN"] == "secret" and sub["objstore.authorize"] is authorize
        assert sub["HTTP_X_TRANS_ID"] == sub["objstore.trans_id"] == "tx1"
        assert sub["HTTP_REFERER"] == "http://example.com/" and sub["QUERY_STRING"] == ""
        assert not {"HTTP_RANGE", "HTTP_IF_MATCH", "HTTP_DESTINATION"} & set(sub)
    assert (get["REQUEST_METHOD"], get["PATH_INFO"], get["HTTP_X_NEWEST"]) == \
        ("GET", "/v1/AUTH_a/c/o", "true")
    assert (put["REQUEST_METHOD"], put["PATH_INFO"], put["CONTENT_LENGTH"]) == \
        ("PUT", "/v1/AUTH_a/c2/o2", "10")
    assert put["HTTP_ETAG"] == hashlib.md5(b"the source").hexdigest()


def test_a_multi_chunk_source_is_streamed_not_read_whole(proxy: FakeProxy) -> None:
    body = bytes(range(256)) * 4096 * 2  # 2 MiB: 32 chunks
    proxy.add("/v1/AUTH_a/c/big", body)
    response = send(proxy, "PUT", "/v1/AUTH_a/c/big2", X_Copy_From="c/big")
    assert response.status_int == 201 and proxy.objects["/v1/AUTH_a/c/big2"][1] == body
    put = proxy.calls[-1]
    assert not isinstance(put["wsgi.input"], io.BytesIO)
    assert proxy.pulled_at_first_read == 1 and proxy.pulled == 32


def test_cross_account_copies(proxy: FakeProxy) -> None:
    proxy.add("/v1/AUTH_b/c/o", b"theirs")
    assert send(proxy, "PUT", "/v1/AUTH_a/c/o2", X_Copy_From="c/o",
                X_Copy_From_Account="AUTH_b").status_int == 403  # no auth filter took it
    request = Request.blank("/v1/AUTH_a/c/o", method="COPY", headers={
        "Destination": "c/o", "Destination-Account": "AUTH_b"})
    request.environ["objstore.authorize"] = lambda *a, **k: None
    response = request.get_response(Copy(proxy, LOG))
    assert response.status_int == 201 and response.headers["X-Copied-From-Account"] == "AUTH_a"
    assert proxy.objects["/v1/AUTH_b/c/o"][1] == b"the source"


@pytest.mark.parametrize(("method", "headers", "body", "status", "reason"), [
    ("COPY", {}, b"", 412, b"Destination header is required"),
    ("COPY", {"Destination": "c2"}, b"", 412, b"<container name>/<object name>"),
    ("COPY", {"Destination": "c2/o", "Destination-Account": ""}, b"", 412, b"account name"),
    ("PUT", {"X-Copy-From": "c"}, b"", 412, b"X-Copy-From must be"),
    ("PUT", {"X-Copy-From": ""}, b"", 412, b"X-Copy-From must be"),
    ("PUT", {"X-Copy-From": "c/o"}, b"a body", 400, b"send none"),
    ("PUT", {"X-Copy-From": "c/missing"}, b"", 404, b"copy source: not found"),
    ("PUT", {"X-Copy-From": "c/secret"}, b"", 403, b"copy source: not for you"),
    ("COPY", {"Destination": "private/o"}, b"", 403, b"copy destination: not for you"),
])
def test_bad_copies_are_4xx_with_a_reason(proxy: FakeProxy, method: str,
                                          headers: dict[str, str], body: bytes, status: int,
                                          reason: bytes) -> None:
    proxy.denied = {"/v1/AUTH_a/c/secret", "/v1/AUTH_a/private/o"}
    path = "/v1/AUTH_a/c/o" if method == "COPY" else "/v1/AUTH_a/c/o2"
    response = send(proxy, method, path, body, **{k.replace("-", "_"): v
                                                  for k, v in headers.items()})
    assert response.status_int == status and reason in response.body
    assert "/v1/AUTH_a/c/o2" not in proxy.objects


@pytest.mark.parametrize(("chunks", "status"), [(b"x", 400), (b"", 201)])
def test_a_chunked_body_is_refused_too(proxy: FakeProxy, chunks: bytes, status: int) -> None:
    request = Request.blank("/v1/AUTH_a/c/o2", method="PUT", headers={
        "X-Copy-From": "c/o", "Transfer-Encoding": "chunked"})
    request.environ["wsgi.input"] = io.BytesIO(chunks)
    request.environ.pop("CONTENT_LENGTH", None)
    assert request.get_response(Copy(proxy, LOG)).status_int == status


def test_a_source_too_big_is_413_and_its_body_left_unread(proxy: FakeProxy) -> None:
    def get(path: str, start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Length", str(6 * 2**30)), ("ETag", "x")])
        return Closing(iter([b"never read"]), proxy)
    proxy.get = get  # type: ignore[method-assign]
    response = send(proxy, "PUT", "/v1/AUTH_a/c/o2", X_Copy_From="c/huge")
    assert response.status_int == 413 and proxy.closed == 1
    assert [c["REQUEST_METHOD"] for c in proxy.calls] == ["GET"]


def test_a_source_that_ends_early_stores_nothing(proxy: FakeProxy) -> None:
    proxy.short_by = 3
    response = send(proxy, "COPY", "/v1/AUTH_a/c/o", Destination="c/o2")
    assert response.status_int == 503 and b"7 of 10" in response.body
    assert "/v1/AUTH_a/c/o2" not in proxy.objects


def test_a_corrupt_source_is_refused_by_its_etag(proxy: FakeProxy) -> None:
    proxy.corrupt = True
    response = send(proxy, "COPY", "/v1/AUTH_a/c/o", Destination="c/o2")
    assert response.status_int == 422 and b"copy destination" in response.body
    assert "/v1/AUTH_a/c/o2" not in proxy.objects


@pytest.mark.parametrize(("method", "path", "headers"), [
    ("COPY", "/v1/AUTH_a/c", {"Destination": "c2/o"}),
    ("PUT", "/v1/AUTH_a/c2", {"X-Copy-From": "c/o"}),
    ("PUT", "/v1/AUTH_a/c/o3", {}),
    ("GET", "/v1/AUTH_a/c/o", {"Destination": "c2/o"}),
])
def test_other_requests_pass_through_untouched(proxy: FakeProxy, method: str, path: str,
                                               headers: dict[str, str]) -> None:
    request = Request.blank(path, method=method, headers=headers)
    request.get_response(Copy(proxy, LOG))
    assert len(proxy.calls) == 1 and proxy.calls[0] is request.environ


def test_an_app_that_starts_its_response_with_its_body_is_heard() -> None:
    def lazy(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Length", "4")])
        yield b"lazy"
    answer = call(lazy, {"REQUEST_METHOD": "GET", "PATH_INFO": "/"})
    assert (answer.code, answer.header("content-length"), b"".join(answer)) == (200, "4", b"lazy")
