"""Object versioning (X-Versions-Enabled) on a real cluster, over HTTP
and through the swift CLI."""
from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .cluster import Cluster, ok, raw, token

MARKER = "application/x-deleted;swift_versions_deleted=1"


class VersionedCluster(Cluster):
    """The test cluster with both versioning filters where Swift has them:
    after copy, before the app."""

    def _proxy_conf(self) -> Path:
        conf = super()._proxy_conf()
        lines = conf.read_text().splitlines()
        at = next(i for i, line in enumerate(lines) if line.startswith("pipeline = "))
        names = lines[at].split()[2:]
        added = [name for name in ("slo", "dlo", "versioned_writes", "object_versioning")
                 if name not in names]
        for name in ("slo", "dlo"):  # Swift's order: copy slo dlo versioned_writes ...
            if name in added:
                names.insert(names.index("copy") + 1 + ("slo" in names), name)
        before = names.index("symlink") if "symlink" in names else names.index("proxy-server")
        names[before:before] = [name for name in ("versioned_writes", "object_versioning")
                                if name in added]
        lines[at] = "pipeline = " + " ".join(names)
        conf.write_text("\n".join([*lines, *(f"[filter:{name}]" for name in added)]) + "\n")
        return conf


def versioned_cluster(root: Path) -> Iterator[VersionedCluster]:
    running = VersionedCluster(root)
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VersionedCluster]:
    # One cluster for the module: each test works in containers of its own.
    yield from versioned_cluster(tmp_path_factory.mktemp("versioning"))


class Client:
    """Raw requests as one user, paths relative to that user's account."""

    def __init__(self, cluster: Cluster, user: str = "test:tester", key: str = "testing") -> None:
        self.cluster = cluster
        auth, url = token(cluster, user, key)
        self.headers = {"X-Auth-Token": auth}
        self.root = "/" + url.split("/", 3)[3]

    def __call__(self, method: str, path: str, body: bytes = b"", query: str = "",
                 **headers: str) -> tuple[int, dict[str, str], bytes]:
        quoted = urllib.parse.quote(f"{self.root}/{path}".rstrip("/"))
        return raw(self.cluster, method, quoted + (f"?{query}" if query else ""), body,
                   {**self.headers, **{k.replace("_", "-"): v for k, v in headers.items()}})

    def versions(self, container: str, query: str = "") -> list[dict[str, Any]]:
        status, _, body = self("GET", container, query="versions" + (f"&{query}" if query
                                                                     else ""))
        assert status == 200, body
        return list(json.loads(body))


@pytest.fixture(scope="module")
def tester(cluster: Cluster) -> Client:
    return Client(cluster)


def versioned(client: Client, name: str) -> None:
    assert client("PUT", name, X_Versions_Enabled="true")[0] in (201, 202)


def put(client: Client, path: str, body: bytes, query: str = "", **headers: str) -> str:
    status, answer, text = client("PUT", path, body, query, **headers)
    assert status == 201, text
    return answer["X-Object-Version-Id"]


def ids(listing: list[dict[str, Any]]) -> list[tuple[str, str, bool]]:
    return [(e["name"], e["version_id"], e["is_latest"]) for e in listing if "name" in e]


