"""ratelimit with a fake clock: the rates by container size, the pace and
its buffer, 498 past the longest wait, 497 and the white list, which
requests count, where the container's size comes from, and /info."""
from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from objstore.proxy.middleware.ratelimit import (
    Clocks, RateLimit, SizedRates, TooFast, filter_factory, load_config, parse_sized,
)
from objstore.proxy.pipeline import CACHED_FACTS

LOG = logging.getLogger("test.ratelimit")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


# -- the rates ---------------------------------------------------------------------

def test_sizes_interpolate_as_swift_documents() -> None:
    rates = SizedRates(((100, 100.0), (200, 50.0), (500, 20.0)))
    assert [rates.rate(n) for n in (0, 99, 100, 150, 200, 350, 500, 1000, 10 ** 9)] == \
        [None, None, 100.0, 75.0, 50.0, 35.0, 20.0, 20.0, 20.0]
    assert SizedRates().rate(5) is None
    assert SizedRates(((0, 3.0),)).rate(0) == 3.0


def test_sized_options_are_parsed_and_checked() -> None:
    options = {"container_ratelimit_500": "20", "CONTAINER_RATELIMIT_100": "100",
               "container_listing_ratelimit_0": "7.5", "account_ratelimit": "3"}
    assert parse_sized(options, "container_ratelimit").points == ((100, 100.0), (500, 20.0))
    assert parse_sized(options, "container_listing_ratelimit").points == ((0, 7.5),)
    for bad in ("0", "-1", "fast", "inf"):
        with pytest.raises(ValueError, match="container_ratelimit_10"):
            parse_sized({"container_ratelimit_10": bad}, "container_ratelimit")


def test_config_loads_with_warnings_for_unknown_options() -> None:
    conf, rates, listing, warnings = load_config(
        {"account_ratelimit": "2", "container_ratelimit_0": "5", "account_whitelist": "a, b",
         "clock_accuracy": "1000"})
    assert conf.account_ratelimit == 2 and conf.account_whitelist == ["a", "b"]
    assert rates.points == ((0, 5.0),) and listing.points == ()
    assert len(warnings) == 1 and "clock_accuracy" in warnings[0]
    with pytest.raises(ValueError, match="max_sleep_time_seconds"):
        load_config({"max_sleep_time_seconds": "0"})
    with pytest.raises(ValueError, match="account_ratelimit"):
        filter_factory({"account_ratelimit": "-2"}, LOG)


# -- the pace ------------------------------------------------------------------------

def test_a_burst_waits_its_turn_then_is_refused() -> None:
    clock = Clock()
    clocks = Clocks(buffer=5, max_wait=2, clock=clock)
    # rate 2/s: turns every 0.5 s; waits of 2 s or more are refused
    assert [clocks.reserve("k", 2) for _ in range(4)] == [0, 0.5, 1.0, 1.5]
    with pytest.raises(TooFast) as caught:
        clocks.reserve("k", 2)
    assert caught.value.wait == pytest.approx(2.0)
    # a refused request does not take a turn: the next one waits as it would have
    with pytest.raises(TooFast):
        clocks.reserve("k", 2)
    clock.now += 0.5
    assert clocks.reserve("k", 2) == pytest.approx(1.5)
    # keys are apart
    assert clocks.reserve("other", 2) == 0


def test_a_client_at_the_rate_never_waits() -> None:
    clock = Clock()
    clocks = Clocks(buffer=5, max_wait=60, clock=clock)
    for _ in range(50):
        assert clocks.reserve("k", 10) == 0
        clock.now += 0.1


def test_the_buffer_lets_a_slow_rate_catch_up_but_no_more() -> None:
    clock = Clock()
    clocks = Clocks(buffer=5, max_wait=60, clock=clock)
    clocks.reserve("k", 1)  # next turn at +1
    clock.now += 4  # 3 s behind: within the buffer, 4 quick requests pass
    assert [clocks.reserve("k", 1) for _ in range(5)] == [0, 0, 0, 0, 1.0]
    clock.now += 60  # far behind: the clock restarts at now, no burst earned
    assert [clocks.reserve("k", 1) for _ in range(3)] == [0, 1.0, 2.0]


