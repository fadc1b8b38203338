"""Which storage nodes a request tries, and in what order.

``node_iter`` yields a partition's primaries in ring order, then its
handoffs (the ring's ranking: new regions, then zones, then servers), up
to ``request_node_count`` nodes in all. A node that keeps failing is
skipped for a while (error limiting), so one dead disk does not cost
every request a timeout:

* every failure (connection refused, timeout, 5xx) counts one error;
* ``suppression_limit`` errors with no more than ``suppression_interval``
  seconds between them put the node aside for ``suppression_interval``
  seconds from its last error;
* some answers put it aside at once (``limit``): 507, a full or missing
  device, says nothing will change soon.

A primary put aside is replaced by the next handoff, so a write still
reaches as many nodes as there are replicas.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator

from ring.devices import Device
from ring.ring import Ring


@dataclasses.dataclass
class _Errors:
    count: int = 0
    last: float = 0.0
    limited_until: float = 0.0


class ErrorLimiter:
    """Errors per node (ip, port, device), shared by a worker's requests."""

    def __init__(self, suppression_limit: int = 10, suppression_interval: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.suppression_limit = suppression_limit
        self.suppression_interval = suppression_interval
        self.clock = clock
        self._errors: dict[tuple[str, int, str], _Errors] = {}

    @staticmethod
    def _key(node: Device) -> tuple[str, int, str]:
        return (node.ip, node.port, node.device)

    def error(self, node: Device) -> None:
        now = self.clock()
        entry = self._errors.setdefault(self._key(node), _Errors())
        if now - entry.last > self.suppression_interval:
            entry.count = 0  # the old errors were too long ago to count
        entry.count += 1
        entry.last = now
        if entry.count >= self.suppression_limit:
            entry.limited_until = now + self.suppression_interval

    def limit(self, node: Device) -> None:
        """Put a node aside at once (it said 507)."""
        now = self.clock()
        entry = self._errors.setdefault(self._key(node), _Errors())
        entry.count, entry.last = self.suppression_limit, now
        entry.limited_until = now + self.suppression_interval

    def is_limited(self, node: Device) -> bool:
        entry = self._errors.get(self._key(node))
        return entry is not None and self.clock() < entry.limited_until


def node_iter(ring: Ring, part: int, limiter: ErrorLimiter,
              request_node_count: int | None = None, spread: bool = False) -> Iterator[Device]:
    """Nodes to try for a partition: primaries, then handoffs, skipping the
    error-limited, at most ``request_node_count`` (default 2 x replicas).

    ``spread`` (reads): the primaries from the partition's own starting
    one, round the ring order. A builder fills replica 0 mostly from the
    first devices (three quarters of the partitions on one device in a
    4-device ring), so reads in plain ring order would all land on one
    server; a start fixed per partition spreads them evenly and still
    sends each object's reads to the same replica, whose page cache has
    it."""
    primaries = ring.get_part_nodes(part)
    if spread and primaries:
        start = part % len(primaries)
        primaries = primaries[start:] + primaries[:start]
    budget = request_node_count if request_node_count is not None else 2 * len(primaries)
    for node in primaries:
        if budget <= 0:
            return
        if not limiter.is_limited(node):
            budget -= 1
            yield node
    for node in ring.get_more_nodes(part):
        if budget <= 0:
            return
        if not limiter.is_limited(node):
            budget -= 1
            yield node
