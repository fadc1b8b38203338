"""Load generator for any Swift-API endpoint with v1 auth (tempauth style).

    python3 bench/load.py --auth http://127.0.0.1:8080/auth/v1.0 \\
        --user test:tester --key testing [--size 4K] [--count 1000] \\
        [--concurrency 16] [--container bench-<random>] \\
        [--phases put,get,head,delete] [--cpu-pids proxy:PID,object:PID,...]

Gets a token, creates the container, then runs the phases in order, each
over objects 0 .. count-1 shared out to ``--concurrency`` threads, every
thread with its own keep-alive connection (lean_http.py; reopened after
an error). Prints one JSON line per phase:

    {"phase", "size", "count", "concurrency", "ops_per_s", "mb_per_s",
     "p50_ms", "p99_ms", "errors", "seconds", "cpu_ms_per_op"}

``mb_per_s`` counts the object bytes of the requests that succeeded
(10**6 bytes; 0 for HEAD and DELETE). Exit status 1 when any request failed (wrong status, ETag,
length or body), the first few failures on stderr.

Bodies: object i is a 32-byte header naming the container's seed and i,
then ``size - 32`` bytes of one pseudo-random buffer (seeded by the
container's name) from an offset that depends on i, so bodies differ
without generating each one, and a later run on the same container
knows them. Expected
MD5s are computed before the timed phases. PUT sends the ETag and checks
the answer's; GET compares every byte with what was sent and checks the
ETag; HEAD checks the length and ETag.

CPU: ``--cpu-pids`` names server processes as ``kind:PID`` (or a bare PID,
whose kind is read from its command line), ``--cpu-pattern`` picks them
by a regular expression over command lines. Each is counted with all its
descendants (user + system time from /proc, every thread, reaped children
included), before and after each phase; ``cpu_ms_per_op`` has the ms per
request by kind, plus ``client`` for this process.
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import itertools
import json
import os
import random
import re
import secrets
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from lean_http import Connection, ProtocolError, Response

HEADER_BYTES = 32
OFFSET_SPREAD = 65536            # objects start at one of this many buffer offsets
STREAM_THRESHOLD = 1 << 20       # bodies above this are sent in chunks, not joined
SEND_CHUNK = 1 << 20
READ_CHUNK = 65536               # small enough that comparing stays in cache
TIMEOUT = 120.0
MAX_REPORTED_ERRORS = 5
PHASES = ("put", "get", "head", "delete")
UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
SERVER_KIND = re.compile(r"(proxy|object|container|account)-server")


def parse_size(text: str) -> int:
    """``4096``, ``4K``, ``1M``, ``64M``, ``1G`` (binary units; KiB etc. too)."""
    match = re.fullmatch(r"\s*(\d+)\s*([KMG]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 4096, 4K, 1M, 64M)")
    return int(match.group(1)) * UNITS[match.group(2).upper()]


# -- object bodies -------------------------------------------------------------

class Bodies:
    """Object i's body, as pieces of one shared buffer, and its MD5."""

    def __init__(self, container: str, size: int) -> None:
        self.size = size
        self.seed = int.from_bytes(hashlib.md5(container.encode()).digest()[:4], "big")
        self.tail = max(0, size - HEADER_BYTES)
        # seeded by the container's name, so another run (say, --phases get)
        # knows what the first one wrote
        rng, length = random.Random(self.seed), self.tail + OFFSET_SPREAD
        self.buffer = memoryview(b"".join(rng.randbytes(min(1 << 20, length - at))
                                          for at in range(0, length, 1 << 20)))

    def header(self, index: int) -> bytes:
        line = f"bench {self.seed:08x} {index:010d}".encode().ljust(HEADER_BYTES - 1) + b"\n"
        return line[:self.size]

    def pieces(self, index: int) -> tuple[bytes, memoryview]:
        start = (index * 4099) % OFFSET_SPREAD
        return self.header(index), self.buffer[start:start + self.tail]

    def md5(self, index: int) -> str:
        header, tail = self.pieces(index)
        digest = hashlib.md5(header)
        digest.update(tail)
        return digest.hexdigest()

    def for_put(self, index: int) -> bytes | Iterator[memoryview | bytes]:
        """One bytes object for small bodies (sent with the headers in one
        write); a generator of buffer slices for large ones."""
        header, tail = self.pieces(index)
        if self.size <= STREAM_THRESHOLD:
            return header + tail.tobytes()
        return itertools.chain((header,), (tail[at:at + SEND_CHUNK]
                                           for at in range(0, len(tail), SEND_CHUNK)))

    def expected(self, index: int, offset: int, length: int) -> bytes:
        """Bytes ``offset`` to ``offset + length`` of object ``index``."""
        header, tail = self.pieces(index)
        if offset >= len(header):
            start = offset - len(header)
            return tail[start:start + length].tobytes()
        return (header + tail[:length].tobytes())[offset:offset + length]


