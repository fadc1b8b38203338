"""Telling account servers about containers: what changed, and when.

A container's object count and bytes change with every object row an
object server sends. The account must learn of it, but not once per
object: ``AccountReporter`` marks the container dirty, and a green thread
sends each dirty container's totals to the account's replicas (found on
the account ring) at most once every ``interval`` seconds. A burst of a
thousand object PUTs costs one account update. A report that fails is
logged; the container updater (``objstore.container.updater``) sends
every container whose totals the account has not taken on its passes, so
nothing is lost for good. A report a quorum of the account's replicas
took is recorded in the container (``ContainerBroker.mark_reported``), so
the updater does not send it again.

``send_report`` is the one way a container's state is sent, used here,
by the updater, and (through ``report``) when a container PUT or DELETE
names its account replicas.
"""
from __future__ import annotations

import logging
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from objstore.common.http_client import BackendError
from objstore.common.named_nodes import NamedNode
from objstore.common.http_client import request as backend_request
from ring.ring import Ring


def report_headers(info: Mapping[str, Any]) -> dict[str, str]:
    """What an account server needs to know of a container."""
    return {
        "X-Put-Timestamp": info["put_timestamp"].internal,
        "X-Delete-Timestamp": info["delete_timestamp"].internal,
        "X-Object-Count": str(info["object_count"]),
        "X-Bytes-Used": str(info["bytes_used"]),
        "X-Backend-Storage-Policy-Index": str(info["storage_policy_index"]),
    }


@dataclasses.dataclass(frozen=True)
class ReportOutcome:
    """How the account's replicas answered one report."""

    replicas: int
    taken: int      # answered 2xx
    not_found: int  # answered 404: no such account there

    @property
    def accepted(self) -> bool:
        """A majority took it: the account replicator carries it to the
        others, so it need not be sent again (waiting for all would send it
        every pass while one account node is down)."""
        return self.replicas > 0 and self.taken >= self.replicas // 2 + 1

    @property
    def account_missing(self) -> bool:
        return self.replicas > 0 and self.not_found == self.replicas


def report(nodes: list[NamedNode], account: str, container: str, headers: Mapping[str, str],
           *, connect_timeout: float, read_timeout: float, logger: logging.Logger) -> bool:
    """Send a container's state to the account's replicas; True when every
    one of them answered 404 (there is no such account)."""
    return send_report(nodes, account, container, headers, connect_timeout=connect_timeout,
                       read_timeout=read_timeout, logger=logger).account_missing


def send_report(nodes: list[NamedNode], account: str, container: str,
                headers: Mapping[str, str], *, connect_timeout: float, read_timeout: float,
                logger: logging.Logger) -> ReportOutcome:
    """Send a container's state to each of the account's replicas in turn."""
    missing = taken = 0
    for node in nodes:
        path = f"/{node.device}/{node.partition}/{account}/{container}"
        try:
            status, _, _ = backend_request(node.host, node.port, "PUT", path, dict(headers),
                                           connect_timeout=connect_timeout,
                                           read_timeout=read_timeout)
        except (BackendError, ValueError) as err:
            logger.error("account update to %s:%d/%s failed (the container updater will "
                         "retry): %s", node.host, node.port, node.device, err)
            continue
        if 200 <= status < 300:
            taken += 1
        elif status == 404:
            missing += 1
        else:
            logger.error("account update to %s:%d/%s answered %d (the container updater "
                         "will retry)", node.host, node.port, node.device, status)
    return ReportOutcome(len(nodes), taken, missing)


def ring_nodes(ring: Ring, account: str) -> list[NamedNode]:
    part, devices = ring.get_nodes(account)
    return [NamedNode(dev.ip, dev.port, dev.device, str(part)) for dev in devices]


class AccountReporter:
    """Coalesced reports of containers whose rows changed (see the module doc)."""

    def __init__(self, ring: Ring, read_info: Callable[[str, str], Mapping[str, Any] | None],
                 *, interval: float, connect_timeout: float, read_timeout: float,
                 logger: logging.Logger,
                 mark_reported: Callable[[str, str, Mapping[str, Any]], None] | None = None,
                 ) -> None:
        self.ring = ring
        self.read_info = read_info   # (device, db path) -> the container's info, or None
        # (device, db path, info sent) -> None: records a report the account took
        self.mark_reported = mark_reported
        self.interval = interval
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.logger = logger
        # db path -> (device, account, container); a dict keeps marks in order
        self.dirty: dict[str, tuple[str, str, str]] = {}
        self.sent = 0

    def mark(self, device: str, path: str, account: str, container: str) -> None:
        self.dirty[path] = (device, account, container)

    def flush(self) -> None:
        """Report every container marked since the last flush, once each."""
        dirty, self.dirty = self.dirty, {}
        for path, (device, account, container) in dirty.items():
            try:
                info = self.read_info(device, path)
            except Exception as err:  # a gone or broken DB: the updater handles it
                self.logger.warning("not reporting %s/%s to its account: %s", account,
                                    container, err)
                continue
            if info is None:
                continue
            outcome = send_report(ring_nodes(self.ring, account), account, container,
                                  report_headers(info), connect_timeout=self.connect_timeout,
                                  read_timeout=self.read_timeout, logger=self.logger)
            self.sent += 1
            if outcome.accepted and self.mark_reported is not None:
                try:
                    self.mark_reported(device, path, info)
                except Exception as err:  # only means the updater sends it once more
                    self.logger.warning("cannot record the report of %s/%s: %s", account,
                                        container, err)

    def run_forever(self, sleep: Callable[[float], None]) -> None:
        while True:
            sleep(self.interval)
            try:
                self.flush()
            except Exception:
                self.logger.exception("account reports failed; trying again")
