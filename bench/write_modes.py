"""What a new file written and fsynced costs through the page cache and past it.

    python3 bench/write_modes.py [--dir /tmp] [--count 500] [--sizes 64K,256K,1M,4M]

For each size, ``count`` new files are written in one ``write`` each and
fsynced, first through the page cache, then with O_DIRECT (from a
page-aligned buffer, as objstore/obj/direct_writes.py writes), then each
direct file is read once, cold, and once more, cached. Prints one line per
size and mode: CPU (this process, user and system) and wall time per file.
The files are removed after each mode. This is the measurement behind
``diskfile.DIRECT_WRITE_SIZE`` (see doc/performance.md).
"""
from __future__ import annotations

import argparse
import mmap
import os
import shutil
import tempfile
import time
from collections.abc import Callable

READ_SIZE = 1 << 20


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20}
    text = text.strip().upper()
    if text[-1:] in units:
        return int(text[:-1]) * units[text[-1]]
    return int(text)


def timed(count: int, each: Callable[[int], None]) -> tuple[float, float]:
    """(CPU ms, wall ms) per call of ``each(i)`` for i in range(count)."""
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(count):
        each(i)
    return (1000 * (time.process_time() - cpu) / count,
            1000 * (time.perf_counter() - wall) / count)


def writer(directory: str, body: mmap.mmap, direct: bool) -> Callable[[int], None]:
    flags = os.O_CREAT | os.O_WRONLY | (os.O_DIRECT if direct else 0)

    def write(i: int) -> None:
        fd = os.open(os.path.join(directory, f"f{i}"), flags, 0o600)
        try:
            os.write(fd, body)
            os.fsync(fd)
        finally:
            os.close(fd)
    return write


def reader(directory: str) -> Callable[[int], None]:
    def read(i: int) -> None:
        fd = os.open(os.path.join(directory, f"f{i}"), os.O_RDONLY)
        try:
            while os.read(fd, READ_SIZE):
                pass
        finally:
            os.close(fd)
    return read


def measure(root: str, size: int, count: int) -> list[tuple[str, float, float]]:
    # sizes must be whole 4 KiB blocks for O_DIRECT from an mmap'd buffer
    body = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    body.write(os.urandom(size))
    rows = []
    for mode in ("cached", "direct"):
        directory = tempfile.mkdtemp(prefix=f"write-modes-{mode}-", dir=root)
        try:
            write = writer(directory, body, mode == "direct")
            rows.append((f"write {mode}", *timed(count, write)))
            if mode == "direct":
                rows.append(("read cold", *timed(count, reader(directory))))
                rows.append(("read cached", *timed(count, reader(directory))))
        finally:
            shutil.rmtree(directory)
    body.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp", help="a directory on the disk to measure")
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--sizes", default="64K,256K,512K,1M,4M")
    args = parser.parse_args()
    for text in args.sizes.split(","):
        size = parse_size(text)
        if size % 4096:
            parser.error(f"{text}: sizes must be multiples of 4 KiB (O_DIRECT)")
        for label, cpu, wall in measure(args.dir, size, args.count):
            print(f"{text:>6} {label:12} cpu {cpu:6.3f} ms  wall {wall:6.2f} ms")


if __name__ == "__main__":
    main()
