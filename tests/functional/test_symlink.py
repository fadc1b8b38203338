"""Symlinks on a real cluster: links followed, static links, ?symlink=get,
POST and copies, listings, ACLs across containers and accounts, the swift CLI."""
from __future__ import annotations

import hashlib
import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from .cluster import Cluster, ok, raw, token

EMPTY_ETAG = hashlib.md5(b"").hexdigest()


class ApiCluster(Cluster):
    """The test cluster with the quota, large object and symlink filters in
    Swift's order: copy container_quotas account_quotas slo dlo symlink."""

    def _proxy_conf(self) -> Path:
        conf = super()._proxy_conf()
        text = conf.read_text()
        for name, after in (("container_quotas", "copy"), ("account_quotas", "container_quotas"),
                            ("slo", "account_quotas"), ("dlo", "slo"), ("symlink", "dlo")):
            if f" {name} " not in text:
                text = text.replace(f" {after} ", f" {after} {name} ", 1) + f"[filter:{name}]\n"
        conf.write_text(text)
        return conf


def api_cluster(root: Path) -> Iterator[ApiCluster]:
    running = ApiCluster(root)
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiCluster]:
    yield from api_cluster(tmp_path_factory.mktemp("symlink"))


class Client:
    """Raw requests as one user; paths relative to an account (the user's own
    unless given), ``query`` appended as is."""

    def __init__(self, cluster: Cluster, user: str = "test:tester", key: str = "testing",
                 account: str | None = None) -> None:
        self.cluster = cluster
        auth, url = token(cluster, user, key)
        self.headers = {"X-Auth-Token": auth}
        self.account = account or url.rsplit("/", 1)[1]

    def __call__(self, method: str, path: str, body: bytes = b"", query: str = "",
                 **headers: str) -> tuple[int, dict[str, str], bytes]:
        quoted = urllib.parse.quote(f"/v1/{self.account}" + (f"/{path}" if path else ""))
        return raw(self.cluster, method, quoted + (f"?{query}" if query else ""), body,
                   {**self.headers, **{k.replace("_", "-"): v for k, v in headers.items()}})


@pytest.fixture(scope="module")
def tester(cluster: Cluster) -> Client:
    return Client(cluster)


def containers(client: Client, *names: str, **headers: str) -> None:
    for name in names:
        assert client("PUT", name, **headers)[0] in (201, 202)


def test_a_link_is_followed_and_can_be_read_itself(tester: Client) -> None:
    containers(tester, "l1", "t1")
    assert tester("PUT", "t1/caf\u00e9", b"0123456789", Content_Type="text/x-target",
                  X_Object_Meta_Color="red")[0] == 201
    target_etag = hashlib.md5(b"0123456789").hexdigest()
    status, headers, _ = tester("PUT", "l1/link", X_Symlink_Target=urllib.parse.quote(
        "t1/caf\u00e9"))
    assert status == 201 and headers["ETag"] == EMPTY_ETAG
    status, headers, body = tester("GET", "l1/link")
    assert (status, body) == (200, b"0123456789")
    assert headers["Content-Location"] == f"/v1/{tester.account}/t1/caf%C3%A9"
    assert headers["Content-Type"] == "text/x-target" and headers["X-Object-Meta-Color"] == "red"
    status, headers, _ = tester("HEAD", "l1/link")
    assert (status, headers["Content-Length"], headers["ETag"]) == (200, "10", target_etag)
    # ranges and conditionals are the target's, not the (empty) link's
    assert tester("GET", "l1/link", Range="bytes=3-5")[::2] == (206, b"345")
    assert tester("GET", "l1/link", If_Match=target_etag)[::2] == (200, b"0123456789")
    assert tester("GET", "l1/link", If_None_Match=target_etag)[0] == 304
    assert tester("GET", "l1/link", If_Match=EMPTY_ETAG)[0] == 412
    # ?symlink=get: the link itself
    status, headers, body = tester("GET", "l1/link", query="symlink=get")
    assert (status, body, headers["Content-Type"]) == (200, b"", "application/symlink")
    assert headers["X-Symlink-Target"] == "t1/caf%C3%A9"
    assert headers["X-Symlink-Target-Account"] == tester.account
    assert not any(k.lower().startswith("x-object-sysmeta") for k in headers)
    # deleting the link leaves the target
    assert tester("DELETE", "l1/link")[0] == 204
    assert tester("GET", "l1/link")[0] == 404 and tester("HEAD", "t1/caf\u00e9")[0] == 200


