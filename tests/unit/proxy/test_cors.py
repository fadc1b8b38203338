"""CORS in the proxy: origins allowed, preflights, the headers of actual
requests, and the proxy's way into its controllers (objstore.proxy.cors)."""
from __future__ import annotations

import logging
from typing import Any

import pytest

from objstore.common.http import HTTPError, Request, Response
from objstore.proxy import cors
from objstore.proxy.controllers import AccountController, ContainerController
from objstore.proxy.objects import ObjectController
from objstore.proxy.server import InfoCache, ProxyConfig

ORIGIN = "https://app.example.com"


def request(method: str = "GET", **headers: str) -> Request:
    return Request.blank("/v1/AUTH_test/c/o", method=method,
                         headers={k.replace("_", "-"): v for k, v in headers.items()})


def container(allow: str = "", expose: str = "", max_age: str = "", **cluster: Any
              ) -> cors.Policy:
    facts = {cors.ALLOW_ORIGIN: allow, cors.EXPOSE_HEADERS: expose, cors.MAX_AGE: max_age}
    return cors.policy_of({k: v for k, v in facts.items() if v}, **cluster)


METHODS = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]


def test_origins_allowed() -> None:
    policy = container("http://a.example  https://app.example.com")
    assert policy.allows(ORIGIN) and policy.allows("http://a.example")
    assert not policy.allows("https://evil.example")
    assert not policy.allows("https://app.example.com.evil.example")
    assert container("*").allows("https://anyone.example")
    assert not container("").allows(ORIGIN)
    # the proxy's origins count for every container, besides its own
    assert container("", cluster_origins=[ORIGIN]).allows(ORIGIN)
    assert container("http://a.example", cluster_origins=["*"]).allows("http://b.example")


def test_preflight_allowed() -> None:
    policy = container(f"{ORIGIN} http://other.example", max_age="600")
    response = cors.preflight(request("OPTIONS", Origin=ORIGIN,
                                      Access_Control_Request_Method="PUT",
                                      Access_Control_Request_Headers="x-auth-token, "
                                      "content-type,x-auth-token"), policy, METHODS)
    assert response.status_int == 200
    headers = response.headers
    assert headers["Access-Control-Allow-Origin"] == ORIGIN
    assert headers["Access-Control-Allow-Methods"] == ", ".join(METHODS)
    assert headers["Allow"] == ", ".join(METHODS)
    assert headers["Access-Control-Max-Age"] == "600"
    assert headers["Access-Control-Allow-Headers"] == "x-auth-token, content-type"
    assert headers["Vary"] == "Origin, Access-Control-Request-Headers"
    assert response.body == b""


def test_preflight_any_origin_and_without_extras() -> None:
    response = cors.preflight(request("OPTIONS", Origin=ORIGIN,
                                      Access_Control_Request_Method="GET"),
                              container(" * ", max_age="soon"), METHODS)
    headers = response.headers
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "Vary" not in headers  # the answer is the same for every origin
    assert "Access-Control-Max-Age" not in headers  # a stored value that is no number
    assert "Access-Control-Allow-Headers" not in headers


