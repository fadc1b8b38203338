"""The object expirer on a real cluster: expired objects gone from every
replica's disk and from their listing, the queue emptied, and an object
whose X-Delete-At a POST moved later left alone."""
from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from objstore.common.timestamp import Timestamp
from ring.hashing import PathHasher
from ring.ring import Ring

from .cluster import Cluster, raw, token
from .exchange import exchange
from .test_server_runtime import ROOT, wait_until

QUEUE = ".expiring_objects"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = Cluster(tmp_path_factory.mktemp("expirer"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


def ring(cluster: Cluster, name: str) -> Ring:
    return Ring(str(cluster.root / "rings" / f"{name}.ring.gz"),
                hasher=PathHasher("", "proxy-tests"))


def listing(port: int, device: str, part: int, path: str) -> list[str]:
    status, _, body = exchange(port, "GET", urllib.parse.quote(f"/{device}/{part}/{path}")
                               + "?format=json")
    assert status in (200, 204, 404), (status, body)
    return [entry["name"] for entry in json.loads(body)] if status == 200 else []


def queue(cluster: Cluster) -> dict[str, list[str]]:
    """Every queue container the account lists, with its rows."""
    part, (account_node, *_) = ring(cluster, "account").get_nodes(QUEUE)
    rows = {}
    for container in listing(account_node.port, account_node.device, part, QUEUE):
        cpart, (node, *_) = ring(cluster, "container").get_nodes(QUEUE, container)
        rows[container] = listing(node.port, node.device, cpart, f"{QUEUE}/{container}")
    return rows


def expirer_conf(cluster: Cluster) -> Path:
    conf = cluster.root / "object-expirer.conf"
    conf.write_text(f"""[app:object-server]
bind_port = {cluster.ports['object1']}
devices = {cluster.root / 'srv' / 'object1'}
mount_check = false
cluster_conf = {cluster.cluster_conf}
[object-expirer]
ring_dir = {cluster.root / 'rings'}
recon_cache_path = {cluster.root / 'recon'}
concurrency = 2
""")
    return conf


def test_the_expirer_removes_expired_objects_and_only_them(cluster: Cluster) -> None:
    auth, url = token(cluster)
    base = "/" + url.split("/", 3)[3] + "/exp"
    account = url.rsplit("/", 1)[1]

    def call(method: str, name: str = "", **headers: str) -> tuple[int, dict[str, str], bytes]:
        return raw(cluster, method, base + name, b"x" if method == "PUT" and name else b"",
                   {"X-Auth-Token": auth, **{k.replace("_", "-"): v for k, v in headers.items()}})

    assert call("PUT")[0] in (201, 202)
    # soon enough for a short test, late enough to be in the future when it arrives
    soon = int(time.time()) + 2
    assert call("PUT", "/soon", X_Delete_At=str(soon))[0] == 201
    assert call("PUT", "/posted")[0] == 201
    assert call("POST", "/posted", X_Delete_At=str(soon))[0] == 202
    assert call("PUT", "/moved", X_Delete_At=str(soon))[0] == 201
    later = int(time.time()) + 3600
    assert call("POST", "/moved", X_Delete_At=str(later))[0] == 202
    assert call("PUT", "/kept")[0] == 201
    expiries = {"soon": soon, "posted": soon}
    # every row is in the queue (the account learns of its containers soon after)
    wait_until(lambda: sum(len(rows) for rows in queue(cluster).values()) >= 4)
    time.sleep(max(0.0, soon + 1.1 - time.time()))

    done = subprocess.run(["objstore-object-expirer", str(expirer_conf(cluster)), "--once"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr

    for name, delete_at in expiries.items():
        assert call("HEAD", f"/{name}")[0] == 404
        part, nodes = ring(cluster, "object").get_nodes(account, "exp", name)
        for node in nodes:  # a tombstone at the expiry time on every replica
            status, headers, _ = exchange(node.port, "HEAD", f"/{node.device}/{part}/{account}"
                                          f"/exp/{name}")
            assert (status, headers.get("X-Backend-Timestamp")) == (
                404, Timestamp(delete_at).internal), (name, node.port)
        server = {port: name for name, port in cluster.ports.items()}
        on_disk = [path.suffix for port in {node.port for node in nodes}
                   for path in (cluster.root / "srv" / server[port] / "sda" / "objects"
                                / str(part)).rglob("*.*")
                   if path.parent.name == PathHasher("", "proxy-tests").hash_path(
                       account, "exp", name)]
        assert sorted(on_disk) == [".ts"] * len(nodes), (name, on_disk)
    assert call("GET")[2].split() == [b"kept", b"moved"]
    moved = call("GET", "/moved")
    assert moved[0] == 200 and moved[1]["X-Delete-At"] == str(later)
    # only the moved object's new row is left in the queue
    rows = [row for found in queue(cluster).values() for row in found]
    assert rows == [f"{later}-{account}/exp/moved"]
    recon = json.loads((cluster.root / "recon" / "object.recon").read_text())
    counts = recon["object-expirer"]["last_pass"]["counts"]
    # soon and posted deleted; moved's old row stale (its expiry moved)
    assert (counts["objects"], counts["deleted"], counts["stale"], counts["failures"],
            counts["errors"]) == (3, 2, 1, 0, 0)
