"""Where a running server spends its time: three views, taken together.

Used by ``bench/side_by_side.py --profile`` on one worker of each server
kind while a load runs:

* /proc per thread: user and system CPU of the hub thread (the process's
  main thread, where eventlet runs every request) and of the other
  threads (the disk I/O pool). Exact, but says nothing about code.
* py-spy (``record --threads --nonblocking``, idle threads left out by
  py-spy): Python stacks. On a saturated machine a thread that is
  runnable but waiting for a core still counts, so samples whose
  innermost frame is a wait (epoll, a condition, a queue) are reported
  apart, not as hotspots. A frame that makes a system call (fsync, send,
  connect) owns the kernel's time in it.
* perf (``record -e cpu-clock``, if installed): on-CPU samples by shared
  object and symbol, kernel included; Python 3.11 shows as its
  interpreter's C functions, so this one tells kernel from interpreter
  from hashing, not which Python function.
"""
from __future__ import annotations

import collections
import os
import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

WAIT_LEAF = re.compile(r"^(Hub\.do_poll|Hub\.wait|Condition\.wait|Queue\.get|Event\.wait|"
                       r"Lock\.acquire|socket\.accept|sleep) ")
WRAPPER = re.compile(r"^(GreenThread\.main|BaseHub\.run|Hub\.wait|Server\.process_request|"
                     r"HttpProtocol\.(__init__|handle|handle_one_request)|Thread\.(run|_bootstrap"
                     r"|_bootstrap_inner)|tworker|<module>|main|server_main|Supervisor\.\w+|"
                     r"run_wsgi_server|serve|_serve|_Server\.serve_connection|server) ")
ATTACH_SECONDS = 1.0
STOP_SECONDS = 30.0


# -- /proc per thread ------------------------------------------------------------

