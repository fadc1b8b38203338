"""Builders of common cluster shapes for the ring tests."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import pytest

from ring.builder import RingBuilder


def make_builder(
    part_power: int = 10,
    replicas: float = 3,
    min_part_hours: int = 0,
    layout: Iterable[tuple[int, int, int, int, float]] = (),
) -> RingBuilder:
    """A builder with devices given as (region, zone, server, disk, weight)."""
    builder = RingBuilder(part_power, replicas, min_part_hours)
    for region, zone, server, disk, weight in layout:
        builder.add_dev(region, zone, f"10.{region}.{zone}.{server}", 6200, f"d{disk}", weight)
    return builder


def grid(regions: int, zones: int, servers: int, disks: int,
         weight: float = 100.0) -> list[tuple[int, int, int, int, float]]:
    return [
        (r, z, s, d, weight)
        for r in range(1, regions + 1) for z in range(1, zones + 1)
        for s in range(1, servers + 1) for d in range(disks)
    ]


def replicas_of(builder: RingBuilder) -> list[list[int]]:
    """Device ids of every partition's replicas."""
    assert builder.table is not None
    return [
        [row[part] for row in builder.table if part < len(row)]
        for part in range(builder.partitions)
    ]


def tier_counts(builder: RingBuilder, part_devs: list[int], tier: str) -> Counter[object]:
    def key(dev_id: int) -> object:
        dev = builder.dev(dev_id)
        return {
            "region": dev.region,
            "zone": (dev.region, dev.zone),
            "server": (dev.region, dev.zone, dev.ip, dev.port),
            "device": dev.id,
        }[tier]
    return Counter(key(d) for d in part_devs)


@pytest.fixture
def cluster_3x4() -> RingBuilder:
    """3 zones of 2 servers with 2 disks each, equal weights, one region."""
    return make_builder(layout=grid(1, 3, 2, 2))
