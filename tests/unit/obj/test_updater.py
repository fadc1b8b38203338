"""The object updater's record handling on real files, with the container
servers replaced by a table of answers (the functional test sends real ones)."""
from __future__ import annotations

import array
import logging
import os
from pathlib import Path
from typing import Any

import msgpack
import pytest

from objstore.common.timestamp import Timestamp
from objstore.daemons.base import LocalDevice
from objstore.obj import updates
from objstore.obj.updater import ObjectUpdater, ObjectUpdaterConfig
from ring.devices import Device
from ring.ringfile import RingData

HASH = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"


class Answering(ObjectUpdater):
    """Container replicas answer from ``self.answers`` (device id -> status)."""

    answers: dict[int, int]
    sent: list[tuple[int, str, str]]

    def _send(self, node: Any, part: int, op: str, account: str, container: str, obj: str,
              headers: dict[str, str]) -> bool:
        self.sent.append((node.id, op, obj))
        return 200 <= self.answers.get(node.id, 503) < 300


@pytest.fixture
def node(tmp_path: Path) -> Path:
    (tmp_path / "srv" / "sda").mkdir(parents=True)
    (tmp_path / "objstore.conf").write_text("[swift-hash]\nswift_hash_path_suffix = up\n")
    devices = [Device(n, 1, n, "127.0.0.1", 6201 + n, "127.0.0.1", 6201 + n, "sda", 1.0)
               for n in range(3)]
    rows = [array.array("H", [n] * 4) for n in range(3)]
    RingData(devices, rows, 30).save(str(tmp_path / "container.ring.gz"))
    return tmp_path


def updater(node: Path, answers: dict[int, int]) -> Answering:
    conf = ObjectUpdaterConfig(devices=str(node / "srv"), mount_check=False,
                               cluster_conf=str(node / "objstore.conf"), ring_dir=str(node),
                               objects_per_second=0)
    daemon = Answering(conf, logging.getLogger("test-updater"))
    daemon.answers, daemon.sent = answers, []
    return daemon


def pend(node: Path, name_hash: str, ts: float, obj: str = "o", op: str = "PUT") -> str:
    return updates.write_async_pending(str(node / "srv" / "sda"), 0, name_hash, Timestamp(ts),
                                       op, "AUTH_a", "c", obj,
                                       {"X-Timestamp": Timestamp(ts).internal})


def run(daemon: Answering, node: Path) -> dict[str, int]:
    daemon.begin_pass()
    daemon.run_once([LocalDevice("sda", str(node / "srv" / "sda"))])
    return daemon.statistics()


def test_a_record_every_replica_took_is_removed(node: Path) -> None:
    path = pend(node, HASH, 1000)
    counts = run(updater(node, {0: 201, 1: 201, 2: 204}), node)
    assert not os.path.exists(path)
    assert counts["successes"] == 1 and counts["failures"] == 0


def test_replicas_that_took_it_are_not_asked_again(node: Path) -> None:
    path = pend(node, HASH, 1000)
    first = updater(node, {0: 201, 1: 507})
    assert run(first, node)["failures"] == 1
    assert msgpack.unpackb(Path(path).read_bytes())["successes"] == [0]
    second = updater(node, {1: 201, 2: 201})
    assert run(second, node)["successes"] == 1
    assert sorted(device for device, _, _ in second.sent) == [1, 2]
    assert not os.path.exists(path)


def test_only_the_newest_record_of_an_object_is_sent(node: Path) -> None:
    old = pend(node, HASH, 1000, op="PUT")
    new = pend(node, HASH, 2000, op="DELETE")
    other = pend(node, OTHER[:-3] + HASH[-3:], 1500, obj="p")
    daemon = updater(node, {0: 204, 1: 204, 2: 204})
    run(daemon, node)
    assert sorted({(op, obj) for _, op, obj in daemon.sent}) == [("DELETE", "o"), ("PUT", "p")]
    assert not any(os.path.exists(p) for p in (old, new, other))


def test_an_unreadable_record_is_moved_aside_and_the_rest_go_on(node: Path) -> None:
    bad = pend(node, HASH, 1000)
    with open(bad, "wb") as handle:
        handle.write(b"\xc1 torn")
    good = pend(node, OTHER, 1000, obj="p")
    counts = run(updater(node, {0: 201, 1: 201, 2: 201}), node)
    assert counts["quarantined"] == 1 and counts["successes"] == 1
    assert not os.path.exists(bad) and not os.path.exists(good)
    assert os.listdir(node / "srv" / "sda" / "quarantined" / "objects") == [os.path.basename(bad)]
