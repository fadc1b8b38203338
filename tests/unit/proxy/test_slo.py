"""Static large objects: manifests (parsing, checks, the stored form), the
byte-range mapping, and the slo filter over a fake proxy."""
from __future__ import annotations

import base64
import hashlib
import json
import logging
from typing import Any

import pytest

from objstore.common.http import Request
from objstore.common.timestamp import Timestamp
from objstore.obj import updates
from objstore.proxy.middleware import slo
from objstore.proxy.middleware.segments import SegmentError, spans
from objstore.proxy.middleware.slo_manifest import (
    Entry, ManifestError, dumps, parse_put, parse_stored, resolve_range, slo_etag,
)
from tests.fakes.object_store import FakeStore

LOG = logging.getLogger("test.slo")
A = "/v1/AUTH_a"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# -- the range mapping ------------------------------------------------------------

@pytest.mark.parametrize("start, end, expected", [
    (0, 10, [(0, 0, 3), (1, 0, 4), (3, 0, 3)]),        # all (the empty part is skipped)
    (2, 5, [(0, 2, 3), (1, 0, 2)]),                    # across a boundary
    (3, 7, [(1, 0, 4)]),                               # exactly one part
    (9, 10, [(3, 2, 3)]),                              # the last byte
    (7, 7, []),                                        # nothing
])
def test_spans_map_a_byte_range_onto_parts(start: int, end: int,
                                           expected: list[tuple[int, int, int]]) -> None:
    assert list(spans([3, 4, 0, 3], start, end)) == expected


# -- a client's manifest -------------------------------------------------------------

@pytest.mark.parametrize("body, reason", [
    (b"{not json", "Manifest must be valid JSON."),
    (b'{"path": "c/o"}', "Manifest must be a list."),
    (b"[]", "Manifest must have at least one segment."),
    (b'["c/o"]', "Index 0: not a JSON object"),
    (b'[{"path": "c/o", "colour": "red"}]', 'Index 0: extraneous keys "colour"'),
    (b'[{"path": 7}]', 'Index 0: "path" must be a string'),
    (b'[{"path": "c"}]', "Index 0: path does not refer to an object"),
    (b'[{"path": "/c/"}]', "Index 0: path does not refer to an object"),
    (b'[{"path": "c/o", "etag": 5}]', 'Index 0: "etag" must be a string or null'),
    (b'[{"path": "c/o", "size_bytes": "12"}]', 'Index 0: "size_bytes" must be an integer'),
    (b'[{"path": "c/o", "size_bytes": -1}]', 'Index 0: "size_bytes" must be an integer'),
    (b'[{"path": "c/o", "size_bytes": true}]', 'Index 0: "size_bytes" must be an integer'),
    (b'[{"path": "c/o"}, {"path": "c/p", "range": "5-2"}]', "Index 1: invalid range"),
    (b'[{"path": "c/o", "range": "0-1,4-5"}]', "Index 0: multiple ranges (only one allowed)"),
    (b'[{"path": "c/o", "range": "-"}]', "Index 0: invalid range"),
    (b'[{"data": "not base64!"}]', 'Index 0: "data" is not valid base64'),
    (b'[{"data": ""}]', "Index 0: too small"),
    (b'[{"data": "YQ==", "path": "c/o"}]', 'Index 0: a data segment holds only "data"'),
])
def test_bad_client_manifests_say_why(body: bytes, reason: str) -> None:
    with pytest.raises(ManifestError) as err:
        parse_put(body, 1000)
    assert str(err.value).startswith(reason)


def test_too_many_segments() -> None:
    with pytest.raises(ManifestError, match="Number of segments must be <= 2"):
        parse_put(json.dumps([{"path": "c/o"}] * 3).encode(), 2)


