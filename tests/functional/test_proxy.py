"""The proxy with a real cluster behind it, driven by the real swift CLI."""
from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from .cluster import Cluster, ok, raw, token
from .exchange import put_broken_off


def test_the_swift_cli_works_unchanged(cluster: Cluster, tmp_path: Path) -> None:
    data = os.urandom(3_000_000)
    (tmp_path / "big.bin").write_bytes(data)
    assert "Account: AUTH_test" in ok(cluster.swift("stat"))
    ok(cluster.swift("upload", "photos", "big.bin"))
    ok(cluster.swift("post", "-m", "color:blue", "photos", "big.bin"))
    assert ok(cluster.swift("list", "photos")).split() == ["big.bin"]
    assert ok(cluster.swift("list")).split() == ["photos"]
    ok(cluster.swift("download", "photos", "big.bin", "-o", "back.bin"))
    assert hashlib.md5((tmp_path / "back.bin").read_bytes()).digest() == \
        hashlib.md5(data).digest()
    stat = ok(cluster.swift("stat", "photos", "big.bin"))
    assert "Meta Color: blue" in stat and "Content Length: 3000000" in stat
    ok(cluster.swift("delete", "photos", "big.bin"))
    assert ok(cluster.swift("list", "photos")).split() == []


def test_auth_and_acls(cluster: Cluster) -> None:
    ok(cluster.swift("post", "shared"))
    ok(cluster.swift("upload", "shared", "log/proxy.log", "--object-name", "notes"))
    assert cluster.swift("list", "shared", user="test:tester3").returncode != 0
    ok(cluster.swift("post", "-r", "test:tester3", "shared"))
    ok(cluster.swift("download", "shared", "notes", "-o", "-", user="test:tester3"))
    denied = cluster.swift("upload", "shared", "log/proxy.log", user="test:tester3")
    assert denied.returncode != 0 and "403" in denied.stderr
    _, url = token(cluster)
    path = url.split(":", 2)[2].split("/", 1)[1]
    assert raw(cluster, "GET", f"/{path}/shared/notes")[0] == 401  # no token
    ok(cluster.swift("post", "-r", ".r:*", "shared"))
    assert raw(cluster, "GET", f"/{path}/shared/notes")[0] == 200  # public now
    assert raw(cluster, "GET", f"/{path}/shared")[0] == 401  # no listing without .rlistings
    owner = {"X-Auth-Token": token(cluster)[0]}
    status, headers, _ = raw(cluster, "HEAD", f"/{path}/", headers=owner)
    assert status == 204 and headers["X-Account-Container-Count"] == "1"  # /v1/a/: the account
    assert raw(cluster, "GET", f"/{path}//notes", headers=owner)[0] == 400  # no container name


def test_storage_policies(cluster: Cluster) -> None:
    auth, url = token(cluster)
    path = "/" + url.split("/", 3)[3]
    headers = {"X-Auth-Token": auth}
    assert raw(cluster, "PUT", f"{path}/cold", headers={**headers,
                                                        "X-Storage-Policy": "silver"})[0] == 201
    assert raw(cluster, "HEAD", f"{path}/cold", headers=headers)[1]["X-Storage-Policy"] == "silver"
    assert raw(cluster, "PUT", f"{path}/cold", headers={**headers,
                                                        "X-Storage-Policy": "gold"})[0] == 409
    status, _, body = raw(cluster, "PUT", f"{path}/other", headers={
        **headers, "X-Storage-Policy": "platinum"})
    assert status == 400 and b"platinum" in body
    info = json.loads(raw(cluster, "GET", "/info")[2])
    assert [p["name"] for p in info["swift"]["policies"]] == ["gold", "silver"]


def test_writes_need_a_quorum_and_reads_fail_over(cluster: Cluster) -> None:
    auth, url = token(cluster)
    path = "/" + url.split("/", 3)[3]
    headers = {"X-Auth-Token": auth}
    assert raw(cluster, "PUT", f"{path}/c", headers=headers)[0] == 201
    cluster.stop_server("object1")
    assert raw(cluster, "PUT", f"{path}/c/o", b"two of three", headers)[0] == 201
    assert raw(cluster, "GET", f"{path}/c/o", headers=headers)[2] == b"two of three"
    cluster.stop_server("object2")
    status, _, body = raw(cluster, "PUT", f"{path}/c/p", b"one of three", headers)
    assert status == 503 and body.strip()
    assert raw(cluster, "GET", f"{path}/c/p", headers=headers)[0] == 404


