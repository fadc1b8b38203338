"""The object updater: container updates that failed, sent again until taken.

    objstore-object-updater CONF [--once] [--devices LIST]

An object server that could not tell a container replica about a PUT or
DELETE kept the update as an *async pending* (``updates.py``):

    <device>/async_pending[-N]/<suffix>/<object hash>-<timestamp>

Each pass walks those directories on the node's devices and, for every
record, sends the update to each replica of the container as the
container ring places it now (not as the failed request named them: the
ring may have changed since). A record is removed once every replica has
taken it (a 2xx); replicas that took it are written into the record
(``successes``, their device ids) so later passes ask only the others.
Several records for one object: only the newest counts, since a
container keeps the newest row anyway; the older are removed unsent.

A record that cannot be read is moved to ``<device>/quarantined/objects``
(the log says so); everything else that goes wrong leaves the record for
the next pass. Pacing: ``objects_per_second`` records a device, and
``concurrency`` devices at once. Recon (``object.recon``, entry
``object-updater``): ``successes``, ``failures`` (records left to retry),
``unlinks``, ``quarantined``, ``errors``.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type hints

from objstore.common.config import option
from objstore.common.http_client import BackendError, request
from objstore.common.policies import StoragePolicy
from objstore.common.server import install_cluster
from objstore.common.timestamp import InvalidTimestamp, Timestamp
from objstore.daemons.base import Daemon, DaemonConfig, LocalDevice, load_ring
from objstore.daemons.ratelimit import RateLimiter
from objstore.daemons.runner import counts_text, daemon_main
from objstore.obj import updates

_RECORD_NAME = re.compile(r"([0-9a-f]{32})-(.+)")


@dataclasses.dataclass(frozen=True)
class ObjectUpdaterConfig(DaemonConfig):
    interval: float = option(300.0, "seconds from the start of one pass to the start of the "
                                    "next", minimum=0)
    objects_per_second: float = option(
        50.0, "async pendings a pass handles per second, per device (0: no limit)", minimum=0)
    conn_timeout: float = option(0.5, "seconds to connect to a container server", minimum=0.01)
    node_timeout: float = option(10.0, "seconds a container server may take to answer",
                                 minimum=0.01)


class ObjectUpdater(Daemon):
    """Sends the container updates object servers could not."""

    name = "object-updater"
    server_type = "object"
    server_section = "app:object-server"
    config_schema = ObjectUpdaterConfig
    counters = ("successes", "failures", "unlinks", "quarantined", "errors")

    def __init__(self, conf: ObjectUpdaterConfig, logger: logging.Logger,
                 stop: threading.Event | None = None) -> None:
        super().__init__(conf, logger, stop)
        cluster = install_cluster(conf.cluster_conf, logger)  # the secret places containers
        self.policies: list[StoragePolicy] = list(cluster.policies)
        self.container_ring = load_ring(conf.ring_dir, "container")

    def ring_names(self) -> list[str]:
        return [policy.ring_name for policy in self.policies]

    def process_device(self, device: LocalDevice) -> None:
        pace = RateLimiter(self.conf.objects_per_second, sleep=self.stop.wait)
        for policy in self.policies:
            root = os.path.join(device.path, updates.async_dir(policy.index))
            for suffix in self.listdir(root):
                suffix_dir = os.path.join(root, suffix)
                for path in self._newest_records(suffix_dir):
                    if self.stopping:
                        return
                    self.update(device, path)
                    pace.consume(1)
                    self.report_progress(counts_text)
                try:
                    os.rmdir(suffix_dir)  # empty now, or it stays
                except OSError:
                    pass

    def _newest_records(self, suffix_dir: str) -> Iterator[str]:
        """The newest record of each object; older ones are removed."""
        newest: dict[str, tuple[Timestamp, str]] = {}
        for name in self.listdir(suffix_dir):
            match = _RECORD_NAME.fullmatch(name)
            if match is None:
                continue
            try:
                timestamp = Timestamp(match.group(2))
            except InvalidTimestamp:
                continue
            path = os.path.join(suffix_dir, name)
            seen = newest.get(match.group(1))
            if seen is not None and seen[0] >= timestamp:
                self._unlink(path)
                continue
            if seen is not None:
                self._unlink(seen[1])
            newest[match.group(1)] = (timestamp, path)
        for _, path in newest.values():
            yield path

    # -- one record --------------------------------------------------------------

    def update(self, device: LocalDevice, path: str) -> None:
        try:
            record = updates.read_async_pending(path)
            account, container = str(record["account"]), str(record["container"])
            obj, op = str(record["obj"]), str(record["op"])
            headers = {str(k): str(v) for k, v in dict(record["headers"]).items()}
        except FileNotFoundError:
            return  # handled meanwhile by another pass
        except (OSError, ValueError, KeyError, TypeError, msgpack.UnpackException) as err:
            self._quarantine(device, path, err)
            return
        part, nodes = self.container_ring.get_nodes(account, container)
        done = set(record.get("successes") or [])
        for node in nodes:
            if node.id in done:
                continue
            if self._send(node, part, op, account, container, obj, headers):
                done.add(node.id)
        if all(node.id in done for node in nodes):
            self.stats.add("successes")
            self._unlink(path)
            return
        self.stats.add("failures")
        if done != set(record.get("successes") or []):
            self._rewrite(path, {**record, "successes": sorted(done)})

    def _send(self, node: Any, part: int, op: str, account: str, container: str, obj: str,
              headers: dict[str, str]) -> bool:
        path = f"/{node.device}/{part}/{account}/{container}/{obj}"
        try:
            status, _, _ = request(node.ip, node.port, op, path, headers,
                                   connect_timeout=self.conf.conn_timeout,
                                   read_timeout=self.conf.node_timeout)
        except (BackendError, ValueError) as err:
            self.logger.debug("update %s to %s:%d failed: %s", path, node.ip, node.port, err)
            return False
        return 200 <= status < 300

    # -- the record file -------------------------------------------------------------

    def _rewrite(self, path: str, record: dict[str, Any]) -> None:
        """The record with the replicas that took it, replaced atomically
        (not fsynced: losing it only means asking those replicas again)."""
        directory = os.path.dirname(path)
        try:
            fd, temp = tempfile.mkstemp(dir=directory, prefix=".update-")
            try:
                os.write(fd, msgpack.packb(record, use_bin_type=True))
            finally:
                os.close(fd)
            os.replace(temp, path)
        except OSError as err:
            self.stats.add("errors")
            self.logger.error("cannot rewrite %s: %s", path, err)

    def _unlink(self, path: str) -> None:
        try:
            os.unlink(path)
            self.stats.add("unlinks")
        except FileNotFoundError:
            pass
        except OSError as err:
            self.stats.add("errors")
            self.logger.error("cannot remove %s: %s", path, err)

    def _quarantine(self, device: LocalDevice, path: str, err: Exception) -> None:
        target_dir = os.path.join(device.path, "quarantined", "objects")
        try:
            os.makedirs(target_dir, exist_ok=True)
            os.replace(path, os.path.join(target_dir, os.path.basename(path)))
        except OSError as move_err:
            self.stats.add("errors")
            self.logger.error("unreadable %s (%s) cannot be moved aside: %s", path, err,
                              move_err)
            return
        self.stats.add("quarantined")
        self.logger.warning("unreadable async pending %s quarantined: %s", path, err)


def main() -> None:
    daemon_main(ObjectUpdater)
