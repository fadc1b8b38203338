"""The updaters and the expirer on a real cluster: container servers that
were down during writes learn every write once the object updater runs
(and the account its totals once the container updater runs); expired
objects leave GETs, the listing and every primary's disk once the
expirer has run. Checked through the proxy and on every replica."""
from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path
from typing import Any

import pytest

from objstore.common.timestamp import Timestamp
from objstore.obj.expiring import QUEUE_ACCOUNT, queue_container
from ring.devices import Device
from tests.functional.exchange import put_broken_off

from .cluster import ACCOUNT, NODES, ProbeCluster, etag
from .test_replication import put_objects

pytestmark = pytest.mark.slow


def listing(probe: ProbeCluster, container: str) -> dict[str, tuple[int, str]]:
    """The container's listing through the proxy: name -> (bytes, hash)."""
    status, _, body = probe.request("GET", f"{container}?format=json")
    assert status == 200, (status, body)
    return {row["name"]: (row["bytes"], row["hash"]) for row in json.loads(body)}


def expected_rows(bodies: dict[str, bytes]) -> dict[str, tuple[int, str]]:
    return {name: (len(body), etag(body)) for name, body in bodies.items()}


def async_pendings(probe: ProbeCluster) -> list[Path]:
    return [path for path in probe.data.srv.rglob("async_pending*/*/*") if path.is_file()]


def recon_counts(probe: ProbeCluster, server_type: str, daemon: str) -> list[dict[str, Any]]:
    return [json.loads((probe.data.recon(node) / f"{server_type}.recon").read_text())
            [daemon]["last_pass"]["counts"] for node in NODES]


def node_of(device: Device) -> int:
    return int(device.device.removeprefix("sdb"))


def assert_every_replica_counts(probe: ProbeCluster, container: str,
                                bodies: dict[str, bytes]) -> None:
    """Each container replica (asked directly) lists exactly ``bodies``
    with their sizes and ETags and counts them; each account replica
    counts them too."""
    count, used = str(len(bodies)), str(sum(len(body) for body in bodies.values()))
    part, devices = probe.load_ring("container").get_nodes(ACCOUNT, container)
    for device in devices:
        where = (device.device, container)
        status, headers, _ = probe.direct(device, "HEAD", f"{part}/{ACCOUNT}/{container}")
        assert status == 204, where
        assert (headers["x-container-object-count"], headers["x-container-bytes-used"]) == (
            count, used), where
        status, _, body = probe.direct(device, "GET", f"{part}/{ACCOUNT}/{container}",
                                       "format=json")
        assert status == 200, where
        rows = {row["name"]: (row["bytes"], row["hash"]) for row in json.loads(body)}
        assert rows == expected_rows(bodies), where
    part, devices = probe.load_ring("account").get_nodes(ACCOUNT)
    for device in devices:
        status, headers, _ = probe.direct(device, "HEAD", f"{part}/{ACCOUNT}")
        assert status == 204, device.device
        assert (headers["x-account-container-count"], headers["x-account-object-count"],
                headers["x-account-bytes-used"]) == ("1", count, used), device.device


