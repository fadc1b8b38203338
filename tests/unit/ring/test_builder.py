"""Builder operations an operator performs, and the errors they get."""
from __future__ import annotations

import pytest

from ring.builder import RingBuilder
from ring.exceptions import BuilderError, DeviceStringError

from .conftest import grid, make_builder


@pytest.mark.parametrize("args", [(0, 3, 1), (25, 3, 1), (33, 3, 1), (10, 0.5, 1), (10, 3, -1)])
def test_impossible_builders_are_refused(args: tuple[int, float, int]) -> None:
    with pytest.raises(BuilderError, match="out of range"):
        RingBuilder(*args)


def test_device_ids_fill_gaps() -> None:
    builder = make_builder(layout=grid(1, 4, 1, 1))
    builder.remove_dev(1)
    builder.rebalance(seed=1)  # d1 never held anything: it is forgotten at once
    assert builder.devs[1] is None
    assert builder.add_dev(1, 5, "10.0.0.9", 6200, "sdb", 1.0) == 1


def test_duplicate_devices_are_refused() -> None:
    builder = make_builder(layout=grid(1, 1, 1, 1))
    with pytest.raises(BuilderError, match="already exists as d0"):
        builder.add_dev(2, 2, "10.1.1.1", 6200, "d0", 1.0)


@pytest.mark.parametrize(("field", "value", "error"), [
    ("weight", -1.0, BuilderError), ("port", 0, DeviceStringError),
    ("ip", "not an ip!", DeviceStringError), ("device", "a/b", BuilderError),
    ("zone", -1, BuilderError),
])
def test_bad_device_fields(field: str, value: object, error: type[Exception]) -> None:
    fields: dict[str, object] = {"region": 1, "zone": 1, "ip": "10.0.0.1", "port": 6200,
                                 "device": "sdb", "weight": 1.0}
    fields[field] = value
    with pytest.raises(error):
        RingBuilder(8, 3, 1).add_dev(**fields)  # type: ignore[arg-type]


def test_set_info_changes_address_and_refuses_collisions() -> None:
    builder = make_builder(layout=grid(1, 2, 1, 1))
    builder.set_dev_info(0, ip="10.9.9.9", port=6300, replication_ip="::1", meta="moved")
    dev = builder.dev(0)
    assert (dev.ip, dev.port, dev.replication_ip, dev.meta) == ("10.9.9.9", 6300, "::1", "moved")
    with pytest.raises(BuilderError, match="already exists"):
        builder.set_dev_info(1, ip="10.9.9.9", port=6300, device="d0")
    with pytest.raises(BuilderError, match="cannot change"):
        builder.set_dev_info(1, zone=3)


def test_weight_of_a_removed_device_stays_zero() -> None:
    builder = make_builder(layout=grid(1, 3, 1, 1))
    builder.remove_dev(2)
    with pytest.raises(BuilderError, match="being removed"):
        builder.set_dev_weight(2, 5.0)


def test_removing_before_any_rebalance_forgets_at_once() -> None:
    builder = make_builder(layout=grid(1, 4, 1, 1))
    builder.remove_dev(0)
    result = builder.rebalance(seed=1)
    assert [d.id for d in result.removed_devices] == [0]


def test_validate_catches_a_damaged_table() -> None:
    builder = make_builder(part_power=6, layout=grid(1, 3, 1, 1))
    with pytest.raises(BuilderError, match="never been rebalanced"):
        builder.validate()
    builder.rebalance(seed=1)
    builder.validate()
    assert builder.table is not None
    builder.table[1][5] = builder.table[0][5]
    with pytest.raises(BuilderError, match="two replicas on one device"):
        builder.validate()
    builder.table[1][5] = 77
    with pytest.raises(BuilderError, match="unknown device"):
        builder.validate()


def test_no_ring_before_the_first_rebalance() -> None:
    with pytest.raises(BuilderError, match="never been rebalanced"):
        make_builder(layout=grid(1, 3, 1, 1)).get_ring()


def test_ring_version_follows_the_builder() -> None:
    builder = make_builder(layout=grid(1, 3, 1, 1))
    builder.rebalance(seed=1)
    assert builder.get_ring().version == builder.version
    before = builder.version
    builder.set_dev_info(0, meta="x")
    assert builder.get_ring().version == before + 1


def test_rebalance_result_unpacks_like_swifts() -> None:
    builder = make_builder(part_power=6, layout=grid(1, 3, 1, 1))
    moved, balance, removed = builder.rebalance(seed=1)
    assert (moved, removed) == (64, [])
    assert balance < 1.0