def test_every_overwrite_and_delete_keeps_a_version(tester: Client) -> None:
    versioned(tester, "docs")
    status, headers, _ = tester("HEAD", "docs")
    assert status == 204 and headers["X-Versions-Enabled"] == "True"
    assert "X-Container-Meta-Objstore-Versions-Enabled" not in headers
    v1 = put(tester, "docs/report", b"first", X_Object_Meta_Draft="1", Content_Type="text/x-a")
    v2 = put(tester, "docs/report", b"second!")
    v3 = put(tester, "docs/report", b"third", Content_Type="text/x-c")
    assert v1 < v2 < v3

    status, headers, body = tester("GET", "docs/report")
    assert (status, body, headers["X-Object-Version-Id"]) == (200, b"third", v3)
    assert headers["Content-Type"] == "text/x-c"
    for version, content, kind in ((v1, b"first", "text/x-a"), (v2, b"second!", None)):
        status, headers, body = tester("GET", "docs/report", query=f"version-id={version}")
        assert (status, body, headers["X-Object-Version-Id"]) == (200, content, version)
        if kind:
            assert headers["Content-Type"] == kind and headers["X-Object-Meta-Draft"] == "1"
    status, headers, body = tester("HEAD", "docs/report", query=f"version-id={v2}")
    assert (status, headers["Content-Length"], body) == (200, "7", b"")

    # the container lists the current object as it is, counting every version's bytes
    status, headers, body = tester("GET", "docs", query="format=json")
    assert [(e["name"], e["bytes"], e["content_type"]) for e in json.loads(body)] == \
        [("report", 5, "text/x-c")]
    assert headers["X-Container-Bytes-Used"] == str(5 + 7 + 5)
    assert ids(tester.versions("docs")) == [("report", v3, True), ("report", v2, False),
                                            ("report", v1, False)]

    status, headers, _ = tester("DELETE", "docs/report")
    marker = headers["X-Object-Version-Id"]
    assert status == 204 and marker > v3
    assert tester("GET", "docs/report")[0] == 404
    assert tester("GET", "docs", query="format=json")[2] == b"[]"
    listing = tester.versions("docs")
    assert ids(listing) == [("report", marker, True), ("report", v3, False),
                            ("report", v2, False), ("report", v1, False)]
    assert listing[0]["content_type"] == MARKER and listing[0]["bytes"] == 0
    status, headers, _ = tester("GET", "docs/report", query=f"version-id={marker}")
    assert status == 404 and headers["Content-Type"] == MARKER
    # a delete of nothing still notes when it happened, as Swift does
    status, headers, _ = tester("DELETE", "docs/never-there")
    assert status == 404 and headers["X-Object-Version-Id"]


def test_versions_are_hidden_and_reserved(tester: Client) -> None:
    versioned(tester, "hidden")
    put(tester, "hidden/o", b"x")
    status, _, body = tester("GET", "", query="format=json")
    names = [entry["name"] for entry in json.loads(body)]
    assert "hidden" in names and not any(name.startswith("\x01") for name in names)
    status, _, body = tester("GET", "")
    assert status == 200 and b"\x01" not in body
    for method in ("GET", "PUT", "DELETE"):
        status, _, body = tester(method, "\x01versions\x01hidden")
        assert status == 400 and b"reserved" in body
    assert tester("GET", "\x01versions\x01hidden/o\x01x")[0] == 400
    status, _, body = tester("POST", "hidden", X_Container_Meta_Objstore_Versions_Enabled="no")
    assert status == 400 and b"X-Versions-Enabled" in body
    assert tester("HEAD", "hidden")[1]["X-Versions-Enabled"] == "True"


def test_null_versions_and_suspending(tester: Client) -> None:
    assert tester("PUT", "plain")[0] == 201
    assert tester("PUT", "plain/o", b"before")[0] == 201
    status, headers, body = tester("GET", "plain/o", query="version-id=null")
    assert (status, body, headers["X-Object-Version-Id"]) == (200, b"before", "null")
    status, _, body = tester("GET", "plain/o", query="version-id=1700000000.00000")
    assert status == 400 and b"versioned" in body
    written = tester("HEAD", "plain/o")[1]["X-Timestamp"]

    versioned(tester, "plain")
    assert ids(tester.versions("plain")) == [("o", "null", True)]
    v1 = put(tester, "plain/o", b"during")
    # the unversioned object was kept, under the time it was written
    assert ids(tester.versions("plain")) == [("o", v1, True), ("o", written, False)]
    status, headers, body = tester("GET", "plain/o", query=f"version-id={written}")
    assert (status, body) == (200, b"before")
    assert tester("GET", "plain/o", query="version-id=null")[0] == 404

    assert tester("POST", "plain", X_Versions_Enabled="false")[0] == 204
    assert tester("HEAD", "plain")[1]["X-Versions-Enabled"] == "False"
    status, headers, _ = tester("PUT", "plain/o", b"suspended")
    assert status == 201 and "X-Object-Version-Id" not in headers
    assert ids(tester.versions("plain")) == [("o", "null", True), ("o", v1, False),
                                             ("o", written, False)]
    assert tester("GET", "plain/o", query="version-id=null")[2] == b"suspended"
    # deleting while suspended deletes the object and keeps the versions
    status, headers, _ = tester("DELETE", "plain/o")
    assert status == 204 and "X-Object-Version-Id" not in headers
    assert ids(tester.versions("plain")) == [("o", v1, False), ("o", written, False)]
    assert tester("GET", "plain/o", query=f"version-id={v1}")[2] == b"during"


