"""The container updater: account statistics kept in step with containers.

    objstore-container-updater CONF [--once] [--devices LIST]

The container server reports a container's totals to its account as
object rows arrive (``account_reporter``), but a report can fail (the
account servers were down) and rows that arrive by replication are never
reported. Each pass of the updater walks every container database on
the node's devices (``db_walk``) and, for each whose put or delete
timestamp, object count or bytes differ from what its account last took
(``broker.unreported``), sends the container's state to every replica of
the account as the account ring places it now.

Invariants:

- A report is recorded in the container (``mark_reported``: the values
  sent, read before sending) only once a majority of the account's
  replicas took it; the account replicator brings the rest up to date.
  Waiting for every replica would resend to all of them every pass for
  as long as one account node is down.
- An account that no longer exists (every replica answers 404) is logged
  and counted (``account_missing``) and the report recorded as done, so
  the container is not sent again each pass, only once it changes again.
- Anything else leaves the container unrecorded, to be sent next pass.

Pacing: ``containers_per_second`` containers looked at a device, and
``concurrency`` devices at once. Recon (``container.recon``, entry
``container-updater``): ``successes`` (reports taken), ``failures`` (left
for the next pass), ``no_changes`` (nothing to send), ``account_missing``,
``errors`` (a database that could not be read or written).
"""
from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any

from objstore.common.config import option
from objstore.common.db import DatabaseError
from objstore.common.db_walk import DatabaseFile, walk_databases
from objstore.common.server import install_cluster
from objstore.container.account_reporter import report_headers, ring_nodes, send_report
from objstore.container.broker import ContainerBroker, unreported
from objstore.daemons.base import Daemon, DaemonConfig, LocalDevice, load_ring
from objstore.daemons.ratelimit import RateLimiter
from objstore.daemons.runner import counts_text, daemon_main


@dataclasses.dataclass(frozen=True)
class ContainerUpdaterConfig(DaemonConfig):
    bind_port: int = option(6201, "the node's port, to find its devices in the ring "
                                  "(default: the server's)", minimum=1, maximum=65535)
    interval: float = option(300.0, "seconds from the start of one pass to the start of the "
                                    "next", minimum=0)
    containers_per_second: float = option(
        50.0, "containers a pass looks at per second, per device (0: no limit)", minimum=0)
    conn_timeout: float = option(0.5, "seconds to connect to an account server", minimum=0.01)
    node_timeout: float = option(3.0, "seconds an account server may take to answer",
                                 minimum=0.01)


class ContainerUpdater(Daemon):
    """Sends each container's totals to its account until the account has them."""

    name = "container-updater"
    server_type = "container"
    server_section = "app:container-server"
    config_schema = ContainerUpdaterConfig
    counters = ("successes", "failures", "no_changes", "account_missing", "errors")

    def __init__(self, conf: ContainerUpdaterConfig, logger: logging.Logger,
                 stop: threading.Event | None = None) -> None:
        super().__init__(conf, logger, stop)
        install_cluster(conf.cluster_conf, logger)  # the secret places accounts
        self.account_ring = load_ring(conf.ring_dir, "account")

    def process_device(self, device: LocalDevice) -> None:
        pace = RateLimiter(self.conf.containers_per_second, sleep=self.stop.wait)
        for found in walk_databases(device.path, "containers", self._cannot_list):
            if self.stopping:
                return
            self.update(found)
            pace.consume(1)
            self.report_progress(counts_text)

    def _cannot_list(self, path: str, err: OSError) -> None:
        self.stats.add("errors")
        self.logger.error("cannot list %s: %s", path, err.strerror or err)

    # -- one container -----------------------------------------------------------

    def update(self, found: DatabaseFile) -> None:
        broker = ContainerBroker(found.path)
        try:
            info = broker.get_info()
            if not unreported(info):
                self.stats.add("no_changes")
                return
            if self._send(info):
                broker.mark_reported(info)
        except (DatabaseError, OSError) as err:
            # a quarantined or damaged database is the auditor's to handle
            self.stats.add("errors")
            self.logger.error("cannot update the account of %s: %s", found.path, err)
        finally:
            broker.close()

    def _send(self, info: dict[str, Any]) -> bool:
        """Report ``info``; whether to record it as reported."""
        account, container = str(info["account"]), str(info["container"])
        if not account or not container:
            raise DatabaseError("the database names no account or container")
        outcome = send_report(ring_nodes(self.account_ring, account), account, container,
                              report_headers(info), connect_timeout=self.conf.conn_timeout,
                              read_timeout=self.conf.node_timeout, logger=self.logger)
        if outcome.accepted:
            self.stats.add("successes")
            return True
        if outcome.account_missing:
            self.stats.add("account_missing")
            self.logger.warning("account %r of container %r does not exist; not reporting "
                                "again until the container changes", account, container)
            return True
        self.stats.add("failures")
        return False


def main() -> None:
    daemon_main(ContainerUpdater)
