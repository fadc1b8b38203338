"""CORS on a real cluster: preflights without a token (allowed, refused, and
what they do not tell), the headers of actual requests and of errors, a
container open to every origin set through the swift CLI, the proxy's own
origins and exposed headers, bad settings and /info."""
from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from .cluster import Cluster, ok, raw
from .test_symlink import Client, containers

APP = "https://app.example"
EVERYWHERE = "https://everywhere.example"   # the proxy's cors_allow_origin
EXPOSED = ("cache-control", "content-language", "content-type", "expires", "last-modified",
           "pragma", "etag", "x-timestamp", "x-trans-id", "x-openstack-request-id")


class CorsCluster(Cluster):
    """The test cluster with the proxy's CORS options set."""

    def _proxy_conf(self) -> Path:
        conf = super()._proxy_conf()
        text = conf.read_text()
        if "cors_allow_origin" not in text:
            conf.write_text(text + f"cors_allow_origin = {EVERYWHERE}\n"
                                   "cors_expose_headers = X-Cluster-Exposed\n")
        return conf


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CorsCluster]:
    running = CorsCluster(tmp_path_factory.mktemp("cors"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def owner(cluster: Cluster) -> Client:
    owner = Client(cluster)
    containers(owner, "web", "closed")
    assert owner("POST", "web", X_Container_Meta_Access_Control_Allow_Origin=(
        f"http://other.example {APP}"), X_Container_Meta_Access_Control_Max_Age="600",
        X_Container_Meta_Access_Control_Expose_Headers="X-Custom-Exposed",
        X_Container_Meta_Secret="s")[0] == 204
    assert owner("PUT", "web/o", b"hello", X_Object_Meta_Color="blue")[0] == 201
    return owner


def anonymous(owner: Client, method: str, path: str, **headers: str
              ) -> tuple[int, dict[str, str], bytes]:
    return raw(owner.cluster, method, urllib.parse.quote(f"/v1/{owner.account}/{path}"), b"",
               {k.replace("_", "-"): v for k, v in headers.items()})


def preflight(owner: Client, path: str, origin: str, method: str = "GET", **headers: str
              ) -> tuple[int, dict[str, str], bytes]:
    return anonymous(owner, "OPTIONS", path, Origin=origin,
                     Access_Control_Request_Method=method, **headers)


def test_preflights(owner: Client) -> None:
    status, headers, body = preflight(owner, "web/o", APP, "PUT",
                                      Access_Control_Request_Headers="x-auth-token, "
                                      "content-type")
    assert (status, body) == (200, b"")
    assert headers["Access-Control-Allow-Origin"] == APP
    assert headers["Access-Control-Allow-Methods"] == "DELETE, GET, HEAD, OPTIONS, POST, PUT"
    assert headers["Access-Control-Max-Age"] == "600"
    assert headers["Access-Control-Allow-Headers"] == "x-auth-token, content-type"
    assert headers["Vary"] == "Origin, Access-Control-Request-Headers"
    # a preflight tells nothing else of the container or the object
    told = {name.lower() for name in headers}
    assert not [name for name in told if name.startswith(("x-container", "x-object", "etag",
                                                         "x-timestamp", "last-modified"))]
    # the container itself, and an object that does not exist, the same
    assert preflight(owner, "web", "http://other.example")[0] == 200
    assert preflight(owner, "web/nothing-here", APP, "DELETE")[0] == 200
    # refused: another origin, a method the path does not take, no method at all
    for status, headers, body in (preflight(owner, "web/o", "https://evil.example"),
                                  preflight(owner, "web/o", APP, "PATCH"),
                                  anonymous(owner, "OPTIONS", "web/o", Origin=APP)):
        assert status == 401 and body
        assert "Access-Control-Allow-Origin" not in headers
    # a container without CORS settings: only the proxy's own origins
    assert preflight(owner, "closed/o", APP)[0] == 401
    assert preflight(owner, "no-such-container/o", APP)[0] == 401
    status, headers, _ = preflight(owner, "closed/o", EVERYWHERE)
    assert status == 200 and headers["Access-Control-Allow-Origin"] == EVERYWHERE
    # OPTIONS without Origin, and of an account: what the path allows, no more
    status, headers, body = anonymous(owner, "OPTIONS", "web/o")
    assert (status, headers["Allow"], body) == (200, "DELETE, GET, HEAD, OPTIONS, POST, PUT",
                                                b"")
    status, headers, _ = raw(owner.cluster, "OPTIONS", f"/v1/{owner.account}", b"",
                             {"Origin": APP, "Access-Control-Request-Method": "GET"})
    assert status == 200 and "Access-Control-Allow-Origin" not in headers


def test_actual_requests(owner: Client) -> None:
    status, headers, body = owner("GET", "web/o", Origin=APP)
    assert (status, body) == (200, b"hello")
    assert headers["Access-Control-Allow-Origin"] == APP and headers["Vary"] == "Origin"
    exposed = headers["Access-Control-Expose-Headers"].split(", ")
    assert set(EXPOSED) <= set(exposed)
    assert {"x-object-meta-color", "x-custom-exposed", "x-cluster-exposed"} <= set(exposed)
    # the container's metadata on its own answers
    status, headers, _ = owner("HEAD", "web", Origin=APP)
    assert "x-container-meta-secret" in headers["Access-Control-Expose-Headers"].split(", ")
    # errors too, so a page's script can read why it failed
    status, headers, body = anonymous(owner, "GET", "web/o", Origin=APP)
    assert status == 401 and b"token" in body
    assert headers["Access-Control-Allow-Origin"] == APP
    assert owner("GET", "web/missing", Origin=APP)[1]["Access-Control-Allow-Origin"] == APP
    # strict mode: an origin not allowed gets no CORS headers, nor does a request without one
    for headers in (owner("GET", "web/o", Origin="https://evil.example")[1],
                    owner("GET", "web/o")[1]):
        assert not [name for name in headers if name.startswith("Access-Control")]
    # an object write through CORS
    status, headers, _ = owner("PUT", "web/from-page", b"x", Origin=APP)
    assert status == 201 and headers["Access-Control-Allow-Origin"] == APP


def test_any_origin_through_the_swift_cli(cluster: Cluster, owner: Client) -> None:
    ok(cluster.swift("post", "-r", ".r:*", "-H",
                     "X-Container-Meta-Access-Control-Allow-Origin: *", "open"))
    assert owner("PUT", "open/page.html", b"<p>hi</p>")[0] == 201
    status, headers, _ = preflight(owner, "open/page.html", "https://anyone.example")
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"
    assert "Vary" not in headers
    status, headers, body = anonymous(owner, "GET", "open/page.html",
                                      Origin="https://anyone.example")
    assert (status, body) == (200, b"<p>hi</p>")
    assert headers["Access-Control-Allow-Origin"] == "*"


def test_bad_settings_and_info(owner: Client) -> None:
    status, _, body = owner("POST", "web", X_Container_Meta_Access_Control_Max_Age="soon")
    assert status == 400 and b"whole number" in body
    assert owner("HEAD", "web")[1]["X-Container-Meta-Access-Control-Max-Age"] == "600"
    status, _, body = raw(owner.cluster, "GET", "/info")
    assert status == 200 and json.loads(body)["swift"]["strict_cors_mode"] is True
