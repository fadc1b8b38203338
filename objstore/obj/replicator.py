"""The object replicator: every object on every primary, and nowhere else.

    objstore-object-replicator CONF [--once] [--devices LIST]

Each pass looks at every partition directory of every replication policy
on the node's local devices:

* **A primary partition** (the ring places one of its replicas on this
  device): its suffix hashes (``hashes.get_hashes``) are compared with each
  other primary's (``REPLICATE``). For every suffix whose hash differs, the
  objects in it are offered to the peer and the files it lacks, or holds
  older, are pushed (``sync_sender``; the protocol is ``sync_protocol``).
  The peer is then asked to recompute those suffixes. Suffixes the peer
  has and this device lacks are the peer's to push.
* **A handoff partition** (no replica of it belongs here: a write landed
  here while a primary was down, or a rebalance moved it): every object is
  offered to every primary and pushed where lacking. A file is removed
  here only once *every* primary has confirmed holding it or something
  newer, and only the very files that were offered (a write that arrived
  meanwhile stays for the next pass); the partition directory goes when
  nothing is left in it.

Invariants:

* Nothing is removed that a primary has not confirmed; a peer that cannot
  be reached confirms nothing. Peers store every file durably before they
  answer (``sync_receiver``).
* Newest wins everywhere (``layout`` rules): a tombstone newer than a
  ``.data`` is pushed over it, never the other way round, so a delete made
  while a replica was down stays a delete.
* No pass hangs on a peer: every request is bounded by ``conn_timeout`` and
  ``node_timeout``, and a peer that failed is skipped for the rest of the
  pass (its whole server when it could not be reached, its device on 507).
* Rot is never replicated: bytes are read through DiskFile's verified read
  and peers check each body against its ETag.

Tombstones older than ``reclaim_age`` go when their suffix is rehashed
(``layout`` says they are obsolete). A pass rehashes every suffix, not only
those marked dirty, when it is the process's first or ``rehash_interval``
has passed since the last such pass; handoff partitions are always rehashed
whole.

What a pass did goes to the recon cache (``object.recon``, key
``object-replicator``): counts ``partitions`` (primary partitions compared),
``handoff_partitions`` (handoff partitions worked on), ``handoffs_removed``,
``suffixes_out_of_sync``, ``files_pushed``, ``bytes_pushed``, ``failures``
(requests to peers that failed, files a peer refused) and ``errors`` (local
trouble); and a ``backlog`` record of how far behind replication is:
``handoff_partitions`` still to move at the end of the pass, and
``oldest_missing_age``, the age in seconds of the oldest change the pass
found missing from a primary (best effort: a change on a peer that could
not be reached is not seen).
"""
from __future__ import annotations

import dataclasses
import logging
import os
import random
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from objstore.common import paths
from objstore.common.config import option
from objstore.common.policies import StoragePolicy, load_cluster_config
from objstore.common.timestamp import Timestamp
from objstore.daemons.base import Daemon, DaemonConfig, LocalDevice
from objstore.daemons.local_devices import is_local, my_addresses
from objstore.daemons.recon import ReconCache
from objstore.daemons.runner import counts_text, daemon_main
from objstore.obj import hashes
from objstore.obj.diskfile import DiskFileManager
from objstore.obj.exceptions import DiskFileError
from objstore.obj.sync_protocol import CONFIRMED, STORED, State
from objstore.obj.sync_sender import (
    HttpTransport, LocalPartition, Peer, PeerError, PushResult, SyncClient, Transport,
)
from ring.ring import Ring

OFFER_BATCH: Final = 10_000            # objects per offer
PUSH_BATCH_FILES: Final = 1_000        # files per push request
PUSH_BATCH_BYTES: Final = 256 * 1024 * 1024  # body bytes per push request (about)


@dataclasses.dataclass(frozen=True)
class ObjectReplicatorConfig(DaemonConfig):
    conn_timeout: float = option(0.5, "seconds to connect to a peer", minimum=0.01)
    node_timeout: float = option(
        20.0, "seconds a peer may stay silent (answering, or taking a push) before it is "
              "skipped for the rest of the pass", minimum=0.01)
    workers_per_device: int = option(2, "partitions of one device replicated at once",
                                     minimum=1, maximum=64)
    handoffs_first: bool = option(
        False, "replicate every handoff partition of a device before its primary "
               "partitions: drains a filling disk first")
    rehash_interval: float = option(
        3600.0, "seconds between passes that recompute every suffix hash, not only dirty "
                "ones (how tombstones past reclaim_age are found); a process's first pass "
                "always does", minimum=0)


