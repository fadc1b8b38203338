"""Replication figures: replicator passes, a lost device restored, auditor throughput.

A replicator pass over a device of N objects (nothing changed, 1%
changed), a lost device of N objects restored (MB/s against the disk's
own write speed), and the object auditor's files/s and MB/s.

    python3 bench/replication_bench.py [--objects 100000] [--size 4K] [--changed 1]
        [--large-objects 1000] [--large-size 1M] [--part-power 10]
        [--set OPTION=VALUE] [--dir /tmp] [--keep]

The cluster: three nodes on 127.0.0.1, each an ``objstore-object-server``
(one worker) with two devices, ``sdb`` and ``sdc``, and three replicas,
so every device holds every object of its ring. Storage policy 0
("small", ring ``object``) lives on the sdb devices and holds
``--objects`` objects of ``--size`` bytes; policy 1 ("large", ring
``object-1``) lives on the sdc devices and holds ``--large-objects`` of
``--large-size``. Going through a proxy would take hours at 100,000
objects, so the objects are written straight to each replica's device
by ``DiskFileManager``, the object server's own durable write (its
fsyncs included: diskfile has no switch to skip them), with the same
bytes and timestamp on every replica, before the servers start.

Measurements, one JSON line each on stdout (``measurement`` names it;
``options`` repeats the command line; MB is 10**6 bytes):

* ``disk``: this filesystem's own speed, before anything else runs: one
  big file written and fsynced, new files of ``--large-size`` each
  fsynced, new files of ``--size`` each fsynced (one at a time).
* ``setup``: how long writing every replica of every object took.
* ``replication_pass`` (node 1, device sdb, as ``objstore-object-replicator
  CONF --devices sdb`` runs it: ``Runner.run_pass``, in this process):
  ``first`` (no suffix hash cached anywhere yet: every node hashes
  everything), then ``unchanged`` with ``rehash`` ``full`` (a fresh
  daemon: every suffix of the device recomputed, as on a process's first
  pass, every ``--once`` run and every ``rehash_interval``) and ``cached``
  (the same daemon's next pass: only suffixes marked dirty are
  recomputed, a running daemon's usual pass), then ``changed`` (``--changed``
  percent of the device's objects written on node 1 only since the last
  pass, half new objects, half overwrites) ``cached``, and again ``full``.
  ``seconds`` is the pass's wall time, ``replicator_cpu_s`` this
  process's CPU during it, ``servers_cpu_s`` the three object servers';
  ``counts`` and ``backlog`` are what the pass wrote to the recon cache.
* ``object_auditor`` on sdb, then on sdc: one full pass of node 1's
  auditor with its rate limits off (0), the objects' pages evicted from
  the page cache first (``posix_fadvise``), so bytes come from the disk.
* ``restore`` of sdb, then of sdc: node 1's device directory is deleted
  and made again empty, with a new filesystem mounted on it (a replaced
  disk; ``new_disk`` says which: as root, an ext4 or xfs like the one
  under ``--dir`` on a loop device, see scratch_fs.py; otherwise the
  emptied directory, where ext4 makes every new file pay for the
  thousands of inodes just freed), then nodes 2 and 3 each run
  ``objstore-object-replicator CONF --once --devices <dev>`` at the same
  time (processes, as on a real cluster; each ``--once`` pass recomputes
  its own suffix hashes as it goes), the peers' data evicted from the
  page cache first; ``seconds`` is until both are done, ``mb_per_s`` the
  object bytes now on node 1's device per second, ``vs_disk`` that
  against the ``disk`` line's big file (the figure for large objects) and
  ``vs_disk_files`` against its new files of the same size (for small
  objects: objects/s against files/s).

Expect the default run (100,000 objects) to take 10 to 20 minutes, most of
it the setup's 300,000 durable writes and the restore of sdb, and about
5 GB of disk at its peak.

Everything is under a new directory of ``--dir``, removed at the end
unless ``--keep`` (or a step failed: then it is kept, logs in ``log/``).
The servers are stopped by PID on the way out, Ctrl-C included.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from clusters import IP, alive, children_of, free_base, say, stop_groups, wait_http  # noqa: E402
from object_server_bench import byte_size  # noqa: E402
from scratch_fs import ScratchFilesystem  # noqa: E402
from side_by_side import write_new_file  # noqa: E402

from objstore.common.logs import get_logger  # noqa: E402
from objstore.common.policies import load_cluster_config  # noqa: E402
from objstore.common.timestamp import Timestamp  # noqa: E402
from objstore.daemons.base import Daemon  # noqa: E402
from objstore.daemons.recon import read_recon, recon_path  # noqa: E402
from objstore.daemons.runner import Runner, load_daemon_config  # noqa: E402
from objstore.obj.auditor import ObjectAuditor  # noqa: E402
from objstore.obj.diskfile import DiskFileManager  # noqa: E402
from objstore.obj.replicator import ObjectReplicator  # noqa: E402
from ring.builder import RingBuilder  # noqa: E402
from ring.hashing import PathHasher  # noqa: E402
from ring.ring import Ring  # noqa: E402

NODES = (1, 2, 3)
ACCOUNT, CONTAINER = "AUTH_bench", "c"
# device -> (policy index, policy name, ring name)
DEVICES = {"sdb": (0, "small", "object"), "sdc": (1, "large", "object-1")}
MB = 1e6
SETUP_THREADS = 8
OLD = Timestamp(time.time() - 86400)  # the setup's objects: a day old, alike everywhere


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of a process and its children (a server's
    workers), all threads."""
    total = 0.0
    for each in [pid, *children_of(pid)]:
        try:
            with open(f"/proc/{each}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- the disk's own speed -------------------------------------------------------------

def measure_disk(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Fsync'd write speeds of this filesystem, one writer at a time."""
    root.mkdir(parents=True)
    big = max(64, min(1024, (args.large_objects * args.large_size) >> 20)) << 20
    chunk = os.urandom(1 << 20)
    began = time.perf_counter()
    with open(root / "big", "wb", buffering=0) as handle:
        for _ in range(big >> 20):
            handle.write(chunk)
        os.fsync(handle.fileno())
    big_rate = big / (time.perf_counter() - began) / MB
    files = {}
    for size, count in ((args.large_size, min(200, max(10, args.large_objects))),
                        (args.size, min(2000, max(100, args.objects)))):
        data = os.urandom(size)
        began = time.perf_counter()
        for index in range(count):
            write_new_file(str(root / f"f{size}-{index}"), data)
        seconds = time.perf_counter() - began
        files[size] = {"size": size, "count": count, "files_per_s": round(count / seconds, 1),
                       "mb_per_s": round(count * size / seconds / MB, 1)}
    shutil.rmtree(root)
    return {"big_file_bytes": big, "big_file_mb_per_s": round(big_rate, 1),
            "large_files": files[args.large_size], "small_files": files[args.size]}


# -- the cluster ------------------------------------------------------------------------

class BenchCluster:
    """Three object servers, their configs, rings and devices, under ``root``."""

    def __init__(self, root: Path, replicator_options: list[str]) -> None:
        self.root = root
        self.replicator_options = replicator_options
        base = free_base(7300, [0, 1, 2], set())
        self.ports = {node: base + node - 1 for node in NODES}
        self.pids: dict[int, int] = {}
        self.new_disks: list[ScratchFilesystem] = []  # restored devices' filesystems
        for directory in ("etc", "rings", "log", "recon"):
            (root / directory).mkdir(parents=True, exist_ok=True)
        self.cluster_conf = root / "etc" / "objstore.conf"
        self.cluster_conf.write_text(
            f"[swift-hash]\nswift_hash_path_suffix = {secrets.token_hex(8)}\n\n"
            "[storage-policy:0]\nname = small\ndefault = yes\n\n"
            "[storage-policy:1]\nname = large\n")
        cluster, _ = load_cluster_config(str(self.cluster_conf))
        self.hasher = PathHasher(cluster.hash_path_prefix, cluster.hash_path_suffix)
        self.managers = {node: DiskFileManager(str(self.devices(node)), hasher=self.hasher)
                         for node in NODES}
        for node in NODES:
            for device in DEVICES:
                self.device(node, device).mkdir(parents=True)
            self.conf(node).write_text(self._conf_text(node))

    def devices(self, node: int) -> Path:
        return self.root / "srv" / str(node)

    def device(self, node: int, device: str) -> Path:
        return self.devices(node) / device

    def conf(self, node: int) -> Path:
        return self.root / "etc" / f"object-server-{node}.conf"

    def log(self, name: str, kind: str = "log") -> Path:
        """A log file (``kind`` "out": a process's own output)."""
        return self.root / "log" / f"{name}.{kind}"

    def _conf_text(self, node: int) -> str:
        recon = self.root / "recon" / str(node)
        daemon = [f"ring_dir = {self.root / 'rings'}", f"recon_cache_path = {recon}"]
        return "\n".join([
            "[app:object-server]", f"bind_ip = {IP}", f"bind_port = {self.ports[node]}",
            "workers = 1", f"devices = {self.devices(node)}", "mount_check = false",
            f"cluster_conf = {self.cluster_conf}", f"log_file = {self.log(f'object-{node}')}",
            "", "[object-replicator]", *daemon,
            f"log_file = {self.log(f'object-replicator-{node}')}",
            "# the bench decides which passes rehash everything (a fresh daemon does)",
            "rehash_interval = 86400", *self.replicator_options,
            "", "[object-auditor]", *daemon, f"log_file = {self.log(f'object-auditor-{node}')}",
            "files_per_second = 0", "bytes_per_second = 0", "zero_byte_files_per_second = 0",
        ]) + "\n"

    def build_rings(self, part_power: int) -> None:
        for seed, (device, (_, _, ring_name)) in enumerate(DEVICES.items()):
            builder = RingBuilder(part_power, len(NODES), 0)
            for node in NODES:
                builder.add_dev(region=1, zone=node, ip=IP, port=self.ports[node],
                                device=device, weight=1.0)
            builder.rebalance(seed=seed)
            builder.get_ring().save(str(self.root / "rings" / f"{ring_name}.ring.gz"))
        self.rings = {device: Ring(str(self.root / "rings" / f"{ring_name}.ring.gz"),
                                   hasher=self.hasher)
                      for device, (_, _, ring_name) in DEVICES.items()}

    def write(self, node: int, device: str, name: str, body: bytes,
              timestamp: Timestamp) -> None:
        """One replica of ``name``, as the object server stores a PUT."""
        policy = DEVICES[device][0]
        partition = self.rings[device].get_part(ACCOUNT, CONTAINER, name)
        diskfile = self.managers[node].get(device, partition, ACCOUNT, CONTAINER, name, policy)
        with diskfile.create(len(body)) as writer:
            writer.write(body)
            writer.commit({"name": f"/{ACCOUNT}/{CONTAINER}/{name}",
                           "X-Timestamp": timestamp.internal,
                           "Content-Type": "application/octet-stream"})

    # -- processes ----------------------------------------------------------------------

    def start(self) -> None:
        for node in NODES:
            with open(self.log(f"object-{node}", "out"), "ab") as out:
                child = subprocess.Popen(
                    [*script("objstore-object-server", "objstore.obj.server"),
                     str(self.conf(node))],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
            self.pids[node] = child.pid
        for node in NODES:
            wait_http(self.ports[node], "/", None, f"object server {node}")

    def stop(self) -> None:
        stop_groups([pid for pid in self.pids.values() if alive(pid)])

    def servers_cpu(self) -> float:
        return sum(cpu_of(pid) for pid in self.pids.values())

    def recon(self, node: int, key: str) -> dict[str, Any]:
        entry = read_recon(recon_path(str(self.root / "recon" / str(node)), "object")).get(key)
        return entry if isinstance(entry, dict) else {}


def script(name: str, module: str) -> list[str]:
    """A console script, or its module's main() before it is installed."""
    found = shutil.which(name)
    return [found] if found else [sys.executable, "-c", f"from {module} import main; main()"]


def body_of(index: int, base: bytes) -> bytes:
    """Bytes unique to each object without making a random block per object."""
    return index.to_bytes(8, "big") + base[8:]


def parallel(count: int, work: Callable[[int], None]) -> None:
    with ThreadPoolExecutor(SETUP_THREADS) as pool:
        for _ in pool.map(work, range(count)):
            pass


def set_up_objects(cluster: BenchCluster, args: argparse.Namespace) -> list[str]:
    """Every replica of every object; the small objects' names."""
    small = [f"o{index:08d}" for index in range(args.objects)]
    small_base, large_base = os.urandom(args.size), os.urandom(args.large_size)

    def write_small(index: int) -> None:
        for node in NODES:
            cluster.write(node, "sdb", small[index], body_of(index, small_base), OLD)

    def write_large(index: int) -> None:
        for node in NODES:
            cluster.write(node, "sdc", f"big{index:06d}", body_of(index, large_base), OLD)

    parallel(args.objects, write_small)
    parallel(args.large_objects, write_large)
    return small


def change_objects(cluster: BenchCluster, names: list[str], percent: float, size: int,
                   round_name: str) -> int:
    """``percent`` of the objects written on node 1's sdb only: half of
    them new objects (added to ``names``), half overwrites. Returns how many."""
    count = max(1, round(len(names) * percent / 100))
    overwritten = random.sample(names, count // 2)
    added = [f"{round_name}-{index:07d}" for index in range(count - len(overwritten))]
    base = os.urandom(size)
    for index, name in enumerate(overwritten + added):
        cluster.write(1, "sdb", name, body_of(index, base), Timestamp.now())
    names.extend(added)
    return count


def data_files(device: Path) -> Iterator[Path]:
    for directory, _, files in os.walk(device):
        for name in files:
            if name.endswith(".data"):
                yield Path(directory) / name


def evict(device: Path) -> None:
    """Drop the device's file pages from the page cache (every page is
    clean: each write was fsynced), so the next read comes from the disk."""
    for directory, _, files in os.walk(device):
        for name in files:
            fd = os.open(os.path.join(directory, name), os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


# -- passes ------------------------------------------------------------------------------

def daemon_runner(cluster: BenchCluster, daemon_class: type[Daemon], device: str) -> Runner:
    """What ``objstore-<daemon> CONF --devices <device>`` runs, for node 1."""
    conf_path = str(cluster.conf(1))
    conf, _ = load_daemon_config(conf_path, daemon_class)
    logger = get_logger(daemon_class.name, conf.log_level, conf.log_file)
    args = argparse.Namespace(devices=[device], zero_byte_fps=None)
    return Runner(daemon_class, conf_path, args, conf, logger)


def timed_pass(cluster: BenchCluster, runner: Runner, key: str) -> dict[str, Any]:
    daemon = runner.current[key]
    cpu, servers = own_cpu(), cluster.servers_cpu()
    began = time.perf_counter()
    clean = runner.run_pass(daemon)
    seconds = time.perf_counter() - began
    entry = cluster.recon(1, key)
    return {"seconds": round(seconds, 3), "clean": clean,
            "pass_cpu_s": round(own_cpu() - cpu, 2),
            "servers_cpu_s": round(cluster.servers_cpu() - servers, 2),
            "counts": (entry.get("last_pass") or {}).get("counts", {}),
            **({"backlog": entry["backlog"]} if "backlog" in entry else {})}


def replication_pass(cluster: BenchCluster, runner: Runner, case: str, rehash: str,
                     objects: int, changed: int) -> dict[str, Any]:
    say(f"replication pass: {case}, {rehash} rehash ...")
    result = timed_pass(cluster, runner, "object-replicator")
    result["replicator_cpu_s"] = result.pop("pass_cpu_s")
    return {"case": case, "rehash": rehash, "device_objects": objects,
            "changed_objects": changed, **result,
            "objects_per_s": round(objects / result["seconds"], 1)}


def audit(cluster: BenchCluster, device: str, size: int) -> dict[str, Any]:
    say(f"object auditor on {device} ...")
    evict(cluster.device(1, device))
    result = timed_pass(cluster, daemon_runner(cluster, ObjectAuditor, device),
                        "object-auditor")
    result["auditor_cpu_s"] = result.pop("pass_cpu_s")
    counts, seconds = result["counts"], result["seconds"]
    return {"device": device, "object_size": size, "files": counts.get("files", 0),
            "bytes": counts.get("bytes", 0),
            "files_per_s": round(counts.get("files", 0) / seconds, 1),
            "mb_per_s": round(counts.get("bytes", 0) / seconds / MB, 1), **result}


def run_once(cluster: BenchCluster, node: int, device: str) -> subprocess.Popen[bytes]:
    """``objstore-object-replicator CONF --once --devices <device>`` on ``node``."""
    with open(cluster.log(f"restore-{device}-{node}", "out"), "ab") as out:
        return subprocess.Popen(
            [*script("objstore-object-replicator", "objstore.obj.replicator"),
             str(cluster.conf(node)), "--once", "--devices", device],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out)


def wait_all(children: dict[int, subprocess.Popen[bytes]]) -> tuple[dict[int, int], float]:
    """Each child's exit code, and the CPU seconds they used altogether."""
    exits: dict[int, int] = {}
    cpu = 0.0
    for node, child in children.items():
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = exits[node] = os.waitstatus_to_exitcode(status)
        cpu += usage.ru_utime + usage.ru_stime
    return exits, cpu


def restore(cluster: BenchCluster, device: str, size: int, expected: int,
            disk: dict[str, Any]) -> dict[str, Any]:
    say(f"restoring node 1's {device} from nodes 2 and 3 ...")
    lost = cluster.device(1, device)
    shutil.rmtree(lost)
    lost.mkdir()  # a new, empty disk in its place: a new filesystem where one can be made
    new_disk = ScratchFilesystem()
    if new_disk.make(at=lost) is not None:
        cluster.new_disks.append(new_disk)
    described = new_disk.description or "the emptied directory, on the same filesystem"
    for node in NODES[1:]:
        evict(cluster.device(node, device))
    servers = cluster.servers_cpu()
    began = time.perf_counter()
    peers = {node: run_once(cluster, node, device) for node in NODES[1:]}
    exits, cpu = wait_all(peers)
    seconds = time.perf_counter() - began
    restored = sum(1 for _ in data_files(lost))
    rate = restored * size / seconds / MB
    same_size = disk["large_files"] if size == disk["large_files"]["size"] else \
        disk["small_files"]
    return {
        "device": device, "new_disk": described, "object_size": size,
        "objects_expected": expected,
        "objects_restored": restored, "bytes_restored": restored * size,
        "seconds": round(seconds, 3), "objects_per_s": round(restored / seconds, 1),
        "mb_per_s": round(rate, 1), "vs_disk": round(rate / disk["big_file_mb_per_s"], 4),
        "vs_disk_files": round(rate / same_size["mb_per_s"], 4),
        "replicators_cpu_s": round(cpu, 2),
        "servers_cpu_s": round(cluster.servers_cpu() - servers, 2),
        "peers": {str(node): {"exit": exits[node],
                              "counts": (cluster.recon(node, "object-replicator")
                                         .get("last_pass") or {}).get("counts", {})}
                  for node in peers},
    }


# -- the run ------------------------------------------------------------------------------

def measure(cluster: BenchCluster, args: argparse.Namespace,
            emit: Callable[..., None]) -> None:
    disk = measure_disk(cluster.root / "disk-probe", args)
    emit("disk", **disk)
    cluster.build_rings(args.part_power)
    say(f"writing {args.objects} x {args.size} B and {args.large_objects} x "
        f"{args.large_size} B objects, {len(NODES)} replicas each ...")
    began = time.perf_counter()
    names = set_up_objects(cluster, args)
    seconds = time.perf_counter() - began
    writes = len(NODES) * (args.objects + args.large_objects)
    emit("setup", replicas=len(NODES), small_objects=args.objects,
         large_objects=args.large_objects, seconds=round(seconds, 1),
         replica_writes_per_s=round(writes / seconds, 1))
    cluster.start()

    runner = daemon_runner(cluster, ObjectReplicator, "sdb")
    emit("replication_pass", **replication_pass(cluster, runner, "first", "full",
                                                len(names), 0))
    runner = daemon_runner(cluster, ObjectReplicator, "sdb")
    emit("replication_pass", **replication_pass(cluster, runner, "unchanged", "full",
                                                len(names), 0))
    emit("replication_pass", **replication_pass(cluster, runner, "unchanged", "cached",
                                                len(names), 0))
    changed = change_objects(cluster, names, args.changed, args.size, "new1")
    emit("replication_pass", **replication_pass(cluster, runner, "changed", "cached",
                                                len(names), changed))
    changed = change_objects(cluster, names, args.changed, args.size, "new2")
    runner = daemon_runner(cluster, ObjectReplicator, "sdb")
    emit("replication_pass", **replication_pass(cluster, runner, "changed", "full",
                                                len(names), changed))

    emit("object_auditor", **audit(cluster, "sdb", args.size))
    if args.large_objects:
        emit("object_auditor", **audit(cluster, "sdc", args.large_size))
    emit("restore", **restore(cluster, "sdb", args.size, len(names), disk))
    if args.large_objects:
        emit("restore", **restore(cluster, "sdc", args.large_size, args.large_objects, disk))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--objects", type=int, default=100_000,
                        help="small objects on each sdb device (default 100000)")
    parser.add_argument("--size", type=byte_size, default=4096,
                        help="bytes of each small object; K and M allowed (default 4K)")
    parser.add_argument("--changed", type=float, default=1.0,
                        help="percent of the small objects changed before a 'changed' "
                             "pass (default 1)")
    parser.add_argument("--large-objects", type=int, default=1000,
                        help="large objects on each sdc device, for MB/s (default 1000)")
    parser.add_argument("--large-size", type=byte_size, default=1 << 20,
                        help="bytes of each large object (default 1M)")
    parser.add_argument("--part-power", type=int, default=10,
                        help="of both object rings (default 10: 1,024 partitions)")
    parser.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                        help="a line for every node's [object-replicator] section, e.g. "
                             "workers_per_device=4 (repeatable)")
    parser.add_argument("--dir", default="/tmp", help="where the bench's directory is made")
    parser.add_argument("--keep", action="store_true", help="keep the directory at the end")
    args = parser.parse_args(argv)
    if args.objects < 1 or args.large_objects < 0 or not 0 < args.changed <= 100:
        parser.error("--objects must be at least 1, --large-objects at least 0, "
                     "--changed more than 0 and at most 100")
    if not 1 <= args.part_power <= 24:
        parser.error("--part-power must be 1 to 24")
    if min(args.size, args.large_size) < 8:
        parser.error("--size and --large-size must be at least 8 bytes (each object's "
                     "first 8 bytes are its number)")
    if any("=" not in line for line in args.set):
        parser.error("--set takes OPTION=VALUE")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    options = {key: value for key, value in vars(args).items() if key not in ("dir", "keep")}

    def emit(measurement: str, **fields: Any) -> None:
        print(json.dumps({"measurement": measurement, **fields, "options": options}),
              flush=True)

    root = Path(tempfile.mkdtemp(prefix="replication-bench-", dir=args.dir))
    say(f"working in {root}")
    cluster = BenchCluster(root, [line.replace("=", " = ", 1) for line in args.set])
    failed = True
    try:
        measure(cluster, args, emit)
        failed = False
    except KeyboardInterrupt:
        say("interrupted")
    finally:
        cluster.stop()
        for disk in cluster.new_disks:
            disk.remove()
        if failed or args.keep:
            say(f"kept {root} (logs in {root / 'log'})")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
