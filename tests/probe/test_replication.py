"""Replication on a real cluster: break it, run the daemons as an operator
would (``objstore-aio once``), then check through the proxy and on every
disk that every acknowledged write is intact on every primary, with the
right bytes and metadata, and nowhere else."""
from __future__ import annotations

import json
import os
import random
import shutil
from typing import Any

import pytest

from .cluster import NODES, ProbeCluster, etag

pytestmark = pytest.mark.slow


def put_objects(probe: ProbeCluster, container: str, count: int, max_size: int = 4096,
                prefix: str = "obj") -> dict[str, bytes]:
    assert probe.request("PUT", container)[0] in (201, 202)
    bodies = {f"{prefix}-{n:03d}": os.urandom(random.randrange(max_size)) for n in range(count)}
    for name, body in bodies.items():
        status, headers, _ = probe.request("PUT", f"{container}/{name}", body, {
            "X-Object-Meta-Name": name, "Content-Type": "application/x-probe"})
        assert (status, headers.get("etag")) == (201, etag(body)), name
    return bodies


def assert_on_every_primary(probe: ProbeCluster, container: str, bodies: dict[str, bytes],
                            meta: dict[str, str] | None = None) -> None:
    """Each object: the same files (names, metadata) on its three primaries,
    its bytes, and nothing on the node that is not a primary."""
    for name, body in bodies.items():
        _, primaries = probe.placement(container, name)
        replicas = probe.replicas(container, name)
        files = {node: replicas[node].raw_metadata() for node in primaries}
        assert all(files[node] == files[primaries[0]] for node in primaries), (name, files)
        for node in primaries:
            data, metadata = replicas[node].read()
            assert data == body, (name, node)
            assert metadata["ETag"] == etag(body) and metadata["X-Object-Meta-Name"] == name
            for key, value in (meta or {}).items():
                assert metadata.get(key) == value, (name, node, key)
        (other,) = set(NODES) - set(primaries)
        assert not replicas[other].exists, (name, other, replicas[other].names)


def assert_clients_see(probe: ProbeCluster, container: str, bodies: dict[str, bytes]) -> None:
    for name, body in bodies.items():
        status, headers, data = probe.request("GET", f"{container}/{name}")
        assert (status, data) == (200, body), name
        assert headers["etag"] == etag(body) and headers["x-object-meta-name"] == name


def replicator_recon(probe: ProbeCluster, node: int) -> dict[str, Any]:
    path = probe.data.recon(node) / "object.recon"
    return json.loads(path.read_text())["object-replicator"]  # type: ignore[no-any-return]


def replicate(probe: ProbeCluster, passes: int = 4) -> int:
    """Replicator passes on every node until one finds every primary in step
    (nothing out of sync, nothing pushed, no local error), which should be
    the second: a push a peer failed (a race at the peer, logged) waits for
    the next. Returns how many passes it took."""
    for done in range(1, passes + 1):
        probe.once("object-replicator")
        counts = [replicator_recon(probe, node)["last_pass"]["counts"] for node in NODES]
        if not any(c["suffixes_out_of_sync"] or c["files_pushed"] or c["errors"]
                   for c in counts):
            assert_no_backlog(probe)
            return done
    raise AssertionError(f"replication not done after {passes} passes"
                         + probe.logs("object-replicator"))


def assert_no_backlog(probe: ProbeCluster) -> None:
    for node in NODES:
        entry = replicator_recon(probe, node)
        assert entry["backlog"]["handoff_partitions"] == 0, node
        assert entry["backlog"]["oldest_missing_age"] == 0, node
        assert entry["last_pass"]["counts"]["failures"] == 0, (node, probe.logs(
            "object-replicator"))


def test_writes_made_while_a_server_is_down_go_home_from_their_handoffs(
        probe: ProbeCluster) -> None:
    probe.kill(1)
    bodies = put_objects(probe, "handoffs", 200)
    moved = [name for name in bodies if 1 in probe.placement("handoffs", name)[1]]
    assert len(moved) > 100
    for name in moved:  # each on the one node that is not a primary, not on node 1
        replicas = probe.replicas("handoffs", name)
        (other,) = set(NODES) - set(probe.placement("handoffs", name)[1])
        assert replicas[other].exists and not replicas[1].exists, name
    probe.restart(1)

    assert replicate(probe) <= 3
    assert_on_every_primary(probe, "handoffs", bodies)
    for node in NODES:  # no handoff partition left on any disk
        mine = {part for part in probe.partition_dirs(node)
                if node in [int(d.device[3:]) for d in probe.ring.get_part_nodes(part)]}
        assert probe.partition_dirs(node) == mine, node
    removed = sum(replicator_recon(probe, node)["totals"]["handoffs_removed"] for node in NODES)
    assert removed == len({probe.placement("handoffs", name)[0] for name in moved})
    assert_clients_see(probe, "handoffs", bodies)