def test_one_version_read_deleted_and_restored(tester: Client) -> None:
    versioned(tester, "ops")
    v1 = put(tester, "ops/o", b"one", X_Object_Meta_Kind="first")
    v2 = put(tester, "ops/o", b"two")
    v3 = put(tester, "ops/o", b"three")

    status, headers, _ = tester("DELETE", "ops/o", query=f"version-id={v2}")
    assert (status, headers["X-Object-Version-Id"], headers["X-Object-Current-Version-Id"]) \
        == (204, v2, v3)
    assert ids(tester.versions("ops")) == [("o", v3, True), ("o", v1, False)]
    assert tester("GET", "ops/o", query=f"version-id={v2}")[0] == 404
    assert tester("GET", "ops/o")[2] == b"three"

    # restoring by PUT of a version: its bytes and metadata, as a new version
    status, headers, _ = tester("PUT", "ops/o", query=f"version-id={v1}")
    assert status == 201
    v4 = headers["X-Object-Version-Id"]
    status, headers, body = tester("GET", "ops/o")
    assert (body, headers["X-Object-Version-Id"], headers["X-Object-Meta-Kind"]) == \
        (b"one", v4, "first")
    assert ids(tester.versions("ops")) == [("o", v4, True), ("o", v3, False), ("o", v1, False)]

    # deleting the current version takes the current object with it
    status, headers, _ = tester("DELETE", "ops/o", query=f"version-id={v4}")
    assert (status, headers["X-Object-Current-Version-Id"]) == (204, "null")
    assert tester("GET", "ops/o")[0] == 404
    assert ids(tester.versions("ops")) == [("o", v3, False), ("o", v1, False)]

    # bad input
    put(tester, "ops/other", b"x")
    assert tester("GET", "ops/other", query=f"version-id={v3}")[0] == 404  # not its version
    assert tester("GET", "ops/o", query="version-id=yesterday")[0] == 400
    assert tester("POST", "ops/o", query=f"version-id={v3}", X_Object_Meta_A="b")[0] == 400
    status, _, body = tester("PUT", "ops/o", b"data", query=f"version-id={v3}")
    assert status == 400 and b"no body" in body
    assert tester("PUT", "ops/o", query="version-id=null")[0] == 400
    assert tester("PUT", "ops/o", query="version-id=1700000000.00000")[0] == 404
    marker = tester("DELETE", "ops/other")[1]["X-Object-Version-Id"]
    status, _, body = tester("PUT", "ops/other", query=f"version-id={marker}")
    assert status == 400 and b"delete marker" in body
    assert tester("DELETE", "ops/o", query="version-id=null")[0] == 404
    assert tester("GET", "nowhere/o", query=f"version-id={v3}")[0] == 404


def test_reads_writes_and_copies_of_a_versioned_object(tester: Client) -> None:
    versioned(tester, "rw")
    put(tester, "rw/o", b"0123456789", X_Object_Meta_Color="red")
    etag = tester("HEAD", "rw/o")[1]["ETag"]
    status, headers, body = tester("GET", "rw/o", Range="bytes=2-4")
    assert (status, body, headers["Content-Range"]) == (206, b"234", "bytes 2-4/10")
    assert tester("GET", "rw/o", If_Match=etag)[0] == 200
    assert tester("GET", "rw/o", If_None_Match=etag)[0] == 304
    assert tester("GET", "rw/o", If_Match="nope")[0] == 412
    assert tester("GET", "rw/o", Range="bytes=20-")[0] == 416

    status, headers, _ = tester("POST", "rw/o", X_Object_Meta_Color="blue")
    assert status == 202 and headers["X-Object-Version-Id"]
    assert tester("HEAD", "rw/o")[1]["X-Object-Meta-Color"] == "blue"
    assert tester("POST", "rw/o", X_Delete_After="60")[0] == 400
    assert tester("PUT", "rw/bad", b"x", X_Delete_At="yesterday")[0] == 400
    assert ids(tester.versions("rw", "prefix=bad")) == []

    # a copy reads the current version; a copy onto the object makes a new one
    status, _, _ = tester("PUT", "rw/copy", X_Copy_From="rw/o")
    assert status == 201 and tester("GET", "rw/copy")[2] == b"0123456789"
    status, headers, _ = tester("COPY", "rw/copy", Destination="rw/o")
    assert status == 201 and headers["X-Object-Version-Id"]
    assert [e["version_id"] for e in tester.versions("rw", "prefix=o")][0] == \
        headers["X-Object-Version-Id"]
    # If-None-Match: * on an existing versioned object stores nothing
    assert tester("PUT", "rw/o", b"new", If_None_Match="*")[0] == 412
    assert len(tester.versions("rw", "prefix=o")) == 2


