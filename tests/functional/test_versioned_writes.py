"""Legacy versioning (X-Versions-Location, X-History-Location) on a real
cluster, over HTTP and through the swift CLI."""
from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator

import pytest

from .cluster import ok, raw
from .test_object_versioning import Client, VersionedCluster, versioned_cluster

MARKER = "application/x-deleted;swift_versions_deleted=1"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VersionedCluster]:
    yield from versioned_cluster(tmp_path_factory.mktemp("versioned-writes"))


@pytest.fixture(scope="module")
def tester(cluster: VersionedCluster) -> Client:
    return Client(cluster)


def archived(client: Client, archive: str, obj: str) -> list[dict[str, str]]:
    prefix = f"{len(obj.encode()):03x}{obj}/"
    status, _, body = client("GET", archive, query="format=json&prefix="
                             + urllib.parse.quote(prefix))
    assert status == 200
    return list(json.loads(body))


def containers(client: Client, *names: str, **headers: str) -> None:
    for name in names:
        assert client("PUT", name, **headers)[0] in (201, 202)


def test_stack_mode_archives_on_put_and_pops_on_delete(tester: Client) -> None:
    containers(tester, "stack-archive")
    containers(tester, "stack", X_Versions_Location="stack-archive")
    assert tester("HEAD", "stack")[1]["X-Versions-Location"] == "stack-archive"
    name = "d\u00e9j\u00e0 vu"
    for body in (b"v1", b"v2", b"v3"):
        assert tester("PUT", f"stack/{name}", body, X_Object_Meta_Body=body.decode())[0] == 201
    versions = archived(tester, "stack-archive", name)
    assert [v["name"].rsplit("/", 1)[0] for v in versions] == [f"009{name}"] * 2  # 9 bytes of UTF-8
    oldest = versions[0]["name"]
    status, headers, body = tester("GET", f"stack-archive/{oldest}")
    assert (body, headers["X-Object-Meta-Body"]) == (b"v1", "v1")

    assert tester("DELETE", f"stack/{name}")[0] == 204
    status, headers, body = tester("GET", f"stack/{name}")
    assert (body, headers["X-Object-Meta-Body"]) == (b"v2", "v2")
    assert len(archived(tester, "stack-archive", name)) == 1
    assert tester("DELETE", f"stack/{name}")[0] == 204
    assert tester("GET", f"stack/{name}")[2] == b"v1"
    assert tester("DELETE", f"stack/{name}")[0] == 204
    assert tester("GET", f"stack/{name}")[0] == 404
    assert archived(tester, "stack-archive", name) == []
    assert tester("DELETE", f"stack/{name}")[0] == 404

    # a copy onto a versioned object archives what it replaces
    assert tester("PUT", "stack/src", b"copied")[0] == 201
    assert tester("PUT", "stack/dst", b"original")[0] == 201
    assert tester("COPY", "stack/src", Destination="stack/dst")[0] == 201
    [kept] = archived(tester, "stack-archive", "dst")
    assert tester("GET", f"stack-archive/{kept['name']}")[2] == b"original"


def test_history_mode_keeps_everything_with_a_delete_marker(tester: Client) -> None:
    containers(tester, "history-archive")
    containers(tester, "history", X_History_Location="history-archive")
    assert tester("PUT", "history/o", b"one")[0] == 201
    assert tester("PUT", "history/o", b"two")[0] == 201
    assert tester("DELETE", "history/o")[0] == 204
    assert tester("GET", "history/o")[0] == 404
    versions = archived(tester, "history-archive", "o")
    assert [v["content_type"] for v in versions][-1] == MARKER
    assert [tester("GET", f"history-archive/{v['name']}")[2] for v in versions[:2]] == \
        [b"one", b"two"]
    # restoring is a copy back; the archive keeps its source
    assert tester("COPY", f"history-archive/{versions[0]['name']}",
                  Destination="history/o")[0] == 201
    assert tester("GET", "history/o")[2] == b"one"
    assert len(archived(tester, "history-archive", "o")) == 3

    # switching to stack mode: a marker on top means "deleted" until data comes back
    assert tester("POST", "history", X_Versions_Location="history-archive")[0] == 204
    headers = tester("HEAD", "history")[1]
    assert headers["X-Versions-Location"] == "history-archive"
    assert "X-History-Location" not in headers
    assert tester("DELETE", "history/o")[0] == 204  # the restored copy goes, nothing pops
    assert tester("GET", "history/o")[0] == 404
    assert tester("DELETE", "history/o")[0] == 204  # now the version under the marker pops
    assert tester("GET", "history/o")[2] == b"two"


def test_bad_locations_and_missing_archives(tester: Client) -> None:
    for headers in ({"X_Versions_Location": "a", "X_History_Location": "b"},
                    {"X_Versions_Location": "a/b"}, {"X_Versions_Location": "self"},
                    {"X_History_Location": "%01versions%01self"},
                    {"X_Versions_Location": "x" * 257}):
        status, _, body = tester("PUT", "self", **headers)
        assert status == 400, (headers, body)
    containers(tester, "gone-archive")
    containers(tester, "keeps", X_Versions_Location="gone-archive")
    assert tester("PUT", "keeps/o", b"precious")[0] == 201
    assert tester("DELETE", "gone-archive")[0] == 204
    status, _, body = tester("PUT", "keeps/o", b"overwrite")
    assert status == 412 and b"does not exist" in body
    assert tester("GET", "keeps/o")[2] == b"precious"  # nothing was lost
    status, _, _ = tester("POST", "keeps", X_Remove_Versions_Location="x")
    assert status == 204 and "X-Versions-Location" not in tester("HEAD", "keeps")[1]
    assert tester("PUT", "keeps/o", b"overwrite")[0] == 201

    # a token that may not write the container archives nothing
    containers(tester, "acl-archive")
    containers(tester, "acl", X_Versions_Location="acl-archive")
    assert tester("PUT", "acl/o", b"mine")[0] == 201
    other = Client(tester.cluster, "test:tester3", "testing3")
    assert other("PUT", "acl/o", b"theirs")[0] == 403
    assert other("DELETE", "acl/o")[0] == 403
    assert archived(tester, "acl-archive", "o") == []


def test_info_and_the_swift_cli(cluster: VersionedCluster) -> None:
    status, _, body = raw(cluster, "GET", "/info")
    info = json.loads(body)
    assert status == 200 and info["versioned_writes"] == {
        "allowed_flags": ["x-versions-location", "x-history-location"]}
    assert "object_versioning" in info
    ok(cluster.swift("post", "cli-archive"))
    ok(cluster.swift("post", "-H", "X-Versions-Location: cli-archive", "cli"))
    assert "cli-archive" in ok(cluster.swift("stat", "cli"))
    result = cluster.swift("post", "-H", "X-Versions-Location: cli", "cli")
    assert result.returncode != 0 and "400" in result.stdout + result.stderr
