"""The container and account auditors, on real databases in a temp device."""
from __future__ import annotations

import json
import logging
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from objstore.account.auditor import AccountAuditor, AccountAuditorConfig
from objstore.account.broker import AccountBroker
from objstore.common.timestamp import Timestamp
from objstore.container.auditor import ContainerAuditor, ContainerAuditorConfig
from objstore.container.broker import ContainerBroker
from objstore.daemons.base import LocalDevice
from objstore.daemons.runner import run_daemon
from ring.builder import RingBuilder
from ring.hashing import PathHasher

SUFFIX = "auditor-tests"
HASHER = PathHasher("", SUFFIX)


@pytest.fixture
def node(tmp_path: Path) -> Path:
    (tmp_path / "devices" / "sda").mkdir(parents=True)
    (tmp_path / "objstore.conf").write_text(
        f"[swift-hash]\nswift_hash_path_suffix = {SUFFIX}\n"
        "[storage-policy:0]\nname = gold\ndefault = yes\n")
    return tmp_path


def db_path(node: Path, kind: str, container: str | None) -> Path:
    name_hash = HASHER.hash_path("AUTH_a", container)
    return (node / "devices" / "sda" / f"{kind}s" / "5" / name_hash[-3:] / name_hash
            / f"{name_hash}.db")


def make_container(node: Path, container: str, rows: int = 0) -> Path:
    path = db_path(node, "container", container)
    path.parent.mkdir(parents=True)
    broker = ContainerBroker(str(path))
    broker.initialize(Timestamp.now(), account="AUTH_a", container=container)
    broker.put_records([{"name": f"object-{n:05d}-" + "x" * 40, "created_at": Timestamp.now(),
                         "size": n, "content_type": "text/plain", "etag": "e" * 32,
                         "deleted": 0, "storage_policy_index": 0} for n in range(rows)])
    broker.get_info()  # merged
    broker.close()
    return path


def audit(node: Path, daemon: Any = ContainerAuditor, schema: Any = ContainerAuditorConfig
          ) -> dict[str, int]:
    conf = schema(devices=str(node / "devices"), mount_check=False,
                  cluster_conf=str(node / "objstore.conf"), databases_per_second=0)
    auditor = daemon(conf, logging.getLogger("test-db-auditor"))
    auditor.begin_pass()
    auditor.run_once([LocalDevice("sda", str(node / "devices" / "sda"))])
    return {name: value for name, value in auditor.statistics().items() if value}


def quarantined(node: Path, kind: str = "container") -> list[str]:
    where = node / "devices" / "sda" / "quarantined" / f"{kind}s"
    return sorted(p.name for p in where.iterdir()) if where.exists() else []


def test_sound_databases_pass(node: Path) -> None:
    make_container(node, "a", rows=10)
    make_container(node, "b")
    assert audit(node) == {"dbs": 2, "passed": 2}
    account = db_path(node, "account", None)
    account.parent.mkdir(parents=True)
    AccountBroker(str(account)).initialize(Timestamp.now(), account="AUTH_a")
    assert audit(node, AccountAuditor, AccountAuditorConfig) == {"dbs": 1, "passed": 1}


def test_a_file_that_is_no_database_is_quarantined(node: Path) -> None:
    path = make_container(node, "a")
    make_container(node, "fine")
    path.write_bytes(b"not a database at all" * 200)
    for side in path.parent.glob("*.db-*"):
        side.unlink()
    assert audit(node) == {"dbs": 2, "passed": 1, "quarantined": 1}
    assert quarantined(node) == [path.parent.name]
    assert not path.parent.exists()


def test_a_damaged_index_is_found_by_quick_check(node: Path) -> None:
    path = make_container(node, "a", rows=2000)
    conn = sqlite3.connect(str(path))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'object_name'"
                        ).fetchone()[0]
    conn.close()
    data = bytearray(path.read_bytes())
    start = (root - 1) * page_size  # the name index's root page: its cells scrambled
    data[start + 100:start + page_size] = bytes(range(256)) * ((page_size - 100) // 256) \
        + bytes((page_size - 100) % 256)
    path.write_bytes(bytes(data))
    assert audit(node) == {"dbs": 1, "quarantined": 1}
    assert quarantined(node) == [path.parent.name]


def test_a_database_in_another_names_directory_is_quarantined(node: Path) -> None:
    source = make_container(node, "a")
    wrong = db_path(node, "container", "b")
    wrong.parent.mkdir(parents=True)
    shutil.copy(source, wrong)
    assert audit(node) == {"dbs": 2, "passed": 1, "quarantined": 1}
    assert quarantined(node) == [wrong.parent.name]


def test_a_newer_schema_is_left_alone(node: Path) -> None:
    path = make_container(node, "a")
    conn = sqlite3.connect(str(path))
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    assert audit(node) == {"errors": 1}
    assert path.exists() and quarantined(node) == []


def test_once_from_the_command_line_records_the_pass(node: Path) -> None:
    make_container(node, "a")
    builder = RingBuilder(3, 1, 0)
    builder.add_dev(1, 1, "127.0.0.1", 6201, "sda", 1.0)
    builder.rebalance(seed=1)
    builder.get_ring().save(str(node / "container.ring.gz"))
    conf = node / "container-server.conf"
    conf.write_text(f"[app:container-server]\ndevices = {node / 'devices'}\n"
                    f"mount_check = false\ncluster_conf = {node / 'objstore.conf'}\n"
                    f"[container-auditor]\nring_dir = {node}\n"
                    f"recon_cache_path = {node / 'recon'}\n")
    logging.getLogger("container-auditor").propagate = False
    assert run_daemon(ContainerAuditor, [str(conf), "--once"]) == 0
    recon = json.loads((node / "recon" / "container.recon").read_text())
    assert recon["container-auditor"]["last_pass"]["counts"] == {
        "dbs": 1, "passed": 1, "quarantined": 0, "errors": 0}


def test_node_options_default_as_the_servers_do() -> None:
    from objstore.account.server import AccountServerConfig
    from objstore.common.config import describe
    from objstore.container.server import ContainerServerConfig
    from objstore.daemons.base import NODE_OPTIONS

    for server_schema, daemon_schema in ((ContainerServerConfig, ContainerAuditorConfig),
                                         (AccountServerConfig, AccountAuditorConfig)):
        server = {name: default for name, default, _ in describe(server_schema)}
        daemon = {name: default for name, default, _ in describe(daemon_schema)}
        shared = [name for name in NODE_OPTIONS if name in server]
        assert {"bind_port", "devices", "cluster_conf"} <= set(shared)
        assert {name: daemon[name] for name in shared} == {name: server[name] for name in shared}
