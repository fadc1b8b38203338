"""The placement invariants of ring/placement.py, observed on real rebalances."""
from __future__ import annotations

from collections import Counter

import pytest

from ring.builder import RingBuilder
from ring.exceptions import RebalanceError

from .conftest import grid, make_builder, replicas_of, tier_counts


def assert_max_per_tier(builder: RingBuilder, tier: str, limit: int) -> None:
    for part, devs in enumerate(replicas_of(builder)):
        worst = max(tier_counts(builder, devs, tier).values())
        assert worst <= limit, f"partition {part} has {worst} replicas in one {tier}"


def parts_per_device(builder: RingBuilder) -> dict[int, int]:
    counts = builder.parts_per_device()
    return {dev.id: counts.get(dev.id, 0) for dev in builder.live_devs()}


def test_equal_weights_spread_evenly_and_fully_dispersed() -> None:
    builder = make_builder(part_power=12, layout=grid(5, 2, 5, 2))
    result = builder.rebalance(seed=7)
    assert result.parts_moved == builder.partitions
    assert result.balance < 1.0
    assert result.dispersion == 0.0
    assert_max_per_tier(builder, "region", 1)
    counts = parts_per_device(builder)
    assert max(counts.values()) - min(counts.values()) <= 1
    assert sum(counts.values()) == 3 * builder.partitions


def test_unequal_weights_give_proportional_partitions() -> None:
    layout = [(1, z, s, 0, 100.0 if s == 1 else 300.0) for z in (1, 2, 3) for s in (1, 2)]
    builder = make_builder(part_power=12, layout=layout)
    builder.rebalance(seed=1)
    counts = parts_per_device(builder)
    light = [c for d, c in counts.items() if builder.dev(d).weight == 100.0]
    heavy = [c for d, c in counts.items() if builder.dev(d).weight == 300.0]
    for c in light:
        assert c == pytest.approx(3 * 4096 * 100 / 1200, rel=0.01)
    for c in heavy:
        assert c == pytest.approx(3 * 4096 * 300 / 1200, rel=0.01)
    assert builder.get_balance() < 1.0
    assert_max_per_tier(builder, "zone", 1)


def test_fewer_zones_than_replicas_spreads_over_servers() -> None:
    # two zones, three replicas: each zone holds 1 or 2, never 3; servers never 2
    builder = make_builder(part_power=10, layout=grid(1, 2, 3, 2))
    builder.rebalance(seed=3)
    assert_max_per_tier(builder, "zone", 2)
    assert_max_per_tier(builder, "server", 1)
    for devs in replicas_of(builder):
        assert len(tier_counts(builder, devs, "zone")) == 2
    assert builder.get_balance() < 1.0
    assert builder.dispersion == 0.0


def test_more_zones_than_replicas_one_replica_per_zone() -> None:
    builder = make_builder(part_power=10, layout=grid(1, 6, 1, 2))
    builder.rebalance(seed=3)
    assert_max_per_tier(builder, "zone", 1)


def test_regions_come_before_zones() -> None:
    # region 1 has four zones, region 2 one: every partition still reaches region 2
    layout = [(1, z, 1, 0, 100.0) for z in range(1, 5)] + [(2, 1, 1, d, 100.0) for d in range(4)]
    builder = make_builder(part_power=10, layout=layout)
    builder.rebalance(seed=5)
    for devs in replicas_of(builder):
        regions = tier_counts(builder, devs, "region")
        assert set(regions) == {1, 2}


def test_a_device_never_holds_two_replicas(cluster_3x4: RingBuilder) -> None:
    cluster_3x4.rebalance(seed=2)
    for devs in replicas_of(cluster_3x4):
        assert len(set(devs)) == len(devs)


def test_too_few_devices_is_refused() -> None:
    builder = make_builder(layout=grid(1, 1, 1, 2))
    with pytest.raises(RebalanceError, match="at least 3 devices"):
        builder.rebalance()


def test_adding_one_device_to_ten_moves_only_its_share() -> None:
    builder = make_builder(part_power=12, layout=grid(1, 5, 1, 2))
    builder.rebalance(seed=1)
    before = replicas_of(builder)
    builder.add_dev(1, 6, "10.1.6.1", 6200, "d0", 100.0)
    builder.pretend_min_part_hours_passed()
    result = builder.rebalance(seed=2)
    after = replicas_of(builder)
    moved_replicas = sum(len(set(b) - set(a)) for a, b in zip(after, before))
    share = 3 * builder.partitions / 11
    assert moved_replicas <= share * 1.01
    assert result.parts_moved <= share * 1.01
    assert parts_per_device(builder)[10] == pytest.approx(share, rel=0.01)
    assert builder.get_balance() < 1.0
    assert_max_per_tier(builder, "zone", 1)


def test_removing_a_device_drains_it_and_forgets_it() -> None:
    builder = make_builder(part_power=10, layout=grid(1, 4, 1, 2))
    builder.rebalance(seed=1)
    builder.remove_dev(3)
    builder.pretend_min_part_hours_passed()
    result = builder.rebalance(seed=1)
    assert [dev.id for dev in result.removed_devices] == [3]
    assert builder.devs[3] is None
    assert 3 not in builder.parts_per_device()
    assert builder.get_balance() < 1.0
    assert_max_per_tier(builder, "device", 1)


def test_changing_a_weight_moves_partitions_toward_it() -> None:
    builder = make_builder(part_power=12, min_part_hours=0, layout=grid(1, 4, 1, 2))
    builder.rebalance(seed=1)
    builder.set_dev_weight(0, 200.0)
    builder.rebalance(seed=1)
    counts = parts_per_device(builder)
    assert counts[0] == pytest.approx(2 * counts[1], rel=0.02)
    assert builder.get_balance() < 1.0


