"""The daemon runner: config, --once, passes at an interval, signals, exit codes."""
from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from objstore.common.config import ConfigError, option
from objstore.daemons.base import Daemon, DaemonConfig, LocalDevice
from objstore.daemons.recon import read_recon
from objstore.daemons.runner import load_daemon_config, run_daemon
from ring.builder import RingBuilder

PORT = 6310  # this node; 6320 is another node on the same address


@dataclasses.dataclass(frozen=True)
class ToyConfig(DaemonConfig):
    block: bool = option(False, "wait in each device until told to stop")
    fail_on: str = option("", "a device whose pass raises")


class Toy(Daemon):
    """A daemon that only notes what it was given."""

    name = "toy-daemon"
    server_type = "object"
    server_section = "app:object-server"
    config_schema = ToyConfig
    counters = ("files", "errors")
    seen: ClassVar[list[tuple[str, float]]] = []   # (device, interval) per device visited
    policies: ClassVar[list[int]] = []             # the scheduling policy of each visit
    busy: ClassVar[list[int]] = []                 # devices being worked on, sampled
    lock = threading.Lock()
    working = 0

    def process_device(self, device: LocalDevice) -> None:
        with Toy.lock:
            Toy.seen.append((device.name, self.conf.interval))
            Toy.policies.append(os.sched_getscheduler(0))
            Toy.working += 1
            Toy.busy.append(Toy.working)
        try:
            if device.name == self.conf.fail_on:
                raise RuntimeError("boom")
            self.stats.add("files")
            time.sleep(0.05)
            if self.conf.block:
                self.stop.wait(30)
        finally:
            with Toy.lock:
                Toy.working -= 1


