"""The container updater on real container databases, with the account's
three replicas played by recording HTTP servers (the functional test has
real account servers)."""
from __future__ import annotations

import array
import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from objstore.common.http import Request, wsgi_app
from objstore.common.policies import StoragePolicies, StoragePolicy
from objstore.common.timestamp import Timestamp
from objstore.container.account_reporter import AccountReporter
from objstore.container.broker import REPORTED, ContainerBroker, unreported
from objstore.container.server import ContainerController, ContainerServerConfig
from objstore.container.updater import ContainerUpdater, ContainerUpdaterConfig
from objstore.daemons.base import LocalDevice
from ring.devices import Device
from ring.ring import Ring
from ring.ringfile import RingData

from ...fakes.recording_server import RecordingServer

HASHES = ("0" * 29 + "abc", "1" * 29 + "abd")


@pytest.fixture
def accounts() -> Iterator[list[RecordingServer]]:
    servers = [RecordingServer() for _ in range(3)]
    yield servers
    closing = [threading.Thread(target=server.close) for server in servers]  # 0.5 s each
    for thread in closing:
        thread.start()
    for thread in closing:
        thread.join()


@pytest.fixture
def node(tmp_path: Path, accounts: list[RecordingServer]) -> Path:
    (tmp_path / "srv" / "sda").mkdir(parents=True)
    (tmp_path / "objstore.conf").write_text("[swift-hash]\nswift_hash_path_suffix = up\n")
    devices = [Device(n, 1, n, "127.0.0.1", server.port, "127.0.0.1", server.port, f"sd{n}",
                      1.0) for n, server in enumerate(accounts)]
    rows = [array.array("H", [n] * 4) for n in range(3)]
    RingData(devices, rows, 30).save(str(tmp_path / "account.ring.gz"))
    return tmp_path


def make_container(node: Path, name_hash: str, container: str, sizes: list[int]) -> ContainerBroker:
    path = node / "srv" / "sda" / "containers" / "3" / name_hash[-3:] / name_hash
    path.mkdir(parents=True)
    broker = ContainerBroker(str(path / f"{name_hash}.db"))
    broker.initialize(Timestamp(1000), account="AUTH_a", container=container,
                      storage_policy_index=0)
    for number, size in enumerate(sizes):
        broker.put_object(f"o{number}", Timestamp(1001 + number), size, "a/b", "0" * 32)
    return broker


def run_pass(node: Path) -> dict[str, int]:
    conf = ContainerUpdaterConfig(devices=str(node / "srv"), mount_check=False,
                                  cluster_conf=str(node / "objstore.conf"), ring_dir=str(node),
                                  containers_per_second=0)
    daemon = ContainerUpdater(conf, logging.getLogger("test-container-updater"))
    daemon.begin_pass()
    daemon.run_once([LocalDevice("sda", str(node / "srv" / "sda"))])
    return {name: count for name, count in daemon.statistics().items() if count}


def reports(accounts: list[RecordingServer]) -> list[tuple[str, str, str]]:
    """(path, object count, bytes) of every report, and forget them."""
    seen = [(path.split("/", 3)[3], headers["X-Object-Count"], headers["X-Bytes-Used"])
            for server in accounts for _, path, headers in server.seen]
    for server in accounts:
        server.seen.clear()
    return sorted(seen)


def test_changed_containers_reach_every_replica_once(node: Path,
                                                     accounts: list[RecordingServer]) -> None:
    photos = make_container(node, HASHES[0], "photos", [3, 4, 5])
    make_container(node, HASHES[1], "empty", [])
    assert run_pass(node) == {"successes": 2}
    assert reports(accounts) == [("AUTH_a/empty", "0", "0")] * 3 + \
        [("AUTH_a/photos", "3", "12")] * 3
    assert run_pass(node) == {"no_changes": 2}
    assert reports(accounts) == []

    photos.delete_object("o0", Timestamp(2000))  # the next change is sent again
    assert run_pass(node) == {"successes": 1, "no_changes": 1}
    assert reports(accounts) == [("AUTH_a/photos", "2", "9")] * 3


def test_the_report_carries_the_timestamps_and_policy(node: Path,
                                                      accounts: list[RecordingServer]) -> None:
    broker = make_container(node, HASHES[0], "c", [7])
    broker.mark_deleted(Timestamp(1500))  # not empty: still live, but its DELETE is news
    run_pass(node)
    (method, _, headers), = accounts[1].seen
    assert method == "PUT"
    assert headers["X-Put-Timestamp"] == Timestamp(1000).internal
    assert headers["X-Delete-Timestamp"] == Timestamp(1500).internal
    assert headers["X-Backend-Storage-Policy-Index"] == "0"


