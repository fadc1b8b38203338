"""objstore-aio and OpenStack Swift side by side: same machine, same topology, one run.

    python3 bench/side_by_side.py [--swift-bin /tmp/swiftvenv/bin] [--rounds 2] [--profile]

Both clusters live under one temporary directory in /tmp (so on the same
filesystem; ``--fresh-fs``: on a filesystem made for the run on the same
disk, see bench/scratch_fs.py): 4 nodes of one device each, 3 replicas,
part power 10, an account, container and object server per node and one
proxy, every server with one worker, no replicators, auditors or
updaters.

* objstore: ``objstore-aio start --detach`` (its own pipeline, 16 filters:
  catch_errors healthcheck proxy_logging bulk tempurl formpost ratelimit
  tempauth staticweb copy container_quotas account_quotas slo dlo
  versioned_writes object_versioning symlink proxy-server).
* Swift (from a throwaway virtualenv, never imported here): rings from
  swift-ring-builder, the pipeline of a usual deployment (catch_errors
  gatekeeper healthcheck proxy-logging cache listing_formats tempauth copy
  dlo versioned_writes proxy-logging proxy-server), memcached for the
  cache and tempauth's tokens, every durability option at its default:
  the object server fsyncs each object's file before linking it in and
  then the hash directory (and any directory it created); large uploads
  also fdatasync every ``mb_per_sync`` = 512 MiB; it drops the written
  pages from the page cache (``keep_cache_private`` = false, so GETs of
  private objects read from the disk); container servers append object
  records to their pending files without fsync. Its servers log to a
  syslog socket that a small sink process writes to a file, as rsyslog
  would (its CPU shows as ``syslog``). See bench/clusters.py.

Before the clusters start it measures the disk: new 4 KiB files written
and fsynced three at a time (one object's replicas; one op in flight,
then 16 as in the 4 KiB load), and three 64 MiB files at once, each
fsynced, written through the page cache and again with O_DIRECT (see
``large_rates``). The 64 MiB probes are taken again right before each
round's objstore 64 MiB PUTs, both clusters stopped: this disk's
bandwidth swings 2x between probes a minute apart, so the 64 MiB PUT
target is judged against the disk of the same minutes (the mean of the
better probe of each round against the mean of the rounds). Then
``bench/load.py`` runs put, get and head against each cluster in turn
for 4 KiB x 1000 (16 connections), 1 MiB x 200 (8) and 64 MiB x 12 (2),
with the servers' PIDs for CPU ms per request by kind, round after
round; then the delete phase of each of those loads, in the same order
(no PUT follows a DELETE: see DELETES_LAST). While one cluster is
measured the other is stopped (SIGSTOP; see ``alone``).

objstore's workers put their threads under Linux's SCHED_BATCH (their
``scheduling`` option, default batch); Swift runs as shipped.
``--swift-scheduling batch`` puts Swift's threads under it too, to see
how much of the difference the policy alone makes.

``--profile`` adds a 4 KiB PUT and GET against objstore under py-spy (from
``--py-spy``, e.g. a throwaway venv) on the proxy, one object, one
container and one account server, and the per-thread CPU split from
/proc. Prints markdown tables; the raw JSON lines go to a file in /tmp.
Everything started is stopped by PID on the way out, Ctrl-C included;
the directory is kept (logs for a bug report) when a request failed.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import errno
import json
import mmap
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import hotspots  # noqa: E402  (scripts beside this one, not a package)
from clusters import (  # noqa: E402
    KEY, NODES, REPLICAS, USER, Cluster, ObjstoreCluster, SwiftCluster, free_base, say,
)
from load import parse_size  # noqa: E402
from scratch_fs import ScratchFilesystem, mount_of  # noqa: E402

KINDS = ("proxy", "object", "container", "account", "memcached", "syslog")
DEFAULT_LOADS = "4K:1000:16,1M:200:8,64M:12:2"   # size:count:concurrency
PHASES = ("put", "get", "head", "delete")
WRITE_AND_READ = PHASES[:3]
# DELETES_LAST: ext4 without a journal (this machine's root filesystem)
# skips, one by one, inodes freed in the last 60 s (360 s while their inode
# table block is dirty) when it makes a file: a PUT phase after a DELETE
# phase on the same filesystem paid up to 1 ms of kernel time per new
# file for the earlier deletions (ours and the other cluster's), a cost of
# the benchmark's order that weighed most on the cluster spending the
# least per request. So every load's DELETE phase runs after every PUT.
LOAD_TIMEOUT = 1800.0
LARGE_PROBE = 64 << 20  # the object size whose PUT is judged against the disk's bandwidth


# -- the machine ------------------------------------------------------------------

def machine_line() -> str:
    memory = ""
    try:
        with open("/proc/meminfo") as handle:
            kib = int(handle.readline().split()[1])
        memory = f", {kib / 2**20:.0f} GiB"
    except (OSError, IndexError, ValueError):
        pass
    try:
        fs = (mount_of("/tmp") or ("", "", "?"))[2]
    except OSError:
        fs = "?"
    return (f"{os.cpu_count()} cores ({platform.machine()}){memory}, Linux "
            f"{platform.release()}, Python {platform.python_version()}, /tmp on {fs}; "
            f"{time.strftime('%Y-%m-%d %H:%M')}")


# -- the disk's own limits ---------------------------------------------------------

def write_new_file(path: str, data: bytes | memoryview | mmap.mmap, chunk: int = 1 << 20,
                   flags: int = 0) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | flags, 0o644)
    try:
        view = memoryview(data)
        for at in range(0, len(view), chunk):
            os.write(fd, view[at:at + chunk])
        os.fsync(fd)
    finally:
        os.close(fd)


def small_fsync_rate(root: Path, ops: int, in_flight: int) -> float:
    """Ops per second; an op writes and fsyncs a new 4 KiB file in each of
    three directories at once (one object's three replicas)."""
    dirs = [root / f"replica{n}" for n in range(REPLICAS)]
    for directory in dirs:
        directory.mkdir(parents=True, exist_ok=True)
    data, counter, lock = os.urandom(4096), iter(range(ops)), threading.Lock()
    pool = concurrent.futures.ThreadPoolExecutor(REPLICAS * in_flight)

    def driver() -> None:
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            futures = [pool.submit(write_new_file, str(directory / f"f{in_flight}-{index}"), data)
                       for directory in dirs]
            for future in futures:
                future.result()

    began = time.perf_counter()
    drivers = [threading.Thread(target=driver) for _ in range(in_flight)]
    for thread in drivers:
        thread.start()
    for thread in drivers:
        thread.join()
    seconds = time.perf_counter() - began
    pool.shutdown()
    return ops / seconds


def large_fsync_rate(root: Path, size: int, rounds: int, direct: bool = False) -> float:
    """Object MB/s (10**6 bytes) when every byte goes to three new files at
    once, each fsynced: ``rounds`` rounds of three ``size``-byte files.
    ``direct``: written with O_DIRECT, 4 MiB at a time from an aligned
    buffer (0.0 where the filesystem refuses O_DIRECT)."""
    root.mkdir(parents=True, exist_ok=True)
    data: bytes | mmap.mmap = os.urandom(size)
    chunk, flags = 1 << 20, 0
    if direct:
        aligned = mmap.mmap(-1, size)  # page-aligned, as O_DIRECT wants
        aligned[:] = data
        data, chunk, flags = aligned, 4 << 20, os.O_DIRECT
    seconds = 0.0
    with concurrent.futures.ThreadPoolExecutor(REPLICAS) as pool:
        for index in range(rounds):
            began = time.perf_counter()
            try:
                list(pool.map(lambda n: write_new_file(
                    str(root / f"big{index}-{n}{'-direct' if direct else ''}"), data, chunk,
                    flags), range(REPLICAS)))
            except OSError as err:
                if err.errno != errno.EINVAL or not direct:
                    raise
                return 0.0
            seconds += time.perf_counter() - began
    return size * rounds / seconds / 1e6


def large_rates(root: Path) -> dict[str, float]:
    """The 64 MiB probe both ways: through the page cache (as Swift and
    the simplest writer write) and past it (as objstore writes big
    bodies). The disk takes what the better of the two shows: right
    after a load here, the first buffered probe ran at a third of its
    usual rate while the direct one ran at its best (the kernel's
    writeback pacing, not the disk)."""
    return {"buffered": large_fsync_rate(root, LARGE_PROBE, 4),
            "direct": large_fsync_rate(root, LARGE_PROBE, 4, direct=True)}


def measure_disk(root: Path) -> dict[str, Any]:
    say("measuring the disk ...")
    result: dict[str, Any] = {
        "small_ops_per_s_1": small_fsync_rate(root / "small", 300, 1),
        "small_ops_per_s_16": small_fsync_rate(root / "small", 800, 16),
        "large": large_rates(root / "large"),
        "large_before_rounds": [],  # see large_probe_beside
    }
    # The probe's files stay until the run ends (under the run's root): on
    # ext4, inodes freed in the last minutes are skipped one by one when a
    # new file is made, which would slow only the first cluster's PUTs.
    return result


def large_probe_beside(clusters: list[Cluster], root: Path, round_: int,
                       disk: dict[str, Any], raw_path: Path) -> None:
    """The 64 MiB probe again, every cluster stopped, kept in ``disk``
    and the raw file (taken right before a round's objstore 64 MiB PUTs)."""
    say(f"round {round_}: the disk's 64 MiB probe again ...")
    with stopped(clusters):
        rates = large_rates(root / f"large-r{round_}")
    disk["large_before_rounds"].append(rates)
    say(f"  {rates['buffered']:,.0f} MB/s of object buffered, {rates['direct']:,.0f} direct")
    with open(raw_path, "a") as raw:
        raw.write(json.dumps({"disk_round": round_, "large": rates}) + "\n")


# -- running load.py ---------------------------------------------------------------

@contextlib.contextmanager
def stopped(clusters: list[Cluster]) -> Iterator[None]:
    """Every process of ``clusters`` stopped (SIGSTOP) meanwhile."""
    for cluster in clusters:
        cluster.signal_all(signal.SIGSTOP)
    try:
        yield
    finally:
        for cluster in clusters:
            cluster.signal_all(signal.SIGCONT)


def alone(cluster: Cluster, clusters: list[Cluster]) -> contextlib.AbstractContextManager[None]:
    """The other clusters stopped while ``cluster`` is measured: idle,
    Swift's takes 6% of this machine's CPU (each of its 15 processes
    about 1% of a core), objstore's 1%, which would weigh on the other."""
    return stopped([other for other in clusters if other is not cluster])


def timed_load(cluster: Cluster, clusters: list[Cluster], round_: int, size: str, count: int,
               concurrency: int, phases: tuple[str, ...], container: str, raw_path: Path
               ) -> tuple[list[dict[str, Any]], bool]:
    """One load.py run with the other clusters stopped, said and kept in
    the raw file; False if it failed."""
    say(f"round {round_}: {cluster.name} {size} x {count}, {concurrency} connections, "
        f"{'/'.join(phases)} ...")
    with alone(cluster, clusters):
        results, errors, status = run_load(cluster, size, count, concurrency, phases, container)
    if errors.strip():
        say(f"  {cluster.name} load.py stderr:\n    " + errors.strip().replace("\n", "\n    "))
    ok = status == 0 and len(results) == len(phases)
    if not ok:
        say(f"  {cluster.name}: load.py exit {status}; logs in {cluster.logs}")
    with open(raw_path, "a") as raw:
        for result in results:
            result["round"] = round_
            raw.write(json.dumps(result) + "\n")
            say(f"  {result['phase']}: {result['ops_per_s']} ops/s, "
                f"{result['mb_per_s']} MB/s, errors {result['errors']}")
    return results, ok


def run_load(cluster: Cluster, size: str, count: int, concurrency: int,
             phases: tuple[str, ...] = PHASES, container: str | None = None,
             label: str | None = None, prefix: str = "o",
             ) -> tuple[list[dict[str, Any]], str, int]:
    command = [sys.executable, str(HERE / "load.py"), "--auth", cluster.auth_url,
               "--user", USER, "--key", KEY, "--size", size, "--count", str(count),
               "--concurrency", str(concurrency), "--phases", ",".join(phases),
               "--cpu-pids", cluster.cpu_pids(), "--label", label or cluster.name,
               "--prefix", prefix]
    if container:
        command += ["--container", container]
    try:
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=LOAD_TIMEOUT)
    except subprocess.TimeoutExpired as err:
        partial = err.stderr.decode("utf-8", "replace") if isinstance(err.stderr, bytes) else ""
        return [], f"load.py timed out after {LOAD_TIMEOUT:.0f} s: {partial}", -1
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return results, done.stderr, done.returncode