def test_a_client_manifest_parses() -> None:
    items = parse_put(json.dumps([
        {"path": "/c/a/b", "etag": '"ABC"', "size_bytes": 10},
        {"path": "c/o", "etag": None, "size_bytes": None, "range": "-3"},
        {"data": base64.b64encode(b"hi").decode()},
    ]).encode(), 1000)
    assert [(i.container, i.obj, i.etag, i.size, i.range_spec, i.data) for i in items] == [
        ("c", "a/b", "abc", 10, None, None), ("c", "o", None, None, "-3", None),
        ("", "", None, None, None, b"hi")]


@pytest.mark.parametrize("spec, size, expected", [
    ("0-3", 10, (0, 4)), ("5-", 10, (5, 10)), ("-3", 10, (7, 10)), ("-30", 10, (0, 10)),
    ("8-20", 10, (8, 10)), ("10-12", 10, None), ("0-0", 0, None),
])
def test_ranges_resolve_against_the_segment(spec: str, size: int,
                                            expected: tuple[int, int] | None) -> None:
    assert resolve_range(spec, size) == expected


# -- the stored manifest ---------------------------------------------------------

def test_stored_manifest_round_trips_and_etag_is_swifts() -> None:
    entries = [Entry("c", "a", "e1", 10, "text/plain", "2024-01-01T00:00:00.000000"),
               Entry("c", "b", "e2", 10, first=2, end=5),
               Entry(data=b"xyz"),
               Entry("d", "n", "e3", 7, sub_slo=True)]
    stored = json.loads(dumps(entries))
    assert stored[0] == {"name": "/c/a", "hash": "e1", "bytes": 10, "content_type": "text/plain",
                         "last_modified": "2024-01-01T00:00:00.000000"}
    assert stored[1]["range"] == "2-4" and stored[3]["sub_slo"] is True
    assert stored[2] == {"data": base64.b64encode(b"xyz").decode()}
    assert parse_stored(dumps(entries)) == entries
    assert [e.length for e in entries] == [10, 3, 3, 7]
    assert slo_etag(entries) == md5(("e1" + "e2:2-4;" + md5(b"xyz") + "e3").encode())


@pytest.mark.parametrize("body", [b"nope", b"{}", b'[{"name": "/c/o"}]',
                                  b'[{"name": "/c/o", "hash": "x", "bytes": 3, "range": "5-9"}]'])
def test_a_broken_stored_manifest_is_an_error(body: bytes) -> None:
    with pytest.raises(ManifestError):
        parse_stored(body)


# -- the filter ------------------------------------------------------------------------

class Cluster:
    """The slo filter over a fake proxy holding some segments."""

    def __init__(self, **options: str) -> None:
        self.store = FakeStore()
        self.filter = slo.filter_factory(options, LOG)(self.store)
        self.data = {name: bytes([65 + i]) * size
                     for i, (name, size) in enumerate([("s1", 5), ("s2", 7), ("s3", 4)])}
        for name, body in self.data.items():
            self.store.put(f"{A}/segs/{name}", body)

    def __call__(self, method: str, path: str, body: bytes = b"", **headers: str) -> Any:
        request = Request.blank(f"{A}/{path}", method=method,
                                headers={k.replace("_", "-"): v for k, v in headers.items()})
        if method in ("PUT", "POST"):
            request.body = body
        return request.get_response(self.filter)

    def segment(self, name: str, **extra: Any) -> dict[str, Any]:
        body = self.data[name]
        return {"path": f"segs/{name}", "etag": md5(body), "size_bytes": len(body), **extra}

    def manifest(self, path: str, items: list[dict[str, Any]], **headers: str) -> Any:
        return self("PUT", f"{path}?multipart-manifest=put", json.dumps(items).encode(),
                    **headers)


@pytest.fixture
def cluster() -> Cluster:
    return Cluster()


