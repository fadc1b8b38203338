"""Container broker benchmark: PUT records per second, listing pages of a big container,
and concurrent object updates into one container.

    python3 bench/broker_bench.py                    # 20,000 PUTs, 1,000,000 rows
    python3 bench/broker_bench.py --rows 100000      # a smaller container
    python3 bench/broker_bench.py --dir /srv/node/sdb1/tmp   # on the disk that matters
    python3 bench/broker_bench.py --updates-only --updates 4000 --concurrency 1,4,16

- PUTs: ``put_object`` one record per call (one append and fsync each,
  merged into SQLite when the pending file passes its cap), then one
  listing, which merges the rest; records/s counts both.
- The big container is built with ``merge_items`` in batches (as a
  replicator would fill it); its names are ``dir%03d/sub%02d/obj%06d``.
- Pages: ``list_objects(limit=10000, marker=<middle name>)``, and
  ``prefix="dirNNN/", delimiter="/"`` (one subdir per ``subNN/``, each
  skipped with a new indexed query). Median of --repeat runs.
- Concurrent updates: N OS threads (as the disk thread pool) put object
  records into one container until ``--updates`` are done, each update as
  a container server makes it: ``broker`` level, a broker opened, one
  ``put_object``, closed (``DatabaseController._run``); ``server`` level,
  the whole WSGI request ``PUT /sda/0/a/c/o`` an object server sends, from
  environ to response body. Updates/s, and CPU ms per update (user +
  system of this process, all threads).
- With ``--http``: the same updates sent over HTTP to one real
  objstore-container-server (one worker, access log at INFO to a file),
  one keep-alive connection per client thread; CPU is the worker's (all
  its threads, the disk pool's included, from /proc). The client threads
  share this machine's cores with it.

Prints a Markdown table line for doc/performance.md.
"""
from __future__ import annotations

import argparse
import http.client
import io
import itertools
import logging
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, REPO)

from objstore.container.broker import ContainerBroker  # noqa: E402
from objstore.common.http import wsgi_app  # noqa: E402
from objstore.common.timestamp import Timestamp  # noqa: E402
from objstore.container.server import ContainerController, ContainerServerConfig  # noqa: E402

BATCH = 50_000


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def new_broker(workdir: str, name: str) -> ContainerBroker:
    broker = ContainerBroker(os.path.join(workdir, name, "container.db"))
    broker.initialize(Timestamp.now(), account="AUTH_bench", container=name)
    return broker


def put_rate(workdir: str, count: int) -> float:
    """PUT records per second through the pending file, merge included."""
    broker = new_broker(workdir, "puts")
    rng = random.Random(7)
    names = [f"photos/{rng.getrandbits(48):012x}.jpg" for _ in range(count)]
    base = Timestamp.now()
    start = time.perf_counter()
    for offset, name in enumerate(names):
        broker.put_object(name, Timestamp(base, delta=offset), 1024, "image/jpeg",
                          "d41d8cd98f00b204e9800998ecf8427e")
    broker.list_objects(limit=1)  # forces the merge of what is still pending
    elapsed = time.perf_counter() - start
    assert broker.get_info()["object_count"] == len(set(names))
    broker.close()
    return count / elapsed