# -- profiling ----------------------------------------------------------------------

def busiest_workers(cluster: Cluster, container: str, size: str) -> dict[str, int]:
    """The worker of each kind that does the most for this container: a
    short PUT and GET of other names in it, with every worker's CPU read
    before and after (a container lives on 3 of the 4 nodes)."""
    kinds = ("proxy", "object", "container", "account")
    every = {kind: cluster.workers(kind) for kind in kinds}

    def cpu(pid: int) -> float:
        return sum(user + system for user, system in hotspots.thread_cpu(pid).values())

    before = {pid: cpu(pid) for pids in every.values() for pid in pids}
    run_load(cluster, size, 50 if size.upper().endswith("K") else 4, 4, ("put", "get"),
             container, label="profile-warmup", prefix="warmup-")
    return {kind: max(pids, key=lambda pid: cpu(pid) - before[pid])
            for kind, pids in every.items()}


def profile_objstore(cluster: Cluster, tools: tuple[str | None, str | None], out_dir: Path,
                     loads: list[tuple[str, int, int]], top: int) -> list[str]:
    """PUT then GET runs against objstore with one worker of each kind
    sampled (see bench/hotspots.py); markdown lines."""
    py_spy, perf = tools
    lines = [f"\n### Profile of objstore (py-spy: {py_spy or 'none'}, perf: {perf or 'none'})"]
    for size, count, concurrency in loads:
        container = f"profile-{size.lower()}"
        watched = busiest_workers(cluster, container, size)
        for phase in ("put", "get"):
            samplers: list[hotspots.Sampler] = []
            try:
                for kind, pid in watched.items():
                    samplers += hotspots.start_samplers(pid, f"{size}-{phase}-{kind}", out_dir,
                                                        py_spy, perf)
                time.sleep(hotspots.ATTACH_SECONDS)
                before = {kind: hotspots.thread_cpu(pid) for kind, pid in watched.items()}
                results, errors, status = run_load(cluster, size, count, concurrency, (phase,),
                                                   container, label=f"profile-{phase}")
                after = {kind: hotspots.thread_cpu(pid) for kind, pid in watched.items()}
            finally:
                hotspots.stop_samplers(samplers)
            rate = f"{results[0]['ops_per_s']} ops/s" if results else "failed"
            lines.append(f"\n#### {size} {phase.upper()} x {count}, {concurrency} connections, "
                         f"under the samplers: {rate}, load.py exit {status}\n")
            if errors.strip():
                lines.append("load.py stderr: " + errors.strip()[:600] + "\n")
            lines.append("CPU below is ms per client request, in the one worker sampled "
                         "(an object server sees 3/4 of the PUTs, a container server all "
                         "of their updates if it holds the container).\n")
            for kind, pid in watched.items():
                split = hotspots.thread_split(pid, before[kind], after[kind], count)
                lines += hotspots.describe(kind, pid, f"{size}-{phase}-{kind}", out_dir, split,
                                           perf, top)
    return lines


