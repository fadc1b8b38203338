"""account_quotas over a fake proxy: who may set the quota, its values, and
uploads past it (the fake proxy is test_container_quotas')."""
from __future__ import annotations

import logging
from typing import Any

import pytest

from objstore.proxy.middleware.account_quotas import filter_factory
from objstore.proxy.tokens import Identity

from .test_container_quotas import FakeProxy, run

LOG = logging.getLogger("test.account_quotas")


def allow(*args: Any, **kwargs: Any) -> None:
    return None


def as_user(*groups: str) -> dict[str, Any]:
    """The environ tempauth leaves for a token of these groups."""
    return {"objstore.authorize": allow,
            "objstore.identity": Identity("a", "u", ("a", "a:u", *groups), 0.0)}


@pytest.fixture
def proxy() -> FakeProxy:
    proxy = FakeProxy()
    proxy.facts["/v1/AUTH_a"] = {"X-Account-Bytes-Used": "90",
                                 "X-Account-Meta-Quota-Bytes": "100"}
    proxy.facts["/v1/AUTH_a/c"] = {"X-Container-Bytes-Used": "0"}
    return proxy


@pytest.fixture
def app(proxy: FakeProxy) -> Any:
    return filter_factory({}, LOG)(proxy)


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_only_a_reseller_admin_sets_the_quota(app: Any, method: str) -> None:
    owner, admin = as_user(".admin"), as_user(".reseller_admin")
    status, body = run(app, method, "/v1/AUTH_a", environ=owner,
                       X_ACCOUNT_META_QUOTA_BYTES="1000")
    assert status == 403 and b"reseller admin" in body
    assert run(app, method, "/v1/AUTH_a", environ=owner,
               X_REMOVE_ACCOUNT_META_QUOTA_BYTES="x")[0] == 403
    no_token = {"objstore.authorize": allow}
    assert run(app, method, "/v1/AUTH_a", environ=no_token,
               X_ACCOUNT_META_QUOTA_BYTES="1000")[0] == 401
    assert run(app, method, "/v1/AUTH_a", environ=admin,
               X_ACCOUNT_META_QUOTA_BYTES="1000")[0] == 204
    assert run(app, method, "/v1/AUTH_a", environ=admin, X_ACCOUNT_META_QUOTA_BYTES="")[0] \
        == 204
    status, body = run(app, method, "/v1/AUTH_a", environ=admin,
                       X_ACCOUNT_META_QUOTA_BYTES="1 GB")
    assert status == 400 and b"whole number" in body
    # the owner's other metadata is none of this filter's business
    assert run(app, method, "/v1/AUTH_a", environ=owner, X_ACCOUNT_META_COLOR="red")[0] == 204
    # without an auth filter there is no one to ask
    assert run(app, method, "/v1/AUTH_a", X_ACCOUNT_META_QUOTA_BYTES="5")[0] == 204


def test_uploads_past_the_quota(app: Any, proxy: FakeProxy) -> None:
    assert run(app, "PUT", "/v1/AUTH_a/c/o", b"x" * 10)[0] == 201
    status, body = run(app, "PUT", "/v1/AUTH_a/c/o", b"x" * 11)
    assert status == 413 and b"account's quota is 100 bytes and 90 are in use" in body
    status, body = run(app, "PUT", "/v1/AUTH_a/c/o", b"x" * 11, chunked=True)
    assert status == 413 and "/v1/AUTH_a/c/o" in proxy.stored  # the 10 bytes of before
    assert proxy.stored["/v1/AUTH_a/c/o"] == b"x" * 10
    proxy.facts["/v1/AUTH_a"]["X-Account-Bytes-Used"] = "101"
    assert run(app, "PUT", "/v1/AUTH_a/c/empty")[0] == 413  # over already: nothing more
    del proxy.facts["/v1/AUTH_a"]["X-Account-Meta-Quota-Bytes"]
    assert run(app, "PUT", "/v1/AUTH_a/c/o", b"x" * 500)[0] == 201


def test_a_stranger_gets_401_not_413(app: Any) -> None:
    environ = {"objstore.authorize": lambda *args, **kwargs: 401}
    assert run(app, "PUT", "/v1/AUTH_a/c/o", b"x" * 50, environ=environ) \
        == (401, b"a valid token is required\n")
