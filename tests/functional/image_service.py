"""The test cluster with the image service in front of it.

The proxy gets the large-object filters and three more tempauth users:
the image service's own (``images:glance``), a second account's user
(``other:user``, to see what other accounts see) and nothing else
changes. The image server (``objstore-image-server``) runs on a free port
with small segments (1 MiB) so that a few MB make several of them.
"""
from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from .exchange import exchange
from .large_objects import LargeObjectCluster
from .test_server_runtime import ROOT, free_port, wait_until

SEGMENT = 1 << 20
SERVICE_KEY = "glance-service-key"
EXTRA_USERS = {"images:glance": (SERVICE_KEY, ".admin"), "other:user": ("otherkey", ".admin")}


class ImageCluster(LargeObjectCluster):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.image_port = free_port()
        self.image_proc: subprocess.Popen[bytes] | None = None

    def _proxy_conf(self) -> Path:
        conf = super()._proxy_conf()
        lines = "".join(f"user_{login.replace(':', '_')} = {key} {groups}\n"
                        for login, (key, groups) in EXTRA_USERS.items())
        conf.write_text(conf.read_text().replace("[app:proxy-server]\n",
                                                 lines + "[app:proxy-server]\n", 1))
        return conf

    def start(self) -> None:
        super().start()
        self.image_proc = self.start_image_server(self.image_port, "image")

    def start_image_server(self, port: int, name: str, options: str = ""
                           ) -> subprocess.Popen[bytes]:
        """An image server on ``port`` (any number may serve one cluster);
        ``options``: more lines for its ``[app:image-server]``."""
        conf = self.root / f"{name}-server.conf"
        conf.write_text(
            f"[app:image-server]\nbind_port = {port}\nworkers = 1\n"
            f"proxy_url = http://127.0.0.1:{self.ports['proxy']}\n"
            f"service_user = images:glance\nservice_key = {SERVICE_KEY}\n"
            f"segment_size = {SEGMENT}\nimage_size_cap = {64 * SEGMENT}\nmax_segments = 64\n"
            f"log_file = {self.root / 'log' / name}.log\n{options}")
        script = os.path.join(os.path.dirname(sys.executable), "objstore-image-server")
        command = [script] if os.path.exists(script) else [
            sys.executable, "-c", "from objstore.image.server import main; main()"]
        proc = subprocess.Popen([*command, str(conf)], cwd=ROOT, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: exchange(port, "GET", "/healthcheck")[0] == 200)
        except BaseException:
            stop_process(proc)
            raise
        return proc

    def stop(self) -> None:
        if self.image_proc is not None:
            stop_process(self.image_proc)
        super().stop()

    @property
    def image_url(self) -> str:
        return f"http://127.0.0.1:{self.image_port}"

    def token(self, login: str = "test:tester") -> str:
        key = {"test:tester": "testing", "test:tester3": "testing3", "admin:admin": "admin",
               **{name: value[0] for name, value in EXTRA_USERS.items()}}[login]
        status, headers, _ = exchange(self.ports["proxy"], "GET", "/auth/v1.0",
                                      headers={"X-Auth-User": login, "X-Auth-Key": key})
        assert status == 200, status
        return headers["X-Auth-Token"]

    def api(self, method: str, path: str, token: str, body: bytes | object = b"",
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """One request to the image API; a non-bytes body goes as JSON."""
        sent = {"X-Auth-Token": token, **(headers or {})}
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        status, got, data = exchange(self.image_port, method, path, body, sent, timeout=60)
        return status, {k.lower(): v for k, v in got.items()}, data

    def put_chunked(self, path: str, token: str, chunks: Iterator[bytes],
                    headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """A PUT with Transfer-Encoding: chunked and no Content-Length."""
        conn = http.client.HTTPConnection("127.0.0.1", self.image_port, timeout=60)
        try:
            conn.request("PUT", path, body=chunks, encode_chunked=True, headers={
                "X-Auth-Token": token, "Content-Type": "application/octet-stream",
                "Transfer-Encoding": "chunked", **(headers or {})})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def glance(self, token: str, *args: str, home: Path, stdin: bytes | None = None
               ) -> subprocess.CompletedProcess[str]:
        """The real glance CLI against the image server (its schema cache in
        ``home``); ``stdin``, when given, is the image data it reads (else its
        standard input is closed, which the CLI takes for "no data")."""
        env = {name: value for name, value in os.environ.items()
               if not name.startswith("OS_")}
        env["HOME"] = str(home)
        done = subprocess.run(
            [sys.executable, "-c", "from glanceclient.shell import main; main()",
             "--os-image-url", self.image_url, "--os-auth-token", token, *args],
            input=stdin, capture_output=True, timeout=180, env=env, cwd=self.root,
            preexec_fn=None if stdin is not None else _close_stdin)
        return subprocess.CompletedProcess(done.args, done.returncode,
                                           done.stdout.decode("utf-8", "replace"),
                                           done.stderr.decode("utf-8", "replace"))

    def objstore_image(self, *args: str, login: str | None = "test:tester"
                       ) -> subprocess.CompletedProcess[bytes]:
        """The operator CLI against the image server, its credentials from
        the environment as the swift CLI takes them (none for ``login=None``)."""
        env = {name: value for name, value in os.environ.items()
               if not name.startswith(("OS_", "ST_"))}
        env["OS_IMAGE_URL"] = self.image_url
        if login is not None:
            env.update(ST_AUTH=f"http://127.0.0.1:{self.ports['proxy']}/auth/v1.0",
                       ST_USER=login, ST_KEY={"test:tester": "testing"}[login])
        script = os.path.join(os.path.dirname(sys.executable), "objstore-image")
        command = [script] if os.path.exists(script) else [
            sys.executable, "-c", "from objstore.image.cli import main; main()"]
        return subprocess.run([*command, *args], capture_output=True, timeout=180, env=env,
                              cwd=self.root, stdin=subprocess.DEVNULL)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _close_stdin() -> None:
    os.close(0)


def image_cluster(root: Path) -> Iterator[ImageCluster]:
    running = ImageCluster(root)
    try:
        running.start()
        yield running
    finally:
        running.stop()
