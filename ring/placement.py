"""Placement: which device holds each replica of each partition.

Invariants (tested in tests/unit/ring/test_placement.py):

1. Dispersion: a partition never has more replicas in a tier node than
   the plan's ``max_replicas`` (regions first, then zones, then servers,
   then devices, where a device holds at most one replica), unless
   ``min_part_hours`` pins a replica that would have to move.
2. Balance: every device ends with its ``quota`` of partition-replicas,
   again unless ``min_part_hours`` holds replicas back.
3. min_part_hours: a rebalance moves at most one replica of a partition,
   and none of a partition moved within the last ``min_part_hours``.
4. Minimal movement: only replicas on devices above quota, on drained
   devices, or breaking dispersion are moved, and no more of them than
   that needs.
5. Determinism: the same builder state and seed give the same table.

How:

* First placement *deals* the slots. All partition-replicas are listed
  layer by layer (each replica row in one shared random partition
  order) and each child of the root takes a contiguous run as long as its
  quota; each child then re-layers what it got (partitions holding more
  of its replicas first, in a fresh random order) and deals to its own
  children, down to devices. A run no longer than a layer holds each
  partition at most once, so every node holds ``floor`` or ``ceil`` of
  its target of each partition: balanced and dispersed at once, in time
  linear in the number of slots. Then each partition's replicas are
  rotated across the rows (``_mixed_rows``), so that no row is left to
  the first nodes of every tier.
* A later rebalance *gathers* the replicas that must move (invariant 4),
  then fills each hole top-down with the neediest child (quota minus
  assigned) that the partition's dispersion still allows.
* A last pass checks every partition and repairs what the first two left.
"""
from __future__ import annotations

import array
import collections
import itertools
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Final

from ring.plan import ROOT, ReplicaPlan, TierTree

NO_DEVICE: Final = 0xFFFF  # an empty slot in a replica row

Table = list["array.array[int]"]


def row_lengths(replicas: float, partitions: int) -> list[int]:
    """Length of every replica row: full rows, then any fractional one."""
    whole = int(replicas)
    rest = round((replicas - whole) * partitions)
    return [partitions] * whole + ([rest] if rest else [])


def rows_problem(table: Table, partitions: int) -> str | None:
    """What is wrong with the shape of a table, or None: every row but the
    last must hold every partition; the last may be shorter, not empty."""
    if not table:
        return "no replica rows"
    if any(len(row) != partitions for row in table[:-1]):
        return f"replica rows must hold {partitions} partitions each"
    if not 0 < len(table[-1]) <= partitions:
        return f"the last replica row must hold 1 to {partitions} partitions"
    return None


def deal(plan: ReplicaPlan, lengths: list[int], part_power: int, rng: random.Random) -> Table:
    """A first placement for empty rows (see the module docstring).

    Slots are coded ``row << part_power | partition``, which is also their
    index in one flat table, split into rows at the end."""
    tree = plan.tree
    partitions = 1 << part_power
    mask = partitions - 1
    shortest = min(lengths)
    order = list(range(shortest))
    rest = list(range(shortest, partitions))
    rng.shuffle(order)
    rng.shuffle(rest)
    order += rest
    items: list[int] = []
    for row, length in enumerate(lengths):
        items.extend(map((row << part_power).__or__, order[:length]))
    flat = array.array("H", [NO_DEVICE]) * (len(lengths) << part_power)
    # (node, its slots in layered order, the length of each layer)
    stack = [(ROOT, items, lengths)]
    while stack:
        node, items, layers = stack.pop()
        kids = tree.children[node]
        if not kids:
            collections.deque(map(flat.__setitem__, items, itertools.repeat(tree.device_of[node])), 0)
            continue
        if len(kids) == 1:
            stack.append((kids[0], items, layers))
            continue
        start = 0
        for kid in kids:
            share = items[start:start + plan.quota[kid]]
            if tree.children[kid]:
                stack.append((kid, *_relayer(share, start, layers, mask, rng)))
            else:
                stack.append((kid, share, [len(share)]))
            start += plan.quota[kid]
    return _mixed_rows([flat[row << part_power:(row << part_power) + length]
                        for row, length in enumerate(lengths)], partitions)


def _mixed_rows(table: Table, partitions: int) -> Table:
    """The same devices for every partition, each replica row mixed from
    all of them. Dealt layer by layer, row 0 falls to the first nodes of
    every tier (on 12 devices in 3 zones, 4 devices held all of replica
    0), so whatever goes by replica index (the first node a reader asks,
    which container replica an object server tells, an EC fragment's
    index) would crowd onto a few devices. Partition p's replicas are
    rotated by p mod the number of rows that hold it instead: the deal's
    order is random, so each row gets an even share of every device."""
    mixed = [array.array("H", row) for row in table]
    shortest = min(map(len, table))
    _rotate(mixed, table, list(range(len(table))), 0, shortest)
    full = [number for number, row in enumerate(table) if len(row) == partitions]
    _rotate(mixed, table, full, shortest, partitions)
    return mixed


