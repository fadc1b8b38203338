"""Static large objects on a real cluster: manifests over HTTP, bad ones,
segments that change, and the swift CLI's segmented uploads."""
from __future__ import annotations

import hashlib
import http.client
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .cluster import ok, raw
from .large_objects import Client, LargeObjectCluster, large_object_cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LargeObjectCluster]:
    yield from large_object_cluster(tmp_path_factory.mktemp("slo"))


@pytest.fixture(scope="module")
def tester(cluster: LargeObjectCluster) -> Client:
    return Client(cluster)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def upload_segments(tester: Client, container: str, parts: dict[str, bytes]
                    ) -> list[dict[str, object]]:
    """PUT each part; the manifest items that list them, in order."""
    assert tester("PUT", container)[0] in (201, 202)
    items = []
    for name, body in parts.items():
        status, headers, _ = tester("PUT", f"{container}/{name}", body)
        assert status == 201 and headers["ETag"] == md5(body)
        items.append({"path": f"{container}/{name}", "etag": md5(body),
                      "size_bytes": len(body)})
    return items


def put_manifest(tester: Client, path: str, items: list[dict[str, object]],
                 **headers: str) -> tuple[int, dict[str, str], bytes]:
    return tester("PUT", path, json.dumps(items).encode(), "multipart-manifest=put", **headers)


def test_a_manifest_is_served_whole_ranged_and_listed_at_its_size(tester: Client) -> None:
    parts = {"seg/1": os.urandom(70_000), "seg/\u00e9t\u00e9": os.urandom(50_000),
             "seg/3": b"tail"}
    items = upload_segments(tester, "slo-segs", parts)
    whole = b"".join(parts.values())
    assert tester("PUT", "slo-c")[0] in (201, 202)
    status, headers, _ = put_manifest(tester, "slo-c/big", items, Content_Type="video/mp4",
                                      X_Object_Meta_Kind="movie")
    slo_etag = md5("".join(md5(p) for p in parts.values()).encode())
    assert status == 201 and headers["ETag"] == f'"{slo_etag}"'

    status, headers, body = tester("GET", "slo-c/big")
    assert status == 200 and body == whole
    assert headers["Content-Length"] == str(len(whole)) and headers["ETag"] == f'"{slo_etag}"'
    assert headers["X-Static-Large-Object"] == "True"
    assert headers["Content-Type"] == "video/mp4" and headers["X-Object-Meta-Kind"] == "movie"
    assert not any(name.lower().startswith("x-object-sysmeta") for name in headers)
    status, headers, body = tester("HEAD", "slo-c/big")
    assert (status, headers["Content-Length"], body) == (200, str(len(whole)), b"")

    status, headers, body = tester("GET", "slo-c/big", Range="bytes=69990-70009")
    assert (status, body) == (206, whole[69990:70010])
    assert headers["Content-Range"] == f"bytes 69990-70009/{len(whole)}"
    status, _, body = tester("GET", "slo-c/big", Range="bytes=-6")
    assert (status, body) == (206, whole[-6:])
    status, headers, body = tester("GET", "slo-c/big", Range="bytes=0-2,119999-120001")
    assert status == 206 and headers["Content-Type"].startswith("multipart/byteranges")
    assert whole[:3] in body and whole[119999:120002] in body
    status, headers, _ = tester("GET", "slo-c/big", Range=f"bytes={len(whole)}-")
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(whole)}"
    assert tester("GET", "slo-c/big", If_None_Match=f'"{slo_etag}"')[0] == 304

    status, _, body = tester("GET", "slo-c", query="format=json")
    listed = {item["name"]: item for item in json.loads(body)}
    assert listed["big"]["bytes"] == len(whole)          # the whole's size, not the manifest's

    status, headers, body = tester("GET", "slo-c/big", query="multipart-manifest=get")
    stored = json.loads(body)
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert [(s["name"], s["hash"], s["bytes"]) for s in stored] == \
        [(f"/slo-segs/{n}", md5(p), len(p)) for n, p in parts.items()]
    raw_form = json.loads(tester("GET", "slo-c/big",
                                 query="multipart-manifest=get&format=raw")[2])
    assert raw_form == [{**item, "path": f"/{item['path']}"} for item in items]

    info = json.loads(raw(tester.cluster, "GET", "/info")[2])
    assert info["slo"] == {"max_manifest_segments": 1000, "max_manifest_size": 8388608,
                           "min_segment_size": 1}
    assert "dlo" in info

    # a copy of the manifest is a plain object of the whole's bytes
    assert tester("COPY", "slo-c/big", Destination="slo-c/flat")[0] == 201
    status, headers, body = tester("GET", "slo-c/flat")
    assert (status, body, headers["ETag"]) == (200, whole, md5(whole))
    assert "X-Static-Large-Object" not in headers


