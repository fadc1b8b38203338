"""Dynamic large objects: the manifest header, and the dlo filter over a fake proxy."""
from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import pytest

from objstore.common.http import Request
from objstore.proxy.middleware import dlo
from objstore.proxy.middleware.dlo import parse_listing, parse_manifest_header
from objstore.proxy.middleware.segments import SegmentError
from tests.fakes.object_store import FakeStore

LOG = logging.getLogger("test.dlo")
A = "/v1/AUTH_a"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.mark.parametrize("value, expected", [
    ("segs/big/", ("segs", "big/")),
    ("segs/", ("segs", "")),
    ("my%20segs/caf%C3%A9/1", ("my segs", "caf\u00e9/1")),
])
def test_manifest_header_is_container_and_prefix(value: str, expected: tuple[str, str]) -> None:
    assert parse_manifest_header(value) == expected


@pytest.mark.parametrize("value", ["segs", "/segs/p", "", "%FF/x"])
def test_bad_manifest_headers(value: str) -> None:
    with pytest.raises(ValueError):
        parse_manifest_header(value)


def test_listing_parses_and_skips_subdirs() -> None:
    body = json.dumps([{"name": "a", "hash": "h", "bytes": 3}, {"subdir": "x/"}]).encode()
    assert [(s.name, s.etag, s.size) for s in parse_listing(body)] == [("a", "h", 3)]


class Cluster:
    """The dlo filter over a fake proxy listing two names a page."""

    def __init__(self) -> None:
        self.store = FakeStore(page=2)
        self.filter = dlo.filter_factory({}, LOG)(self.store)
        self.parts = [b"one-", b"two-", b"three-", b"four"]
        for index, part in enumerate(self.parts):
            self.store.put(f"{A}/segs/big/{index:03d}", part)
        self.store.put(f"{A}/segs/other", b"not mine")
        self.store.put(f"{A}/c/big", b"", X_Object_Manifest="segs/big/",
                       Content_Type="text/x-big")

    def __call__(self, method: str, path: str, body: bytes = b"", **headers: str) -> Any:
        request = Request.blank(f"{A}/{path}", method=method,
                                headers={k.replace("_", "-"): v for k, v in headers.items()})
        if method == "PUT":
            request.body = body
        return request.get_response(self.filter)


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> Cluster:
    monkeypatch.setattr(dlo, "PAGE", 2)   # the fake lists two names a page: paging is used
    return Cluster()


def test_the_whole_is_the_listed_segments_in_order(cluster: Cluster) -> None:
    response = cluster("GET", "c/big")
    assert (response.status_int, response.body) == (200, b"one-two-three-four")
    assert response.headers["Content-Length"] == "18"
    assert response.headers["ETag"] == f'"{md5("".join(map(md5, cluster.parts)).encode())}"'
    assert response.headers["Content-Type"] == "text/x-big"
    assert response.headers["X-Object-Manifest"] == "segs/big/"
    listings = [q for m, p, q in cluster.store.requests if p == f"{A}/segs"]
    assert len(listings) == 3                      # 2 + 2 + an empty page
    head = cluster("HEAD", "c/big")
    assert head.headers["Content-Length"] == "18" and head.body == b""


@pytest.mark.parametrize("header, expected", [
    ("bytes=2-9", b"e-two-th"), ("bytes=-4", b"four"), ("bytes=8-13", b"three-"),
])
def test_ranges_across_segments(cluster: Cluster, header: str, expected: bytes) -> None:
    response = cluster("GET", "c/big", Range=header)
    assert (response.status_int, response.body) == (206, expected)


def test_conditionals_and_the_manifest_itself(cluster: Cluster) -> None:
    etag = cluster("HEAD", "c/big").headers["ETag"]
    assert cluster("GET", "c/big", If_None_Match=etag).status_int == 304
    assert cluster("GET", "c/big", If_Match='"nope"').status_int == 412
    raw = cluster("GET", "c/big?multipart-manifest=get")
    assert (raw.status_int, raw.body) == (200, b"")
    assert raw.headers["ETag"] == md5(b"")


def test_a_segment_changed_since_listing_stops_the_body(cluster: Cluster,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    real = cluster.store.listing

    def stale(path: str, query: str, start_response: Any) -> Any:
        body = real(path, query, lambda *a: None)
        items = json.loads(body[0])
        for item in items:
            if item["name"] == "big/002":
                item["hash"] = md5(b"three-")       # what the listing still says
        encoded = json.dumps(items).encode()
        start_response("200 OK", [("Content-Length", str(len(encoded)))])
        return [encoded]

    monkeypatch.setattr(cluster.store, "listing", stale)
    cluster.store.put(f"{A}/segs/big/002", b"THREE-")
    status, _, body = Request.blank(f"{A}/c/big").call_application(cluster.filter)
    got = b""
    with pytest.raises(SegmentError, match="segs/big/002 changed"):
        for chunk in body:
            got += chunk
    assert status.startswith("200") and got == b"one-two-"


def test_a_missing_segment_container_is_404(cluster: Cluster) -> None:
    cluster.store.put(f"{A}/c/lost", b"", X_Object_Manifest="nowhere/x")
    response = cluster("GET", "c/lost")
    assert response.status_int == 404 and b"listing the segments in nowhere" in response.body


def test_an_empty_prefix_is_an_empty_object(cluster: Cluster) -> None:
    cluster.store.put(f"{A}/c/empty", b"", X_Object_Manifest="segs/none-")
    response = cluster("GET", "c/empty")
    assert (response.status_int, response.body) == (200, b"")
    assert response.headers["ETag"] == f'"{md5(b"")}"'


def test_a_bad_manifest_header_on_put_is_400(cluster: Cluster) -> None:
    response = cluster("PUT", "c/m", X_Object_Manifest="no-slash")
    assert response.status_int == 400 and b"container/prefix" in response.body
    assert cluster("PUT", "c/m", X_Object_Manifest="segs/p").status_int == 201


def test_plain_objects_pass_untouched(cluster: Cluster) -> None:
    response = cluster("GET", "segs/other", Range="bytes=0-2")
    assert (response.status_int, response.body) == (206, b"not")
