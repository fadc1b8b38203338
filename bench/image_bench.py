"""The image service's speed and memory: upload and download of big images.

    python3 bench/image_bench.py [--size 1G] [--small-size 256M] [--aio-dir DIR]

For each of two sizes (``--small-size``, then ``--size``) it creates a raw
image, uploads its data as the glance CLI does (``PUT /file`` chunked in
1 MiB chunks, no Content-Length, ``x-openstack-image-size``), downloads it
(1 MiB reads), checks the service's checksum and the bytes counted, and
deletes it. It prints MB/s (10^6 bytes a second) for each direction and
the image server's memory: VmRSS before the upload and VmHWM (peak RSS)
after the download, of the worker that served the requests. Before each
size the peak is reset (``/proc/<pid>/clear_refs``, 5), so each size has
a peak of its own: it must not grow with the image (uploads and
downloads stream). Where the reset is refused the peaks are cumulative,
which the output says.

Without ``--aio-dir`` it starts ``objstore-aio start --detach
--no-daemons`` in a new directory in /tmp (4 nodes, 3 replicas, the
image server beside the proxy with its defaults: 1 GiB segments), as
bench/clusters.py does for bench/side_by_side.py, and stops it, by PID,
on the way out. With ``--aio-dir`` it uses the objstore-aio cluster
running there (its image-server.conf and run/image-server.pid) and
leaves it running.

The image's bytes are one random 1 MiB block repeated: nothing on the
way compresses or deduplicates, and the client spends its CPU sending,
not generating (its MD5 is computed before the clock starts).
"""
from __future__ import annotations

import argparse
import configparser
import hashlib
import http.client
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from clusters import KEY, USER, ObjstoreCluster, children_of, free_base, say  # noqa: E402

CHUNK = 1 << 20
MIB = 1 << 20
UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
IMAGE_OFFSET = 1212   # objstore-aio's image server: the proxy's port + 1212
TIMEOUT = 600.0


def size_of(text: str) -> int:
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = text[-1:] if text[-1:] in UNITS else ""
    try:
        value = int(float(text[:len(text) - len(unit)]) * UNITS[unit])
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (64M, 1G, ...)") from None
    if value < CHUNK:
        raise argparse.ArgumentTypeError("a size of at least 1M")
    return value


# -- the image server's memory -------------------------------------------------------

