"""Account and container quotas on a real cluster, over HTTP and through the
swift CLI: bad values, uploads, chunked uploads and copies past a quota,
who may set an account's quota, and what strangers learn."""
from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .cluster import Cluster, ok
from .test_symlink import ApiCluster, Client, api_cluster, containers


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiCluster]:
    yield from api_cluster(tmp_path_factory.mktemp("quotas"))


def chunked_put(client: Client, path: str, chunks: list[bytes]) -> tuple[int, bytes]:
    """A PUT with Transfer-Encoding: chunked, sent chunk by chunk."""
    conn = http.client.HTTPConnection("127.0.0.1", client.cluster.ports["proxy"], timeout=30)
    try:
        conn.request("PUT", f"/v1/{client.account}/{path}", body=iter(chunks),
                     headers={**client.headers, "Transfer-Encoding": "chunked"},
                     encode_chunked=True)
        response = conn.getresponse()
        return response.status, response.read()
    except (BrokenPipeError, ConnectionResetError):
        return 0, b""  # the proxy answered and closed before the last chunk went out
    finally:
        conn.close()


def wait_for(check: object, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the cluster never caught up"
        time.sleep(0.1)


def settled_bytes(client: Client) -> int:
    """The account's bytes in use, once its containers have reported them
    all (they do so in batches, a moment after each write)."""
    def total() -> int:
        names = [row["name"] for row in json.loads(client("GET", "", query="format=json")[2])]
        return sum(int(client("HEAD", name)[1]["X-Container-Bytes-Used"]) for name in names)
    wait_for(lambda: int(client("HEAD", "")[1]["X-Account-Bytes-Used"]) == total())
    return int(client("HEAD", "")[1]["X-Account-Bytes-Used"])


def test_container_quotas_over_http(cluster: Cluster) -> None:
    tester = Client(cluster)
    containers(tester, "qc")
    for header in ("X-Container-Meta-Quota-Bytes", "X-Container-Meta-Quota-Count"):
        for bad in ("ten", "-1", "1.5"):
            status, _, body = tester("POST", "qc", **{header.replace("-", "_"): bad})
            assert status == 400 and header.encode() in body
        assert tester("PUT", "qc-bad", **{header.replace("-", "_"): "x"})[0] == 400
    assert tester("HEAD", "qc-bad")[0] == 404  # refused containers are not made
    assert tester("POST", "qc", X_Container_Meta_Quota_Bytes="10")[0] == 204
    assert tester("PUT", "qc/first", b"12345678")[0] == 201
    wait_for(lambda: tester("HEAD", "qc")[1].get("X-Container-Bytes-Used") == "8")
    status, _, body = tester("PUT", "qc/second", b"12345")
    assert status == 413 and b"Upload exceeds quota" in body and b"10 bytes" in body
    assert tester("HEAD", "qc/second")[0] == 404
    # a chunked upload is cut off once past the room left; nothing of it is stored
    status, body = chunked_put(tester, "qc/chunked", [b"12", b"345", b"6789"])
    assert status in (413, 0) and (status == 0 or b"Upload exceeds quota" in body)
    assert tester("HEAD", "qc/chunked")[0] == 404
    assert chunked_put(tester, "qc/small", [b"1", b"2"])[0] == 201
    # a copy into the container is an upload too
    containers(tester, "elsewhere")
    tester("PUT", "elsewhere/big", b"x" * 20)
    assert tester("COPY", "elsewhere/big", Destination="qc/copied")[0] == 413
    assert tester("PUT", "qc/copied2", X_Copy_From="elsewhere/big")[0] == 413
    # the count quota; removing a quota lifts it
    assert tester("POST", "qc", X_Container_Meta_Quota_Bytes="",
                  X_Container_Meta_Quota_Count="2")[0] == 204
    wait_for(lambda: tester("HEAD", "qc")[1].get("X-Container-Object-Count") == "2")
    status, _, body = tester("PUT", "qc/third", b"")
    assert status == 413 and b"2 objects" in body
    assert tester("POST", "qc", X_Remove_Container_Meta_Quota_Count="x")[0] == 204
    assert tester("PUT", "qc/third", b"x" * 100)[0] == 201


def test_strangers_get_their_401_or_403_not_the_quota(cluster: Cluster) -> None:
    tester = Client(cluster)
    containers(tester, "shared", X_Container_Write="test:tester3",
               X_Container_Meta_Quota_Bytes="4")
    writer = Client(cluster, "test:tester3", "testing3", account=tester.account)
    assert writer("PUT", "shared/o", b"123")[0] == 201
    status, _, body = writer("PUT", "shared/too-big", b"12345")
    assert status == 413 and b"Upload exceeds quota" in body
    containers(tester, "private", X_Container_Meta_Quota_Bytes="4")
    assert writer("PUT", "private/too-big", b"12345")[0] == 403
    assert tester("PUT", "private/ok", b"1")[0] == 201  # the owner, within the quota
    anonymous = Client(cluster)
    anonymous.headers = {}
    assert anonymous("PUT", "private/too-big", b"12345")[0] == 401


def test_account_quotas_over_http(cluster: Cluster) -> None:
    tester = Client(cluster)
    reseller = Client(cluster, "admin:admin", "admin", account=tester.account)
    status, _, body = tester("POST", "", X_Account_Meta_Quota_Bytes="100")
    assert status == 403 and b"reseller admin" in body
    assert tester("POST", "", X_Remove_Account_Meta_Quota_Bytes="x")[0] == 403
    status, _, body = reseller("POST", "", X_Account_Meta_Quota_Bytes="lots")
    assert status == 400 and b"X-Account-Meta-Quota-Bytes" in body
    assert "X-Account-Meta-Quota-Bytes" not in tester("HEAD", "")[1]
    containers(tester, "qa")
    used = settled_bytes(tester)
    assert reseller("POST", "", X_Account_Meta_Quota_Bytes=str(used + 10))[0] == 204
    assert tester("HEAD", "")[1]["X-Account-Meta-Quota-Bytes"] == str(used + 10)
    assert tester("PUT", "qa/fits", b"x" * 10)[0] == 201
    wait_for(lambda: tester("HEAD", "")[1]["X-Account-Bytes-Used"] == str(used + 10))
    status, _, body = tester("PUT", "qa/more", b"x")
    assert status == 413 and b"account's quota" in body
    assert tester("HEAD", "qa/more")[0] == 404
    # the owner may still delete, and post other metadata
    assert tester("POST", "", X_Account_Meta_Color="blue")[0] == 204
    assert tester("DELETE", "qa/fits")[0] == 204
    wait_for(lambda: tester("HEAD", "")[1]["X-Account-Bytes-Used"] == str(used))
    assert tester("PUT", "qa/more", b"x" * 10)[0] == 201
    assert reseller("POST", "", X_Remove_Account_Meta_Quota_Bytes="x")[0] == 204
    assert tester("PUT", "qa/big", b"x" * 1000)[0] == 201


def test_quotas_through_the_swift_cli(cluster: Cluster, tmp_path: Path) -> None:
    tester = Client(cluster)
    ok(cluster.swift("post", "cliq", "-H", "X-Container-Meta-Quota-Bytes: 10"))
    assert "Quota-Bytes: 10" in ok(cluster.swift("stat", "cliq"))
    (tmp_path / "small").write_bytes(b"12345")
    (tmp_path / "large").write_bytes(b"x" * 64)
    ok(cluster.swift("upload", "cliq", str(tmp_path / "small"), "--object-name", "small"))
    over = cluster.swift("upload", "cliq", str(tmp_path / "large"), "--object-name", "large")
    assert over.returncode != 0 and "413" in over.stdout + over.stderr
    assert tester("HEAD", "cliq/large")[0] == 404
    bad = cluster.swift("post", "cliq", "-H", "X-Container-Meta-Quota-Count: many")
    assert bad.returncode != 0 and "400" in bad.stdout + bad.stderr
    # the account's quota: a reseller admin sets it on the tester's account
    url = f"http://127.0.0.1:{cluster.ports['proxy']}/v1/{tester.account}"
    refused = cluster.swift("post", "-H", "X-Account-Meta-Quota-Bytes: 1")
    assert refused.returncode != 0 and "403" in refused.stdout + refused.stderr
    ok(cluster.swift("--os-storage-url", url, "post", "-H", "X-Account-Meta-Quota-Bytes: 1",
                     user="admin:admin"))
    over = cluster.swift("upload", "cliq", str(tmp_path / "small"), "--object-name", "again")
    assert over.returncode != 0 and "413" in over.stdout + over.stderr
    ok(cluster.swift("--os-storage-url", url, "post", "-H",
                     "X-Remove-Account-Meta-Quota-Bytes: x", user="admin:admin"))


def test_uploads_where_no_quota_is_set_ask_the_storage_nodes_nothing_more(
        cluster: Cluster) -> None:
    tester = Client(cluster)
    containers(tester, "free")
    assert tester("PUT", "free/first", b"1")[0] == 201  # the proxy caches the facts now
    logs = sorted((cluster.root / "log").glob("*"))
    heads_before = sum(log.read_text(errors="replace").count('"HEAD ') for log in logs)
    for number in range(10):
        assert tester("PUT", f"free/o{number}", b"x")[0] == 201
    heads_after = sum(log.read_text(errors="replace").count('"HEAD ') for log in logs)
    assert heads_after == heads_before  # no account or container HEAD per upload