# -- the report ---------------------------------------------------------------------

def fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}" if value >= 10 else f"{value:.2f}"


def size_label(size: int) -> str:
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} B"


def tables(rows: list[dict[str, Any]], disk: dict[str, Any]) -> list[str]:
    by_key = {(r["size"], r["phase"], r["round"], r["label"]): r for r in rows}
    keys = sorted({(r["size"], r["phase"], r["round"]) for r in rows},
                  key=lambda k: (k[0], PHASES.index(k[1]), k[2]))
    out = ["| size | request | round | objstore ops/s | Swift ops/s | objstore / Swift "
           "| objstore MB/s | Swift MB/s | objstore p50 / p99 ms | Swift p50 / p99 ms "
           "| errors (objstore, Swift) |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for size, phase, round_ in keys:
        pair = [by_key.get((size, phase, round_, label)) for label in ("objstore", "swift")]
        ours, theirs = pair
        cells = [size_label(size), phase.upper(), str(round_)]
        cells += [fmt(r["ops_per_s"]) if r else "-" for r in pair]
        cells.append(f"{ours['ops_per_s'] / theirs['ops_per_s']:.2f}x"
                     if ours and theirs and theirs["ops_per_s"] else "-")
        cells += [fmt(r["mb_per_s"]) if r and r["mb_per_s"] else "-" for r in pair]
        cells += [f"{r['p50_ms']:.1f} / {r['p99_ms']:.1f}" if r else "-" for r in pair]
        cells.append(", ".join(str(r["errors"]) if r else "-" for r in pair))
        out.append("| " + " | ".join(cells) + " |")
    out += ["", "CPU ms per request by process kind (each with its workers and threads; "
            "`client` is load.py itself):", "",
            "| size | request | round | cluster | " + " | ".join(KINDS) + " | servers | client |",
            "|---|---|---|---|" + "---|" * (len(KINDS) + 2)]
    for size, phase, round_ in keys:
        for label in ("objstore", "swift"):
            row = by_key.get((size, phase, round_, label))
            if not row:
                continue
            cpu: dict[str, float] = row["cpu_ms_per_op"]
            servers = sum(value for kind, value in cpu.items() if kind != "client")
            cells = [size_label(size), phase.upper(), str(round_), label]
            cells += [f"{cpu[kind]:.2f}" if kind in cpu else "-" for kind in KINDS]
            cells += [f"{servers:.2f}", f"{cpu.get('client', 0.0):.2f}"]
            out.append("| " + " | ".join(cells) + " |")
    return out + disk_lines(disk) + [""] + target_lines(rows, disk)


def disk_lines(disk: dict[str, Any]) -> list[str]:
    def both(rates: dict[str, float]) -> str:
        return f"{rates['buffered']:,.0f} / {rates['direct']:,.0f}"

    again = disk["large_before_rounds"]
    return ["", "The disk (same filesystem, measured in this run):", "",
            "| probe | result |", "|---|---|",
            f"| new 4 KiB file + fsync, 3 at once per op, 1 op in flight | "
            f"{disk['small_ops_per_s_1']:,.0f} ops/s |",
            "| the same, 16 ops in flight (48 fsyncs) | "
            f"{disk['small_ops_per_s_16']:,.0f} ops/s |",
            f"| new 64 MiB file + fsync, 3 at once (one object's replicas), buffered / "
            f"O_DIRECT | {both(disk['large'])} MB/s of object (x3 written) |"] + ([
            "| the same, right before each round's objstore 64 MiB PUTs | "
            + ", ".join(both(rates) for rates in again) + " MB/s of object |"] if again else [])


def target_lines(rows: list[dict[str, Any]], disk: dict[str, Any]) -> list[str]:
    def mean(label: str, size: int, phase: str, key: str) -> float | None:
        values = [float(r[key]) for r in rows
                  if r["label"] == label and r["size"] == size and r["phase"] == phase]
        return sum(values) / len(values) if values else None

    out = ["| target | objstore | Swift | reached |", "|---|---|---|---|"]
    for size, phase, factor in ((4096, "put", 3.0), (4096, "get", 3.0), (64 << 20, "get", 1.2)):
        ours, theirs = mean("objstore", size, phase, "ops_per_s"), \
            mean("swift", size, phase, "ops_per_s")
        if ours is None or theirs is None:
            continue
        out.append(f"| {size_label(size)} {phase.upper()} >= {factor}x Swift's ops/s | "
                   f"{fmt(ours)} | {fmt(theirs)} | {ours / theirs:.2f}x "
                   f"({'yes' if ours >= factor * theirs else 'no'}) |")
    ours = mean("objstore", LARGE_PROBE, "put", "mb_per_s")
    if ours is not None:
        probes = disk["large_before_rounds"] or [disk["large"]]
        limit = sum(max(rates.values()) for rates in probes) / len(probes)
        theirs = mean("swift", LARGE_PROBE, "put", "mb_per_s")
        out.append(f"| 64 MiB PUT >= 95% of the disk's 3-replica {limit:,.0f} MB/s | "
                   f"{fmt(ours)} MB/s | {fmt(theirs) if theirs else '-'} MB/s | "
                   f"{100 * ours / limit:.0f}% ({'yes' if ours >= 0.95 * limit else 'no'}) |")
    return out + ["", "(averages over the rounds; the disk's: the better of its two 64 MiB "
                  "probes right before each round's objstore 64 MiB PUTs, averaged, or "
                  "of the ones before the clusters started when there were none)"]


# -- main -----------------------------------------------------------------------------

def parse_loads(text: str) -> list[tuple[str, int, int]]:
    loads = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            size, count, concurrency = item.split(":")
            loads.append((size, int(count), int(concurrency)))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{item!r} is not SIZE:COUNT:CONCURRENCY") from None
    return loads


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--swift-bin", default="/tmp/swiftvenv/bin",
                        help="bin/ of a virtualenv with OpenStack Swift installed")
    parser.add_argument("--rounds", type=int, default=1,
                        help="alternate objstore and Swift this many times per load")
    parser.add_argument("--loads", type=parse_loads, default=DEFAULT_LOADS,
                        help="SIZE:COUNT:CONCURRENCY,... (default %(default)s; '' for none)")
    parser.add_argument("--profile", action="store_true",
                        help="then profile objstore's PUT and GET (see --profile-loads)")
    parser.add_argument("--profile-loads", type=parse_loads, default="4K:1000:16",
                        help="the loads to profile (default %(default)s)")
    parser.add_argument("--py-spy", default="/tmp/pyspyvenv/bin/py-spy",
                        help="py-spy binary for --profile (default %(default)s, if there)")
    parser.add_argument("--perf", default=shutil.which("perf"),
                        help="perf binary for --profile (default: perf on PATH, if any)")
    parser.add_argument("--top", type=int, default=12, help="hotspots listed per process")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--fresh-fs", action="store_true",
                        help="run on a filesystem made for the run (see bench/scratch_fs.py)")
    parser.add_argument("--swift-scheduling", choices=("normal", "batch"), default="normal",
                        help="normal: Swift as shipped (the default); batch: its threads "
                        "under SCHED_BATCH too, as objstore's workers put themselves")
    parser.add_argument("--objstore-only", action="store_true",
                        help="run objstore alone (quick checks while tuning; no comparison)")
    return parser.parse_args()


