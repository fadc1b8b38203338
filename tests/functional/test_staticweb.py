"""Static web sites on a real cluster, set up through the swift CLI: index
pages at the top and in pseudo-directories, 301s to the slash, listings
with a style sheet, error pages, directory markers, web mode for tokens,
and a private container that stays private."""
from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from .cluster import Cluster, ok, raw
from .test_symlink import ApiCluster, Client, containers


class WebCluster(ApiCluster):
    """The API cluster with staticweb where Swift has it: right after tempauth."""

    def _proxy_conf(self) -> Path:
        conf = super()._proxy_conf()
        text = conf.read_text()
        if " staticweb " not in text:
            text = text.replace(" tempauth ", " tempauth staticweb ", 1) + "[filter:staticweb]\n"
            conf.write_text(text)
        return conf


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebCluster]:
    running = WebCluster(tmp_path_factory.mktemp("staticweb"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def owner(cluster: Cluster) -> Client:
    owner = Client(cluster)
    containers(owner, "site", "private", "nolist")
    pages = {"site/index.html": b"<h1>home</h1>", "site/404error.html": b"<h1>lost</h1>",
             "site/style.css": b"h1 {color: red}", "site/docs/index.html": b"<h1>docs</h1>",
             "site/docs/guide.txt": b"read me", "site/files/report.pdf": b"%PDF" * 600,
             "site/files/old/notes.txt": b"n", "private/index.html": b"<h1>secret</h1>",
             "nolist/401error.html": b"<h1>who are you?</h1>", "nolist/dir/a.txt": b"a"}
    for path, body in pages.items():
        assert owner("PUT", path, body)[0] == 201
    assert owner("PUT", "site/marker", b"", Content_Type="application/directory")[0] == 201
    assert owner("PUT", "site/marker/inside.txt", b"in")[0] == 201
    # the site set up as its users do it: through the swift CLI
    ok(cluster.swift("post", "-r", ".r:*,.rlistings", "-m", "web-index:index.html", "site"))
    ok(cluster.swift("post", "-m", "web-listings:true", "-m", "web-listings-css:style.css",
                     "-m", "web-error:error.html", "site"))
    ok(cluster.swift("post", "-m", "web-index:index.html", "-m", "web-listings:true",
                     "private"))
    ok(cluster.swift("post", "-r", ".r:*", "-m", "web-listings:true",
                     "-m", "web-error:error.html", "nolist"))
    return owner


def anonymous(owner: Client, method: str, path: str, **headers: str
              ) -> tuple[int, dict[str, str], bytes]:
    return raw(owner.cluster, method, urllib.parse.quote(f"/v1/{owner.account}/{path}"), b"",
               {k.replace("_", "-"): v for k, v in headers.items()})


def test_index_pages_and_redirects(owner: Client) -> None:
    port = owner.cluster.ports["proxy"]
    status, headers, _ = anonymous(owner, "GET", "site")
    assert status == 301
    assert headers["Location"] == f"http://127.0.0.1:{port}/v1/{owner.account}/site/"
    status, headers, body = anonymous(owner, "GET", "site/")
    assert (status, body) == (200, b"<h1>home</h1>")
    assert headers["Content-Type"].startswith("text/html")
    status, headers, _ = anonymous(owner, "GET", "site/docs")
    assert status == 301 and headers["Location"].endswith("/site/docs/")
    assert anonymous(owner, "GET", "site/docs/")[2] == b"<h1>docs</h1>"
    assert anonymous(owner, "GET", "site/docs/guide.txt")[2] == b"read me"
    status, headers, body = anonymous(owner, "HEAD", "site/docs/")
    assert (status, body, headers["Content-Length"]) == (200, b"", "13")
    # a range of the index page, as of any object
    status, _, body = anonymous(owner, "GET", "site/", Range="bytes=1-2")
    assert (status, body) == (206, b"h1")


def test_listings_with_a_style_sheet(owner: Client) -> None:
    status, headers, _ = anonymous(owner, "GET", "site/files")
    assert status == 301 and headers["Location"].endswith("/site/files/")
    status, headers, body = anonymous(owner, "GET", "site/files/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=UTF-8"
    page = body.decode()
    assert f"<title>Listing of /v1/{owner.account}/site/files/</title>" in page
    assert '<link rel="stylesheet" type="text/css" href="../style.css" />' in page
    assert '<a href="../">../</a>' in page and '<a href="old/">old/</a>' in page
    assert '<a href="report.pdf">report.pdf</a>' in page and ">2Ki<" in page
    # the style sheet is there to be fetched, relative to the listing
    assert anonymous(owner, "GET", "site/style.css")[2] == b"h1 {color: red}"
    assert '<a href="notes.txt">' in anonymous(owner, "GET", "site/files/old/")[2].decode()
    # a directory marker counts as missing: its pseudo-directory is listed instead
    status, headers, _ = anonymous(owner, "GET", "site/marker")
    assert status == 301 and headers["Location"].endswith("/site/marker/")
    assert '<a href="inside.txt">' in anonymous(owner, "GET", "site/marker/")[2].decode()


def test_error_pages(owner: Client) -> None:
    status, headers, body = anonymous(owner, "GET", "site/missing.html")
    assert (status, body) == (404, b"<h1>lost</h1>")
    assert headers["Content-Type"].startswith("text/html")
    assert anonymous(owner, "GET", "site/no/such/dir/")[:3:2] == (404, b"<h1>lost</h1>")
    # listings need .rlistings: without, the site's 401 page
    status, _, body = anonymous(owner, "GET", "nolist/")
    assert (status, body) == (401, b"<h1>who are you?</h1>")
    assert anonymous(owner, "GET", "nolist/dir/a.txt")[2] == b"a"
    # without an error page, a plain 404
    assert owner("POST", "site", X_Remove_Container_Meta_Web_Error="x")[0] == 204
    try:
        status, _, body = anonymous(owner, "GET", "site/missing.html")
        assert status == 404 and b"lost" not in body
    finally:
        assert owner("POST", "site", X_Container_Meta_Web_Error="error.html")[0] == 204


def test_private_container_stays_private(owner: Client) -> None:
    for path in ("private", "private/", "private/index.html", "private/nothing/"):
        status, headers, body = anonymous(owner, "GET", path)
        assert status == 401, path
        assert b"secret" not in body and "Location" not in headers
    # with a token the API is the API ...
    status, headers, body = owner("GET", "site", query="format=json")
    assert status == 200 and "index.html" in [row["name"] for row in json.loads(body)]
    assert owner("GET", "site/")[0] == 200 and b"home" not in owner("GET", "site/")[2]
    # ... unless the client asks for web mode
    assert owner("GET", "private/", X_Web_Mode="true")[2] == b"<h1>secret</h1>"
    assert owner("GET", "private", X_Web_Mode="true")[0] == 301


def test_cors_headers_on_site_pages_and_info(owner: Client) -> None:
    assert owner("POST", "site", X_Container_Meta_Access_Control_Allow_Origin="*")[0] == 204
    status, headers, body = anonymous(owner, "GET", "site/", Origin="https://example.net")
    assert (status, body) == (200, b"<h1>home</h1>")
    assert headers["Access-Control-Allow-Origin"] == "*"
    status, _, body = raw(owner.cluster, "GET", "/info")
    assert status == 200 and json.loads(body)["staticweb"] == {}
