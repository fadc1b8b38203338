"""A four-node cluster in one process for replicator tests: real disks (temp
dirs), real object-server controllers, a real ring; requests between nodes
go through tests.fakes.app_transport instead of sockets."""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

from objstore.common.metadata import read_metadata
from objstore.common.timestamp import Timestamp
from objstore.daemons.base import LocalDevice
from objstore.obj.diskfile import DiskFile, DiskFileManager
from objstore.obj.replicator import ObjectReplicator, ObjectReplicatorConfig
from ring.builder import RingBuilder
from ring.hashing import PathHasher
from ring.ring import Ring
from tests.fakes.app_transport import AppTransport, object_app

HASHER = PathHasher("", "replicator-tests")
PORTS = {1: 6010, 2: 6020, 3: 6030, 4: 6040}
ACCOUNT, CONTAINER = "AUTH_test", "c"


def stamp(seconds_ago: float = 100.0) -> Timestamp:
    return Timestamp(float(Timestamp.now()) - seconds_ago)


class Cluster:
    def __init__(self, root: Path, reclaim_age: float = 604800.0) -> None:
        self.root = root
        (root / "rings").mkdir()
        self.cluster_conf = root / "objstore.conf"
        self.cluster_conf.write_text(
            "[swift-hash]\nswift_hash_path_suffix = replicator-tests\n"
            "[storage-policy:0]\nname = gold\ndefault = yes\n[storage-policy:1]\nname = silver\n")
        builder = RingBuilder(3, 3, 0)
        for node, port in PORTS.items():
            builder.add_dev(1, node, "127.0.0.1", port, f"sd{node}", 1.0)
            (root / f"node{node}" / f"sd{node}").mkdir(parents=True)
        builder.rebalance(seed=1)
        for name in ("object", "object-1"):
            builder.get_ring().save(str(root / "rings" / f"{name}.ring.gz"))
        self.ring = Ring(str(root / "rings" / "object.ring.gz"), hasher=HASHER)
        self.reclaim_age = reclaim_age
        self.transport = AppTransport({port: object_app(root / f"node{node}", HASHER,
                                                        reclaim_age)
                                       for node, port in PORTS.items()})

    # -- where things are ----------------------------------------------------------------

    def node_of(self, port: int) -> int:
        return next(node for node, p in PORTS.items() if p == port)

    def placement(self, name: str) -> tuple[int, list[int], int]:
        """(partition, primary nodes in ring order, the one other node)."""
        part, primaries = self.ring.get_nodes(ACCOUNT, CONTAINER, name)
        nodes = [self.node_of(dev.port) for dev in primaries]
        (other,) = set(PORTS) - set(nodes)
        return part, nodes, other

    def device_path(self, node: int) -> Path:
        return self.root / f"node{node}" / f"sd{node}"

    def manager(self, node: int) -> DiskFileManager:
        return DiskFileManager(str(self.root / f"node{node}"), hasher=HASHER,
                               reclaim_age=self.reclaim_age)

    def diskfile(self, node: int, name: str, policy: int = 0) -> DiskFile:
        part, _, _ = self.placement(name)
        return self.manager(node).get(f"sd{node}", part, ACCOUNT, CONTAINER, name, policy)

    # -- writing as a server would ---------------------------------------------------------

    def put(self, nodes: list[int], name: str, body: bytes, when: Timestamp,
            policy: int = 0, **meta: str) -> None:
        for node in nodes:
            with self.diskfile(node, name, policy).create(len(body)) as writer:
                writer.write(body)
                writer.commit({"X-Timestamp": when.internal, "Content-Type": "text/plain",
                               "name": f"/{ACCOUNT}/{CONTAINER}/{name}", **meta})

    def post(self, nodes: list[int], name: str, when: Timestamp, **meta: str) -> None:
        for node in nodes:
            self.diskfile(node, name).post(when, meta)

    def delete(self, nodes: list[int], name: str, when: Timestamp) -> None:
        for node in nodes:
            self.diskfile(node, name).delete(when)

    # -- reading ---------------------------------------------------------------------------

    def files(self, node: int, name: str, policy: int = 0) -> dict[str, tuple[bytes, Any]]:
        """file name -> (bytes, its own metadata) in the object's hash dir on ``node``."""
        hash_dir = self.diskfile(node, name, policy).hash_dir
        found = {}
        for file_name in sorted(os.listdir(hash_dir)) if os.path.isdir(hash_dir) else []:
            with open(os.path.join(hash_dir, file_name), "rb") as handle:
                found[file_name] = (handle.read(), read_metadata(handle.fileno()))
        return found

    def body(self, node: int, name: str) -> bytes:
        diskfile = self.diskfile(node, name)
        return b"".join(diskfile.read(diskfile.open()))

    # -- replicating -------------------------------------------------------------------------

    def replicator(self, node: int, **options: Any) -> ObjectReplicator:
        conf = ObjectReplicatorConfig(
            devices=str(self.root / f"node{node}"), mount_check=False, bind_ip="127.0.0.1",
            bind_port=PORTS[node], cluster_conf=str(self.cluster_conf),
            ring_dir=str(self.root / "rings"), recon_cache_path=str(self.root / f"recon{node}"),
            reclaim_age=self.reclaim_age, **options)
        return ObjectReplicator(conf, logging.getLogger(f"replicator-{node}"),
                                transport=self.transport)

    def run(self, node: int, replicator: ObjectReplicator | None = None,
            **options: Any) -> dict[str, int]:
        """One pass of the node's replicator; its counts."""
        replicator = replicator or self.replicator(node, **options)
        replicator.begin_pass()
        replicator.run_once([LocalDevice(f"sd{node}", str(self.device_path(node)))])
        return replicator.statistics()


def etag(body: bytes) -> str:
    return hashlib.md5(body).hexdigest()
