"""Listing parameters, formats and bodies; the HTTP helpers they use."""
from __future__ import annotations

import pytest

from objstore.common.http import HTTPError, Request, best_offer, headers_as_text, query_params
from objstore.common.listing import (
    ListingParams, account_body, container_body, listing_content_type, listing_params,
)


def request(query: str = "", **headers: str) -> Request:
    made = Request.blank("/", headers=headers)
    made.environ["QUERY_STRING"] = query
    return made


def test_query_params_decode_utf8_once_and_the_last_repeat_wins() -> None:
    got = query_params(request("marker=caf%C3%A9&prefix=a+b&marker=z%2Fy&other=%FF"),
                       "marker", "prefix", "limit")
    assert got == {"marker": "z/y", "prefix": "a b"}
    raw = query_params(request("prefix=caf\u00c3\u00a9"), "prefix")  # unquoted UTF-8 bytes
    assert raw == {"prefix": "caf\u00e9"}
    with pytest.raises(HTTPError) as caught:
        query_params(request("marker=%C3"), "marker")
    assert caught.value.status == 400 and "marker" in caught.value.reason


def test_headers_as_text() -> None:
    made = request(**{"X-Container-Meta-A": "caf\u00c3\u00a9", "X-Other": "x"})
    assert headers_as_text(made, lambda name: name.startswith("x-container-")) == {
        "X-Container-Meta-A": "caf\u00e9"}
    with pytest.raises(HTTPError) as caught:
        headers_as_text(request(**{"X-A": "\u00ff"}), lambda name: True)
    assert caught.value.status == 400


@pytest.mark.parametrize(("accept", "chosen"), [
    (None, "text/plain"), ("", "text/plain"), ("*/*", "text/plain"),
    ("application/json", "application/json"), ("text/*", "text/plain"),
    ("text/*;q=0.5, application/xml", "application/xml"), ("image/*", None),
])
def test_best_offer(accept: str | None, chosen: str | None) -> None:
    assert best_offer(accept, ["text/plain", "application/json", "application/xml"]) == chosen


def test_listing_params_defaults_and_values() -> None:
    assert listing_params(request(), "container") == ListingParams(limit=10_000)
    got = listing_params(request("limit=5&marker=m&end_marker=n&prefix=p&delimiter=%2F"
                                 "&reverse=Yes&path="), "account")
    assert got == ListingParams(5, "m", "n", "p", "/", True, "")


@pytest.mark.parametrize(("query", "target", "status"), [
    ("marker=" + "x" * 257, "account", 400),
    ("prefix=" + "x" * 1025, "container", 400),
    ("delimiter=" + "d" * 1025, "container", 400),
    ("limit=10001", "account", 412),
])
def test_listing_params_refused(query: str, target: str, status: int) -> None:
    with pytest.raises(HTTPError) as caught:
        listing_params(request(query), target)  # type: ignore[arg-type]
    assert caught.value.status == status and caught.value.reason


def test_a_delimiter_may_be_any_text_as_swift_takes_it() -> None:
    for query, delimiter in (("delimiter=ab", "ab"), ("delimiter=%C3%BF", "\u00ff"),
                             ("delimiter=%C4%80%C4%80", "\u0100\u0100")):
        assert listing_params(request(query), "container").delimiter == delimiter


def test_a_long_container_marker_fits_an_object_listing() -> None:
    assert listing_params(request("marker=" + "x" * 1024), "container").marker == "x" * 1024


def test_content_type() -> None:
    assert listing_content_type(request("format=json")) == "application/json"
    assert listing_content_type(request(Accept="text/xml")) == "text/xml"
    with pytest.raises(HTTPError) as caught:
        listing_content_type(request(Accept="image/png"))
    assert caught.value.status == 406


def test_bodies() -> None:
    objects = [{"name": "o", "hash": "h", "bytes": 1, "content_type": "a/b;swift_bytes=x",
                "last_modified": "t"}, {"subdir": "d/"}]
    assert container_body(objects, "c", "text/plain") == b"o\nd/\n"
    assert b'"content_type": "a/b;swift_bytes=x"' in container_body(objects, "c",
                                                                     "application/json")
    containers = [{"name": "<c>", "count": 1, "bytes": 2, "last_modified": "t"}]
    assert account_body(containers, 'a"&', "application/xml") == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<account name="a&quot;&amp;">\n<container>'
        b'<name>&lt;c&gt;</name><count>1</count><bytes>2</bytes><last_modified>t'
        b'</last_modified></container>\n</account>')
    assert account_body([], "a", "text/plain") == b""