def container_replica_listings(cluster: Cluster, account: str, container: str
                               ) -> list[list[str]]:
    """The object names each container replica lists, asked directly."""
    from ring.hashing import PathHasher
    from ring.ring import Ring

    from .cluster import HASH_SUFFIX
    from .exchange import exchange

    ring = Ring(str(cluster.root / "rings" / "container.ring.gz"),
                hasher=PathHasher("", HASH_SUFFIX))
    part, nodes = ring.get_nodes(account, container)
    listings = []
    for node in nodes:
        status, _, body = exchange(node.port, "GET",
                                   f"/{node.device}/{part}/{account}/{container}?format=json")
        assert status == 200
        listings.append(sorted(item["name"] for item in json.loads(body)))
    return listings


def test_every_container_replica_hears_of_writes_while_an_object_server_is_down(
        cluster: Cluster) -> None:
    """Three object servers and no handoff: a write lands on two, and the
    container replica paired with the third must still hear of it, as
    must the expirer's queue replica paired with it."""
    auth, url = token(cluster)
    path = "/" + url.split("/", 3)[3]
    account = path.rsplit("/", 1)[1]
    headers = {"X-Auth-Token": auth}
    assert raw(cluster, "PUT", f"{path}/c", headers=headers)[0] == 201
    cluster.stop_server("object2")
    names = [f"small-{n}" for n in range(12)] + ["big"]
    delete_at = int(time.time()) + 3 * 86400
    for name in names:
        body = os.urandom(2_000_000) if name == "big" else b"small"
        expiring = {"X-Delete-At": str(delete_at)} if name in ("small-0", "big") else {}
        assert raw(cluster, "PUT", f"{path}/c/{name}", body, {**headers, **expiring})[0] == 201
    assert container_replica_listings(cluster, account, "c") == [sorted(names)] * 3
    queue = str(delete_at // 86400 * 86400)
    assert container_replica_listings(cluster, ".expiring_objects", queue) == \
        [[f"{delete_at}-{account}/c/big", f"{delete_at}-{account}/c/small-0"]] * 3
    for name in names[:6]:
        assert raw(cluster, "DELETE", f"{path}/c/{name}", headers=headers)[0] == 204
    assert container_replica_listings(cluster, account, "c") == [sorted(names[6:])] * 3


def test_a_container_replica_hears_of_a_write_its_object_server_dropped_mid_body(
        cluster: Cluster) -> None:
    """An object server killed while a PUT's body streams leaves its slot
    without a server (and this cluster has no handoff): the PUT succeeds
    on the other two, and the container replica paired with the dead
    slot lists the object at once all the same, as the expirer's queue
    replica paired with it has its row."""
    auth, url = token(cluster)
    path = "/" + url.split("/", 3)[3]
    account = path.rsplit("/", 1)[1]
    assert raw(cluster, "PUT", f"{path}/c", headers={"X-Auth-Token": auth})[0] == 201
    body = os.urandom(3_000_000)  # streamed, with the proxy's MD5 footer
    delete_at = int(time.time()) + 3 * 86400
    answer, _ = put_broken_off(cluster.ports["proxy"], f"{path}/c/mid",
                               {"X-Auth-Token": auth, "X-Delete-At": str(delete_at)}, body,
                               lambda: cluster.stop_server("object2"))
    assert answer.startswith(b"HTTP/1.1 201"), answer
    assert container_replica_listings(cluster, account, "c") == [["mid"]] * 3
    queue = str(delete_at // 86400 * 86400)
    assert container_replica_listings(cluster, ".expiring_objects", queue) == \
        [[f"{delete_at}-{account}/c/mid"]] * 3
    assert raw(cluster, "GET", f"{path}/c/mid", headers={"X-Auth-Token": auth})[2] == body


@pytest.mark.parametrize(("method", "suffix", "extra", "status"), [
    ("PUT", "/c/" + "o" * 1025, {}, 400),
    ("PUT", "/" + "c" * 257, {}, 400),
    ("PUT", "/c/o", {"X-Object-Meta-" + "k" * 129: "v"}, 400),
    ("PUT", "/c/o", {"X-Delete-At": "yesterday"}, 400),
    ("PUT", "/c", {"X-Container-Read": ".bogus"}, 400),
    ("GET", "/c/o", {"Range": "bytes=50-60"}, 416),
    ("PATCH", "/c/o", {}, 405),
    ("PUT", "/c%FF", {}, 412),          # not UTF-8: 412, as in Swift (was a 500)
    ("PUT", "/c/o%FF", {}, 412),
    ("GET", "/c/o%C3", {}, 412),
    ("DELETE", "/c%FF", {}, 412),
    ("PUT", "/c/o", {"Content-Type": "a/b;swift_bytes=5"}, 400),  # the cluster's own
    ("POST", "/c/o", {"Content-Type": "a/b; Swift_X=1"}, 400),
    ("COPY", "/c/o", {"Destination": "c/o2", "Content-Type": "a/b;swift_bytes=1"}, 400),
])
def test_bad_input_is_a_4xx_with_a_reason(cluster: Cluster, method: str, suffix: str,
                                          extra: dict[str, str], status: int) -> None:
    auth, url = token(cluster)
    path = "/" + url.split("/", 3)[3]
    headers = {"X-Auth-Token": auth}
    raw(cluster, "PUT", f"{path}/c", headers=headers)
    raw(cluster, "PUT", f"{path}/c/o", b"0123456789", headers)
    got, _, body = raw(cluster, method, path + suffix, b"x" if method == "PUT" else b"",
                       {**headers, **extra})
    assert got == status and body.strip() and b"Traceback" not in body


def test_expect_100_continue_from_clients(cluster: Cluster) -> None:
    import socket

    auth, url = token(cluster)
    path = "/" + url.split("/", 3)[3]
    assert raw(cluster, "PUT", f"{path}/c", headers={"X-Auth-Token": auth})[0] == 201

    def put(headers: str) -> tuple[bytes, socket.socket]:
        sock = socket.create_connection(("127.0.0.1", cluster.ports["proxy"]), timeout=10)
        sock.sendall(f"PUT {path}/c/o HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                     f"Expect: 100-continue\r\n{headers}\r\n".encode())
        return sock.recv(65536), sock

    first, sock = put(f"X-Auth-Token: {auth}\r\n")
    assert first.startswith(b"HTTP/1.1 100 Continue")  # the nodes are ready: send it
    sock.sendall(b"hello")
    answer = first.split(b"\r\n\r\n", 1)[1] or sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 201")
    sock.close()
    refused, sock = put("")  # no token: refused before any body is sent
    assert refused.startswith(b"HTTP/1.1 401")
    sock.close()
    assert raw(cluster, "GET", f"{path}/c/o", headers={"X-Auth-Token": auth})[2] == b"hello"


def test_content_type_from_the_name_when_the_client_sends_none(cluster: Cluster) -> None:
    auth, url = token(cluster)
    path = "/" + url.split("/", 3)[3]
    headers = {"X-Auth-Token": auth}
    assert raw(cluster, "PUT", f"{path}/c", headers=headers)[0] == 201
    for name, sent, stored in (("pic.jpg", None, "image/jpeg"),
                               ("data.unknown-kind", None, "application/octet-stream"),
                               ("notes.jpg", "text/markdown", "text/markdown")):
        put_headers = {**headers, **({"Content-Type": sent} if sent else {})}
        assert raw(cluster, "PUT", f"{path}/c/{name}", b"x", put_headers)[0] == 201
        assert raw(cluster, "HEAD", f"{path}/c/{name}", headers=headers
                   )[1]["Content-Type"] == stored


def test_if_none_match_star_never_overwrites(cluster: Cluster) -> None:
    auth, url = token(cluster)
    path = "/" + url.split("/", 3)[3]
    headers = {"X-Auth-Token": auth}
    once = {**headers, "If-None-Match": "*"}
    assert raw(cluster, "PUT", f"{path}/c", headers=headers)[0] == 201
    assert raw(cluster, "PUT", f"{path}/c/o", b"first", once)[0] == 201
    status, _, body = raw(cluster, "PUT", f"{path}/c/o", b"second", once)
    assert status == 412 and b"exists" in body
    assert raw(cluster, "GET", f"{path}/c/o", headers=headers)[2] == b"first"
    assert raw(cluster, "PUT", f"{path}/c/o", b"x", {**headers, "If-None-Match": '"abc"'}
               )[0] == 400
    assert raw(cluster, "DELETE", f"{path}/c/o", headers=headers)[0] == 204
    assert raw(cluster, "PUT", f"{path}/c/o", b"again", once)[0] == 201


def test_a_big_put_is_hashed_once_and_every_replica_keeps_its_md5(cluster: Cluster) -> None:
    """Bodies of a megabyte and more carry the proxy's MD5 to the object
    servers (put_footer.py): the ETag check and the stored ETags must be
    what they were when each replica hashed the body itself."""
    auth, url = token(cluster)
    path = "/" + url.split("/", 3)[3]
    headers = {"X-Auth-Token": auth}
    assert raw(cluster, "PUT", f"{path}/c", headers=headers)[0] == 201
    # several of the proxy's pieces (each hashed beside its sends), the last
    # one partial, and a partial last crc32 chunk too
    body = os.urandom(9 * 1024 * 1024 + 1)
    md5 = hashlib.md5(body).hexdigest()
    status, got, _ = raw(cluster, "PUT", f"{path}/c/big", body, {**headers, "ETag": md5})
    assert (status, got["ETag"]) == (201, md5)
    wrong = os.urandom(len(body))
    status, _, reason = raw(cluster, "PUT", f"{path}/c/big", wrong, {**headers, "ETag": md5})
    assert status == 422 and hashlib.md5(wrong).hexdigest().encode() in reason
    status, got, stored = raw(cluster, "GET", f"{path}/c/big", headers=headers)
    assert (status, got["ETag"], stored == body) == (200, md5, True)
    name = "/" + path.split("/")[2] + "/c/big"
    found = [(metadata["ETag"], int(metadata["Content-Length"]))
             for metadata in map(stored_metadata, (cluster.root / "srv").glob(
                 "object*/sda/objects/*/*/*/*.data")) if metadata["name"] == name]
    assert found == [(md5, len(body))] * 3


def test_a_big_put_the_client_cuts_short_leaves_nothing(cluster: Cluster) -> None:
    """A client that hangs up in the middle of a big body, while the
    proxy hashes one piece and sends it on: no object anywhere, and the
    proxy goes on serving."""
    auth, url = token(cluster)
    path = "/" + url.split("/", 3)[3]
    headers = {"X-Auth-Token": auth}
    assert raw(cluster, "PUT", f"{path}/cut", headers=headers)[0] == 201
    with socket.create_connection(("127.0.0.1", cluster.ports["proxy"]), timeout=30) as sock:
        sock.sendall(f"PUT {path}/cut/o HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {auth}\r\n"
                     f"Content-Length: {12 * 1024 * 1024}\r\n\r\n".encode())
        sock.sendall(os.urandom(6 * 1024 * 1024 + 5))
    proxy_log, deadline = cluster.root / "log" / "proxy.log", time.monotonic() + 20
    while f"PUT {path}/cut/o " not in proxy_log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)  # until the proxy has given up on the request
    line = next(line for line in proxy_log.read_text().splitlines()
                if f"PUT {path}/cut/o " in line)
    assert " 499 " in line
    assert raw(cluster, "HEAD", f"{path}/cut/o", headers=headers)[0] == 404
    name = f"/{path.split('/')[2]}/cut/o"
    assert all(stored_metadata(data)["name"] != name
               for data in cluster.root.glob("srv/object*/sda/objects/*/*/*/*.data"))
    body = os.urandom(5 * 1024 * 1024)
    assert raw(cluster, "PUT", f"{path}/cut/o", body, headers)[0] == 201
    assert raw(cluster, "GET", f"{path}/cut/o", headers=headers)[2] == body


def test_a_slow_client_s_big_put_reaches_servers_that_will_not_wait_for_a_whole_piece(
        tmp_path: Path) -> None:
    """The proxy forwards a big body in 4 MiB pieces, but a piece goes on
    after about a second of a slow client: object servers that give up
    on 2.5 s of silence (client_timeout) still get the whole body."""
    cluster = Cluster(tmp_path, object_conf="client_timeout = 2.5\n")
    cluster.start()
    try:
        auth, url = token(cluster)
        path = "/" + url.split("/", 3)[3]
        headers = {"X-Auth-Token": auth}
        assert raw(cluster, "PUT", f"{path}/slow", headers=headers)[0] == 201
        body = os.urandom(5 * 1024 * 1024)  # 4 MiB of it take ~3.3 s below
        with socket.create_connection(("127.0.0.1", cluster.ports["proxy"]),
                                      timeout=60) as sock:
            sock.sendall(f"PUT {path}/slow/o HTTP/1.1\r\nHost: x\r\n"
                         f"X-Auth-Token: {auth}\r\nContent-Length: {len(body)}\r\n"
                         f"ETag: {hashlib.md5(body).hexdigest()}\r\n\r\n".encode())
            for start in range(0, len(body), 64 * 1024):  # ~1.25 MB/s
                sock.sendall(body[start:start + 64 * 1024])
                time.sleep(0.05)
            answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 201"), answer[:200]
        assert raw(cluster, "GET", f"{path}/slow/o", headers=headers)[2] == body
    finally:
        cluster.stop()


def stored_metadata(data: Path) -> dict[str, Any]:
    from objstore.common.metadata import read_metadata

    fd = os.open(data, os.O_RDONLY)
    try:
        return read_metadata(fd)
    finally:
        os.close(fd)


def test_deleting_what_is_not_there_says_so(cluster: Cluster) -> None:
    auth, url = token(cluster)
    path = "/" + url.split("/", 3)[3]
    headers = {"X-Auth-Token": auth}
    assert raw(cluster, "PUT", f"{path}/c", headers=headers)[0] == 201
    status, _, body = raw(cluster, "DELETE", f"{path}/c/never", headers=headers)
    assert (status, body) == (404, b"not found\n")


def test_a_listing_follows_the_accept_header_when_no_format_is_asked(cluster: Cluster) -> None:
    auth, url = token(cluster)
    path = "/" + url.split("/", 3)[3]
    headers = {"X-Auth-Token": auth}
    assert raw(cluster, "PUT", f"{path}/c", headers=headers)[0] == 201
    assert raw(cluster, "PUT", f"{path}/c/o", b"x", headers)[0] == 201
    for where in (f"{path}/c", path):
        status, got, body = raw(cluster, "GET", where, headers={**headers,
                                                                "Accept": "application/json"})
        assert status == 200 and got["Content-Type"] == "application/json; charset=utf-8"
        assert json.loads(body)[0]["name"] in ("o", "c") and got["Vary"] == "Accept"
        status, got, body = raw(cluster, "HEAD", where, headers={**headers, "Accept": "text/xml"})
        assert got["Content-Type"] == "text/xml; charset=utf-8" and got["Vary"] == "Accept"
        status, got, body = raw(cluster, "GET", f"{where}?format=plain",
                                headers={**headers, "Accept": "application/json"})
        assert got["Content-Type"].startswith("text/plain") and "Vary" not in got
    status, _, body = raw(cluster, "GET", f"{path}/c", headers={**headers, "Accept": "image/png"})
    assert status == 406 and body.strip()


def test_a_post_replaces_the_metadata_as_swift_does(cluster: Cluster) -> None:
    auth, url = token(cluster)
    path = "/" + url.split("/", 3)[3]
    headers = {"X-Auth-Token": auth}
    assert raw(cluster, "PUT", f"{path}/c", headers=headers)[0] == 201
    assert raw(cluster, "PUT", f"{path}/c/page.html", b"x", {
        **headers, "Content-Type": "text/x-mine", "X-Object-Meta-A": "1"})[0] == 201
    assert raw(cluster, "POST", f"{path}/c/page.html", headers={
        **headers, "X-Remove-Object-Meta-A": "x", "X-Object-Meta-B": "", "X-Object-Meta-C": "3",
        "Content-Type": ""})[0] == 202
    _, got, _ = raw(cluster, "HEAD", f"{path}/c/page.html", headers=headers)
    assert "X-Object-Meta-A" not in got  # removed: left out, not kept empty
    assert (got["X-Object-Meta-B"], got["X-Object-Meta-C"]) == ("", "3")  # empty is kept
    assert got["Content-Type"] == "text/html"  # an empty one is guessed from the name