def test_min_part_hours_moves_one_replica_per_partition() -> None:
    builder = make_builder(part_power=10, min_part_hours=1, layout=grid(1, 3, 2, 1))
    builder.rebalance(seed=1)
    before = replicas_of(builder)
    # three new zones take half of everything; within min_part_hours nothing moves
    for zone in (4, 5, 6):
        builder.add_dev(1, zone, f"10.1.{zone}.1", 6200, "d0", 100.0)
    result = builder.rebalance(seed=1)
    assert result.parts_moved == 0
    assert result.held_back
    builder.pretend_min_part_hours_passed()
    result = builder.rebalance(seed=1)
    after = replicas_of(builder)
    assert result.held_back  # half the data cannot move in one step
    for old, new in zip(before, after):
        assert len(set(old) - set(new)) <= 1
    # later, the rest may move
    builder.pretend_min_part_hours_passed()
    builder.rebalance(seed=1)
    assert builder.get_balance() < 3.0


def test_same_seed_same_ring_and_different_seed_different_ring() -> None:
    tables = []
    for seed in (11, 11, 12):
        builder = make_builder(part_power=10, layout=grid(2, 2, 2, 2))
        builder.rebalance(seed=seed)
        assert builder.table is not None
        tables.append([row.tobytes() for row in builder.table])
    assert tables[0] == tables[1]
    assert tables[0] != tables[2]


def test_partners_of_a_device_spread_over_the_cluster() -> None:
    # when a disk dies, its partitions' other replicas must be on many disks
    builder = make_builder(part_power=14, layout=grid(1, 4, 5, 2))
    builder.rebalance(seed=4)
    partners = {d for devs in replicas_of(builder) if 0 in devs for d in devs if d != 0}
    others_outside_zone = [d for d in builder.live_devs() if d.zone != builder.dev(0).zone]
    assert len(partners) == len(others_outside_zone)


@pytest.mark.parametrize("replicas, layout", [(3, grid(1, 3, 2, 2)), (3, grid(1, 4, 1, 1)),
                                               (2.5, grid(1, 5, 1, 1))])
def test_every_replica_row_spreads_over_every_device(replicas: float, layout: list) -> None:
    """Replica 0 (the first node asked, an EC fragment's index) is not
    crowded onto a few devices: each row holds every device's fair share
    of that row, give or take the deal's randomness."""
    builder = make_builder(part_power=12, replicas=replicas, layout=layout)
    builder.rebalance(seed=5)
    assert builder.table is not None
    devices = len(builder.live_devs())
    # with a fractional row, devices holding its partitions hold fewer of
    # the others: the full rows are less even
    tolerance = 0.2 if replicas == int(replicas) else 0.35
    for row in builder.table:
        counts = Counter(row)
        if len(row) < builder.partitions:  # the fractional row
            assert len(counts) >= 3
            continue
        fair = len(row) / devices
        assert len(counts) == devices
        assert max(abs(count - fair) for count in counts.values()) < tolerance * fair


def test_fractional_replicas() -> None:
    builder = make_builder(part_power=10, replicas=2.5, layout=grid(1, 3, 1, 2))
    builder.rebalance(seed=1)
    assert builder.table is not None
    assert [len(row) for row in builder.table] == [1024, 1024, 512]
    assert sum(parts_per_device(builder).values()) == 2560
    assert builder.get_balance() < 1.0
    assert_max_per_tier(builder, "zone", 1)
    builder.validate()


def test_raising_the_replica_count_adds_a_replica_without_moving_others() -> None:
    builder = make_builder(part_power=10, replicas=2, layout=grid(1, 4, 1, 2))
    builder.rebalance(seed=1)
    before = replicas_of(builder)
    builder.set_replicas(3)
    builder.pretend_min_part_hours_passed()
    builder.rebalance(seed=1)
    after = replicas_of(builder)
    assert all(len(devs) == 3 for devs in after)
    kept = sum(len(set(a) & set(b)) for a, b in zip(after, before))
    assert kept == 2 * builder.partitions
    assert_max_per_tier(builder, "zone", 1)
    assert builder.get_balance() < 1.0


def test_a_device_heavier_than_a_replica_is_capped_and_explained() -> None:
    from ring.reports import balance_notes

    layout = [(1, 1, 1, 0, 1000.0), (1, 2, 1, 0, 10.0), (1, 3, 1, 0, 10.0), (1, 4, 1, 0, 10.0)]
    builder = make_builder(part_power=8, layout=layout)
    builder.rebalance(seed=1)
    assert parts_per_device(builder)[0] == builder.partitions  # one replica of everything
    notes = " ".join(balance_notes(builder))
    assert "more than one replica" in notes


def test_overload_trades_balance_for_dispersion() -> None:
    # zone 1 weighs 4x each other zone: weights alone keep 2 replicas in zone 1
    layout = [(1, 1, s, 0, 100.0) for s in range(1, 5)] + [(1, z, 1, 0, 100.0) for z in (2, 3)]
    builder = make_builder(part_power=10, layout=layout)
    builder.rebalance(seed=1)
    assert builder.dispersion > 0
    builder.set_overload(1.0)
    builder.pretend_min_part_hours_passed()
    builder.rebalance(seed=1)
    builder.pretend_min_part_hours_passed()
    builder.rebalance(seed=1)
    assert builder.dispersion == 0.0
    assert_max_per_tier(builder, "zone", 1)
