"""The database replicator: every account or container database on every
primary, its rows alike, and nowhere else.

    objstore-container-replicator CONF [--once] [--devices LIST]
    objstore-account-replicator CONF [--once] [--devices LIST]

One class, ``DatabaseReplicator``; the container and account replicators
say only which databases (``db_dir``, ``broker_class``) and which ring.
Each pass visits every database on the node's local devices,
``<device>/<db_dir>/<partition>/<suffix>/<hash>/<hash>.db``,
``workers_per_device`` at a time, and for each:

1. drops deleted rows and metadata older than ``reclaim_age``; a database
   itself deleted longer ago than that is removed (``removed``);
2. asks each other primary (every primary, for a database on a handoff
   device) for its replication info and the last of this replica's rows it
   has merged, its *sync point* (``REPLICATE`` op ``sync``, see
   ``db_peers``); then, per peer:

   * it has no such database: the whole file goes (``pushed_db``; the
     receiver, ``db_transfer``, checks and installs it durably);
   * its PUT or DELETE timestamp is older, or it lacks metadata: those
     are merged there (op ``merge_info``);
   * the hash of its rows equals ours (``hashmatch``): nothing to send;
     its sync point is moved to our last row so later passes skip the rows;
   * its sync point is at our last row (``no_change``): it has all our
     rows (and some of its own, which its replicator will send us);
   * it is far behind (more than ``per_diff * max_diffs`` rows to send and
     fewer than half as many rows as we have): the whole file goes and is
     merged there (``pushed_db`` and ``remote_merge``);
   * else the rows changed since its sync point go, ``per_diff`` a
     request, at most ``max_diffs`` requests a pass (``diff``,
     ``rows_pushed``; ``diff_capped`` when more are left for the next
     pass), each merge moving its sync point; once all are there, our
     sync points for third replicas go too (op ``merge_syncs``): the peer
     now has every row we had from them;

3. a database on a handoff device is removed once every primary has all
   of it (``handoffs_removed``).

Invariants:

- Rows merge last-writer-wins (``db``), so sending a row twice, or an old
  row, never undoes a newer one; timestamps and metadata merge newest-wins
  too. Nothing here deletes a row a peer has not merged.
- A handoff database goes only after every primary answered that it holds
  all of it, and only if nothing changed in it since (its last row and
  hash are read again just before); a primary that cannot be reached keeps
  it for another pass.
- No pass hangs on a peer: requests are bounded by ``conn_timeout`` and
  ``node_timeout``; a server that did not answer is skipped for the rest
  of the pass, a device that answered 507 too.
- A database SQLite finds corrupt is moved to
  ``<device>/quarantined/<db_dir>/<hash>`` (``quarantined``); the other
  replicas' replicators then push a good copy back.

What a pass did goes to the recon cache (``container.recon`` or
``account.recon``, key ``container-replicator`` / ``account-replicator``):
the counts above, ``dbs`` (databases looked at), ``failures`` (requests
to peers that failed) and ``errors`` (local trouble); the runner adds
the pass's start, end and duration.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, ClassVar

from objstore.common.config import ConfigError, option
from objstore.common.db import DatabaseBroker, DatabaseCorrupt, DatabaseError
from objstore.common.db_peers import HttpTransport, Peer, PeerError, ReplicationClient, Transport
from objstore.common.db_transfer import remove_file, remove_stale_snapshots, snapshot
from objstore.common.db_walk import DatabaseFile, quarantine_database, walk_databases
from objstore.common.timestamp import Timestamp
from objstore.daemons.base import Daemon, DaemonConfig, LocalDevice
from objstore.daemons.local_devices import is_local, my_addresses
from objstore.daemons.runner import counts_text
from ring.ring import Ring


@dataclasses.dataclass(frozen=True)
class DatabaseReplicatorConfig(DaemonConfig):
    per_diff: int = option(1000, "rows sent per request", minimum=1, maximum=100_000)
    max_diffs: int = option(100, "requests of rows one database sends a peer in a pass; a "
                                 "peer further behind than per_diff * max_diffs rows gets "
                                 "the whole database", minimum=1)
    conn_timeout: float = option(0.5, "seconds to connect to a peer", minimum=0.01)
    node_timeout: float = option(10.0, "seconds a peer may stay silent before it is skipped "
                                       "for the rest of the pass", minimum=0.01)
    workers_per_device: int = option(4, "databases of one device replicated at once",
                                     minimum=1, maximum=64)


@dataclasses.dataclass(frozen=True)
class Job:
    """One database on one local device."""

    device: LocalDevice
    db: DatabaseFile
    peers: tuple[Peer, ...]  # the other primaries; every primary for a handoff
    handoff: bool

    @property
    def partition(self) -> int:
        return self.db.partition

    @property
    def name_hash(self) -> str:
        return self.db.name_hash

    @property
    def path(self) -> str:
        return self.db.path

    @property
    def hash_dir(self) -> str:
        return self.db.hash_dir


class _PassState:
    """Peers found unusable during a pass, shared by its threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.down_servers: set[tuple[str, int]] = set()
        self.gone_devices: set[Peer] = set()

    def skip(self, peer: Peer) -> bool:
        with self.lock:
            return peer.server in self.down_servers or peer in self.gone_devices

    def failed(self, error: PeerError) -> bool:
        """Note the peer's failure; True when it is now skipped."""
        with self.lock:
            if error.server_down:
                self.down_servers.add(error.peer.server)
            elif error.device_gone:
                self.gone_devices.add(error.peer)
            else:
                return False
        return True