def test_nested_manifests_and_delete_with_segments(tester: Client) -> None:
    parts = {"a": b"A" * 1000, "b": b"B" * 1000, "c": b"C" * 10}
    items = upload_segments(tester, "nest-segs", parts)
    assert tester("PUT", "nest")[0] in (201, 202)
    assert put_manifest(tester, "nest/inner", items[:2])[0] == 201
    inner_etag = tester("HEAD", "nest/inner")[1]["ETag"].strip('"')
    assert put_manifest(tester, "nest/outer", [
        {"path": "nest/inner", "etag": inner_etag, "size_bytes": 2000},
        {**items[2], "range": "0-4"}])[0] == 201
    status, _, body = tester("GET", "nest/outer")
    assert (status, body) == (200, b"A" * 1000 + b"B" * 1000 + b"C" * 5)
    assert tester("GET", "nest/outer", Range="bytes=998-2001")[2] == \
        b"AA" + b"B" * 1000 + b"CC"

    status, _, body = tester("DELETE", "nest/outer", query="multipart-manifest=delete",
                             Accept="application/json")
    assert status == 200
    report = json.loads(body)
    assert (report["Number Deleted"], report["Errors"]) == (5, [])   # 3 segments, 2 manifests
    assert json.loads(tester("GET", "nest-segs", query="format=json")[2]) == []
    assert json.loads(tester("GET", "nest", query="format=json")[2]) == []
    assert tester("DELETE", "nest/outer", query="multipart-manifest=delete")[0] == 404


def test_bad_manifests_are_400_with_reasons_and_leave_nothing(tester: Client) -> None:
    items = upload_segments(tester, "bad-segs", {"one": b"1" * 100, "empty": b"",
                                                 "two": b"2" * 100})
    one, empty, two = items
    assert tester("PUT", "bad")[0] in (201, 202)
    cases = [
        (b"[{not json", "Manifest must be valid JSON"),
        (json.dumps({"path": "bad-segs/one"}).encode(), "Manifest must be a list"),
        (json.dumps([one, {"path": "bad-segs/missing"}]).encode(),
         "/bad-segs/missing, 404 Not Found"),
        (json.dumps([{**one, "etag": md5(b"other")}, two]).encode(),
         "/bad-segs/one, Etag Mismatch"),
        (json.dumps([one, {**two, "size_bytes": 99}]).encode(),
         "/bad-segs/two, Size Mismatch"),
        (json.dumps([one, empty, two]).encode(),
         "/bad-segs/empty, Too small; each segment must be at least 1 byte."),
        (json.dumps([{**one, "range": "200-300"}]).encode(),
         "/bad-segs/one, Unsatisfiable Range"),
        (json.dumps([{"path": "bad-segs/one", "colour": "red"}]).encode(),
         'Index 0: extraneous keys "colour"'),
    ]
    for body, reason in cases:
        status, _, answer = tester("PUT", "bad/m", body, "multipart-manifest=put")
        assert (status, reason) == (400, reason) and reason in answer.decode(), answer
        assert tester("HEAD", "bad/m")[0] == 404
    assert tester("PUT", "bad/m", b"[]", X_Static_Large_Object="True")[0] == 400
    assert tester("PUT", "bad/m", b"x" * 9_000_000, "multipart-manifest=put")[0] == 413
    assert tester("HEAD", "bad/m")[0] == 404
    assert json.loads(tester("GET", "bad", query="format=json")[2]) == []


