"""container_quotas over a fake proxy: quota values, uploads past a quota,
chunked uploads cut off, and who learns of a quota."""
from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from objstore.common.http import HTTPError
from objstore.proxy.middleware.container_quotas import filter_factory
from objstore.proxy.middleware.quotas import CappedInput, check_quota_value, stored_number

LOG = logging.getLogger("test.container_quotas")


class FakeProxy:
    """Facts of accounts and containers by path; object PUTs read their body
    as the proxy does (HTTPError from it answered as the proxy's wsgi_app)."""

    def __init__(self) -> None:
        self.facts: dict[str, dict[str, str]] = {}
        self.stored: dict[str, bytes] = {}
        self.heads: list[dict[str, Any]] = []
        self.broken = False

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        if method == "HEAD":
            self.heads.append(environ)
            if self.broken:
                return answer(start_response, "503 Service Unavailable")
            if path not in self.facts:
                return answer(start_response, "404 Not Found")
            return answer(start_response, "204 No Content", self.facts[path])
        if method == "PUT" and path.count("/") >= 4:
            try:
                body = self.read_body(environ)
            except HTTPError as err:
                return answer(start_response, f"{err.status} Error", {}, err.reason.encode())
            self.stored[path] = body
            return answer(start_response, "201 Created")
        return answer(start_response, "204 No Content")

    @staticmethod
    def read_body(environ: dict[str, Any]) -> bytes:
        source, body = environ["wsgi.input"], b""
        length = environ.get("CONTENT_LENGTH")
        while length in (None, "") or len(body) < int(length):
            chunk = source.read(4)
            if not chunk:
                break
            body += chunk
        return body


def answer(start_response: Callable[..., Any], status: str,
           headers: dict[str, str] | None = None, body: bytes = b"") -> list[bytes]:
    start_response(status, [*(headers or {}).items(), ("Content-Length", str(len(body)))])
    return [body]


def run(app: Any, method: str, path: str, body: bytes = b"", chunked: bool = False,
        environ: dict[str, Any] | None = None, **headers: str) -> tuple[int, bytes]:
    env: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path,
                           "CONTENT_LENGTH": "" if chunked else str(len(body)),
                           "wsgi.input": io.BytesIO(body), **(environ or {})}
    if chunked:
        env["HTTP_TRANSFER_ENCODING"] = "chunked"
    env.update({"HTTP_" + k.upper(): v for k, v in headers.items()})
    started: list[str] = []
    data = b"".join(app(env, lambda status, hdrs, exc=None: started.append(status)))
    return int(started[0].split()[0]), data


@pytest.fixture
def proxy() -> FakeProxy:
    proxy = FakeProxy()
    proxy.facts["/v1/AUTH_a"] = {"X-Account-Bytes-Used": "0"}
    proxy.facts["/v1/AUTH_a/c"] = {"X-Container-Bytes-Used": "6", "X-Container-Object-Count": "2",
                                   "X-Container-Meta-Quota-Bytes": "10",
                                   "X-Container-Write": "AUTH_a:writer"}
    return proxy


@pytest.fixture
def app(proxy: FakeProxy) -> Any:
    return filter_factory({}, LOG)(proxy)


def test_quota_values() -> None:
    for good in ("0", "10", " 25 ", ""):
        check_quota_value(good, "X-Container-Meta-Quota-Bytes")
    for bad in ("-1", "1.5", "ten", "\u0661", "1e3"):
        with pytest.raises(HTTPError) as caught:
            check_quota_value(bad, "X-Container-Meta-Quota-Count")
        assert caught.value.status == 400 and "X-Container-Meta-Quota-Count" in caught.value.reason
    assert stored_number({"x-quota": "12"}, "X-Quota") == 12
    assert stored_number({"x-quota": "lots"}, "X-Quota") is None


