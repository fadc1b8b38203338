"""Talking to the storage nodes of a partition: read from one, write to all.

* ``read_one`` tries the partition's nodes one at a time (``node_iter``:
  primaries, then handoffs) and returns the first 2xx or 3xx; a 404 or
  another 4xx is kept and the next node tried (a replica may not have the
  data yet), up to ``replicas`` answers; unreachable nodes and 5xx count
  as errors for error limiting and do not use up the budget.
* ``write_all`` sends one request per replica at once, each in a green
  thread; a node that cannot be reached is replaced by the next handoff,
  so every replica gets the write if any node can take it. The statuses
  come back for ``quorum.best_status``.
* ``read_newest`` (a client's ``X-Newest: true``) asks every replica at
  once and answers with the newest (``newest_of``): a replica that was
  down during the last write must not hide it.
* ``per_node`` headers let each replica get its own (an object server's
  container replica, a container server's account replica).
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from objstore.common import concurrency
from objstore.common.http_client import BackendError, ConnectionPool, Headers, request
from objstore.common.timestamp import Timestamp
from objstore.proxy.nodes import ErrorLimiter, node_iter
from ring.devices import Device
from ring.ring import Ring


@dataclasses.dataclass
class Answer:
    node: Device | None
    status: int
    headers: Headers | dict[str, str]
    body: bytes


@dataclasses.dataclass(frozen=True)
class Timeouts:
    connect: float
    read: float


class Backend:
    """One worker's way to the storage nodes (shared error limiter)."""

    def __init__(self, limiter: ErrorLimiter, timeouts: Timeouts, logger: logging.Logger) -> None:
        self.limiter = limiter
        self.timeouts = timeouts
        self.logger = logger
        self.pool = ConnectionPool()  # keep-alive sockets to the storage nodes

    def _ask(self, node: Device, part: int, method: str, path: str,
             headers: Mapping[str, str], body: bytes, query: str | None = None) -> Answer | None:
        """One request; None when the node could not answer (error counted)."""
        try:
            status, got, data = request(node.ip, node.port, method, f"/{node.device}/{part}{path}",
                                        dict(headers), body, connect_timeout=self.timeouts.connect,
                                        read_timeout=self.timeouts.read, query=query,
                                        pool=self.pool)
        except (BackendError, ValueError) as err:
            self.logger.warning("%s %s to %s:%d/%s failed: %s", method, path, node.ip, node.port,
                                node.device, err)
            self.limiter.error(node)
            return None
        if status == 507:
            self.limiter.limit(node)
        elif status >= 500:
            self.limiter.error(node)
        return Answer(node, status, got, data)

    def read_one(self, ring: Ring, part: int, method: str, path: str,
                 headers: Mapping[str, str], query: str | None = None,
                 spread: bool = False) -> Answer:
        """The first good answer, else the most telling one (see module doc).
        ``spread``: see node_iter (objects; a listing keeps to ring order, so
        successive listings come from the same replica)."""
        kept: list[Answer] = []
        budget = int(ring.replica_count)
        for node in node_iter(ring, part, self.limiter, spread=spread):
            answer = self._ask(node, part, method, path, headers, b"", query)
            if answer is None or answer.status >= 500:
                continue
            if answer.status < 400:
                return answer
            kept.append(answer)
            if len(kept) >= budget:
                break
        if kept:
            statuses = [a.status for a in kept]
            return next(a for a in kept if a.status == max(set(statuses), key=statuses.count))
        return Answer(None, 503, {}, b"no storage node answered")

    def read_newest(self, ring: Ring, part: int, method: str, path: str,
                    headers: Mapping[str, str], query: str | None = None) -> Answer:
        """Every replica's answer at once; the newest one (see newest_of)."""
        answers = self.write_all(ring, part, method, path, headers, query=query)
        return newest_of(answers) or Answer(None, 503, {}, b"no storage node answered")

    def write_all(self, ring: Ring, part: int, method: str, path: str,
                  headers: Mapping[str, str], body: bytes = b"",
                  per_node: Callable[[int], Mapping[str, str]] | None = None,
                  query: str | None = None) -> list[Answer]:
        """One request per replica at once; handoffs stand in for the unreachable."""
        nodes = node_iter(ring, part, self.limiter)
        replicas = len(ring.get_part_nodes(part))

        def one(index: int) -> Answer:
            extra = per_node(index) if per_node else {}
            for node in _take(nodes):
                answer = self._ask(node, part, method, path, {**headers, **extra}, body, query)
                if answer is not None and answer.status != 507:
                    return answer
            return Answer(None, 503, {}, b"")

        # the first replica in this green thread: one spawn and switch fewer
        others = [concurrency.spawn(one, index) for index in range(1, replicas)]
        return [one(0), *(other.wait() for other in others)] if replicas else []


    def reachable(self, ring: Ring, part: int) -> int:
        """How many replicas a write could reach now: the nodes write_all
        would use, each taking a connection (an idle pooled one counts),
        handoffs standing in as there. Failures are not counted against
        the nodes here: the write that follows meets them again."""
        nodes = node_iter(ring, part, self.limiter)
        found, to_connect = 0, []
        for _ in range(len(ring.get_part_nodes(part))):
            node = next(nodes, None)
            if node is None:
                break
            # the usual case, a kept socket to each, needs no green thread
            if self.pool.has_idle(node.ip, node.port):
                found += 1
            else:
                to_connect.append(node)
        if not to_connect:
            return found

        def one(first: Device) -> bool:
            return any(self.pool.ensure(node.ip, node.port, self.timeouts.connect)
                       for node in itertools.chain((first,), _take(nodes)))

        return found + sum(concurrency.GreenPool(len(to_connect)).imap(one, to_connect))


def _answer_time(answer: Answer) -> Timestamp | None:
    """When a replica's state was written: its put time for an account or
    container, the data or metadata time for an object (or tombstone)."""
    lowered = {k.lower(): v for k, v in answer.headers.items()}
    for name in ("x-backend-put-timestamp", "x-put-timestamp", "x-backend-timestamp",
                 "x-timestamp"):
        if lowered.get(name):
            try:
                return Timestamp(lowered[name])
            except ValueError:
                return None
    return None


def newest_of(answers: list[Answer]) -> Answer | None:
    """The answer that reflects the latest write: among successes and 404s
    that carry a time (a tombstone), the newest; a success wins a tie.
    Without any such answer, the most common status among the answers."""
    timed = [(t, a.status < 300, a) for a in answers
             if (a.status < 300 or a.status == 404) and (t := _answer_time(a)) is not None]
    if timed:
        return max(timed, key=lambda entry: (entry[0], entry[1]))[2]
    good = [a for a in answers if a.status < 300]
    if good:
        return good[0]
    real = [a for a in answers if a.node is not None and a.status < 500] or answers
    if not real:
        return None
    statuses = [a.status for a in real]
    return next(a for a in real if a.status == max(set(statuses), key=statuses.count))


def _take(nodes: Iterator[Device]) -> Iterator[Device]:
    """Draw from a shared iterator: each green thread takes the next node."""
    while True:
        try:
            yield next(nodes)
        except StopIteration:
            return


def strip_backend(headers: Mapping[str, str] | Any) -> dict[str, str]:
    """A backend answer's headers as a client may see them."""
    hidden = ("x-backend-", "x-object-sysmeta-", "x-container-sysmeta-",
              "x-account-sysmeta-", "content-length", "transfer-encoding", "connection", "date",
              "server", "x-trans-id", "x-openstack-request-id", "keep-alive")
    return {k: v for k, v in headers.items() if not k.lower().startswith(hidden)}
