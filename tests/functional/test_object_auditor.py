"""objstore-object-auditor as an operator runs it, on a real cluster's disks.

Objects go in through the proxy; bytes are then damaged in one replica
each, the auditor runs as a real process (``--once``) on every object
server's config, and the test looks at the disks, the recon caches and
what clients get back.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ring.hashing import PathHasher
from ring.ring import Ring

from .cluster import Cluster, raw, token
from .test_server_runtime import ROOT

SERVERS = ("object1", "object2", "object3")
ACCOUNT, CONTAINER = "AUTH_test", "rot"


def auditor_command() -> list[str]:
    script = shutil.which("objstore-object-auditor")
    return [script] if script else [sys.executable, "-c",
                                    "from objstore.obj.auditor import main; main()"]


def add_auditor_sections(cluster: Cluster) -> None:
    for name in SERVERS:
        _, conf = cluster.commands[name]
        with open(conf, "a", encoding="utf-8") as handle:
            handle.write(f"[object-auditor]\nring_dir = {cluster.root / 'rings'}\n"
                         f"recon_cache_path = {cluster.root / 'recon' / name}\n"
                         f"log_file = {cluster.root / 'log' / (name + '-auditor.log')}\n")


def run_auditor(cluster: Cluster, *options: str) -> None:
    for name in SERVERS:
        _, conf = cluster.commands[name]
        done = subprocess.run([*auditor_command(), str(conf), "--once", *options], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (name, done.stdout, done.stderr,
                                      (cluster.root / "log" / f"{name}-auditor.log").read_text())


def recon(cluster: Cluster, name: str, key: str) -> dict[str, object]:
    path = cluster.root / "recon" / name / "object.recon"
    return json.loads(path.read_text())[key]  # type: ignore[no-any-return]


class Replicas:
    """Where each object's replicas are on disk."""

    def __init__(self, cluster: Cluster, names: list[str]) -> None:
        self.cluster = cluster
        self.names = names
        self.ring = Ring(str(cluster.root / "rings" / "object.ring.gz"),
                         hasher=PathHasher("", "proxy-tests"))
        self.hasher = PathHasher("", "proxy-tests")
        self.servers = {port: name for name, port in cluster.ports.items()}

    def of(self, obj: str) -> list[tuple[str, Path]]:
        """(server, hash directory) of each primary, in ring order."""
        part, nodes = self.ring.get_nodes(ACCOUNT, CONTAINER, obj)
        name_hash = self.hasher.hash_path(ACCOUNT, CONTAINER, obj)
        return [(self.servers[node.port], self.cluster.root / "srv" / self.servers[node.port]
                 / node.device / "objects" / str(part) / name_hash[-3:] / name_hash)
                for node in nodes]

    def name_of(self, data_file: Path) -> str:
        return next(name for name in self.names
                    if self.hasher.hash_path(ACCOUNT, CONTAINER, name) == data_file.parent.name)

    def data_file(self, obj: str, replica: int) -> Path:
        (path,) = self.of(obj)[replica][1].glob("*.data")
        return path


def every_data_file(cluster: Cluster) -> dict[Path, tuple[bytes, int]]:
    return {path: (path.read_bytes(), path.stat().st_mtime_ns)
            for path in (cluster.root / "srv").rglob("objects/*/*/*/*.data")}


def flip(path: Path, offset: int) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0xFF]))


