"""Three hosts, each with its own address (network namespaces), one cut
off from the network in the middle of a write and kept off while clients
write, overwrite, delete and POST; then reconnected, and every host runs
its daemons once, as each host's cron would. Afterwards nothing is
missing or stale: checked on every disk of every host, on every account
and container replica, and through the proxy."""
from __future__ import annotations

import http.client
import json
import os
import random
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from .cluster import ACCOUNT, etag
from .netns import IP, PORTS, NetnsCluster, NetnsNetwork, Unavailable, unavailable

pytestmark = pytest.mark.slow

CUT = 3          # the host cut off
BIG = 4 * 1024 * 1024


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NetnsCluster]:
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    network = NetnsNetwork(3)
    cluster = NetnsCluster(tmp_path, network)
    try:
        try:
            network.open()
        except Unavailable as err:
            pytest.skip(str(err))
        try:
            cluster.start()
            yield cluster
        finally:
            cluster.stop()
    finally:
        network.close()


def put_cut_midway(cluster: NetnsCluster, path: str, body: bytes) -> int:
    """PUT the body chunked, cutting host CUT off when half has been sent:
    the proxy then holds three streams, one of which goes silent."""
    conn = http.client.HTTPConnection(IP, cluster.port, timeout=60)
    try:
        conn.putrequest("PUT", urllib.parse.quote(f"/v1/{ACCOUNT}/{path}"))
        for name, value in {"X-Auth-Token": cluster.token, "Transfer-Encoding": "chunked",
                            "X-Object-Meta-Name": path.rpartition("/")[2]}.items():
            conn.putheader(name, value)
        conn.endheaders()
        step = 64 * 1024
        for offset in range(0, len(body), step):
            if offset == len(body) // 2:
                cluster.network.cut(CUT)
            chunk = body[offset:offset + step]
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


