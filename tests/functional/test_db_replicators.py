"""The container and account replicators on a real cluster (objstore-aio: four
nodes, three replicas, so every database has a handoff node): replicas made to
differ, one pass of `objstore-aio once`, then every replica answers alike."""
from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from objstore.aio import processes
from objstore.aio.layout import DataDir, Server, storage_port
from objstore.common.policies import load_cluster_config
from objstore.common.timestamp import Timestamp
from ring.hashing import PathHasher
from ring.ring import Ring

from .exchange import exchange
from .test_aio import aio, base_port
from .test_server_runtime import wait_until

pytestmark = pytest.mark.slow
ACCOUNT = "AUTH_test"


class Aio:
    """A running objstore-aio cluster (no daemons) and where its DBs are."""

    def __init__(self, root: Path, port: int) -> None:
        self.data = DataDir(root)
        self.port = port
        cluster, _ = load_cluster_config(str(self.data.cluster_conf))
        self.hasher = PathHasher(cluster.hash_path_prefix, cluster.hash_path_suffix)
        self.restarted: list[Any] = []

    def ring(self, kind: str) -> Ring:
        return Ring(str(self.data.rings / f"{kind}.ring.gz"), hasher=self.hasher)

    def placement(self, kind: str, container: str | None = None) -> tuple[int, list[int], int]:
        """(partition, primary nodes, the handoff node) of a database."""
        part, devices = self.ring(kind).get_nodes(ACCOUNT, container)
        nodes = [int(dev.device[len("sdb"):]) for dev in devices]
        return part, nodes, next(n for n in (1, 2, 3, 4) if n not in nodes)

    def db_path(self, kind: str, node: int, container: str | None = None) -> Path:
        part, _, _ = self.placement(kind, container)
        name_hash = self.hasher.hash_path(ACCOUNT, container)
        return (self.data.device(node) / f"{kind}s" / str(part) / name_hash[-3:] / name_hash
                / f"{name_hash}.db")

    def direct(self, kind: str, node: int, method: str, path: str = "",
               headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """A request straight to a node's container or account server."""
        container = path.split("?")[0].split("/")[0] if kind == "container" else None
        part, _, _ = self.placement(kind, container)
        target = f"/sdb{node}/{part}/{ACCOUNT}" + (f"/{path}" if path[:1] not in ("", "?")
                                                   else path)
        return exchange(storage_port(self.port, node, kind), method, target, headers=headers)

    def listing(self, kind: str, node: int, container: str | None = None) -> list[str]:
        status, _, body = self.direct(kind, node, "GET",
                                      f"{container}?format=json" if container else
                                      "?format=json")
        assert status == 200, (kind, node, container, status, body)
        return [row["name"] for row in json.loads(body)]

    def proxy(self, method: str, path: str, token: str, body: bytes = b"") -> int:
        status, _, _ = exchange(self.port, method, f"/v1/{ACCOUNT}/{path}", body,
                                {"X-Auth-Token": token}, timeout=30)
        return status

    def token(self) -> str:
        status, headers, _ = exchange(self.port, "GET", "/auth/v1.0",
                                      headers={"X-Auth-User": "test:tester",
                                               "X-Auth-Key": "testing"})
        assert status == 200
        return headers["X-Auth-Token"]

    # -- a node's server down and up ----------------------------------------------------

    def kill(self, kind: str, node: int) -> None:
        server = Server(kind, node, storage_port(self.port, node, kind))
        pid = processes.running_pid(self.data, server)
        assert pid is not None
        processes.signal_group(pid, signal.SIGKILL)
        wait_until(lambda: not processes.group_alive(pid))

    def restart(self, kind: str, node: int) -> None:
        server = Server(kind, node, storage_port(self.port, node, kind))
        self.restarted.append(processes.spawn(self.data, server))
        wait_until(lambda: processes.answers(server))

    def once(self, *daemons: str) -> dict[str, list[dict[str, int]]]:
        """One pass of each daemon on every node; each node's counts per daemon."""
        done = aio("once", "--data-dir", str(self.data.root), *daemons)
        assert done.returncode == 0, done.stdout + done.stderr
        return {daemon: [_last_counts(self.data, daemon, node) for node in (1, 2, 3, 4)]
                for daemon in daemons}

    def replicate(self) -> dict[str, list[dict[str, int]]]:
        """One pass of both replicators on every node; each pass's counts."""
        done = self.once("container-replicator", "account-replicator")
        return {kind: done[f"{kind}-replicator"] for kind in ("container", "account")}


def _last_counts(data: DataDir, daemon: str, node: int) -> dict[str, int]:
    recon = json.loads((data.recon(node) / f"{daemon.split('-')[0]}.recon").read_text())
    counts: dict[str, int] = recon[daemon]["last_pass"]["counts"]
    return counts


def total(passes: list[dict[str, int]], name: str) -> int:
    return sum(counts[name] for counts in passes)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Aio]:
    root, port = tmp_path / "aio", base_port()
    started = aio("start", "--data-dir", str(root), "--port", str(port), "--detach",
                  "--no-daemons")
    running = None
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        running = Aio(root, port)
        yield running
    finally:
        aio("stop", "--data-dir", str(root))
        for proc in running.restarted if running else []:
            proc.wait(timeout=30)