def test_bad_links_are_refused_with_a_reason(tester: Client) -> None:
    containers(tester, "bad")
    status, _, body = tester("PUT", "bad/l", b"data", X_Symlink_Target="bad/t")
    assert status == 400 and b"zero-byte" in body
    for target, status in (("/bad/t", 412), ("no-slash", 412), ("bad/", 412), ("bad/%FF", 412),
                           ("bad/l", 400)):
        got, _, body = tester("PUT", "bad/l", X_Symlink_Target=target)
        assert got == status and body.strip(), (target, got, body)
    assert tester("PUT", "bad/l", X_Symlink_Target="bad/t", X_Symlink_Target_Etag='a"b')[0] \
        == 400
    assert tester("PUT", "bad/l", X_Symlink_Target="bad/t", X_Symlink_Target_Bytes="3")[0] == 400
    assert tester("HEAD", "bad/l")[0] == 404  # nothing was stored by any of them
    tester("PUT", "bad/t", b"x")
    status, _, body = tester("POST", "bad/t", X_Symlink_Target="bad/u")
    assert status == 400 and b"PUT the link again" in body


def test_chains_loops_and_dangling_links(tester: Client) -> None:
    containers(tester, "ch")
    tester("PUT", "ch/end", b"the end")
    for name, target in (("one", "end"), ("two", "one"), ("three", "two"), ("a", "b"),
                         ("b", "a"), ("dangling", "nowhere")):
        assert tester("PUT", f"ch/{name}", X_Symlink_Target=f"ch/{target}")[0] == 201
    status, headers, body = tester("GET", "ch/two")
    assert (status, body) == (200, b"the end")
    assert headers["Content-Location"] == f"/v1/{tester.account}/ch/end"
    status, _, body = tester("GET", "ch/three")  # symloop_max = 2
    assert status == 409 and b"too many levels" in body
    assert tester("GET", "ch/a")[0] == 409
    status, headers, _ = tester("GET", "ch/dangling")
    assert status == 404 and headers["Content-Location"] == f"/v1/{tester.account}/ch/nowhere"


def test_static_links_pin_their_target(tester: Client) -> None:
    containers(tester, "st")
    etag = hashlib.md5(b"pinned").hexdigest()
    status, _, body = tester("PUT", "st/l", X_Symlink_Target="st/t", X_Symlink_Target_Etag=etag)
    assert status == 409 and b"does not exist" in body
    tester("PUT", "st/t", b"pinned", Content_Type="image/png")
    status, _, body = tester("PUT", "st/l", X_Symlink_Target="st/t",
                             X_Symlink_Target_Etag="0" * 32)
    assert status == 409 and b"does not match" in body
    assert tester("PUT", "st/l", X_Symlink_Target="st/t", X_Symlink_Target_Etag=etag,
                  X_Symlink_Target_Bytes="99")[0] == 409
    assert tester("PUT", "st/l", X_Symlink_Target="st/t", X_Symlink_Target_Etag=etag,
                  X_Symlink_Target_Bytes="6")[0] == 201
    assert tester("GET", "st/l")[2] == b"pinned"
    headers = tester("HEAD", "st/l", query="symlink=get")[1]
    assert headers["Content-Type"] == "image/png"
    assert (headers["X-Symlink-Target-Etag"], headers["X-Symlink-Target-Bytes"]) == (etag, "6")
    rows = json.loads(tester("GET", "st", query="format=json")[2])
    row = next(r for r in rows if r["name"] == "l")
    assert (row["symlink_etag"], row["symlink_bytes"]) == (etag, 6)
    tester("PUT", "st/t", b"replaced")
    status, _, body = tester("GET", "st/l")
    assert status == 409 and b"no longer matches" in body


def test_post_copy_and_listings(tester: Client) -> None:
    containers(tester, "pc")
    tester("PUT", "pc/t", b"target bytes", X_Object_Meta_Kind="target")
    tester("PUT", "pc/l", X_Symlink_Target="pc/t", X_Object_Meta_Kind="link")
    status, headers, _ = tester("POST", "pc/l", X_Object_Meta_Kind="posted")
    assert status == 307 and headers["Location"].endswith(f"/v1/{tester.account}/pc/t")
    assert tester("HEAD", "pc/l", query="symlink=get")[1]["X-Object-Meta-Kind"] == "posted"
    assert tester("HEAD", "pc/l")[1]["X-Object-Meta-Kind"] == "target"
    # a copy of a link is its target's bytes; with ?symlink=get, the link
    assert tester("COPY", "pc/l", Destination="pc/bytes")[0] == 201
    status, headers, body = tester("GET", "pc/bytes", query="symlink=get")
    assert (status, body) == (200, b"target bytes") and "X-Symlink-Target" not in headers
    assert tester("COPY", "pc/l", query="symlink=get", Destination="pc/link-copy")[0] == 201
    assert tester("PUT", "pc/link-put", query="symlink=get", X_Copy_From="pc/l")[0] == 201
    for name in ("link-copy", "link-put"):
        headers = tester("HEAD", f"pc/{name}", query="symlink=get")[1]
        assert headers["X-Symlink-Target"] == "pc/t" and headers["Content-Length"] == "0"
        assert tester("GET", f"pc/{name}")[2] == b"target bytes"
    rows = {r["name"]: r for r in json.loads(tester("GET", "pc", query="format=json")[2])}
    assert rows["l"]["symlink_path"] == f"/v1/{tester.account}/pc/t"
    assert rows["l"]["hash"] == EMPTY_ETAG and rows["l"]["bytes"] == 0
    assert rows["l"]["content_type"] == "application/symlink"
    assert "symlink_path" not in rows["bytes"] and "symlink_etag" not in rows["l"]
    xml = tester("GET", "pc", query="format=xml")[2]
    assert f"<hash>{EMPTY_ETAG}</hash>".encode() in xml and b"symlink_target" not in xml
    assert tester("GET", "pc")[2].split() == [b"bytes", b"l", b"link-copy", b"link-put", b"t"]