def test_idle_clocks_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    import objstore.proxy.middleware.ratelimit as ratelimit
    monkeypatch.setattr(ratelimit, "MAX_CLOCKS", 10)
    clock = Clock()
    clocks = Clocks(buffer=1, max_wait=60, clock=clock)
    for index in range(10):
        clocks.reserve(f"old{index}", 100)
    clock.now += 10
    clocks.reserve("new", 100)
    clocks.reserve("newer", 100)
    assert set(clocks._next) == {"new", "newer"}


# -- the filter --------------------------------------------------------------------

class FakeProxy:
    """Containers with object counts; every other request answered 204."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.seen: list[tuple[str, str]] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        self.seen.append((method, path))
        if path == "/info":
            body = json.dumps({"swift": {}}).encode()
            start_response("200 OK", [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(body)))])
            return [body]
        if method == "HEAD" and path.count("/") == 3:
            name = path.rsplit("/", 1)[1]
            if name not in self.counts:
                start_response("404 Not Found", [("Content-Length", "0")])
                return [b""]
            start_response("204 No Content", [("X-Container-Object-Count",
                                               str(self.counts[name]))])
            return [b""]
        start_response("204 No Content", [("Content-Length", "0")])
        return [b""]


class Client:
    def __init__(self, **options: str) -> None:
        self.clock = Clock()
        self.proxy = FakeProxy()
        conf, rates, listing, _ = load_config(options)
        self.app = RateLimit(self.proxy, conf, rates, listing, LOG, clock=self.clock,
                             sleep=self.clock.sleep)

    def __call__(self, method: str, path: str, **environ: Any) -> tuple[str, bytes]:
        started: list[str] = []
        env = {"REQUEST_METHOD": method, "PATH_INFO": path, "wsgi.input": io.BytesIO(),
               **environ}
        body = b"".join(self.app(env, lambda s, h, e=None: started.append(s)))
        return started[0], body

    def burst(self, method: str, path: str, count: int, **environ: Any) -> list[str]:
        """``count`` requests at one moment (the clock moves only by sleeps,
        which are undone: as if each came in parallel)."""
        statuses = []
        for _ in range(count):
            before = self.clock.now
            statuses.append(self(method, path, **environ)[0])
            self.clock.now = before
        return statuses


def test_object_writes_are_limited_by_container_size() -> None:
    client = Client(container_ratelimit_10="2", container_ratelimit_100="1",
                    max_sleep_time_seconds="1.2")
    client.proxy.counts.update({"small": 3, "mid": 55, "big": 500})
    # below the smallest size: no limit
    assert client.burst("PUT", "/v1/AUTH_a/small/o", 20) == ["204 No Content"] * 20
    # 55 objects: 1.5/s, turns every 0.667 s; waits of 1.19 s or more refused
    assert client.burst("PUT", "/v1/AUTH_a/mid/o", 4) == ["204 No Content"] * 2 + \
        ["498 Rate Limited"] * 2
    # 500 objects: 1/s
    assert client.burst("DELETE", "/v1/AUTH_a/big/o", 3) == ["204 No Content"] * 2 + \
        ["498 Rate Limited"]
    assert client("POST", "/v1/AUTH_a/big/o") == ("498 Rate Limited", b"Slow down\n")
    # reads are never limited, nor a missing container's writes
    assert client.burst("GET", "/v1/AUTH_a/big/o", 5) == ["204 No Content"] * 5
    assert client.burst("PUT", "/v1/AUTH_a/gone/o", 5) == ["204 No Content"] * 5


def test_a_held_request_sleeps_its_wait() -> None:
    client = Client(container_ratelimit_0="4")
    client.proxy.counts["c"] = 0
    start = client.clock.now
    for _ in range(5):
        assert client("PUT", "/v1/AUTH_a/c/o")[0] == "204 No Content"
    assert client.clock.now - start == pytest.approx(1.0)  # 4 waits of 0.25 s


def test_the_count_is_read_once_a_while() -> None:
    client = Client(container_ratelimit_0="1000")
    client.proxy.counts["c"] = 0
    for _ in range(5):
        client("PUT", "/v1/AUTH_a/c/o")
    assert client.proxy.seen.count(("HEAD", "/v1/AUTH_a/c")) == 1
    client.clock.now += 61
    client("PUT", "/v1/AUTH_a/c/o")
    assert client.proxy.seen.count(("HEAD", "/v1/AUTH_a/c")) == 2


def test_the_proxys_cached_facts_are_used_when_present() -> None:
    client = Client(container_ratelimit_100="1", max_sleep_time_seconds="0.5")
    asked: list[str] = []

    def facts(environ: dict[str, Any], path: str) -> dict[str, str] | None:
        asked.append(path)
        return {"x-container-object-count": "150"} if path.endswith("/big") else None
    environ = {CACHED_FACTS: facts}
    assert client.burst("PUT", "/v1/AUTH_a/big/o", 2, **environ) == \
        ["204 No Content", "498 Rate Limited"]
    assert client.burst("PUT", "/v1/AUTH_a/none/o", 3, **environ) == ["204 No Content"] * 3
    assert asked and not [s for s in client.proxy.seen if s[0] == "HEAD"]


def test_account_rate_limits_container_puts_and_deletes() -> None:
    client = Client(account_ratelimit="1", max_sleep_time_seconds="0.5")
    assert client.burst("PUT", "/v1/AUTH_a/c1", 2) == ["204 No Content", "498 Rate Limited"]
    assert client("DELETE", "/v1/AUTH_a/c2")[0] == "498 Rate Limited"
    assert client("PUT", "/v1/AUTH_b/c1")[0] == "204 No Content"  # another account
    # object writes, container reads and posts, account requests: not by this rate
    for method, path in [("PUT", "/v1/AUTH_a/c/o"), ("GET", "/v1/AUTH_a/c"),
                         ("POST", "/v1/AUTH_a/c"), ("POST", "/v1/AUTH_a"),
                         ("GET", "/v1/AUTH_a")]:
        assert client(method, path)[0] == "204 No Content", (method, path)


def test_listings_are_limited_by_their_own_rates() -> None:
    client = Client(container_listing_ratelimit_0="1", max_sleep_time_seconds="0.5")
    client.proxy.counts["c"] = 7
    assert client.burst("GET", "/v1/AUTH_a/c", 2) == ["204 No Content", "498 Rate Limited"]
    assert client.burst("PUT", "/v1/AUTH_a/c/o", 3) == ["204 No Content"] * 3


def test_black_and_white_lists() -> None:
    client = Client(container_ratelimit_0="1", account_ratelimit="1",
                    max_sleep_time_seconds="0.5", account_whitelist="AUTH_free",
                    account_blacklist="AUTH_bad, AUTH_worse")
    client.proxy.counts["c"] = 0
    assert client("GET", "/v1/AUTH_bad") == ("497 Blacklisted",
                                             b"Your account has been blacklisted\n")
    assert client("HEAD", "/v1/AUTH_worse/c/o")[0] == "497 Blacklisted"
    assert client.burst("PUT", "/v1/AUTH_free/c/o", 10) == ["204 No Content"] * 10
    assert client.burst("PUT", "/v1/AUTH_free/c", 10) == ["204 No Content"] * 10
    assert client.burst("PUT", "/v1/AUTH_a/c/o", 2) == ["204 No Content", "498 Rate Limited"]
    assert ("GET", "/v1/AUTH_bad") not in client.proxy.seen


def test_no_limits_configured_means_no_lookups() -> None:
    client = Client()
    assert client.burst("PUT", "/v1/AUTH_a/c/o", 50) == ["204 No Content"] * 50
    assert client.burst("PUT", "/v1/AUTH_a/c", 50) == ["204 No Content"] * 50
    assert not [s for s in client.proxy.seen if s[0] == "HEAD"]
    # paths that are not the API's pass untouched
    assert client("GET", "/healthcheck")[0] == "204 No Content"


def test_info_lists_the_limits() -> None:
    client = Client(account_ratelimit="3", container_ratelimit_100="10",
                    container_ratelimit_10="20", container_listing_ratelimit_0="5")
    status, body = client("GET", "/info")
    assert json.loads(body)["ratelimit"] == {
        "account_ratelimit": 3.0, "max_sleep_time_seconds": 60.0,
        "container_ratelimits": [[10, 20.0], [100, 10.0]],
        "container_listing_ratelimits": [[0, 5.0]]}