def test_a_changed_segment_is_never_served(tester: Client, cluster: LargeObjectCluster) -> None:
    parts = {"1": b"1" * 200_000, "2": b"2" * 200_000}
    items = upload_segments(tester, "chg-segs", parts)
    assert tester("PUT", "chg")[0] in (201, 202)
    assert put_manifest(tester, "chg/m", items)[0] == 201
    assert tester("PUT", "chg-segs/2", b"X" * 200_000)[0] == 201   # same size, other bytes
    conn = http.client.HTTPConnection("127.0.0.1", cluster.ports["proxy"], timeout=10)
    conn.request("GET", f"{tester.root}/chg/m", headers=tester.headers)
    response = conn.getresponse()
    assert response.status == 200
    with pytest.raises(http.client.IncompleteRead) as cut:
        response.read()
    conn.close()
    # the first segment (or, on a machine slow enough for a read timeout,
    # part of it), and never a byte of the changed one
    assert parts["1"].startswith(cut.value.partial)
    status, _, body = tester("GET", "chg/m", Range="bytes=200000-")
    assert status == 409 and b"segment /chg-segs/2 changed" in body


def test_swift_cli_segmented_uploads(cluster: LargeObjectCluster, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    (tmp_path / "f.bin").write_bytes(data)
    for name, flags in (("slo.bin", ["--use-slo"]), ("default.bin", [])):
        ok(cluster.swift("upload", "--segment-size", "100000", *flags, "--object-name", name,
                         "cli", str(tmp_path / "f.bin")))
        ok(cluster.swift("download", "cli", name, "-o", str(tmp_path / f"down-{name}")))
        assert (tmp_path / f"down-{name}").read_bytes() == data
    status_headers = Client(cluster)("HEAD", "cli/default.bin")[1]
    assert status_headers["X-Static-Large-Object"] == "True"    # SLO: /info says slo
    segments = ok(cluster.swift("list", "cli_segments")).split()
    assert len(segments) == 6 and all("/slo/" in name for name in segments)
    ok(cluster.swift("delete", "cli", "slo.bin"))
    assert len(ok(cluster.swift("list", "cli_segments")).split()) == 3
    ok(cluster.swift("delete", "cli", "default.bin"))
    assert ok(cluster.swift("list", "cli_segments")).split() == []
    assert ok(cluster.swift("list", "cli")).split() == []


def test_swift_cli_200_mb_in_50_mb_segments(cluster: LargeObjectCluster, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    block = os.urandom(1 << 20)
    digest = hashlib.md5()
    with open(source, "wb") as handle:
        for index in range(200):
            chunk = index.to_bytes(4, "big") + block[4:]   # no two MiB alike
            handle.write(chunk)
            digest.update(chunk)
    ok(cluster.swift("upload", "--use-slo", "--segment-size", "50M", "--object-name", "big.bin",
                     "huge", str(source)))
    source.unlink()
    down = tmp_path / "down.bin"
    ok(cluster.swift("download", "huge", "big.bin", "-o", str(down)))
    got = hashlib.md5()
    with open(down, "rb") as handle:
        while chunk := handle.read(1 << 20):
            got.update(chunk)
    assert down.stat().st_size == 200 << 20 and got.hexdigest() == digest.hexdigest()
    assert len(ok(cluster.swift("list", "huge_segments")).split()) == 4


def test_a_manifest_counts_its_own_bytes_in_the_totals_not_its_segments_again(
        tester: Client) -> None:
    """As in Swift: the listing shows the whole's size, but the container's
    bytes used (which quotas and accounting add up) counts the manifest's
    stored bytes, since its segments are counted where they live."""
    parts = {"seg/a": os.urandom(40_000), "seg/b": os.urandom(30_000)}
    items = upload_segments(tester, "tally-segs", parts)
    assert tester("PUT", "tally")[0] in (201, 202)
    manifest = json.dumps(items).encode()
    assert put_manifest(tester, "tally/whole", items)[0] == 201
    _, headers, body = tester("GET", "tally", query="format=json")
    (entry,) = json.loads(body)
    assert entry["bytes"] == 70_000 and "swift_bytes" not in entry["content_type"]
    used = int(headers["X-Container-Bytes-Used"])
    assert used < len(manifest) + 1000  # the stored manifest (as Swift stores it), not 70,000
    _, got, _ = tester("GET", "tally-segs", query="format=json")
    assert got["X-Container-Bytes-Used"] == "70000"