def test_a_manifest_put_stores_swifts_manifest_marked_for_the_backend(cluster: Cluster) -> None:
    items = [cluster.segment("s1"), cluster.segment("s2"), cluster.segment("s3")]
    response = cluster.manifest("c/big", items, X_Object_Meta_Kind="large",
                                Content_Type="video/mp4")
    etag = md5("".join(md5(b) for b in cluster.data.values()).encode())
    assert response.status_int == 201 and response.headers["ETag"] == f'"{etag}"'
    headers, body = cluster.store.objects[f"{A}/c/big"]
    assert headers["X-Static-Large-Object"] == "True"
    assert headers["X-Object-Sysmeta-Slo-Etag"] == etag
    assert headers["X-Object-Sysmeta-Container-Update-Override-Size"] == "16"
    assert headers["X-Object-Meta-Kind"] == "large" and headers["Content-Type"] == "video/mp4"
    stored = json.loads(body)
    assert [s["name"] for s in stored] == ["/segs/s1", "/segs/s2", "/segs/s3"]
    assert stored[0]["hash"] == md5(b"AAAAA") and stored[0]["bytes"] == 5
    assert stored[0]["content_type"] == "application/octet-stream"
    assert stored[0]["last_modified"].startswith("2023-11-14T22:13:")


def test_the_whole_is_served_with_its_length_and_etag(cluster: Cluster) -> None:
    cluster.manifest("c/big", [cluster.segment("s1"), cluster.segment("s2"),
                               cluster.segment("s3")])
    whole = b"".join(cluster.data.values())
    response = cluster("GET", "c/big")
    assert (response.status_int, response.body) == (200, whole)
    assert response.headers["Content-Length"] == "16"
    assert response.headers["ETag"] == f'"{md5("".join(map(md5, cluster.data.values())).encode())}"'
    assert response.headers["X-Static-Large-Object"] == "True"
    head = cluster("HEAD", "c/big")
    assert head.headers["Content-Length"] == "16"
    assert head.headers["ETag"] == response.headers["ETag"]
    assert not any(k.lower().startswith("x-object-sysmeta") for k in response.headers)


@pytest.mark.parametrize("header, status, expected, read", [
    ("bytes=3-8", 206, b"AABBBB", {"s1", "s2"}),
    ("bytes=12-", 206, b"CCCC", {"s3"}),
    ("bytes=-6", 206, b"BBCCCC", {"s2", "s3"}),
    ("bytes=5-11", 206, b"BBBBBBB", {"s2"}),
    ("bytes=99-", 416, None, set()),
])
def test_ranges_across_segments(cluster: Cluster, header: str, status: int,
                                expected: bytes | None, read: set[str]) -> None:
    cluster.manifest("c/big", [cluster.segment("s1"), cluster.segment("s2"),
                               cluster.segment("s3")])
    cluster.store.requests.clear()
    response = cluster("GET", "c/big", Range=header)
    assert response.status_int == status
    if expected is not None:
        assert response.body == expected
        first = int(response.headers["Content-Range"].split()[1].split("-")[0])
        assert response.headers["Content-Range"] == \
            f"bytes {first}-{first + len(expected) - 1}/16"
    else:
        assert response.headers["Content-Range"] == "bytes */16"
    # only the segments the range needs are read
    assert {p.rsplit("/", 1)[1] for _, p, _ in cluster.store.requests if "/segs/" in p} == read


def test_several_ranges_are_multipart(cluster: Cluster) -> None:
    cluster.manifest("c/big", [cluster.segment("s1"), cluster.segment("s2")],
                     Content_Type="text/x-big")
    response = cluster("GET", "c/big", Range="bytes=0-1,10-11")
    assert response.status_int == 206
    kind, _, boundary = response.headers["Content-Type"].partition(";boundary=")
    assert kind == "multipart/byteranges"
    assert response.body == (
        f"--{boundary}\r\nContent-Type: text/x-big\r\nContent-Range: bytes 0-1/12\r\n\r\nAA\r\n"
        f"--{boundary}\r\nContent-Type: text/x-big\r\nContent-Range: bytes 10-11/12\r\n\r\n"
        f"BB\r\n--{boundary}--\r\n").encode()
    assert int(response.headers["Content-Length"]) == len(response.body)


