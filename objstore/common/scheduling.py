"""How Linux schedules a server's threads (the ``scheduling`` option).

``batch`` (the default) puts a worker under SCHED_BATCH before it starts
any thread, so its disk threads inherit it; a daemon's pass, likewise,
so that background work never preempts a server. A batch thread that wakes
never preempts the thread running on its CPU; it waits for that one to
block or use up its time slice. That suits servers whose threads wake
many times a request for nothing urgent: a disk thread in one fsync
sleeps and wakes once per disk write the kernel waits for (eight for a
small object with new directories), and each wake-up under the normal
policy preempts whatever runs, often the one thread holding a worker's
interpreter lock, which the others then queue behind. Measured at 16
small PUTs in flight: a fifth less CPU a PUT, a quarter more PUTs a
second, lower latency too (doc/performance.md). A lone request sees no
difference: an idle CPU runs a woken thread at once under either policy.

``normal`` leaves the default policy (SCHED_OTHER). Neither needs
privileges; where the call is refused (a sandbox) or missing (not
Linux), the server says so once in its log and runs as it is.
"""
from __future__ import annotations

import logging
import os

POLICIES = ("batch", "normal")


def apply(policy: str, logger: logging.Logger) -> None:
    """Put the calling thread (and the threads it starts from now on)
    under ``policy``, one of POLICIES."""
    if policy not in POLICIES:
        raise ValueError(f"unknown scheduling policy {policy!r}")
    try:
        number = os.SCHED_BATCH if policy == "batch" else os.SCHED_OTHER
        os.sched_setscheduler(0, number, os.sched_param(0))
    except (AttributeError, OSError) as err:
        if policy not in _refused:  # a daemon applies it every pass: say it once
            _refused.add(policy)
            logger.warning("scheduling = %s not applied: %s", policy, err)


_refused: set[str] = set()  # policies this process was refused