def _rotate(mixed: Table, table: Table, rows: list[int], start: int, stop: int) -> None:
    """For partitions [start, stop), which all ``rows`` hold: row i of
    ``mixed`` takes row (i + p mod n) of ``table``, n rows."""
    count = len(rows)
    for shift in range(1, count):
        first = start + (shift - start) % count  # the first p >= start with p mod n == shift
        for number, row in enumerate(rows):
            source = rows[(number + shift) % count]
            mixed[row][first:stop:count] = table[source][first:stop:count]


# Below the root, runs of this many slots keep their order when a node
# re-shuffles: partners of a device still spread over the cluster (a
# device holds thousands of runs) at a sixteenth of the cost.
_RUN: Final = 16


def _relayer(items: list[int], start: int, layers: list[int], mask: int,
             rng: random.Random) -> tuple[list[int], list[int]]:
    """A share of a layered list, itself layered: one copy of each
    partition per layer, partitions with more copies first, in a fresh
    random order. Returns the items and their layer lengths."""
    boundary = 0
    for length in layers:
        boundary += length
        if start < boundary:
            break
    within_one_layer = start + len(items) <= boundary
    if within_one_layer or len(set(map(mask.__and__, items))) == len(items):
        offset = rng.randrange(_RUN)
        starts = list(range(offset, len(items), _RUN))
        rng.shuffle(starts)
        shuffled = items[:offset]
        for first in starts:
            shuffled += items[first:first + _RUN]
        return shuffled, [len(items)]
    copies: dict[int, list[int]] = {}
    for code in items:
        copies.setdefault(code & mask, []).append(code)
    by_count: dict[int, list[int]] = {}
    for part, codes in copies.items():
        by_count.setdefault(len(codes), []).append(part)
    order: list[int] = []
    for count in sorted(by_count, reverse=True):
        rng.shuffle(by_count[count])
        order.extend(by_count[count])
    layered: list[int] = []
    layer_lengths: list[int] = []
    for layer in range(len(copies[order[0]])):
        before = len(layered)
        for part in order:
            if len(copies[part]) <= layer:
                break
            layered.append(copies[part][layer])
        layer_lengths.append(len(layered) - before)
    return layered, layer_lengths


def crowded_partitions(table: Table, tree: TierTree, max_replicas: Sequence[int]) -> list[int]:
    """Partitions that may hold more replicas in a tier node than its
    ``max_replicas`` allows (a superset: callers count to be sure).

    Levels are checked top-down until one where every node allows one
    replica: distinct nodes there imply distinct nodes below."""
    if not table:
        return []
    full = [row for row in table if len(row) == len(table[0])]
    suspects: set[int] = set()
    for level in range(4):
        nodes = tree.nodes_at(level)
        allowed = [max_replicas[n] for n in nodes]
        if allowed and min(allowed) >= len(table):
            continue  # no node of this level can be crowded
        node_at = [-1 - dev for dev in range(NO_DEVICE + 1)]
        for dev, path in tree.path.items():
            node_at[dev] = path[level]
        mapped = [list(map(node_at.__getitem__, row)) for row in full]
        suspects.update(_repeats(mapped))
        if allowed and max(allowed) == 1:
            break
    for row in table:
        if len(row) != len(table[0]):
            suspects.update(range(len(row)))  # partial rows: check them all
    return sorted(suspects)


def _repeats(rows: list[list[int]]) -> list[int]:
    """Positions where some value appears in two of the rows."""
    if len(rows) == 1:
        return []
    if len(rows) == 2:
        return [p for p, (a, b) in enumerate(zip(*rows)) if a == b]
    if len(rows) == 3:
        return [p for p, (a, b, c) in enumerate(zip(*rows)) if a == b or a == c or b == c]
    width = len(rows)
    return [p for p, ids in enumerate(zip(*rows)) if len(set(ids)) != width]


