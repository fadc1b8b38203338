"""Fixtures for functional tests: real storage servers on free ports, and
a small real cluster behind a proxy (tests/functional/cluster.py)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .cluster import Cluster
from .storage_servers import StorageServer, running
from .test_server_runtime import EchoServer


@pytest.fixture
def account_server(tmp_path: Path) -> Iterator[StorageServer]:
    yield from running("account", tmp_path)


@pytest.fixture
def container_server(tmp_path: Path) -> Iterator[StorageServer]:
    yield from running("container", tmp_path)


@pytest.fixture
def object_server(tmp_path: Path) -> Iterator[StorageServer]:
    yield from running("object", tmp_path)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    running = Cluster(tmp_path)
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def echo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EchoServer]:
    """One echo server (tests/fakes/echo_server.py, one worker) per module."""
    server = EchoServer(tmp_path_factory.mktemp("echo"), workers=1)
    try:
        server.ready()
        yield server
    finally:
        server.stop()