@dataclasses.dataclass(frozen=True)
class Job:
    """One partition directory of one policy on one local device."""

    policy: int
    local: LocalPartition
    peers: tuple[Peer, ...]       # the other primaries; all primaries for a handoff
    handoff: bool


class _PassState:
    """What a pass learns beside its counts, shared by its threads."""

    def __init__(self, full_rehash: bool) -> None:
        self.full_rehash = full_rehash
        self.lock = threading.Lock()
        self.down_servers: set[tuple[str, int]] = set()
        self.gone_devices: set[Peer] = set()
        self.handoffs_left = 0
        self.oldest_missing: Timestamp | None = None

    def skip(self, peer: Peer) -> bool:
        with self.lock:
            return peer.server in self.down_servers or peer in self.gone_devices

    def failed(self, error: PeerError) -> None:
        with self.lock:
            if error.server_down:
                self.down_servers.add(error.peer.server)
            elif error.device_gone:
                self.gone_devices.add(error.peer)

    def missing(self, stamp: Timestamp | None) -> None:
        if stamp is None:
            return
        with self.lock:
            if self.oldest_missing is None or stamp < self.oldest_missing:
                self.oldest_missing = stamp

    def handoff_left(self) -> None:
        with self.lock:
            self.handoffs_left += 1


class ObjectReplicator(Daemon):
    """Makes every primary hold every object, and moves handoffs home."""

    name = "object-replicator"
    server_type = "object"
    server_section = "app:object-server"
    config_schema = ObjectReplicatorConfig
    counters = ("partitions", "handoff_partitions", "handoffs_removed", "suffixes_out_of_sync",
                "files_pushed", "bytes_pushed", "failures", "errors")

    def __init__(self, conf: ObjectReplicatorConfig, logger: logging.Logger,
                 stop: threading.Event | None = None, transport: Transport | None = None
                 ) -> None:
        super().__init__(conf, logger, stop)
        cluster, _ = load_cluster_config(conf.cluster_conf)  # ConfigError: exit 2
        self.policies: list[StoragePolicy] = [
            policy for policy in cluster.policies if policy.policy_type == "replication"]
        self.manager = DiskFileManager(conf.devices, mount_check=conf.mount_check,
                                       reclaim_age=conf.reclaim_age)
        self.client = SyncClient(transport or HttpTransport(conf.conn_timeout,
                                                            conf.node_timeout))
        self.rings: dict[str, Ring] = {}
        self.last_full_rehash: float | None = None
        self.current = _PassState(full_rehash=True)
        self.addresses = my_addresses(conf.bind_ip)

    def ring_names(self) -> list[str]:
        return [policy.ring_name for policy in self.policies]

    def ring(self, policy: StoragePolicy) -> Ring:
        ring = self.rings.get(policy.ring_name)
        if ring is None:  # reloads itself when the file changes
            path = os.path.join(self.conf.ring_dir, f"{policy.ring_name}.ring.gz")
            ring = self.rings[policy.ring_name] = Ring(path)
        return ring

    # -- a pass -----------------------------------------------------------------------

    def begin_pass(self) -> None:
        super().begin_pass()
        now = time.monotonic()
        full = self.last_full_rehash is None or \
            now - self.last_full_rehash >= self.conf.rehash_interval
        if full:
            self.last_full_rehash = now
        self.current = _PassState(full)

    def run_once(self, devices: Sequence[LocalDevice]) -> None:
        self.addresses = my_addresses(self.conf.bind_ip)
        super().run_once(devices)
        self._record_backlog()

    def backlog(self) -> dict[str, Any]:
        """How far behind replication is, as the pass so far saw it."""
        oldest = self.current.oldest_missing
        age = max(0.0, time.time() - float(oldest)) if oldest is not None else 0.0
        return {"handoff_partitions": self.current.handoffs_left,
                "oldest_missing_age": round(age, 3), "measured": time.time()}

    def _record_backlog(self) -> None:
        backlog = self.backlog()
        self.logger.info("%s backlog: %d handoff partitions to move, oldest missing change "
                         "%.0f s old", self.recon_key, backlog["handoff_partitions"],
                         backlog["oldest_missing_age"])

        def change(entry: dict[str, Any]) -> dict[str, Any]:
            entry["backlog"] = backlog
            return entry
        try:
            ReconCache(self.conf.recon_cache_path, self.server_type).update(self.recon_key,
                                                                            change)
        except OSError as err:  # a full disk must not stop replication
            self.logger.error("cannot write the recon cache: %s", err)

    def process_device(self, device: LocalDevice) -> None:
        jobs = list(self.jobs(device))
        # Every node walking its partitions in the same order would have all
        # of them ask the same server about the same partition at once.
        random.shuffle(jobs)
        if self.conf.handoffs_first:
            jobs.sort(key=lambda job: not job.handoff)  # stable: handoffs, then the rest
        with ThreadPoolExecutor(max_workers=self.conf.workers_per_device,
                                thread_name_prefix=f"{self.name}-{device.name}") as pool:
            for _ in pool.map(self._run_job, jobs):
                pass

    def jobs(self, device: LocalDevice) -> Iterator[Job]:
        """A job per partition directory of the device, in partition order."""
        for policy in self.policies:
            ring = self.ring(policy)
            mine = {dev.id for dev in ring.devs
                    if dev is not None and dev.device == device.name
                    and is_local(dev, self.addresses, self.conf.bind_port)}
            root = os.path.join(device.path, policy.data_dir)
            try:
                names = os.listdir(root)
            except FileNotFoundError:
                continue
            numbers = sorted(number for name in names
                             if (number := paths.valid_partition(name)) is not None)
            for partition in numbers:
                if partition >= ring.partition_count:
                    self.stats.add("errors")
                    self.logger.error("%s/%s/%d: no such partition in ring %s (left alone)",
                                      device.name, policy.data_dir, partition, policy.ring_name)
                    continue
                primaries = ring.get_part_nodes(partition)
                handoff = not any(dev.id in mine for dev in primaries)
                peers = tuple(Peer.of(dev) for dev in primaries if dev.id not in mine)
                local = LocalPartition(self.manager, device.name, device.path, policy.index,
                                       partition)
                yield Job(policy.index, local, peers, handoff)

    def _run_job(self, job: Job) -> None:
        if self.stopping:
            return
        try:
            if job.handoff:
                self.replicate_handoff(job)
            else:
                self.replicate_primary(job)
        except (OSError, DiskFileError) as err:  # local trouble: this partition only
            self.stats.add("errors")
            self.logger.error("%s: %s", job.local.path, err)
        except Exception:
            self.stats.add("errors")
            self.logger.exception("replicating %s failed", job.local.path)
        self.report_progress(counts_text)

    # -- a primary partition --------------------------------------------------------------

    def replicate_primary(self, job: Job) -> None:
        recalculate = job.local.suffixes() if self.current.full_rehash else ()
        mine = hashes.get_hashes(job.local.path, self.conf.reclaim_age, recalculate)
        self.stats.add("partitions")
        for peer in job.peers:
            if self.stopping:
                return
            if self.current.skip(peer):
                continue
            try:
                theirs = self.suffix_hashes(peer, job)
                differing = sorted(suffix for suffix, digest in mine.items()
                                   if theirs.get(suffix) != digest)
                if not differing:
                    continue
                self.stats.add("suffixes_out_of_sync", len(differing))
                self.sync_objects(peer, job, job.local.objects(differing))
                self.suffix_hashes(peer, job, differing)
            except PeerError as err:
                self._peer_failed(err)

    # -- a handoff partition --------------------------------------------------------------

    def replicate_handoff(self, job: Job) -> None:
        self.stats.add("handoff_partitions")
        suffixes = job.local.suffixes()
        hashes.get_hashes(job.local.path, self.conf.reclaim_age, suffixes)  # reclaims, tidies
        objects = job.local.objects(suffixes)
        everywhere = set(objects)  # confirmed by every primary so far
        for peer in job.peers:
            if self.stopping:
                everywhere.clear()
                break
            if self.current.skip(peer):
                everywhere.clear()
                continue
            try:
                confirmed, touched = self.sync_objects(peer, job, objects)
                if touched:
                    self.suffix_hashes(peer, job, touched)
            except PeerError as err:
                self._peer_failed(err)
                confirmed = set()
            everywhere &= confirmed
        if not job.peers:
            everywhere.clear()  # a ring with no primary for it: keep everything
        self._remove_moved(job, {h: objects[h] for h in everywhere})
        if os.path.isdir(job.local.path):
            self.current.handoff_left()
            for name_hash, state in objects.items():
                if name_hash not in everywhere:
                    self.current.missing(state.winner)
        else:
            self.stats.add("handoffs_removed")

    def _remove_moved(self, job: Job, moved: dict[str, State]) -> None:
        """Remove the files every primary confirmed, then whatever directory
        that leaves empty. Files written meanwhile keep their directories."""
        suffixes = set()
        for name_hash, state in moved.items():
            hash_dir = job.local.hash_dir(name_hash)
            for name in state.file_names():
                try:
                    os.unlink(os.path.join(hash_dir, name))
                except FileNotFoundError:
                    pass
            _rmdir(hash_dir)
            suffixes.add(name_hash[-3:])
        for suffix in suffixes:
            if not _rmdir(os.path.join(job.local.path, suffix)):
                hashes.invalidate(job.local.path, suffix)
        if not job.local.suffixes():
            for name in (hashes.CACHE, hashes.INVALID):
                try:
                    os.unlink(os.path.join(job.local.path, name))
                except FileNotFoundError:
                    pass
            _rmdir(job.local.path)

    # -- offers and pushes ---------------------------------------------------------------

    def suffix_hashes(self, peer: Peer, job: Job, recalculate: Sequence[str] = ()
                      ) -> dict[str, str]:
        """The peer's suffix hashes; asked again once, a moment later, after
        a 5xx other than 507 (REPLICATE only reads and rehashes: a second
        try is harmless, and a server busy with the same partition for
        another replicator may answer it)."""
        try:
            return self.client.suffix_hashes(peer, job.policy, job.local.partition, recalculate)
        except PeerError as err:
            if err.status is None or err.status < 500 or err.device_gone:
                raise
            self.logger.info("%s; asking again", err)
        self.stop.wait(random.uniform(0.05, 0.25))
        return self.client.suffix_hashes(peer, job.policy, job.local.partition, recalculate)

    def sync_objects(self, peer: Peer, job: Job, objects: dict[str, State]
                     ) -> tuple[set[str], list[str]]:
        """Offer ``objects`` to the peer and push what it lacks. Returns the
        hashes the peer now holds (or holds newer) and the suffixes pushed to."""
        confirmed: set[str] = set()
        touched: set[str] = set()
        listed = list(objects.items())
        for start in range(0, len(listed), OFFER_BATCH):
            batch = dict(listed[start:start + OFFER_BATCH])
            wants = self.client.offer(peer, job.policy, job.local.partition, batch)
            confirmed.update(name_hash for name_hash in batch if name_hash not in wants)
            for name_hash, kinds in wants.items():
                stamps = [s for kind in kinds if (s := batch[name_hash].stamp(kind)) is not None]
                self.current.missing(min(stamps, default=None))
                touched.add(name_hash[-3:])
            items = [(name_hash, batch[name_hash], kinds) for name_hash, kinds in wants.items()]
            for chunk in _push_batches(job.local, items):
                confirmed.update(self._push(peer, job, chunk))
        return confirmed, sorted(touched)

    def _push(self, peer: Peer, job: Job, items: list[tuple[str, State, list[str]]]
              ) -> set[str]:
        """Push one batch; the hashes whose every file the peer now holds."""
        results = self.client.push(peer, job.local, items)
        by_file = {(r.name_hash, r.kind, r.timestamp): r for r in results}
        confirmed = set()
        for name_hash, state, kinds in items:
            verdicts = [by_file.get((name_hash, kind, stamp.internal)) for kind in kinds
                        if (stamp := state.stamp(kind)) is not None]
            for verdict in verdicts:
                if verdict is not None:
                    self._count(peer, verdict)
            if all(v is not None and v.status in CONFIRMED for v in verdicts):
                confirmed.add(name_hash)
        return confirmed

    def _count(self, peer: Peer, verdict: PushResult) -> None:
        if verdict.status == STORED:
            self.stats.add("files_pushed")
            self.stats.add("bytes_pushed", verdict.size)
        elif verdict.status not in CONFIRMED:
            self.stats.add("failures")
            self.logger.warning("%s refused %s %s of %s: %d %s", peer, verdict.kind,
                                verdict.timestamp, verdict.name_hash, verdict.status,
                                verdict.reason)

    def _peer_failed(self, err: PeerError) -> None:
        self.stats.add("failures")
        self.current.failed(err)
        self.logger.warning("%s%s", err, "; skipped for the rest of the pass"
                            if err.server_down or err.device_gone else "")


def _push_batches(local: LocalPartition, items: list[tuple[str, State, list[str]]]
                  ) -> Iterator[list[tuple[str, State, list[str]]]]:
    """Items in pushes of at most PUSH_BATCH_FILES files and about
    PUSH_BATCH_BYTES: a push that fails part way confirms nothing, so a
    long one risks a lot of work."""
    batch: list[tuple[str, State, list[str]]] = []
    files = size = 0
    for item in items:
        if batch and (files + len(item[2]) > PUSH_BATCH_FILES or size >= PUSH_BATCH_BYTES):
            yield batch
            batch, files, size = [], 0, 0
        batch.append(item)
        files += len(item[2])
        if "data" in item[2]:
            size += local.data_size(item[0], item[1])
    if batch:
        yield batch


def _rmdir(path: str) -> bool:
    """Remove an empty directory; False when it is not empty (or not there)."""
    try:
        os.rmdir(path)
    except OSError:
        return False
    return True


def main() -> None:
    daemon_main(ObjectReplicator)
