"""The object auditor: finds rot at rest before a client or a replica does.

    objstore-object-auditor CONF [--once] [--devices LIST] [--zero-byte-fps N]

Each pass walks every object hash directory of every storage policy on
the node's local devices and checks the winning ``.data`` (tombstones
and empty directories have nothing to check):

* its metadata, and any ``.meta``'s over it, can be read (``DiskFile.open``);
* the file is as long as the metadata says: the object's bytes, then the
  chunk checksum table (``integrity``), whose own crc32 matches the one
  kept in the metadata;
* full pass only: every 64 KiB chunk matches its crc32 and the MD5 of the
  whole body is the stored ETag.

An object that fails goes to quarantine through ``DiskFile.quarantine``:
its hash directory moves to ``<device>/quarantined/objects[-N]/`` and its
suffix is marked dirty, so the replicator puts a good copy back. What
happened is in the log (one line per object quarantined or unreadable)
and in the recon cache (``object.recon``: ``files``, ``bytes``,
``quarantined``, ``errors`` per pass).

Never harming a good object: a file is judged only by what was read
from it through one open file descriptor, and only when that file is
still the one the directory holds (a newer PUT that replaced it while it
was read is left alone; it gets its own turn). A file that cannot be
read at all (an I/O error) is counted as an error and left in place,
since that may be the disk's passing trouble, not the object's; the walk
goes on with the next object.

Pacing (per device, as Swift's per worker): a full pass checks at most
``files_per_second`` objects and reads at most ``bytes_per_second``
bytes; the zero-byte fast pass (``--zero-byte-fps N``, and beside every
full pass when the auditor runs without ``--once`` and
``zero_byte_files_per_second`` > 0) reads only metadata, and the body
of empty objects, at N objects a second: a crash that left files cut
short or metadata torn is found in minutes, not in the days a full
pass over a large disk takes.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

from objstore.common import paths
from objstore.common.config import ConfigError, option
from objstore.common.crc import crc32
from objstore.common.metadata import MetadataError, read_metadata_and_end
from objstore.common.policies import StoragePolicy, load_cluster_config
from objstore.daemons.base import Daemon, DaemonConfig, LocalDevice
from objstore.daemons.ratelimit import RateLimiter
from objstore.daemons.runner import counts_text, daemon_main
from objstore.obj.diskfile import (
    DISK_CHUNK_SIZE, KEEP_CACHE_SIZE, TABLE_CRC_KEY, DiskFile, DiskFileManager, ObjectInfo,
)
from objstore.obj.exceptions import (
    DiskFileDeviceUnavailable, DiskFileError, DiskFileNotFound, DiskFileQuarantined,
)
from objstore.obj.integrity import CHUNK, ChunkMismatch, parse_table, table_length, \
    verified_spans


@dataclasses.dataclass(frozen=True)
class ObjectAuditorConfig(DaemonConfig):
    files_per_second: float = option(
        20.0, "objects a full pass checks per second, per device (0: no limit)", minimum=0)
    bytes_per_second: float = option(
        10_000_000.0, "bytes a full pass reads per second, per device (0: no limit)", minimum=0)
    zero_byte_files_per_second: float = option(
        50.0, "objects the zero-byte fast pass checks per second, per device; 0 runs no fast "
              "pass beside the full one", minimum=0)
    disk_chunk_size: int = option(DISK_CHUNK_SIZE, "bytes read from disk at a time",
                                  minimum=CHUNK)


class ObjectAuditor(Daemon):
    """Checks every object on this node's devices and quarantines what is bad."""

    name = "object-auditor"
    server_type = "object"
    server_section = "app:object-server"
    config_schema = ObjectAuditorConfig
    counters = ("files", "bytes", "quarantined", "errors")

    def __init__(self, conf: ObjectAuditorConfig, logger: logging.Logger,
                 stop: threading.Event | None = None,
                 zero_byte_fps: float | None = None) -> None:
        super().__init__(conf, logger, stop)
        self.zero_byte_fps = zero_byte_fps  # set: the fast pass, at this many objects/s
        cluster, _ = load_cluster_config(conf.cluster_conf)  # ConfigError: exit 2
        self.policies: list[StoragePolicy] = list(cluster.policies)
        self.manager = DiskFileManager(conf.devices, mount_check=conf.mount_check,
                                       reclaim_age=conf.reclaim_age,
                                       disk_chunk_size=conf.disk_chunk_size)

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--zero-byte-fps", metavar="N", type=float, default=None,
                            help="run the zero-byte fast pass (metadata, lengths and empty "
                                 "objects only) at N objects a second, instead of a full pass")

    @classmethod
    def from_args(cls, conf: Any, logger: logging.Logger, stop: threading.Event,
                  args: argparse.Namespace) -> Daemon:
        fps = getattr(args, "zero_byte_fps", None)
        if fps is not None and fps <= 0:
            raise ConfigError(f"--zero-byte-fps {fps:g}: must be more than 0")
        return cls(conf, logger, stop, zero_byte_fps=fps)

    @property
    def zero_byte_only(self) -> bool:
        return self.zero_byte_fps is not None

    @property
    def recon_key(self) -> str:
        return "object-auditor-zero-byte" if self.zero_byte_only else "object-auditor"

    def ring_names(self) -> list[str]:
        return [policy.ring_name for policy in self.policies]

    def companions(self) -> list[Daemon]:
        rate = self.conf.zero_byte_files_per_second
        if self.zero_byte_only or rate <= 0:
            return []
        return [ObjectAuditor(self.conf, self.logger, self.stop, zero_byte_fps=rate)]

    # -- one device ------------------------------------------------------------------

    def process_device(self, device: LocalDevice) -> None:
        wait = self.stop.wait  # sleeps that end at once on a stop
        files = RateLimiter(self.conf.files_per_second if self.zero_byte_fps is None
                            else self.zero_byte_fps, sleep=wait)
        data = RateLimiter(0 if self.zero_byte_only else self.conf.bytes_per_second, sleep=wait)
        for policy in self.policies:
            for partition, name_hash in self._hash_dirs(device, policy):
                if self.stopping:
                    return
                try:
                    checked = self.audit_object(device, policy.index, partition, name_hash, data)
                except DiskFileDeviceUnavailable as err:
                    self.stats.add("devices_unavailable")
                    self.logger.error("stopping on %s: %s", device.name, err)
                    return
                if checked:
                    files.consume(1)
                self.report_progress(counts_text)

    def _hash_dirs(self, device: LocalDevice, policy: StoragePolicy) -> Iterator[tuple[int, str]]:
        """(partition, hash) of every hash directory of the policy on the
        device. Directories vanish under a walk (replication, rehashing):
        that is normal; any other trouble listing one is an error."""
        root = os.path.join(device.path, policy.data_dir)
        for partition_name in self.listdir(root):
            partition = paths.valid_partition(partition_name)
            if partition is None:
                continue
            partition_dir = os.path.join(root, partition_name)
            for suffix in self.listdir(partition_dir):
                if len(suffix) != 3:
                    continue
                for name_hash in self.listdir(os.path.join(partition_dir, suffix)):
                    if paths.valid_hash(name_hash) and name_hash.endswith(suffix):
                        yield partition, name_hash

    # -- one object ----------------------------------------------------------------------

    def audit_object(self, device: LocalDevice, policy_index: int, partition: int,
                     name_hash: str, data_limit: RateLimiter | None = None) -> bool:
        """Check one object; True when it had a ``.data`` to check."""
        diskfile = self.manager.get_by_hash(device.name, partition, name_hash, policy_index)
        where = f"{device.name}/{partition}"
        try:
            info = diskfile.open()  # quarantines unreadable metadata and wrong lengths
            if self.zero_byte_only and info.content_length > 0:
                self.stats.add("files")
                return True
            problem = self._check_file(info, data_limit or RateLimiter(0))
        except DiskFileNotFound:
            return False  # a tombstone, nothing left, or replaced by a newer write just now
        except DiskFileQuarantined as err:
            self._quarantined(where, err)
            return True
        except DiskFileDeviceUnavailable:
            raise
        except (OSError, DiskFileError) as err:
            # The disk's trouble, maybe passing: counted and logged, never
            # a reason to quarantine.
            self.stats.add("errors")
            self.logger.error("cannot audit %s/%s (left in place): %s", where, name_hash, err)
            return True
        self.stats.add("files")
        if problem is not None:
            self._quarantine(diskfile, info, where, problem)
        return True

    def _check_file(self, info: ObjectInfo, data_limit: RateLimiter) -> str | None:
        """What is wrong with the object's ``.data``, or None. Everything is
        read through one descriptor, so one file (inode) is judged whole."""
        try:
            fd = os.open(info.data_path, os.O_RDONLY)
        except FileNotFoundError:
            raise DiskFileNotFound(info.data_path) from None
        big = info.content_length > KEEP_CACHE_SIZE
        try:
            if big:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
            return self._check_open_file(fd, data_limit)
        finally:
            if big:  # as the servers do: large bodies read once leave the page cache
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)

    def _check_open_file(self, fd: int, data_limit: RateLimiter) -> str | None:
        try:
            metadata, end = read_metadata_and_end(fd)
        except MetadataError as err:
            return f"unreadable metadata: {err}"
        try:
            size = int(metadata["Content-Length"])
            etag = str(metadata["ETag"]).strip('"').lower()
        except (KeyError, TypeError, ValueError):
            return "metadata lacks a valid Content-Length or ETag"
        if size < 0 or end != size + table_length(size):
            return f"data file holds {end} bytes before its metadata, metadata says {size}"
        raw_table = os.pread(fd, table_length(size), size)
        stored_crc = metadata.get(TABLE_CRC_KEY)
        if stored_crc is not None and crc32(raw_table) != int(stored_crc):
            return "the chunk checksum table fails its crc32"
        md5 = hashlib.md5(usedforsecurity=False)
        try:
            for piece in verified_spans(lambda offset, length: os.pread(fd, length, offset),
                                        parse_table(raw_table), size, 0, size,
                                        self.conf.disk_chunk_size):
                md5.update(piece)
                self.stats.add("bytes", len(piece))
                data_limit.consume(len(piece))
                if self.stopping:
                    return None  # not read whole: no verdict
        except ChunkMismatch as err:
            return str(err)
        if md5.hexdigest() != etag:
            return f"body MD5 {md5.hexdigest()} does not match its ETag {etag}"
        return None

    def _quarantine(self, diskfile: DiskFile, info: ObjectInfo, where: str, problem: str) -> None:
        if not os.path.exists(info.data_path):
            return  # replaced while we read it: the bad file is gone already
        try:
            diskfile.quarantine(problem, os.path.basename(info.data_path))
        except DiskFileQuarantined as err:
            self._quarantined(where, err)

    def _quarantined(self, where: str, err: DiskFileQuarantined) -> None:
        self.stats.add("quarantined")
        self.logger.warning("%s/%s", where, err)  # <device>/<part>/<hash> quarantined: why


def main() -> None:
    daemon_main(ObjectAuditor)
