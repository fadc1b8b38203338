"""The two clusters of bench/side_by_side.py: objstore-aio and OpenStack Swift.

Each is started under a directory in /tmp and stopped by PID. Both are 4
nodes of one device, 3 replicas, part power 10, an account, container and
object server per node with one worker each, and one proxy with one
worker; no replicators, auditors or updaters.

Swift runs from a throwaway virtualenv (``--swift-bin``) and is never
imported: its rings come from swift-ring-builder, its servers from their
own scripts, memcached serves its cache and tempauth's tokens, and its log
lines (syslog datagrams) go to a sink process, this module run as
``python3 bench/clusters.py SOCKET LOGFILE``, as rsyslog would take them.
"""
from __future__ import annotations

import http.client
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

IP = "127.0.0.1"
USER, KEY = "test:tester", "testing"
NODES, REPLICAS, PART_POWER = 4, 3, 10
STORAGE_KINDS = ("object", "container", "account")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((IP, port))
        except OSError:
            return False
    return True


def free_base(first: int, offsets: list[int], taken: set[int]) -> int:
    """The lowest base >= first with base + every offset free and untaken
    (below the ephemeral range, so client connections never take them)."""
    for base in range(first, 32000 - max(offsets), 10):
        ports = [base + offset for offset in offsets]
        if not taken.intersection(ports) and all(port_free(port) for port in ports):
            taken.update(ports)
            return base
    raise SystemExit("no free ports")