class Placer:
    """Moves replicas in an existing table toward the plan, minimally."""

    def __init__(self, plan: ReplicaPlan, table: Table, movable: Callable[[int], bool],
                 rng: random.Random, one_move_per_part: bool = True) -> None:
        self.plan = plan
        self.tree: TierTree = plan.tree
        self.table = table
        self.movable = movable
        self.rng = rng
        self.moved: set[int] = set()
        # with min_part_hours 0 a partition may move several replicas at once
        self.once = one_move_per_part
        self.held_back = 0  # replicas that should move but min_part_hours pins
        self.assigned = [0] * len(self.tree)
        self.holes: list[tuple[int, int]] = []
        held: Counter[int] = Counter()
        for row in table:
            held.update(row)
        self.held = held  # slots per device id (NO_DEVICE: empty) at the start
        for dev, count in held.items():
            for node in self.tree.path.get(dev, ()):
                self.assigned[node] += count

    # -- gathering ---------------------------------------------------------

    def _lift(self, row: int, part: int) -> None:
        dev = self.table[row][part]
        path = self.tree.path.get(dev)
        if path:
            for node in path:
                self.assigned[node] -= 1
        self.table[row][part] = NO_DEVICE
        self.holes.append((row, part))
        self.moved.add(part)

    def _may_move(self, part: int) -> bool:
        if part not in self.moved and self.movable(part):
            return True
        self.held_back += 1
        return False

    def _free(self, part: int) -> bool:
        return (not self.once or part not in self.moved) and self.movable(part)

    def _slots_of(self, dev: int) -> Iterator[tuple[int, int]]:
        """Every (row, partition) holding ``dev``, from a random starting
        point onward and round; the scanning runs in C (array.index)."""
        first = self.rng.randrange(len(self.table))
        offset = self.rng.randrange(len(self.table[first]))
        rows = len(self.table)
        segments = [(first, offset, len(self.table[first]))]
        segments += [((first + k) % rows, 0, len(self.table[(first + k) % rows]))
                     for k in range(1, rows)]
        segments.append((first, 0, offset))
        for row_index, low, high in segments:
            row = self.table[row_index]
            pos = low
            while pos < high:
                try:
                    pos = row.index(dev, pos, high)
                except ValueError:
                    break
                yield row_index, pos
                pos += 1

    def gather_empty(self) -> None:
        """Empty slots (new replica rows) are holes; nothing moves for them."""
        if self.held.get(NO_DEVICE):
            for row_index, part in self._slots_of(NO_DEVICE):
                self.holes.append((row_index, part))
                self.moved.add(part)

    def gather_unplaceable(self) -> None:
        """Replicas on devices outside the plan: removed or weight zero."""
        for dev in sorted(self.held):
            if dev != NO_DEVICE and dev not in self.tree.path:
                for row_index, part in self._slots_of(dev):
                    if self._may_move(part):
                        self._lift(row_index, part)

    def gather_undispersed(self) -> None:
        """One replica from each partition that breaks ``max_replicas``."""
        for part in crowded_partitions(self.table, self.tree, self.plan.max_replicas):
            over = self._worst_replica(part)
            if over is not None and self._may_move(part):
                self._lift(over, part)

    def _worst_replica(self, part: int) -> int | None:
        """The row of a replica that breaks dispersion, or None."""
        rows = [r for r, row in enumerate(self.table) if part < len(row) and row[part] != NO_DEVICE]
        paths = [self.tree.path.get(self.table[r][part]) for r in rows]
        counts: dict[int, int] = {}
        for path in paths:
            for node in path or ():
                counts[node] = counts.get(node, 0) + 1
        max_replicas = self.plan.max_replicas
        worst = None
        worst_key: tuple[int, int] | None = None
        for r, path in zip(rows, paths):
            if not path:
                continue
            # deepest offending tier first, then the fullest device
            offending = [level for level, node in enumerate(path) if counts[node] > max_replicas[node]]
            if not offending:
                continue
            leaf = path[3]
            key = (max(offending), self.assigned[leaf] - self.plan.quota[leaf])
            if worst_key is None or key > worst_key:
                worst, worst_key = r, key
        return worst

    def gather_overfull(self) -> None:
        """Replicas above each device's quota, from random partitions.

        One walk over the partitions from a random point: a partition with
        a replica on a device above quota gives up that replica, first
        where a device below quota can take it as it is (anything else
        would push a replica elsewhere in turn), the rest at the end."""
        quota, assigned, tree = self.plan.quota, self.assigned, self.tree
        excess = {
            dev: assigned[leaf] - quota[leaf]
            for dev, leaf in tree.node_of_device.items()
            if assigned[leaf] > quota[leaf]
        }
        if not excess:
            return
        under = [d for d, leaf in tree.node_of_device.items() if quota[leaf] > assigned[leaf]]
        fallback: dict[int, list[tuple[int, int]]] = {dev: [] for dev in excess}
        partitions = len(self.table[0])
        offset = self.rng.randrange(partitions)
        rows = list(enumerate(self.table))
        for step in range(partitions):
            if not excess:
                break
            part = (offset + step) % partitions
            held = [row[part] for _, row in rows if part < len(row)]
            if not excess.keys() & held or part in self.moved or not self.movable(part):
                continue
            for row_index, dev in enumerate(held):
                if dev not in excess:
                    continue
                if under and self._legal_target(part, held, dev, under) is None:
                    if len(fallback[dev]) < excess[dev]:
                        fallback[dev].append((row_index, part))
                    continue
                self._lift(row_index, part)
                excess[dev] -= 1
                if not excess[dev]:
                    del excess[dev]
                break
        for dev, remaining in sorted(excess.items()):
            for row_index, part in fallback[dev]:
                if remaining and part not in self.moved:
                    self._lift(row_index, part)
                    remaining -= 1
            self.held_back += remaining

    # -- filling -----------------------------------------------------------

    def fill(self, holes: Iterable[tuple[int, int]] | None = None) -> None:
        """Put every hole on the neediest device dispersion allows."""
        todo = list(self.holes if holes is None else holes)
        self.holes = []
        self.rng.shuffle(todo)
        for row, part in todo:
            self._place(row, part)

    def pull_to_underfull(self) -> None:
        """Move replicas from tier nodes above quota straight to nodes below
        it, level by level from regions down to devices, for partitions
        where the move keeps dispersion. Gathering lifts random partitions,
        and some can only land where they were."""
        tree, quota, assigned = self.tree, self.plan.quota, self.assigned
        partitions = len(self.table[0])
        for level in range(4):
            under = [n for n in tree.nodes_at(level) if quota[n] > assigned[n]]
            offset = self.rng.randrange(partitions)
            candidates = self._neediest_devices(under)
            for step in range(partitions):
                if not under:
                    break
                part = (offset + step) % partitions
                if self._free(part) and self._pull_one(part, level, candidates):
                    under = [n for n in under if quota[n] > assigned[n]]
                    candidates = self._neediest_devices(under)
            self.held_back += sum(quota[n] - assigned[n] for n in under)

    def _neediest_devices(self, nodes: list[int]) -> list[int]:
        tree, quota, assigned = self.tree, self.plan.quota, self.assigned
        devices = [d for node in nodes for d in self._devices_below(node)]
        return sorted(devices, key=lambda d: (assigned[tree.node_of_device[d]]
                                              - quota[tree.node_of_device[d]], d))

    def _pull_one(self, part: int, level: int, candidates: list[int]) -> bool:
        """Move one replica of ``part`` from an over-quota node of ``level``
        to the first candidate device dispersion allows; True if moved."""
        tree, quota, assigned = self.tree, self.plan.quota, self.assigned
        rows = [r for r, row in enumerate(self.table) if part < len(row)]
        held = [self.table[r][part] for r in rows]
        for row, dev in zip(rows, held):
            path = tree.path.get(dev)
            if path is None or quota[path[level]] >= assigned[path[level]]:
                continue
            target = self._legal_target(part, held, dev, candidates)
            if target is not None:
                self._move(row, part, dev, target)
                return True
        return False

    def _devices_below(self, node: int) -> list[int]:
        if not self.tree.children[node]:
            return [self.tree.device_of[node]]
        return [d for kid in self.tree.children[node] for d in self._devices_below(kid)]

    def _legal_target(self, part: int, held: list[int], leaving: int,
                      candidates: list[int]) -> int | None:
        counts: dict[int, int] = {}
        for dev in held:
            if dev != leaving:
                for node in self.tree.path.get(dev, ()):
                    counts[node] = counts.get(node, 0) + 1
        max_replicas = self.plan.max_replicas
        for dev in candidates:
            if dev in held:
                continue
            if all(counts.get(node, 0) < max_replicas[node] for node in self.tree.path[dev]):
                return dev
        return None

    def _move(self, row: int, part: int, source: int, target: int) -> None:
        for node in self.tree.path[source]:
            self.assigned[node] -= 1
        for node in self.tree.path[target]:
            self.assigned[node] += 1
        self.table[row][part] = target
        self.moved.add(part)

    def _place(self, row: int, part: int) -> None:
        tree, plan, assigned = self.tree, self.plan, self.assigned
        held = [r[part] for r in self.table if part < len(r) and r[part] != NO_DEVICE]
        counts: dict[int, int] = {}
        for dev in held:
            for node in tree.path.get(dev, ()):
                counts[node] = counts.get(node, 0) + 1
        node = ROOT
        while tree.children[node]:
            best, best_key = -1, None
            for kid in tree.children[node]:
                here = counts.get(kid, 0)
                if here >= tree.device_count[kid]:
                    continue  # every device below already holds this partition
                need = plan.quota[kid] - assigned[kid]
                key = (here < plan.max_replicas[kid], need > 0, -here, need)
                if best_key is None or key > best_key:
                    best, best_key = kid, key
            if best < 0:
                raise AssertionError("no free device; the builder checks device counts first")
            node = best
        dev = tree.device_of[node]
        self.table[row][part] = dev
        for node in tree.path[dev]:
            assigned[node] += 1
        self.moved.add(part)
