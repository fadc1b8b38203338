"""objstore-container-updater as an operator runs it: objects PUT while
the account servers were down reach the account's totals once it runs."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from typing import Any

from .cluster import Cluster, raw, token
from .test_server_runtime import ROOT


def updater_command() -> list[str]:
    script = shutil.which("objstore-container-updater")
    return [script] if script else [sys.executable, "-c",
                                    "from objstore.container.updater import main; main()"]


def run_updater(cluster: Cluster) -> dict[str, Any]:
    """One pass on every container server; the recon entry of each."""
    entries = {}
    for name, (kind, conf) in cluster.commands.items():
        if kind != "container-server":
            continue
        log = cluster.root / "log" / f"{name}-updater.log"
        if "[container-updater]" not in conf.read_text():
            with open(conf, "a", encoding="utf-8") as handle:
                handle.write(f"[container-updater]\nring_dir = {cluster.root / 'rings'}\n"
                             f"recon_cache_path = {cluster.root / 'recon' / name}\n"
                             f"log_file = {log}\ncontainers_per_second = 0\n")
        done = subprocess.run([*updater_command(), str(conf), "--once"], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (name, done.stdout, done.stderr,
                                      log.read_text() if log.exists() else "")
        recon = json.loads((cluster.root / "recon" / name / "container.recon").read_text())
        entries[name] = recon["container-updater"]["last_pass"]["counts"]
    assert entries, "no container server to run the updater for"
    return entries


def test_totals_missed_while_the_accounts_were_down_arrive(cluster: Cluster) -> None:
    auth, url = token(cluster)
    path = "/" + url.split("/", 3)[3]
    headers = {"X-Auth-Token": auth}
    assert raw(cluster, "PUT", f"{path}/c", headers=headers)[0] == 201
    # the container server's own reporter waits an hour between reports, so
    # that only the updater can bring the account up to date in this test
    _, conf = cluster.commands["container"]
    conf.write_text(conf.read_text().replace("account_update_interval = 0.2",
                                             "account_update_interval = 3600"))
    cluster.stop_server("container")
    cluster.restart_server("container")
    cluster.stop_server("account")
    sizes = [number * 10 for number in range(1, 8)]
    for number, size in enumerate(sizes):
        assert raw(cluster, "PUT", f"{path}/c/o{number}", b"x" * size, headers)[0] == 201
    cluster.restart_server("account")

    def account_totals() -> tuple[str | None, str | None]:
        status, got, _ = raw(cluster, "HEAD", path, headers=headers)
        assert status == 204
        return got.get("X-Account-Object-Count"), got.get("X-Account-Bytes-Used")

    assert account_totals() == ("0", "0")  # the container server's reports were lost
    first = run_updater(cluster)
    assert account_totals() == (str(len(sizes)), str(sum(sizes)))
    # every replica of the container (three, on this one node) reported once
    assert sum(counts["successes"] for counts in first.values()) == 3
    assert all(counts["failures"] == counts["errors"] == 0 for counts in first.values())

    second = run_updater(cluster)  # nothing changed: nothing sent
    assert sum(counts["no_changes"] for counts in second.values()) == 3
    assert all(counts["successes"] == counts["failures"] == 0 for counts in second.values())