def test_conditionals_are_the_wholes(cluster: Cluster) -> None:
    cluster.manifest("c/big", [cluster.segment("s1"), cluster.segment("s2")])
    etag = cluster("HEAD", "c/big").headers["ETag"]
    assert cluster("GET", "c/big", If_None_Match=etag).status_int == 304
    assert cluster("GET", "c/big", If_Match=etag).body == b"A" * 5 + b"B" * 7
    manifest_md5 = cluster.store.objects[f"{A}/c/big"][0]["ETag"]
    assert cluster("GET", "c/big", If_Match=manifest_md5).status_int == 412


def test_ranges_and_data_segments_in_a_manifest(cluster: Cluster) -> None:
    items = [cluster.segment("s2", range="1-3"), {"data": base64.b64encode(b"--").decode()},
             cluster.segment("s3", range="-2")]
    assert cluster.manifest("c/mixed", items).status_int == 201
    response = cluster("GET", "c/mixed")
    assert response.body == b"BBB--CC" and response.headers["Content-Length"] == "7"
    assert cluster("GET", "c/mixed", Range="bytes=2-4").body == b"B--"
    raw = json.loads(cluster("GET", "c/mixed?multipart-manifest=get&format=raw").body)
    assert raw[0] == {"path": "/segs/s2", "etag": md5(cluster.data["s2"]), "size_bytes": 7,
                      "range": "1-3"}
    assert raw[1] == {"data": base64.b64encode(b"--").decode()}
    # the raw form can be PUT again, giving the same whole
    again = cluster.manifest("c/copy", raw)
    assert again.status_int == 201
    assert cluster("GET", "c/copy").body == b"BBB--CC"


def test_multipart_manifest_get_shows_the_stored_manifest(cluster: Cluster) -> None:
    cluster.manifest("c/big", [cluster.segment("s1")])
    response = cluster("GET", "c/big?multipart-manifest=get")
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(response.body)[0]["name"] == "/segs/s1"
    assert response.headers["ETag"].strip('"') == md5(response.body)
    assert response.headers["X-Static-Large-Object"] == "True"


def test_nested_manifests(cluster: Cluster) -> None:
    cluster.manifest("c/inner", [cluster.segment("s1"), cluster.segment("s2")])
    inner = cluster("HEAD", "c/inner")
    response = cluster.manifest("c/outer", [
        {"path": "c/inner", "etag": inner.headers["ETag"].strip('"'), "size_bytes": 12},
        cluster.segment("s3")])
    assert response.status_int == 201
    stored = json.loads(cluster.store.objects[f"{A}/c/outer"][1])
    assert stored[0]["sub_slo"] is True and stored[0]["bytes"] == 12
    assert cluster("GET", "c/outer").body == b"A" * 5 + b"B" * 7 + b"C" * 4
    assert cluster("GET", "c/outer", Range="bytes=4-13").body == b"A" + b"B" * 7 + b"CC"


def test_nesting_too_deep_is_refused_at_read(cluster: Cluster) -> None:
    cluster.manifest("c/n0", [cluster.segment("s1")])
    for depth in range(1, slo.MAX_NESTING + 1):
        etag = cluster("HEAD", f"c/n{depth - 1}").headers["ETag"].strip('"')
        assert cluster.manifest(f"c/n{depth}", [{"path": f"c/n{depth - 1}", "etag": etag,
                                                 "size_bytes": 5}]).status_int == 201
    assert cluster("GET", f"c/n{slo.MAX_NESTING - 1}").body == b"AAAAA"
    response = cluster("GET", f"c/n{slo.MAX_NESTING}")
    assert response.status_int == 409 and b"nest more than 10" in response.body


def test_bad_segments_are_each_named_and_nothing_is_stored(cluster: Cluster) -> None:
    items = [cluster.segment("s1", etag="0" * 32),
             cluster.segment("s2", size_bytes=99),
             {"path": "segs/missing"},
             cluster.segment("s3", range="10-20"),
             {"path": "c/bad"}]
    response = cluster.manifest("c/bad", items)
    assert response.status_int == 400
    lines = response.text.splitlines()
    assert lines[:3] == ["Response Status: 400 Bad Request", "Response Body: ", "Errors:"]
    assert lines[3:] == ["/segs/s1, Etag Mismatch", "/segs/s2, Size Mismatch",
                         "/segs/missing, 404 Not Found", "/segs/s3, Unsatisfiable Range",
                         "/c/bad, a manifest cannot list itself"]
    assert f"{A}/c/bad" not in cluster.store.objects
    as_json = cluster.manifest("c/bad", items[:1], Accept="application/json")
    assert json.loads(as_json.body)["Errors"] == [["/segs/s1", "Etag Mismatch"]]