def status_kib(pid: int, field: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def reset_peak(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def serving_pid(server_pid: int) -> int:
    """The worker that serves requests (the server forks one with
    workers = 1), or the server itself when it has none."""
    return next(iter(children_of(server_pid)), server_pid)


# -- HTTP ----------------------------------------------------------------------------

class ImageAPI:
    def __init__(self, image_url: str, token: str) -> None:
        parts = urllib.parse.urlsplit(image_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.token = token

    def _conn(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)

    def call(self, method: str, path: str, document: Any = None) -> tuple[int, bytes]:
        conn = self._conn()
        headers = {"X-Auth-Token": self.token}
        body = None
        if document is not None:
            body = json.dumps(document).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def upload(self, image_id: str, chunks: Iterator[bytes], size: int) -> int:
        conn = self._conn()
        try:
            conn.request("PUT", f"/v2/images/{image_id}/file", body=chunks, headers={
                "X-Auth-Token": self.token, "Content-Type": "application/octet-stream",
                "x-openstack-image-size": str(size)}, encode_chunked=True)
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    def download(self, image_id: str) -> tuple[int, int, str]:
        """(status, bytes received, Content-MD5)."""
        conn = self._conn()
        try:
            conn.request("GET", f"/v2/images/{image_id}/file",
                         headers={"X-Auth-Token": self.token})
            response = conn.getresponse()
            got = 0
            while True:
                data = response.read(CHUNK)
                if not data:
                    break
                got += len(data)
            return response.status, got, response.getheader("Content-MD5") or ""
        finally:
            conn.close()


def get_token(auth_url: str) -> str:
    parts = urllib.parse.urlsplit(auth_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80,
                                      timeout=30)
    try:
        conn.request("GET", parts.path, headers={"X-Auth-User": USER, "X-Auth-Key": KEY})
        response = conn.getresponse()
        response.read()
        token = response.getheader("X-Auth-Token")
    finally:
        conn.close()
    if response.status // 100 != 2 or not token:
        raise RuntimeError(f"no token for {USER} from {auth_url} ({response.status})")
    return token


# -- one size ------------------------------------------------------------------------

def content(size: int) -> tuple[bytes, str]:
    """The repeated block and the whole image's MD5."""
    block = os.urandom(CHUNK)
    md5 = hashlib.md5()
    for chunk in chunks(block, size):
        md5.update(chunk)
    return block, md5.hexdigest()


def chunks(block: bytes, size: int) -> Iterator[bytes]:
    left = size
    while left > 0:
        yield block[:min(left, CHUNK)]
        left -= CHUNK


def measure(api: ImageAPI, server_pid: int | None, size: int) -> dict[str, Any]:
    block, md5 = content(size)
    status, body = api.call("POST", "/v2/images", {
        "name": f"bench-{size}", "disk_format": "raw", "container_format": "bare"})
    if status != 201:
        raise RuntimeError(f"creating the image failed ({status}): {body[:200]!r}")
    image_id = json.loads(body)["id"]
    worker = serving_pid(server_pid) if server_pid else None
    row: dict[str, Any] = {"size": size, "reset": bool(worker and reset_peak(worker))}
    row["rss_before_kib"] = status_kib(worker, "VmRSS") if worker else None
    try:
        started = time.monotonic()
        status = api.upload(image_id, chunks(block, size), size)
        row["upload_s"] = time.monotonic() - started
        if status != 204:
            raise RuntimeError(f"the upload failed ({status})")
        status, body = api.call("GET", f"/v2/images/{image_id}")
        stored = json.loads(body)
        if (stored["status"], stored["size"], stored["checksum"]) != ("active", size, md5):
            raise RuntimeError(f"the image was stored wrong: {stored}")
        started = time.monotonic()
        status, got, content_md5 = api.download(image_id)
        row["download_s"] = time.monotonic() - started
        if (status, got, content_md5) != (200, size, md5):
            raise RuntimeError(f"the download was wrong: {status}, {got} bytes of {size}, "
                               f"Content-MD5 {content_md5} (not {md5})")
        row["peak_kib"] = status_kib(worker, "VmHWM") if worker else None
    finally:
        api.call("DELETE", f"/v2/images/{image_id}")
    return row


# -- the cluster ---------------------------------------------------------------------

def running_aio(directory: Path) -> tuple[str, str, int | None]:
    """(image URL, auth URL, image server pid) of the objstore-aio in ``directory``."""
    conf = configparser.ConfigParser(interpolation=None)
    if not conf.read(directory / "etc" / "image-server.conf"):
        raise SystemExit(f"no objstore-aio cluster in {directory} (etc/image-server.conf)")
    section = conf["app:image-server"]
    image_url = f"http://{section.get('bind_ip', '127.0.0.1')}:{section['bind_port']}"
    auth_url = section.get("proxy_url", "http://127.0.0.1:8080").rstrip("/") + "/auth/v1.0"
    pid_file = directory / "run" / "image-server.pid"
    pid = int(pid_file.read_text().strip()) if pid_file.exists() else None
    return image_url, auth_url, pid


def report(rows: list[dict[str, Any]]) -> None:
    def mib(kib: int | None) -> str:
        return "?" if kib is None else f"{kib / 1024:.0f}"

    print("| image | upload MB/s | download MB/s | image server RSS before (MiB) "
          "| peak RSS (MiB) |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['size'] / MIB:.0f} MiB | {row['size'] / row['upload_s'] / 1e6:.1f} "
              f"| {row['size'] / row['download_s'] / 1e6:.1f} | {mib(row['rss_before_kib'])} "
              f"| {mib(row['peak_kib'])} |")
    if any(not row["reset"] for row in rows):
        print("\n(the peak could not be reset: peaks are since the server started)")
    peaks = [row["peak_kib"] for row in rows if row["peak_kib"] is not None]
    if len(peaks) == 2:
        print(f"\npeak RSS, larger image minus smaller: {(peaks[1] - peaks[0]) / 1024:+.1f} MiB")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=size_of, default=size_of("1G"),
                        help="the larger image (default 1G)")
    parser.add_argument("--small-size", type=size_of, default=None,
                        help="the smaller image (default: a quarter of --size)")
    parser.add_argument("--aio-dir", type=Path, default=None,
                        help="use the objstore-aio cluster running in this directory")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    sizes = [args.small_size or max(args.size // 4, CHUNK), args.size]
    root: Path | None = None
    cluster: ObjstoreCluster | None = None
    try:
        if args.aio_dir:
            image_url, auth_url, pid = running_aio(args.aio_dir)
        else:
            root = Path(tempfile.mkdtemp(prefix="image_bench-", dir="/tmp"))
            port = free_base(20000, [0, *range(1000, 1033), IMAGE_OFFSET], set())
            cluster = ObjstoreCluster(root, port)
            started = cluster.start()
            image_url = f"http://127.0.0.1:{port + IMAGE_OFFSET}"
            auth_url = started.auth_url
            pid = next((pid for kind, pid in started.pids if kind == "image"), None)
        if pid is None:
            say("no image server pid: memory is not measured")
        api = ImageAPI(image_url, get_token(auth_url))
        rows = []
        for size in sizes:
            say(f"{size / MIB:.0f} MiB: upload, download ...")
            rows.append(measure(api, pid, size))
        report(rows)
        return 0
    finally:
        if cluster is not None:
            cluster.stop()
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
