"""Object versioning's pure parts: names of versions, and the versions
listing's merge and paging, over listings walked as the container server
walks them (``objstore.common.db_listing``)."""
from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import pytest

from objstore.common.db_listing import Bounds, Subdir, walk
from objstore.common.http import HTTPError, Request
from objstore.common.listing import ListingParams
from objstore.common.timestamp import Timestamp
from objstore.proxy.middleware.object_versioning import state_of
from objstore.proxy.middleware.version_listing import (
    check_request, group_entries, is_hidden, start_of, version_items, versions_listing,
)
from objstore.proxy.middleware.version_names import (
    check_versionable_container, check_versionable_object, hidden_container, link_content_type,
    link_of, listed_timestamp, parse_version_id, split_version_object, version_object,
)
from objstore.proxy.middleware.versioning import DELETE_MARKER, authorize, request_path


# -- names ---------------------------------------------------------------------------

def test_version_names_sort_newest_first_and_split_back() -> None:
    times = [Timestamp("1700000000.00001"), Timestamp("1700000000.00002"),
             Timestamp("9999999999.99999"), Timestamp(0)]
    names = [version_object("a/b \u00e9", t) for t in times]
    assert sorted(names) == [names[2], names[1], names[0], names[3]]
    assert [split_version_object(n) for n in names] == [("a/b \u00e9", t) for t in times]
    # another object's versions never interleave with these
    assert version_object("a", times[0]) < version_object("a-", times[3]) < \
        version_object("a/", times[0])
    for garbage in ("plain", "a\x01123", "a\x01" + "x" * 15):
        assert split_version_object(garbage) is None


def test_what_cannot_be_versioned() -> None:
    for bad in ("a\x01b", "x" * 1009):
        with pytest.raises(HTTPError) as err:
            check_versionable_object(bad)
        assert err.value.status == 400
    check_versionable_object("x" * 1008)
    check_versionable_container("c" * 246)
    with pytest.raises(HTTPError):
        check_versionable_container("c" * 247)
    assert hidden_container("c") == "\x01versions\x01c"


def test_listing_timestamps_links_and_version_ids() -> None:
    for text in ("1700000000.12345", "0000000001.00001", "9999999999.99999"):
        moment = Timestamp(text)
        assert listed_timestamp(moment.isoformat) == moment
    assert listed_timestamp("not a date") is None
    assert link_content_type("text/plain; swift_bytes=3;charset=utf-8", 10) == \
        "text/plain;charset=utf-8;swift_bytes=10"
    assert link_of({"x-object-transient-sysmeta-versions-link": "1700000000.5"}) == \
        Timestamp("1700000000.5")
    assert link_of({"x-object-transient-sysmeta-versions-link": "junk"}) is None
    assert link_of({}) is None
    assert parse_version_id("1700000000.12345") == Timestamp("1700000000.12345")
    with pytest.raises(HTTPError) as err:
        parse_version_id("null-ish")
    assert err.value.status == 400


def test_paths_states_and_hidden_rows() -> None:
    assert request_path({"PATH_INFO": "/v1/a/c/o/p"}) == ("a", "c", "o/p")
    assert request_path({"PATH_INFO": "/v1/a/c"}) == ("a", "c", None)
    assert request_path({"PATH_INFO": "/v1/a"}) == ("a", None, None)
    for other in ("/info", "/v2/a/c", "/v1//c/o", "/v1/a//o", "/v1/a/c\xff"):
        assert request_path({"PATH_INFO": other}) is None
    assert [state_of(f) for f in ({}, {"x-container-meta-objstore-versions-enabled": "true"},
                                  {"x-container-meta-objstore-versions-enabled": "false"})] \
        == [None, True, False]
    assert is_hidden({"name": "\x01versions\x01c"}) and is_hidden({"subdir": "\x01"})
    assert not is_hidden({"name": "c"})


