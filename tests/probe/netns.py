"""Hosts with their own addresses on one machine: network namespaces on a bridge.

    network = NetnsNetwork(3); network.open()     # or Unavailable: skip
    cluster = NetnsCluster(tmp_path, network); cluster.start()
    network.cut(3); ...; network.reconnect(3)
    cluster.once("object-replicator")     one pass on every host, in its namespace
    cluster.stop(); network.close()

The network: a bridge in the root namespace holding 198.18.0.1/24 (RFC
2544's benchmarking range, which no real network uses) and one namespace
per host, joined to the bridge by a veth pair whose host end is the
host's ``eth0`` with 198.18.0.1<n>. Cutting a host off takes the bridge's
end of its pair down: the host keeps running, but no packet reaches it or
leaves it, as when its cable or switch port fails; connections already
open simply go silent.

Every name starts with PREFIX. A lock file keeps two runs apart, and each
run first removes what an earlier run left behind (one killed before its
cleanup), so a crash never leaves the machine unable to run the probe.

The cluster on it: each host runs an account, container and object server
on Swift's ports (6202, 6201, 6200: the same on every host) with two
devices, ``sdb`` and ``sdc`` (the same names on every host, as in a real
cluster); the proxy with tempauth listens on 127.0.0.1 in the root
namespace. The configs are objstore-aio's (objstore/aio/files.py) with the
storage servers bound to 0.0.0.0 inside their namespace, so each daemon
finds its node's devices by the host's interface addresses (netifaces).
"""
from __future__ import annotations

import fcntl
import http.client
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Final

from objstore.aio import processes
from objstore.aio.files import (
    add_daemon_sections, cluster_text, proxy_text, ring_kinds, storage_text,
)
from objstore.aio.layout import DAEMONS, IP, DaemonProcess, DataDir, Server
from objstore.common.policies import load_cluster_config
from objstore.obj import layout
from objstore.obj.diskfile import DiskFileManager
from ring.hashing import PathHasher
from ring.ring import Ring

from .cluster import ACCOUNT, Replica

PREFIX: Final = "osp8"   # "objstore probe 8": every namespace and link this module makes
BRIDGE: Final = f"{PREFIX}br"
BRIDGE_IP: Final = "198.18.0.1"
PREFIX_LEN: Final = 24
RESERVED: Final = ipaddress.ip_network("198.18.0.0/15")
LOCK_FILE: Final = Path("/run/lock/objstore-probe-netns.lock")
# "<pid> <config>" of every process started, for the next run to kill
# should this one be killed before its cleanup (the proxy lives outside
# the namespaces, where nothing else would find it)
PIDS_FILE: Final = Path("/run/lock/objstore-probe-netns.pids")
LOCK_WAIT: Final = 300.0

PORTS: Final = {"object": 6200, "container": 6201, "account": 6202}
DEVICES: Final = ("sdb", "sdc")
PART_POWER: Final = 8
REPLICAS: Final = 3
# A host cut off costs a request that still tries it a connect timeout
# (0.5 s) or, on a connection open before the cut, the node timeout: 3 s
# here, not 10, and the proxy sets the host's devices aside after 3 errors,
# not 10, so the probe waits seconds, not minutes.
PROXY_OPTIONS: Final = ["node_timeout = 3", "error_suppression_limit = 3"]
ANSWER_WAIT: Final = 30.0
DAEMON_WAIT: Final = 120.0


class Unavailable(Exception):
    """This machine cannot make the network (not root, no iproute2, no netns)."""


def unavailable() -> str | None:
    """Why the probe cannot run here, before trying anything."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "no ip command (iproute2)"
    return None


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done


class Host:
    """One host: its namespace, its address and the bridge's end of its cable."""

    def __init__(self, node: int) -> None:
        self.node = node
        self.namespace = f"{PREFIX}h{node}"
        self.link = f"{PREFIX}h{node}"   # the same name, in the root namespace, on the bridge
        self.ip = f"198.18.0.{10 + node}"

    def __repr__(self) -> str:
        return f"host{self.node}({self.ip})"


