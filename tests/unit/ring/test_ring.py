"""Ring lookups: primaries from the table, handoffs, reloading."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from ring.builder import RingBuilder
from ring.hashing import PathHasher
from ring.ring import Ring

from .conftest import grid, make_builder

HASHER = PathHasher("pre", "suf")


@pytest.fixture
def ring_path(tmp_path: Path) -> str:
    builder = make_builder(part_power=8, layout=grid(2, 3, 2, 2))
    builder.rebalance(seed=1)
    path = str(tmp_path / "object.ring.gz")
    builder.get_ring().save(path)
    return path


def test_get_nodes_reads_the_table(ring_path: str) -> None:
    ring = Ring(ring_path, hasher=HASHER)
    part, nodes = ring.get_nodes("AUTH_a", "c", "o")
    assert part == ring.get_part("AUTH_a", "c", "o")
    assert 0 <= part < 256
    assert len(nodes) == 3 and len({n.id for n in nodes}) == 3
    assert nodes == ring.get_part_nodes(part)


def test_handoffs_never_repeat_a_primary_and_cover_every_device(ring_path: str) -> None:
    ring = Ring(ring_path, hasher=HASHER)
    for part in range(0, 256, 17):
        primaries = {dev.id for dev in ring.get_part_nodes(part)}
        handoffs = [dev.id for dev in ring.get_more_nodes(part)]
        assert not primaries & set(handoffs)
        assert len(handoffs) == len(set(handoffs))
        assert primaries | set(handoffs) == {d.id for d in ring.devs if d}


def test_handoffs_prefer_new_regions_then_zones_then_servers(tmp_path: Path) -> None:
    # three regions of two zones: primaries use 3 regions, so the first
    # handoffs must come from zones the primaries do not use
    builder = make_builder(part_power=8, layout=grid(3, 2, 2, 2))
    builder.rebalance(seed=1)
    path = str(tmp_path / "r.ring.gz")
    builder.get_ring().save(path)
    ring = Ring(path, hasher=HASHER)
    for part in range(0, 256, 11):
        primaries = ring.get_part_nodes(part)
        handoffs = list(ring.get_more_nodes(part))
        used_zones = {(d.region, d.zone) for d in primaries}
        first_three = handoffs[:3]
        assert all((d.region, d.zone) not in used_zones for d in first_three)
        assert len({(d.region, d.zone) for d in first_three}) == 3
        used_servers = {d.server for d in primaries + first_three}
        next_six = handoffs[3:9]
        assert all(d.server not in used_servers for d in next_six)


def test_handoffs_spread_a_failed_devices_load(ring_path: str) -> None:
    ring = Ring(ring_path, hasher=HASHER)
    first_handoffs = {next(ring.get_more_nodes(part)).id
                      for part in range(256) if 0 in {d.id for d in ring.get_part_nodes(part)}}
    assert len(first_handoffs) >= 8  # not one unlucky neighbour


def test_handoff_order_is_stable(ring_path: str) -> None:
    first = [d.id for d in Ring(ring_path).get_more_nodes(42)]
    assert first == [d.id for d in Ring(ring_path).get_more_nodes(42)]


def test_zero_weight_devices_are_never_handoffs(tmp_path: Path) -> None:
    builder = make_builder(part_power=6, layout=grid(1, 4, 1, 1))
    builder.rebalance(seed=1)
    builder.set_dev_weight(3, 0.0)
    path = str(tmp_path / "r.ring.gz")
    builder.get_ring().save(path)
    ring = Ring(path)
    for part in range(64):
        assert 3 not in [d.id for d in ring.get_more_nodes(part)]


def _rewrite(builder: RingBuilder, path: str) -> None:
    builder.get_ring().save(path)
    # make the change visible even on filesystems with coarse timestamps
    stamp = time.time() + 5
    os.utime(path, (stamp, stamp))


def test_reloads_when_the_file_changes(ring_path: str, tmp_path: Path) -> None:
    ring = Ring(ring_path, reload_time=0, hasher=HASHER)
    assert len([d for d in ring.devs if d]) == 24
    builder = make_builder(part_power=8, layout=grid(1, 3, 1, 1))
    builder.rebalance(seed=1)
    _rewrite(builder, ring_path)
    assert len([d for d in ring.devs if d]) == 3


def test_waits_reload_time_before_looking(ring_path: str) -> None:
    ring = Ring(ring_path, reload_time=3600, hasher=HASHER)
    builder = make_builder(part_power=8, layout=grid(1, 3, 1, 1))
    builder.rebalance(seed=1)
    _rewrite(builder, ring_path)
    assert len([d for d in ring.devs if d]) == 24


def test_a_corrupt_replacement_keeps_the_loaded_ring(
        ring_path: str, caplog: pytest.LogCaptureFixture) -> None:
    ring = Ring(ring_path, reload_time=0, hasher=HASHER)
    before = ring.get_nodes("a", "c", "o")
    Path(ring_path).write_bytes(b"garbage")
    assert ring.get_nodes("a", "c", "o") == before
    assert "not reloaded" in caplog.text
