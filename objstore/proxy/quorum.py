"""Quorum: how many replicas must agree, and what the client is told.

A write goes to every replica at once and succeeds when a quorum, a
majority (2 of 3, 3 of 5), stored it. The client's status comes from
the replicas' answers: the first class (2xx, then 3xx, then 4xx) that a
quorum of the replicas answered, taking the answer most of that class
gave (ties: the lower status); when no class reaches a quorum, 503:
the cluster could not agree, and the client should retry. A replica that
could not be reached counts as a 5xx.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence


def quorum_size(replicas: int) -> int:
    """A majority of ``replicas``."""
    return replicas // 2 + 1


def best_status(statuses: Sequence[int], replicas: int) -> int:
    """What the client sees of the replicas' answers (see the module doc)."""
    needed = quorum_size(replicas)
    for low in (200, 300, 400):
        in_class = [s for s in statuses if low <= s < low + 100]
        if len(in_class) >= needed:
            counts = Counter(in_class)
            return min(counts, key=lambda status: (-counts[status], status))
    return 503
