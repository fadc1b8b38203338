"""The object replicator on a four-node cluster in one process (real disks,
real object-server controllers, a real ring; see replication_cluster.py)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from objstore.daemons.runner import load_daemon_config
from objstore.obj.replicator import ObjectReplicator
from tests.unit.obj.replication_cluster import PORTS, Cluster, stamp


@pytest.fixture
def cluster(tmp_path: Path) -> Cluster:
    return Cluster(tmp_path)


def backlog(cluster: Cluster, node: int) -> dict[str, float]:
    entry = json.loads((cluster.root / f"recon{node}" / "object.recon").read_text())
    return entry["object-replicator"]["backlog"]  # type: ignore[no-any-return]


def test_a_missing_replica_is_restored_file_for_file(cluster: Cluster) -> None:
    _, (first, second, third), _ = cluster.placement("cat")
    body = os.urandom(200_000)
    cluster.put([first, second], "cat", body, stamp(300), **{"X-Object-Meta-Color": "red"})
    cluster.post([first, second], "cat", stamp(200), **{"X-Object-Meta-Color": "blue"})
    dog = next(f"dog{n}" for n in range(100) if cluster.placement(f"dog{n}")[1][0] != first)
    _, (p1, _, p3), _ = cluster.placement(dog)
    cluster.put([p1], dog, b"woof", stamp(100), policy=1)
    counts = cluster.run(first)
    assert cluster.files(third, "cat") == cluster.files(first, "cat")
    assert [name[-5:] for name in cluster.files(third, "cat")] == [".data", ".meta"]
    assert cluster.body(third, "cat") == body
    assert counts["files_pushed"] == 2 and counts["bytes_pushed"] == len(body)
    assert counts["suffixes_out_of_sync"] == 1 and counts["failures"] == counts["errors"] == 0
    assert not cluster.files(p3, dog, policy=1)
    cluster.run(p1)
    assert cluster.files(p3, dog, policy=1) == cluster.files(p1, dog, policy=1)
    # Nothing differs any more: a second pass of any node pushes nothing.
    for node in (1, 2, 3, 4):
        again = cluster.run(node)
        assert (again["suffixes_out_of_sync"], again["files_pushed"]) == (0, 0), node
    assert backlog(cluster, first)["oldest_missing_age"] == 0


def test_a_handoff_goes_home_and_is_removed_once_every_primary_has_it(cluster: Cluster) -> None:
    part, primaries, handoff = cluster.placement("cat")
    when = stamp(500)
    cluster.put([handoff], "cat", b"meow", when)
    cluster.post([handoff], "cat", stamp(400), **{"X-Object-Meta-Mood": "sleepy"})
    cluster.put(primaries[:1], "cat", b"meow", when)  # one already has the data
    expected = cluster.files(handoff, "cat")
    counts = cluster.run(handoff)
    for node in primaries:
        assert cluster.files(node, "cat") == expected
    assert not (cluster.device_path(handoff) / "objects" / str(part)).exists()
    assert (counts["handoff_partitions"], counts["handoffs_removed"]) == (1, 1)
    assert counts["files_pushed"] == 2 + 2 + 1  # data+meta twice, the meta once
    assert backlog(cluster, handoff)["handoff_partitions"] == 0


def test_a_handoff_stays_while_a_primary_is_down(cluster: Cluster) -> None:
    part, primaries, handoff = cluster.placement("cat")
    cluster.put([handoff], "cat", b"meow", stamp(600))
    cluster.transport.down.add(PORTS[primaries[1]])
    counts = cluster.run(handoff)
    assert cluster.files(handoff, "cat")  # nothing removed: one primary never confirmed
    assert cluster.files(primaries[0], "cat") and cluster.files(primaries[2], "cat")
    assert counts["failures"] >= 1 and counts["handoffs_removed"] == 0
    left = backlog(cluster, handoff)
    assert left["handoff_partitions"] == 1 and 590 < left["oldest_missing_age"] < 700
    cluster.transport.down.clear()
    counts = cluster.run(handoff)
    assert counts["handoffs_removed"] == 1 and cluster.files(primaries[1], "cat")
    assert not (cluster.device_path(handoff) / "objects" / str(part)).exists()


def test_a_delete_made_while_a_replica_was_down_stays_a_delete(cluster: Cluster) -> None:
    _, (first, second, third), handoff = cluster.placement("cat")
    tombstone = stamp(200)
    cluster.put([first, second, third], "cat", b"meow", stamp(300))
    cluster.delete([first, second, handoff], "cat", tombstone)  # third was down
    for node in (third, handoff, first, second, third):  # the stale one goes first
        counts = cluster.run(node)
        assert counts["errors"] == 0
    for node in (first, second, third):
        assert list(cluster.files(node, "cat")) == [tombstone.internal + ".ts"], node
    assert not cluster.files(handoff, "cat")


def test_rot_is_never_pushed(cluster: Cluster) -> None:
    _, (first, second, third), _ = cluster.placement("cat")
    cluster.put([first], "cat", os.urandom(100_000), stamp(300))
    (name, _), = cluster.files(first, "cat").items()
    with open(cluster.diskfile(first, "cat").hash_dir + "/" + name, "r+b") as handle:
        handle.seek(70_000)
        handle.write(b"\x00\x01")
    counts = cluster.run(first)
    assert counts["errors"] >= 1 and counts["files_pushed"] == 0
    assert not cluster.files(second, "cat") and not cluster.files(third, "cat")
    assert not cluster.files(first, "cat")  # quarantined: the others will restore it
    quarantined = cluster.device_path(first) / "quarantined" / "objects"
    assert len(os.listdir(quarantined)) == 1


def test_old_tombstones_are_reclaimed_on_a_full_rehash(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, reclaim_age=3600)
    _, (first, second, third), _ = cluster.placement("cat")
    cluster.put([first, second, third], "cat", b"meow", stamp(9000))
    cluster.delete([first, second, third], "cat", stamp(8000))
    cluster.put([first, second, third], "cat2", b"purr", stamp(9000))
    replicator = cluster.replicator(first, rehash_interval=1e9)
    cluster.run(first, replicator)
    assert not cluster.files(first, "cat")  # the first pass rehashes all: reclaimed
    assert cluster.files(first, "cat2")
    replicator.begin_pass()
    assert not replicator.current.full_rehash  # later ones only every rehash_interval
    assert cluster.replicator(first, rehash_interval=0).current.full_rehash


def test_handoffs_first_drains_handoffs_before_primaries(cluster: Cluster) -> None:
    names = [f"obj{n}" for n in range(40)]
    node = 1
    handoff_parts = set()
    for name in names:
        part, primaries, handoff = cluster.placement(name)
        cluster.put([node], name, b"x", stamp(100))
        if handoff == node:
            handoff_parts.add(part)
    assert handoff_parts and len(handoff_parts) < 8
    cluster.run(node, handoffs_first=True, workers_per_device=1)
    seen = [int(path.split("/")[2]) for port, method, path in cluster.transport.seen]
    first_primary = next(i for i, part in enumerate(seen) if part not in handoff_parts)
    assert set(seen[first_primary:]).isdisjoint(handoff_parts)


def test_a_failed_peer_is_skipped_for_the_rest_of_the_pass(cluster: Cluster) -> None:
    for n in range(40):
        cluster.put([1], f"obj{n}", b"x", stamp(100))
    down = 2
    cluster.transport.down.add(PORTS[down])
    counts = cluster.run(1, workers_per_device=1)
    asked = [path for port, method, path in cluster.transport.seen if port == PORTS[down]]
    assert len(asked) == 1 and counts["failures"] == 1
    assert not list((cluster.device_path(down)).rglob("*.data"))
    assert list((cluster.device_path(3)).rglob("*.data"))  # the others were served


def test_a_file_written_to_a_handoff_meanwhile_stays(cluster: Cluster) -> None:
    part, primaries, handoff = cluster.placement("cat")
    late = next(f"late{n}" for n in range(500) if cluster.placement(f"late{n}")[0] == part)
    cluster.put([handoff], "cat", b"meow", stamp(300))
    real = cluster.transport.request

    def request(peer, method, path, headers, body=None):  # type: ignore[no-untyped-def]
        if method == "SYNC" and not cluster.files(handoff, late):
            cluster.put([handoff], late, b"late", stamp(1))  # a PUT lands mid-pass
        return real(peer, method, path, headers, body)
    cluster.transport.request = request  # type: ignore[method-assign]
    counts = cluster.run(handoff)
    assert not cluster.files(handoff, "cat") and cluster.files(handoff, late)
    assert counts["handoffs_removed"] == 0 and backlog(cluster, handoff)[
        "handoff_partitions"] == 1
    cluster.transport.request = real  # type: ignore[method-assign]
    assert cluster.run(handoff)["handoffs_removed"] == 1
    assert all(cluster.body(node, late) == b"late" for node in primaries)


def test_the_config_comes_from_the_servers_file(tmp_path: Path) -> None:
    conf = tmp_path / "object-server.conf"
    conf.write_text("[app:object-server]\nbind_port = 6123\ndevices = /srv/x\n"
                    "reclaim_age = 100\n[object-replicator]\nhandoffs_first = true\n"
                    "node_timeout = 2.5\n")
    loaded, warnings = load_daemon_config(str(conf), ObjectReplicator)
    assert warnings == []
    assert (loaded.bind_port, loaded.devices, loaded.reclaim_age) == (6123, "/srv/x", 100.0)
    assert (loaded.handoffs_first, loaded.node_timeout, loaded.workers_per_device) == (
        True, 2.5, 2)


def test_a_big_backlog_goes_in_several_pushes(cluster: Cluster,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from objstore.obj import replicator as replicator_module

    part, (first, second, third), _ = cluster.placement("cat")
    names = [f"n{n}" for n in range(3000) if cluster.placement(f"n{n}")[0] == part][:5]
    assert len(names) == 5
    for name in names:
        cluster.put([first, second], name, os.urandom(1000), stamp(100))
    monkeypatch.setattr(replicator_module, "PUSH_BATCH_FILES", 2)
    counts = cluster.run(first)
    syncs = [path for port, method, path in cluster.transport.seen
             if method == "SYNC" and port == PORTS[third]]
    assert len(syncs) == 1 + 3  # one offer, pushes of 2 + 2 + 1 files
    assert counts["files_pushed"] == 5 and all(cluster.body(third, n) for n in names)
    monkeypatch.setattr(replicator_module, "PUSH_BATCH_BYTES", 1)  # each .data its own push
    cluster.delete([first], names[0], stamp(50))
    cluster.put([first], names[1], b"x" * 5000, stamp(50))
    cluster.put([first], names[2], b"y" * 5000, stamp(50))
    cluster.transport.seen.clear()
    cluster.run(first)
    pushes = [path for port, method, path in cluster.transport.seen
              if method == "SYNC" and port == PORTS[third]]
    assert len(pushes) == 1 + 2  # the tombstone rides with the first .data
