"""What an operator reads about a builder: dispersion and balance.

Dispersion measures placement against the most dispersed plan the tiers
allow, ignoring weights (``ReplicaPlan.ideal_max``): a partition counts as
undispersed when some region, zone, server or device holds more of its
replicas than that. With balanced tiers a good ring shows 0%. When
weights make perfect dispersion impossible, dispersion rises, and
``balance_notes`` explains it and how overload trades balance for it.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ring.placement import crowded_partitions
from ring.plan import EPSILON, LEVELS, ReplicaPlan

if TYPE_CHECKING:
    from ring.builder import RingBuilder


@dataclasses.dataclass
class TierDispersion:
    name: str
    level: str
    parts: int                  # partition-replicas held in this node
    max_replicas: int           # the most the tiers allow per partition
    histogram: list[int]        # partitions holding 0, 1, 2 ... replicas here

    @property
    def undispersed(self) -> int:
        return sum(self.histogram[self.max_replicas + 1:])


@dataclasses.dataclass
class DispersionReport:
    percent: float                       # partitions undispersed anywhere
    undispersed_parts: int
    per_level: dict[str, int]            # partitions undispersed at each level
    tiers: list[TierDispersion]


def dispersion_report(builder: RingBuilder, verbose: bool = False) -> DispersionReport:
    """Count partitions whose replicas crowd a tier node; per node if verbose."""
    plan = builder.plan()
    tree = plan.tree
    table = builder.table or []
    replica_rows = len(table)
    level_of = tree.level
    ideal = plan.ideal_max
    paths = tree.path
    bad_parts = 0
    per_level = dict.fromkeys(LEVELS, 0)
    histogram: dict[int, Counter[int]] = {}
    full = [row for row in table if len(row) == len(table[0])] if table else []
    short = [row for row in table if table and len(row) != len(table[0])]
    parts_to_count: Iterable[int] = (
        range(len(full[0]) if full else 0) if verbose
        else crowded_partitions(table, tree, ideal)
    )
    for part in parts_to_count:
        ids = tuple(row[part] for row in full) + tuple(row[part] for row in short if part < len(row))
        nodes: Counter[int] = Counter()
        for dev_id in ids:
            nodes.update(paths.get(dev_id, ()))
        if verbose:
            for node, count in nodes.items():
                histogram.setdefault(node, Counter())[count] += 1
        bad_levels = {level_of[n] for n, c in nodes.items() if c > ideal[n]}
        if bad_levels:
            bad_parts += 1
            for level in bad_levels:
                per_level[LEVELS[level]] += 1
    partitions = len(table[0]) if table else 0
    tiers = []
    if verbose:
        for node in range(1, len(tree)):
            counts = histogram.get(node, Counter())
            hist = [0] * (replica_rows + 1)
            for count, parts in counts.items():
                hist[min(count, replica_rows)] += parts
            hist[0] = partitions - sum(hist[1:])
            tiers.append(TierDispersion(
                name=tree.name[node], level=LEVELS[level_of[node]],
                parts=sum(count * parts for count, parts in counts.items()),
                max_replicas=ideal[node], histogram=hist,
            ))
    percent = 100.0 * bad_parts / partitions if partitions else 0.0
    return DispersionReport(percent, bad_parts, per_level, tiers)


def balance_notes(builder: RingBuilder) -> list[str]:
    """Why balance or dispersion is not what the operator might expect."""
    notes: list[str] = []
    weighted = builder.weighted_devs()
    if not weighted or builder.table is None:
        return notes
    plan = builder.plan()
    _capped_devices(builder, plan, notes)
    _weights_limit_dispersion(builder, plan, notes)
    per_device = sum(plan.quota[plan.tree.node_of_device[d.id]] for d in weighted) / len(weighted)
    if per_device and 100.0 / per_device > 1.0:
        notes.append(
            f"about {per_device:.0f} partition-replicas per device: one partition is "
            f"{100.0 / per_device:.1f}% of a device, so balance cannot get within 1%; "
            "a larger part power would allow it"
        )
    drained = [d for d in builder.live_devs() if d.id in builder.removing]
    if drained:
        names = ", ".join(f"d{d.id}" for d in drained[:5])
        notes.append(f"devices being removed still hold partitions ({names}); "
                     "rebalance again once min_part_hours has passed")
    if builder.overload > 0:
        notes.append(f"overload {builder.overload:.2%} lets devices take more than their "
                     "weight share to improve dispersion")
    return notes


def _capped_devices(builder: RingBuilder, plan: ReplicaPlan, notes: list[str]) -> None:
    tree = plan.tree
    total = tree.weight[0]
    capped = [d for d in builder.weighted_devs()
              if builder.replicas * d.weight / total > 1.0 + EPSILON]
    if capped:
        names = ", ".join(f"d{d.id}" for d in capped[:5])
        notes.append(
            f"{len(capped)} device(s) ({names}) weigh more than one replica of every partition; "
            "a device holds at most one replica of a partition, so they stay below their share"
        )


def _weights_limit_dispersion(builder: RingBuilder, plan: ReplicaPlan, notes: list[str]) -> None:
    crowded = [n for n in range(1, len(plan.tree)) if plan.max_replicas[n] > plan.ideal_max[n]]
    if not crowded:
        return
    first = plan.tree.name[crowded[0]]
    worst = max(
        (plan.dispersed[n] / plan.weighted[n] - 1.0 for n in range(1, len(plan.tree))
         if plan.weighted[n] > EPSILON),
        default=0.0,
    )
    notes.append(
        f"weights keep replicas from being fully dispersed (e.g. {first} must hold up to "
        f"{plan.max_replicas[crowded[0]]} replicas of a partition); an overload of about "
        f"{max(worst, 0.0):.0%} would let placement disperse them"
    )

