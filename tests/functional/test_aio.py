"""objstore-aio as a user runs it: a whole cluster of real processes, then none."""
from __future__ import annotations

import http.client
import importlib.util
import random
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from objstore.aio.layout import (
    DAEMONS as DAEMON_KINDS, HIGHEST_OFFSET, IMAGE_OFFSET, STORAGE_OFFSET,
)

from .test_server_runtime import ROOT, children, wait_until

pytestmark = pytest.mark.slow
HAVE_PROXY = importlib.util.find_spec("objstore.proxy.server") is not None
SERVERS = 14 if HAVE_PROXY else 12   # with the proxy comes the image server
DAEMONS = 4 * len(DAEMON_KINDS)  # each daemon on every node


def is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def base_port() -> int:
    """A proxy port whose cluster ports are all free, below the kernel's
    ephemeral range (where other tests' free ports come from)."""
    for _ in range(200):
        port = random.randrange(10000, 32768 - IMAGE_OFFSET - 1)
        wanted = [port, *range(port + STORAGE_OFFSET, port + HIGHEST_OFFSET + 1),
                  port + IMAGE_OFFSET]
        if all(is_free(p) for p in wanted):
            return port
    raise AssertionError("no free range of ports")


def aio(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "objstore.aio", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def status_of(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def pids(data: Path) -> dict[str, int]:
    return {path.stem: int(path.read_text()) for path in (data / "run").glob("*.pid")}


def with_workers(server_pids: dict[str, int]) -> set[int]:
    everything = set(server_pids.values())
    for pid in server_pids.values():
        everything |= children(pid)
    return everything


def left(all_pids: set[int]) -> set[int]:
    """Those still running (a zombie has finished: its reaping is its parent's job)."""
    running = set()
    for pid in all_pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if stat[stat.rfind(")") + 2] != "Z":
            running.add(pid)
    return running


def answering(data: Path, port: int) -> dict[str, int] | None:
    """The servers' and daemons' pids once every server answers: storage
    servers 400 to ``GET /``, the proxy 200 to ``GET /healthcheck``, the
    image server 200 to ``GET /versions``."""
    server_pids = pids(data)
    if len(server_pids) != SERVERS + DAEMONS:
        return None
    for node in range(4):
        for kind in range(3):
            if status_of(port + 1000 + 10 * node + kind, "/") != 400:
                return None
    if HAVE_PROXY and (status_of(port, "/healthcheck") != 200
                       or status_of(port + IMAGE_OFFSET, "/versions") != 200):
        return None
    return server_pids


def test_detached_cluster_answers_then_stops_without_a_trace(tmp_path: Path) -> None:
    data, port = tmp_path / "aio", base_port()
    started = aio("start", "--data-dir", str(data), "--port", str(port), "--detach")
    assert started.returncode == (0 if HAVE_PROXY else 1), started.stderr
    if HAVE_PROXY:
        assert f"auth URL:  http://127.0.0.1:{port}/auth/v1.0" in started.stdout
        assert f"images:    http://127.0.0.1:{port + IMAGE_OFFSET}" in started.stdout
        assert "-U test:tester -K testing stat" in started.stdout
    server_pids = answering(data, port)
    assert server_pids is not None
    everything = with_workers(server_pids)
    assert len(everything) == 2 * SERVERS + DAEMONS  # a supervisor and one worker each
    try:
        status = aio("status", "--data-dir", str(data))
        assert status.returncode == (0 if HAVE_PROXY else 1)
        assert status.stdout.count(" up\n") == SERVERS
        again = aio("start", "--data-dir", str(data), "--detach")
        assert "runs already" in again.stdout and pids(data) == server_pids
    finally:
        stopped = aio("stop", "--data-dir", str(data))
    assert stopped.returncode == 0, stopped.stderr
    assert f"stopped {SERVERS} servers and {DAEMONS} daemons" in stopped.stdout
    assert left(everything) == set()
    assert pids(data) == {}
    assert aio("status", "--data-dir", str(data)).returncode == 1


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_in_the_foreground_a_signal_stops_everything(tmp_path: Path, signum: int) -> None:
    data, port = tmp_path / "aio", base_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "objstore.aio", "--data-dir", str(data), "--port", str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(proc.stdout or ()), daemon=True)
    reader.start()
    everything: set[int] = set()
    try:
        wait_until(lambda: any("stop:      Ctrl-C" in line for line in out), timeout=60)
        server_pids = answering(data, port)
        assert server_pids is not None
        everything = with_workers(server_pids)
        proc.send_signal(signum)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:  # a failed test must not leave a cluster behind
            proc.kill()
            proc.wait()
            aio("stop", "--data-dir", str(data))
        reader.join(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
    assert out[-1] == "objstore-aio: stopping\n"
    assert left(everything) == set()
    assert pids(data) == {}


def test_a_port_in_use_stops_start_up_with_one_line(tmp_path: Path) -> None:
    data, port = tmp_path / "aio", base_port()
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", port + 1022))
        taken.listen()
        result = aio("start", "--data-dir", str(data), "--port", str(port), "--detach")
    assert result.returncode == 2
    assert result.stderr == (
        f"objstore-aio: port {port + 1022} (account-server-3) is already in use\n")
    assert not (data / "run").exists() or pids(data) == {}