def children_of(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found += [int(child) for child in handle.read().split()]
    except OSError:
        pass
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def stop_groups(pids: list[int], signum: int = signal.SIGTERM,
                timeout: float = STOP_TIMEOUT) -> None:
    """Signal each process group we started (each leader started its own
    session), wait, then SIGKILL what is left."""
    def signal_all(pending: list[int], number: int) -> None:
        for pid in pending:
            try:
                os.killpg(pid, number)
            except (ProcessLookupError, PermissionError):
                pass

    pending = [pid for pid in pids if alive(pid)]
    signal_all(pending, signum)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        time.sleep(0.1)
        pending = [pid for pid in pending if alive(pid) or any(map(alive, children_of(pid)))]
    signal_all(pending, signal.SIGKILL)


def wait_http(port: int, path: str, wanted: set[int] | None, what: str) -> None:
    """Until ``GET path`` answers (with a status in ``wanted``, if given)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection(IP, port, timeout=2)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            if wanted is None or response.status in wanted:
                return
        except (OSError, http.client.HTTPException):
            pass
        finally:
            conn.close()
        time.sleep(0.2)
    raise RuntimeError(f"{what} on port {port} did not answer in {START_TIMEOUT:.0f} s")


# -- the clusters ---------------------------------------------------------------

@dataclass
class Cluster:
    """A running cluster: where to log in and which processes to watch."""

    name: str
    auth_url: str
    pids: list[tuple[str, int]] = field(default_factory=list)   # (kind, pid)
    logs: Path | None = None

    def cpu_pids(self) -> str:
        return ",".join(f"{kind}:{pid}" for kind, pid in self.pids)

    def processes(self) -> list[int]:
        """Every process of the cluster, workers too."""
        return [each for _, pid in self.pids for each in (pid, *children_of(pid))]

    def signal_all(self, signum: int) -> None:
        """Every process of the cluster (SIGSTOP, SIGCONT)."""
        for each in self.processes():
            try:
                os.kill(each, signum)
            except ProcessLookupError:
                pass

    def schedule_batch(self) -> int:
        """Put every thread of every process of the cluster under Linux's
        SCHED_BATCH (as objstore's workers put themselves, see
        objstore/common/scheduling.py); threads started later inherit
        it. Returns how many threads were moved."""
        moved = 0
        for each in self.processes():
            try:
                threads = os.listdir(f"/proc/{each}/task")
            except OSError:
                continue
            for thread in threads:
                try:
                    os.sched_setscheduler(int(thread), os.SCHED_BATCH, os.sched_param(0))
                    moved += 1
                except OSError:
                    pass
        return moved

    def workers(self, kind: str) -> list[int]:
        """The serving child (or, with none, the process) of each server
        of ``kind``."""
        return [next(iter(children_of(pid)), pid) for each, pid in self.pids if each == kind]


class ObjstoreCluster:
    def __init__(self, root: Path, port: int) -> None:
        self.data_dir, self.port = root / "objstore", port
        self.pids: list[int] = []

    def start(self) -> Cluster:
        say(f"starting objstore-aio on port {self.port} ...")
        command = shutil.which("objstore-aio")
        args = ([command] if command else [sys.executable, "-m", "objstore.aio"])
        done = subprocess.run([*args, "start", "--data-dir", str(self.data_dir),
                               "--port", str(self.port), "--detach", "--no-daemons"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._note_pids()  # whatever started, so that stop() finds it
        if done.returncode != 0:
            raise RuntimeError(f"objstore-aio start failed ({done.returncode}): {done.stdout}")
        cluster = Cluster("objstore", f"http://{IP}:{self.port}/auth/v1.0",
                          logs=self.data_dir / "log")
        for pid_file in sorted((self.data_dir / "run").glob("*.pid")):
            kind = pid_file.name.split("-", 1)[0]
            cluster.pids.append((kind, int(pid_file.read_text().strip())))
        return cluster

    def _note_pids(self) -> None:
        for pid_file in (self.data_dir / "run").glob("*.pid"):
            text = pid_file.read_text().strip()
            if text.isdigit():
                self.pids.append(int(text))

    def stop(self) -> None:
        if not self.data_dir.exists():
            return
        self._note_pids()
        command = shutil.which("objstore-aio")
        args = ([command] if command else [sys.executable, "-m", "objstore.aio"])
        subprocess.run([*args, "stop", "--data-dir", str(self.data_dir)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stop_groups(sorted(set(self.pids)), timeout=2.0)  # only what is left, by PID


class SwiftCluster:
    """Swift's servers, memcached and a syslog sink, under ``root/swift``."""

    def __init__(self, root: Path, base: int, swift_bin: Path) -> None:
        self.root, self.base, self.bin = root / "swift", base, swift_bin
        self.etc, self.log = self.root / "etc", self.root / "log"
        self.started: list[tuple[str, int]] = []   # (kind, pid), each its own session

    def port(self, node: int, kind: str) -> int:
        return self.base + 10 * node + STORAGE_KINDS.index(kind)

    @property
    def proxy_port(self) -> int:
        return self.base

    @property
    def memcached_port(self) -> int:
        return self.base + 5

    def start(self) -> Cluster:
        say(f"starting OpenStack Swift on port {self.proxy_port} ...")
        for directory in (self.etc, self.log):
            directory.mkdir(parents=True, exist_ok=True)
        self._write_swift_conf()
        self._build_rings()
        socket_path = self.root / "syslog.sock"
        self._spawn("syslog", [sys.executable, str(Path(__file__).resolve()),
                               str(socket_path), str(self.log / "swift.log")])
        self._wait_for(socket_path)
        self._spawn("memcached", self._memcached_command())
        for node in range(1, NODES + 1):
            (self.root / "srv" / str(node) / f"sdb{node}").mkdir(parents=True, exist_ok=True)
            for kind in STORAGE_KINDS:
                conf = self._write_storage_conf(node, kind, socket_path)
                self._spawn(kind, [str(self.bin / f"swift-{kind}-server"), str(conf)])
        proxy_conf = self._write_proxy_conf(socket_path)
        self._spawn("proxy", [str(self.bin / "swift-proxy-server"), str(proxy_conf)])
        for node in range(1, NODES + 1):
            for kind in STORAGE_KINDS:
                wait_http(self.port(node, kind), "/", None, f"swift {kind} server {node}")
        wait_http(self.proxy_port, "/healthcheck", {200}, "swift proxy")
        return Cluster("swift", f"http://{IP}:{self.proxy_port}/auth/v1.0",
                       pids=list(self.started), logs=self.log)

    def stop(self) -> None:
        stop_groups([pid for _, pid in self.started])

    def _spawn(self, kind: str, command: list[str]) -> None:
        name = f"{kind}-{sum(1 for each, _ in self.started if each == kind) + 1}"
        with open(self.log / f"{name}.out", "ab") as out:
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                    start_new_session=True, cwd=self.root)
        self.started.append((kind, proc.pid))

    @staticmethod
    def _wait_for(path: Path) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not path.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{path} never appeared")
            time.sleep(0.05)

    def _memcached_command(self) -> list[str]:
        binary = shutil.which("memcached")
        if not binary:
            raise SystemExit("memcached is missing: apt-get install -y memcached")
        user = pwd.getpwuid(os.geteuid()).pw_name
        return [binary, "-l", IP, "-p", str(self.memcached_port), "-U", "0", "-m", "64",
                "-u", user]

    def _write_swift_conf(self) -> None:
        (self.etc / "swift.conf").write_text(
            "[swift-hash]\nswift_hash_path_suffix = side-by-side\n\n"
            "[storage-policy:0]\nname = gold\ndefault = yes\n")

    def _build_rings(self) -> None:
        tool = str(self.bin / "swift-ring-builder")
        for ring, kind in (("account", "account"), ("container", "container"),
                           ("object", "object")):
            builder = str(self.etc / f"{ring}.builder")
            commands = [["create", str(PART_POWER), str(REPLICAS), "0"]]
            commands += [["add", "--region", "1", "--zone", str(node), "--ip", IP,
                          "--port", str(self.port(node, kind)), "--device", f"sdb{node}",
                          "--weight", "1"] for node in range(1, NODES + 1)]
            commands += [["rebalance"]]
            for command in commands:
                done = subprocess.run([tool, builder, *command], stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True)
                if done.returncode > 1:  # 1 is a warning
                    raise RuntimeError(f"swift-ring-builder {' '.join(command)}: {done.stdout}")

    def _common(self, port: int, name: str, socket_path: Path) -> list[str]:
        return ["[DEFAULT]", f"bind_ip = {IP}", f"bind_port = {port}", "workers = 1",
                f"user = {pwd.getpwuid(os.geteuid()).pw_name}", f"swift_dir = {self.etc}",
                f"log_address = {socket_path}", f"log_name = {name}"]

    def _write_storage_conf(self, node: int, kind: str, socket_path: Path) -> Path:
        lines = self._common(self.port(node, kind), f"{kind}-server-{node}", socket_path)
        lines += [f"devices = {self.root / 'srv' / str(node)}", "mount_check = false", "",
                  "[pipeline:main]", f"pipeline = {kind}-server", "",
                  f"[app:{kind}-server]", f"use = egg:swift#{kind}"]
        path = self.etc / f"{kind}-server-{node}.conf"
        path.write_text("\n".join(lines) + "\n")
        return path

    def _write_proxy_conf(self, socket_path: Path) -> Path:
        user, key = USER.split(":"), KEY
        filters = {"catch_errors": "catch_errors", "gatekeeper": "gatekeeper",
                   "healthcheck": "healthcheck", "proxy-logging": "proxy_logging",
                   "cache": "memcache", "listing_formats": "listing_formats",
                   "tempauth": "tempauth", "copy": "copy", "dlo": "dlo",
                   "versioned_writes": "versioned_writes"}
        extra = {"cache": [f"memcache_servers = {IP}:{self.memcached_port}"],
                 "tempauth": [f"user_{user[0]}_{user[1]} = {key} .admin"]}
        lines = self._common(self.proxy_port, "proxy-server", socket_path)
        lines += ["", "[pipeline:main]",
                  "pipeline = catch_errors gatekeeper healthcheck proxy-logging cache "
                  "listing_formats tempauth copy dlo versioned_writes proxy-logging proxy-server",
                  "", "[app:proxy-server]", "use = egg:swift#proxy", "account_autocreate = true"]
        for name, egg in filters.items():
            lines += ["", f"[filter:{name}]", f"use = egg:swift#{egg}", *extra.get(name, [])]
        path = self.etc / "proxy-server.conf"
        path.write_text("\n".join(lines) + "\n")
        return path


def syslog_sink(socket_path: str, log_path: str) -> int:
    """Swift's log lines (syslog datagrams) into a file, as rsyslog would."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(socket_path)
    with open(log_path, "ab", buffering=0) as log:
        while True:
            message = sock.recv(65536)
            log.write(message.rstrip(b"\0\n") + b"\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python3 bench/clusters.py SOCKET LOGFILE  (Swift's syslog sink)")
    sys.exit(syslog_sink(sys.argv[1], sys.argv[2]))
