"""Object server benchmark: PUTs and GETs against one real server.

    python3 bench/object_server_bench.py [--count 2000] [--size 4K|1M|64M]
        [--set disk_chunk_size=65536] [--swift-bin /tmp/swiftvenv/bin]

Starts objstore-object-server (one worker) on a device directory under
/tmp, sends PUTs then GETs of ``--size`` bytes over one keep-alive
connection, and reports requests per second, MB/s and the worker's CPU
time per request (user + system of all its threads, disk threads
included, from /proc; and the user part alone). ``--set`` adds lines to the object server's config, to
compare settings. For scale it also measures this disk's own limit:
write ``--size`` bytes and fsync, in a loop. A PUT does two fsyncs (the
file, the hash directory) plus one per new directory.
"""
from __future__ import annotations

import argparse
import functools
import http.client
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process, all its threads."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def worker_of(pid: int) -> int:
    for _ in range(100):
        children = open(f"/proc/{pid}/task/{pid}/children").read().split()
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise RuntimeError("no worker started")


def fsync_rate(directory: str, size: int, seconds: float = 3.0) -> float:
    path = os.path.join(directory, "fsync-probe")
    data = os.urandom(size)
    count, start = 0, time.perf_counter()
    with open(path, "wb") as handle:
        while time.perf_counter() - start < seconds:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            count += 1
    os.unlink(path)
    return count / (time.perf_counter() - start)


def byte_size(text: str) -> int:
    """``4096``, ``4K``, ``1M`` or ``64M`` (binary units)."""
    units = {"K": 1024, "M": 1024**2, "G": 1024**3}
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    if text and text[-1] in units:
        return int(text[:-1]) * units[text[-1]]
    return int(text)


def figure(value: float) -> str:
    """Three significant digits at most, thousands separated."""
    return f"{value:,.{max(0, 3 - len(str(int(abs(value)))))}f}" if value < 1000 else \
        f"{value:,.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--size", type=byte_size, default=4096, help="bytes; K and M allowed")
    parser.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                        help="an extra line for objstore's [app:object-server]")
    parser.add_argument("--swift-bin", help="also run Swift's object server from this "
                        "throwaway virtualenv bin/ directory, side by side")
    args = parser.parse_args()
    command = shutil.which("objstore-object-server")
    if not command:
        print("install first: python3 -m pip install -e .", file=sys.stderr)
        return 2
    print(f"python {platform.python_version()}, {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d')}; {args.count} requests of {args.size} bytes, "
          "one connection, one serving process")
    print("| server | request | requests/s | MB/s | server CPU per request | of it user |")
    print("|---|---|---|---|---|---|")
    runs: list[tuple[str, str, Callable[[str, int], str]]] = [
        ("objstore", command, functools.partial(_objstore_conf, extra=args.set))]
    if args.swift_bin:
        runs.append(("swift", os.path.join(args.swift_bin, "swift-object-server"), _swift_conf))
    for label, binary, write_conf in runs:
        results, rate = run_one(binary, write_conf, args)
        for method, (per_second, cpu_ms, user_ms) in results.items():
            print(f"| {label} | {method} | {figure(per_second)} | "
                  f"{figure(per_second * args.size / 1e6)} | {figure(cpu_ms)} ms | "
                  f"{figure(user_ms)} ms |", flush=True)
    print(f"| disk | write {args.size} B + fsync | {figure(rate)} | "
          f"{figure(rate * args.size / 1e6)} | - | - |")
    return 0


def _objstore_conf(work: str, port: int, extra: list[str]) -> str:
    with open(os.path.join(work, "objstore.conf"), "w") as conf:
        conf.write("[swift-hash]\nswift_hash_path_suffix = bench\n")
    path = os.path.join(work, "object.conf")
    with open(path, "w") as conf:
        conf.write(f"[app:object-server]\nbind_port = {port}\nworkers = 1\n"
                   f"devices = {work}/srv\nmount_check = false\nlog_level = WARNING\n"
                   f"cluster_conf = {work}/objstore.conf\n")
        conf.writelines(f"{line}\n" for line in extra)
    return path


def _swift_conf(work: str, port: int) -> str:
    with open(os.path.join(work, "swift.conf"), "w") as conf:
        conf.write("[swift-hash]\nswift_hash_path_suffix = bench\n")
    path = os.path.join(work, "object.conf")
    with open(path, "w") as conf:
        # workers = 0: Swift then serves in the process it starts, which we measure
        conf.write(f"[DEFAULT]\nbind_port = {port}\nworkers = 0\ndevices = {work}/srv\n"
                   f"mount_check = false\nswift_dir = {work}\nlog_level = WARNING\n"
                   "[pipeline:main]\npipeline = object-server\n"
                   "[app:object-server]\nuse = egg:swift#object\n")
    return path


def run_one(command: str, write_conf, args):  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory(dir="/tmp") as work:
        os.makedirs(os.path.join(work, "srv", "sda"))
        port = free_port()
        server = subprocess.Popen([command, write_conf(work, port)], start_new_session=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            worker = worker_of(server.pid) if "objstore" in command else server.pid
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            for _ in range(100):
                try:
                    conn.request("GET", "/sda/0/a/c/warmup")
                    conn.getresponse().read()
                    break
                except OSError:
                    time.sleep(0.05)
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            body = os.urandom(args.size)
            results = {}
            for method in ("PUT", "GET"):
                cpu0, wall0 = cpu_seconds(worker), time.perf_counter()
                for i in range(args.count):
                    headers = {"X-Timestamp": f"{time.time():.5f}", "Content-Type": "a/b"}
                    conn.request(method, f"/sda/{i % 1024}/AUTH_bench/c/o{i}",
                                 body=body if method == "PUT" else None,
                                 headers=headers if method == "PUT" else {})
                    response = conn.getresponse()
                    got = response.read()
                    assert response.status in (200, 201), response.status
                    assert method == "PUT" or len(got) == args.size, len(got)
                wall = time.perf_counter() - wall0
                (user0, system0), (user1, system1) = cpu0, cpu_seconds(worker)
                results[method] = (args.count / wall,
                                   1000 * (user1 + system1 - user0 - system0) / args.count,
                                   1000 * (user1 - user0) / args.count)
            conn.close()
            rate = fsync_rate(work, args.size)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    return results, rate


if __name__ == "__main__":
    sys.exit(main())
