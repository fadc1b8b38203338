"""Four nodes in one process for DB replicator tests: real databases in temp
dirs, real container and account controllers, a real ring of 3 replicas;
REPLICATE requests go to the controllers' apps instead of over sockets."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from objstore.account.broker import AccountBroker
from objstore.account.replicator import AccountReplicator, AccountReplicatorConfig
from objstore.account.server import AccountController, AccountServerConfig
from objstore.common.db import DatabaseBroker
from objstore.common.db_peers import Peer, PeerError
from objstore.common.db_replicator import DatabaseReplicator
from objstore.common.http import Request, wsgi_app
from objstore.common.timestamp import Timestamp
from objstore.container.broker import ContainerBroker
from objstore.container.replicator import ContainerReplicator, ContainerReplicatorConfig
from objstore.container.server import ContainerController, ContainerServerConfig
from objstore.daemons.base import LocalDevice
from ring.builder import RingBuilder
from ring.hashing import PathHasher
from ring.ring import Ring

HASHER = PathHasher("", "db-replicator-tests")
PORTS = {1: 6011, 2: 6021, 3: 6031, 4: 6041}
ACCOUNT = "AUTH_test"
KINDS: dict[str, tuple[Any, Any, Any, Any, type[DatabaseBroker], str]] = {
    "container": (ContainerController, ContainerServerConfig, ContainerReplicator,
                  ContainerReplicatorConfig, ContainerBroker, "containers"),
    "account": (AccountController, AccountServerConfig, AccountReplicator,
                AccountReplicatorConfig, AccountBroker, "accounts"),
}


def stamp(seconds_ago: float = 100.0) -> Timestamp:
    return Timestamp(float(Timestamp.now()) - seconds_ago)


class AppTransport:
    """Peers by port; a port marked down refuses, as a dead server would."""

    def __init__(self, apps: dict[int, Any]) -> None:
        self.apps = apps
        self.down: set[int] = set()
        self.seen: list[tuple[int, str, str]] = []  # (port, path, op or "db")

    def replicate(self, peer: Peer, path: str, headers: Mapping[str, str],
                  body: bytes = b"", file_path: str | None = None) -> tuple[int, bytes]:
        if file_path is not None:
            body = Path(file_path).read_bytes()
        self.seen.append((peer.port, path, "db" if file_path else _op(body)))
        if peer.port in self.down or peer.port not in self.apps:
            raise PeerError(peer, "cannot connect: connection refused")
        request = Request.blank(path, method="REPLICATE", headers=dict(headers), body=body)
        response = request.get_response(self.apps[peer.port])
        return response.status_int, response.body

    def ops(self, port: int | None = None) -> list[str]:
        return [op for p, _, op in self.seen if port is None or p == port]


def _op(body: bytes) -> str:
    import msgpack

    return str(msgpack.unpackb(body, raw=False).get("op")) if body else "info"


class Cluster:
    """Nodes 1-4 with one device each (``sd<n>``), all in one ring."""

    def __init__(self, root: Path, kind: str = "container") -> None:
        self.root = root
        self.kind = kind
        controller, server_conf, self.daemon_class, self.conf_class, self.broker_class, \
            self.db_dir = KINDS[kind]
        (root / "rings").mkdir(exist_ok=True)
        builder = RingBuilder(3, 3, 0)
        for node, port in PORTS.items():
            builder.add_dev(1, node, "127.0.0.1", port, f"sd{node}", 1.0)
            (root / f"node{node}" / f"sd{node}").mkdir(parents=True, exist_ok=True)
        builder.rebalance(seed=1)
        builder.get_ring().save(str(root / "rings" / f"{kind}.ring.gz"))
        self.ring = Ring(str(root / "rings" / f"{kind}.ring.gz"), hasher=HASHER)
        logger = logging.getLogger(f"test-{kind}-server")
        self.transport = AppTransport({
            port: wsgi_app(controller(server_conf(devices=str(root / f"node{node}"),
                                                  mount_check=False), logger, hasher=HASHER),
                           logger)
            for node, port in PORTS.items()})

    # -- where things are -------------------------------------------------------------

    def node_of(self, port: int) -> int:
        return next(node for node, p in PORTS.items() if p == port)

    def placement(self, container: str | None) -> tuple[int, list[int], int]:
        """(partition, primary nodes in ring order, the one other node)."""
        part, primaries = self.ring.get_nodes(ACCOUNT, container)
        nodes = [self.node_of(dev.port) for dev in primaries]
        return part, nodes, next(n for n in PORTS if n not in nodes)

    def path(self, node: int, container: str | None) -> Path:
        part, _, _ = self.placement(container)
        name_hash = HASHER.hash_path(ACCOUNT, container)
        return (self.root / f"node{node}" / f"sd{node}" / self.db_dir / str(part)
                / name_hash[-3:] / name_hash / f"{name_hash}.db")

    def broker(self, node: int, container: str | None) -> Any:
        return self.broker_class(str(self.path(node, container)))

    def create(self, node: int, container: str | None, put: Timestamp | None = None) -> Any:
        broker = self.broker(node, container)
        info = {"account": ACCOUNT}
        if container is not None:
            info["container"] = container
        broker.initialize(put or stamp(1000), **info)
        return broker

    # -- running replicators ------------------------------------------------------------

    def replicator(self, node: int, **options: Any) -> DatabaseReplicator:
        conf = self.conf_class(devices=str(self.root / f"node{node}"), mount_check=False,
                               bind_ip="127.0.0.1", bind_port=PORTS[node],
                               ring_dir=str(self.root / "rings"),
                               recon_cache_path=str(self.root / "recon"), **options)
        replicator: DatabaseReplicator = self.daemon_class(
            conf, logging.getLogger(f"test-{self.kind}-replicator"), transport=self.transport)
        return replicator

    def run(self, node: int, **options: Any) -> dict[str, int]:
        """One pass of node ``node``'s replicator; its counts."""
        replicator = self.replicator(node, **options)
        replicator.begin_pass()
        replicator.run_once([LocalDevice(f"sd{node}", str(self.root / f"node{node}"
                                                          / f"sd{node}"))])
        return replicator.statistics()

    def run_all(self, **options: Any) -> list[dict[str, int]]:
        return [self.run(node, **options) for node in PORTS]
