"""Check ring interchange with a real OpenStack Swift, both ways.

Not a test: it needs Swift installed in a throwaway virtualenv, which the
project never imports. Set one up with

    python3 -m venv /tmp/swiftvenv && /tmp/swiftvenv/bin/pip install swift

then run

    python3 bench/swift_interop.py --swift-python /tmp/swiftvenv/bin/python

1. objstore builds and writes a ring; Swift's Ring loads it and must give
   the same partition and primaries for every one of N random paths.
2. swift-ring-builder builds and writes a ring (formats 1 and 2); objstore
   loads it and must give the same answers as Swift's Ring.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from ring.builder import RingBuilder  # noqa: E402
from ring.hashing import PathHasher  # noqa: E402
from ring.ring import Ring  # noqa: E402

PREFIX, SUFFIX = "interop-prefix", "interop-suffix"

# Runs inside Swift's virtualenv: routes paths with Swift's own Ring.
SWIFT_SIDE = r"""
import json, sys
from swift.common import utils
from swift.common.ring import Ring
utils.set_swift_dir(sys.argv[1])
ring = Ring(sys.argv[2])
out = []
for path in json.load(open(sys.argv[3])):
    part, nodes = ring.get_nodes(*path)
    out.append([part, [n["id"] for n in nodes]])
print(json.dumps(out))
"""


def random_paths(count: int, rng: random.Random) -> list[list[str]]:
    paths = []
    for i in range(count):
        depth = 1 + i % 3
        names = [f"AUTH_{rng.getrandbits(32):x}", f"c{rng.getrandbits(20)}",
                 f"o/{rng.getrandbits(40):x}/\u00e9t\u00e9"]
        paths.append(names[:depth])
    return paths


def swift_routes(python: str, workdir: str, ring_path: str, paths_file: str) -> list[list[object]]:
    script = os.path.join(workdir, "swift_side.py")
    with open(script, "w", encoding="utf-8") as handle:
        handle.write(SWIFT_SIDE)
    out = subprocess.run([python, script, workdir, ring_path, paths_file],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def our_routes(ring_path: str, paths: list[list[str]]) -> list[list[object]]:
    ring = Ring(ring_path, hasher=PathHasher(PREFIX, SUFFIX))
    routes: list[list[object]] = []
    for path in paths:
        part, nodes = ring.get_nodes(*path)
        routes.append([part, [dev.id for dev in nodes]])
    return routes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--swift-python", default="/tmp/swiftvenv/bin/python")
    parser.add_argument("--paths", type=int, default=20000)
    args = parser.parse_args()
    swift_bin = os.path.dirname(args.swift_python)
    rng = random.Random(1)
    failures = 0
    with tempfile.TemporaryDirectory() as workdir:
        with open(os.path.join(workdir, "swift.conf"), "w", encoding="utf-8") as conf:
            conf.write(f"[swift-hash]\nswift_hash_path_prefix = {PREFIX}\n"
                       f"swift_hash_path_suffix = {SUFFIX}\n")
        paths = random_paths(args.paths, rng)
        paths_file = os.path.join(workdir, "paths.json")
        with open(paths_file, "w", encoding="utf-8") as handle:
            json.dump(paths, handle)

        # 1. objstore writes, Swift reads
        builder = RingBuilder(14, 2.5, 1)
        for region in (1, 2):
            for zone in (1, 2, 3):
                for disk in ("sdb", "sdc"):
                    builder.add_dev(region, zone, f"10.{region}.{zone}.1", 6200, disk,
                                    100.0 * zone, replication_ip="::1", meta="m\u00e9ta")
        builder.rebalance(seed=3)
        ours = os.path.join(workdir, "objstore.ring.gz")
        builder.get_ring().save(ours)
        same = swift_routes(args.swift_python, workdir, ours, paths_file) == our_routes(ours, paths)
        print(f"objstore ring (pp14, 2.5 replicas, 12 devices) routed alike by Swift: {same}")
        failures += not same

        # 2. Swift writes (formats 1 and 2), objstore reads
        for version in ("1", "2"):
            base = os.path.join(workdir, f"swift{version}")
            srb = [os.path.join(swift_bin, "swift-ring-builder"), base + ".builder"]
            subprocess.run(srb + ["create", "12", "3", "1"], check=True, capture_output=True)
            devices = []
            for zone in range(1, 6):
                devices += [f"r{1 + zone % 2}z{zone}-127.0.0.{zone}:62{zone}0/sdb", str(50 * zone)]
            subprocess.run(srb + ["add", *devices], check=True, capture_output=True)
            result = subprocess.run(srb + ["rebalance", f"--format-version={version}"],
                                    capture_output=True, text=True)
            if result.returncode not in (0, 1):
                print(result.stdout, result.stderr)
                return 2
            ring_path = base + ".ring.gz"
            same = (swift_routes(args.swift_python, workdir, ring_path, paths_file)
                    == our_routes(ring_path, paths))
            print(f"Swift ring (format {version}, pp12, 5 devices) routed alike by objstore: {same}")
            failures += not same
    print(f"{args.paths} paths each; {'all agree' if not failures else f'{failures} disagreements'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