def test_authorize_judges_by_the_containers_acls() -> None:
    seen = []

    def decide(target: Any, environ: dict[str, Any], **acls: Any) -> int | None:
        seen.append((target, acls["container_write"].groups))
        return None if "writers" in acls["container_write"].groups else 403

    environ = {"objstore.authorize": decide}
    authorize(environ, "PUT", ("a", "c", "o"), {"x-container-write": "writers"})
    with pytest.raises(HTTPError) as err:
        authorize(environ, "PUT", ("a", "c", "o"), {"x-container-write": "others"})
    assert err.value.status == 403
    assert (seen[0][0].method, seen[0][0].obj) == ("PUT", "o")
    authorize({}, "DELETE", ("a", "c", None), {})  # no auth filter: anything goes


# -- one name's entries --------------------------------------------------------------

def row(name: str, when: Timestamp, content_type: str = "text/plain") -> dict[str, Any]:
    return {"name": name, "hash": "h", "bytes": 1, "content_type": content_type,
            "last_modified": when.isoformat}


def items(current: dict[str, Any] | None, *versions: dict[str, Any]) -> list[Any]:
    found = list(version_items(versions))
    return ([] if current is None else list(_current(current))) + found


def _current(row_: dict[str, Any]) -> Iterable[Any]:
    from objstore.proxy.middleware.version_listing import current_items
    return current_items([row_])


T1, T2, T3 = Timestamp("1700000001"), Timestamp("1700000002"), Timestamp("1700000003")


def versions_of(entries: list[dict[str, Any]]) -> list[tuple[str, bool]]:
    return [(entry["version_id"], entry["is_latest"]) for entry in entries]


def test_a_link_makes_its_version_latest() -> None:
    group = items(row("o", T2), row(version_object("o", T1), T1), row(version_object("o", T2), T2))
    entries = group_entries(group, reverse=False, skip_null=False, complete=True)
    assert versions_of(entries) == [(T2.normal, True), (T1.normal, False)]
    assert [e["name"] for e in entries] == ["o", "o"]
    reverse = group_entries(group, reverse=True, skip_null=False, complete=True)
    assert versions_of(reverse) == [(T1.normal, False), (T2.normal, True)]


def test_an_unversioned_object_is_the_null_version() -> None:
    group = items(row("o", T3), row(version_object("o", T1), T1))
    entries = group_entries(group, reverse=False, skip_null=False, complete=True)
    assert versions_of(entries) == [("null", True), (T1.normal, False)]
    skipped = group_entries(group, reverse=False, skip_null=True, complete=True)
    assert versions_of(skipped) == [(T1.normal, False)]


def test_a_newest_delete_marker_is_latest_only_when_seen_whole() -> None:
    group = items(None, row(version_object("o", T1), T1),
                  row(version_object("o", T2), T2, DELETE_MARKER))
    assert versions_of(group_entries(group, reverse=False, skip_null=False, complete=True)) \
        == [(T2.normal, True), (T1.normal, False)]
    assert versions_of(group_entries(group, reverse=False, skip_null=False, complete=False)) \
        == [(T2.normal, False), (T1.normal, False)]
    # the newest is data with no current object: nothing is latest
    group = items(None, row(version_object("o", T1), T1, DELETE_MARKER),
                  row(version_object("o", T2), T2))
    assert versions_of(group_entries(group, reverse=False, skip_null=False, complete=True)) \
        == [(T2.normal, False), (T1.normal, False)]


# -- pages of the whole listing -------------------------------------------------------

