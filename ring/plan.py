"""The replica plan: how many replicas of each partition every tier should hold.

The cluster is a tree of tiers: root, regions, zones, servers (ip:port),
devices. Every tier node gets a *target*: the average number of replicas
of a partition it should hold. Targets are worked out top-down:

* A node's target is shared among its children in proportion to weight
  (the *weighted* plan), water-filled against capacity: a child cannot
  hold more replicas of one partition than it has devices, because a
  device never holds two replicas of one partition.
* The *dispersed* plan shares a target evenly among children instead,
  ignoring weight: the most a tier can spread replicas.
* ``overload`` lets a child take up to ``1 + overload`` times its
  weighted share to move toward the dispersed plan; its siblings above
  their dispersed share give up the difference. With overload 0 (the
  default) weight wins, as in Swift.

From the targets come two integer budgets used by placement:

* ``max_replicas[node]``: the most replicas of one partition the node may
  hold, ``ceil(target)``. Placement never exceeds it where it can help
  it, which makes every partition as dispersed as the plan allows.
* ``quota[node]``: how many partition-replicas the node holds in all,
  apportioned top-down with largest remainders so that children always
  sum to their parent exactly.

``ideal_max[node]`` is ``ceil`` of the dispersed plan alone: the yardstick
for the dispersion report, which counts partitions that exceed it.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Final

from ring.devices import Device

EPSILON: Final = 1e-9
LEVELS: Final = ("region", "zone", "server", "device")
ROOT: Final = 0


class TierTree:
    """Tier nodes as flat arrays; node 0 is the root of the cluster."""

    def __init__(self, devices: Iterable[Device]) -> None:
        self.level: list[int] = [-1]
        self.parent: list[int] = [-1]
        self.children: list[list[int]] = [[]]
        self.name: list[str] = ["cluster"]
        self.weight: list[float] = [0.0]
        self.device_count: list[int] = [0]
        self.device_of: dict[int, int] = {}      # leaf node -> device id
        self.node_of_device: dict[int, int] = {}  # device id -> leaf node
        self.path: dict[int, tuple[int, int, int, int]] = {}  # device id -> nodes
        index: dict[tuple[object, ...], int] = {}
        for dev in sorted(devices, key=lambda d: (d.region, d.zone, d.ip, d.port, d.id)):
            keys: tuple[tuple[object, ...], ...] = (
                (dev.region,),
                (dev.region, dev.zone),
                (dev.region, dev.zone, dev.ip, dev.port),
                (dev.region, dev.zone, dev.ip, dev.port, dev.id),
            )
            names = (f"r{dev.region}", f"r{dev.region}z{dev.zone}",
                     f"r{dev.region}z{dev.zone}-{dev.server}", dev.describe())
            parent = ROOT
            nodes = []
            for level, (key, name) in enumerate(zip(keys, names)):
                node = index.get(key)
                if node is None:
                    node = self._add(level, parent, name)
                    index[key] = node
                self.weight[node] += dev.weight
                self.device_count[node] += 1
                nodes.append(node)
                parent = node
            self.weight[ROOT] += dev.weight
            self.device_count[ROOT] += 1
            self.device_of[nodes[3]] = dev.id
            self.node_of_device[dev.id] = nodes[3]
            self.path[dev.id] = (nodes[0], nodes[1], nodes[2], nodes[3])

    def _add(self, level: int, parent: int, name: str) -> int:
        node = len(self.level)
        self.level.append(level)
        self.parent.append(parent)
        self.children.append([])
        self.name.append(name)
        self.weight.append(0.0)
        self.device_count.append(0)
        self.children[parent].append(node)
        return node

    def __len__(self) -> int:
        return len(self.level)

    def split_down(self, total: float, split: Callable[[list[int], float], list[float]]
                   ) -> list[float]:
        """Values for every node, top-down: the root holds ``total`` and
        each node's value is shared among its children by ``split``."""
        values = [0.0] * len(self)
        values[ROOT] = total
        stack = [ROOT]
        while stack:
            node = stack.pop()
            kids = self.children[node]
            if kids:
                for kid, value in zip(kids, split(kids, values[node])):
                    values[kid] = value
                stack.extend(kids)
        return values

    def nodes_at(self, level: int) -> list[int]:
        return [node for node, lvl in enumerate(self.level) if lvl == level]


