"""The object expirer: objects whose X-Delete-At has passed, deleted for good.

    objstore-object-expirer CONF [--once]

Reads the ``[object-expirer]`` section of an object server's config (node
options from ``[app:object-server]``). GETs hide an expired object at
once; this daemon makes it gone: from every replica's disk (a tombstone)
and from its container's listing.

Each pass lists the queue (``expiring.py``): the containers of account
``.expiring_objects`` whose time has come, then their rows, straight
from the account and container servers found on the rings. For each row
whose ``delete_at`` has passed it sends every replica of the object

    DELETE /<device>/<partition>/<account>/<container>/<object>
    X-If-Delete-At: <delete_at>      X-Timestamp: <delete_at>

(with the container replica to update, as a proxy names it). An object
server deletes only while the object still holds that X-Delete-At (412
otherwise: a later write moved or cleared it), so a stale row deletes
nothing. Once a majority of the replicas answered 2xx, 404, 409 (a newer
write) or 412, the row is removed from the queue; otherwise it is kept
for the next pass. Past queue containers are then deleted (a container
server refuses while rows remain).

Several expirers share the queue without doing the same row twice:
``processes`` = N and ``process`` = 0..N-1 give each the rows whose name
hashes to its number. Recon (``object.recon``, entry ``object-expirer``):
``objects`` (due rows this expirer owned), ``deleted`` (rows done, their
object deleted now), ``stale`` (rows done whose object was gone already
or no longer expired then), ``failures`` (rows left for the next pass),
``errors`` (rows and listings that failed).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from objstore.common.config import option
from objstore.common.http_client import BackendError, request
from objstore.common.named_nodes import NamedNode
from objstore.common.policies import StoragePolicy
from objstore.common.server import install_cluster
from objstore.common.timestamp import Timestamp
from objstore.daemons.base import Daemon, DaemonConfig, LocalDevice, load_ring
from objstore.daemons.runner import daemon_main
from objstore.obj import expiring, updates
from objstore.obj.direct_delete import delete_everywhere
from ring.ring import Ring

# answers that leave nothing to delete on that replica
DONE = (404, 409, 412)
PAGE = 10000


@dataclasses.dataclass(frozen=True)
class ObjectExpirerConfig(DaemonConfig):
    interval: float = option(300.0, "seconds from the start of one pass to the start of the "
                                    "next", minimum=0)
    processes: int = option(0, "expirers sharing the queue (0 or 1: this one does it all)",
                            minimum=0, maximum=1024)
    process: int = option(0, "which of the processes this one is, 0 to processes - 1",
                          minimum=0, maximum=1023)
    concurrency: int = option(1, "queue rows worked on at once (threads)", minimum=1,
                              maximum=1024)
    conn_timeout: float = option(0.5, "seconds to connect to a storage server", minimum=0.01)
    node_timeout: float = option(10.0, "seconds a storage server may take to answer",
                                 minimum=0.01)

    def __post_init__(self) -> None:
        if self.processes > 1 and self.process >= self.processes:
            raise ValueError(f"process {self.process} must be below processes "
                             f"({self.processes})")


class ObjectExpirer(Daemon):
    """Deletes expired objects and their queue rows."""

    name = "object-expirer"
    server_type = "object"
    server_section = "app:object-server"
    config_schema = ObjectExpirerConfig
    counters = ("objects", "deleted", "stale", "failures", "errors")
    uses_local_devices = False  # the queue is in the cluster: any host may run it

    def __init__(self, conf: ObjectExpirerConfig, logger: logging.Logger,
                 stop: threading.Event | None = None) -> None:
        super().__init__(conf, logger, stop)
        cluster = install_cluster(conf.cluster_conf, logger)  # the secret places everything
        self.policies: list[StoragePolicy] = list(cluster.policies)
        self.account_ring = load_ring(conf.ring_dir, "account")
        self.container_ring = load_ring(conf.ring_dir, "container")
        self.object_rings: dict[int, Ring] = {}

    def run_once(self, devices: Sequence[LocalDevice]) -> None:
        """One pass over the whole queue (not per device)."""
        now = time.time()
        with ThreadPoolExecutor(max_workers=self.conf.concurrency,
                                thread_name_prefix=self.name) as pool:
            for container in self._due_containers(now):
                if self.stopping:
                    return
                due, rows_left = self._due_rows(container, now)
                outcomes = list(pool.map(partial(self._handle, container), due))
                if all(outcomes) and not rows_left:
                    self._delete_container(container)

    def _due_rows(self, container: str, now: float
                  ) -> tuple[list[tuple[str, int, str, str, str]], bool]:
        """This expirer's due rows of a queue container, parsed; and whether
        rows that are not yet due remain."""
        due, rows_left = [], False
        for row in self._rows(container):
            try:
                delete_at, account, obj_container, obj = expiring.parse_queue_object(row)
            except ValueError:
                self.logger.warning("ignoring queue row %r of %s", row, container)
                continue
            if delete_at > now:
                rows_left = True
            elif expiring.is_mine(row, self.conf.processes, self.conf.process):
                due.append((row, delete_at, account, obj_container, obj))
        return due, rows_left

    def _handle(self, container: str, parsed: tuple[str, int, str, str, str]) -> bool:
        """One due row: the object expired, then the row removed."""
        row, delete_at, account, obj_container, obj = parsed
        if self.stopping:
            return False
        self.stats.add("objects")
        try:
            outcome = self.expire(delete_at, account, obj_container, obj)
            if outcome is not None and not self._remove_row(container, row):
                outcome = None
        except Exception:  # one row's trouble must not end the pass
            self.logger.exception("expiring queue row %r failed", row)
            self.stats.add("errors")
            outcome = None
        self.stats.add(outcome or "failures")
        return outcome is not None

    # -- the queue ---------------------------------------------------------------

    def _due_containers(self, now: float) -> list[str]:
        names = [entry["name"] for entry in self._listing(self.account_ring,
                                                           expiring.QUEUE_ACCOUNT, None)]
        due = [name for name in names if name.isdigit() and int(name) <= now]
        return sorted(due, key=int)

    def _rows(self, container: str) -> list[str]:
        return [entry["name"] for entry in self._listing(self.container_ring,
                                                          expiring.QUEUE_ACCOUNT, container)]

    def _listing(self, ring: Ring, account: str, container: str | None
                 ) -> Iterator[dict[str, Any]]:
        """A whole listing, page by page, from the first replica that answers
        (none when every replica says 404)."""
        part, nodes = ring.get_nodes(account, container) if container else \
            ring.get_nodes(account)
        path_tail = f"{account}/{container}" if container else account
        marker = ""
        while True:
            query = urllib.parse.urlencode({"format": "json", "marker": marker,
                                            "limit": str(PAGE)})
            page = self._first_answer(nodes, f"/{{}}/{part}/{path_tail}", query)
            if not page:
                return
            yield from page
            if len(page) < PAGE:
                return
            marker = page[-1]["name"]

    def _first_answer(self, nodes: list[Any], path: str, query: str) -> list[dict[str, Any]]:
        missing = 0
        for node in nodes:
            try:
                status, _, body = request(node.ip, node.port, "GET", path.format(node.device),
                                          {}, connect_timeout=self.conf.conn_timeout,
                                          read_timeout=self.conf.node_timeout, query=query)
            except (BackendError, ValueError) as err:
                self.logger.debug("listing %s from %s:%d failed: %s", path, node.ip,
                                  node.port, err)
                continue
            if status == 404:
                missing += 1
                continue
            if 200 <= status < 300:
                if status == 204 or not body:
                    return []
                try:
                    page = json.loads(body)
                except ValueError:
                    continue
                return [entry for entry in page if isinstance(entry, dict) and "name" in entry]
        if missing < len(nodes):
            self.stats.add("errors")
            self.logger.error("no replica could list %s", path.format("<device>"))
        return []

    def _remove_row(self, container: str, row: str) -> bool:
        part, nodes = self.container_ring.get_nodes(expiring.QUEUE_ACCOUNT, container)
        headers = expiring.row_headers(Timestamp.now(), None)
        taken = sum(updates.send_update(NamedNode(node.ip, node.port, node.device, str(part)),
                                        "DELETE", expiring.QUEUE_ACCOUNT, container, row,
                                        headers, connect_timeout=self.conf.conn_timeout,
                                        read_timeout=self.conf.node_timeout)
                    for node in nodes)
        return taken > len(nodes) // 2

    def _delete_container(self, container: str) -> None:
        """A past queue container, once empty (its servers refuse otherwise)."""
        part, nodes = self.container_ring.get_nodes(expiring.QUEUE_ACCOUNT, container)
        headers = {"X-Timestamp": Timestamp.now().internal}
        for node in nodes:
            try:
                request(node.ip, node.port, "DELETE",
                        f"/{node.device}/{part}/{expiring.QUEUE_ACCOUNT}/{container}", headers,
                        connect_timeout=self.conf.conn_timeout,
                        read_timeout=self.conf.node_timeout)
            except (BackendError, ValueError):
                pass  # tried again next pass

    # -- one object --------------------------------------------------------------

    def expire(self, delete_at: int, account: str, container: str, obj: str) -> str | None:
        """Delete the object on its replicas if it still expires at
        ``delete_at``. Once a majority has nothing left to delete:
        "deleted" when some replica deleted it now, "stale" when none had
        it to delete (gone already, or a later write moved or cleared its
        expiry). None when the row must wait for another pass."""
        try:
            policy = self._policy_of(account, container)
        except LookupError as err:
            self.logger.warning("cannot expire /%s/%s/%s: %s", account, container, obj, err)
            return None
        if policy is None:
            return "stale"  # the container is gone, so is every object of it
        ring = self._object_ring(policy)
        if ring is None:
            self.logger.error("no ring for policy %d of /%s/%s", policy, account, container)
            return None
        part, nodes = ring.get_nodes(account, container, obj)
        container_part, container_nodes = self.container_ring.get_nodes(account, container)
        headers = {"X-Timestamp": Timestamp(delete_at).internal,
                   "X-If-Delete-At": str(delete_at),
                   "X-Backend-Storage-Policy-Index": str(policy),
                   expiring.CLEAN_QUEUE: "false"}
        done = deleted = 0
        for node, status, why in delete_everywhere(
                nodes, part, f"/{account}/{container}/{obj}", headers, container_nodes,
                container_part, connect_timeout=self.conf.conn_timeout,
                read_timeout=self.conf.node_timeout):
            if status is None:
                self.logger.warning("expiring /%s/%s/%s on %s:%d failed: %s", account,
                                    container, obj, node.ip, node.port, why)
            elif 200 <= status < 300 or status in DONE:
                done += 1
                deleted += 200 <= status < 300
        if done <= len(nodes) // 2:
            return None
        return "deleted" if deleted else "stale"

    def _policy_of(self, account: str, container: str) -> int | None:
        """The container's storage policy from its servers; None when every
        replica says it does not exist; LookupError when none answered."""
        part, nodes = self.container_ring.get_nodes(account, container)
        missing = 0
        for node in nodes:
            try:
                status, headers, _ = request(node.ip, node.port, "HEAD",
                                             f"/{node.device}/{part}/{account}/{container}",
                                             {}, connect_timeout=self.conf.conn_timeout,
                                             read_timeout=self.conf.node_timeout)
            except (BackendError, ValueError):
                continue
            if status == 404:
                missing += 1
            elif 200 <= status < 300:
                try:
                    return int(headers.get("X-Backend-Storage-Policy-Index", "0"))
                except ValueError:
                    return 0
        if missing == len(nodes):
            return None
        raise LookupError(f"no replica of /{account}/{container} answered")

    def _object_ring(self, index: int) -> Ring | None:
        ring = self.object_rings.get(index)
        if ring is None:
            policy = next((p for p in self.policies if p.index == index), None)
            if policy is None:
                return None
            ring = self.object_rings[index] = load_ring(self.conf.ring_dir, policy.ring_name)
        return ring


def main() -> None:
    daemon_main(ObjectExpirer)