def test_versions_listing_pages_and_parameters(tester: Client) -> None:
    versioned(tester, "many")
    for name in ("a", "b/1", "b/2", "c"):
        for number in range(3):
            put(tester, f"many/{name}", f"{name}-{number}".encode())
    tester("DELETE", "many/c")
    whole = tester.versions("many")
    assert len(whole) == 13 and [e["name"] for e in whole] == ["a"] * 3 + ["b/1"] * 3 + \
        ["b/2"] * 3 + ["c"] * 4

    for limit in (1, 2, 5):
        seen: list[dict[str, Any]] = []
        query = f"limit={limit}"
        while True:
            page = tester.versions("many", query)
            if not page:
                break
            seen += page
            last = page[-1]
            query = (f"limit={limit}&marker={urllib.parse.quote(last['name'])}"
                     f"&version_marker={last['version_id']}")
        assert seen == whole, limit
    assert tester.versions("many", "reverse=on") == whole[::-1]
    assert tester.versions("many", "prefix=b/") == whole[3:9]
    assert tester.versions("many", "delimiter=/") == [*whole[:3], {"subdir": "b/"}, *whole[9:]]
    assert tester.versions("many", "end_marker=b/2") == whole[:6]
    page = tester.versions("many", f"marker=c&version_marker={whole[10]['version_id']}")
    assert page == whole[11:]

    for query, status in (("version_marker=null", 400), ("marker=a&version_marker=x", 400),
                          ("delimiter=1", 400), ("format=xml", 406), ("path=b", 400)):
        assert tester("GET", "many", query="versions&" + query)[0] == status, query
    assert tester("GET", "many", query="versions", Accept="text/plain")[0] == 406


def test_bad_settings_and_deleting_a_versioned_container(tester: Client) -> None:
    status, _, body = tester("PUT", "bad", X_Versions_Enabled="maybe")
    assert status == 400 and b"true or false" in body
    assert tester("PUT", "archive")[0] == 201
    assert tester("PUT", "legacy", X_Versions_Location="archive")[0] == 201
    assert tester("POST", "legacy", X_Versions_Enabled="true")[0] == 400
    versioned(tester, "modern")
    assert tester("POST", "modern", X_History_Location="archive")[0] == 400
    assert tester("HEAD", "modern")[1].get("X-History-Location") is None

    put(tester, "modern/o", b"1")
    put(tester, "modern/o", b"2")
    status, _, body = tester("DELETE", "modern")
    assert status == 409 and b"versions remain" in body
    tester("DELETE", "modern/o")
    assert tester("DELETE", "modern")[0] == 409
    for entry in tester.versions("modern"):
        assert tester("DELETE", "modern/o", query=f"version-id={entry['version_id']}")[0] == 204
    assert tester("DELETE", "modern")[0] == 204
    # the versions went with it: a new container of that name starts afresh
    versioned(tester, "modern")
    assert tester.versions("modern") == []


