"""Growing a running cluster: an operator adds a device, rebalances the
object ring with objstore-ring-builder and lets the servers pick up the
new ring file, while clients keep reading. No read may fail or return a
wrong byte, and after replication every object sits on its new
primaries (the new device among them where a partition moved there) and
nowhere else."""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import threading
import time

import pytest

from .cluster import ACCOUNT, NODES, ProbeCluster, etag
from .test_replication import assert_clients_see, put_objects, replicate

pytestmark = pytest.mark.slow

NEW_DEVICE = "sdb5"
NODE = 1  # the new device is a new disk in node 1's server


class Reader(threading.Thread):
    """GETs every object through the proxy, round after round, and keeps
    every answer that is not a 200 with the object's own bytes."""

    def __init__(self, probe: ProbeCluster, container: str, bodies: dict[str, bytes]) -> None:
        super().__init__(daemon=True)
        self.probe, self.container, self.bodies = probe, container, bodies
        self.rounds = 0
        self.problems: list[tuple[str, int, str]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            for name, body in self.bodies.items():
                try:
                    status, headers, data = self.probe.request("GET", f"{self.container}/{name}")
                except OSError as err:
                    self.problems.append((name, 0, str(err)))
                    continue
                if status != 200 or data != body or headers.get("etag") != etag(body):
                    self.problems.append((name, status, f"{len(data)} bytes"))
            self.rounds += 1

    def wait_rounds(self, more: int, timeout: float = 120) -> None:
        wanted, deadline = self.rounds + more, time.monotonic() + timeout
        while self.rounds < wanted:
            assert self.is_alive() and time.monotonic() < deadline, "the reader is stuck"
            time.sleep(0.1)


def ring_builder(probe: ProbeCluster, *args: str) -> subprocess.CompletedProcess[str]:
    """objstore-ring-builder on the cluster's object builder, as an operator runs it."""
    script = shutil.which("objstore-ring-builder")
    command = [script] if script else [sys.executable, "-c", "from ring.cli import main; main()"]
    done = subprocess.run([*command, str(probe.data.rings / "object.builder"), *args],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


def primaries(probe: ProbeCluster, container: str, name: str) -> set[str]:
    return {device.device for device in probe.load_ring("object").get_nodes(
        ACCOUNT, container, name)[1]}


def wait_for_the_proxy_to_route_to(probe: ProbeCluster, container: str, name: str,
                                   body: bytes, timeout: float = 60) -> None:
    """PUT the object until the proxy writes it to the new device (the
    servers check their ring file for changes every 15 s); until then it
    lands on the old primaries, for the replicator to move."""
    deadline = time.monotonic() + timeout
    while True:
        assert probe.request("PUT", f"{container}/{name}", body, {
            "X-Object-Meta-Name": name})[0] == 201
        if probe.replicas_by_device(container, name)[NEW_DEVICE].exists:
            return
        assert time.monotonic() < deadline, "the proxy never loaded the new ring"
        time.sleep(0.5)


def test_a_new_device_takes_its_share_while_every_read_succeeds(probe: ProbeCluster) -> None:
    container = "growing"
    bodies = put_objects(probe, container, 150, max_size=20_000)
    before = {name: primaries(probe, container, name) for name in bodies}
    reader = Reader(probe, container, dict(bodies))
    reader.start()
    try:
        reader.wait_rounds(1)
        (probe.data.devices(NODE) / NEW_DEVICE).mkdir()
        port = probe.server(NODE).port
        ring_builder(probe, "add", f"r1z{NODE}-127.0.0.1:{port}/{NEW_DEVICE}", "1")
        # objstore-aio's rings have min_part_hours 0: the rebalance moves at
        # once, and writes object.ring.gz where every server reads it.
        assert "Reassigned" in ring_builder(probe, "rebalance").stdout
        after = {name: primaries(probe, container, name) for name in bodies}
        moved = [name for name in bodies if after[name] != before[name]]
        assert moved and all(NEW_DEVICE in after[name] for name in moved)
        assert all(len(after[name] - before[name]) == 1 for name in moved)

        marker = next(f"marker-{n}" for n in range(10_000)
                      if NEW_DEVICE in primaries(probe, container, f"marker-{n}"))
        bodies[marker] = os.urandom(random.randrange(1, 20_000))
        wait_for_the_proxy_to_route_to(probe, container, marker, bodies[marker])
        reader.wait_rounds(1)  # every object read through the new ring

        passes = replicate(probe)
        assert passes <= 3
        reader.wait_rounds(2)
    finally:
        reader.halt.set()
        reader.join(timeout=60)
    assert reader.problems == [], reader.problems[:20]
    assert reader.rounds >= 5

    devices = probe.device_dirs()
    assert len(devices) == len(NODES) + 1
    for name, body in bodies.items():
        replicas = probe.replicas_by_device(container, name)
        wanted = primaries(probe, container, name)
        assert {device for device, replica in replicas.items() if replica.exists} == wanted, name
        for device in wanted:
            data, metadata = replicas[device].read()
            assert (data, metadata["ETag"], metadata["X-Object-Meta-Name"]) == (
                body, etag(body), name), (name, device)
    ring = probe.load_ring("object")
    for device, path in devices.items():  # no partition left where it no longer belongs
        held = {int(part) for part in os.listdir(path / "objects")}
        assert all(device in {d.device for d in ring.get_part_nodes(part)}
                   for part in held), device
    assert {int(part) for part in os.listdir(devices[NEW_DEVICE] / "objects")} >= {
        ring.get_part(ACCOUNT, container, name) for name in moved}
    assert_clients_see(probe, container, bodies)
