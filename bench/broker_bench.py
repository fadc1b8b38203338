"""Container broker benchmark: PUT records per second, listing pages of a big container.

    python3 bench/broker_bench.py                    # 20,000 PUTs, 1,000,000 rows
    python3 bench/broker_bench.py --rows 100000      # a smaller container
    python3 bench/broker_bench.py --dir /srv/node/sdb1/tmp   # on the disk that matters

- PUTs: ``put_object`` one record per call (one append and fsync each,
  merged into SQLite when the pending file passes its cap), then one
  listing, which merges the rest; records/s counts both.
- The big container is built with ``merge_items`` in batches (as a
  replicator would fill it); its names are ``dir%03d/sub%02d/obj%06d``.
- Pages: ``list_objects(limit=10000, marker=<middle name>)``, and
  ``prefix="dirNNN/", delimiter="/"`` (one subdir per ``subNN/``, each
  skipped with a new indexed query). Median of --repeat runs.

Prints a Markdown table line for doc/performance.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from objstore.container.broker import ContainerBroker  # noqa: E402
from objstore.common.timestamp import Timestamp  # noqa: E402

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


def main() -> int:
    parser = argparse.ArgumentParser(description="container broker benchmark")
    parser.add_argument("--puts", type=int, default=20_000, help="object PUT records")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the big container")
    parser.add_argument("--repeat", type=int, default=5, help="runs per listing (median)")
    parser.add_argument("--dir", help="where to make the databases (default: a temp dir)")
    args = parser.parse_args()
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
