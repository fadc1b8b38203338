"""The expiring-object queue: where an object with ``X-Delete-At`` is noted.

The queue lives in the cluster itself, as rows of containers in the
hidden account ``.expiring_objects`` (the container servers make it and
its containers on first use: ``auto_create_account_prefix``):

    container  <delete_at rounded down to CONTAINER_DIVISOR>
    object     <delete_at>-<account>/<container>/<object>

so a day's deletions share a container, and the expirer lists past
containers in time order. The proxy names the queue container's replicas
in each object request (``X-Delete-At-Host``, ``-Device``, ``-Partition``,
``-Container``); the object server adds the row once the object is
durable, and removes the row of an X-Delete-At that a write replaced.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping

from objstore.common.named_nodes import NamedNode, named_nodes
from objstore.common.timestamp import Timestamp

QUEUE_ACCOUNT = ".expiring_objects"
# A day per queue container (Swift's expiring_objects_container_divisor).
CONTAINER_DIVISOR = 86400
EMPTY_ETAG = "d41d8cd98f00b204e9800998ecf8427e"
# The expirer sends this as "false": it removes the queue row itself.
CLEAN_QUEUE = "X-Backend-Clean-Expiring-Object-Queue"


def queue_container(delete_at: int, divisor: int = CONTAINER_DIVISOR) -> str:
    return str(delete_at // divisor * divisor)


def queue_object(delete_at: int, account: str, container: str, obj: str) -> str:
    return f"{delete_at}-{account}/{container}/{obj}"


def parse_queue_object(name: str) -> tuple[int, str, str, str]:
    """(delete_at, account, container, object) of a queue row's name;
    ValueError when it is not one."""
    stamp, dash, path = name.partition("-")
    parts = path.split("/", 2)
    if not dash or not stamp.isdigit() or len(parts) != 3 or not all(parts):
        raise ValueError(f"{name[:80]!r} is not <delete_at>-<account>/<container>/<object>")
    return int(stamp), parts[0], parts[1], parts[2]


def is_mine(row: str, processes: int, process: int) -> bool:
    """Whether expirer ``process`` of ``processes`` handles this row: every
    row has exactly one owner, so several expirers never do the same work."""
    if processes <= 1:
        return True
    digest = hashlib.md5(row.encode("utf-8"), usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "big") % processes == process


def queue_nodes(headers: Mapping[str, str]) -> tuple[str, list[NamedNode]]:
    """The queue container and its replica an object request names (none
    when absent or malformed: the row is then not written)."""
    container = headers.get("X-Delete-At-Container", "").strip()
    try:
        nodes = named_nodes(headers, "Delete-At")
    except ValueError:
        return container, []
    return container, nodes if container.isdigit() else []


def row_headers(timestamp: Timestamp, trans_id: str | None) -> dict[str, str]:
    """A queue row's update: an empty text object in policy 0."""
    headers = {"X-Timestamp": timestamp.internal, "X-Size": "0",
               "X-Content-Type": "text/plain", "X-Etag": EMPTY_ETAG,
               "X-Backend-Storage-Policy-Index": "0"}
    if trans_id:
        headers["X-Trans-Id"] = trans_id
    return headers


__all__ = ["CLEAN_QUEUE", "CONTAINER_DIVISOR", "QUEUE_ACCOUNT", "is_mine",
           "parse_queue_object", "queue_container", "queue_nodes", "queue_object",
           "row_headers"]