class Listing:
    """A container's rows, listed as the container server lists them."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = sorted(rows, key=lambda r: r["name"])
        self.calls = 0

    def __call__(self, params: ListingParams, marker: str, prefix: str | None = None,
                 end_marker: str | None = None, limit: int | None = None
                 ) -> list[dict[str, Any]]:
        self.calls += 1

        def fetch(bounds: Bounds, reverse: bool, count: int) -> Iterable[tuple[Any, ...]]:
            chosen = [r for r in self.rows if inside(r["name"], bounds)]
            return [(r["name"], r) for r in (chosen[::-1] if reverse else chosen)][:count]

        found = walk(fetch, limit=limit or params.limit, marker=marker,
                     end_marker=params.end_marker if end_marker is None else end_marker,
                     prefix=params.prefix if prefix is None else prefix,
                     delimiter=params.delimiter, reverse=params.reverse)
        return [{"subdir": f.name} if isinstance(f, Subdir) else f[1] for f in found]


def inside(name: str, bounds: Bounds) -> bool:
    if bounds.low is not None and (name < bounds.low or name == bounds.low
                                   and not bounds.low_inclusive):
        return False
    return bounds.high is None or name < bounds.high or name == bounds.high \
        and bounds.high_inclusive


def world() -> tuple[Listing, Listing]:
    """a: 3 versions, the newest current; b/1: a null version over 2
    versions; b/2: deleted (a delete marker newest); d: only a null
    version; e: current is the older of 2 versions (a PUT that failed
    after storing its version leaves this)."""
    t = [Timestamp(1_700_000_000 + n) for n in range(20)]
    current = [row("a", t[3]), row("b/1", t[9]), row("d", t[10]), row("e", t[11])]
    versions = [row(version_object("a", t[n]), t[n]) for n in (1, 2, 3)]
    versions += [row(version_object("b/1", t[n]), t[n]) for n in (4, 5)]
    versions += [row(version_object("b/2", t[6]), t[6]),
                 row(version_object("b/2", t[7]), t[7], DELETE_MARKER)]
    versions += [row(version_object("e", t[n]), t[n]) for n in (11, 12)]
    return Listing(current), Listing(versions)


def params(**given: Any) -> ListingParams:
    return ListingParams(**{"limit": 10000, **given})


def page(current: Listing, versions: Listing, p: ListingParams,
         version_marker: str | None = None) -> list[dict[str, Any]]:
    return versions_listing(p, version_marker,
                            lambda m, pre, end, lim: current(p, m, pre, end, lim),
                            lambda m: versions(p, m, end_marker=p.end_marker + "\x01~"
                                               if p.reverse and p.end_marker else None))


def summary(entries: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [(e["subdir"],) if "subdir" in e else (e["name"], e["version_id"][8:10] or "null",
                                                  "latest" if e["is_latest"] else "")
            for e in entries]


def test_the_whole_listing() -> None:
    current, versions = world()
    assert summary(page(current, versions, params())) == [
        ("a", "03", "latest"), ("a", "02", ""), ("a", "01", ""),
        ("b/1", "null", "latest"), ("b/1", "05", ""), ("b/1", "04", ""),
        ("b/2", "07", "latest"), ("b/2", "06", ""),
        ("d", "null", "latest"),
        ("e", "12", ""), ("e", "11", "latest")]
    assert summary(page(current, versions, params(reverse=True))) == \
        summary(page(current, versions, params()))[::-1]
    assert summary(page(current, versions, params(delimiter="/"))) == [
        ("a", "03", "latest"), ("a", "02", ""), ("a", "01", ""), ("b/",),
        ("d", "null", "latest"), ("e", "12", ""), ("e", "11", "latest")]
    assert [e["name"] for e in page(current, versions, params(prefix="b/"))] == \
        ["b/1"] * 3 + ["b/2"] * 2
    assert [e["name"] for e in page(current, versions, params(end_marker="b/2"))] == \
        ["a"] * 3 + ["b/1"] * 3
    assert [e["name"] for e in page(current, versions, params(end_marker="b/2",
                                                              reverse=True))] == ["e", "e", "d"]


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("delimiter", ["", "/"])
def test_pages_by_marker_and_version_marker_add_up_to_the_whole(limit: int, reverse: bool,
                                                                delimiter: str) -> None:
    current, versions = world()
    whole = page(current, versions, params(reverse=reverse, delimiter=delimiter))
    seen: list[dict[str, Any]] = []
    marker, version_marker = "", None
    for _ in range(40):
        got = page(current, versions, params(limit=limit, marker=marker, reverse=reverse,
                                             delimiter=delimiter), version_marker)
        if not got:
            break
        assert len(got) <= limit
        seen += got
        last = got[-1]
        marker = last.get("subdir") or last["name"]
        version_marker = last.get("version_id")
    assert seen == whole


def test_a_page_reads_no_more_than_it_needs() -> None:
    current, versions = world()
    page(current, versions, params(limit=2))
    # the first name's versions take two pages of two; nothing past them is read
    assert (current.calls, versions.calls) == (1, 2)


def test_start_of_each_kind_of_marker() -> None:
    assert start_of(params(), None).current_marker == ""
    start = start_of(params(marker="o"), None)
    assert (start.current_marker, start.versions_marker) == ("o", "o\x01~")
    start = start_of(params(marker="o"), "null")
    assert (start.continued, start.lookup, start.skip_null, start.versions_marker) == \
        ("o", True, True, "o\x01")
    start = start_of(params(marker="o", reverse=True), T1.normal)
    assert (start.current_marker, start.lookup, start.null_after) == ("o\x01", False, T1)
    start = start_of(params(marker="b/", delimiter="/"), T1.normal)
    assert (start.current_marker, start.versions_marker) == ("b/", "b/")


def test_bad_listing_requests() -> None:
    for query, status in (("versions&version_marker=null", 400),
                          ("versions&marker=a&version_marker=soon", 400),
                          ("versions&delimiter=5", 400), ("versions&delimiter=%01", 400),
                          ("versions&path=a", 400), ("versions&format=xml", 406),
                          ("versions&limit=10001", 412)):
        with pytest.raises(HTTPError) as err:
            check_request(Request.blank("/v1/a/c?" + query))
        assert err.value.status == status, query
    with pytest.raises(HTTPError) as err:
        check_request(Request.blank("/v1/a/c?versions", headers={"Accept": "text/xml"}))
    assert err.value.status == 406
    found, version_marker = check_request(Request.blank(
        "/v1/a/c?versions&marker=a&version_marker=null&limit=3",
        headers={"Accept": "*/*"}))
    assert (found.marker, found.limit, version_marker) == ("a", 3, "null")
    assert list(itertools.islice(version_items([{"name": "x"}]), 1)) == []


# -- object requests' helpers ----------------------------------------------------------

def test_a_restore_takes_no_body() -> None:
    import io

    from objstore.proxy.middleware.version_objects import refuse_a_body
    refuse_a_body({"CONTENT_LENGTH": "0"})
    refuse_a_body({"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": io.BytesIO(b"")})
    for environ, status in (({"CONTENT_LENGTH": "3"}, 400), ({}, 411),
                            ({"HTTP_TRANSFER_ENCODING": "chunked",
                              "wsgi.input": io.BytesIO(b"x")}, 400)):
        with pytest.raises(HTTPError) as err:
            refuse_a_body(environ)
        assert err.value.status == status


def test_a_version_is_typed_and_addressed_by_its_objects_name() -> None:
    from objstore.proxy.middleware.version_objects import redirected, stored_content_type
    assert stored_content_type({}, "photo.jpg") == "image/jpeg"
    assert stored_content_type({"CONTENT_TYPE": "text/x-mine"}, "photo.jpg") == "text/x-mine"
    assert stored_content_type({"CONTENT_TYPE": "text/x-mine",
                                "HTTP_X_DETECT_CONTENT_TYPE": "true"}, "a.txt") == "text/plain"
    sub = redirected({"PATH_INFO": "/v1/a/c/o", "QUERY_STRING": "version-id=1&symlink=get",
                      "objstore.authorize": print, "HTTP_RANGE": "bytes=1-2"},
                     ("a", "\x01versions\x01c", "caf\u00e9\x01000"))
    assert sub["PATH_INFO"] == "/v1/a/\x01versions\x01c/caf\u00e9\x01000".encode().decode(
        "latin-1")
    assert (sub["QUERY_STRING"], sub["HTTP_RANGE"]) == ("symlink=get", "bytes=1-2")
    assert "objstore.authorize" not in sub