def thread_cpu(pid: int) -> dict[int, tuple[float, float]]:
    """Each thread's (user, system) seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            found[int(task)] = (int(fields[11]) / ticks, int(fields[12]) / ticks)
    except (OSError, IndexError, ValueError):
        pass
    return found


def thread_split(pid: int, before: dict[int, tuple[float, float]],
                 after: dict[int, tuple[float, float]], requests: int) -> str:
    """One line: ms per request in the hub thread and in the others,
    each as user + system."""
    def used(tids: list[int]) -> tuple[float, float]:
        user = sum(after[t][0] - before.get(t, (0.0, 0.0))[0] for t in tids)
        system = sum(after[t][1] - before.get(t, (0.0, 0.0))[1] for t in tids)
        return 1000 * user / requests, 1000 * system / requests

    hub_user, hub_sys = used([pid] if pid in after else [])
    others = [tid for tid in after if tid != pid]
    pool_user, pool_sys = used(others)
    return (f"hub thread {hub_user + hub_sys:.2f} ms/request (user {hub_user:.2f}, "
            f"system {hub_sys:.2f}); {len(others)} other threads {pool_user + pool_sys:.2f} "
            f"(user {pool_user:.2f}, system {pool_sys:.2f})")


# -- samplers --------------------------------------------------------------------------

@dataclass
class Sampler:
    """A py-spy or perf process recording one pid into ``output``."""

    tool: str
    proc: subprocess.Popen[bytes]
    output: Path


def start_samplers(pid: int, name: str, out_dir: Path, py_spy: str | None,
                   perf: str | None) -> list[Sampler]:
    commands = []
    if py_spy:
        raw = out_dir / f"{name}.pyspy.txt"
        commands.append(("py-spy", raw, [py_spy, "record", "--pid", str(pid), "--rate", "100",
                                         "--nonblocking", "--threads", "--format", "raw",
                                         "--output", str(raw)]))
    if perf:
        data = out_dir / f"{name}.perf.data"
        commands.append(("perf", data, [perf, "record", "-e", "cpu-clock", "-F", "499",
                                        "-p", str(pid), "-o", str(data)]))
    samplers = []
    for tool, output, command in commands:
        with open(out_dir / f"{name}.{tool}.log", "wb") as log:
            proc = subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
        samplers.append(Sampler(tool, proc, output))
    return samplers


def stop_samplers(samplers: list[Sampler]) -> None:
    """SIGINT (both write their file on it), by PID; SIGKILL if stuck."""
    for sampler in samplers:
        if sampler.proc.poll() is None:
            sampler.proc.send_signal(signal.SIGINT)
    for sampler in samplers:
        try:
            sampler.proc.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            sampler.proc.kill()
            sampler.proc.wait()


# -- reading py-spy -------------------------------------------------------------------

def frame_name(frame: str) -> str:
    """``Class.method (path/file.py:12)`` -> ``Class.method (path/file.py)``."""
    return re.sub(r":\d+\)$", ")", frame)


@dataclass
class Stacks:
    samples: int
    waiting: int                               # innermost frame is a wait
    own: list[tuple[str, float]]               # % of busy samples
    inclusive: list[tuple[str, float]]
    modules: list[tuple[str, float]]           # own time by the leaf's source file


def read_pyspy(raw: Path, top: int) -> Stacks:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    modules: collections.Counter[str] = collections.Counter()
    samples = waiting = 0
    text = raw.read_text(errors="replace") if raw.exists() else ""
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame_name(frame) for frame in stack.split(";")
                  if not frame.startswith("thread (")]
        if not frames:
            continue
        samples += count
        if WAIT_LEAF.match(frames[-1]):
            waiting += count
            continue
        own[frames[-1]] += count
        modules[frames[-1].rpartition(" (")[2].rstrip(")")] += count
        for name in set(frames):
            if not WRAPPER.match(name):
                inclusive[name] += count
    busy = max(samples - waiting, 1)

    def share(counter: collections.Counter[str], limit: int) -> list[tuple[str, float]]:
        return [(name, 100 * count / busy) for name, count in counter.most_common(limit)]

    return Stacks(samples, waiting, share(own, top), share(inclusive, top),
                  share(modules, max(top // 2, 4)))


# -- reading perf -------------------------------------------------------------------------

def read_perf(perf: str, data: Path, top: int) -> tuple[list[str], list[str]]:
    """(shared objects, symbols) as ``12.3% name`` lines."""
    def report(sort: str) -> list[str]:
        done = subprocess.run([perf, "report", "-i", str(data), "--stdio", "--no-children",
                               "--sort", sort, "--percent-limit", "0.5", "-q"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        lines = []
        for line in done.stdout.splitlines():
            parts = line.split()
            if parts and parts[0].endswith("%"):
                lines.append(f"{parts[0]} {' '.join(parts[1:])}")
        return lines[:top]

    if not data.exists():
        return [], []
    return report("dso"), report("dso,sym")


# -- the whole report for one process -----------------------------------------------------

def describe(kind: str, pid: int, name: str, out_dir: Path, split: str,
             perf: str | None, top: int) -> list[str]:
    lines = [f"\n**{kind}** (worker pid {pid}): {split}"]
    stacks = read_pyspy(out_dir / f"{name}.pyspy.txt", top)
    if stacks.samples:
        busy = stacks.samples - stacks.waiting
        lines.append(f"\npy-spy: {stacks.samples} samples, {stacks.waiting} of them in a "
                     f"wait (runnable, no core yet); of the other {busy}, own time by file: "
                     + "; ".join(f"{pct:.0f}% {name}" for name, pct in stacks.modules))
        lines.append("\nown time by function:\n")
        lines += [f"- {pct:.1f}% {frame}" for frame, pct in stacks.own]
        lines.append("\ninclusive (request-level frames):\n")
        lines += [f"- {pct:.1f}% {frame}" for frame, pct in stacks.inclusive]
    if perf:
        dsos, symbols = read_perf(perf, out_dir / f"{name}.perf.data", top)
        if dsos:
            lines.append("\nperf, on-CPU by shared object: " + "; ".join(dsos))
            lines.append("\nperf, top symbols:\n")
            lines += [f"- {line}" for line in symbols]
    return lines