class NetnsNetwork:
    """The bridge and the hosts' namespaces (see the module docstring)."""

    def __init__(self, hosts: int) -> None:
        self.hosts = [Host(node) for node in range(1, hosts + 1)]
        self._lock: IO[str] | None = None

    def host(self, node: int) -> Host:
        return self.hosts[node - 1]

    def open(self) -> None:
        """Take the lock, clear leftovers, make the bridge and the hosts.
        Unavailable when the machine cannot (the caller skips); ``close``
        is due either way."""
        self._take_lock()
        remove_leftovers()
        check_range_free()
        try:
            ip("netns", "add", f"{PREFIX}check")
        except RuntimeError as err:
            raise Unavailable(f"ip netns does not work here: {err}") from None
        ip("netns", "del", f"{PREFIX}check")
        try:
            ip("link", "add", BRIDGE, "type", "bridge")
            ip("addr", "add", f"{BRIDGE_IP}/{PREFIX_LEN}", "dev", BRIDGE)
            ip("link", "set", BRIDGE, "up")
            for host in self.hosts:
                self._make_host(host)
        except RuntimeError as err:
            raise Unavailable(f"cannot build the bridge and veth pairs: {err}") from None

    def _make_host(self, host: Host) -> None:
        inside = f"{host.link}p"
        ip("netns", "add", host.namespace)
        ip("link", "add", host.link, "type", "veth", "peer", "name", inside,
           "netns", host.namespace)
        ns = ("-n", host.namespace)
        ip(*ns, "link", "set", inside, "name", "eth0")
        ip(*ns, "addr", "add", f"{host.ip}/{PREFIX_LEN}", "dev", "eth0")
        ip(*ns, "link", "set", "eth0", "up")
        ip(*ns, "link", "set", "lo", "up")
        ip("link", "set", host.link, "master", BRIDGE)
        ip("link", "set", host.link, "up")

    def cut(self, node: int) -> None:
        ip("link", "set", self.host(node).link, "down")

    def reconnect(self, node: int) -> None:
        ip("link", "set", self.host(node).link, "up")

    def close(self) -> None:
        """Remove everything made (processes still inside are killed), then
        release the lock; raises if something could not be removed."""
        try:
            left = remove_leftovers()
        finally:
            self._release_lock()
        assert not left, f"could not remove: {left}"

    def _take_lock(self) -> None:
        handle = open(LOCK_FILE, "a", encoding="ascii")
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    handle.close()
                    raise Unavailable(f"another run holds {LOCK_FILE}") from None
                time.sleep(0.5)
        self._lock = handle

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.close()   # closing the file drops the flock
            self._lock = None


