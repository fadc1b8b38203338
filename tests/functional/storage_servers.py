"""Real storage server processes (object, container, account) for functional tests.

Each runs its console script (``objstore-<kind>-server``), one worker, on
a free port, with the same cluster file and device directory as its
siblings. Before ``pip install -e .`` has installed a new console script,
the ``bin/`` shim runs instead: the same ``main()``.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

from .exchange import exchange
from .test_server_runtime import ROOT, free_port, wait_until


def command(kind: str) -> list[str]:
    script = shutil.which(f"objstore-{kind}-server")
    if script:
        return [script]
    return [sys.executable, str(ROOT / "bin" / f"objstore-{kind}-server")]


class StorageServer:
    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self.devices = tmp_path / "srv"
        (self.devices / "sda").mkdir(parents=True, exist_ok=True)
        cluster = tmp_path / "objstore.conf"
        cluster.write_text("[swift-hash]\nswift_hash_path_suffix = functional\n\n"
                           "[storage-policy:0]\nname = gold\ndefault = yes\n\n"
                           "[storage-policy:1]\nname = silver\n")
        self.port = free_port()
        self.log = tmp_path / f"{kind}.log"
        self.conf = tmp_path / f"{kind}-server.conf"
        self.conf.write_text(
            f"[app:{kind}-server]\nbind_port = {self.port}\nworkers = 1\n"
            # a stop never waits long for a connection left open (stop() waits 15 s)
            "graceful_shutdown_timeout = 5\n"
            f"devices = {self.devices}\nmount_check = false\ncluster_conf = {cluster}\n"
            f"log_file = {self.log}\n")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen([*command(self.kind), str(self.conf)], cwd=ROOT,
                                     start_new_session=True, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_until(lambda: self.request("GET", "/")[0] == 400)  # up, and refusing that path

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            assert self.proc.wait(timeout=15) == 0
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)

    def request(self, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """``path`` is text, quoted here as a proxy would send it."""
        return exchange(self.port, method, urllib.parse.quote(path, safe="/?=&"), body, headers)


def running(kind: str, tmp_path: Path) -> Iterator[StorageServer]:
    server = StorageServer(kind, tmp_path)
    try:
        server.start()
        yield server
    finally:
        server.stop()


# A test asks for the servers it needs; those of one test share the
# cluster file and the device directory (tmp_path).
