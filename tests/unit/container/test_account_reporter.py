"""Changed containers reach their account once per interval, found on the ring."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from objstore.common.http import Request, wsgi_app
from objstore.common.policies import StoragePolicies, StoragePolicy
from objstore.common.timestamp import Timestamp
from objstore.container.account_reporter import AccountReporter
from objstore.container.server import ContainerController, ContainerServerConfig
from ring.builder import RingBuilder
from ring.hashing import PathHasher
from ring.ring import Ring

from ...fakes.recording_server import RecordingServer, recording_server

HASHER = PathHasher("pre", "suf")
PATH = "/sda/7/AUTH_a/photos"


@pytest.fixture
def account() -> Iterator[RecordingServer]:
    with recording_server() as server:
        yield server


def setup(tmp_path: Path, port: int) -> tuple[Any, ContainerController]:
    (tmp_path / "sda").mkdir()
    builder = RingBuilder(4, 1, 0)
    builder.add_dev(1, 1, "127.0.0.1", port, "sdz", 1.0)
    builder.rebalance(seed=1)
    ring_path = str(tmp_path / "account.ring.gz")
    builder.get_ring().save(ring_path)
    logger = logging.getLogger("test.reporter")
    conf = ContainerServerConfig(devices=str(tmp_path), mount_check=False)
    controller = ContainerController(conf, logger, hasher=HASHER, policies=StoragePolicies(
        [StoragePolicy(0, "gold", is_default=True)]))
    controller.reporter = AccountReporter(
        Ring(ring_path, hasher=HASHER), controller.read_info, interval=1.0,
        connect_timeout=1.0, read_timeout=2.0, logger=logger)
    return wsgi_app(controller, logger), controller


def call(app: Any, method: str, path: str, **headers: str) -> Any:
    request = Request.blank(path, method=method,
                            headers={k.replace("_", "-"): v for k, v in headers.items()})
    return request.get_response(app)


def test_many_object_rows_make_one_account_report(tmp_path: Path, account: RecordingServer) -> None:
    app, controller = setup(tmp_path, account.port)
    assert call(app, "PUT", PATH, X_Timestamp=Timestamp.now().internal).status_int == 201
    for name, size in (("a", 3), ("b", 4), ("c", 5)):
        response = call(app, "PUT", f"{PATH}/{name}", X_Timestamp=Timestamp.now().internal,
                        X_Size=str(size), X_Content_Type="a/b", X_Etag="0" * 32)
        assert response.status_int == 201
    assert account.seen == []  # nothing sent per object
    assert controller.reporter is not None
    controller.reporter.flush()
    (_, path, headers), = account.seen
    part = Ring(str(tmp_path / "account.ring.gz"), hasher=HASHER).get_part("AUTH_a")
    assert path == f"/sdz/{part}/AUTH_a/photos"
    assert (headers["X-Object-Count"], headers["X-Bytes-Used"]) == ("3", "12")
    controller.reporter.flush()
    assert len(account.seen) == 1  # nothing changed since: nothing sent


def test_a_container_gone_before_the_report_is_skipped(tmp_path: Path, account: RecordingServer) -> None:
    _, controller = setup(tmp_path, account.port)
    assert controller.reporter is not None
    controller.reporter.mark("sda", str(tmp_path / "sda" / "containers" / "x.db"), "AUTH_a", "c")
    controller.reporter.flush()
    assert account.seen == []
