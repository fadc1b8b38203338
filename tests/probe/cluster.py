"""A whole cluster of real processes for probe tests: objstore-aio in a temp dir.

    probe = ProbeCluster(tmp_path); probe.start()
    probe.put(...)                 through the proxy, as a client
    probe.kill(2); probe.restart(2)     node 2's object server
    probe.kill(2, "container")          node 2's container server (any kind)
    probe.once("object-replicator")     one pass on every node, as an operator runs it
    probe.replicas("obj")          what each node holds of an object, on disk

Four storage nodes (one device each, its own zone), three replicas, the
proxy with tempauth: objstore-aio's layout, on a free block of ports. The
background daemons do not run by themselves (``--no-daemons``): a test runs
each pass when it wants it, with ``objstore-aio once``.
"""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

from objstore.aio import processes
from objstore.aio.files import configured_servers
from objstore.aio.layout import DataDir, Server
from objstore.common.metadata import read_metadata
from objstore.common.policies import load_cluster_config
from objstore.obj import layout
from objstore.obj.diskfile import DiskFileManager
from ring.devices import Device
from ring.hashing import PathHasher
from ring.ring import Ring
from tests.functional.exchange import exchange
from tests.functional.test_aio import base_port

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "AUTH_test"
NODES = (1, 2, 3, 4)


class Replica:
    """One node's files of one object, as found on its disk."""

    def __init__(self, node: int, hash_dir: Path, manager: DiskFileManager,
                 device: str, partition: int, name_hash: str) -> None:
        self.node = node
        self.hash_dir = hash_dir
        self.names = sorted(os.listdir(hash_dir)) if hash_dir.is_dir() else []
        self._manager = manager
        self._where = (device, partition, name_hash)

    @property
    def exists(self) -> bool:
        return bool(self.names)

    def kinds(self) -> list[str]:
        return [name.rpartition(".")[2] for name in self.names]

    def read(self) -> tuple[bytes, dict[str, Any]]:
        """The object's bytes (verified chunk by chunk) and metadata (with any .meta)."""
        diskfile = self._manager.get_by_hash(*self._where)
        info = diskfile.open()
        return b"".join(diskfile.read(info)), info.metadata

    def raw_metadata(self) -> dict[str, dict[str, Any]]:
        found = {}
        for name in self.names:
            with open(self.hash_dir / name, "rb") as handle:
                found[name] = read_metadata(handle.fileno())
        return found


