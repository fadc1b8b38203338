"""What an all-in-one cluster is made of: its servers, their ports, its paths.

Four storage nodes on 127.0.0.1, each with one device (``sdb<n>``) in its
own zone and its own object, container and account server, one proxy in
front, and the image service beside it. Every port derives from the
proxy's port P:

    proxy                         P
    image service (Glance API)    P + 1212     (9292 for P = 8080, as Glance)
    node n (1..4)   object        P + 1000 + 10 * (n - 1)
                    container     P + 1000 + 10 * (n - 1) + 1
                    account       P + 1000 + 10 * (n - 1) + 2

With P = 8080, node 1 listens on 9080/9081/9082 and node 4 on
9110/9111/9112. A cluster uses only P, ports P + 1000 to P + 1032 and
P + 1212, so clusters whose proxy ports differ by more than 32, and not
by 1000 to 1032 nor by 180 to 212 or 1212, never share a port.

The data directory (``$OBJSTORE_AIO_DIR``, by default ``./objstore-data``):

    etc/     objstore.conf, proxy-server.conf, image-server.conf, <kind>-server-<n>.conf
    rings/   <ring>.builder and <ring>.ring.gz: account, container, object, object-1
    srv/<n>/sdb<n>/   node n's device
    log/     <server>.log, one per server; <daemon>-<n>.log, one per daemon and node
    run/     <server>.pid and <daemon>-<n>.pid while they run
    recon/<n>/        node n's recon cache (<type>.recon: what its daemons did)

Each storage node also runs the background daemons of ``DAEMONS``, each
with its node's server config (its ``[<daemon>]`` section).
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Final

NODES: Final = 4
STORAGE_KINDS: Final = ("object", "container", "account")
DEFAULT_PORT: Final = 8080
STORAGE_OFFSET: Final = 1000
NODE_STRIDE: Final = 10
HIGHEST_OFFSET: Final = STORAGE_OFFSET + NODE_STRIDE * (NODES - 1) + len(STORAGE_KINDS) - 1
IMAGE_OFFSET: Final = 1212   # the image service: 8080 + 1212 = Glance's 9292
IP: Final = "127.0.0.1"

# the module whose main() each kind's console script calls
MODULES: Final = {
    "object": "objstore.obj.server",
    "container": "objstore.container.server",
    "account": "objstore.account.server",
    "proxy": "objstore.proxy.server",
    "image": "objstore.image.server",
}
# daemon -> (the kind of server whose config it reads, the module of its main());
# in the order ``objstore-aio once`` runs them: rot found, then replicas
# restored (databases before the updates that need them), then the updates,
# the deletions that make more updates, and the totals last
DAEMONS: Final = {
    "object-auditor": ("object", "objstore.obj.auditor"),
    "container-auditor": ("container", "objstore.container.auditor"),
    "account-auditor": ("account", "objstore.account.auditor"),
    "object-replicator": ("object", "objstore.obj.replicator"),
    "container-replicator": ("container", "objstore.container.replicator"),
    "account-replicator": ("account", "objstore.account.replicator"),
    "object-updater": ("object", "objstore.obj.updater"),
    # on every node, each doing its share of the queue (processes = NODES)
    "object-expirer": ("object", "objstore.obj.expirer"),
    "account-reaper": ("account", "objstore.account.reaper"),
    "container-updater": ("container", "objstore.container.updater"),
}


@dataclasses.dataclass(frozen=True)
class Server:
    """One server process of the cluster."""

    kind: str          # object, container, account, proxy or image
    node: int | None   # 1..NODES; None for the proxy and the image server
    port: int

    @property
    def name(self) -> str:
        return f"{self.kind}-server" if self.node is None else f"{self.kind}-server-{self.node}"

    @property
    def section(self) -> str:
        return f"app:{self.kind}-server"

    @property
    def module(self) -> str:
        return MODULES[self.kind]

    @property
    def is_storage(self) -> bool:
        return self.node is not None


@dataclasses.dataclass(frozen=True)
class DaemonProcess:
    """One background daemon of one node (objstore-<daemon> <its server's config>)."""

    daemon: str  # a key of DAEMONS
    node: int

    @property
    def name(self) -> str:
        return f"{self.daemon}-{self.node}"

    @property
    def server(self) -> Server:
        """The server whose config file the daemon reads (port unknown here)."""
        return Server(DAEMONS[self.daemon][0], self.node, 0)

    @property
    def module(self) -> str:
        return DAEMONS[self.daemon][1]

    @property
    def is_storage(self) -> bool:
        return False  # not a storage server: stopped first, with the proxy


def plan_daemons(servers: list[Server], names: list[str] | None = None) -> list[DaemonProcess]:
    """The daemons (all, or those named) of every node that runs their server."""
    return [DaemonProcess(daemon, server.node)
            for daemon in (names if names is not None else list(DAEMONS))
            for server in servers
            if server.node is not None and server.kind == DAEMONS[daemon][0]]


def device_name(node: int) -> str:
    return f"sdb{node}"


def check_port(port: int) -> int:
    """The proxy port, if it leaves room for the ports above it."""
    if not 1 <= port <= 65535 - IMAGE_OFFSET:
        raise ValueError(f"--port must be 1 to {65535 - IMAGE_OFFSET} (the storage servers "
                         f"use up to port + {HIGHEST_OFFSET}, the image server "
                         f"port + {IMAGE_OFFSET})")
    return port


def storage_port(port: int, node: int, kind: str) -> int:
    return port + STORAGE_OFFSET + NODE_STRIDE * (node - 1) + STORAGE_KINDS.index(kind)


def plan_servers(port: int) -> list[Server]:
    """Every server of a cluster whose proxy listens on ``port``: the
    storage servers node by node, then the proxy, then the image server."""
    check_port(port)
    servers = [Server(kind, node, storage_port(port, node, kind))
               for node in range(1, NODES + 1) for kind in STORAGE_KINDS]
    return [*servers, Server("proxy", None, port), Server("image", None, port + IMAGE_OFFSET)]


def default_data_dir() -> Path:
    """``./objstore-data`` (or $OBJSTORE_AIO_DIR): beside where it was started."""
    return Path(os.environ.get("OBJSTORE_AIO_DIR") or "objstore-data").absolute()


@dataclasses.dataclass(frozen=True)
class DataDir:
    """The paths of one cluster's data directory."""

    root: Path

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def rings(self) -> Path:
        return self.root / "rings"

    @property
    def srv(self) -> Path:
        return self.root / "srv"

    @property
    def log(self) -> Path:
        return self.root / "log"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def cluster_conf(self) -> Path:
        return self.etc / "objstore.conf"

    def conf(self, server: Server | DaemonProcess) -> Path:
        if isinstance(server, DaemonProcess):
            server = server.server
        return self.etc / f"{server.name}.conf"

    def log_file(self, server: Server | DaemonProcess) -> Path:
        return self.log / f"{server.name}.log"

    def pid_file(self, server: Server | DaemonProcess) -> Path:
        return self.run / f"{server.name}.pid"

    def recon(self, node: int) -> Path:
        return self.root / "recon" / str(node)

    def devices(self, node: int) -> Path:
        return self.srv / str(node)

    def device(self, node: int) -> Path:
        return self.devices(node) / device_name(node)
