"""Probe tests: a real cluster of processes (objstore-aio in a temp dir) that a
test breaks on purpose, then mends with the daemons and checks."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .cluster import ProbeCluster


@pytest.fixture
def probe(tmp_path: Path) -> Iterator[ProbeCluster]:
    cluster = ProbeCluster(tmp_path)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