def test_writes_made_while_the_container_servers_were_down_reach_every_listing(
        probe: ProbeCluster) -> None:
    container = "updates"
    early = put_objects(probe, container, 12, prefix="early")
    # The proxy knows the container now and asks no container server again
    # for recheck_existence (60 s): object writes need none of them.
    assert probe.request("HEAD", container)[0] == 204
    _, devices = probe.load_ring("container").get_nodes(ACCOUNT, container)
    down = [node_of(device) for device in devices]
    for node in down:
        probe.kill(node, "container")

    late = {f"late-{n:03d}": os.urandom(random.randrange(1, 5000)) for n in range(40)}
    changed = {name: os.urandom(len(early[name]) + 1000) for name in list(early)[:3]}
    deleted = list(early)[3:5]
    for name, body in {**late, **changed}.items():
        status, headers, _ = probe.request("PUT", f"{container}/{name}", body)
        assert (status, headers.get("etag")) == (201, etag(body)), name
    for name in deleted:
        assert probe.request("DELETE", f"{container}/{name}")[0] == 204, name
    writes = len(late) + len(changed) + len(deleted)
    # every object server kept every update its container replica missed
    assert len(async_pendings(probe)) == 3 * writes

    for node in down:
        probe.restart(node, "container")
    assert listing(probe, container) == expected_rows(early)  # stale: nothing arrived
    probe.once("object-updater")
    assert async_pendings(probe) == []
    counts = recon_counts(probe, "object", "object-updater")
    assert sum(c["successes"] for c in counts) == 3 * writes, counts
    assert not any(c["failures"] or c["errors"] for c in counts), counts
    probe.once("container-updater")

    now = {**{n: b for n, b in early.items() if n not in deleted}, **changed, **late}
    assert listing(probe, container) == expected_rows(now)
    status, headers, _ = probe.request("HEAD", container)
    assert (status, headers["x-container-object-count"], headers["x-container-bytes-used"]) == (
        204, str(len(now)), str(sum(len(body) for body in now.values())))
    status, headers, _ = probe.request("HEAD", "")
    assert (status, headers["x-account-object-count"], headers["x-account-bytes-used"]) == (
        204, str(len(now)), str(sum(len(body) for body in now.values())))
    assert_every_replica_counts(probe, container, now)
    for name, body in now.items():
        assert probe.request("GET", f"{container}/{name}")[::2] == (200, body), name


def queue_rows(probe: ProbeCluster, *times: int) -> list[str]:
    """The rows of the expirer's queue containers of those expiry times,
    as every replica of each lists them (they must agree)."""
    rows: list[str] = []
    for queue in sorted({queue_container(at) for at in times}):
        part, devices = probe.load_ring("container").get_nodes(QUEUE_ACCOUNT, queue)
        found = []
        for device in devices:
            status, _, body = probe.direct(device, "GET", f"{part}/{QUEUE_ACCOUNT}/{queue}",
                                           "format=json")
            assert status in (200, 204, 404), (device.device, status)
            found.append(sorted(row["name"] for row in json.loads(body))
                         if status == 200 else [])
        assert all(names == found[0] for names in found), (queue, found)
        rows += found[0]
    return sorted(rows)


def test_expired_objects_leave_reads_listings_and_disks(probe: ProbeCluster) -> None:
    container = "expiring"
    kept = put_objects(probe, container, 8, prefix="kept")
    soon = int(time.time()) + 5  # still ahead once every write below is made
    later = soon + 3600
    delete_at: dict[str, int] = {}
    bodies: dict[str, bytes] = {}

    def put(name: str, headers: dict[str, str] | None = None) -> None:
        bodies[name] = os.urandom(random.randrange(1, 3000))
        status, _, _ = probe.request("PUT", f"{container}/{name}", bodies[name], {
            "X-Object-Meta-Name": name, **(headers or {})})
        assert status == 201, name

    for n in range(6):
        put(f"at-{n}", {"X-Delete-At": str(soon)})
    for n in range(4):
        put(f"after-{n}", {"X-Delete-After": "3"})
    for n in range(4):  # given an expiry after their PUT
        put(f"posted-{n}")
        assert probe.request("POST", f"{container}/posted-{n}", headers={
            "X-Object-Meta-Name": f"posted-{n}", "X-Delete-At": str(soon)})[0] == 202
    for n in range(3):  # an expiry a POST moved an hour later
        put(f"moved-{n}", {"X-Delete-At": str(soon)})
        assert probe.request("POST", f"{container}/moved-{n}", headers={
            "X-Object-Meta-Name": f"moved-{n}", "X-Delete-At": str(later)})[0] == 202
    for name in bodies:
        status, headers, _ = probe.request("HEAD", f"{container}/{name}")
        assert status == 200, name
        delete_at[name] = int(headers["x-delete-at"])
    expiring = [name for name in bodies if not name.startswith("moved")]
    staying = {**kept, **{name: bodies[name] for name in bodies if name not in expiring}}
    assert {delete_at[name] for name in staying if name in delete_at} == {later}
    # The queue holds a row per expiry. A moved object's old row stays until
    # the object updater removes it (its object server queued the removal):
    # the expirer must find it stale and leave the object alone.
    times = {soon, *delete_at.values()}
    moved = [name for name in bodies if name.startswith("moved")]
    assert queue_rows(probe, *times) == sorted(
        [f"{delete_at[name]}-{ACCOUNT}/{container}/{name}" for name in bodies]
        + [f"{soon}-{ACCOUNT}/{container}/{name}" for name in moved])
    time.sleep(max(0.0, max(delete_at[name] for name in expiring) + 1.5 - time.time()))

    # Expired objects are hidden at once, but stay listed until the expirer runs.
    for name in expiring:
        assert probe.request("GET", f"{container}/{name}")[0] == 404, name
    assert set(listing(probe, container)) == set(staying) | set(expiring)
    # the container updater first, so the queue containers are surely in
    # the queue account's listing (the container servers report within 1 s)
    probe.once("container-updater", "object-expirer")

    counts = recon_counts(probe, "object", "object-expirer")
    # the stale rows are done too, with nothing to delete, and counted apart
    assert sum(c["objects"] for c in counts) == len(expiring) + len(moved), counts
    assert sum(c["deleted"] for c in counts) == len(expiring), counts
    assert sum(c["stale"] for c in counts) == len(moved), counts
    assert not any(c["failures"] or c["errors"] for c in counts), counts
    assert queue_rows(probe, *times) == sorted(
        f"{later}-{ACCOUNT}/{container}/{name}" for name in staying if name.startswith("moved"))
    assert listing(probe, container) == expected_rows(staying)
    status, headers, _ = probe.request("HEAD", container)
    assert (status, headers["x-container-object-count"]) == (204, str(len(staying)))
    for name in expiring:
        assert probe.request("GET", f"{container}/{name}")[0] == 404, name
        _, primaries = probe.placement(container, name)
        replicas = probe.replicas(container, name)
        tombstone = f"{Timestamp(delete_at[name]).internal}.ts"
        for node in primaries:  # deleted as of its expiry time, on every primary
            assert replicas[node].names == [tombstone], (name, node, replicas[node].names)
        (other,) = set(NODES) - set(primaries)
        assert not replicas[other].exists, (name, other)
    for name, body in staying.items():
        status, headers, data = probe.request("GET", f"{container}/{name}")
        assert (status, data, headers["x-object-meta-name"]) == (200, body, name)
        assert headers.get("x-delete-at") == (str(later) if name.startswith("moved") else None)


