"""Rate limits on a real cluster: a burst of writes into a big container,
or of container PUTs into an account, is held to the rate and refused
with 498 past the longest wait; a small container, a white-listed
account and a client at the rate go unhindered; a black-listed account
gets 497; /info shows the limits."""
from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .cluster import Cluster, raw, token

RATE = 2  # writes per second
OPTIONS = {"account_ratelimit": str(RATE), "container_ratelimit_5": str(RATE),
           "max_sleep_time_seconds": "1", "rate_buffer_seconds": "0",
           "account_whitelist": "AUTH_admin", "account_blacklist": "AUTH_blocked"}


class LimitedCluster(Cluster):
    """The test cluster with ratelimit where Swift has it (before tempauth),
    tiny rates, and no cache of container sizes, so a container's count
    is current when the limit is chosen."""

    def _proxy_conf(self) -> Path:
        conf = super()._proxy_conf()
        text = conf.read_text()
        options = "".join(f"{name} = {value}\n" for name, value in OPTIONS.items())
        if " ratelimit " not in text:
            text = text.replace(" tempauth ", " ratelimit tempauth ", 1) + "[filter:ratelimit]\n"
        text = text.replace("[filter:ratelimit]\n", "[filter:ratelimit]\n" + options, 1)
        conf.write_text(text.replace("[app:proxy-server]\n",
                                     "[app:proxy-server]\nrecheck_existence = 0\n", 1))
        return conf


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LimitedCluster]:
    running = LimitedCluster(tmp_path_factory.mktemp("ratelimit"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


class Client:
    def __init__(self, cluster: Cluster, user: str, key: str) -> None:
        self.cluster = cluster
        auth, url = token(cluster, user, key)
        self.headers = {"X-Auth-Token": auth}
        self.account = url.rsplit("/", 1)[1]

    def put(self, path: str, body: bytes = b"x") -> tuple[int, bytes, float]:
        """(status, body, seconds taken) of a PUT."""
        started = time.monotonic()
        status, _, data = raw(self.cluster, "PUT",
                              urllib.parse.quote(f"/v1/{self.account}/{path}"), body,
                              self.headers)
        return status, data, time.monotonic() - started

    def burst(self, paths: list[str]) -> list[tuple[int, bytes, float]]:
        """PUTs of every path at once."""
        with ThreadPoolExecutor(len(paths)) as pool:
            return list(pool.map(self.put, paths))

    def paced(self, paths: list[str]) -> list[int]:
        """PUTs one after another, each once the last was answered."""
        return [self.put(path)[0] for path in paths]


@pytest.fixture(scope="module")
def tester(cluster: Cluster) -> Client:
    return Client(cluster, "test:tester", "testing")


def check_limited(results: list[tuple[int, bytes, float]]) -> None:
    statuses = [status for status, _, _ in results]
    assert set(statuses) <= {201, 498}, statuses
    # at the rate, a turn every 0.5 s and no wait of a second: two or three get in
    # (a few more if the burst's requests arrive spread out on a busy machine)
    assert 2 <= statuses.count(201) <= 5, statuses
    assert all(body == b"Slow down\n" for status, body, _ in results if status == 498)
    # the second one in was held for its turn, not refused
    assert sorted(seconds for status, _, seconds in results if status == 201)[-1] > 0.3


def test_a_burst_into_a_big_container_is_held_then_refused(tester: Client) -> None:
    # fewer than 5 objects: no limit, whatever the pace
    assert tester.put("big")[0] == 201
    assert [status for status, _, _ in tester.burst([f"big/o{i}" for i in range(5)])] == \
        [201] * 5
    time.sleep(1)  # the 5th write must not count against the burst below
    check_limited(tester.burst([f"big/p{i}" for i in range(10)]))
    # a client that waits for each answer is slowed to the rate, never refused
    time.sleep(1)
    started = time.monotonic()
    assert tester.paced([f"big/q{i}" for i in range(4)]) == [201] * 4
    assert time.monotonic() - started >= 3 / RATE - 0.1


def test_container_puts_are_limited_per_account(tester: Client) -> None:
    time.sleep(1)
    check_limited(tester.burst([f"new-{i}" for i in range(10)]))


def test_white_and_black_lists(cluster: Cluster) -> None:
    admin = Client(cluster, "admin:admin", "admin")
    assert [status for status, _, _ in admin.burst([f"c{i}" for i in range(6)])] == [201] * 6
    # a container big enough to be limited, for anyone else
    assert admin.paced([f"c0/o{i}" for i in range(6)]) == [201] * 6
    assert [status for status, _, _ in admin.burst([f"c0/p{i}" for i in range(12)])] == \
        [201] * 12
    status, _, body = raw(cluster, "GET", "/v1/AUTH_blocked/c")
    assert (status, body) == (497, b"Your account has been blacklisted\n")


def test_info_shows_the_limits(cluster: Cluster) -> None:
    status, _, body = raw(cluster, "GET", "/info")
    assert json.loads(body)["ratelimit"] == {
        "account_ratelimit": 2.0, "max_sleep_time_seconds": 1.0,
        "container_ratelimits": [[5, 2.0]], "container_listing_ratelimits": []}
