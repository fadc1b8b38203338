"""ratelimit: writes per second per account and per container, as Swift's.

    [filter:ratelimit]
    account_ratelimit = 5              container PUTs and DELETEs in one account
    container_ratelimit_100 = 100      object PUTs, POSTs and DELETEs in a container
    container_ratelimit_1000 = 20        of that many objects (interpolated)
    container_listing_ratelimit_0 = 50 container GETs (listings), by the same sizes
    max_sleep_time_seconds = 60

* A request over its rate is held (a sleep) until its turn; one that
  would wait ``max_sleep_time_seconds`` or more is refused at once with
  498 ``Slow down``. Accounts in ``account_blacklist`` get 497 for every
  request; those in ``account_whitelist`` are never limited.
* Container rates depend on the container's object count: below the
  smallest size given there is no limit, between two sizes the rate is
  interpolated linearly, past the largest it is the largest's rate. The
  count is the one the proxy caches (``recheck_existence`` seconds, as
  Swift's comes from its container info cache).
* The pace (Swift's, in its words "the rate counter can drop and be
  allowed to catch up"): each account or container has a clock, the time
  its next request may go, advanced ``1/rate`` by each request. A clock
  behind now lets requests through at once while it catches up, but one
  more than ``rate_buffer_seconds`` behind is set to now: a quiet spell
  earns no burst beyond that.
* **Per worker.** Swift keeps the clocks in memcache, shared by every
  proxy; here each proxy worker keeps its own, so a client spread over N
  workers (or proxies) may write N times the configured rate. Set the
  rates for one worker: the cluster's is per worker x workers.
* ``GET /info`` lists ``ratelimit``. Placed before the auth filter, as in
  Swift, so a flood is slowed before it costs token checks; after bulk,
  so each object of a bulk request counts.
"""
from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from objstore.common import concurrency
from objstore.common.config import ConfigError, build, option
from objstore.common.http import WSGIApp
from objstore.proxy.middleware.copy import call
from objstore.proxy.middleware.signed_urls import info_with, is_info, split_v1, \
    subrequest_environ
from objstore.proxy.pipeline import CACHED_FACTS, split_options

SECTION: Final = "filter:ratelimit"
SOURCE: Final = "RL"  # Swift's name for this filter's subrequests
WRITES: Final = ("PUT", "POST", "DELETE")
# A wait this close to max_sleep_time_seconds is refused too (Swift's margin).
MARGIN: Final = 0.01
_SIZED: Final = re.compile(r"(container_ratelimit|container_listing_ratelimit)_(\d+)")
MAX_CLOCKS: Final = 100_000  # idle clocks are dropped past this many
# Seconds a container's count read here is kept, where the proxy's cached
# facts are not at hand (its recheck_existence default).
SIZE_CACHE_TIME: Final = 60.0


@dataclasses.dataclass(frozen=True)
class RateLimitConfig:
    account_ratelimit: float = option(
        0.0, "container PUTs and DELETEs per second in one account (0: no limit)", minimum=0)
    max_sleep_time_seconds: float = option(
        60.0, "the longest a request is held; one that would wait longer gets 498",
        minimum=0.1)
    log_sleep_time_seconds: float = option(
        0.0, "log every wait longer than this (0: none)", minimum=0)
    rate_buffer_seconds: float = option(
        5.0, "seconds a rate may fall behind and catch up faster than the rate", minimum=0)
    account_whitelist: list[str] = option([], "accounts never limited")
    account_blacklist: list[str] = option([], "accounts refused every request (497)")


@dataclasses.dataclass(frozen=True)
class SizedRates:
    """(object count, requests per second) points, by count."""

    points: tuple[tuple[int, float], ...] = ()

    def rate(self, count: int) -> float | None:
        """The rate for a container of ``count`` objects; None: no limit."""
        points = self.points
        if not points or count < points[0][0]:
            return None
        for (low, low_rate), (high, high_rate) in zip(points, points[1:]):
            if low <= count < high:
                return low_rate + (high_rate - low_rate) * (count - low) / (high - low)
        return points[-1][1]