class ProbeCluster:
    def __init__(self, root: Path) -> None:
        self.data = DataDir(root / "aio")
        self.port = base_port()
        self.restarted: list[subprocess.Popen[bytes]] = []
        self.token = ""

    # -- processes ---------------------------------------------------------------------

    def aio(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "objstore.aio", *args, "--data-dir",
                               str(self.data.root)], cwd=ROOT, capture_output=True, text=True,
                              timeout=timeout)

    def start(self) -> None:
        done = self.aio("start", "--detach", "--no-daemons", "--port", str(self.port))
        assert done.returncode == 0, done.stdout + done.stderr
        cluster, _ = load_cluster_config(str(self.data.cluster_conf))
        self.hasher = PathHasher(cluster.hash_path_prefix, cluster.hash_path_suffix)
        self.ring = Ring(str(self.data.rings / "object.ring.gz"), hasher=self.hasher)
        status, headers, _ = exchange(self.port, "GET", "/auth/v1.0", headers={
            "X-Auth-User": "test:tester", "X-Auth-Key": "testing"})
        assert status == 200
        self.token = headers["X-Auth-Token"]

    def stop(self) -> None:
        self.aio("stop")
        for child in self.restarted:
            child.wait(timeout=30)

    def server(self, node: int, kind: str = "object") -> Server:
        """Node's server of that kind (object, container or account)."""
        servers = configured_servers(self.data) or []
        return next(s for s in servers if s.kind == kind and s.node == node)

    def object_server(self, node: int) -> Server:
        return self.server(node, "object")

    def kill(self, node: int, kind: str = "object") -> None:
        """Node's server of that kind dies at once (SIGKILL), as in a crash."""
        server = self.server(node, kind)
        pid = processes.running_pid(self.data, server)
        assert pid is not None, f"{server.name} is not running"
        os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while processes.group_alive(pid):
            assert time.monotonic() < deadline, f"{server.name} survived SIGKILL"
            time.sleep(0.05)

    def restart(self, node: int, kind: str = "object") -> None:
        server = self.server(node, kind)
        self.restarted.append(processes.spawn(self.data, server))
        deadline = time.monotonic() + 30
        while not processes.answers(server):
            assert time.monotonic() < deadline, f"{server.name} did not come back"
            time.sleep(0.1)

    def once(self, *daemons: str) -> str:
        """One pass of the daemons on every node; their one-line summaries."""
        done = self.aio("once", *daemons)
        assert done.returncode == 0, done.stdout + done.stderr + self.logs(*daemons)
        return done.stdout

    def logs(self, *daemons: str) -> str:
        return "".join(f"\n--- {path.name}\n{path.read_text()[-3000:]}"
                       for daemon in daemons for path in sorted(self.data.log.glob(
                           f"{daemon}-*.log")))

    # -- the client's view -------------------------------------------------------------

    def request(self, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """A client's request through the proxy (to the account itself when
        ``path`` is empty); response header names in lower case."""
        target = f"/v1/{ACCOUNT}/{path}" if path else f"/v1/{ACCOUNT}"
        status, got, data = exchange(self.port, method, target, body,
                                     {"X-Auth-Token": self.token, **(headers or {})},
                                     timeout=30)
        return status, {name.lower(): value for name, value in got.items()}, data

    def direct(self, device: Device, method: str, path: str, query: str = "",
               headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """A request straight to the storage server of a ring device, as a
        proxy or daemon sends it: ``/<device>/<path>``; header names in lower case."""
        target = urllib.parse.quote(f"/{device.device}/{path}") + (f"?{query}" if query else "")
        status, got, data = exchange(device.port, method, target, headers=headers, timeout=30)
        return status, {name.lower(): value for name, value in got.items()}, data

    # -- the disks' view -----------------------------------------------------------------

    def device(self, node: int) -> Path:
        return self.data.device(node)

    def load_ring(self, name: str) -> Ring:
        """The ring file (account, container, object) as it is now on disk."""
        return Ring(str(self.data.rings / f"{name}.ring.gz"), hasher=self.hasher)

    def device_dirs(self) -> dict[str, Path]:
        """Every device directory of every node, by name: the four of
        objstore-aio and any a test added (srv/<node>/<device>)."""
        return {path.name: path for node in NODES
                for path in sorted(self.data.devices(node).iterdir()) if path.is_dir()}

    def replicas_by_device(self, container: str, obj: str) -> dict[str, Replica]:
        """What every device of every node holds of the object (its
        partition on the ring file as it is now)."""
        ring = self.load_ring("object")
        part = ring.get_part(ACCOUNT, container, obj)
        name_hash = self.hasher.hash_path(ACCOUNT, container, obj)
        found = {}
        for name, path in self.device_dirs().items():
            node = int(path.parent.name)
            manager = DiskFileManager(str(path.parent), hasher=self.hasher)
            hash_dir = Path(layout.hash_dir(str(path), 0, part, name_hash))
            found[name] = Replica(node, hash_dir, manager, name, part, name_hash)
        return found

    def placement(self, container: str, obj: str) -> tuple[int, list[int]]:
        """The object's partition and its primary nodes."""
        part, devices = self.ring.get_nodes(ACCOUNT, container, obj)
        return part, [int(device.device.removeprefix("sdb")) for device in devices]

    def read_order(self, container: str, obj: str) -> list[int]:
        """The primaries in the order the proxy reads them (from the
        partition's own start: proxy/nodes.py node_iter's spread)."""
        part, primaries = self.placement(container, obj)
        start = part % len(primaries)
        return primaries[start:] + primaries[:start]

    def replicas(self, container: str, obj: str) -> dict[int, Replica]:
        """What every node holds of the object, primaries or not."""
        part, _ = self.placement(container, obj)
        name_hash = self.hasher.hash_path(ACCOUNT, container, obj)
        found = {}
        for node in NODES:
            manager = DiskFileManager(str(self.data.devices(node)), hasher=self.hasher)
            hash_dir = Path(layout.hash_dir(str(self.device(node)), 0, part, name_hash))
            found[node] = Replica(node, hash_dir, manager, f"sdb{node}", part, name_hash)
        return found

    def partition_dirs(self, node: int) -> set[int]:
        objects = self.device(node) / "objects"
        return {int(name) for name in os.listdir(objects)} if objects.is_dir() else set()


def etag(body: bytes) -> str:
    return hashlib.md5(body).hexdigest()