def test_small_segments_but_the_last_are_refused() -> None:
    cluster = Cluster(min_segment_size="5")
    ok = cluster.manifest("c/ok", [cluster.segment("s1"), cluster.segment("s3")])
    assert ok.status_int == 201       # s3 has 4 bytes, but it is the last
    small = cluster.manifest("c/small", [cluster.segment("s3"), cluster.segment("s1")])
    assert small.status_int == 400
    assert "/segs/s3, Too small; each segment must be at least 5 bytes." in small.text


@pytest.mark.parametrize("headers, status, reason", [
    ({"Content-Length": "100000"}, 413, "Manifest File > 1000 bytes"),
    ({"Transfer-Encoding": "chunked"}, 413, "Manifest File > 1000 bytes"),
])
def test_oversized_manifests_are_413(headers: dict[str, str], status: int, reason: str) -> None:
    cluster = Cluster(max_manifest_size="1000")
    request = Request.blank(f"{A}/c/m?multipart-manifest=put", method="PUT",
                            body=b"[" + b" " * 5000 + b"]")
    request.headers.update(headers)
    if "Transfer-Encoding" in headers:
        del request.headers["Content-Length"]
    response = request.get_response(cluster.filter)
    assert response.status_int == status and reason in response.text


def test_a_manifest_etag_must_be_the_wholes(cluster: Cluster) -> None:
    items = [cluster.segment("s1")]
    assert cluster.manifest("c/m", items, ETag=md5(b"other")).status_int == 422
    assert cluster.manifest("c/m", items, ETag=f'"{md5(md5(b"AAAAA").encode())}"'
                            ).status_int == 201


def test_a_plain_put_may_not_mark_itself_a_manifest(cluster: Cluster) -> None:
    response = cluster("PUT", "c/o", b"[]", X_Static_Large_Object="true")
    assert response.status_int == 400 and "reserved" in response.text
    both = cluster.manifest("c/o", [cluster.segment("s1")], X_Object_Manifest="segs/s")
    assert both.status_int == 400 and "X-Object-Manifest" in both.text
    assert f"{A}/c/o" not in cluster.store.objects


def test_the_container_listing_shows_the_override_the_manifest_stored() -> None:
    stored = {"Content-Length": 900, "ETag": "manifest-md5", "Content-Type": "text/plain",
              "X-Object-Sysmeta-Container-Update-Override-Size": "123456"}
    headers = updates.update_headers("PUT", Timestamp(1), stored, 0, None)
    # the listing's size rides in the content type; the row keeps the stored bytes
    assert (headers["X-Size"], headers["X-Etag"]) == ("900", "manifest-md5")
    assert headers["X-Content-Type"] == "text/plain;swift_bytes=123456"
    stored["Content-Type"] = "text/plain;swift_bytes=1"  # one already there is replaced
    assert updates.update_headers("PUT", Timestamp(1), stored, 0, None)[
        "X-Content-Type"] == "text/plain;swift_bytes=123456"
    stored["X-Object-Sysmeta-Container-Update-Override-Etag"] = "whole"
    assert updates.update_headers("PUT", Timestamp(1), stored, 0, None)["X-Etag"] == "whole"
    plain = updates.update_headers("PUT", Timestamp(1), {"Content-Length": 9, "ETag": "e"}, 0,
                                   None)
    assert (plain["X-Size"], plain["X-Etag"]) == ("9", "e")