class _Snapshot:
    """A database's consistent copy, made when a first peer needs it and
    shared by the others of the pass; ``max_row``: its last row id."""

    def __init__(self, db_path: str, directory: str, row_table: str) -> None:
        self.db_path = db_path
        self.directory = directory
        self.row_table = row_table
        self.path: str | None = None
        self.max_row = -1

    def get(self) -> str:
        if self.path is None:
            self.path, self.max_row = snapshot(self.db_path, self.directory, self.row_table)
        return self.path

    def remove(self) -> None:
        if self.path is not None:
            remove_file(self.path)
            self.path = None


class DatabaseReplicator(Daemon):
    """Keeps every replica of each database alike; see the module doc."""

    config_schema = DatabaseReplicatorConfig
    counters = ("dbs", "hashmatch", "no_change", "diff", "rows_pushed", "diff_capped",
                "pushed_db", "remote_merge", "handoffs_removed", "removed", "quarantined",
                "failures", "errors")
    broker_class: ClassVar[type[DatabaseBroker]] = DatabaseBroker
    db_dir: ClassVar[str] = ""  # "containers" or "accounts"

    def __init__(self, conf: DatabaseReplicatorConfig, logger: logging.Logger,
                 stop: threading.Event | None = None,
                 transport: Transport | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(conf, logger, stop)
        ring_path = os.path.join(conf.ring_dir, f"{self.server_type}.ring.gz")
        try:
            self.ring = Ring(ring_path)  # reloads itself when the file changes
        except Exception as err:  # missing, damaged, or not a ring: all mean the same
            raise ConfigError(f"ring {ring_path} cannot be read: {err}") from None
        self.client = ReplicationClient(transport or HttpTransport(conf.conn_timeout,
                                                                   conf.node_timeout))
        self.clock = clock
        self.addresses = my_addresses(conf.bind_ip)
        self.current = _PassState()

    # -- a pass ---------------------------------------------------------------------------

    def begin_pass(self) -> None:
        super().begin_pass()
        self.current = _PassState()

    def run_once(self, devices: Sequence[LocalDevice]) -> None:
        self.addresses = my_addresses(self.conf.bind_ip)
        super().run_once(devices)

    def process_device(self, device: LocalDevice) -> None:
        remove_stale_snapshots(self._tmp_dir(device))
        workers = self.conf.workers_per_device
        with ThreadPoolExecutor(max_workers=workers,
                                thread_name_prefix=f"{self.name}-{device.name}") as pool:
            running: set[Future[None]] = set()
            for job in self.jobs(device):
                if self.stopping:
                    break
                if len(running) >= 2 * workers:  # bounded: the walk waits for the work
                    _, running = wait(running, return_when=FIRST_COMPLETED)
                running.add(pool.submit(self._run_job, job))

    def jobs(self, device: LocalDevice) -> Iterator[Job]:
        """A job per database on the device, in partition order."""
        mine = {dev.id for dev in self.ring.devs
                if dev is not None and dev.device == device.name
                and is_local(dev, self.addresses, self.conf.bind_port)}
        placed: dict[int, tuple[tuple[Peer, ...], bool] | None] = {}
        for found in walk_databases(device.path, self.db_dir, self._cannot_list):
            if found.partition not in placed:
                placed.clear()  # partitions come in order: one at a time is enough
                placed[found.partition] = self._placement(device, found.partition, mine)
            where = placed[found.partition]
            if where is not None:
                yield Job(device, found, *where)

    def _placement(self, device: LocalDevice, partition: int,
                   mine: set[int]) -> tuple[tuple[Peer, ...], bool] | None:
        """(peers, handoff) of the device's databases in ``partition``."""
        if partition >= self.ring.partition_count:
            self.stats.add("errors")
            self.logger.error("%s/%s/%d: no such partition in the %s ring (left alone)",
                              device.name, self.db_dir, partition, self.server_type)
            return None
        primaries = self.ring.get_part_nodes(partition)
        return (tuple(Peer.of(dev) for dev in primaries if dev.id not in mine),
                not any(dev.id in mine for dev in primaries))

    def _cannot_list(self, path: str, err: OSError) -> None:
        self.stats.add("errors")
        self.logger.error("cannot list %s: %s", path, err.strerror or err)

    def _run_job(self, job: Job) -> None:
        if self.stopping:
            return
        try:
            self.replicate(job)
        except DatabaseCorrupt as err:
            self._quarantine(job, err)
        except (OSError, DatabaseError) as err:  # local trouble: this database only
            self.stats.add("errors")
            self.logger.error("%s: %s", job.path, err)
        except Exception:
            self.stats.add("errors")
            self.logger.exception("replicating %s failed", job.path)
        self.report_progress(counts_text)

    # -- one database -----------------------------------------------------------------------

    def replicate(self, job: Job) -> None:
        broker = self.broker_class(job.path)
        copy = _Snapshot(job.path, self._tmp_dir(job.device), self.broker_class.ROW_TABLE)
        try:
            self.stats.add("dbs")
            cutoff = Timestamp(self.clock() - self.conf.reclaim_age)
            broker.reclaim(cutoff)
            if broker.is_deleted() and broker.get_info()["delete_timestamp"] < cutoff:
                self._remove(job, "removed")
                return
            info = broker.get_replication_info()
            everywhere = bool(job.peers)
            for peer in job.peers:
                if self.stopping or self.current.skip(peer):
                    everywhere = False
                    continue
                try:
                    everywhere &= self.replicate_to(peer, job, broker, info, copy)
                except PeerError as err:
                    everywhere = False
                    self._peer_failed(err)
            if job.handoff and everywhere and not self.stopping:
                self._remove_handoff(job, broker, info)
        finally:
            broker.close()
            copy.remove()

    def replicate_to(self, peer: Peer, job: Job, broker: DatabaseBroker,
                     info: Mapping[str, Any], copy: _Snapshot) -> bool:
        """Bring ``peer`` up to date with this replica; True when it has
        every row of it now (see the module doc for the cases)."""
        theirs = self.client.sync(peer, job.partition, job.name_hash, info["id"])
        if theirs is None:
            self.push_db(peer, job, broker, copy)
            return True
        changes = newer_info(info, theirs)
        if changes:
            self.client.merge_info(peer, job.partition, job.name_hash, changes)
        point, last = int(theirs["sync_point"]), int(info["max_row"])
        if theirs["hash"] == info["hash"]:
            self.stats.add("hashmatch")
            if point < last:
                self.client.merge_syncs(peer, job.partition, job.name_hash,
                                        [{"remote_id": info["id"], "sync_point": last}])
            return True
        if point >= last:
            self.stats.add("no_change")
            return True
        if last - point > self.conf.per_diff * self.conf.max_diffs \
                and 2 * int(theirs["row_count"]) < int(info["row_count"]):
            self.push_db(peer, job, broker, copy)
            self.stats.add("remote_merge")
            return True
        return self.push_rows(peer, job, broker, info, point, str(theirs["id"]))

    def push_db(self, peer: Peer, job: Job, broker: DatabaseBroker, copy: _Snapshot) -> None:
        new_id = self.client.push_db(peer, job.partition, job.name_hash, copy.get())
        self.stats.add("pushed_db")
        if new_id is not None and copy.max_row >= 0:
            # The new replica's rows up to there are the copy's: ours, with
            # our row ids. Its replicator need not send them back.
            broker.merge_syncs([{"remote_id": new_id, "sync_point": copy.max_row}])

    def push_rows(self, peer: Peer, job: Job, broker: DatabaseBroker, info: Mapping[str, Any],
                  point: int, peer_id: str) -> bool:
        """The rows after ``point``, then our sync points; True when every
        row went."""
        # Read before the rows: a third replica's rows merged here after
        # this moment are not covered by these points, whether sent or not.
        points = [p for p in broker.get_syncs(incoming=True) if p["remote_id"] != peer_id]
        self.stats.add("diff")
        for _ in range(self.conf.max_diffs):
            items = broker.get_items_since(point, self.conf.per_diff)
            if not items:
                break
            self.client.merge_items(peer, job.partition, job.name_hash, items, info["id"])
            self.stats.add("rows_pushed", len(items))
            point = int(items[-1]["row_id"])
            if len(items) < self.conf.per_diff:
                break
        else:
            if broker.get_items_since(point, 1):
                self.stats.add("diff_capped")
                return False
        if points:
            self.client.merge_syncs(peer, job.partition, job.name_hash, points)
        return True

    # -- removing a database ----------------------------------------------------------------

    def _remove_handoff(self, job: Job, broker: DatabaseBroker,
                        pushed: Mapping[str, Any]) -> None:
        now = broker.get_replication_info()  # merges the pending file too
        if any(now[key] != pushed[key] for key in ("max_row", "hash", "put_timestamp",
                                                   "delete_timestamp", "metadata")):
            return  # written meanwhile: the next pass moves that too
        broker.close()
        self._remove(job, "handoffs_removed")

    def _remove(self, job: Job, counter: str) -> None:
        """Take the database's directory away at once (a rename), then
        delete it, and the suffix and partition directories left empty."""
        gone = os.path.join(self._tmp_dir(job.device), f"removed-{uuid.uuid4().hex}")
        os.makedirs(os.path.dirname(gone), exist_ok=True)
        os.rename(job.hash_dir, gone)
        shutil.rmtree(gone, ignore_errors=True)
        suffix_dir = os.path.dirname(job.hash_dir)
        for directory in (suffix_dir, os.path.dirname(suffix_dir)):
            try:
                os.rmdir(directory)
            except OSError:
                break
        self.stats.add(counter)

    def _quarantine(self, job: Job, err: DatabaseError) -> None:
        try:
            target = quarantine_database(job.device.path, self.db_dir, job.db)
        except OSError as move_err:
            self.stats.add("errors")
            self.logger.error("%s is corrupt (%s) and cannot be moved aside: %s", job.path,
                              err, move_err)
            return
        self.stats.add("quarantined")
        self.logger.warning("%s quarantined to %s: %s", job.path, target, err)

    @staticmethod
    def _tmp_dir(device: LocalDevice) -> str:
        return os.path.join(device.path, "tmp")

    def _peer_failed(self, err: PeerError) -> None:
        self.stats.add("failures")
        skipped = self.current.failed(err)
        self.logger.warning("%s%s", err, "; skipped for the rest of the pass" if skipped else "")


def newer_info(mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> dict[str, Any]:
    """What of our timestamps and metadata is newer than the peer's."""
    changes: dict[str, Any] = {}
    for key in ("put_timestamp", "delete_timestamp"):
        if str(mine[key]) > str(theirs.get(key) or ""):
            changes[key] = mine[key]
    held = theirs.get("metadata") or {}
    metadata = {name: value for name, value in (mine.get("metadata") or {}).items()
                if name not in held or str(value[1]) > str(held[name][1])}
    if metadata:
        changes["metadata"] = metadata
    return changes
