"""The data directory's contents: made on first start, kept after.

``prepare`` makes whatever is missing: the directories, the cluster file
with a random hash path suffix, each server's config (the proxy's with a
random token secret), the device directories and the rings. It never
rewrites a file that exists, so secrets, rings, data and an operator's
edits to the configs survive every restart; a file lost by accident is
made again. The changes made to existing files: a storage server's
config that lacks the section of one of its node's daemons (a directory
set up before the daemon existed) gets that section appended, and a
proxy config without the image service's tempauth user gets that user.

The rings have part power 10, 3 replicas and ``min_part_hours`` 0 over
one device per node, each node its own zone: the three replicas of every
partition sit on three different servers, so a write's quorum (2 of 3)
and a node that is down behave as in a real cluster. There is one object
ring per storage policy of the cluster file (gold: ``object.ring.gz``,
silver: ``object-1.ring.gz``, and any policy an operator adds later).
"""
from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Final

from objstore.aio.layout import (
    DAEMONS, IP, NODES, DaemonProcess, DataDir, Server, device_name, plan_servers,
)
from objstore.common.config import ConfigError, ConfigFile
from objstore.common.policies import load_cluster_config
from objstore.common.server import ServerConfig
from ring import builderfile
from ring.atomic import write_atomically
from ring.builder import RingBuilder

PART_POWER: Final = 10
REPLICAS: Final = 3
MIN_PART_HOURS: Final = 0
GRACEFUL_SECONDS: Final = 10  # below the time ``stop`` waits before SIGKILL

# (account, user, key, groups): the users of a Swift All In One
USERS: Final = (
    ("test", "tester", "testing", ".admin"),
    ("test2", "tester2", "testing2", ".admin"),
    ("test", "tester3", "testing3", ""),
    ("test", "tester6", "testing6", ".reseller_admin"),
    ("test5", "tester5", "testing5", "service"),
    ("admin", "admin", "admin", ".admin .reseller_admin"),
    ("images", "glance", "glance", ".admin"),   # the image service's: its account keeps images
)
IMAGE_SERVICE_USER: Final = ("images", "glance")
PIPELINE: Final = ("catch_errors", "healthcheck", "proxy_logging", "bulk", "tempurl",
                    "formpost", "ratelimit", "tempauth", "staticweb", "copy",
                    "container_quotas", "account_quotas", "slo", "dlo", "versioned_writes",
                    "object_versioning", "symlink",
                    "proxy-server")

_HEADER = "# Written by objstore-aio on first start and kept after; edit freely.\n"

# Each daemon's options on a development cluster (besides ring_dir and
# recon_cache_path): passes often enough to see them work, paced so a
# laptop's disk and CPU stay the developer's.
DAEMON_OPTIONS: Final = {
    "object-auditor": ["interval = 60", "files_per_second = 100",
                       "bytes_per_second = 20000000", "zero_byte_files_per_second = 100"],
    "object-replicator": ["interval = 30", "node_timeout = 10"],
    "object-updater": ["interval = 10", "objects_per_second = 200"],
    "object-expirer": ["interval = 30"],
    "container-replicator": ["interval = 30"],
    "account-replicator": ["interval = 30"],
    "container-auditor": ["interval = 300", "databases_per_second = 50"],
    "account-auditor": ["interval = 300", "databases_per_second = 50"],
    "account-reaper": ["interval = 60"],
    "container-updater": ["interval = 30", "containers_per_second = 100"],
}


def prepare(data: DataDir, servers: list[Server]) -> None:
    """Make what is missing (see the module docstring)."""
    for directory in (data.etc, data.rings, data.log, data.run):
        directory.mkdir(parents=True, exist_ok=True)
    for server in servers:
        if server.node is not None:
            data.device(server.node).mkdir(parents=True, exist_ok=True)
    _create(data.cluster_conf, cluster_text(secrets.token_hex(16)))
    # the proxy's file last: once it exists the directory counts as set up
    for server in sorted(servers, key=lambda s: s.kind == "proxy"):
        text = (storage_text(data, server) if server.is_storage
                else image_text(data, server, servers) if server.kind == "image"
                else proxy_text(data, server, secrets.token_hex(32)))
        _create(data.conf(server), text)
        if server.is_storage:
            add_daemon_sections(data, server)
    add_image_service_user(data)
    build_rings(data, servers)


