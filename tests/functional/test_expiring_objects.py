"""Expiring objects through the proxy: X-Delete-At and X-Delete-After on PUT
and POST (and their refusals), X-Delete-At shown, and expired objects
hidden at once. Removing them from disk and listings is the expirer's."""
from __future__ import annotations

import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from .cluster import Cluster, ok, raw, token


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = Cluster(tmp_path_factory.mktemp("expiring"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def client(cluster: Cluster) -> Client:
    client = Client(cluster)
    assert client("PUT", "exp")[0] in (201, 202)
    return client


class Client:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        auth, url = token(cluster)
        self.headers = {"X-Auth-Token": auth}
        self.root = "/" + url.split("/", 3)[3]

    def __call__(self, method: str, path: str, body: bytes = b"", query: str = "",
                 **headers: str) -> tuple[int, dict[str, str], bytes]:
        quoted = urllib.parse.quote(f"{self.root}/{path}") + (f"?{query}" if query else "")
        return raw(self.cluster, method, quoted, body,
                   {**self.headers, **{k.replace("_", "-"): v for k, v in headers.items()}})


BAD = [("X_Delete_At", "1000000000", b"in the past"), ("X_Delete_At", "soon", b"integer"),
       ("X_Delete_At", "1.5e9", b"integer"), ("X_Delete_After", "-5", b"in the past"),
       ("X_Delete_After", "0", b"in the past"), ("X_Delete_After", "ten", b"integer")]


def test_bad_expiry_times_are_refused_on_put_and_post(client: Client) -> None:
    for header, value, words in BAD:
        status, _, body = client("PUT", "exp/refused", b"x", **{header: value})
        assert status == 400 and words in body, (header, value, body)
    assert client("HEAD", "exp/refused")[0] == 404
    client("PUT", "exp/kept", b"x", X_Object_Meta_Color="red")
    for header, value, words in BAD:
        status, _, body = client("POST", "exp/kept", X_Object_Meta_Color="blue",
                                 **{header: value})
        assert status == 400 and words in body, (header, value, body)
    headers = client("HEAD", "exp/kept")[1]
    assert headers["X-Object-Meta-Color"] == "red" and "X-Delete-At" not in headers


def test_expiry_is_set_shown_changed_and_cleared(client: Client) -> None:
    at = int(time.time()) + 3600
    assert client("PUT", "exp/at", b"x", X_Delete_At=str(at))[0] == 201
    assert client("HEAD", "exp/at")[1]["X-Delete-At"] == str(at)
    before = int(time.time())
    assert client("PUT", "exp/after", b"x", X_Delete_After="600")[0] == 201
    headers = client("HEAD", "exp/after")[1]
    assert before + 600 <= int(headers["X-Delete-At"]) <= int(time.time()) + 600
    assert "X-Delete-After" not in headers
    assert client("POST", "exp/at", X_Delete_After="7200")[0] == 202
    assert int(client("GET", "exp/at")[1]["X-Delete-At"]) >= before + 7200
    # a copy keeps the source's expiry; a POST without one clears it, as in Swift
    assert client("COPY", "exp/at", Destination="exp/at-copy")[0] == 201
    assert client("HEAD", "exp/at-copy")[1]["X-Delete-At"] \
        == client("HEAD", "exp/at")[1]["X-Delete-At"]
    assert client("POST", "exp/at", X_Object_Meta_Only="meta")[0] == 202
    assert "X-Delete-At" not in client("HEAD", "exp/at")[1]


def test_expired_objects_are_hidden_at_once(client: Client) -> None:
    # X-Delete-After rounds down to a whole second: 3 leaves the GET below
    # at least 2 s, even on a busy machine
    assert client("PUT", "exp/short", b"brief", X_Delete_After="3")[0] == 201
    client("PUT", "exp/posted", b"also brief")
    assert client("POST", "exp/posted", X_Delete_At=str(int(time.time()) + 3))[0] == 202
    assert client("GET", "exp/short")[2] == b"brief"
    deadline = time.monotonic() + 15
    while client("HEAD", "exp/short")[0] != 404 or client("HEAD", "exp/posted")[0] != 404:
        assert time.monotonic() < deadline, "the objects never expired"
        time.sleep(0.2)
    for name in ("short", "posted"):
        assert client("GET", f"exp/{name}")[0] == 404
        assert client("COPY", f"exp/{name}", Destination=f"exp/{name}-copy")[0] == 404
    # the listing keeps them until the object expirer (a daemon) removes them
    assert b"short" in client("GET", "exp")[2]
    # the name is free for a new object
    assert client("PUT", "exp/short", b"again")[0] == 201
    assert client("GET", "exp/short")[2] == b"again"


def test_a_post_cannot_bring_an_expired_object_back(client: Client) -> None:
    assert client("PUT", "exp/gone", b"gone", X_Delete_After="1")[0] == 201
    deadline = time.monotonic() + 10
    while client("HEAD", "exp/gone")[0] != 404:
        assert time.monotonic() < deadline, "the object never expired"
        time.sleep(0.2)
    status = client("POST", "exp/gone", X_Object_Meta_A="1")[0]
    assert (status, client("GET", "exp/gone")[0]) == (404, 404)


def test_expiry_through_the_swift_cli(cluster: Cluster, client: Client, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"cli")
    ok(cluster.swift("upload", "exp", str(tmp_path / "f"), "--object-name", "cli",
                     "-H", "X-Delete-After: 3600"))
    delete_at = client("HEAD", "exp/cli")[1]["X-Delete-At"]
    assert delete_at in ok(cluster.swift("stat", "exp", "cli"))
    refused = cluster.swift("post", "exp", "cli", "-H", "X-Delete-At: yesterday")
    assert refused.returncode != 0 and "400" in refused.stdout + refused.stderr