def big_names(rows: int) -> list[str]:
    per_sub = max(1, rows // 10_000)
    return [f"dir{i // (100 * per_sub) % 1000:03d}/sub{i // per_sub % 100:02d}/obj{i:06d}"
            for i in range(rows)]


def build_big(workdir: str, names: list[str]) -> tuple[ContainerBroker, float]:
    """The big container, and its build rate in rows/s."""
    broker = new_broker(workdir, "big")
    rng = random.Random(3)
    order = list(names)
    rng.shuffle(order)  # replicas do not arrive in name order
    # Objects written over a year, each at its own time.
    year_ago = Timestamp.now(delta=-365 * 86400 * 100_000)
    created = [Timestamp(year_ago, delta=rng.randrange(365 * 86400 * 100_000)).internal
               for _ in order]
    start = time.perf_counter()
    for first in range(0, len(order), BATCH):
        broker.merge_items([
            {"name": name, "created_at": stamp, "size": 4096, "content_type": "text/plain",
             "etag": "d41d8cd98f00b204e9800998ecf8427e", "deleted": 0,
             "storage_policy_index": 0}
            for name, stamp in zip(order[first:first + BATCH], created[first:first + BATCH])])
    return broker, len(order) / (time.perf_counter() - start)


def median_ms(repeat: int, call: Callable[[], Any]) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, result


def run_threads(threads: int, total: int, update: Callable[[int], None]) -> tuple[float, float]:
    """``update(i)`` for i in range(total) from ``threads`` threads at once:
    (updates/s, CPU ms per update)."""
    numbers = itertools.count()
    failures: list[BaseException] = []

    def drive() -> None:
        try:
            while (i := next(numbers)) < total:
                update(i)
        except BaseException as err:  # noqa: BLE001 -- reported after the run
            failures.append(err)

    workers = [threading.Thread(target=drive) for _ in range(threads)]
    cpu, start = time.process_time(), time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    if failures:
        raise failures[0]
    return total / elapsed, cpu / total * 1000


def broker_updates(workdir: str, threads: int, total: int) -> tuple[float, float]:
    """Updates through the broker, one broker object per update (as the server)."""
    path = new_broker(workdir, f"updates{threads}").path
    base = Timestamp.now()

    def update(i: int) -> None:
        broker = ContainerBroker(path)
        try:
            broker.put_object(f"obj{i:08d}", Timestamp(base, delta=i), 4096,
                              "application/octet-stream", "d41d8cd98f00b204e9800998ecf8427e")
        finally:
            broker.close()

    result = run_threads(threads, total, update)
    with ContainerBroker(path) as broker:
        assert broker.get_info()["object_count"] == total
    return result


def server_updates(workdir: str, threads: int, total: int) -> tuple[float, float]:
    """Whole object-update requests through the container server's app."""
    devices = os.path.join(workdir, f"devices{threads}")
    os.makedirs(os.path.join(devices, "sda"))
    logger = logging.getLogger("bench.container")
    app = wsgi_app(ContainerController(ContainerServerConfig(devices=devices, mount_check=False),
                                       logger), logger)

    def call(method: str, path: str, headers: dict[str, str]) -> str:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "6201", "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(),
            "wsgi.errors": sys.stderr, "wsgi.version": (1, 0), "wsgi.multithread": True,
            "wsgi.multiprocess": False, "wsgi.run_once": False,
            **{"HTTP_" + name.upper().replace("-", "_"): value
               for name, value in headers.items()}}
        status: list[str] = []
        body = app(environ, lambda line, _headers, *exc: status.append(line))
        b"".join(body)
        getattr(body, "close", lambda: None)()
        return status[0]

    created = call("PUT", "/sda/0/AUTH_bench/c", {"X-Timestamp": Timestamp.now().internal})
    assert created.startswith("201"), created
    base = Timestamp.now()

    def update(i: int) -> None:
        answer = call("PUT", f"/sda/0/AUTH_bench/c/obj{i:08d}", {
            "X-Timestamp": Timestamp(base, delta=i).internal, "X-Size": "4096",
            "X-Content-Type": "application/octet-stream",
            "X-Etag": "d41d8cd98f00b204e9800998ecf8427e", "X-Trans-Id": f"tx{i}",
            "X-Backend-Storage-Policy-Index": "0", "User-Agent": "object-server 1"})
        assert answer.startswith("201"), answer

    return run_threads(threads, total, update)


