"""Dynamic large objects on a real cluster: over HTTP and through the swift CLI."""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .cluster import ok
from .large_objects import Client, LargeObjectCluster, large_object_cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LargeObjectCluster]:
    yield from large_object_cluster(tmp_path_factory.mktemp("dlo"))


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_a_dlo_is_its_prefix_in_name_order(cluster: LargeObjectCluster) -> None:
    tester = Client(cluster)
    assert tester("PUT", "dsegs")[0] in (201, 202)
    parts = [os.urandom(30_000) for _ in range(4)]
    for index, part in reversed(list(enumerate(parts))):       # order comes from the names
        assert tester("PUT", f"dsegs/v\u00eddeo/{index:04d}", part)[0] == 201
    assert tester("PUT", "dsegs/v\u00eddeo-other", b"not under the prefix")[0] == 201
    assert tester("PUT", "dc")[0] in (201, 202)
    status, _, _ = tester("PUT", "dc/movie", X_Object_Manifest="dsegs/v%C3%ADdeo/",
                          Content_Type="video/mp4")
    assert status == 201
    whole = b"".join(parts)

    status, headers, body = tester("GET", "dc/movie")
    assert (status, body) == (200, whole)
    assert headers["ETag"] == f'"{md5("".join(md5(p) for p in parts).encode())}"'
    assert headers["Content-Length"] == str(len(whole))
    assert headers["X-Object-Manifest"] == "dsegs/v%C3%ADdeo/"
    assert headers["Content-Type"] == "video/mp4"
    status, headers, body = tester("HEAD", "dc/movie")
    assert (status, headers["Content-Length"], body) == (200, str(len(whole)), b"")
    status, headers, body = tester("GET", "dc/movie", Range="bytes=29990-60009")
    assert (status, body) == (206, whole[29990:60010])
    assert headers["Content-Range"] == f"bytes 29990-60009/{len(whole)}"
    assert tester("GET", "dc/movie", Range="bytes=-5")[2] == whole[-5:]
    status, _, body = tester("GET", "dc/movie", query="multipart-manifest=get")
    assert (status, body) == (200, b"")

    # a segment added under the prefix is part of the whole at once
    assert tester("PUT", "dsegs/v\u00eddeo/0004", b"more")[0] == 201
    assert tester("GET", "dc/movie")[2] == whole + b"more"

    status, _, body = tester("PUT", "dc/bad", X_Object_Manifest="no-container-here")
    assert status == 400 and b"container/prefix" in body
    assert tester("PUT", "dc/lost", X_Object_Manifest="nosuch/x")[0] == 201
    assert tester("GET", "dc/lost")[0] == 404


def test_swift_cli_dlo_upload_download_delete(cluster: LargeObjectCluster,
                                              tmp_path: Path) -> None:
    data = os.urandom(250_000)
    (tmp_path / "f.bin").write_bytes(data)
    ok(cluster.swift("upload", "--segment-size", "100000", "--use-dlo", "--object-name",
                     "f.bin", "clid", str(tmp_path / "f.bin")))
    headers = Client(cluster)("HEAD", "clid/f.bin")[1]
    assert "X-Object-Manifest" in headers and "X-Static-Large-Object" not in headers
    ok(cluster.swift("download", "clid", "f.bin", "-o", str(tmp_path / "down")))
    assert (tmp_path / "down").read_bytes() == data
    assert len(ok(cluster.swift("list", "clid_segments")).split()) == 3
    ok(cluster.swift("delete", "clid", "f.bin"))
    assert ok(cluster.swift("list", "clid_segments")).split() == []
    assert json.loads(Client(cluster)("GET", "clid", query="format=json")[2]) == []
