"""objstore-object-updater as an operator runs it: a container server that
was down during PUTs and DELETEs gets every update once the updater runs."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from .cluster import Cluster, raw, token
from .test_server_runtime import ROOT

SERVERS = ("object1", "object2", "object3")


def updater_command() -> list[str]:
    script = shutil.which("objstore-object-updater")
    return [script] if script else [sys.executable, "-c",
                                    "from objstore.obj.updater import main; main()"]


def run_updaters(cluster: Cluster) -> None:
    for name in SERVERS:
        _, conf = cluster.commands[name]
        if "[object-updater]" not in conf.read_text():
            with open(conf, "a", encoding="utf-8") as handle:
                handle.write(f"[object-updater]\nring_dir = {cluster.root / 'rings'}\n"
                             f"recon_cache_path = {cluster.root / 'recon' / name}\n"
                             f"log_file = {cluster.root / 'log' / (name + '-updater.log')}\n"
                             "objects_per_second = 0\n")
        done = subprocess.run([*updater_command(), str(conf), "--once"], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        log = cluster.root / "log" / f"{name}-updater.log"
        assert done.returncode == 0, (name, done.stdout, done.stderr,
                                      log.read_text() if log.exists() else "")


def pending_records(cluster: Cluster) -> list[Path]:
    return [path for path in (cluster.root / "srv").rglob("async_pending*/*/*")
            if path.is_file()]


def listing(cluster: Cluster, path: str, auth: str) -> tuple[list[str], dict[str, str]]:
    status, headers, body = raw(cluster, "GET", f"{path}/c?format=json",
                                headers={"X-Auth-Token": auth})
    assert status == 200
    return [row["name"] for row in json.loads(body)], headers


def test_updates_missed_while_the_container_server_was_down_arrive(cluster: Cluster) -> None:
    auth, url = token(cluster)
    path = "/" + url.split("/", 3)[3]
    headers = {"X-Auth-Token": auth}
    assert raw(cluster, "PUT", f"{path}/c", headers=headers)[0] == 201
    assert raw(cluster, "PUT", f"{path}/c/early", b"e", headers)[0] == 201
    cluster.stop_server("container")
    for number in range(12):
        assert raw(cluster, "PUT", f"{path}/c/o{number:02d}", b"x" * number, headers)[0] == 201
    assert raw(cluster, "DELETE", f"{path}/c/early", headers=headers)[0] == 204
    assert raw(cluster, "PUT", f"{path}/c/o00", b"newest", headers)[0] == 201  # twice
    records = pending_records(cluster)
    assert len(records) == 3 * 14  # every replica kept every update it could not send

    cluster.restart_server("container")
    assert listing(cluster, path, auth)[0] == ["early"]  # nothing arrived by itself
    run_updaters(cluster)

    names, got = listing(cluster, path, auth)
    assert names == [f"o{number:02d}" for number in range(12)]
    assert got["X-Container-Object-Count"] == "12"
    assert got["X-Container-Bytes-Used"] == str(len(b"newest") + sum(range(1, 12)))
    assert pending_records(cluster) == []
    recon = [json.loads((cluster.root / "recon" / name / "object.recon").read_text())
             ["object-updater"] for name in SERVERS]
    assert sum(entry["last_pass"]["counts"]["successes"] for entry in recon) == 3 * 13
    assert all(entry["last_pass"]["counts"]["failures"] == 0 for entry in recon)


def test_updates_stay_until_the_container_server_takes_them(cluster: Cluster) -> None:
    auth, url = token(cluster)
    path = "/" + url.split("/", 3)[3]
    headers = {"X-Auth-Token": auth}
    assert raw(cluster, "PUT", f"{path}/c", headers=headers)[0] == 201
    assert raw(cluster, "PUT", f"{path}/c/first", b"1", headers)[0] == 201  # container known
    cluster.stop_server("container")
    assert raw(cluster, "PUT", f"{path}/c/late", b"late", headers)[0] == 201
    run_updaters(cluster)  # still down: nothing lost
    assert len(pending_records(cluster)) == 3
    cluster.restart_server("container")
    run_updaters(cluster)
    assert listing(cluster, path, auth)[0] == ["first", "late"]
    assert pending_records(cluster) == []