def parse_sized(options: Mapping[str, str], name: str) -> SizedRates:
    """The ``<name>_<size> = <rate>`` options; ValueError for a bad rate."""
    points = []
    for key, value in options.items():
        match = _SIZED.fullmatch(key.lower())
        if match is None or match.group(1) != name:
            continue
        try:
            rate = float(value)
        except ValueError:
            raise ValueError(f"{key} = {value!r}: not a number") from None
        if not rate > 0 or rate == float("inf"):
            raise ValueError(f"{key} = {value!r}: must be a positive number")
        points.append((int(match.group(2)), rate))
    return SizedRates(tuple(sorted(points)))


def load_config(options: Mapping[str, str], source: str = "proxy config"
                ) -> tuple[RateLimitConfig, SizedRates, SizedRates, list[str]]:
    """The typed options, the container and listing rates, and warnings."""
    own, shared, section = split_options(options, SECTION)

    def plain(values: Mapping[str, str]) -> dict[str, str]:
        return {k: v for k, v in values.items() if not _SIZED.fullmatch(k.lower())}
    try:
        conf, warnings = build(RateLimitConfig, plain(own), shared=plain(shared),
                               source=source, section=section)
    except ConfigError as err:
        raise ValueError(str(err).removeprefix(f"{source} [{section}]").lstrip(": ")) from None
    return (conf, parse_sized(own, "container_ratelimit"),
            parse_sized(own, "container_listing_ratelimit"), warnings)