def interrupted(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so main's finally stops every server."""
    raise KeyboardInterrupt


def main() -> int:
    args = parse_args()
    swift_bin = Path(args.swift_bin)
    if not args.objstore_only and not (swift_bin / "swift-proxy-server").exists():
        raise SystemExit(f"no Swift in {swift_bin}: python3 -m venv /tmp/swiftvenv && "
                         "/tmp/swiftvenv/bin/pip install swift==2.38.3")
    signal.signal(signal.SIGTERM, interrupted)
    scratch = ScratchFilesystem()
    try:
        base = scratch.make() if args.fresh_fs else None
    except (OSError, subprocess.CalledProcessError) as err:
        say(f"no new filesystem for the run ({err}); running in /tmp")
        scratch.remove()
        scratch, base = ScratchFilesystem(), None
    root = Path(tempfile.mkdtemp(prefix="side_by_side-", dir=base or "/tmp"))
    raw_path = Path(f"/tmp/side_by_side-{time.strftime('%Y%m%d-%H%M%S')}.jsonl")
    taken: set[int] = set()
    objstore = ObjstoreCluster(root, free_base(20000, [0, *range(1000, 1033)], taken))
    swift = SwiftCluster(root, free_base(26000, list(range(0, 10 * NODES + 10)), taken),
                         swift_bin)
    failed = interrupted_run = False
    rows: list[dict[str, Any]] = []
    report = [f"Machine: {machine_line()}",
              f"Filesystem of the run: {scratch.description or '/tmp itself'}", ""]
    load_before = os.getloadavg()[0]
    try:
        disk = measure_disk(root / "disk")
        with open(raw_path, "w") as raw:
            raw.write(json.dumps({"disk": disk, "machine": report[0]}) + "\n")
        clusters = [objstore.start(),
                    *([swift.start()] if args.loads and not args.objstore_only else [])]
        if args.swift_scheduling == "batch" and len(clusters) > 1:
            say(f"Swift: {clusters[1].schedule_batch()} threads under SCHED_BATCH")
        swift_policy = ("batch (--swift-scheduling batch)" if args.swift_scheduling == "batch"
                        else "normal, as shipped")
        report.insert(2, f"Scheduling: objstore's workers batch (their default); "
                      f"Swift {swift_policy}")
        for cluster in clusters:  # the account, imports, first connections
            run_load(cluster, "4K", 64, 4, phases=WRITE_AND_READ, label="warmup")
        runs = [(round_, size, count, concurrency, cluster)
                for round_ in range(1, args.rounds + 1)
                for size, count, concurrency in args.loads for cluster in clusters]
        # every DELETE phase after every PUT: see DELETES_LAST
        for phases in (WRITE_AND_READ, ("delete",)):
            for round_, size, count, concurrency, cluster in runs:
                if phases == WRITE_AND_READ and cluster is clusters[0] \
                        and parse_size(size) == LARGE_PROBE:
                    large_probe_beside(clusters, root / "disk", round_, disk, raw_path)
                container = f"bench-r{round_}-{size}"
                results, ok = timed_load(cluster, clusters, round_, size, count, concurrency,
                                         phases, container, raw_path)
                rows += results
                failed = failed or not ok
        report.append(f"Load average (1 min) before: {load_before:.2f}, after the loads: "
                      f"{os.getloadavg()[0]:.2f} (other work on the machine skews both "
                      "clusters; compare within a round).")
        report.append("")
        if rows and args.objstore_only:
            report += [json.dumps({k: row.get(k) for k in (
                "size", "phase", "ops_per_s", "mb_per_s", "p50_ms", "p99_ms", "errors",
                "cpu_ms_per_op")}) for row in rows]
        elif rows:
            report += tables(rows, disk)
        else:
            report += disk_lines(disk)
        if args.profile:
            tools = (args.py_spy if args.py_spy and Path(args.py_spy).exists() else None,
                     args.perf if args.perf and Path(args.perf).exists() else None)
            with alone(clusters[0], clusters):
                report += profile_objstore(clusters[0], tools, root, args.profile_loads,
                                           args.top)
    except KeyboardInterrupt:
        say("interrupted")
        failed = interrupted_run = True
    finally:
        say("stopping the clusters ...")
        objstore.stop()
        swift.stop()
        if failed or args.keep:
            say(f"kept {root} (logs: {root}/objstore/log, {root}/swift/log)")
            if scratch.loop:
                say(f"  on {scratch.loop}; afterwards: umount {scratch.mount_point}; "
                    f"losetup -d {scratch.loop}; rm {scratch.image}")
        else:
            shutil.rmtree(root, ignore_errors=True)
            scratch.remove()
    if interrupted_run:
        return 130
    print("\n".join(report))
    print(f"\nRaw JSON lines: {raw_path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
