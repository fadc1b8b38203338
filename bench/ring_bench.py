"""Ring benchmark: rebalance, save/load and lookup speed.

    python3 bench/ring_bench.py                      # all four sizes
    python3 bench/ring_bench.py --sizes 18:100       # one size
    python3 bench/ring_bench.py --swift-ring-builder /tmp/swiftvenv/bin/swift-ring-builder

Clusters have 5 regions of 2 zones; 100 devices are 5 servers per zone
with 2 disks, 1,000 devices 20 servers per zone with 5 disks; 3 replicas.
With --swift-ring-builder, the same first rebalance is timed with Swift's
tool (a throwaway install; never imported) for sizes up to --swift-max.
Prints a Markdown table for doc/performance.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from ring import builderfile  # noqa: E402
from ring.builder import RingBuilder  # noqa: E402
from ring.hashing import PathHasher  # noqa: E402
from ring.ring import Ring  # noqa: E402

SHAPES = {100: (5, 2), 1000: (20, 5)}  # devices -> (servers per zone, disks per server)


def layout(devices: int) -> list[str]:
    servers, disks = SHAPES[devices]
    return [
        f"r{r}z{z}-10.{r}.{z}.{s}:6200/sd{chr(98 + d)}"
        for r in range(1, 6) for z in (2 * r - 1, 2 * r)
        for s in range(1, servers + 1) for d in range(disks)
    ]


def build(part_power: int, devices: int) -> RingBuilder:
    builder = RingBuilder(part_power, 3, 1)
    for text in layout(devices):
        region_zone, rest = text.split("-", 1)
        region, zone = (int(x) for x in region_zone[1:].split("z"))
        address, name = rest.split("/")
        ip, port = address.rsplit(":", 1)
        builder.add_dev(region, zone, ip, int(port), name, 100.0)
    return builder


def timed(func, *args):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = func(*args)
    return time.perf_counter() - start, result


def bench(part_power: int, devices: int, workdir: str) -> dict[str, float]:
    figures: dict[str, float] = {}
    builder = build(part_power, devices)
    figures["first_rebalance_s"], result = timed(builder.rebalance, 1)
    figures["balance"] = result.balance
    figures["dispersion"] = result.dispersion
    builder_path = os.path.join(workdir, "object.builder")
    ring_path = os.path.join(workdir, "object.ring.gz")
    figures["save_builder_s"], _ = timed(builderfile.save, builder, builder_path)
    figures["load_builder_s"], _ = timed(builderfile.load, builder_path)
    figures["write_ring_s"], _ = timed(builder.get_ring().save, ring_path)
    builder.add_dev(1, 1, "10.9.9.9", 6200, "sdz", 100.0)
    builder.pretend_min_part_hours_passed()
    figures["add_one_rebalance_s"], result = timed(builder.rebalance, 2)
    figures["add_one_moved_pct"] = 100.0 * result.parts_moved / builder.partitions
    figures["load_ring_s"], ring = timed(Ring, ring_path, 15.0, PathHasher("pre", "suf"))
    rng = random.Random(1)
    names = [(f"AUTH_{rng.getrandbits(24):x}", f"c{i % 97}", f"o{rng.getrandbits(40)}")
             for i in range(200_000)]
    start = time.perf_counter()
    for account, container, obj in names:
        ring.get_nodes(account, container, obj)
    figures["get_nodes_per_s"] = len(names) / (time.perf_counter() - start)
    start = time.perf_counter()
    for part in range(2000):
        next(ring.get_more_nodes(part))
    figures["first_handoff_per_s"] = 2000 / (time.perf_counter() - start)
    return figures


def swift_first_rebalance(tool: str, part_power: int, devices: int, workdir: str) -> float:
    path = os.path.join(workdir, "swift.builder")
    subprocess.run([tool, path, "create", str(part_power), "3", "1"], check=True,
                   capture_output=True)
    args = []
    for text in layout(devices):
        args += [text, "100"]
    subprocess.run([tool, path, "add", *args], check=True, capture_output=True)
    start = time.perf_counter()
    subprocess.run([tool, path, "rebalance", "--seed", "1"], capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description="ring benchmark")
    parser.add_argument("--sizes", default="18:100,18:1000,22:100,22:1000",
                        help="part_power:devices pairs")
    parser.add_argument("--swift-ring-builder", help="time Swift's tool on the same input")
    parser.add_argument("--swift-max", default="18:100",
                        help="largest part_power:devices to time with Swift (it is slow)")
    args = parser.parse_args()
    sizes = [tuple(int(x) for x in pair.split(":")) for pair in args.sizes.split(",")]
    swift_max = tuple(int(x) for x in args.swift_max.split(":"))
    print(f"python {platform.python_version()} on {platform.machine()}, "
          f"{os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}")
    header = ("| part power | devices | first rebalance | swift-ring-builder | add 1 device: "
              "rebalance (moved) | save builder | write ring | load ring | get_nodes/s | "
              "first handoff/s | balance | dispersion |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for part_power, devices in sizes:
        with tempfile.TemporaryDirectory() as workdir:
            f = bench(part_power, devices, workdir)
            swift = "-"
            if args.swift_ring_builder and (part_power, devices) <= swift_max:
                seconds = swift_first_rebalance(args.swift_ring_builder, part_power, devices,
                                                workdir)
                swift = f"{seconds:.2f} s ({seconds / f['first_rebalance_s']:.1f}x slower)"
        print(f"| {part_power} | {devices} | {f['first_rebalance_s']:.2f} s | {swift} | "
              f"{f['add_one_rebalance_s']:.2f} s ({f['add_one_moved_pct']:.2f}%) | "
              f"{f['save_builder_s']:.2f} s | {f['write_ring_s']:.2f} s | {f['load_ring_s']:.2f} s | "
              f"{f['get_nodes_per_s']:,.0f} | {f['first_handoff_per_s']:,.0f} | "
              f"{f['balance']:.2f} | {f['dispersion']:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
