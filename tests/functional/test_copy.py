"""Server-side copies (COPY, PUT with X-Copy-From) on a real cluster."""
from __future__ import annotations

import hashlib
import os
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from .cluster import Cluster, ok, raw, token


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    # One cluster for the module: each test works in containers of its own.
    running = Cluster(tmp_path_factory.mktemp("copy"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


class Client:
    """Raw requests as one user, paths relative to that user's account."""

    def __init__(self, cluster: Cluster, user: str = "test:tester", key: str = "testing") -> None:
        self.cluster = cluster
        auth, url = token(cluster, user, key)
        self.headers = {"X-Auth-Token": auth}
        self.root = "/" + url.split("/", 3)[3]

    def __call__(self, method: str, path: str, body: bytes = b"",
                 **headers: str) -> tuple[int, dict[str, str], bytes]:
        quoted = urllib.parse.quote(f"{self.root}/{path}")
        return raw(self.cluster, method, quoted, body,
                   {**self.headers, **{k.replace("_", "-"): v for k, v in headers.items()}})


@pytest.fixture(scope="module")
def tester(cluster: Cluster) -> Client:
    return Client(cluster)


def containers(client: Client, *names: str) -> None:
    for name in names:
        assert client("PUT", name)[0] in (201, 202)


def test_copy_across_containers_keeps_body_and_metadata(tester: Client) -> None:
    containers(tester, "a1", "a2")
    assert tester("PUT", "a1/caf\u00e9", b"hello", X_Object_Meta_Color="blue",
                  Content_Type="text/x-hello", Content_Disposition="inline")[0] == 201
    status, headers, _ = tester("COPY", "a1/caf\u00e9",
                                Destination=urllib.parse.quote("/a2/na\u00efve copy"))
    assert status == 201
    assert headers["X-Copied-From"] == urllib.parse.quote("a1/caf\u00e9")
    assert headers["X-Copied-From-Account"] == "AUTH_test"
    source = tester("HEAD", "a1/caf\u00e9")[1]
    assert headers["X-Copied-From-Last-Modified"] == source["Last-Modified"]
    assert headers["ETag"] == hashlib.md5(b"hello").hexdigest()
    status, copied, body = tester("GET", "a2/na\u00efve copy")
    assert (status, body) == (200, b"hello")
    assert copied["X-Object-Meta-Color"] == "blue" and copied["Content-Type"] == "text/x-hello"
    assert copied["Content-Disposition"] == "inline"


def test_put_with_x_copy_from(tester: Client) -> None:
    containers(tester, "b1", "b2")
    tester("PUT", "b1/o", b"payload", X_Object_Meta_Keep="yes")
    status, headers, _ = tester("PUT", "b2/o", X_Copy_From="b1/o")
    assert status == 201 and headers["X-Copied-From"] == "b1/o"
    copied = tester("GET", "b2/o")
    assert copied[2] == b"payload" and copied[1]["X-Object-Meta-Keep"] == "yes"


def test_metadata_override_and_fresh_metadata(tester: Client) -> None:
    containers(tester, "m")
    tester("PUT", "m/o", b"x", X_Object_Meta_Color="blue", X_Object_Meta_Size="L")
    assert tester("COPY", "m/o", Destination="m/merged", X_Object_Meta_Color="red",
                  X_Object_Meta_Shape="round")[0] == 201
    merged = tester("HEAD", "m/merged")[1]
    assert (merged["X-Object-Meta-Color"], merged["X-Object-Meta-Size"],
            merged["X-Object-Meta-Shape"]) == ("red", "L", "round")
    assert tester("PUT", "m/fresh", X_Copy_From="m/o", X_Fresh_Metadata="true",
                  X_Object_Meta_Only="me")[0] == 201
    fresh = tester("HEAD", "m/fresh")[1]
    assert fresh["X-Object-Meta-Only"] == "me"
    assert not any(k.startswith("X-Object-Meta-") and k != "X-Object-Meta-Only" for k in fresh)


def test_copy_onto_itself_changes_the_content_type(tester: Client) -> None:
    containers(tester, "self")
    tester("PUT", "self/pic", b"\x89PNG...", Content_Type="application/octet-stream",
           X_Object_Meta_Taken="2024")
    assert tester("COPY", "self/pic", Destination="self/pic", Content_Type="image/png")[0] == 201
    status, headers, body = tester("GET", "self/pic")
    assert (status, body, headers["Content-Type"]) == (200, b"\x89PNG...", "image/png")
    assert headers["X-Object-Meta-Taken"] == "2024"


def test_a_missing_source_is_404(tester: Client) -> None:
    containers(tester, "gone")
    status, _, body = tester("COPY", "gone/nothing", Destination="gone/copy")
    assert status == 404 and b"copy source" in body
    assert tester("PUT", "nosuchcontainer-x/o", X_Copy_From="gone/nothing")[0] == 404
    assert tester("HEAD", "gone/copy")[0] == 404


def test_both_sides_are_authorized_as_the_client(cluster: Cluster, tester: Client) -> None:
    containers(tester, "private", "dropbox")
    tester("PUT", "private/secret", b"not for tester3")
    ok(cluster.swift("post", "-w", "test:tester3", "dropbox"))
    tester3 = Client(cluster, "test:tester3", "testing3")
    status, _, body = tester3("PUT", "dropbox/stolen", X_Copy_From="private/secret")
    assert status == 403 and b"copy source" in body          # may write, may not read
    ok(cluster.swift("post", "-r", "test:tester3", "private"))
    status, _, body = tester3("COPY", "private/secret", Destination="private/dup")
    assert status == 403 and b"copy destination" in body     # may read, may not write
    assert tester3("PUT", "dropbox/shared", X_Copy_From="private/secret")[0] == 201
    assert tester("GET", "dropbox/shared")[2] == b"not for tester3"


def test_cross_account_copies(cluster: Cluster, tester: Client) -> None:
    containers(tester, "xa")
    tester("PUT", "xa/o", b"from test")
    status, _, _ = tester("COPY", "xa/o", Destination="xa/o", Destination_Account="AUTH_admin")
    assert status == 403  # tester is no one in AUTH_admin
    admin = Client(cluster, "admin:admin", "admin")
    containers(admin, "xb")
    status, headers, _ = admin("PUT", "xb/o", X_Copy_From="xa/o", X_Copy_From_Account="AUTH_test")
    assert status == 201 and headers["X-Copied-From-Account"] == "AUTH_test"
    assert admin("GET", "xb/o")[2] == b"from test"


@pytest.mark.parametrize(("method", "path", "headers", "status"), [
    ("COPY", "bad/o", {"Destination": "justacontainer"}, 412),
    ("COPY", "bad/o", {}, 412),
    ("COPY", "bad/o", {"Destination": "/bad/"}, 412),
    ("PUT", "bad/o2", {"X-Copy-From": "bad"}, 412),
    ("PUT", "bad/o2", {"X-Copy-From": "%FF/o"}, 412),
    ("COPY", "bad/o", {"Destination": "bad/" + "x" * 1025}, 400),
    ("COPY", "bad", {"Destination": "bad/o3"}, 405),
    ("COPY", "bad/o", {"Destination": "bad/o3", "Range": "bytes=0-1"}, 201),
])
def test_bad_copies_are_4xx_with_a_reason(tester: Client, method: str, path: str,
                                          headers: dict[str, str], status: int) -> None:
    containers(tester, "bad")
    tester("PUT", "bad/o", b"0123456789")
    got, _, body = tester(method, path, **{k.replace("-", "_"): v for k, v in headers.items()})
    assert got == status and (body.strip() or status == 201) and b"Traceback" not in body
    if status == 201:  # a Range is not for a copy: the whole object is copied
        assert tester("GET", "bad/o3")[2] == b"0123456789"


def test_a_copy_with_a_body_is_400(tester: Client) -> None:
    containers(tester, "withbody")
    tester("PUT", "withbody/o", b"source")
    status, _, body = tester("PUT", "withbody/o2", b"my own body", X_Copy_From="withbody/o")
    assert status == 400 and b"body" in body
    assert tester("HEAD", "withbody/o2")[0] == 404


def test_the_swift_cli_copy_verb(cluster: Cluster, tester: Client) -> None:
    containers(tester, "c1", "c2")
    tester("PUT", "c1/o1", b"cli", X_Object_Meta_Old="1")
    ok(cluster.swift("copy", "--destination", "/c2/o2", "c1", "o1"))
    assert tester("GET", "c2/o2")[2] == b"cli"
    ok(cluster.swift("copy", "-M", "-m", "New:2", "--destination", "/c2/o3", "c1", "o1"))
    fresh = tester("HEAD", "c2/o3")[1]
    assert fresh["X-Object-Meta-New"] == "2" and "X-Object-Meta-Old" not in fresh
    ok(cluster.swift("copy", "-m", "Extra:3", "c1", "o1"))  # no destination: onto itself
    itself = tester("HEAD", "c1/o1")[1]
    assert (itself["X-Object-Meta-Old"], itself["X-Object-Meta-Extra"]) == ("1", "3")
    assert "Meta Extra: 3" in ok(cluster.swift("stat", "c1", "o1"))


def test_a_multi_megabyte_copy_is_byte_identical(tester: Client) -> None:
    containers(tester, "big")
    data = os.urandom(12 * 2**20 + 12345)
    tester("PUT", "big/src", data)
    status, headers, _ = tester("COPY", "big/src", Destination="big/dst")
    assert status == 201 and headers["ETag"] == hashlib.md5(data).hexdigest()
    copied = tester("GET", "big/dst")[2]
    assert hashlib.md5(copied).digest() == hashlib.md5(data).digest() and len(copied) == len(data)


def test_subrequests_carry_the_transaction_id(cluster: Cluster, tester: Client) -> None:
    containers(tester, "txn")
    tester("PUT", "txn/o", b"logged")
    status, headers, _ = tester("COPY", "txn/o", Destination="txn/o2")
    assert status == 201
    trans_id = headers["X-Trans-Id"]
    lines = [line for name in ("object1", "object2", "object3")
             for line in Path(cluster.root / "log" / f"{name}.log").read_text().splitlines()
             if trans_id in line]
    assert any("/txn/o\"" in line and ("GET" in line or "HEAD" in line) for line in lines)
    assert any("PUT" in line and "/txn/o2\"" in line for line in lines)