@pytest.fixture(autouse=True)
def clean_toy() -> Iterator[None]:
    Toy.seen.clear()
    Toy.busy.clear()
    Toy.policies.clear()
    saved = {signum: signal.getsignal(signum)
             for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.fixture
def node(tmp_path: Path) -> Path:
    builder = RingBuilder(4, 2, 0)
    for zone, (port, device) in enumerate(
            [(PORT, "sda"), (PORT, "sdb"), (PORT, "sdc"), (PORT, "sdd"), (6320, "other")], 1):
        builder.add_dev(1, zone, "127.0.0.1", port, device, 1.0)
        (tmp_path / "srv" / device).mkdir(parents=True)
    builder.rebalance(seed=1)
    (tmp_path / "rings").mkdir()
    for name in ("object", "object-1"):
        builder.get_ring().save(str(tmp_path / "rings" / f"{name}.ring.gz"))
    write_conf(tmp_path)
    return tmp_path


def write_conf(node: Path, **options: Any) -> Path:
    toy = {"ring_dir": node / "rings", "recon_cache_path": node / "recon",
           "log_file": node / "toy.log", "interval": 0.2, **options}
    conf = node / "object-server.conf"
    conf.write_text(
        f"[DEFAULT]\nmount_check = false\n"
        f"[app:object-server]\nbind_port = {PORT}\ndevices = {node / 'srv'}\n"
        f"[toy-daemon]\n" + "".join(f"{k} = {v}\n" for k, v in toy.items()))
    return conf


def recon(node: Path) -> dict[str, Any]:
    return read_recon(str(node / "recon" / "object.recon")).get("toy-daemon", {})


def test_node_options_come_from_the_servers_section(node: Path) -> None:
    conf_path = node / "object-server.conf"
    conf, warnings = load_daemon_config(str(conf_path), Toy)
    assert (conf.bind_port, conf.devices, conf.mount_check) == (PORT, str(node / "srv"), False)
    assert (conf.interval, conf.ring_dir, warnings) == (0.2, str(node / "rings"), [])
    write_conf(node, bind_port=7000, colour="blue")
    conf, warnings = load_daemon_config(str(conf_path), Toy)
    assert conf.bind_port == 7000  # the daemon's own section wins
    assert warnings == [f"{conf_path} [toy-daemon]: unknown option 'colour' is ignored"]
    conf_path.write_text("[app:object-server]\nbind_port = 6400\n")
    conf, warnings = load_daemon_config(str(conf_path), Toy)
    assert conf.bind_port == 6400 and conf.ring_dir == "/etc/objstore"
    assert warnings == [f"{conf_path} has no [toy-daemon] section: every option at its default"]
    write_conf(node, interval="-1")
    with pytest.raises(ConfigError, match=r"\[toy-daemon\] interval = '-1': must be at least 0"):
        load_daemon_config(str(conf_path), Toy)
    conf_path.write_text("[app:object-server]\nbind_port = 99999\nworkers = 4\n[toy-daemon]\n")
    with pytest.raises(ConfigError, match=r"\[app:object-server\] bind_port = '99999'"):
        load_daemon_config(str(conf_path), Toy)


def test_once_works_on_the_local_devices_and_records_the_pass(node: Path) -> None:
    before = time.time()
    assert run_daemon(Toy, [str(node / "object-server.conf"), "--once"]) == 0
    assert sorted(name for name, _ in Toy.seen) == ["sda", "sdb", "sdc", "sdd"]
    entry = recon(node)
    assert (entry["passes"], entry["interrupted"]) == (1, 0)
    last = entry["last_pass"]
    assert last["completed"] is True and last["devices"] == ["sda", "sdb", "sdc", "sdd"]
    assert last["counts"] == {"files": 4, "errors": 0}
    assert before <= last["started"] <= last["finished"] <= time.time()
    assert last["duration"] >= 4 * 0.05
    conf = str(node / "object-server.conf")
    assert run_daemon(Toy, [conf, "--once", "--devices", "sdb,sdx"]) == 0
    assert [name for name, _ in Toy.seen[4:]] == ["sdb"]
    assert recon(node)["passes"] == 2 and recon(node)["totals"] == {"files": 5, "errors": 0}


def test_a_pass_runs_batch_scheduled_unless_told_normal(node: Path) -> None:
    before = os.sched_getscheduler(0)
    write_conf(node, concurrency=2)  # devices in threads the pass starts
    assert run_daemon(Toy, [str(node / "object-server.conf"), "--once"]) == 0
    assert Toy.policies == [os.SCHED_BATCH] * 4
    write_conf(node, concurrency=2, scheduling="normal")
    assert run_daemon(Toy, [str(node / "object-server.conf"), "--once"]) == 0
    assert Toy.policies[4:] == [os.SCHED_OTHER] * 4
    assert os.sched_getscheduler(0) == before  # the runner's own thread: as it was


def test_devices_are_worked_on_concurrency_at_a_time(node: Path) -> None:
    write_conf(node, concurrency=2)
    assert run_daemon(Toy, [str(node / "object-server.conf"), "--once"]) == 0
    assert len(Toy.seen) == 4 and max(Toy.busy) == 2


def test_trouble_is_exit_1_and_the_other_devices_are_still_done(node: Path) -> None:
    conf = str(node / "object-server.conf")
    write_conf(node, fail_on="sdb", concurrency=3)
    assert run_daemon(Toy, [conf, "--once"]) == 1
    assert len(Toy.seen) == 4
    assert recon(node)["last_pass"]["counts"] == {"files": 3, "errors": 1}
    write_conf(node)
    (node / "srv" / "sdc").rmdir()
    assert run_daemon(Toy, [conf, "--once"]) == 1
    assert recon(node)["last_pass"]["counts"]["devices_unavailable"] == 1
    write_conf(node, bind_port=6330)  # no device of the ring is on this node
    assert run_daemon(Toy, [conf, "--once"]) == 1
    assert "no device of rings object is on this node (127.0.0.1:6330)" in \
        (node / "toy.log").read_text()


def test_a_daemon_that_works_off_the_node_needs_no_local_device(node: Path) -> None:
    class ClusterWide(Toy):  # as the expirer: its queue is in the cluster
        uses_local_devices = False

    write_conf(node, bind_port=6330)
    assert run_daemon(ClusterWide, [str(node / "object-server.conf"), "--once"]) == 0
    assert "no device of rings" not in (node / "toy.log").read_text()


def test_a_bad_config_or_ring_is_exit_2_with_one_line(
        node: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = str(node / "object-server.conf")
    write_conf(node, concurrency="many")
    assert run_daemon(Toy, [conf, "--once"]) == 2
    assert capsys.readouterr().err == (
        f"objstore-toy-daemon: {conf} [toy-daemon] concurrency = 'many': not a whole number\n")
    write_conf(node, ring_dir=node / "nowhere")
    assert run_daemon(Toy, [conf, "--once"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"ring {node}/nowhere/object.ring.gz cannot be read" in err
    assert Toy.seen == []


def signal_when(condition: Any, signum: int, timeout: float = 20.0) -> threading.Thread:
    """Send ``signum`` to this process (the runner in the main thread) once
    ``condition()`` holds."""
    def wait_then_signal() -> None:
        deadline = time.monotonic() + timeout
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), signum)

    thread = threading.Thread(target=wait_then_signal, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_forever_runs_a_pass_each_interval_until_a_signal(node: Path, signum: int) -> None:
    signal_when(lambda: recon(node).get("passes", 0) >= 3, signum)
    started = time.monotonic()
    assert run_daemon(Toy, [str(node / "object-server.conf")]) == 0
    elapsed = time.monotonic() - started
    passes = recon(node)["passes"]
    assert passes >= 3 and recon(node)["interrupted"] <= 1  # the pass the signal cut short
    assert elapsed >= (passes - 1) * 0.2  # a pass starts every interval, not back to back
    assert 4 * passes <= len(Toy.seen) <= 4 * (passes + 1)


def test_a_signal_stops_a_pass_part_way_and_it_is_recorded(node: Path) -> None:
    write_conf(node, block="true")
    signal_when(lambda: len(Toy.seen) >= 1, signal.SIGTERM)
    started = time.monotonic()
    assert run_daemon(Toy, [str(node / "object-server.conf"), "--once"]) == 1
    assert time.monotonic() - started < 10  # not the 30 s the device would take
    assert Toy.seen == [("sda", 0.2)]  # the other devices were not started
    entry = recon(node)
    assert (entry["passes"], entry["interrupted"]) == (0, 1)
    assert entry["last_pass"]["completed"] is False
    signal_when(lambda: len(Toy.seen) >= 2, signal.SIGTERM)
    assert run_daemon(Toy, [str(node / "object-server.conf")]) == 0
    assert recon(node)["interrupted"] == 2


def test_sighup_rereads_the_config_for_the_next_pass(node: Path) -> None:
    conf = str(node / "object-server.conf")

    def reload_then_stop() -> None:
        deadline = time.monotonic() + 20
        while len(Toy.seen) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        write_conf(node, interval="not a number")
        os.kill(os.getpid(), signal.SIGHUP)  # refused: the running config stays
        time.sleep(0.3)
        write_conf(node, interval=0.25)
        os.kill(os.getpid(), signal.SIGHUP)
        while not any(interval == 0.25 for _, interval in Toy.seen[-4:]) and \
                time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=reload_then_stop, daemon=True)
    thread.start()
    assert run_daemon(Toy, [conf]) == 0
    thread.join()
    intervals = [interval for _, interval in Toy.seen]
    assert intervals[0] == 0.2 and intervals[-1] == 0.25
    assert set(intervals) == {0.2, 0.25}
    log = (node / "toy.log").read_text()
    assert "reload refused, keeping the running config" in log
    assert "config reloaded" in log