def test_acls_decide_who_reads_and_writes_versions(cluster: Cluster, tester: Client) -> None:
    other = Client(cluster, "test:tester3", "testing3")
    versioned(tester, "shared")
    v1 = put(tester, "shared/o", b"owner's")
    assert other("GET", "shared/o", query=f"version-id={v1}")[0] == 403
    assert other("PUT", "shared/o", b"intruder")[0] == 403
    assert other("DELETE", "shared/o", query=f"version-id={v1}")[0] == 403
    assert ids(tester.versions("shared")) == [("o", v1, True)]  # nothing was written

    assert tester("POST", "shared", X_Container_Read="test:tester3",
                  X_Container_Write="test:tester3")[0] == 204
    v2 = put(other, "shared/o", b"colleague's")
    assert other("GET", "shared/o", query=f"version-id={v1}")[2] == b"owner's"
    assert ids(other.versions("shared")) == [("o", v2, True), ("o", v1, False)]


def test_swift_cli_enables_and_lists_versions(cluster: Cluster, tmp_path: Path) -> None:
    ok(cluster.swift("post", "-H", "X-Versions-Enabled: true", "cli"))
    assert "Versions Enabled: True" in ok(cluster.swift("stat", "cli")).replace(
        "X-Versions-Enabled", "Versions Enabled")
    source = tmp_path / "notes.txt"
    for text in ("v1", "v2 longer"):
        source.write_text(text)
        ok(cluster.swift("upload", "--object-name", "notes.txt", "cli", str(source)))
    lines = ok(cluster.swift("list", "--versions", "cli")).splitlines()
    assert len(lines) == 2 and all(line.endswith("notes.txt") for line in lines)
    ids_shown = [line.split()[3] for line in lines]
    assert ids_shown[0] > ids_shown[1] != "null"
    older = tmp_path / "older.txt"
    ok(cluster.swift("download", "--version-id", ids_shown[1], "-o", str(older), "cli",
                     "notes.txt"))
    assert older.read_text() == "v1"
    result = cluster.swift("delete", "cli")
    assert result.returncode != 0 and "409" in result.stdout + result.stderr
    ok(cluster.swift("delete", "--versions", "cli"))
    assert cluster.swift("stat", "cli").returncode != 0  # gone, versions and all


def test_large_objects_are_versioned_whole(tester: Client) -> None:
    assert tester("PUT", "segments")[0] == 201
    versioned(tester, "large")
    parts = {name: name.encode() * 4 for name in ("s1", "s2", "s3")}
    for name, body in parts.items():
        assert tester("PUT", f"segments/{name}", body)[0] == 201

    def manifest(*names: str) -> bytes:
        return json.dumps([{"path": f"/segments/{name}", "size_bytes": len(parts[name])}
                           for name in names]).encode()

    status, headers, body = tester("PUT", "large/slo", manifest("s1", "s2"),
                                   query="multipart-manifest=put")
    assert status == 201, body
    first = headers["X-Object-Version-Id"]
    second = put(tester, "large/slo", manifest("s3"), query="multipart-manifest=put")
    assert tester("GET", "large/slo")[2] == parts["s3"]
    status, headers, body = tester("GET", "large/slo", query=f"version-id={first}")
    assert (status, body) == (200, parts["s1"] + parts["s2"])
    assert [(e["version_id"], e["bytes"]) for e in tester.versions("large")] == \
        [(second, 8), (first, 16)]
    status, _, body = tester("GET", "large", query="format=json")
    assert [(e["name"], e["bytes"]) for e in json.loads(body)] == [("slo", 8)]

    # a dynamic large object is versioned as its manifest
    put(tester, "large/dlo", b"", X_Object_Manifest="segments/s")
    put(tester, "large/dlo", b"plain now")
    assert tester("GET", "large/dlo")[2] == b"plain now"
    older = tester.versions("large", "prefix=dlo")[1]["version_id"]
    assert tester("GET", "large/dlo", query=f"version-id={older}")[2] == \
        parts["s1"] + parts["s2"] + parts["s3"]


def test_a_copy_of_a_chosen_version(tester: Client) -> None:
    versioned(tester, "copies")
    old = put(tester, "copies/o", b"old")
    put(tester, "copies/o", b"new")
    assert tester("PUT", "copies/o", query=f"version-id={old}", X_Copy_From="copies/o")[0] \
        == 201
    assert tester("GET", "copies/o")[2] == b"old"
    assert tester("COPY", "copies/o", query=f"version-id={old}",
                  Destination="copies/elsewhere")[0] == 201
    assert tester("GET", "copies/elsewhere")[2] == b"old"