def configured_servers(data: DataDir) -> list[Server] | None:
    """The servers as the directory's configs have them; None when the
    directory was never set up."""
    proxy = Server("proxy", None, 0)
    if not data.conf(proxy).exists():
        return None
    try:
        servers = plan_servers(_bind_port(data.conf(proxy), proxy.section))
    except ValueError as err:
        raise ConfigError(f"{data.conf(proxy)} [{proxy.section}] bind_port: {err}") from None
    return [dataclasses.replace(server, port=_bind_port(data.conf(server), server.section))
            if server.kind != "proxy" and data.conf(server).exists() else server
            for server in servers]


def _bind_port(path: Path, section: str) -> int:
    conf, _ = ConfigFile(str(path)).load(section, ServerConfig)
    return conf.bind_port


def _create(path: Path, text: str) -> bool:
    if path.exists():
        return False
    # private: the cluster's secrets and the users' keys are in these files
    write_atomically(str(path), _writer(text.encode("utf-8")), mode=0o600)
    return True


def _writer(payload: bytes) -> Callable[[BinaryIO], None]:
    def write(handle: BinaryIO) -> None:
        handle.write(payload)
    return write


# -- the files -----------------------------------------------------------------

def cluster_text(suffix: str) -> str:
    return (_HEADER
            + "# The secret that places every path on the rings: never change it.\n"
            + f"[swift-hash]\nswift_hash_path_suffix = {suffix}\n\n"
            + "[storage-policy:0]\nname = gold\ndefault = yes\n\n"
            + "[storage-policy:1]\nname = silver\n")


def storage_text(data: DataDir, server: Server) -> str:
    assert server.node is not None
    lines = [
        f"# {server.name}: node {server.node}, device {device_name(server.node)}.",
        f"[{server.section}]",
        f"bind_ip = {IP}",
        f"bind_port = {server.port}",
        "workers = 1",
        f"graceful_shutdown_timeout = {GRACEFUL_SECONDS}",
        f"devices = {data.devices(server.node)}",
        "mount_check = false",
        f"cluster_conf = {data.cluster_conf}",
        f"log_file = {data.log_file(server)}",
    ]
    if server.kind == "container":
        lines += [f"ring_dir = {data.rings}", "account_update_interval = 1"]
    return _HEADER + "\n".join(lines) + "\n"


def daemon_text(data: DataDir, daemon: DaemonProcess) -> str:
    return "\n".join([f"[{daemon.daemon}]", f"ring_dir = {data.rings}",
                      f"recon_cache_path = {data.recon(daemon.node)}",
                      *DAEMON_OPTIONS.get(daemon.daemon, []),
                      *_share_of_queue(daemon)]) + "\n"


def _share_of_queue(daemon: DaemonProcess) -> list[str]:
    """Every node runs an expirer; each takes its own share of the queue."""
    if daemon.daemon != "object-expirer":
        return []
    return [f"processes = {NODES}", f"process = {daemon.node - 1}"]


def add_daemon_sections(data: DataDir, server: Server) -> list[str]:
    """Append to the server's config the sections of its node's daemons it
    lacks; returns the daemons added."""
    path = data.conf(server)
    if server.node is None or not path.exists():
        return []
    have = ConfigFile(str(path)).sections
    added = [name for name, (kind, _) in DAEMONS.items()
             if kind == server.kind and name not in have]
    if added:
        text = "".join("\n" + daemon_text(data, DaemonProcess(name, server.node))
                       for name in added)
        whole = path.read_text(encoding="utf-8").rstrip("\n") + "\n" + text
        write_atomically(str(path), _writer(whole.encode("utf-8")), mode=0o600)
    return added


def image_text(data: DataDir, server: Server, servers: list[Server]) -> str:
    proxy = next(other for other in servers if other.kind == "proxy")
    account, user, key, _ = next(row for row in USERS if row[:2] == IMAGE_SERVICE_USER)
    lines = [
        f"# {server.name}: the image API (Glance v2); images live in the cluster "
        f"as {account}:{user}.",
        f"[{server.section}]",
        f"bind_ip = {IP}",
        f"bind_port = {server.port}",
        "workers = 1",
        f"graceful_shutdown_timeout = {GRACEFUL_SECONDS}",
        f"log_file = {data.log_file(server)}",
        f"proxy_url = http://{IP}:{proxy.port}",
        f"service_user = {account}:{user}",
        f"service_key = {key}",
    ]
    return _HEADER + "\n".join(lines) + "\n"


