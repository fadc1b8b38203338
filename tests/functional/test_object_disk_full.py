"""A full device is 507 and leaves nothing behind.

The device is a 1 MiB tmpfs mounted in a private mount namespace
(``unshare -m``): it exists only for the child process that runs the
object server's controller, and vanishes with it. Needs root.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CHILD = textwrap.dedent("""
    import logging, os, sys, time
    from objstore.common.http import Request, wsgi_app
    from objstore.obj.diskfile import DiskFileManager
    from objstore.obj.server import ObjectController, ObjectServerConfig
    from ring.hashing import PathHasher

    devices = sys.argv[1]
    conf = ObjectServerConfig(devices=devices, mount_check=True)
    manager = DiskFileManager(devices, mount_check=True, hasher=PathHasher("p", "s"))
    log = logging.getLogger("full")
    app = wsgi_app(ObjectController(conf, log, manager), log)

    def put(name, size):
        req = Request.blank("/sda/1/a/c/" + name, method="PUT",
                            headers={"X-Timestamp": "%.5f" % time.time(),
                                     "Content-Type": "a/b"})
        req.body = os.urandom(size)
        return req.get_response(app)

    small = put("small", 1000)
    big = put("big", 4 * 1024 * 1024)
    got = Request.blank("/sda/1/a/c/big").get_response(app)
    leftovers = [f for root, _, files in os.walk(os.path.join(devices, "sda", "tmp"))
                 for f in files]
    print(small.status_int, big.status_int, got.status_int, len(leftovers),
          big.body.decode().strip())
""")


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                    reason="needs root and unshare to mount a small filesystem privately")
def test_a_full_device_is_507_and_nothing_partial_remains(tmp_path: Path) -> None:
    devices = tmp_path / "srv"
    (devices / "sda").mkdir(parents=True)
    child = tmp_path / "child.py"
    child.write_text(CHILD)
    script = (f"mount -t tmpfs -o size=1m tmpfs {devices / 'sda'} && "
              f"exec {sys.executable} {child} {devices}")
    result = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True,
                            text=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr
    small, big, got, leftovers, reason = result.stdout.split(" ", 4)
    assert (small, big, got, leftovers) == ("201", "507", "404", "0")
    assert "full" in reason
