"""A small real cluster for proxy tests: every server a real process.

One account and one container server (three devices each), three object
servers with one device each (so a test can stop one), and the proxy
with tempauth, all on 127.0.0.1 free ports under one temp directory.
Rings: part power 6, 3 replicas, policies gold (0, default) and silver.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ring.builder import RingBuilder

from .exchange import exchange
from .test_server_runtime import ROOT, free_port, wait_until

HASH_SUFFIX = "proxy-tests"  # the cluster's hash path secret
USERS = {"test:tester": "testing", "test:tester3": "testing3", "admin:admin": "admin"}


def _port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def _group_running(pgid: int) -> bool:
    """Whether a process of the group still runs (zombies have closed
    their files: they do not count)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def command(name: str) -> list[str]:
    script = shutil.which(f"objstore-{name}")
    if script:
        return [script]
    module = {"proxy-server": "objstore.proxy.server", "object-server": "objstore.obj.server",
              "container-server": "objstore.container.server",
              "account-server": "objstore.account.server"}[name]
    return [sys.executable, "-c", f"from {module} import main; main()"]


class Cluster:
    def __init__(self, root: Path, object_conf: str = "") -> None:
        """``object_conf``: more lines for the object servers' section."""
        self.root = root
        self.object_conf = object_conf
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.commands: dict[str, tuple[str, Path]] = {}
        self.ports: dict[str, int] = {}
        for name in ("proxy", "account", "container", "object1", "object2", "object3"):
            port = free_port()
            while port in self.ports.values():  # the kernel may hand out one twice
                port = free_port()
            self.ports[name] = port
        (root / "rings").mkdir()
        (root / "log").mkdir()
        self.cluster_conf = root / "objstore.conf"
        self.cluster_conf.write_text(
            f"[swift-hash]\nswift_hash_path_suffix = {HASH_SUFFIX}\n"
            "[storage-policy:0]\nname = gold\ndefault = yes\n[storage-policy:1]\nname = silver\n")
        self._rings()

    def _rings(self) -> None:
        layouts = {
            "account": [(z, self.ports["account"], f"sd{c}") for z, c in ((1, "a"), (2, "b"),
                                                                           (3, "c"))],
            "container": [(z, self.ports["container"], f"sd{c}") for z, c in ((1, "a"), (2, "b"),
                                                                               (3, "c"))],
        }
        objects = [(z, self.ports[f"object{z}"], "sda") for z in (1, 2, 3)]
        layouts["object"] = layouts["object-1"] = objects
        for name, devices in layouts.items():
            builder = RingBuilder(6, 3, 0)
            for zone, port, device in devices:
                builder.add_dev(1, zone, "127.0.0.1", port, device, 1.0)
            builder.rebalance(seed=1)
            builder.get_ring().save(str(self.root / "rings" / f"{name}.ring.gz"))

    def _storage_conf(self, name: str, kind: str, devices: list[str]) -> Path:
        srv = self.root / "srv" / name
        for device in devices:
            (srv / device).mkdir(parents=True, exist_ok=True)
        extra = (f"ring_dir = {self.root / 'rings'}\naccount_update_interval = 0.2\n"
                 if kind == "container" else self.object_conf if kind == "object" else "")
        conf = self.root / f"{name}.conf"
        conf.write_text(f"[app:{kind}-server]\nbind_port = {self.ports[name]}\nworkers = 1\n"
                        f"devices = {srv}\nmount_check = false\n"
                        f"cluster_conf = {self.cluster_conf}\n"
                        f"log_file = {self.root / 'log' / name}.log\n{extra}")
        return conf

    def _proxy_conf(self) -> Path:
        conf = self.root / "proxy.conf"
        conf.write_text(f"""[pipeline:main]
pipeline = catch_errors healthcheck proxy_logging tempauth copy proxy-server
[filter:catch_errors]
[filter:healthcheck]
[filter:proxy_logging]
[filter:copy]
[filter:tempauth]
token_secret = proxy-tests-token-secret
reseller_prefix = AUTH
user_admin_admin = admin .admin .reseller_admin
user_test_tester = testing .admin
user_test_tester3 = testing3
[app:proxy-server]
bind_port = {self.ports['proxy']}
workers = 1
ring_dir = {self.root / 'rings'}
cluster_conf = {self.cluster_conf}
log_file = {self.root / 'log' / 'proxy.log'}
node_timeout = 3
allow_account_management = true
""")
        return conf

    def start(self) -> None:
        self.start_server("account", "account-server", self._storage_conf(
            "account", "account", ["sda", "sdb", "sdc"]))
        self.start_server("container", "container-server", self._storage_conf(
            "container", "container", ["sda", "sdb", "sdc"]))
        for index in (1, 2, 3):
            self.start_server(f"object{index}", "object-server",
                              self._storage_conf(f"object{index}", "object", ["sda"]))
        self.start_server("proxy", "proxy-server", self._proxy_conf())

    def start_server(self, name: str, kind: str, conf: Path) -> None:
        self.commands[name] = (kind, conf)
        self.procs[name] = subprocess.Popen([*command(kind), str(conf)], cwd=ROOT,
                                            start_new_session=True, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
        import http.client

        def answers() -> bool:
            conn = http.client.HTTPConnection("127.0.0.1", self.ports[name], timeout=2)
            try:
                conn.request("GET", "/healthcheck" if name == "proxy" else "/")
                return conn.getresponse().status in (200, 400)
            finally:
                conn.close()
        wait_until(answers)

    def stop_server(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            # stopped means every process of it gone (its sockets closed),
            # the workers too, not only the parent that wait() saw exit
            deadline = time.monotonic() + 10
            while _group_running(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.01)
            # and its port refusing: the kernel has handled the closing of
            # its sockets, so the proxy's kept-alive ones to it read as
            # closed (under load that can lag the exit by a few ms)
            while _port_open(self.ports[name]) and time.monotonic() < deadline:
                time.sleep(0.01)

    def restart_server(self, name: str) -> None:
        """Start a server that was stopped, with the same config."""
        self.start_server(name, *self.commands[name])

    def object_servers_of(self, account: str, container: str, obj: str,
                          read_order: bool = False) -> list[str]:
        """The object servers holding an object's primaries, in ring order
        (``read_order``: in the order the proxy reads them, node_iter's
        spread)."""
        from ring.hashing import PathHasher
        from ring.ring import Ring

        # the cluster's own secret (not whatever this process has installed)
        ring = Ring(str(self.root / "rings" / "object.ring.gz"),
                    hasher=PathHasher("", HASH_SUFFIX))
        by_port = {port: name for name, port in self.ports.items()}
        part, nodes = ring.get_nodes(account, container, obj)
        if read_order:
            start = part % len(nodes)
            nodes = nodes[start:] + nodes[:start]
        return [by_port[node.port] for node in nodes]

    def stop(self) -> None:
        for name in list(self.procs):
            self.stop_server(name)

    @property
    def auth_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['proxy']}/auth/v1.0"

    def swift(self, *args: str, user: str = "test:tester") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "swiftclient.shell", "-A", self.auth_url,
                               "-U", user, "-K", USERS[user], *args],
                              capture_output=True, text=True, timeout=120, cwd=self.root)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """A client command's output, once it has succeeded."""
    assert result.returncode == 0, result.stdout + result.stderr
    return str(result.stdout)


def token(cluster: Cluster, user: str = "test:tester", key: str = "testing") -> tuple[str, str]:
    """(X-Auth-Token, X-Storage-Url) for a user of the cluster's tempauth."""
    status, headers, _ = exchange(cluster.ports["proxy"], "GET", "/auth/v1.0",
                                  headers={"X-Auth-User": user, "X-Auth-Key": key})
    assert status == 200
    return headers.get("X-Auth-Token", ""), headers.get("X-Storage-Url", "")


def raw(cluster: Cluster, method: str, path: str, body: bytes = b"",
        headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request to the cluster's proxy, answered whole."""
    return exchange(cluster.ports["proxy"], method, path, body, headers, timeout=30)
