"""Container updates: telling the container listing about a PUT or DELETE.

The proxy names, in each object request, the container replica this
object server must tell (``X-Container-Host: ip:port``,
``X-Container-Device``, ``X-Container-Partition``; comma-separated lists
when there are several). After the object is durable the server sends
the container server

    PUT|DELETE /<device>/<partition>/<account>/<container>/<object>

with ``X-Timestamp``, ``X-Size``, ``X-Content-Type`` and ``X-Etag``. An
update that fails or times out must not be lost, since the client has
been told the object is stored: it becomes an *async pending*, a msgpack
record written durably (temp file, fsync, rename, fsync of the
directory) to

    <device>/async_pending[-N]/<suffix>/<object hash>-<timestamp>

that the object updater (issue #5) retries until the listing has it.
Record fields: ``version`` (1), ``op`` (PUT or DELETE), ``account``,
``container``, ``obj``, ``headers`` (the update's headers),
``container_path`` (None, kept for redirected updates later).
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from typing import Any

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type hints

from objstore.common.http_client import BackendError, ConnectionPool, request
from objstore.common.named_nodes import NamedNode, named_nodes
from objstore.common.timestamp import Timestamp

ASYNC_VERSION = 1
OVERRIDE = "X-Object-Sysmeta-Container-Update-Override-"


def container_nodes(headers: Mapping[str, str]) -> list[NamedNode]:
    """The container replicas an object request names (none if malformed)."""
    try:
        return named_nodes(headers, "Container")
    except ValueError:
        return []


def update_headers(op: str, timestamp: Timestamp, metadata: Mapping[str, Any],
                   policy_index: int, trans_id: str | None) -> dict[str, str]:
    headers = {"X-Timestamp": timestamp.internal,
               "X-Backend-Storage-Policy-Index": str(policy_index)}
    if trans_id:
        headers["X-Trans-Id"] = trans_id
    if op == "PUT":
        # A filter may have the listing show other than the stored bytes (an
        # SLO manifest shows its whole object's size): sysmeta the PUT stored.
        # The size shown goes in the row's content type (swift_bytes, which
        # listings show as the size, as Swift keeps it); the row's size, which
        # the container's and account's totals and quotas add up, stays the
        # bytes stored here: segments and versions count where they live.
        content_type = str(metadata.get("Content-Type", ""))
        shown = metadata.get(OVERRIDE + "Size")
        if shown is not None:
            content_type = with_swift_bytes(content_type, int(shown))
        etag = metadata.get(OVERRIDE + "Etag", metadata["ETag"])
        headers.update({"X-Size": str(metadata["Content-Length"]),
                        "X-Content-Type": content_type, "X-Etag": str(etag)})
    return headers


def with_swift_bytes(content_type: str, size: int) -> str:
    """``content_type`` with ``swift_bytes`` (any there replaced) ``size``."""
    kept = [part for part in content_type.split(";")
            if part.strip().partition("=")[0].strip().lower() != "swift_bytes"]
    return ";".join([*kept, f"swift_bytes={size}"])


def send_update(node: NamedNode, op: str, account: str, container: str, obj: str,
                headers: Mapping[str, str], *, connect_timeout: float,
                read_timeout: float, pool: ConnectionPool | None = None) -> bool:
    """True when the container server took the update (2xx)."""
    path = f"/{node.device}/{node.partition}/{account}/{container}/{obj}"
    try:
        status, _, _ = request(node.host, node.port, op, path, dict(headers),
                               connect_timeout=connect_timeout, read_timeout=read_timeout,
                               pool=pool)
    except (BackendError, ValueError):
        return False
    return 200 <= status < 300


def async_dir(policy_index: int) -> str:
    return "async_pending" if policy_index == 0 else f"async_pending-{policy_index}"


def write_async_pending(device_path: str, policy_index: int, name_hash: str,
                        timestamp: Timestamp, op: str, account: str, container: str,
                        obj: str, headers: Mapping[str, str]) -> str:
    """Durably record an update to retry; returns the record's path."""
    record = msgpack.packb({"version": ASYNC_VERSION, "op": op, "account": account,
                            "container": container, "obj": obj, "headers": dict(headers),
                            "container_path": None}, use_bin_type=True)
    directory = os.path.join(device_path, async_dir(policy_index), name_hash[-3:])
    created = not os.path.isdir(directory)
    os.makedirs(directory, exist_ok=True)
    tmp_dir = os.path.join(device_path, "tmp")
    os.makedirs(tmp_dir, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=tmp_dir, prefix=".async-")
    try:
        os.write(fd, record)
        os.fsync(fd)
    finally:
        os.close(fd)
    path = os.path.join(directory, f"{name_hash}-{timestamp.internal}")
    os.replace(temp, path)
    for synced in ([directory, os.path.dirname(directory), device_path] if created
                   else [directory]):
        dir_fd = os.open(synced, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path


def read_async_pending(path: str) -> dict[str, Any]:
    with open(path, "rb") as handle:
        record = msgpack.unpackb(handle.read(), raw=False)
    if not isinstance(record, dict) or record.get("version") != ASYNC_VERSION:
        raise ValueError(f"{path} is not an async pending record")
    return record