def test_a_changed_first_segment_is_409_and_a_later_one_cuts_the_body(cluster: Cluster) -> None:
    cluster.manifest("c/big", [cluster.segment("s1"), cluster.segment("s2")])
    cluster.store.put(f"{A}/segs/s2", b"X" * 7)          # same size, other bytes
    response = cluster("GET", "c/big", Range="bytes=6-")
    assert response.status_int == 409 and b"segment /segs/s2 changed" in response.body
    request = Request.blank(f"{A}/c/big")
    status, _, body = request.call_application(cluster.filter)
    assert status.startswith("200")
    got = b""
    with pytest.raises(SegmentError, match="/segs/s2 changed"):
        for chunk in body:
            got += chunk
    assert got == b"AAAAA"                               # never a byte of the wrong segment
    cluster.store.objects.pop(f"{A}/segs/s1")
    assert cluster("GET", "c/big").status_int == 409


def test_delete_removes_segments_nested_ones_and_the_manifest(cluster: Cluster) -> None:
    cluster.manifest("c/inner", [cluster.segment("s1")])
    etag = cluster("HEAD", "c/inner").headers["ETag"].strip('"')
    cluster.manifest("c/outer", [{"path": "c/inner", "etag": etag}, cluster.segment("s2")])
    cluster.store.objects.pop(f"{A}/segs/s2")             # already gone: not found, no error
    response = cluster("DELETE", "c/outer?multipart-manifest=delete", Accept="application/json")
    assert response.status_int == 200
    assert json.loads(response.body) == {"Number Deleted": 3, "Number Not Found": 1,
                                         "Response Status": "200 OK", "Response Body": "",
                                         "Errors": []}
    assert set(cluster.store.objects) == {f"{A}/segs/s3"}


def test_delete_keeps_the_manifest_when_a_segment_cannot_go(cluster: Cluster) -> None:
    cluster.manifest("c/m", [cluster.segment("s1"), cluster.segment("s2")])
    cluster.store.forbidden.add(f"{A}/segs/s2")
    response = cluster("DELETE", "c/m?multipart-manifest=delete")
    assert response.status_int == 400
    assert "/segs/s2, 403 Forbidden" in response.text and "Number Deleted: 1" in response.text
    assert f"{A}/c/m" in cluster.store.objects


def test_delete_of_a_plain_object_or_nothing(cluster: Cluster) -> None:
    assert cluster("DELETE", "segs/s1?multipart-manifest=delete").status_int == 204
    assert cluster("DELETE", "segs/s1?multipart-manifest=delete").status_int == 404


def test_plain_objects_pass_untouched(cluster: Cluster) -> None:
    response = cluster("GET", "segs/s2", Range="bytes=1-2")
    assert (response.status_int, response.body) == (206, b"BB")
    assert cluster("GET", "segs/s2?multipart-manifest=get").body == cluster.data["s2"]


def test_info_tells_the_limits() -> None:
    cluster = Cluster(max_manifest_segments="50")
    info = json.loads(Request.blank("/info").get_response(cluster.filter).body)
    assert info["slo"] == {"max_manifest_segments": 50, "max_manifest_size": 8388608,
                           "min_segment_size": 1}
    assert info["swift"] == {"version": "fake"}


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="min_segment_size"):
        slo.filter_factory({"min_segment_size": "0"}, LOG)


def test_a_range_beyond_the_manifests_own_bytes_is_the_wholes(cluster: Cluster) -> None:
    # the stored manifest is some 500 bytes: the app below answers this range 416
    cluster.data["s4"] = bytes(range(256)) * 8
    cluster.store.put(f"{A}/segs/s4", cluster.data["s4"])
    cluster.manifest("c/big", [cluster.segment("s1"), cluster.segment("s4")])
    assert len(cluster.store.objects[f"{A}/c/big"][1]) < 1500
    response = cluster("GET", "c/big", Range="bytes=1500-1509")
    assert (response.status_int, response.body) == (206, cluster.data["s4"][1495:1505])
    assert cluster("HEAD", "c/big", Range="bytes=1500-").headers["Content-Length"] == "553"
