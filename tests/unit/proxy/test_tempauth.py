"""The tempauth filter: tokens for credentials, identities for requests."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from objstore.common.config import ConfigError
from objstore.common.http import Request
from objstore.proxy import acl
from objstore.proxy.middleware.tempauth import AUTHORIZE, OWNER, TempAuth, filter_factory

OPTIONS = {
    "token_secret": "0123456789abcdef-secret",
    "reseller_prefix": "AUTH, SERVICE",
    "SERVICE_require_group": "service",
    "user_test_tester": "testing .admin",
    "user_test_tester3": "testing3",
    "user_glance_glance": "glancepass service",
    "user_admin_admin": "admin .admin .reseller_admin",
}
LOG = logging.getLogger("test.tempauth")


def proxy_stand_in(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Plays the proxy: asks the filter's authorize with the ACLs the test
    passes in a header, as the proxy will once it has read them."""
    authorize = environ.get(AUTHORIZE)
    if authorize is None:
        status = "200 OK"
    else:
        parts = environ["PATH_INFO"].split("/")
        request = acl.Request(environ["REQUEST_METHOD"], parts[2],
                              parts[3] if len(parts) > 3 else None,
                              parts[4] if len(parts) > 4 else None,
                              environ.get("HTTP_REFERER"))
        read = acl.parse_container_acl(environ.get("HTTP_X_TEST_READ"))
        account_acl = acl.parse_account_acl(environ.get("HTTP_X_TEST_ACCOUNT_ACL"))
        decision = authorize(request, container_read=read, account_acl=account_acl)
        status = {None: "200 OK", 401: "401 Unauthorized", 403: "403 Forbidden"}[decision]
    start_response(status, [("Content-Length", "0"), ("X-Test-Owner", str(environ.get(OWNER)))])
    return [b""]


@pytest.fixture
def app() -> TempAuth:
    return filter_factory(OPTIONS, LOG)(proxy_stand_in)


def token_for(app: TempAuth, login: str, key: str) -> tuple[str, str]:
    response = Request.blank("/auth/v1.0", headers={"X-Auth-User": login,
                                                     "X-Auth-Key": key}).get_response(app)
    assert response.status_int == 200
    return response.headers["X-Auth-Token"], response.headers["X-Storage-Url"]


def test_credentials_get_a_token_and_the_storage_url(app: TempAuth) -> None:
    response = Request.blank("/auth/v1.0", headers={"X-Storage-User": "test:tester",
                                                     "X-Storage-Pass": "testing"},
                             base_url="http://127.0.0.1:8080").get_response(app)
    assert response.status_int == 200
    assert response.headers["X-Storage-Url"] == "http://127.0.0.1:8080/v1/AUTH_test"
    assert response.headers["X-Auth-Token"].startswith("AUTH_tk")
    assert response.headers["X-Auth-Token"] == response.headers["X-Storage-Token"]
    assert response.headers["X-Auth-Token-Expires"] == "86400"


@pytest.mark.parametrize("headers", [{}, {"X-Auth-User": "test:tester"},
                                     {"X-Auth-User": "test:tester", "X-Auth-Key": "nope"},
                                     {"X-Auth-User": "tester", "X-Auth-Key": "testing"}])
def test_bad_credentials_are_401(app: TempAuth, headers: dict[str, str]) -> None:
    response = Request.blank("/auth/v1.0", headers=headers).get_response(app)
    assert response.status_int == 401 and response.body.strip()
    assert "X-Auth-Token" not in response.headers


def call(app: TempAuth, path: str, method: str = "GET", **headers: str) -> int:
    return Request.blank(path, method=method, headers={k.replace("_", "-"): v
                                                       for k, v in headers.items()}
                         ).get_response(app).status_int


