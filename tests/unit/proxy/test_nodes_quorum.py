"""Node order with error limiting, and quorum decisions."""
from __future__ import annotations

from pathlib import Path

import pytest

from objstore.proxy.backend import Answer, newest_of
from objstore.proxy.nodes import ErrorLimiter, node_iter
from objstore.proxy.quorum import best_status, quorum_size
from ring.builder import RingBuilder
from ring.ring import Ring


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ring(tmp_path: Path) -> Ring:
    builder = RingBuilder(6, 3, 0)
    for zone in range(1, 7):
        builder.add_dev(1, zone, f"10.0.0.{zone}", 6200, "sda", 1.0)
    builder.rebalance(seed=1)
    path = str(tmp_path / "object.ring.gz")
    builder.get_ring().save(path)
    return Ring(path)


def test_primaries_first_then_handoffs_up_to_the_budget(ring: Ring) -> None:
    nodes = list(node_iter(ring, 5, ErrorLimiter()))
    assert nodes[:3] == ring.get_part_nodes(5)
    assert nodes[3:] == list(ring.get_more_nodes(5))[:3]
    assert len(list(node_iter(ring, 5, ErrorLimiter(), request_node_count=4))) == 4


def test_reads_start_at_a_replica_chosen_by_the_partition(ring: Ring) -> None:
    """Replica 0 of most partitions sits on few devices; reads spread over
    all of them, each partition always from the same start."""
    first_reads: dict[int, int] = {}
    for part in range(ring.partition_count):
        primaries = ring.get_part_nodes(part)
        nodes = list(node_iter(ring, part, ErrorLimiter(), spread=True))
        start = primaries.index(nodes[0])
        assert nodes[:3] == primaries[start:] + primaries[:start]
        assert nodes[3:] == list(ring.get_more_nodes(part))[:3]
        assert nodes == list(node_iter(ring, part, ErrorLimiter(), spread=True))
        first_reads[nodes[0].id] = first_reads.get(nodes[0].id, 0) + 1
    fair = ring.partition_count / 6
    assert len(first_reads) == 6 and max(first_reads.values()) < 1.5 * fair


def test_a_failing_primary_is_replaced_by_a_handoff(ring: Ring) -> None:
    clock = Clock()
    limiter = ErrorLimiter(suppression_limit=3, suppression_interval=60, clock=clock)
    primary = ring.get_part_nodes(5)[0]
    for _ in range(2):
        limiter.error(primary)
    assert not limiter.is_limited(primary)  # two errors are not yet a pattern
    limiter.error(primary)
    nodes = list(node_iter(ring, 5, limiter))
    assert primary not in nodes and len(nodes) == 5  # every other device of the six
    assert nodes[2] == list(ring.get_more_nodes(5))[0]  # first handoff takes its place
    clock.now += 61
    assert not limiter.is_limited(primary)  # given another chance


def test_errors_far_apart_do_not_add_up() -> None:
    clock = Clock()
    limiter = ErrorLimiter(suppression_limit=2, suppression_interval=10, clock=clock)
    from ring.devices import Device
    node = Device(0, 1, 1, "10.0.0.1", 6200, "10.0.0.1", 6200, "sda", 1.0)
    limiter.error(node)
    clock.now += 11
    limiter.error(node)
    assert not limiter.is_limited(node)
    limiter.limit(node)  # a 507: aside at once
    assert limiter.is_limited(node)


@pytest.mark.parametrize(("replicas", "quorum"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3)])
def test_quorum_is_a_majority(replicas: int, quorum: int) -> None:
    assert quorum_size(replicas) == quorum


@pytest.mark.parametrize(("statuses", "expected"), [
    ([201, 201, 201], 201),
    ([201, 201, 503], 201),       # two of three stored it
    ([201, 503, 503], 503),       # not enough
    ([404, 404, 200], 404),
    ([202, 201, 201], 201),       # the answer most gave
    ([202, 201], 201),            # the third never answered: two 2xx are still a quorum
    ([409, 201, 409], 409),
    ([507, 507, 507], 503),       # a 5xx quorum is still "could not"
    ([412, 416, 201], 412),       # two 4xx: a quorum of refusals
    ([404, 201, 503], 503),       # no class reaches two
])
def test_best_status(statuses: list[int], expected: int) -> None:
    assert best_status(statuses, 3) == expected


# -- X-Newest ------------------------------------------------------------------

def _answer(status: int, **headers: str) -> Answer:
    return Answer(None, status, {k.replace("_", "-"): v for k, v in headers.items()}, b"")


@pytest.mark.parametrize(("answers", "chosen"), [
    # objects: the newest data or metadata wins, wherever it sits
    ([_answer(200, X_Backend_Timestamp="0000000001.00000"),
      _answer(200, X_Backend_Timestamp="0000000003.00000"),
      _answer(200, X_Backend_Timestamp="0000000002.00000")], 1),
    # a newer tombstone means deleted; an older one is overruled
    ([_answer(200, X_Backend_Timestamp="0000000001.00000"),
      _answer(404, X_Backend_Timestamp="0000000002.00000")], 1),
    ([_answer(404, X_Backend_Timestamp="0000000001.00000"),
      _answer(200, X_Backend_Timestamp="0000000002.00000")], 1),
    # containers and accounts: the put time
    ([_answer(204, X_Backend_PUT_Timestamp="0000000005.00000", X_Backend_Timestamp="1"),
      _answer(204, X_Backend_PUT_Timestamp="0000000004.00000", X_Backend_Timestamp="9")], 0),
    # a success without a time beats plain 404s; errors are the last resort
    ([_answer(404), _answer(200), _answer(503)], 1),
    ([_answer(503), _answer(404), _answer(404)], 1),
])
def test_newest_of(answers: list[Answer], chosen: int) -> None:
    assert newest_of(answers) is answers[chosen]


def test_newest_of_nothing() -> None:
    assert newest_of([]) is None


def test_clients_never_see_backend_or_system_headers() -> None:
    from objstore.proxy.backend import strip_backend

    shown = strip_backend({"X-Backend-Timestamp": "1", "X-Object-Sysmeta-Slo": "x",
                           "X-Container-Sysmeta-Versions": "y", "X-Account-Sysmeta-Q": "z",
                           "X-Object-Meta-Color": "blue", "ETag": "abc",
                           "Transfer-Encoding": "chunked"})
    assert shown == {"X-Object-Meta-Color": "blue", "ETag": "abc"}