def water_fill(total: float, shares: Sequence[float], caps: Sequence[float]) -> list[float]:
    """Split ``total`` in proportion to ``shares``, no part above its cap."""
    result = [0.0] * len(shares)
    active = [i for i, share in enumerate(shares) if share > 0]
    remaining = total
    while active and remaining > EPSILON:
        share_sum = sum(shares[i] for i in active)
        capped = [i for i in active if remaining * shares[i] / share_sum >= caps[i] - EPSILON]
        if not capped:
            for i in active:
                result[i] = remaining * shares[i] / share_sum
            break
        for i in capped:
            result[i] = float(caps[i])
            remaining -= caps[i]
        active = [i for i in active if i not in capped]
    return result


class ReplicaPlan:
    """Targets, per-partition maxima and quotas for every tier node."""

    def __init__(self, tree: TierTree, replicas: float, overload: float, slots: int,
                 partitions: int) -> None:
        self.tree = tree
        self.replicas = replicas
        self.overload = overload
        self.weighted = self._targets(replicas, overload=0.0, even=False)
        self.dispersed = self._targets(replicas, overload=0.0, even=True)
        self.target = (
            self.weighted if overload <= 0
            else self._targets(replicas, overload=overload, even=False)
        )
        self.max_replicas = [math.ceil(t - EPSILON) for t in self.target]
        self.ideal_max = [math.ceil(t - EPSILON) for t in self.dispersed]
        self.quota = self._apportion(slots, partitions)

    def _targets(self, replicas: float, overload: float, even: bool) -> list[float]:
        tree = self.tree

        def split(kids: list[int], total: float) -> list[float]:
            caps = [float(tree.device_count[k]) for k in kids]
            if even:
                return water_fill(total, [1.0 if tree.weight[k] > 0 else 0.0 for k in kids], caps)
            weighted = water_fill(total, [tree.weight[k] for k in kids], caps)
            if overload > 0:
                return self._overloaded(kids, weighted, caps, overload)
            return weighted

        return tree.split_down(min(replicas, float(tree.device_count[ROOT])), split)

    def _overloaded(self, kids: list[int], weighted: list[float],
                    caps: list[float], overload: float) -> list[float]:
        """Move a weighted split toward the even one, each child capped at
        ``1 + overload`` times its cluster-wide weighted target."""
        tree = self.tree
        even = water_fill(sum(weighted), [1.0 if tree.weight[k] > 0 else 0.0 for k in kids], caps)
        limits = [self.weighted[k] * (1.0 + overload) for k in kids]
        raise_by = [max(0.0, min(e, lim) - w) for w, e, lim in zip(weighted, even, limits)]
        excess = [max(0.0, w - e) for w, e in zip(weighted, even)]
        total_raise, total_excess = sum(raise_by), sum(excess)
        if total_raise <= EPSILON or total_excess <= EPSILON:
            return weighted
        give = min(total_raise, total_excess)
        return [
            w + r * give / total_raise - x * give / total_excess
            for w, r, x in zip(weighted, raise_by, excess)
        ]

    def _apportion(self, slots: int, partitions: int) -> list[int]:
        """Integer partition-replica counts per node, exact at every level."""
        tree = self.tree

        def split(kids: list[int], total: float) -> list[float]:
            wanted = [self.target[k] for k in kids]
            scale = total / sum(wanted) if sum(wanted) > 0 else 0.0
            exact = [w * scale for w in wanted]
            caps = [tree.device_count[k] * partitions for k in kids]
            counts = [min(int(e), c) for e, c in zip(exact, caps)]
            short = int(total) - sum(counts)
            # largest remainders first, one each, until the parent is whole
            order = sorted(range(len(kids)), key=lambda i: (counts[i] - exact[i], i))
            while short > 0:
                progressed = False
                for i in order:
                    if short and counts[i] < caps[i]:
                        counts[i] += 1
                        short -= 1
                        progressed = True
                if not progressed:
                    break
            return [float(c) for c in counts]

        return [int(q) for q in tree.split_down(float(slots), split)]
