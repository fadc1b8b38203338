"""The test cluster with the large-object filters where Swift has them
(``... tempauth copy slo dlo proxy-server``), and a client for raw requests."""
from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from pathlib import Path

from .cluster import Cluster, raw, token


class LargeObjectCluster(Cluster):
    def _proxy_conf(self) -> Path:
        conf = super()._proxy_conf()
        text = conf.read_text()
        if "[filter:slo]" not in text:
            text = text.replace(" proxy-server\n", " slo dlo proxy-server\n", 1) \
                + "[filter:slo]\n[filter:dlo]\n"
            conf.write_text(text)
        return conf


def large_object_cluster(root: Path) -> Iterator[LargeObjectCluster]:
    running = LargeObjectCluster(root)
    try:
        running.start()
        yield running
    finally:
        running.stop()


class Client:
    """Raw requests as test:tester, paths relative to its account (quoted here)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        auth, url = token(cluster)
        self.headers = {"X-Auth-Token": auth}
        self.root = "/" + url.split("/", 3)[3]

    def __call__(self, method: str, path: str, body: bytes = b"", query: str = "",
                 **headers: str) -> tuple[int, dict[str, str], bytes]:
        quoted = urllib.parse.quote(f"{self.root}/{path}".rstrip("/"))
        return raw(self.cluster, method, quoted + (f"?{query}" if query else ""), body,
                   {**self.headers, **{k.replace("_", "-"): v for k, v in headers.items()}})