def add_image_service_user(data: DataDir) -> bool:
    """Give a proxy config written before the image service existed the
    service's tempauth user (a line after ``[filter:tempauth]``)."""
    path = data.conf(Server("proxy", None, 0))
    account, user, key, groups = next(row for row in USERS if row[:2] == IMAGE_SERVICE_USER)
    option = f"user_{account}_{user}"
    if not path.exists() or option in ConfigFile(str(path)).sections.get("filter:tempauth", {}):
        return False
    text = path.read_text(encoding="utf-8").replace(
        "[filter:tempauth]\n", f"[filter:tempauth]\n{option} = {key} {groups}\n", 1)
    write_atomically(str(path), _writer(text.encode("utf-8")), mode=0o600)
    return True


def proxy_text(data: DataDir, server: Server, token_secret: str) -> str:
    users = [f"user_{account}_{user} = {' '.join(filter(None, (key, groups)))}"
             for account, user, key, groups in USERS]
    sections = [
        ["[pipeline:main]", "pipeline = " + " ".join(PIPELINE)],
        ["[filter:catch_errors]"],
        ["[filter:healthcheck]"],
        ["[filter:proxy_logging]"],
        ["[filter:bulk]"],
        ["[filter:ratelimit]",
         "# no limits here (tests and benchmarks write fast); see proxy-server.conf-sample",
         "account_ratelimit = 0"],
        ["[filter:copy]"],
        ["[filter:container_quotas]"],
        ["[filter:account_quotas]"],
        ["[filter:slo]"],
        ["[filter:dlo]"],
        ["[filter:versioned_writes]"],
        ["[filter:object_versioning]"],
        ["[filter:symlink]"],
        ["[filter:tempurl]"],
        ["[filter:formpost]"],
        ["[filter:staticweb]"],
        ["[filter:tempauth]",
         "# signs tokens: every proxy of the cluster needs the same one",
         f"token_secret = {token_secret}",
         "reseller_prefix = AUTH, SERVICE",
         "SERVICE_require_group = service",
         *users],
        [f"[{server.section}]",
         f"bind_ip = {IP}",
         f"bind_port = {server.port}",
         "workers = 1",
         f"graceful_shutdown_timeout = {GRACEFUL_SECONDS}",
         f"log_file = {data.log_file(server)}",
         f"ring_dir = {data.rings}",
         f"cluster_conf = {data.cluster_conf}",
         "account_autocreate = true",
         "# reseller admins (test:tester6) may PUT and DELETE accounts",
         "allow_account_management = true"],
    ]
    return _HEADER + "\n\n".join("\n".join(lines) for lines in sections) + "\n"


# -- the rings -----------------------------------------------------------------

def ring_kinds(data: DataDir) -> list[tuple[str, str]]:
    """(ring name, kind of server it places on): account, container and
    one object ring per storage policy of the cluster file."""
    cluster, _ = load_cluster_config(str(data.cluster_conf))
    return [("account", "account"), ("container", "container"),
            *((policy.ring_name, "object") for policy in cluster.policies)]


def build_rings(data: DataDir, servers: list[Server]) -> list[str]:
    """Write every ring file that is missing (from its builder file when
    that exists); returns the names written."""
    written = []
    for seed, (name, kind) in enumerate(ring_kinds(data)):
        ring_path = data.rings / f"{name}.ring.gz"
        if ring_path.exists():
            continue
        builder_path = data.rings / f"{name}.builder"
        if builder_path.exists():
            builder = builderfile.load(str(builder_path))
        else:
            builder = new_builder([s for s in servers if s.kind == kind], seed)
            builderfile.save(builder, str(builder_path))
        builder.get_ring().save(str(ring_path))
        written.append(name)
    return written


def new_builder(servers: list[Server], seed: int) -> RingBuilder:
    """One device per server, each node its own zone, rebalanced."""
    builder = RingBuilder(PART_POWER, REPLICAS, MIN_PART_HOURS)
    for server in servers:
        assert server.node is not None
        builder.add_dev(region=1, zone=server.node, ip=IP, port=server.port,
                        device=device_name(server.node), weight=1.0)
    builder.rebalance(seed=seed)
    return builder
