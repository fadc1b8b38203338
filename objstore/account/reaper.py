"""The account reaper: a deleted account's containers and objects removed.

    objstore-account-reaper CONF [--once] [--devices LIST]

CONF is the account server's config file; the options are its
``[account-reaper]`` section, the node's address, port and devices its
``[app:account-server]``.

A reseller admin's DELETE of an account only marks its database deleted
(``AccountBroker.is_status_deleted``); the containers stay listed in it.
Each pass walks the account databases on the node's devices and works on
those that are deleted, older than ``delay_reaping`` (a grace period for
a mistaken DELETE), and whose partition has this device as its *first*
primary, so that one replica's node does the work, not all three. For
each container the local database lists, page by page:

1. the container's objects are listed from the first container replica
   that answers (which also says the container's storage policy, so the
   objects are found on that policy's ring);
2. each object gets, on every primary of its ring, the DELETE a proxy
   would send: ``X-Timestamp`` now, the policy, and the container replica
   to update (spread over the replicas as the proxy does), so a tombstone
   lands on every disk and the row leaves every listing. An object is
   deleted once a majority answered 2xx or 404 (the object replicator
   carries the tombstone to a replica that was down);
3. once every object is deleted, the container gets a DELETE on each of
   its replicas, with ``X-Account-Override-Deleted: yes`` so that each
   reports to its account replica (deleted, so refusing other reports)
   that the container is gone. It is deleted once a majority answered
   2xx or 404.

Anything not deleted is tried again on the next pass: the account stays
deleted, and listed containers keep it from being reclaimed (the account
replicator removes a deleted database only once it has no containers,
``DatabaseBroker.is_deleted``). An account still not emptied
``reap_warn_after`` seconds past its ``delay_reaping`` is logged as a
warning on every pass.

Recon (``account.recon``, entry ``account-reaper``): ``accounts``
(deleted accounts worked on), ``accounts_delayed`` (deleted, still within
``delay_reaping``), ``accounts_emptied`` (no container left after the
pass), ``containers_deleted``, ``containers_remaining``,
``objects_deleted``, ``objects_remaining``, ``container_failures`` and
``object_failures`` (requests to a replica that failed), ``errors``
(databases that could not be read, listings no replica answered).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Final

from objstore.account.broker import AccountBroker
from objstore.common.config import ConfigError, option
from objstore.common.db import DatabaseError
from objstore.common.db_walk import DatabaseFile, walk_databases
from objstore.common.http_client import BackendError, request
from objstore.common.named_nodes import node_headers
from objstore.common.policies import StoragePolicy
from objstore.common.server import install_cluster
from objstore.common.timestamp import Timestamp
from objstore.daemons.base import Daemon, DaemonConfig, LocalDevice, load_ring
from objstore.daemons.local_devices import Address, is_local, my_addresses
from objstore.daemons.runner import counts_text, daemon_main
from objstore.obj.direct_delete import delete_everywhere
from ring.ring import Ring

CONTAINER_PAGE: Final = 1000
OBJECT_PAGE: Final = 1000
# 404: nothing (left) there; a tombstone was written all the same for an object
GONE: Final = 404


@dataclasses.dataclass(frozen=True)
class AccountReaperConfig(DaemonConfig):
    bind_port: int = option(6202, "the node's port, to find its devices in the ring "
                                  "(default: the server's)", minimum=1, maximum=65535)
    interval: float = option(3600.0, "seconds from the start of one pass to the start of the "
                                     "next", minimum=0)
    concurrency: int = option(8, "objects deleted at once (threads); devices are worked "
                                 "one after another", minimum=1, maximum=1024)
    delay_reaping: float = option(0.0, "seconds a deleted account is left alone before its "
                                       "data is deleted (time to undo a mistaken DELETE)",
                                  minimum=0)
    reap_warn_after: float = option(2592000.0, "seconds past delay_reaping after which an "
                                               "account not yet emptied is logged as a "
                                               "warning on every pass (30 days)", minimum=0)
    conn_timeout: float = option(0.5, "seconds to connect to a container or object server",
                                 minimum=0.01)
    node_timeout: float = option(10.0, "seconds a container or object server may take to "
                                       "answer", minimum=0.01)


def reaping_state(deleted_at: float, now: float, delay_reaping: float,
                  reap_warn_after: float) -> str:
    """What a deleted account is due: ``"wait"`` (within ``delay_reaping``),
    ``"reap"``, or ``"reap_late"`` (reap, and warn that it is overdue)."""
    age = now - deleted_at
    if age <= delay_reaping:
        return "wait"
    return "reap_late" if age > delay_reaping + reap_warn_after else "reap"


def first_primary_here(ring: Ring, partition: int, device: str, addresses: set[Address],
                       port: int) -> bool:
    """Whether the first primary of ``partition`` is ``device`` of this node."""
    if partition >= ring.partition_count:
        return False
    primaries = ring.get_part_nodes(partition)
    return bool(primaries) and primaries[0].device == device and \
        is_local(primaries[0], addresses, port)


class AccountReaper(Daemon):
    """Empties deleted accounts: their objects, then their containers."""

    name = "account-reaper"
    server_type = "account"
    server_section = "app:account-server"
    config_schema = AccountReaperConfig
    counters = ("accounts", "accounts_delayed", "accounts_emptied", "containers_deleted",
                "containers_remaining", "objects_deleted", "objects_remaining",
                "container_failures", "object_failures", "errors")

    def __init__(self, conf: AccountReaperConfig, logger: logging.Logger,
                 stop: threading.Event | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(conf, logger, stop)
        cluster = install_cluster(conf.cluster_conf, logger)  # the secret places everything
        self.policies: dict[int, StoragePolicy] = {p.index: p for p in cluster.policies}
        self.account_ring = load_ring(conf.ring_dir, "account")
        self.container_ring = load_ring(conf.ring_dir, "container")
        self.object_rings: dict[int, Ring] = {}
        self.clock = clock
        self.addresses = my_addresses(conf.bind_ip)
        self._pool: ThreadPoolExecutor | None = None

    # -- a pass -------------------------------------------------------------------------

    def run_once(self, devices: Sequence[LocalDevice]) -> None:
        """Devices one after another; ``concurrency`` objects at once."""
        self.addresses = my_addresses(self.conf.bind_ip)
        with ThreadPoolExecutor(max_workers=self.conf.concurrency,
                                thread_name_prefix=self.name) as pool:
            self._pool = pool
            try:
                for device in devices:
                    if self.stopping:
                        return
                    self._process(device)
            finally:
                self._pool = None

    def process_device(self, device: LocalDevice) -> None:
        for found in walk_databases(device.path, "accounts", self._cannot_list):
            if self.stopping:
                return
            if first_primary_here(self.account_ring, found.partition, device.name,
                                  self.addresses, self.conf.bind_port):
                self.visit(found)
                self.report_progress(counts_text)

    def _cannot_list(self, path: str, err: OSError) -> None:
        self.stats.add("errors")
        self.logger.error("cannot list %s: %s", path, err.strerror or err)

    def visit(self, found: DatabaseFile) -> None:
        """One account database: reaped if it is deleted and due."""
        broker = AccountBroker(found.path)
        try:
            info = broker.get_info()
            if not info["delete_timestamp"] > info["put_timestamp"]:
                return  # a live account
            deleted_at = info["delete_timestamp"]
            state = reaping_state(float(deleted_at), self.clock(), self.conf.delay_reaping,
                                  self.conf.reap_warn_after)
            if state == "wait":
                self.stats.add("accounts_delayed")
                return
            account = str(info["account"])
            if not account:
                raise DatabaseError("the database names no account")
            self.stats.add("accounts")
            emptied = self.reap_account(broker, account)
            if not emptied and state == "reap_late" and not self.stopping:
                self.logger.warning("account %s, deleted at %s, is not emptied yet (see the "
                                    "failures logged above)", account, deleted_at.isoformat)
        except (DatabaseError, OSError) as err:
            # a damaged database is the auditor's; a lock held too long waits a pass
            self.stats.add("errors")
            self.logger.error("cannot reap the account of %s: %s", found.path, err)
        finally:
            broker.close()

    # -- one account ----------------------------------------------------------------------

    def reap_account(self, broker: AccountBroker, account: str) -> bool:
        """Every container the database lists, emptied and deleted; True
        when it lists none afterwards. Logs what was done."""
        before = self.statistics()
        marker = ""
        while not self.stopping:
            page = broker.list_containers(limit=CONTAINER_PAGE, marker=marker)
            for entry in page:
                if self.stopping:
                    break
                self.reap_container(account, entry["name"])
            if len(page) < CONTAINER_PAGE:
                break
            marker = page[-1]["name"]
        # the container servers' reports of the deletes are in the pending file
        emptied = not self.stopping and not broker.list_containers(limit=1)
        if emptied:
            self.stats.add("accounts_emptied")
        done = {name: count - before.get(name, 0) for name, count in self.statistics().items()}
        # an emptied account stays until reclaimed: passes over it are not news
        worked = any(done[name] for name in self.counters if not name.startswith("accounts"))
        level = logging.INFO if worked or not emptied else logging.DEBUG
        self.logger.log(
            level,
            "account %s: %d containers and %d objects deleted, %d containers and %d objects "
            "remaining, %d container and %d object requests failed%s", account,
            done["containers_deleted"], done["objects_deleted"], done["containers_remaining"],
            done["objects_remaining"], done["container_failures"], done["object_failures"],
            "; emptied" if emptied else "")
        return emptied

    def reap_container(self, account: str, container: str) -> None:
        """The container's objects deleted, then the container."""
        part, nodes = self.container_ring.get_nodes(account, container)
        marker, remaining = "", 0
        while not self.stopping:
            listing = self._list_objects(part, nodes, account, container, marker)
            if listing is None:
                self.stats.add("containers_remaining")
                return
            names, policy = listing
            if not names:
                break
            ring = self._object_ring(policy)
            if ring is None:
                self.stats.add("errors")
                self.stats.add("containers_remaining")
                return
            reap = partial(self.reap_object, ring, policy, account, container, part, nodes)
            assert self._pool is not None, "reap_container runs inside run_once"
            remaining += sum(not deleted for deleted in self._pool.map(reap, names))
            if len(names) < OBJECT_PAGE:
                break
            marker = names[-1]
        if self.stopping:
            return
        if remaining:  # its replicas would refuse: not empty
            self.stats.add("containers_remaining")
            return
        deleted = self._delete_container(part, nodes, account, container)
        self.stats.add("containers_deleted" if deleted else "containers_remaining")

    def _list_objects(self, part: int, nodes: Sequence[Any], account: str, container: str,
                      marker: str) -> tuple[list[str], int] | None:
        """A page of object names and the container's policy, from the first
        replica that answers; no names when every replica says 404; None
        when no replica could list it."""
        query = urllib.parse.urlencode({"format": "json", "marker": marker,
                                        "limit": str(OBJECT_PAGE)})
        missing = 0
        for node in nodes:
            try:
                status, headers, body = request(
                    node.ip, node.port, "GET", f"/{node.device}/{part}/{account}/{container}",
                    {}, query=query, connect_timeout=self.conf.conn_timeout,
                    read_timeout=self.conf.node_timeout)
            except (BackendError, ValueError) as err:
                self._container_failed(node, account, container, "listing", str(err))
                continue
            if status == GONE:
                missing += 1
                continue
            if not 200 <= status < 300:
                self._container_failed(node, account, container, "listing", f"status {status}")
                continue
            try:
                policy = int(headers.get("X-Backend-Storage-Policy-Index", "0"))
                entries = json.loads(body) if body else []
                names = [str(entry["name"]) for entry in entries if "name" in entry]
            except (ValueError, TypeError, KeyError) as err:
                self._container_failed(node, account, container, "listing", f"bad body: {err}")
                continue
            return names, policy
        if missing == len(nodes):
            return [], 0
        self.stats.add("errors")
        self.logger.error("no replica could list /%s/%s", account, container)
        return None

    def _container_failed(self, node: Any, account: str, container: str, what: str,
                          why: str) -> None:
        self.stats.add("container_failures")
        self.logger.warning("%s of /%s/%s on %s:%d/%s failed: %s", what, account, container,
                            node.ip, node.port, node.device, why)

    def _delete_container(self, part: int, nodes: Sequence[Any], account: str,
                          container: str) -> bool:
        """DELETE on every replica, each telling one account replica (the
        account is deleted: only an override is taken); True once a
        majority has no container left."""
        account_part, account_nodes = self.account_ring.get_nodes(account)
        headers = {"X-Timestamp": Timestamp.now().internal, "X-Account-Override-Deleted": "yes"}
        done = 0
        for index, node in enumerate(nodes):
            sent = dict(headers)
            if account_nodes:
                told = account_nodes[index % len(account_nodes)]
                sent.update(node_headers("Account", told.ip, told.port, told.device,
                                         account_part))
            try:
                status, _, _ = request(node.ip, node.port, "DELETE",
                                       f"/{node.device}/{part}/{account}/{container}", sent,
                                       connect_timeout=self.conf.conn_timeout,
                                       read_timeout=self.conf.node_timeout)
            except (BackendError, ValueError) as err:
                self._container_failed(node, account, container, "DELETE", str(err))
                continue
            if 200 <= status < 300 or status == GONE:
                done += 1
            else:  # 409: objects still listed there
                self._container_failed(node, account, container, "DELETE", f"status {status}")
        return done > len(nodes) // 2

    # -- one object -----------------------------------------------------------------------

    def reap_object(self, ring: Ring, policy: int, account: str, container: str,
                    container_part: int, container_nodes: Sequence[Any], obj: str) -> bool:
        """The object's DELETE on every primary; True once a majority has a
        tombstone (or nothing) there."""
        if self.stopping:
            return False
        part, nodes = ring.get_nodes(account, container, obj)
        headers = {"X-Timestamp": Timestamp.now().internal,
                   "X-Backend-Storage-Policy-Index": str(policy)}
        done = 0
        for node, status, why in delete_everywhere(
                nodes, part, f"/{account}/{container}/{obj}", headers, container_nodes,
                container_part, connect_timeout=self.conf.conn_timeout,
                read_timeout=self.conf.node_timeout):
            if status is not None and (200 <= status < 300 or status == GONE):
                done += 1
            else:  # 409: a write newer than this delete; 507: the device is gone
                self._object_failed(node, account, container, obj, why)
        deleted = done > len(nodes) // 2
        self.stats.add("objects_deleted" if deleted else "objects_remaining")
        return deleted

    def _object_failed(self, node: Any, account: str, container: str, obj: str,
                       why: str) -> None:
        self.stats.add("object_failures")
        self.logger.warning("DELETE of /%s/%s/%s on %s:%d/%s failed: %s", account, container,
                            obj, node.ip, node.port, node.device, why)

    def _object_ring(self, index: int) -> Ring | None:
        """The ring of policy ``index``; None (logged) when the cluster has no
        such policy or its ring cannot be read."""
        ring = self.object_rings.get(index)
        if ring is not None:
            return ring
        policy = self.policies.get(index)
        if policy is None:
            self.logger.error("no storage policy %d in %s", index, self.conf.cluster_conf)
            return None
        try:
            ring = self.object_rings[index] = load_ring(self.conf.ring_dir, policy.ring_name)
        except ConfigError as err:
            self.logger.error("%s", err)
            return None
        return ring


def main() -> None:
    daemon_main(AccountReaper)
