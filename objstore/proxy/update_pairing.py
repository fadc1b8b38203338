"""Which container replica each object server tells about a write.

Every container replica must hear of every write, so a write's object
servers and the container's replicas are paired one to one (when the
counts differ, pairs wrap around; when a write cannot reach all its
replicas, the proxy names every container replica to each object server
instead, objects.py). Which pairing is free, and it decides
how container updates batch: an object server sends the updates for
one container replica together, one request for all those that meet in
flight (obj/update_batches.py). Paired by replica index, an object server
of a busy container talks to all of its replicas, a few updates to each;
paired by *affinity*, it talks mostly to one, and its updates meet in
fewer, bigger requests. Measured at 16 small PUTs in flight into one
container (doc/performance.md): 40% fewer container requests.

Affinity is a fixed score per (object server, container replica) from
their addresses, which ranks each server's replicas from its favourite
down; of all the one-to-one pairings (up to EXHAUSTIVE replicas) the one
with the fewest rank points wins, so as many servers as can get their
favourite. The result depends only on the addresses, never on replica
order, so every proxy pairs a write the same way.
"""
from __future__ import annotations

import itertools
import zlib
from collections.abc import Sequence

from ring.devices import Device

EXHAUSTIVE = 5  # up to this many replicas every pairing is scored (120 of them)


def pairing(object_nodes: Sequence[Device], container_nodes: Sequence[Device]) -> list[int]:
    """For each object slot (in ``object_nodes``' order), the index of
    the container replica it tells. Kept per device ids: a ring that
    changed an address since gives a pairing less sticky, never wrong
    (any one-to-one pairing tells every replica)."""
    key = (tuple(node.id for node in object_nodes), tuple(node.id for node in container_nodes))
    found = _known.get(key)
    if found is None:
        if len(_known) >= KNOWN_LIMIT:
            _known.clear()
        found = _known[key] = tuple(_pair(object_nodes, container_nodes))
    return list(found)


_known: dict[tuple[tuple[int, ...], tuple[int, ...]], tuple[int, ...]] = {}
KNOWN_LIMIT = 65536  # pairings kept (a few MB at most)


def _pair(object_nodes: Sequence[Device], container_nodes: Sequence[Device]) -> list[int]:
    count = len(container_nodes)
    if count == 0:
        return []
    servers = [f"{node.ip}:{node.port}" for node in object_nodes]
    replicas = [f"{node.ip}:{node.port}/{node.device}" for node in container_nodes]
    # each server's replicas from its favourite (rank 0) down
    ranks = []
    for server in servers:
        order = sorted(range(count), key=lambda index: -_affinity(server, replicas[index]))
        ranks.append({index: rank for rank, index in enumerate(order)})
    slots = len(object_nodes)
    in_order = sorted(range(slots), key=servers.__getitem__)  # whatever the replica order
    chosen = [0] * slots
    if slots == count and count <= EXHAUSTIVE:
        # the pairing that gives the most servers their favourites (the
        # fewest rank points in all); ties go to the first in address order
        best = min(itertools.permutations(range(count)),
                   key=lambda pick: sum(ranks[slot][replica]
                                        for slot, replica in zip(in_order, pick)))
        for slot, replica in zip(in_order, best):
            chosen[slot] = replica
        return chosen
    free: list[int] = []
    for slot in in_order:
        if not free:
            free = list(range(count))
        best = min(free, key=ranks[slot].__getitem__)
        chosen[slot] = best
        free.remove(best)
    return chosen


def _affinity(server: str, replica: str) -> int:
    return zlib.crc32(f"{server}>{replica}".encode())