def test_a_majority_is_enough_and_less_is_retried(node: Path,
                                                  accounts: list[RecordingServer]) -> None:
    make_container(node, HASHES[0], "c", [1])
    accounts[0].status = accounts[1].status = 503
    assert run_pass(node) == {"failures": 1}
    assert run_pass(node) == {"failures": 1}  # not recorded: sent again
    assert len(reports(accounts)) == 6
    accounts[1].status = 201  # two of three take it: done
    assert run_pass(node) == {"successes": 1}
    assert run_pass(node) == {"no_changes": 1}
    assert len(reports(accounts)) == 3


def test_a_missing_account_is_counted_not_retried(node: Path,
                                                  accounts: list[RecordingServer]) -> None:
    broker = make_container(node, HASHES[0], "c", [1])
    for server in accounts:
        server.status = 404
    assert run_pass(node) == {"account_missing": 1}
    assert run_pass(node) == {"no_changes": 1}
    assert len(reports(accounts)) == 3
    broker.put_object("new", Timestamp(3000), 2, "a/b", "0" * 32)
    assert run_pass(node) == {"account_missing": 1}  # a change is tried again


def test_rows_that_arrive_by_replication_are_reported(node: Path,
                                                      accounts: list[RecordingServer]) -> None:
    broker = make_container(node, HASHES[0], "c", [1])
    assert run_pass(node) == {"successes": 1}
    reports(accounts)
    broker.merge_items([{"name": "replicated", "created_at": Timestamp(4000).internal,
                         "size": 10, "content_type": "a/b", "etag": "0" * 32, "deleted": 0,
                         "storage_policy_index": 0, "row_id": 1}], source_id="peer")
    assert run_pass(node) == {"successes": 1}
    assert reports(accounts) == [("AUTH_a/c", "2", "11")] * 3


def test_a_database_from_older_code_gets_the_columns(node: Path,
                                                     accounts: list[RecordingServer]) -> None:
    broker = make_container(node, HASHES[0], "c", [5])
    broker.close()
    conn = sqlite3.connect(broker.path)
    for column in REPORTED.values():
        conn.execute(f"ALTER TABLE info DROP COLUMN {column}")
    conn.commit()
    conn.close()
    assert unreported(ContainerBroker(broker.path).get_info())
    assert run_pass(node) == {"successes": 1}
    assert run_pass(node) == {"no_changes": 1}


def test_a_damaged_database_is_an_error_and_the_pass_goes_on(
        node: Path, accounts: list[RecordingServer]) -> None:
    broker = make_container(node, HASHES[0], "c", [5])
    make_container(node, HASHES[1], "d", [6])
    broker.close()
    Path(broker.path).write_bytes(b"not a database at all" * 100)
    assert run_pass(node) == {"errors": 1, "successes": 1}
    assert reports(accounts) == [("AUTH_a/d", "1", "6")] * 3


def test_the_servers_own_reports_are_not_sent_again(node: Path,
                                                    accounts: list[RecordingServer]) -> None:
    hasher_conf = ContainerServerConfig(devices=str(node / "srv"), mount_check=False)
    logger = logging.getLogger("test-container-updater")
    controller = ContainerController(hasher_conf, logger, policies=StoragePolicies(
        [StoragePolicy(0, "gold", is_default=True)]))
    controller.reporter = AccountReporter(
        Ring(str(node / "account.ring.gz")), controller.read_info, interval=1.0,
        connect_timeout=1.0, read_timeout=2.0, logger=logger,
        mark_reported=controller.mark_reported)
    app = wsgi_app(controller, logger)
    path = "/sda/3/AUTH_a/c"
    put = Request.blank(path, method="PUT", headers={"X-Timestamp": Timestamp.now().internal})
    assert put.get_response(app).status_int == 201
    obj = Request.blank(f"{path}/o", method="PUT", headers={
        "X-Timestamp": Timestamp.now().internal, "X-Size": "4", "X-Content-Type": "a/b",
        "X-Etag": "0" * 32})
    assert obj.get_response(app).status_int == 201
    controller.reporter.flush()
    assert reports(accounts) == [("AUTH_a/c", "1", "4")] * 3
    assert run_pass(node) == {"no_changes": 1}
    assert reports(accounts) == []