def test_the_auditor_quarantines_rot_and_nothing_else(cluster: Cluster) -> None:
    auth, _ = token(cluster)
    headers = {"X-Auth-Token": auth}
    assert raw(cluster, "PUT", f"/v1/{ACCOUNT}/{CONTAINER}", headers=headers)[0] in (201, 202)
    bodies = {"small": os.urandom(1000), "big": os.urandom(3 * 1024 * 1024 + 5),
              "torn": os.urandom(2000), "fine": os.urandom(70_000), "empty": b""}
    for name, body in bodies.items():
        status, _, _ = raw(cluster, "PUT", f"/v1/{ACCOUNT}/{CONTAINER}/{name}", body, headers)
        assert status == 201
    replicas = Replicas(cluster, list(bodies))
    pristine = every_data_file(cluster)
    assert len(pristine) == 3 * len(bodies)

    # One replica of three objects goes bad, each on a different primary.
    small = replicas.data_file("small", 0)
    big = replicas.data_file("big", 1)
    torn = replicas.data_file("torn", 2)
    flip(small, 500)
    flip(big, 2 * 1024 * 1024 + 3)
    os.truncate(torn, 0)  # a crash: the data never reached the disk
    damaged = {small: "small", big: "big", torn: "torn"}
    add_auditor_sections(cluster)

    # The zero-byte pass finds the torn file at once and reads no bodies.
    run_auditor(cluster, "--zero-byte-fps", "500")
    torn_server, torn_dir = replicas.of("torn")[2]
    assert not torn_dir.exists()
    assert (torn_dir.parents[3] / "quarantined" / "objects" / torn_dir.name).is_dir()
    assert small.exists() and big.exists()
    for name in SERVERS:
        fast = recon(cluster, name, "object-auditor-zero-byte")
        counts = fast["last_pass"]["counts"]  # type: ignore[index]
        assert (fast["passes"], counts["bytes"], counts["errors"]) == (1, 0, 0)
        assert counts["quarantined"] == (1 if name == torn_server else 0)

    # The full pass finds the flipped bytes, small object and multi-MB alike.
    held = {name: [path for path in pristine if name in path.parts and path != torn]
            for name in SERVERS}
    run_auditor(cluster)
    for path, (data, mtime) in pristine.items():
        if path in damaged:
            server, hash_dir = next(r for r in replicas.of(damaged[path]) if r[1] == path.parent)
            assert not path.exists() and not hash_dir.exists()
            quarantined = hash_dir.parents[3] / "quarantined" / "objects" / hash_dir.name
            assert (quarantined / path.name).is_file()
            invalid = (hash_dir.parents[1] / "hashes.invalid").read_text().split()
            assert hash_dir.name[-3:] in invalid  # the replicator will restore it
        else:
            assert (path.read_bytes(), path.stat().st_mtime_ns) == (data, mtime), path
    for name in SERVERS:
        entry = recon(cluster, name, "object-auditor")
        counts = entry["last_pass"]["counts"]  # type: ignore[index]
        bad = sum(1 for path in (small, big) if name in path.parts)
        assert (entry["passes"], entry["interrupted"]) == (1, 0)
        assert (counts["files"], counts["quarantined"], counts["errors"]) == (
            len(held[name]), bad, 0)
        body_bytes = sum(len(bodies[replicas.name_of(path)]) for path in held[name])
        # every body byte is read once; reading a bad one stops at its bad chunk
        assert counts["bytes"] == body_bytes if not bad else counts["bytes"] < body_bytes
        assert entry["last_pass"]["devices"] == ["sda"]  # type: ignore[index]

    # No client ever gets a damaged byte: the bad replicas are gone.
    for name, body in bodies.items():
        for _ in range(3):
            status, got_headers, data = raw(cluster, "GET", f"/v1/{ACCOUNT}/{CONTAINER}/{name}",
                                            headers=headers)
            assert (status, data) == (200, body), name
            assert got_headers["ETag"] == hashlib.md5(body).hexdigest()
    status, _, data = raw(cluster, "GET", f"/v1/{ACCOUNT}/{CONTAINER}/big",
                          headers={**headers, "Range": "bytes=2097150-2097160"})
    assert (status, data) == (206, bodies["big"][2097150:2097161])


def test_aio_once_audits_every_node_and_returns(tmp_path: Path) -> None:
    from objstore.aio import files
    from objstore.aio.layout import DataDir, plan_servers
    from objstore.common.policies import load_cluster_config
    from objstore.common.timestamp import Timestamp
    from objstore.obj.diskfile import DiskFileManager

    data = DataDir(tmp_path / "aio")
    files.prepare(data, plan_servers(28080))  # set up, never started: no server needed
    cluster, _ = load_cluster_config(str(data.cluster_conf))
    hasher = PathHasher(cluster.hash_path_prefix, cluster.hash_path_suffix)
    for node in (1, 2, 3, 4):
        manager = DiskFileManager(str(data.devices(node)), hasher=hasher)
        for name in ("good", "bad"):
            diskfile = manager.get(f"sdb{node}", 5, "AUTH_test", "c", name)
            with diskfile.create(100_000) as writer:
                writer.write(os.urandom(100_000))
                writer.commit({"X-Timestamp": Timestamp(1000).internal})
            if name == "bad" and node == 3:
                flip(Path(diskfile.open().data_path), 99_999)
    pristine = every_data_file_under(data.srv)
    done = subprocess.run([sys.executable, "-m", "objstore.aio", "once", "--data-dir",
                           str(data.root), "object-auditor"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(":")[1].strip() for line in lines] == [
        f"object-auditor-{node}" for node in (1, 2, 3, 4)]
    for node, line in zip((1, 2, 3, 4), lines):
        assert "2 files" in line and ("1 quarantined" if node == 3 else "0 quarantined") in line
    after = every_data_file_under(data.srv)
    assert set(pristine) - set(after) == {
        path for path in pristine if "3" in path.parts and path.parent.name == hasher.hash_path(
            "AUTH_test", "c", "bad")}
    assert all(after[path] == pristine[path] for path in after)


def every_data_file_under(root: Path) -> dict[Path, tuple[bytes, int]]:
    return {path: (path.read_bytes(), path.stat().st_mtime_ns)
            for path in root.rglob("objects/*/*/*/*.data")}
