"""Image lists: filters, sort orders, pages and next links; token claims;
error pages in Glance's shape."""
from __future__ import annotations

import base64
import urllib.parse
from typing import Any

import msgpack
import pytest

from objstore.common.http import HTTPError, Request
from objstore.image import listing
from objstore.image.auth import read_claims
from objstore.image.errors import error_response


def image(n: int, **fields: Any) -> dict[str, Any]:
    return {"id": f"00000000-0000-0000-0000-{n:012d}", "name": f"img{n}", "status": "active",
            "disk_format": "raw", "container_format": "bare", "size": n * 10, "tags": [],
            "os_hidden": False, "visibility": "private", "owner": "AUTH_test",
            "created_at": f"2024-01-01T00:00:{n:02d}Z", "updated_at": "2024-01-02T00:00:00Z",
            "min_ram": 0, **fields}


def query(text: str) -> listing.ListQuery:
    return listing.parse(urllib.parse.parse_qsl(text, keep_blank_values=True), 25, 100)


def names(images: list[dict[str, Any]]) -> list[str]:
    return [i["name"] for i in images]


def test_defaults_are_newest_first_and_glance_limits() -> None:
    q = query("")
    assert q.limit == 25 and q.order == (("created_at", "desc"), ("id", "desc"))
    assert not q.hidden and q.member_status == "accepted" and q.visibility is None
    assert query("limit=5000").limit == 100
    assert names(listing.ordered([image(1), image(3), image(2)], q.order)) == \
        ["img3", "img2", "img1"]


@pytest.mark.parametrize("text, expected", [
    ("name=img2", ["img2"]),
    ("name=in:img1,img3", ["img1", "img3"]),
    ("status=queued", ["img4"]),
    ("disk_format=qcow2", ["img3"]),
    ("size_min=20&size_max=30", ["img2", "img3"]),
    ("tag=a", ["img1", "img2"]),
    ("tag=a&tag=b", ["img2"]),
    ("os_distro=ubuntu", ["img1"]),
    ("min_ram=512", ["img2"]),
    ("os_hidden=true", ["img5"]),
    ("owner=AUTH_other", ["img3"]),
])
def test_filters(text: str, expected: list[str]) -> None:
    images = [image(1, tags=["a"], os_distro="ubuntu"), image(2, tags=["a", "b"], min_ram=512),
              image(3, disk_format="qcow2", owner="AUTH_other"),
              image(4, status="queued", size=None), image(5, os_hidden=True)]
    q = query(text)
    assert sorted(names([i for i in images if listing.matches(i, q)])) == expected


@pytest.mark.parametrize("text", [
    "limit=-1", "limit=x", "size_min=a", "visibility=everyone", "member_status=maybe",
    "status=nonsense", "os_hidden=maybe", "sort_key=checksum", "sort_dir=up",
    "sort=name:up", "sort=name&sort_key=size", "sort_key=name&sort_key=size&sort_dir=asc"
    "&sort_dir=desc&sort_dir=asc",
])
def test_bad_queries_are_400(text: str) -> None:
    with pytest.raises(HTTPError) as caught:
        query(text)
    assert caught.value.status == 400


def test_sort_orders() -> None:
    images = [image(1, name="b", size=None), image(2, name="a", size=5),
              image(3, name="b", size=1), image(4, name=None, size=9)]
    by_name = listing.ordered(images, query("sort_key=name&sort_dir=asc").order)
    assert names(by_name) == [None, "a", "b", "b"]          # nulls first, then created_at
    assert [i["id"][-1] for i in by_name] == ["4", "2", "1", "3"]
    mixed = query("sort_key=name&sort_key=size&sort_dir=asc&sort_dir=desc").order
    assert [i["id"][-1] for i in listing.ordered(images, mixed)] == ["4", "2", "3", "1"]
    assert query("sort=name:asc,size").order[:2] == (("name", "asc"), ("size", "desc"))
    assert query("sort=name:asc,size").order[2:] == (("created_at", "desc"), ("id", "desc"))


def test_pages_follow_markers_to_the_end() -> None:
    images = listing.ordered([image(n) for n in range(1, 8)], query("").order)
    q = query("limit=3&name=in:" + ",".join(f"img{n}" for n in range(1, 8)))
    seen, marker = [], None
    pages = 0
    while True:
        marked = next((i for i in images if i["id"] == marker), None) if marker else None
        shown, marker = listing.page(images, q, marked)
        seen += names(shown)
        pages += 1
        if marker is None:
            break
    assert pages == 3 and seen == [f"img{n}" for n in range(7, 0, -1)]
    exact = query("limit=7")
    assert listing.page(images, exact) == (images, None)    # no empty page after


def test_a_marker_that_no_longer_passes_the_filters_still_places_the_page() -> None:
    images = listing.ordered([image(n) for n in (1, 2, 4, 5)], query("").order)
    gone = image(3, status="killed")
    shown, _ = listing.page(images, query("limit=10"), gone)
    assert names(shown) == ["img2", "img1"]


def test_next_links_keep_the_query() -> None:
    link = listing.next_link([("name", "a b"), ("marker", "old"), ("limit", "2"),
                              ("tag", "x"), ("tag", "y")], "m-1", 2)
    assert link.startswith("/v2/images?")
    assert urllib.parse.parse_qsl(link.split("?", 1)[1]) == [
        ("name", "a b"), ("tag", "x"), ("tag", "y"), ("limit", "2"), ("marker", "m-1")]


def token_of(fields: list[Any]) -> str:
    payload = base64.urlsafe_b64encode(msgpack.packb(fields)).rstrip(b"=").decode()
    return f"AUTH_tksignature.{payload}"


def test_token_claims_are_read_from_the_proxy_token_format() -> None:
    assert read_claims(token_of([1, "test", "tester", ["test", ".admin"], 1e10])) == \
        ("test", "tester", ("test", ".admin"), 1e10)
    for bad in ("", "AUTH_tk", "AUTH_tkx.y.z", "OTHER.abc", token_of([1, "a"]),
                token_of([1, 5, "u", [], 1.0]), "AUTH_tkx.!!!"):
        assert read_claims(bad) is None


@pytest.mark.parametrize("accept, kind, marker", [
    ("*/*", "text/html", "<h1>404 Not Found</h1>"),
    ("text/plain", "text/plain", "404 Not Found"),
    ("application/json", "application/json", '"code": "404 Not Found"'),
])
def test_errors_look_like_glance_s(accept: str, kind: str, marker: str) -> None:
    request = Request.blank("/v2/images/x", headers={"Accept": accept})
    response = error_response(request, 404, "No image found with ID <x>")
    assert response.status_int == 404 and response.content_type == kind
    text = response.body.decode()
    assert marker in text and "No image found with ID" in text
    if kind == "text/html":
        assert "&lt;x&gt;" in text   # a reason is text, never markup