def test_replicas_that_differ_converge_in_one_pass(cluster: Aio) -> None:
    token = cluster.token()
    assert cluster.proxy("PUT", "base", token) == 201

    # 1. A container made, and filled, while one of its container servers was down:
    # the proxy put it on a handoff node instead.
    _, down_nodes, handoff = cluster.placement("container", "made-while-down")
    down = down_nodes[0]
    cluster.kill("container", down)
    assert cluster.proxy("PUT", "made-while-down", token) == 201
    for number in range(3):
        assert cluster.proxy("PUT", f"made-while-down/o{number}", token, b"x" * number) == 201
    assert cluster.db_path("container", handoff, "made-while-down").exists()
    cluster.restart("container", down)
    assert not cluster.db_path("container", down, "made-while-down").exists()

    # 2. Rows written on one replica only, through its container server's object API.
    _, base_nodes, _ = cluster.placement("container", "base")
    status, _, _ = cluster.direct("container", base_nodes[1], "PUT", "base/only-here", {
        "X-Timestamp": Timestamp.now().internal, "X-Size": "5",
        "X-Content-Type": "text/plain", "X-Etag": "d41d8cd98f00b204e9800998ecf8427e"})
    assert status == 201
    assert cluster.listing("container", base_nodes[0], "base") == []

    # 3. One replica's database file lost.
    assert cluster.proxy("PUT", "base/by-proxy", token, b"abc") == 201
    lost = cluster.db_path("container", base_nodes[2], "base")
    for path in lost.parent.iterdir():
        path.unlink()
    assert cluster.direct("container", base_nodes[2], "HEAD", "base")[0] == 404

    # 4. An account replica that missed a container report.
    _, account_nodes, _ = cluster.placement("account")
    status, _, _ = cluster.direct("account", account_nodes[0], "PUT", "reported-once", {
        "X-Put-Timestamp": Timestamp.now().internal, "X-Delete-Timestamp": "0",
        "X-Object-Count": "7", "X-Bytes-Used": "70", "X-Backend-Storage-Policy-Index": "0"})
    assert status == 201

    counts = cluster.replicate()

    containers, accounts = counts["container"], counts["account"]
    for node in down_nodes:
        assert cluster.listing("container", node, "made-while-down") == ["o0", "o1", "o2"]
        status, headers, _ = cluster.direct("container", node, "HEAD", "made-while-down")
        assert (status, headers["X-Container-Object-Count"],
                headers["X-Container-Bytes-Used"]) == (204, "3", "3")
    assert not cluster.db_path("container", handoff, "made-while-down").parent.exists()
    assert containers[handoff - 1]["handoffs_removed"] == 1
    for node in base_nodes:
        assert cluster.listing("container", node, "base") == ["by-proxy", "only-here"]
    for node in account_nodes:
        names = cluster.listing("account", node)
        assert names == ["base", "made-while-down", "reported-once"], node
        status, headers, _ = cluster.direct("account", node, "HEAD")
        assert (status, headers["X-Account-Container-Count"]) == (204, "3")
    assert total(containers, "pushed_db") >= 2  # made-while-down to `down`, base to the lost
    assert total(containers, "diff") >= 1 and total(containers, "rows_pushed") >= 1
    assert total(accounts, "rows_pushed") >= 2
    assert total(containers, "failures") == total(accounts, "failures") == 0
    assert total(containers, "errors") == total(accounts, "errors") == 0

    # A second pass finds nothing to send.
    again = cluster.replicate()
    for kind in ("container", "account"):
        for name in ("diff", "pushed_db", "rows_pushed", "failures", "errors"):
            assert total(again[kind], name) == 0, (kind, name, again[kind])
    assert total(again["container"], "dbs") == 3 * 2 and total(again["account"], "dbs") == 3
    assert total(again["container"], "hashmatch") == 3 * 2 * 2

    # A replica that rots is quarantined by the auditor and comes back from the others.
    rotten = cluster.db_path("container", base_nodes[0], "base")
    for path in rotten.parent.iterdir():
        path.write_bytes(b"rot" * 4096)
    done = cluster.once("container-auditor", "container-replicator")
    assert total(done["container-auditor"], "quarantined") == 1
    assert total(done["container-auditor"], "passed") == 3 * 2 - 1
    # from one other primary, or both when they go at the same moment
    assert total(done["container-replicator"], "pushed_db") in (1, 2)
    quarantined = cluster.data.device(base_nodes[0]) / "quarantined" / "containers"
    assert [path.name for path in quarantined.iterdir()] == [rotten.parent.name]
    assert cluster.listing("container", base_nodes[0], "base") == ["by-proxy", "only-here"]