@pytest.mark.parametrize("headers, why", [
    ({"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}, "origin"),
    ({"Origin": ORIGIN, "Access-Control-Request-Method": "PATCH"}, "Request-Method"),
    ({"Origin": ORIGIN}, "Request-Method"),
])
def test_preflight_refused(headers: dict[str, str], why: str) -> None:
    with pytest.raises(HTTPError) as caught:
        cors.preflight(Request.blank("/v1/a/c", method="OPTIONS", headers=headers),
                       container(ORIGIN), METHODS)
    assert caught.value.status == 401 and why in caught.value.reason
    assert caught.value.headers == {"Allow": ", ".join(METHODS)}


def test_options_without_origin_or_cors_settings_is_plain() -> None:
    for policy in (container(ORIGIN), None):
        response = cors.preflight(request("OPTIONS", Access_Control_Request_Method="GET"),
                                  policy, METHODS)
        assert response.status_int == 200
        assert dict(response.headers) == {"Allow": ", ".join(METHODS), "Content-Length": "0"}
    # an account has no CORS settings: even with Origin the answer is plain
    response = cors.preflight(request("OPTIONS", Origin=ORIGIN,
                                      Access_Control_Request_Method="GET"), None, METHODS)
    assert "Access-Control-Allow-Origin" not in response.headers


def answered(**headers: str) -> Response:
    response = Response(status=200, body=b"x", content_type=None, charset=None)
    response.headers.update({k.replace("_", "-"): v for k, v in headers.items()})
    return response


def test_actual_request_headers() -> None:
    policy = container(ORIGIN, expose="X-Custom  x-other", cluster_expose=["X-Cluster"])
    response = cors.decorate(request(Origin=ORIGIN),
                             answered(X_Object_Meta_Color="red", Vary="Accept",
                                      X_Container_Meta_Web_Index="index.html"), policy)
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Vary"] == "Accept, Origin"
    exposed = response.headers["Access-Control-Expose-Headers"].split(", ")
    assert exposed[:10] == ["cache-control", "content-language", "content-type", "expires",
                            "last-modified", "pragma", "etag", "x-timestamp", "x-trans-id",
                            "x-openstack-request-id"]
    assert exposed[10:] == ["x-cluster", "x-object-meta-color", "x-container-meta-web-index",
                            "x-custom", "x-other"]


def test_actual_request_any_origin_and_strictness() -> None:
    star = cors.decorate(request(Origin=ORIGIN), answered(), container("*"))
    assert star.headers["Access-Control-Allow-Origin"] == "*" and "Vary" not in star.headers
    # strict (the default): an origin not allowed gets no CORS headers at all
    stranger = cors.decorate(request(Origin="https://evil.example"), answered(),
                             container(ORIGIN))
    assert not [h for h in stranger.headers if h.startswith("Access-Control")]
    # not strict: every origin gets them
    lax = cors.decorate(request(Origin="https://evil.example"), answered(),
                        container(ORIGIN, strict=False))
    assert lax.headers["Access-Control-Allow-Origin"] == "https://evil.example"
    # a request without Origin is left alone
    plain = cors.decorate(request(), answered(), container("*"))
    assert "Access-Control-Allow-Origin" not in plain.headers


def test_actual_request_keeps_what_the_answer_set() -> None:
    response = cors.decorate(request(Origin=ORIGIN), answered(
        Access_Control_Allow_Origin="https://fixed.example",
        Access_Control_Expose_Headers="etag"), container(ORIGIN))
    assert response.headers["Access-Control-Allow-Origin"] == "https://fixed.example"
    assert response.headers["Access-Control-Expose-Headers"] == "etag"


@pytest.mark.parametrize("value, ok", [("600", True), (" 0 ", True), ("", True),
                                       ("ten", False), ("-5", False), ("1.5", False)])
def test_max_age_setting(value: str, ok: bool) -> None:
    headers = {cors.MAX_AGE_HEADER: value}
    if ok:
        cors.check_settings(headers)
    else:
        with pytest.raises(HTTPError) as caught:
            cors.check_settings(headers)
        assert caught.value.status == 400 and "whole number" in caught.value.reason
    cors.check_settings({})


def test_methods_of_controllers() -> None:
    expected = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]
    for kind in (AccountController, ContainerController, ObjectController):
        assert cors.methods_of(kind) == expected


class StandIn:
    """Enough of ProxyApp for ``cors.handle``: its config and facts cache."""

    def __init__(self, conf: ProxyConfig, facts: dict[str, str] | None) -> None:
        self.conf = conf
        self.cache = InfoCache(60)
        self.logger = logging.getLogger("test.cors")
        self.cache.put("container/AUTH_test/c", {} if facts is None else
                       {"policy": 0, "headers": facts})


class Controller:
    """An object controller that answers, or fails, as a test says."""

    def __init__(self, answer: Response | HTTPError) -> None:
        self.answer = answer
        self.calls = 0

    def do_GET(self, request: Request) -> Response:  # noqa: N802 (as the controllers)
        raise AssertionError("handle() is the way in")

    def handle(self, request: Request) -> Response:
        self.calls += 1
        if isinstance(self.answer, HTTPError):
            raise self.answer
        return self.answer


def test_handle_preflight_never_reaches_the_controller() -> None:
    app = StandIn(ProxyConfig(), {cors.ALLOW_ORIGIN: ORIGIN})
    controller = Controller(HTTPError(401, "a valid token is required"))
    response = cors.handle(app, request("OPTIONS", Origin=ORIGIN,  # type: ignore[arg-type]
                                        Access_Control_Request_Method="GET"),
                           controller, "AUTH_test", "c")
    assert controller.calls == 0
    assert response.status_int == 200
    assert response.headers["Access-Control-Allow-Methods"] == "GET, OPTIONS"
    # a container that does not exist has no CORS settings: 401 to any origin
    missing = StandIn(ProxyConfig(), None)
    with pytest.raises(HTTPError) as caught:
        cors.handle(missing, request("OPTIONS", Origin=ORIGIN,  # type: ignore[arg-type]
                                     Access_Control_Request_Method="GET"),
                    controller, "AUTH_test", "c")
    assert caught.value.status == 401
    # ... unless the proxy allows the origin everywhere
    everywhere = StandIn(ProxyConfig(cors_allow_origin=[ORIGIN]), None)
    response = cors.handle(everywhere, request(  # type: ignore[arg-type]
        "OPTIONS", Origin=ORIGIN, Access_Control_Request_Method="GET"),
        controller, "AUTH_test", "c")
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_handle_errors_carry_cors_headers() -> None:
    app = StandIn(ProxyConfig(), {cors.ALLOW_ORIGIN: ORIGIN})
    controller = Controller(HTTPError(401, "a valid token is required"))
    response = cors.handle(app, request(Origin=ORIGIN),  # type: ignore[arg-type]
                           controller, "AUTH_test", "c")
    assert response.status_int == 401 and b"valid token" in response.body
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    # without Origin the error is raised as before, for the proxy's wsgi_app
    with pytest.raises(HTTPError):
        cors.handle(app, request(), controller, "AUTH_test", "c")  # type: ignore[arg-type]
    # accounts: no CORS headers on actual requests
    ok = Controller(answered())
    response = cors.handle(app, request(Origin=ORIGIN), ok,  # type: ignore[arg-type]
                           "AUTH_test", None)
    assert "Access-Control-Allow-Origin" not in response.headers