def test_links_to_large_objects(tester: Client) -> None:
    containers(tester, "lo", "lo-segs")
    parts = [b"a" * 10, b"b" * 10, b"c" * 5]
    for number, part in enumerate(parts):
        tester("PUT", f"lo-segs/{number}", part)
    whole = b"".join(parts)
    tester("PUT", "lo/dlo", X_Object_Manifest="lo-segs/")
    manifest = [{"path": f"lo-segs/{n}", "etag": hashlib.md5(p).hexdigest(),
                 "size_bytes": len(p)} for n, p in enumerate(parts)]
    assert tester("PUT", "lo/slo", json.dumps(manifest).encode(),
                  query="multipart-manifest=put")[0] == 201
    for kind in ("dlo", "slo"):
        tester("PUT", f"lo/to-{kind}", X_Symlink_Target=f"lo/{kind}")
        assert tester("GET", f"lo/to-{kind}")[2] == whole
        assert tester("GET", f"lo/to-{kind}", Range="bytes=8-11")[2] == b"aabb"
        assert tester("HEAD", f"lo/to-{kind}")[1]["Content-Length"] == "25"
    # a static link to a manifest pins the manifest itself, as in Swift
    stored = tester("GET", "lo/slo", query="multipart-manifest=get")[1]["ETag"].strip('"')
    assert tester("PUT", "lo/pinned", X_Symlink_Target="lo/slo",
                  X_Symlink_Target_Etag=stored)[0] == 201
    assert tester("GET", "lo/pinned")[2] == whole


def test_links_follow_as_the_client(cluster: Cluster, tester: Client) -> None:
    containers(tester, "open", X_Container_Read="test:tester3")
    containers(tester, "closed")
    tester("PUT", "closed/secret", b"secret")
    tester("PUT", "open/public", b"public")
    tester("PUT", "open/to-public", X_Symlink_Target="open/public")
    tester("PUT", "open/to-secret", X_Symlink_Target="closed/secret")
    reader = Client(cluster, "test:tester3", "testing3", account=tester.account)
    assert reader("GET", "open/to-public")[2] == b"public"
    assert reader("GET", "open/to-secret")[0] == 403
    # into another account: the token must be good there too
    admin = Client(cluster, "admin:admin", "admin")
    containers(admin, "theirs")
    admin("PUT", "theirs/o", b"admin's")
    assert tester("PUT", "open/to-admin", X_Symlink_Target="theirs/o",
                  X_Symlink_Target_Account=admin.account)[0] == 201
    assert tester("GET", "open/to-admin")[0] == 403
    as_admin = Client(cluster, "admin:admin", "admin", account=tester.account)
    assert as_admin("GET", "open/to-admin")[2] == b"admin's"  # a reseller admin reads both


def test_info_and_the_swift_cli(cluster: Cluster, tester: Client, tmp_path: Path) -> None:
    info = json.loads(raw(cluster, "GET", "/info")[2])
    assert info["symlink"] == {"symloop_max": 2, "static_links": True}
    assert info["account_quotas"] == {} and info["container_quotas"] == {}
    containers(tester, "cli")
    (tmp_path / "target.txt").write_bytes(b"via the cli\n")
    (tmp_path / "empty").write_bytes(b"")
    ok(cluster.swift("upload", "cli", str(tmp_path / "target.txt"), "--object-name",
                     "target.txt"))
    ok(cluster.swift("upload", "cli", str(tmp_path / "empty"), "--object-name", "link",
                     "-H", "X-Symlink-Target: cli/target.txt"))
    out = tmp_path / "out"
    ok(cluster.swift("download", "cli", "link", "-o", str(out)))
    assert out.read_bytes() == b"via the cli\n"
    stat = ok(cluster.swift("stat", "cli", "link"))
    assert "Content Length: 12" in stat
