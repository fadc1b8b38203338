"""Pacing: at most ``rate`` units of work per second, on average.

A daemon that walks a whole disk must not starve the servers sharing it,
so it calls ``consume(n)`` after each piece of work (an object checked,
a megabyte read) and is put to sleep when it runs ahead of its rate. A
short burst is allowed (``burst`` seconds' worth of units), so the pace
is smooth over seconds, not enforced unit by unit. The sleep is an
interruptible wait, so a daemon told to stop stops at once.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


class RateLimiter:
    """Sleeps the caller so that work goes at ``rate`` units per second;
    ``rate`` 0 means no limit."""

    def __init__(self, rate: float, sleep: Callable[[float], Any] = time.sleep,
                 clock: Callable[[], float] = time.monotonic, burst: float = 1.0) -> None:
        self.rate = rate
        self.sleep = sleep
        self.clock = clock
        self.burst = burst
        self._due = clock()  # when the work done so far is paid for

    def consume(self, amount: float = 1) -> None:
        if self.rate <= 0 or amount <= 0:
            return
        now = self.clock()
        # Idle time earns at most ``burst`` seconds of credit.
        self._due = max(self._due, now - self.burst) + amount / self.rate
        ahead = self._due - now
        if ahead > 0:
            self.sleep(ahead)