def remove_leftovers() -> list[str]:
    """Kill the processes started before and those in this module's
    namespaces, delete the namespaces and every link named with PREFIX;
    returns the names still there."""
    kill_recorded()
    for namespace in our_namespaces():
        pids = ip("netns", "pids", namespace, check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while any(processes.alive(int(pid)) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        ip("netns", "del", namespace, check=False)
    for link in our_links():
        ip("link", "del", link, check=False)
    return our_namespaces() + our_links()


def record_pid(pid: int, conf: Path) -> None:
    with open(PIDS_FILE, "a", encoding="utf-8") as handle:
        handle.write(f"{pid} {conf}\n")


def kill_recorded() -> None:
    """SIGKILL each recorded process group whose leader still runs with its
    config (so a reused pid is never hit); forget them all."""
    try:
        lines = PIDS_FILE.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return
    alive = [int(pid) for pid, _, conf in (line.partition(" ") for line in lines)
             if pid.isdigit() and processes.is_server(int(pid), Path(conf))]
    for pid in alive:
        processes.signal_group(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(processes.group_alive(pid) for pid in alive) and time.monotonic() < deadline:
        time.sleep(0.05)
    PIDS_FILE.unlink()


def our_namespaces() -> list[str]:
    lines = ip("netns", "list", check=False).stdout.splitlines()
    return [line.split()[0] for line in lines if line.startswith(PREFIX)]


def our_links() -> list[str]:
    names = []
    for line in ip("-o", "link", "show", check=False).stdout.splitlines():
        # "7: osp8h1@if6: <BROADCAST,...": the name ends at "@" or ":"
        name = line.split(":", 2)[1].strip().split("@")[0]
        if name.startswith(PREFIX):
            names.append(name)
    return names


def check_range_free() -> None:
    """Nothing of this machine may already use 198.18.0.0/15."""
    for line in ip("-o", "-4", "addr", "show", check=False).stdout.splitlines():
        fields = line.split()
        address = fields[fields.index("inet") + 1]
        if ipaddress.ip_interface(address).network.overlaps(RESERVED):
            raise Unavailable(f"{RESERVED} is in use here: {line.strip()}")
    for line in ip("-4", "route", "show", check=False).stdout.splitlines():
        for word in line.split()[:2]:   # "10.0.0.0/8 dev ..." or "unreachable 10.0.0.0/8"
            try:
                target = ipaddress.ip_network(word, strict=False)
            except ValueError:
                continue
            if target.overlaps(RESERVED):
                raise Unavailable(f"{RESERVED} is routed here: {line.strip()}")


# -- the cluster -----------------------------------------------------------------------

def script(name: str) -> str:
    """A console script of this Python (not a pyenv shim, whose exec chain is slow)."""
    path = Path(sys.executable).parent / f"objstore-{name}"
    if not path.exists():
        raise Unavailable(f"{path} is not installed (pip install -e .)")
    return str(path)


def call(host: str, port: int, method: str, path: str, body: bytes = b"",
         headers: dict[str, str] | None = None, timeout: float = 30
         ) -> tuple[int, dict[str, str], bytes]:
    """(status, headers in lower case, body) of one request, answered whole."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        got = {name.lower(): value for name, value in response.getheaders()}
        return response.status, got, response.read()
    finally:
        conn.close()


def with_options(text: str, section: str, options: list[str]) -> str:
    """The config with ``options`` added at the top of ``[section]``."""
    header = f"[{section}]\n"
    assert header in text, section
    return text.replace(header, header + "".join(f"{line}\n" for line in options), 1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((IP, 0))
        return int(sock.getsockname()[1])


class NetnsCluster:
    """objstore on a NetnsNetwork's hosts, the proxy in the root namespace."""

    def __init__(self, root: Path, network: NetnsNetwork) -> None:
        self.data = DataDir(root / "netns")
        self.network = network
        self.hosts = network.hosts
        self.port = free_port()
        self.proxy = Server("proxy", None, self.port)
        self.servers = [Server(kind, host.node, port)
                        for host in self.hosts for kind, port in PORTS.items()]
        self.children: list[subprocess.Popen[bytes]] = []
        self.token = ""

    # -- files -------------------------------------------------------------------------

    def write_files(self) -> None:
        data = self.data
        for directory in (data.etc, data.rings, data.log, data.run):
            directory.mkdir(parents=True, exist_ok=True)
        data.cluster_conf.write_text(cluster_text(secrets.token_hex(16)))
        for server in self.servers:
            assert server.node is not None
            for device in DEVICES:
                (data.devices(server.node) / device).mkdir(parents=True, exist_ok=True)
            # bound to every address of its namespace: the host's own, and lo
            text = storage_text(data, server)
            assert f"bind_ip = {IP}\n" in text
            text = text.replace(f"bind_ip = {IP}\n", "bind_ip = 0.0.0.0\n")
            data.conf(server).write_text(text)
            add_daemon_sections(data, server)
        text = proxy_text(data, self.proxy, secrets.token_hex(32))
        data.conf(self.proxy).write_text(with_options(text, self.proxy.section, PROXY_OPTIONS))
        for seed, (name, kind) in enumerate(ring_kinds(data)):
            self._build_ring(name, PORTS[kind], seed)
        cluster, _ = load_cluster_config(str(data.cluster_conf))
        self.hasher = PathHasher(cluster.hash_path_prefix, cluster.hash_path_suffix)

    def _build_ring(self, name: str, port: int, seed: int) -> None:
        """As an operator would: objstore-ring-builder, one zone per host."""
        builder = str(self.data.rings / f"{name}.builder")
        devices = [f"r1z{host.node}-{host.ip}:{port}/{device}"
                   for host in self.hosts for device in DEVICES]
        for args in (["create", str(PART_POWER), str(REPLICAS), "0"],
                     ["add", *(arg for device in devices for arg in (device, "1"))],
                     ["rebalance", "--seed", str(seed)]):
            done = subprocess.run([script("ring-builder"), builder, *args],
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, (args, done.stdout, done.stderr)

    def ring(self, name: str) -> Ring:
        return Ring(str(self.data.rings / f"{name}.ring.gz"), hasher=self.hasher)

    # -- processes ---------------------------------------------------------------------

    def _spawn(self, command: list[str], conf: Path, log: Path,
               options: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
        """``command CONF options`` in its own session: its pid is its
        process group (its workers' too)."""
        with open(log, "ab") as handle:
            child = subprocess.Popen([*command, str(conf), *options], cwd=self.data.root,
                                     stdin=subprocess.DEVNULL, stdout=handle, stderr=handle,
                                     start_new_session=True)
        self.children.append(child)
        record_pid(child.pid, conf)
        return child

    def start(self) -> None:
        self.write_files()
        for server in self.servers:
            host = self.network.host(server.node or 0)
            # ip netns exec execs the server: the pid is the server's own
            self._spawn(["ip", "netns", "exec", host.namespace, script(f"{server.kind}-server")],
                        self.data.conf(server), self.data.log_file(server))
        self._spawn([script("proxy-server")], self.data.conf(self.proxy),
                    self.data.log_file(self.proxy))
        deadline = time.monotonic() + ANSWER_WAIT
        for server in self.servers:
            host = self.network.host(server.node or 0)
            self.wait_answering(host.ip, server.port, "/", 400, deadline, server.name)
        self.wait_answering(IP, self.port, "/healthcheck", 200, deadline, "proxy")
        status, headers, _ = call(IP, self.port, "GET", "/auth/v1.0", headers={
            "X-Auth-User": "test:tester", "X-Auth-Key": "testing"})
        assert status == 200, status
        self.token = headers["x-auth-token"]

    def wait_answering(self, host: str, port: int, path: str, expected: int,
                       deadline: float, name: str) -> None:
        while True:
            try:
                if call(host, port, "GET", path, timeout=1)[0] == expected:
                    return
            except OSError:
                pass
            assert time.monotonic() < deadline, f"{name} does not answer" + self.logs(name)
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM to every server's group, SIGKILL after 10 s; all reaped."""
        processes.stop_groups([child.pid for child in self.children], timeout=10,
                              children=self.children)

    def once(self, daemon: str) -> None:
        """One pass of the daemon on every host at once, each in its namespace
        (``ip netns exec <ns> objstore-<daemon> CONF --once``)."""
        running = []
        for host in self.hosts:
            process = DaemonProcess(daemon, host.node)
            running.append((process, self._spawn(
                ["ip", "netns", "exec", host.namespace, script(daemon)],
                self.data.conf(process), self.data.log_file(process), ("--once",))))
        for process, child in running:
            try:
                code = child.wait(timeout=DAEMON_WAIT)
            except subprocess.TimeoutExpired:
                processes.stop_groups([child.pid], timeout=5, children=[child])
                code = None
            finally:
                self.children.remove(child)   # reaped: its pid may be reused now
            assert code is not None, (f"{process.name} still running after {DAEMON_WAIT} s"
                                      + self.logs(process.name))
            assert code == 0, f"{process.name} exited {code}" + self.logs(process.name)

    def logs(self, *names: str) -> str:
        return "".join(f"\n--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
                       for name in names for path in sorted(self.data.log.glob(f"{name}*.log")))

    def recon(self, node: int, daemon: str) -> dict[str, Any]:
        server_type = DAEMONS[daemon][0]
        path = self.data.recon(node) / f"{server_type}.recon"
        return json.loads(path.read_text())[daemon]  # type: ignore[no-any-return]

    # -- the client's view and the servers' ------------------------------------------

    def request(self, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None, query: str = ""
                ) -> tuple[int, dict[str, str], bytes]:
        """Through the proxy, as test:tester; ``path`` under the account."""
        target = urllib.parse.quote(f"/v1/{ACCOUNT}/{path}" if path else f"/v1/{ACCOUNT}")
        target += f"?{query}" if query else ""
        return call(IP, self.port, method, target, body,
                    {"X-Auth-Token": self.token, **(headers or {})})

    def direct(self, device: Any, method: str, path: str, query: str = ""
               ) -> tuple[int, dict[str, str], bytes]:
        """Straight to a ring device's server, as a proxy sends it: /<device>/<path>."""
        target = urllib.parse.quote(f"/{device.device}/{path}") + (f"?{query}" if query else "")
        return call(device.ip, device.port, method, target)

    def node_of(self, device: Any) -> int:
        return next(host.node for host in self.hosts if host.ip == device.ip)

    def device_dirs(self) -> Iterator[tuple[int, str, Path]]:
        """(host, device name, its directory) of every device of every host."""
        for host in self.hosts:
            for device in DEVICES:
                yield host.node, device, self.data.devices(host.node) / device

    def replicas(self, container: str, obj: str) -> dict[tuple[int, str], Replica]:
        """What every device of every host holds of the object."""
        part = self.ring("object").get_part(ACCOUNT, container, obj)
        name_hash = self.hasher.hash_path(ACCOUNT, container, obj)
        found = {}
        for node, device, path in self.device_dirs():
            manager = DiskFileManager(str(path.parent), hasher=self.hasher)
            hash_dir = Path(layout.hash_dir(str(path), 0, part, name_hash))
            found[(node, device)] = Replica(node, hash_dir, manager, device, part, name_hash)
        return found