def test_owners_others_and_strangers(app: TempAuth) -> None:
    owner, url = token_for(app, "test:tester", "testing")
    tester3, _ = token_for(app, "test:tester3", "testing3")
    admin, _ = token_for(app, "admin:admin", "admin")
    assert call(app, "/v1/AUTH_test/c/o", "PUT", X_Auth_Token=owner) == 200
    assert call(app, "/v1/AUTH_test/c/o", X_Auth_Token=tester3) == 403
    assert call(app, "/v1/AUTH_test/c/o", X_Auth_Token=tester3, X_Test_Read="test:tester3") == 200
    assert call(app, "/v1/AUTH_test/c/o") == 401
    assert call(app, "/v1/AUTH_test/c/o", X_Auth_Token="AUTH_tkforged.sig") == 401
    assert call(app, "/v1/AUTH_test/c/o", X_Test_Read=".r:*") == 200
    assert call(app, "/v1/AUTH_other/c", "DELETE", X_Auth_Token=admin) == 200  # reseller admin
    assert call(app, "/v1/AUTH_other/c/o", X_Auth_Token=owner) == 403
    assert call(app, "/v1/OTHER_x/c/o") == 200  # not ours: passed through untouched


def test_owners_are_told_apart_for_owner_only_headers(app: TempAuth) -> None:
    def owner(path: str, token: str, **headers: str) -> str:
        return Request.blank(path, headers={"X-Auth-Token": token, **{
            k.replace("_", "-"): v for k, v in headers.items()}}).get_response(
                app).headers["X-Test-Owner"]
    tester, _ = token_for(app, "test:tester", "testing")
    tester3, _ = token_for(app, "test:tester3", "testing3")
    admin, _ = token_for(app, "admin:admin", "admin")
    assert owner("/v1/AUTH_test/c", tester) == "True"
    assert owner("/v1/AUTH_other/c", admin) == "True"                     # reseller admin
    assert owner("/v1/AUTH_test/c", tester3, X_Test_Read="test:tester3") == "False"
    assert owner("/v1/AUTH_test/c", tester3,
                 X_Test_Account_ACL='{"read-write": ["test:tester3"]}') == "False"
    assert owner("/v1/AUTH_test/c", tester3,
                 X_Test_Account_ACL='{"admin": ["test:tester3"]}') == "True"
    assert owner("/v1/AUTH_test/c", tester3) == "False"                   # refused: 403


def test_service_prefix_needs_a_service_token(app: TempAuth) -> None:
    owner, _ = token_for(app, "test:tester", "testing")
    service, _ = token_for(app, "glance:glance", "glancepass")
    assert call(app, "/v1/SERVICE_test/c/o", X_Auth_Token=owner) == 403
    assert call(app, "/v1/SERVICE_test/c/o", X_Auth_Token=owner, X_Service_Token=service) == 200
    assert call(app, "/v1/AUTH_test/c/o", X_Auth_Token=owner) == 200


def test_a_token_works_on_another_proxy_with_the_same_secret(app: TempAuth) -> None:
    owner, _ = token_for(app, "test:tester", "testing")
    other = filter_factory(OPTIONS, LOG)(proxy_stand_in)
    assert call(other, "/v1/AUTH_test/c/o", X_Auth_Token=owner) == 200
    stranger = filter_factory({**OPTIONS, "token_secret": "another-secret-16b!"}, LOG)(
        proxy_stand_in)
    assert call(stranger, "/v1/AUTH_test/c/o", X_Auth_Token=owner) == 401


@pytest.mark.parametrize(("options", "message"), [
    ({"token_secret": "short"}, "token_secret must be set"),
    ({"token_life": "soon"}, "token_life = 'soon'"),
    ({"user_test": "key"}, "expected user_<account>_<user>"),
])
def test_bad_config_is_refused_with_a_reason(options: dict[str, str], message: str) -> None:
    with pytest.raises((ConfigError, ValueError), match=message):
        filter_factory({**OPTIONS, **options}, LOG)(proxy_stand_in)