def test_a_full_device_sends_writes_to_a_handoff_and_takes_them_back_once_freed(
        probe: ProbeCluster) -> None:
    """Node 1's device is past its fallocate_reserve (100% here: no room
    is enough): new objects go to a handoff, every write and read still
    succeeds, and once space is freed the replicator brings them home."""
    conf = probe.data.conf(probe.object_server(1))
    roomy = conf.read_text()
    probe.kill(1)
    conf.write_text(roomy.replace("[app:object-server]\n",
                                  "[app:object-server]\nfallocate_reserve = 100%\n", 1))
    probe.restart(1)
    bodies = put_objects(probe, "full", 120)
    big = next(f"big-{n}" for n in range(100) if 1 in probe.placement("full", f"big-{n}")[1])
    bodies[big] = os.urandom(3_000_000)  # streamed, with the proxy's footer
    assert probe.request("PUT", f"full/{big}", bodies[big], {"X-Object-Meta-Name": big})[0] == 201
    moved = [name for name in bodies if 1 in probe.placement("full", name)[1]]
    assert len(moved) > 50
    for name in moved:
        replicas = probe.replicas("full", name)
        (other,) = set(NODES) - set(probe.placement("full", name)[1])
        assert replicas[other].exists and not replicas[1].exists, name
    assert_clients_see(probe, "full", bodies)
    gone = moved[0]
    assert probe.request("DELETE", f"full/{gone}")[0] == 204  # deletes free space: never refused
    del bodies[gone]
    probe.kill(1)
    conf.write_text(roomy)
    probe.restart(1)

    assert replicate(probe) <= 3
    assert_on_every_primary(probe, "full", bodies)
    assert_clients_see(probe, "full", bodies)
    assert probe.request("GET", f"full/{gone}")[0] == 404
    assert not any(replica.kinds() == ["data"]
                   for replica in probe.replicas("full", gone).values())


def test_a_wiped_device_is_restored(probe: ProbeCluster) -> None:
    bodies = put_objects(probe, "wiped", 60, max_size=200_000)
    posted = list(bodies)[:10]
    for name in posted:
        status, _, _ = probe.request("POST", f"wiped/{name}", headers={
            "X-Object-Meta-Name": name, "X-Object-Meta-Posted": "yes"})
        assert status == 202
    deleted = list(bodies)[10:20]
    for name in deleted:
        assert probe.request("DELETE", f"wiped/{name}")[0] == 204
    lost = 2
    on_lost = [name for name in bodies if lost in probe.placement("wiped", name)[1]]
    before = {name: probe.replicas("wiped", name)[lost].raw_metadata() for name in on_lost}
    assert {tuple(sorted(name.rpartition(".")[2] for name in files))
            for files in before.values()} == {("data",), ("data", "meta"), ("ts",)}
    # The disk is replaced: every object file on it is gone (the account and
    # container DBs beside them are the DB replicators' business).
    for entry in probe.device(lost).iterdir():
        if entry.name not in ("accounts", "containers"):
            shutil.rmtree(entry)
    assert not probe.partition_dirs(lost)

    assert replicate(probe) <= 3
    for name in on_lost:
        assert probe.replicas("wiped", name)[lost].raw_metadata() == before[name], name
    live = {name: body for name, body in bodies.items() if name not in deleted}
    assert_on_every_primary(probe, "wiped", {n: live[n] for n in posted},
                            {"X-Object-Meta-Posted": "yes"})
    assert_on_every_primary(probe, "wiped", {n: live[n] for n in live if n not in posted})
    assert_clients_see(probe, "wiped", live)
    for name in deleted:
        assert probe.request("GET", f"wiped/{name}")[0] == 404


def test_a_delete_made_while_a_replica_was_down_stays_deleted(probe: ProbeCluster) -> None:
    bodies = put_objects(probe, "deletes", 40)
    stale = 3
    probe.kill(stale)
    for name in bodies:
        assert probe.request("DELETE", f"deletes/{name}")[0] == 204, name
    missed = [name for name in bodies if stale in probe.placement("deletes", name)[1]]
    assert missed
    for name in missed:  # the danger: the stale replica still holds the data
        assert probe.replicas("deletes", name)[stale].kinds() == ["data"]
    probe.restart(stale)

    assert replicate(probe) <= 3
    for name in bodies:
        _, primaries = probe.placement("deletes", name)
        replicas = probe.replicas("deletes", name)
        tombstones = {tuple(replicas[node].names) for node in primaries}
        assert len(tombstones) == 1 and [n[-3:] for n in tombstones.pop()] == [".ts"], name
        (other,) = set(NODES) - set(primaries)
        assert not replicas[other].exists, name
        status, _, _ = probe.request("GET", f"deletes/{name}")
        assert status == 404, name


def flip(path: Any, offset: int) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0xFF]))


def test_rot_is_never_served_and_the_good_copy_comes_back(probe: ProbeCluster) -> None:
    bodies = put_objects(probe, "rot", 4, max_size=8000, prefix="small")
    bodies["big"] = os.urandom(3 * 1024 * 1024 + 7)
    status, _, _ = probe.request("PUT", "rot/big", bodies["big"], {"X-Object-Meta-Name": "big"})
    assert status == 201
    pristine = {name: probe.replicas("rot", name) for name in bodies}
    damaged = {}
    for index, name in enumerate(["small-000", "small-001", "big"]):
        primary = probe.read_order("rot", name)[index % 3]
        replica = pristine[name][primary]
        (data_file,) = [n for n in replica.names if n.endswith(".data")]
        flip(replica.hash_dir / data_file, {0: 0, 1: 1234, 2: 2 * 1024 * 1024 + 5}[index]
             if len(bodies[name]) > 1234 else 0)
        damaged[name] = primary
    # The copy of small-000 the proxy reads first is bad from its first
    # byte: still no bad byte reaches a client. big's bad copy is the one
    # read last, never read here: the auditor must be the one to find it.
    for _ in range(2):
        assert_clients_see(probe, "rot", bodies)
    probe.once("object-auditor")
    for name, node in damaged.items():
        assert not probe.replicas("rot", name)[node].exists, name  # quarantined
    assert list((probe.device(damaged["big"]) / "quarantined" / "objects").iterdir())
    recon = json.loads((probe.data.recon(damaged["big"]) / "object.recon").read_text())
    assert recon["object-auditor"]["last_pass"]["counts"]["quarantined"] >= 1  # not a GET

    assert replicate(probe) <= 3
    assert_on_every_primary(probe, "rot", bodies)
    assert_clients_see(probe, "rot", bodies)
