"""The WSGI runtime as an operator meets it: real processes, real signals."""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(port: int, path: str, timeout: float = 10.0) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": "runtime-test"})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def wait_until(check, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def children(pid: int) -> set[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return {int(p) for p in path.read_text().split()} if path.exists() else set()


class EchoServer:
    def __init__(self, tmp_path: Path, workers: int = 2, extra: str = "",
                 port: int | None = None) -> None:
        self.port = port or free_port()
        self.conf = tmp_path / "echo.conf"
        self.log = tmp_path / "echo.log"
        self.write_conf(workers, extra)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.echo_server", str(self.conf)], cwd=ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)

    def write_conf(self, workers: int, extra: str = "") -> None:
        self.conf.write_text(
            f"[app:echo]\nbind_port = {self.port}\nworkers = {workers}\n"
            f"log_file = {self.log}\ngraceful_shutdown_timeout = 10\n{extra}")

    def ready(self) -> None:
        wait_until(lambda: get(self.port, "/pid", timeout=2)[0] == 200)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EchoServer]:
    echo = EchoServer(tmp_path)
    try:
        echo.ready()
        yield echo
    finally:
        echo.stop()


def test_serves_with_workers_and_logs_each_request(server: EchoServer) -> None:
    assert get(server.port, "/greet") == (200, "hello")
    wait_until(lambda: len(children(server.proc.pid)) == 2)
    get(server.port, "/na%20me?x=1")
    lines = wait_until(lambda: [l for l in server.log.read_text().splitlines() if "/na" in l])
    assert lines[0].endswith('txn:tx-echo agent:"runtime-test"')
    assert '127.0.0.1 "GET /na%20me?x=1" 200 2 ' in lines[0]


def test_sigterm_finishes_requests_in_flight_then_exits(server: EchoServer) -> None:
    answers: list[tuple[int, str]] = []
    slow = threading.Thread(target=lambda: answers.append(get(server.port, "/slow?seconds=1.5")))
    slow.start()
    time.sleep(0.5)
    server.proc.send_signal(signal.SIGTERM)
    slow.join(timeout=10)
    assert answers == [(200, "ok")]
    assert server.proc.wait(timeout=10) == 0
    with pytest.raises(OSError):
        get(server.port, "/pid", timeout=2)


def test_sighup_reloads_config_without_refusing_requests(server: EchoServer) -> None:
    old_workers = wait_until(lambda: children(server.proc.pid) if len(
        children(server.proc.pid)) == 2 else None)
    answers: list[tuple[int, str]] = []
    slow = threading.Thread(target=lambda: answers.append(get(server.port, "/slow?seconds=1")))
    slow.start()
    time.sleep(0.3)
    server.write_conf(2, "greeting = bonjour\n")
    server.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: get(server.port, "/greet", timeout=2) == (200, "bonjour"))
    slow.join(timeout=10)
    assert answers == [(200, "ok")]
    wait_until(lambda: not children(server.proc.pid) & old_workers)


def test_a_bad_reload_keeps_the_running_config(server: EchoServer) -> None:
    server.write_conf(2, "greeting = fine\nclient_timeout = soon\n")
    server.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "reload refused" in server.log.read_text())
    assert get(server.port, "/greet") == (200, "hello")


def test_a_dead_worker_is_replaced(server: EchoServer) -> None:
    with pytest.raises((OSError, http.client.HTTPException)):
        get(server.port, "/crash", timeout=5)
    wait_until(lambda: "exited unexpectedly" in server.log.read_text())
    wait_until(lambda: len(children(server.proc.pid)) == 2)
    assert get(server.port, "/greet") == (200, "hello")


def test_a_bad_config_value_stops_start_up(tmp_path: Path) -> None:
    echo = EchoServer(tmp_path, extra="max_clients = lots\n")
    try:
        assert echo.proc.wait(timeout=20) == 2
        assert echo.proc.stderr is not None
        err = echo.proc.stderr.read().strip()
        assert err == f"echo-server: {echo.conf} [app:echo] max_clients = 'lots': not a whole number"
    finally:
        echo.stop()


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        echo = EchoServer(tmp_path, port=taken.getsockname()[1])
        try:
            assert echo.proc.wait(timeout=20) == 2
            assert echo.proc.stderr is not None
            err = echo.proc.stderr.read().strip()
            assert err == (f"echo-server: cannot listen on 127.0.0.1:{echo.port}: "
                           "Address already in use")
        finally:
            echo.stop()


def test_workers_run_under_batch_scheduling_unless_told_normal(server: EchoServer) -> None:
    policies = json.loads(get(server.port, "/sched")[1])
    assert policies == {"main": os.SCHED_BATCH, "disk": os.SCHED_BATCH}
    # the supervisor keeps the policy it was started with (this test's)
    assert os.sched_getscheduler(server.proc.pid) == os.sched_getscheduler(0)
    old_workers = wait_until(lambda: children(server.proc.pid) if len(
        children(server.proc.pid)) == 2 else None)
    server.write_conf(2, "scheduling = normal\n")
    server.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: not children(server.proc.pid) & old_workers)
    policies = json.loads(get(server.port, "/sched")[1])
    assert policies == {"main": os.SCHED_OTHER, "disk": os.SCHED_OTHER}