def process_cpu(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat", encoding="ascii").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_updates(workdir: str, threads: int, total: int) -> tuple[float, float]:
    """Updates over HTTP to a real container server: (updates/s, worker CPU ms each)."""
    work = os.path.join(workdir, f"http{threads}")
    os.makedirs(os.path.join(work, "sda"))
    with open(os.path.join(work, "objstore.conf"), "w", encoding="utf-8") as conf:
        conf.write("[swift-hash]\nswift_hash_path_suffix = bench\n")
    port = free_port()
    with open(os.path.join(work, "container.conf"), "w", encoding="utf-8") as conf:
        conf.write(f"[app:container-server]\nbind_port = {port}\nworkers = 1\n"
                   f"devices = {work}\nmount_check = false\nlog_level = INFO\n"
                   f"log_file = {work}/container.log\nring_dir = {work}\n"
                   f"cluster_conf = {work}/objstore.conf\n")
    # This tree's server, whatever is installed.
    server = subprocess.Popen(
        [sys.executable, "-c", "from objstore.container.server import main; main()",
         os.path.join(work, "container.conf")],
        env={**os.environ, "PYTHONPATH": REPO}, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        worker = serving_worker(server.pid, port)
        send = connection_sender(port)
        assert send("PUT", "/sda/0/AUTH_bench/c",
                    {"X-Timestamp": Timestamp.now().internal}) in (201, 202)
        base = Timestamp.now()
        local = threading.local()
        connections: list[http.client.HTTPConnection] = []

        def update(i: int) -> None:
            if not hasattr(local, "send"):
                local.send = connection_sender(port, connections)
            status = local.send("PUT", f"/sda/0/AUTH_bench/c/obj{i:08d}", {
                "X-Timestamp": Timestamp(base, delta=i).internal, "X-Size": "4096",
                "X-Content-Type": "application/octet-stream",
                "X-Etag": "d41d8cd98f00b204e9800998ecf8427e", "X-Trans-Id": f"tx{i}",
                "X-Backend-Storage-Policy-Index": "0", "Content-Length": "0"})
            assert status == 201, status

        cpu = process_cpu(worker)
        rate, _ = run_threads(threads, total, update)
        cpu_ms = (process_cpu(worker) - cpu) / total * 1000
        for conn in connections:
            conn.close()
        return rate, cpu_ms
    finally:
        os.killpg(server.pid, 15)
        server.wait(30)


def serving_worker(parent: int, port: int) -> int:
    """The worker process of a server that answers on ``port``."""
    for _ in range(200):
        children = open(f"/proc/{parent}/task/{parent}/children", encoding="ascii").read()
        if children.split():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return int(children.split()[0])
            except OSError:
                pass
        time.sleep(0.05)
    raise RuntimeError("the container server did not start")


def connection_sender(port: int, opened: list[http.client.HTTPConnection] | None = None
                      ) -> Callable[[str, str, dict[str, str]], int]:
    """A function that sends one request on a keep-alive connection of its own."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    if opened is not None:
        opened.append(conn)

    def send(method: str, path: str, headers: dict[str, str]) -> int:
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status

    return send


def update_rates(workdir: str, total: int, levels: list[int], over_http: bool) -> None:
    header = "| level | threads | updates/s | CPU ms per update |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    measures = [("broker", broker_updates), ("server", server_updates)]
    if over_http:
        measures.append(("http (server worker CPU)", http_updates))
    for level, measure in measures:
        for threads in levels:
            rate, cpu_ms = measure(workdir, threads, total)
            print(f"| {level} | {threads} | {rate:,.0f} | {cpu_ms:.3f} |", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description="container broker benchmark")
    parser.add_argument("--puts", type=int, default=20_000, help="object PUT records")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the big container")
    parser.add_argument("--repeat", type=int, default=5, help="runs per listing (median)")
    parser.add_argument("--dir", help="where to make the databases (default: a temp dir)")
    parser.add_argument("--updates", type=int, default=4000,
                        help="object updates per concurrency level")
    parser.add_argument("--concurrency", default="1,4,16",
                        help="threads updating one container at once, comma-separated")
    parser.add_argument("--updates-only", action="store_true",
                        help="only the concurrent updates, not the PUTs and the big container")
    parser.add_argument("--http", action="store_true",
                        help="also send the updates to a real container server over HTTP")
    args = parser.parse_args()
    levels = [int(level) for level in args.concurrency.split(",")]
    if args.updates_only:
        print(f"python {platform.python_version()}, {os.cpu_count()} cores; "
              f"{args.updates:,} updates per row; {time.strftime('%Y-%m-%d')}")
        with tempfile.TemporaryDirectory(dir=args.dir) as workdir:
            update_rates(workdir, args.updates, levels, args.http)
        return 0
    with tempfile.TemporaryDirectory(dir=args.dir) as workdir:
        puts_per_s = put_rate(workdir, args.puts)
        names = big_names(args.rows)
        broker, build_rate = build_big(workdir, names)
        middle = sorted(names)[len(names) // 2]
        page_ms, page = median_ms(args.repeat, lambda: broker.list_objects(
            limit=10_000, marker=middle))
        folder = names[len(names) // 2].split("/", 1)[0] + "/"
        delim_ms, delimited = median_ms(args.repeat, lambda: broker.list_objects(
            limit=10_000, prefix=folder, delimiter="/"))
        top_ms, top = median_ms(args.repeat, lambda: broker.list_objects(
            limit=10_000, delimiter="/"))
        size_mb = os.path.getsize(broker.path) / 1e6
        broker.close()
    assert len(page) == min(10_000, args.rows - args.rows // 2 - 1)
    print(f"python {platform.python_version()} on {platform.machine()}, {cpu_model()}, "
          f"{os.cpu_count()} cores, {platform.system()} {platform.release()}; "
          f"{time.strftime('%Y-%m-%d')}")
    header = ("| PUT records/s (pending, merge incl.) | rows | build (merge_items) rows/s | "
              "DB size | page of 10,000 after a middle marker | prefix+delimiter page | "
              "delimiter page at the top |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    print(f"| {puts_per_s:,.0f} ({args.puts:,} PUTs) | {args.rows:,} | {build_rate:,.0f} | "
          f"{size_mb:,.0f} MB | {page_ms:.1f} ms | {delim_ms:.1f} ms ({len(delimited)} subdirs) | "
          f"{top_ms:.1f} ms ({len(top)} subdirs) |", flush=True)
    with tempfile.TemporaryDirectory(dir=args.dir) as workdir:
        update_rates(workdir, args.updates, levels, args.http)
    return 0


if __name__ == "__main__":
    sys.exit(main())