def test_container_writes_must_carry_whole_numbers(app: Any) -> None:
    assert run(app, "POST", "/v1/AUTH_a/c", X_CONTAINER_META_QUOTA_BYTES="100")[0] == 204
    assert run(app, "PUT", "/v1/AUTH_a/d", X_CONTAINER_META_QUOTA_COUNT="")[0] == 204
    status, body = run(app, "POST", "/v1/AUTH_a/c", X_CONTAINER_META_QUOTA_BYTES="10MB")
    assert status == 400 and b"whole number" in body
    assert run(app, "PUT", "/v1/AUTH_a/d", X_CONTAINER_META_QUOTA_COUNT="-2")[0] == 400


def test_uploads_within_and_past_the_bytes_quota(app: Any, proxy: FakeProxy) -> None:
    assert run(app, "PUT", "/v1/AUTH_a/c/fits", b"1234")[0] == 201
    status, body = run(app, "PUT", "/v1/AUTH_a/c/big", b"12345")
    assert status == 413 and b"Upload exceeds quota" in body and b"10 bytes" in body
    assert "/v1/AUTH_a/c/big" not in proxy.stored
    # the facts are read as the proxy itself, not as the client
    assert all("objstore.authorize" not in head for head in proxy.heads)


def test_a_chunked_upload_is_cut_off_past_the_quota(app: Any, proxy: FakeProxy) -> None:
    assert run(app, "PUT", "/v1/AUTH_a/c/fits", b"1234", chunked=True)[0] == 201
    status, body = run(app, "PUT", "/v1/AUTH_a/c/big", b"123456789", chunked=True)
    assert status == 413 and b"Upload exceeds quota" in body
    assert "/v1/AUTH_a/c/big" not in proxy.stored
    capped = CappedInput(io.BytesIO(b"abcdef"), 3, "too much")
    assert capped.read(3) == b"abc"
    with pytest.raises(HTTPError, match="too much"):
        capped.read(1)


def test_the_count_quota(app: Any, proxy: FakeProxy) -> None:
    proxy.facts["/v1/AUTH_a/c"].update({"X-Container-Meta-Quota-Count": "3",
                                        "X-Container-Meta-Quota-Bytes": ""})
    assert run(app, "PUT", "/v1/AUTH_a/c/third", b"a lot more than ten bytes")[0] == 201
    proxy.facts["/v1/AUTH_a/c"]["X-Container-Object-Count"] = "3"
    status, body = run(app, "PUT", "/v1/AUTH_a/c/fourth")
    assert status == 413 and b"3 objects" in body


def test_strangers_learn_nothing_of_a_quota(app: Any) -> None:
    seen: list[Any] = []

    def authorize(target: Any, environ: Any, **acls: Any) -> int | None:
        seen.append((target, acls))
        return None if "AUTH_a:writer" in acls["container_write"].groups and \
            environ.get("who") == "writer" else 403
    status, body = run(app, "PUT", "/v1/AUTH_a/c/big", b"12345678901",
                       environ={"objstore.authorize": authorize, "who": "stranger"})
    assert (status, body) == (403, b"this token may not do that\n")
    assert seen[0][0].method == "PUT" and seen[0][0].obj == "big"
    status, body = run(app, "PUT", "/v1/AUTH_a/c/big", b"12345678901",
                       environ={"objstore.authorize": authorize, "who": "writer"})
    assert status == 413


def test_no_container_no_quota_and_unknown_facts_let_through(app: Any, proxy: FakeProxy,
                                                             caplog: pytest.LogCaptureFixture
                                                             ) -> None:
    assert run(app, "PUT", "/v1/AUTH_a/elsewhere/o", b"x" * 50)[0] == 201
    proxy.broken = True
    with caplog.at_level(logging.WARNING):
        assert run(app, "PUT", "/v1/AUTH_a/c/o", b"x" * 50)[0] == 201
    assert "let through" in caplog.text


def test_unknown_options_are_reported(proxy: FakeProxy, caplog: pytest.LogCaptureFixture
                                      ) -> None:
    with caplog.at_level(logging.WARNING):
        filter_factory({"quota": "1"}, LOG)(proxy)
    assert "unknown option 'quota'" in caplog.text
