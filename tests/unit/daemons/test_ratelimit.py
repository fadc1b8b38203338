"""Pacing work: sleeps only when ahead of the rate, with a short burst allowed."""
from __future__ import annotations

from objstore.daemons.ratelimit import RateLimiter


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def test_work_goes_at_the_rate_after_a_burst_of_one_second() -> None:
    time = FakeTime()
    limiter = RateLimiter(10, sleep=time.sleep, clock=time.clock)
    time.now += 5  # idle for a while: only one second of credit builds up
    for _ in range(10):
        limiter.consume(1)
    assert time.slept == []  # the burst
    for _ in range(20):
        limiter.consume(1)
    assert round(sum(time.slept), 6) == 2.0  # 20 more units at 10 a second
    assert max(time.slept) <= 0.1 + 1e-9  # in small steps, not one long stall


def test_large_units_and_no_limit() -> None:
    time = FakeTime()
    limiter = RateLimiter(1_000_000, sleep=time.sleep, clock=time.clock, burst=0)
    limiter.consume(3_000_000)
    assert time.slept == [3.0]
    unlimited = RateLimiter(0, sleep=time.sleep, clock=time.clock)
    unlimited.consume(10**12)
    assert time.slept == [3.0]


def test_slow_work_never_sleeps() -> None:
    time = FakeTime()
    limiter = RateLimiter(10, sleep=time.sleep, clock=time.clock)
    for _ in range(50):
        time.now += 0.2  # each unit takes longer than the rate allows anyway
        limiter.consume(1)
    assert time.slept == []