def test_a_write_that_lost_a_slot_mid_body_tells_its_container_replica_without_hanging(
        probe: ProbeCluster) -> None:
    """An object server dies while a PUT's body streams, and the container
    server its slot was to tell has gone silent (stopped, not dead: it
    takes connections and never answers). The PUT is still answered well
    within the proxy's node_timeout (10 s), and once that container server
    wakes up it lists the object: the proxy's update was on its way."""
    import signal

    from objstore.aio import processes
    from objstore.proxy.update_pairing import pairing

    assert probe.request("PUT", "c")[0] == 201
    objects = probe.ring.get_part_nodes(probe.ring.get_part(ACCOUNT, "c", "mid"))
    container_part, containers = probe.load_ring("container").get_nodes(ACCOUNT, "c")
    told = containers[pairing(objects, containers)[0]]  # slot 0's container replica
    victim = int(objects[0].device.removeprefix("sdb"))
    silent = probe.server(int(told.device.removeprefix("sdb")), "container")
    silent_pid = processes.running_pid(probe.data, silent)
    assert silent_pid is not None
    body = os.urandom(3_000_000)

    def stop_both() -> None:
        os.killpg(silent_pid, signal.SIGSTOP)
        probe.kill(victim)
    try:
        answer, took = put_broken_off(probe.port, f"/v1/{ACCOUNT}/c/mid",
                                      {"X-Auth-Token": probe.token}, body, stop_both)
    finally:
        os.killpg(silent_pid, signal.SIGCONT)
    assert answer.startswith(b"HTTP/1.1 201"), answer
    assert took < 5, took  # not the 10 s of a silent container server
    path = f"{container_part}/{ACCOUNT}/c"

    def listed_everywhere() -> bool:
        return all([row["name"] for row in json.loads(
            probe.direct(device, "GET", path, "format=json")[2])] == ["mid"]
            for device in containers)
    deadline = time.monotonic() + 8
    while not listed_everywhere():
        assert time.monotonic() < deadline, [probe.direct(d, "GET", path, "format=json")
                                             for d in containers]
        time.sleep(0.2)
    assert probe.request("GET", "c/mid")[2] == body
