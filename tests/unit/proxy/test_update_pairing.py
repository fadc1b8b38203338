"""update_pairing: every container replica told of every write, and each
object server sticking to one replica of a container."""
from __future__ import annotations

import random
from collections import Counter

from objstore.proxy.update_pairing import pairing
from ring.devices import Device


def device(number: int, kind: str = "object") -> Device:
    port = 6200 if kind == "object" else 6201
    return Device(id=number, region=1, zone=number, ip=f"10.0.0.{number}", port=port,
                  replication_ip=f"10.0.0.{number}", replication_port=port,
                  device=f"sd{number}", weight=1.0)


def test_each_container_replica_is_told_once() -> None:
    containers = [device(n, "container") for n in (2, 5, 7)]
    for trial in range(200):
        objects = [device(n) for n in random.Random(trial).sample(range(1, 9), 3)]
        assert sorted(pairing(objects, containers)) == [0, 1, 2]


def test_more_object_slots_than_container_replicas_wrap_around() -> None:
    containers = [device(n, "container") for n in (2, 5)]
    chosen = pairing([device(n) for n in (1, 3, 4)], containers)
    assert sorted(chosen) in ([0, 0, 1], [0, 1, 1])
    assert pairing([device(1)], []) == []


def test_an_object_server_mostly_tells_the_same_replica() -> None:
    """What makes its updates batch: across the partitions of a 6-server
    cluster, each server's favourite replica of one container gets most
    of its updates, half or more (by replica index it would get a third)."""
    containers = [device(n, "container") for n in (1, 2, 3)]
    told: dict[int, Counter[int]] = {n: Counter() for n in range(1, 7)}
    rng = random.Random(4)
    for _ in range(600):
        objects = [device(n) for n in rng.sample(range(1, 7), 3)]
        rng.shuffle(objects)  # replica order varies from partition to partition
        for node, index in zip(objects, pairing(objects, containers)):
            told[node.id][index] += 1
    for server, counts in told.items():
        assert counts.most_common(1)[0][1] >= 0.5 * sum(counts.values()), (server, counts)


def test_the_same_write_pairs_the_same_way_every_time() -> None:
    objects = [device(n) for n in (4, 1, 6)]
    containers = [device(n, "container") for n in (3, 2, 5)]
    assert len({tuple(pairing(objects, containers)) for _ in range(5)}) == 1