# -- CPU accounting from /proc -------------------------------------------------

def tree_cpu_seconds(pid: int) -> float:
    """User + system time of ``pid``, its threads and every descendant
    (and of the children they have reaped); 0 if it is gone."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
            total += sum(int(value) for value in fields[11:15])
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children", "rb") as handle:
                    pending.extend(int(child) for child in handle.read().split())
        except (OSError, IndexError, ValueError):
            continue  # it ended while we looked
    return total / os.sysconf("SC_CLK_TCK")


def command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def kind_of(pid: int) -> str:
    match = SERVER_KIND.search(command_line(pid))
    if match:
        return match.group(1)
    try:
        with open(f"/proc/{pid}/comm") as handle:
            return handle.read().strip()
    except OSError:
        return str(pid)


def parse_cpu_pids(text: str) -> list[tuple[str, int]]:
    pids = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        kind, _, pid = item.rpartition(":")
        pids.append((kind or kind_of(int(pid)), int(pid)))
    return pids


def pids_matching(pattern: str) -> list[tuple[str, int]]:
    """Processes whose command line matches, leaving out those whose
    parent matches too (they are counted with it)."""
    regex, me = re.compile(pattern), os.getpid()
    found = {int(name) for name in os.listdir("/proc")
             if name.isdigit() and int(name) != me and regex.search(command_line(int(name)))}
    tops = []
    for pid in sorted(found):
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                parent = int(handle.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent not in found:
            tops.append((kind_of(pid), pid))
    return tops


@dataclass
class CpuSample:
    by_kind: dict[str, float]
    client: float


def sample_cpu(pids: list[tuple[str, int]]) -> CpuSample:
    by_kind: dict[str, float] = {}
    for kind, pid in pids:
        by_kind[kind] = by_kind.get(kind, 0.0) + tree_cpu_seconds(pid)
    return CpuSample(by_kind, time.process_time())


def cpu_ms_per_op(before: CpuSample, after: CpuSample, ops: int) -> dict[str, float]:
    per_op = {kind: round(1000 * (after.by_kind[kind] - before.by_kind[kind]) / max(ops, 1), 3)
              for kind in before.by_kind}
    per_op["client"] = round(1000 * (after.client - before.client) / max(ops, 1), 3)
    return per_op


# -- the connection to the cluster -----------------------------------------------

@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    path: str          # the storage URL's path, e.g. /v1/AUTH_test
    token: str

    def connect(self) -> Connection:
        """A connection for the timed requests (lean_http.py: the client's
        own CPU is taken from the servers it measures)."""
        return Connection(self.host, self.port, TIMEOUT)


def authenticate(auth_url: str, user: str, key: str) -> Endpoint:
    url = urllib.parse.urlsplit(auth_url)
    if url.scheme != "http":
        raise SystemExit(f"only http:// auth URLs are supported, not {auth_url}")
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port or 80,
                                      timeout=TIMEOUT)
    try:
        conn.request("GET", url.path or "/", headers={"X-Auth-User": user, "X-Auth-Key": key})
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    token, storage = response.getheader("X-Auth-Token"), response.getheader("X-Storage-Url")
    if response.status // 100 != 2 or not token or not storage:
        raise SystemExit(f"auth failed: {response.status} {response.reason}")
    storage_url = urllib.parse.urlsplit(storage)
    return Endpoint(storage_url.hostname or url.hostname or "127.0.0.1",
                    storage_url.port or 80, storage_url.path.rstrip("/"), token)


def create_container(endpoint: Endpoint, container: str) -> None:
    conn = endpoint.connect()
    try:
        response = conn.request("PUT", f"{endpoint.path}/{urllib.parse.quote(container)}",
                                {"X-Auth-Token": endpoint.token})
        response.read()
    finally:
        conn.close()
    if response.status not in (201, 202):
        raise SystemExit(f"container PUT failed: {response.status} {response.reason}")


def delete_container(endpoint: Endpoint, container: str) -> int:
    conn = endpoint.connect()
    try:
        response = conn.request("DELETE", f"{endpoint.path}/{urllib.parse.quote(container)}",
                                {"X-Auth-Token": endpoint.token})
        response.read()
        return response.status
    finally:
        conn.close()


# -- one request of each kind ----------------------------------------------------

class RequestFailed(Exception):
    """A wrong status, ETag, length or body."""


@dataclass
class Job:
    endpoint: Endpoint
    container: str
    bodies: Bodies
    etags: list[str]

    prefix: str = "o"

    def name(self, index: int) -> str:
        return f"{self.prefix}{index:07d}"

    def path(self, index: int) -> str:
        return (f"{self.endpoint.path}/{urllib.parse.quote(self.container)}/"
                f"{urllib.parse.quote(self.name(index))}")

    def headers(self, **extra: str) -> dict[str, str]:
        return {"X-Auth-Token": self.endpoint.token, **extra}


def check_status(response: Response, wanted: int, what: str) -> None:
    if response.status != wanted:
        raise RequestFailed(f"{what}: {response.status} {response.reason}, wanted {wanted}")


def check_etag(response: Response, wanted: str, what: str) -> None:
    etag = (response.getheader("ETag") or "").strip('"')
    if etag != wanted:
        raise RequestFailed(f"{what}: ETag {etag!r}, wanted {wanted!r}")


def do_put(conn: Connection, job: Job, index: int, _: bytearray) -> None:
    response = conn.request("PUT", job.path(index), body=job.bodies.for_put(index),
                            headers=job.headers(**{"Content-Length": str(job.bodies.size),
                                                   "Content-Type": "application/octet-stream",
                                                   "ETag": job.etags[index]}))
    response.read()
    what = f"PUT {job.name(index)}"
    check_status(response, 201, what)
    check_etag(response, job.etags[index], what)


def do_get(conn: Connection, job: Job, index: int, chunk: bytearray) -> None:
    response = conn.request("GET", job.path(index), job.headers())
    what = f"GET {job.name(index)}"
    if response.status != 200:
        response.read()
        check_status(response, 200, what)
    view, offset, mismatch = memoryview(chunk), 0, None
    while True:
        got = response.readinto(view)
        if not got:
            break
        if mismatch is None and (offset + got > job.bodies.size or
                                 view[:got].tobytes() != job.bodies.expected(index, offset, got)):
            mismatch = offset
        offset += got
    if mismatch is not None or offset != job.bodies.size:
        raise RequestFailed(f"{what}: body differs from what was PUT (at byte "
                            f"{mismatch if mismatch is not None else offset}, "
                            f"{offset} of {job.bodies.size} bytes read)")
    check_etag(response, job.etags[index], what)


def do_head(conn: Connection, job: Job, index: int, _: bytearray) -> None:
    response = conn.request("HEAD", job.path(index), job.headers())
    response.read()
    what = f"HEAD {job.name(index)}"
    check_status(response, 200, what)
    length = response.getheader("Content-Length")
    if length != str(job.bodies.size):
        raise RequestFailed(f"{what}: Content-Length {length}, wanted {job.bodies.size}")
    check_etag(response, job.etags[index], what)


def do_delete(conn: Connection, job: Job, index: int, _: bytearray) -> None:
    response = conn.request("DELETE", job.path(index), job.headers())
    response.read()
    check_status(response, 204, f"DELETE {job.name(index)}")


REQUESTS: dict[str, Callable[[Connection, Job, int, bytearray], None]] = {
    "put": do_put, "get": do_get, "head": do_head, "delete": do_delete}
CARRIES_BODY = {"put", "get"}


# -- a phase ----------------------------------------------------------------------

@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    succeeded: int = 0


def worker(phase: str, job: Job, count: int, next_index: Iterator[int],
           start: threading.Barrier, outcome: Outcome) -> None:
    """Takes indexes until they run out; ``outcome`` is this thread's own."""
    request, chunk = REQUESTS[phase], bytearray(READ_CHUNK)
    conn = job.endpoint.connect()
    try:
        conn.connect()  # before the clock starts
    except OSError:
        conn.close()  # the first request tries again, and counts the error
    start.wait()
    try:
        for index in next_index:  # itertools.count: safe to share between threads
            if index >= count:
                break
            began = time.perf_counter()
            try:
                request(conn, job, index, chunk)
                outcome.succeeded += 1
            except RequestFailed as err:
                outcome.errors.append(str(err))
            except (OSError, ProtocolError) as err:
                outcome.errors.append(
                    f"{phase.upper()} {job.name(index)}: {type(err).__name__}: {err}")
                conn.close()  # reopened by the next request
            outcome.latencies.append(time.perf_counter() - began)
    finally:
        conn.close()


def percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run_phase(phase: str, job: Job, args: argparse.Namespace,
              cpu_pids: list[tuple[str, int]]) -> dict[str, object]:
    outcomes, next_index = [Outcome() for _ in range(args.concurrency)], itertools.count()
    start = threading.Barrier(args.concurrency + 1)
    threads = [threading.Thread(target=worker, daemon=True,
                                args=(phase, job, args.count, next_index, start, outcome))
               for outcome in outcomes]
    for thread in threads:
        thread.start()
    before = sample_cpu(cpu_pids)
    began = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    after = sample_cpu(cpu_pids)
    outcome = Outcome([t for o in outcomes for t in o.latencies],
                      [e for o in outcomes for e in o.errors],
                      sum(o.succeeded for o in outcomes))
    ordered = sorted(outcome.latencies)
    for message in outcome.errors[:MAX_REPORTED_ERRORS]:
        print(f"error: {message}", file=sys.stderr)
    if len(outcome.errors) > MAX_REPORTED_ERRORS:
        print(f"error: ... {len(outcome.errors) - MAX_REPORTED_ERRORS} more in {phase}",
              file=sys.stderr)
    moved = args.size * outcome.succeeded if phase in CARRIES_BODY else 0
    result: dict[str, object] = {
        "phase": phase, "size": args.size, "count": args.count,
        "concurrency": args.concurrency,
        "ops_per_s": round(args.count / seconds, 2),
        "mb_per_s": round(moved / seconds / 1e6, 2),
        "p50_ms": round(1000 * percentile(ordered, 0.50), 2),
        "p99_ms": round(1000 * percentile(ordered, 0.99), 2),
        "errors": len(outcome.errors),
        "seconds": round(seconds, 3),
        "cpu_ms_per_op": cpu_ms_per_op(before, after, args.count),
    }
    if args.label:
        result["label"] = args.label
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--auth", required=True, help="v1 auth URL, e.g. "
                        "http://127.0.0.1:8080/auth/v1.0")
    parser.add_argument("--user", required=True, help="account:user")
    parser.add_argument("--key", required=True)
    parser.add_argument("--size", type=parse_size, default=4096,
                        help="object size: bytes or with K, M, G (binary)")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--container", default=None,
                        help="default: bench-<random>; the same name gives the same bodies")
    parser.add_argument("--prefix", default="o", help="object names: PREFIX0000000 ... "
                        "(default %(default)s)")
    parser.add_argument("--phases", default=",".join(PHASES),
                        help="comma-separated, run in this order: put, get, head, delete")
    parser.add_argument("--cpu-pids", default="", help="kind:PID,... (or bare PIDs)")
    parser.add_argument("--cpu-pattern", default=None,
                        help="regular expression over /proc/*/cmdline picking server processes")
    parser.add_argument("--label", default=None, help="added to every JSON line")
    args = parser.parse_args(argv)
    args.phases = [phase.strip().lower() for phase in args.phases.split(",") if phase.strip()]
    unknown = [phase for phase in args.phases if phase not in PHASES]
    if unknown:
        parser.error(f"unknown phases {unknown}; known: {', '.join(PHASES)}")
    if args.count < 1 or args.concurrency < 1:
        parser.error("--count and --concurrency must be at least 1")
    args.container = args.container or f"bench-{secrets.token_hex(4)}"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cpu_pids = parse_cpu_pids(args.cpu_pids)
    if args.cpu_pattern:
        cpu_pids += pids_matching(args.cpu_pattern)
    endpoint = authenticate(args.auth, args.user, args.key)
    create_container(endpoint, args.container)
    bodies = Bodies(args.container, args.size)
    job = Job(endpoint, args.container, bodies, [bodies.md5(i) for i in range(args.count)],
              args.prefix)
    errors = 0
    for phase in args.phases:
        result = run_phase(phase, job, args, cpu_pids)
        errors += int(result["errors"])  # type: ignore[call-overload]
        print(json.dumps(result), flush=True)
    if "delete" in args.phases:
        status = delete_container(endpoint, args.container)
        if status not in (204, 404):
            print(f"note: container DELETE answered {status}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