class TooFast(Exception):
    """A request that would wait ``wait`` seconds, past the longest allowed."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"would wait {wait:.2f}s")
        self.wait = wait


class Clocks:
    """Each key's next free time, in this process (see the module doc)."""

    def __init__(self, buffer: float, max_wait: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.buffer, self.max_wait, self.clock = buffer, max_wait, clock
        self._next: dict[str, float] = {}

    def reserve(self, key: str, rate: float) -> float:
        """Seconds the request must wait for its turn; TooFast (its turn
        not taken) when that is ``max_wait`` or more."""
        now = self.clock()
        interval = 1.0 / rate
        due = self._next.get(key, now)
        if now - due > self.buffer:
            due = now  # quiet long enough: no credit for the gap
        wait = max(due - now, 0.0)
        if wait >= self.max_wait - MARGIN:
            raise TooFast(wait)
        self._next[key] = due + interval
        if len(self._next) > MAX_CLOCKS:
            self._forget_idle(now)
        return wait

    def _forget_idle(self, now: float) -> None:
        # a clock this far behind would be set to now anyway
        idle = [key for key, due in self._next.items() if now - due > self.buffer]
        for key in idle:
            del self._next[key]


def count_of(headers: Mapping[str, str]) -> int | None:
    text = (headers.get("x-container-object-count") or "").strip()
    return int(text) if text.isdigit() else None


class ContainerSizes:
    """Containers' object counts: the proxy's cached facts of the container
    (``CACHED_FACTS``, kept ``recheck_existence``), else read through the
    app below and kept ``cache_time`` here."""

    def __init__(self, app: WSGIApp, cache_time: float, logger: logging.Logger,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app, self.cache_time, self.logger, self.clock = app, cache_time, logger, clock
        self._counts: dict[tuple[str, str], tuple[float, int | None]] = {}

    def count(self, environ: Mapping[str, Any], account: str, container: str) -> int | None:
        """The container's object count; None if it does not exist or
        cannot be read (then it is not limited)."""
        cached = environ.get(CACHED_FACTS)
        if cached is not None:
            facts = cached(environ, f"/v1/{account}/{container}")
            return None if facts is None else count_of(facts)
        key = (account, container)
        now = self.clock()
        kept = self._counts.get(key)
        if kept is not None and now - kept[0] < self.cache_time:
            return kept[1]
        answer = call(self.app, subrequest_environ(environ, "HEAD",
                                                   f"/v1/{account}/{container}", SOURCE))
        answer.close()
        found = count_of({k.lower(): v for k, v in answer.headers}) \
            if 200 <= answer.code < 300 else None
        if answer.code >= 500:
            self.logger.warning("ratelimit: the size of /%s/%s is unknown (%s); not limited",
                                account, container, answer.status)
        if len(self._counts) > MAX_CLOCKS:
            self._counts.clear()  # a crude bound; counts are cheap to read again
        self._counts[key] = (now, found)
        return found


def limited_response(status: str, body: str) -> Callable[..., Iterable[bytes]]:
    data = body.encode() + b"\n"

    def respond(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                                ("Content-Length", str(len(data)))])
        return [data]
    return respond


class RateLimit:
    """The WSGI filter (see the module docstring)."""

    def __init__(self, app: WSGIApp, conf: RateLimitConfig, container_rates: SizedRates,
                 listing_rates: SizedRates, logger: logging.Logger,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Any] = concurrency.sleep) -> None:
        self.app, self.conf, self.logger, self.sleep = app, conf, logger, sleep
        self.container_rates, self.listing_rates = container_rates, listing_rates
        self.clocks = Clocks(conf.rate_buffer_seconds, conf.max_sleep_time_seconds, clock)
        self.sizes = ContainerSizes(app, SIZE_CACHE_TIME, logger, clock)
        self.whitelist = frozenset(conf.account_whitelist)
        self.blacklist = frozenset(conf.account_blacklist)
        self.info = {"account_ratelimit": conf.account_ratelimit,
                     "max_sleep_time_seconds": conf.max_sleep_time_seconds,
                     "container_ratelimits": [list(p) for p in container_rates.points],
                     "container_listing_ratelimits": [list(p) for p in listing_rates.points]}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        if is_info(environ):
            return info_with(self.app, environ, start_response, "ratelimit", self.info)
        path = split_v1(environ.get("PATH_INFO", ""))
        if path is None:
            return self.app(environ, start_response)
        account = path[0]
        if account in self.blacklist:
            self.logger.warning("ratelimit: 497 for blacklisted account %s", account)
            return limited_response("497 Blacklisted", "Your account has been blacklisted")(
                environ, start_response)
        if account in self.whitelist:
            return self.app(environ, start_response)
        limit = self.limit_of(environ, path)
        if limit is not None:
            key, rate = limit
            try:
                wait = self.clocks.reserve(key, rate)
            except TooFast as err:
                self.logger.warning("ratelimit: 498 for %s %s: %s (%s/s)",
                                    environ.get("REQUEST_METHOD"), key, err, f"{rate:g}")
                return limited_response("498 Rate Limited", "Slow down")(environ,
                                                                         start_response)
            if self.conf.log_sleep_time_seconds and wait > self.conf.log_sleep_time_seconds:
                self.logger.info("ratelimit: %s held %.3fs for %s", environ.get("REQUEST_METHOD"),
                                 wait, key)
            if wait > 0:
                self.sleep(wait)
        return self.app(environ, start_response)

    def limit_of(self, environ: Mapping[str, Any], path: tuple[str, str | None, str | None]
                 ) -> tuple[str, float] | None:
        """(clock key, rate) that holds for the request, None if none does."""
        method = environ.get("REQUEST_METHOD")
        account, container, obj = path
        if container is None:
            return None
        if obj is None:
            if method in ("PUT", "DELETE") and self.conf.account_ratelimit > 0:
                return f"account/{account}", self.conf.account_ratelimit
            if method == "GET":
                return self.sized(environ, account, container, self.listing_rates, "listing")
            return None
        if method in WRITES:
            return self.sized(environ, account, container, self.container_rates, "container")
        return None

    def sized(self, environ: Mapping[str, Any], account: str, container: str,
              rates: SizedRates, kind: str) -> tuple[str, float] | None:
        if not rates.points:
            return None
        count = self.sizes.count(environ, account, container)
        rate = None if count is None else rates.rate(count)
        return None if rate is None else (f"{kind}/{account}/{container}", rate)


def filter_factory(options: Mapping[str, str], logger: logging.Logger,
                   source: str = "proxy config") -> Callable[[WSGIApp], RateLimit]:
    """The pipeline's way in: options of ``[filter:ratelimit]`` from ``source``."""
    conf, container_rates, listing_rates, warnings = load_config(options, source or
                                                                 "proxy config")
    for warning in warnings:
        logger.warning(warning)
    return lambda app: RateLimit(app, conf, container_rates, listing_rates, logger)