class Expected:
    """What clients were told: each container's objects (bytes, metadata)
    and the names they deleted."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, tuple[bytes, dict[str, str]]]] = {}
        self.deleted: dict[str, set[str]] = {}

    def put(self, cluster: NetnsCluster, container: str, name: str, body: bytes,
            meta: dict[str, str] | None = None) -> None:
        meta = {"X-Object-Meta-Name": name, **(meta or {})}
        status, headers, _ = cluster.request("PUT", f"{container}/{name}", body, {
            "Content-Type": "application/x-probe", **meta})
        assert (status, headers.get("etag")) == (201, etag(body)), (container, name, status)
        self.objects.setdefault(container, {})[name] = (body, meta)
        self.deleted.setdefault(container, set()).discard(name)

    def post(self, cluster: NetnsCluster, container: str, name: str,
             meta: dict[str, str]) -> None:
        meta = {"X-Object-Meta-Name": name, **meta}  # a POST replaces the user metadata
        status, _, _ = cluster.request("POST", f"{container}/{name}", headers=meta)
        assert status == 202, (container, name, status)
        body, _ = self.objects[container][name]
        self.objects[container][name] = (body, meta)

    def delete(self, cluster: NetnsCluster, container: str, name: str) -> None:
        status, _, _ = cluster.request("DELETE", f"{container}/{name}")
        assert status == 204, (container, name, status)
        del self.objects[container][name]
        self.deleted[container].add(name)

    def rows(self, container: str) -> dict[str, tuple[int, str]]:
        return {name: (len(body), etag(body))
                for name, (body, _) in self.objects[container].items()}

    def totals(self, container: str) -> tuple[str, str]:
        bodies = [body for body, _ in self.objects[container].values()]
        return str(len(bodies)), str(sum(len(body) for body in bodies))


def body() -> bytes:
    return os.urandom(random.randrange(1, 6000))


def write_through_the_cut(cluster: NetnsCluster, expected: Expected) -> list[tuple[str, str]]:
    """Objects written with every host up, host CUT cut off in the middle of
    a write, then new objects and containers, overwrites, deletes and POSTs.
    Returns the objects changed while host CUT was off."""
    assert cluster.request("PUT", "steady")[0] == 201
    for n in range(24):
        expected.put(cluster, "steady", f"obj-{n:02d}", body())

    big = os.urandom(BIG)
    assert put_cut_midway(cluster, "steady/big", big) == 201
    expected.objects["steady"]["big"] = (big, {"X-Object-Meta-Name": "big"})

    assert cluster.request("PUT", "during")[0] == 201   # a container host CUT never saw
    for n in range(6):
        expected.put(cluster, "during", f"new-{n}", body())
    for n in range(12):
        expected.put(cluster, "steady", f"new-{n:02d}", body())
    for n in range(0, 6):
        expected.put(cluster, "steady", f"obj-{n:02d}", body(), {"X-Object-Meta-Version": "2"})
    for n in range(6, 12):
        expected.delete(cluster, "steady", f"obj-{n:02d}")
    for n in range(12, 18):
        expected.post(cluster, "steady", f"obj-{n:02d}", {"X-Object-Meta-Posted": "yes"})
    # obj-18 ... obj-23: written before the cut, untouched since
    return [("steady", "big"), *(("during", f"new-{n}") for n in range(6)),
            *(("steady", f"new-{n:02d}") for n in range(12)),
            *(("steady", f"obj-{n:02d}") for n in range(18))]


def replicate_objects(cluster: NetnsCluster, passes: int = 3) -> None:
    """Object replicator passes on every host until one finds nothing to do."""
    for _ in range(passes):
        cluster.once("object-replicator")
        counts = [cluster.recon(host.node, "object-replicator")["last_pass"]["counts"]
                  for host in cluster.hosts]
        if not any(c["suffixes_out_of_sync"] or c["files_pushed"] or c["errors"]
                   or c["failures"] for c in counts):
            return
    raise AssertionError("object replication not done" + cluster.logs("object-replicator"))


def assert_every_object_everywhere(cluster: NetnsCluster, expected: Expected) -> None:
    """On disk: each object the same files on its three primaries (one per
    host) with the newest bytes and metadata; each deleted one a lone
    tombstone on each; no copy on any other device."""
    ring = cluster.ring("object")
    for container, objects in expected.objects.items():
        names = [*objects, *expected.deleted[container]]
        for name in names:
            _, primaries = ring.get_nodes(ACCOUNT, container, name)
            homes = {(cluster.node_of(device), device.device) for device in primaries}
            assert {node for node, _ in homes} == {1, 2, 3}
            replicas = cluster.replicas(container, name)
            files = {home: replicas[home].names for home in homes}
            assert len(set(map(tuple, files.values()))) == 1, (container, name, files)
            for where, replica in replicas.items():
                if where not in homes:
                    assert not replica.exists, (container, name, where, replica.names)
                elif name in expected.deleted[container]:
                    assert replica.kinds() == ["ts"], (container, name, where, replica.names)
                else:
                    data, metadata = replica.read()
                    wanted, meta = objects[name]
                    assert data == wanted and metadata["ETag"] == etag(wanted), (name, where)
                    user = {key: value for key, value in metadata.items()
                            if key.startswith("X-Object-Meta-")}
                    assert user == meta, (container, name, where, user)


def assert_no_handoffs_left(cluster: NetnsCluster) -> None:
    """Every partition directory on a device is one the ring gives it, and
    no update waits for the updater."""
    for kind, ring_name in (("objects", "object"), ("containers", "container"),
                            ("accounts", "account")):
        ring = cluster.ring(ring_name)
        for node, device, path in cluster.device_dirs():
            found = {int(part) for part in os.listdir(path / kind)} \
                if (path / kind).is_dir() else set()
            mine = {part for part in found
                    if (node, device) in {(cluster.node_of(d), d.device)
                                          for d in ring.get_part_nodes(part)}}
            assert found == mine, (kind, node, device, sorted(found - mine))
    pending = [path for path in cluster.data.srv.rglob("async_pending*/*/*") if path.is_file()]
    assert not pending, pending


def assert_every_listing(cluster: NetnsCluster, expected: Expected) -> None:
    """Each container replica (asked directly) lists its objects and counts
    them; each account replica lists both containers with their totals."""
    ring = cluster.ring("container")
    for container in expected.objects:
        part, devices = ring.get_nodes(ACCOUNT, container)
        for device in devices:
            where = (container, cluster.node_of(device), device.device)
            status, headers, listing = cluster.direct(
                device, "GET", f"{part}/{ACCOUNT}/{container}", "format=json")
            assert status == 200, (where, status)
            rows = {row["name"]: (row["bytes"], row["hash"]) for row in json.loads(listing)}
            assert rows == expected.rows(container), where
            assert (headers["x-container-object-count"],
                    headers["x-container-bytes-used"]) == expected.totals(container), where
    part, devices = cluster.ring("account").get_nodes(ACCOUNT)
    objects = sum(int(expected.totals(c)[0]) for c in expected.objects)
    used = sum(int(expected.totals(c)[1]) for c in expected.objects)
    for device in devices:
        where = (ACCOUNT, cluster.node_of(device), device.device)
        status, headers, listing = cluster.direct(device, "GET", f"{part}/{ACCOUNT}",
                                                  "format=json")
        assert status == 200, (where, status)
        rows = {row["name"]: (str(row["count"]), str(row["bytes"]))
                for row in json.loads(listing)}
        assert rows == {c: expected.totals(c) for c in expected.objects}, where
        assert (headers["x-account-container-count"], headers["x-account-object-count"],
                headers["x-account-bytes-used"]) == (
                    str(len(expected.objects)), str(objects), str(used)), where


def assert_clients_see(cluster: NetnsCluster, expected: Expected) -> None:
    for container, objects in expected.objects.items():
        for name, (wanted, meta) in objects.items():
            status, headers, data = cluster.request("GET", f"{container}/{name}")
            assert (status, data) == (200, wanted), (container, name, status)
            assert {key.lower(): value for key, value in meta.items()} == {
                key: value for key, value in headers.items() if key.startswith("x-object-meta-")}
        for name in expected.deleted[container]:
            assert cluster.request("GET", f"{container}/{name}")[0] == 404, (container, name)
        status, headers, listing = cluster.request("GET", container, query="format=json")
        assert status == 200
        assert {row["name"]: (row["bytes"], row["hash"])
                for row in json.loads(listing)} == expected.rows(container)
    status, headers, _ = cluster.request("HEAD", "")
    assert status == 204
    assert headers["x-account-object-count"] == str(
        sum(len(objects) for objects in expected.objects.values()))


def test_a_host_cut_off_during_writes_catches_up_after_replication(
        cluster: NetnsCluster) -> None:
    expected = Expected()
    changed = write_through_the_cut(cluster, expected)
    # Host CUT is behind on every change (what it missed sits on the other
    # hosts, their second device standing in as the handoff): it lacks the
    # new objects and holds stale copies of the others.
    ring = cluster.ring("object")
    for container, name in changed:
        on = {(cluster.node_of(d), d.device) for d in ring.get_nodes(ACCOUNT, container, name)[1]}
        (home,) = [where for where in on if where[0] == CUT]
        (peer,) = [where for where in on if where[0] == 1]
        replicas = cluster.replicas(container, name)
        assert replicas[home].names != replicas[peer].names, (container, name)

    cluster.network.reconnect(CUT)
    cluster.wait_answering(cluster.network.host(CUT).ip, PORTS["object"], "/", 400,
                           time.monotonic() + 30, "object-server")

    replicate_objects(cluster)
    # the container DBs first: an update for a container its replica has
    # never seen (made while the host was off) is refused until it has it
    for daemon in ("container-replicator", "object-updater", "container-updater",
                   "account-replicator"):
        cluster.once(daemon)
    for host in cluster.hosts:  # each host worked on its own two devices, found by address
        assert cluster.recon(host.node, "object-replicator")["last_pass"]["devices"] == [
            "sdb", "sdc"], host

    assert_every_object_everywhere(cluster, expected)
    assert_no_handoffs_left(cluster)
    assert_every_listing(cluster, expected)
    assert_clients_see(cluster, expected)
