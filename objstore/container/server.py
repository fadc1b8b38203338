"""The container server: each container's listing and statistics over HTTP.

    PUT|HEAD|GET|POST|DELETE /<device>/<partition>/<account>/<container>
    PUT|DELETE               /<device>/<partition>/<account>/<container>/<object>
    UPDATE                   /<device>/<partition>/<account>/<container>
    REPLICATE                /<device>/<partition>/<hash>

A container is one SQLite database (``ContainerBroker``) at
``<device>/containers/<partition>/<suffix>/<hash>/<hash>.db``, hash =
``hash_path(account, container)`` (see ``objstore.common.db_server``).

* ``PUT`` of a container (X-Timestamp required) creates it, 201, or moves
  its PUT timestamp, 202. ``X-Backend-Storage-Policy-Index`` picks the
  policy of a new container (else ``X-Backend-Storage-Policy-Default``,
  else the cluster's default); asking an existing container for another
  policy is 409, with the policy it has. A deleted container that a PUT
  brings back takes the policy asked for, and answers 201. A PUT older
  than the container's DELETE leaves it deleted: 409.
* ``PUT``/``DELETE`` of an object come from object servers (X-Timestamp,
  X-Size, X-Content-Type, X-Etag, the object's policy index): a row in
  the pending file, durable on return; 201/204, 404 if the container's
  database does not exist (accounts starting with
  ``auto_create_account_prefix`` get the container made instead).
  ``UPDATE`` carries several such updates in one msgpack body, each
  checked as its own request would be, all recorded in one append: 200
  with one status per update (``object_updates``).
* ``HEAD``/``GET``: 404 if missing or deleted; the counts, timestamps,
  policy and metadata as headers; GET lists the objects (see
  ``objstore.common.listing``). HEAD is 204, as in Swift.
* ``POST`` stores metadata, 204. ``DELETE`` of a non-empty container is
  409; of one already deleted 404; else 204.
* Metadata kept: ``X-Container-Meta-*``, ``X-Container-Sysmeta-*``,
  ``X-Container-Read``, ``-Write``, ``-Sync-Key``, ``-Sync-To``,
  ``X-Versions-Location``, ``X-History-Location``.

Telling the account: the proxy names the account's replicas in a
container PUT or DELETE (``X-Account-Host: ip:port[,ip:port...]``,
``X-Account-Device``, ``X-Account-Partition``), and afterwards this server
sends each ``PUT /<device>/<partition>/<account>/<container>`` with
X-Put-Timestamp, X-Delete-Timestamp, X-Object-Count, X-Bytes-Used and
X-Backend-Storage-Policy-Index. If every replica answers 404 the account
does not exist, and so the container request is 404 (as in Swift); any
other failure is logged, and the container updater (issue #5) sends the
statistics again later. An object update that names the account's
replicas the same way sends the new statistics too (object servers do
not; the updater keeps the account current).
"""
from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from typing import Any

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type hints

from objstore.common import constraints
from objstore.common.config import option
from objstore.common.db import DatabaseAlreadyExists
from objstore.common.db_server import (
    DatabaseController, DatabaseServerConfig, make_db_app, respond,
)
from objstore.common.http import (
    HTTPError, Request, Response, WSGIApp, header_int, header_timestamp, read_body, split_path,
)
from objstore.common.listing import (
    ListingParams, container_body, listing_content_type, listing_params, listing_response,
)
from objstore.common.server import server_main
from objstore.common.timestamp import Timestamp
from objstore.common.named_nodes import NamedNode, named_nodes
from objstore.container.account_reporter import AccountReporter, report, report_headers
from objstore.container import object_updates
from objstore.container.broker import ContainerBroker
from ring.ring import Ring


@dataclasses.dataclass(frozen=True)
class ContainerServerConfig(DatabaseServerConfig):
    bind_port: int = option(6201, "port to listen on", minimum=1, maximum=65535)
    conn_timeout: float = option(0.5, "seconds to connect to an account server", minimum=0.01)
    node_timeout: float = option(3.0, "seconds an account server may take to answer",
                                 minimum=0.01)
    ring_dir: str = option("/etc/objstore", "where account.ring.gz is (to find accounts)")
    account_update_interval: float = option(
        1.0, "seconds between reports of changed containers to their accounts", minimum=0.05)


def account_nodes(headers: Mapping[str, str]) -> list[NamedNode]:
    """The account replicas a request names (maybe none); 400 if the
    headers do not agree with each other."""
    try:
        return named_nodes(headers, "Account")
    except ValueError as err:
        raise HTTPError(400, str(err)) from None


def _header_text(request: Request, name: str) -> str | None:
    """One header's value as UTF-8 text, None if absent; 400 if not UTF-8.
    Object updates read two headers this way: walking all of them
    (``headers_as_text``) was the largest part of parsing an update."""
    value = request.headers.get(name)
    if value is None:
        return None
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise HTTPError(400, f"header {name} is not valid UTF-8") from None


@dataclasses.dataclass(frozen=True)
class _Target:
    device: str
    partition: str
    account: str
    container: str
    obj: str | None
    path: str


class ContainerController(DatabaseController):
    """Request -> Response for the containers on one node's devices."""

    DB_DIR = "containers"
    BROKER = ContainerBroker
    TARGET = "container"
    META_PREFIXES = ("x-container-meta-", "x-container-sysmeta-")
    META_HEADERS = frozenset({"x-container-read", "x-container-write", "x-container-sync-key",
                              "x-container-sync-to", "x-versions-location",
                              "x-history-location"})
    METHODS = "PUT, HEAD, GET, POST, DELETE, UPDATE, REPLICATE"

    conf: ContainerServerConfig
    # coalesced account reports after object rows change (none without an account ring)
    reporter: AccountReporter | None = None

    def _target(self, request: Request, obj_allowed: bool = True) -> _Target:
        device, partition, account, container, *rest = split_path(request, 4, 5, rest=True)
        constraints.check_account_name(account)
        constraints.check_container_name(container)
        obj = rest[0] if rest and rest[0] else None
        if obj is not None:
            if not obj_allowed:
                raise HTTPError(400, f"{request.method} is for containers, not objects")
            constraints.check_object_name(obj)
        path = self.db_path(device, partition, self.hash_path(account, container))
        return _Target(device, partition, account, container, obj, path)

    # -- PUT -----------------------------------------------------------------

    def do_PUT(self, request: Request) -> Response:
        timestamp = header_timestamp(request)
        target = self._target(request)
        if target.obj is not None:
            return self._update_object(request, target, timestamp, deleted=False)
        requested = self.policy_index(request)
        new_policy = requested
        if new_policy is None:
            default = header_int(request, "X-Backend-Storage-Policy-Default")
            if default is not None and self.policies.by_index(default) is None:
                raise HTTPError(400, f"X-Backend-Storage-Policy-Default {default} is no "
                                     "storage policy of this cluster")
            new_policy = self.policies.default.index if default is None else default
        metadata = self.request_metadata(request, timestamp)
        nodes = account_nodes(request.headers)
        created, info = self.run(target.device, target.path, self._put_container, target,
                                 timestamp, requested, new_policy, metadata, grows=True)
        if self._tell_account(request, target, info, nodes):
            raise HTTPError(404, f"account {target.account!r} does not exist")
        return respond(201 if created else 202,
                       {"X-Backend-Storage-Policy-Index": str(info["storage_policy_index"])})

    @staticmethod
    def _put_container(broker: ContainerBroker, target: _Target, timestamp: Timestamp,
                       requested: int | None, new_policy: int,
                       metadata: dict[str, tuple[str, str]]) -> tuple[bool, dict[str, Any]]:
        """(created, info) after a container PUT."""
        created = False
        if not broker.exists():
            try:
                broker.initialize(timestamp, account=target.account, container=target.container,
                                  storage_policy_index=new_policy)
                created = True
            except DatabaseAlreadyExists:
                pass  # made meanwhile by another request: update it as any other
        if not created:
            info = broker.get_info()
            if broker.is_deleted():
                if timestamp < info["delete_timestamp"]:
                    raise HTTPError(409, f"X-Timestamp {timestamp.internal} is older than the "
                                         f"container's DELETE")
                broker.set_storage_policy_index(new_policy)
                created = True  # brought back
            elif requested is not None and requested != info["storage_policy_index"]:
                held = str(info["storage_policy_index"])
                raise HTTPError(409, f"the container has storage policy index {held}",
                                {"X-Backend-Storage-Policy-Index": held})
            broker.update_put_timestamp(timestamp)
        if metadata:
            broker.update_metadata(metadata)
        return created, broker.get_info()

    def _update_object(self, request: Request, target: _Target, timestamp: Timestamp,
                       deleted: bool) -> Response:
        """An object server's PUT or DELETE of an object: a listing row."""
        fields = {name: _header_text(request, name) for name in object_updates.FIELDS}
        assert target.obj is not None
        update = object_updates.parse_update("DELETE" if deleted else "PUT", target.obj,
                                             fields, self._known_policy)
        nodes = account_nodes(request.headers)
        info = self.run(target.device, target.path, self._put_objects, target, [update],
                        bool(nodes), grows=not deleted)
        if info is not None:
            self._tell_account(request, target, info, nodes)
        elif self.reporter is not None:
            self.reporter.mark(target.device, target.path, target.account, target.container)
        return respond(204 if deleted else 201)

    def do_UPDATE(self, request: Request) -> Response:
        """Object updates for one container, batched by an object server
        (``objstore.container.object_updates``): 200 with a msgpack list
        of each record's status, as its own PUT or DELETE would have had."""
        target = self._target(request, obj_allowed=False)
        length = header_int(request, "Content-Length")
        if length is None:
            raise HTTPError(411, "UPDATE needs a Content-Length")
        if length > object_updates.MAX_BATCH_BYTES:
            raise HTTPError(413, f"an UPDATE body may hold {object_updates.MAX_BATCH_BYTES} "
                                 "bytes at most")
        statuses: list[int] = []
        good: list[tuple[int, object_updates.ObjectUpdate]] = []
        for op, obj, fields in object_updates.parse_batch(read_body(request, length)):
            try:
                good.append((len(statuses),
                             object_updates.parse_update(op, obj, fields, self._known_policy)))
                statuses.append(204 if op == "DELETE" else 201)
            except HTTPError as err:
                statuses.append(err.status)
        if any(not update.deleted for _, update in good) and not self.has_room(target.device):
            for number, update in good:  # deletes free space: they still go in
                if not update.deleted:
                    statuses[number] = 507
            good = [(number, update) for number, update in good if update.deleted]
        if good:
            try:
                self.run(target.device, target.path, self._put_objects, target,
                         [update for _, update in good], False)
            except HTTPError as err:  # the container's fate is every record's
                for number, _ in good:
                    statuses[number] = err.status
            else:
                if self.reporter is not None:
                    self.reporter.mark(target.device, target.path, target.account,
                                       target.container)
        return respond(200, {"Content-Type": "application/x-msgpack"},
                       msgpack.packb(statuses, use_bin_type=True))

    def _known_policy(self, index: int) -> bool:
        return self.policies.by_index(index) is not None

    def _put_objects(self, broker: ContainerBroker, target: _Target,
                     updates: list[object_updates.ObjectUpdate],
                     want_info: bool) -> dict[str, Any] | None:
        """Rows in one pending-file append; the container's info if asked."""
        if not broker.exists():
            if not self.is_internal(target.account):
                raise HTTPError(404, "no such container")
            try:
                broker.initialize(updates[0].timestamp, account=target.account,
                                  container=target.container,
                                  storage_policy_index=updates[0].policy_index)
            except DatabaseAlreadyExists:
                pass
        broker.put_records([update.record() for update in updates])
        return broker.get_info() if want_info else None

    # -- HEAD / GET ----------------------------------------------------------

    def do_HEAD(self, request: Request) -> Response:
        return self.do_GET(request, head=True)

    def do_GET(self, request: Request, head: bool = False) -> Response:
        target = self._target(request, obj_allowed=False)
        content_type = listing_content_type(request)
        params = None if head else listing_params(request, "container")
        info, metadata, entries = self.run(target.device, target.path, self._read, params)
        headers = self._headers(info)
        headers.update(self.metadata_headers(metadata))
        if params is None:
            return respond(204, {**headers, "Content-Type": f"{content_type}; charset=utf-8"})
        return listing_response(container_body(entries, target.container, content_type),
                                content_type, headers)

    def _read(self, broker: ContainerBroker, params: ListingParams | None
              ) -> tuple[dict[str, Any], dict[str, tuple[str, Timestamp]], list[dict[str, Any]]]:
        info = broker.get_info()
        if broker.is_deleted():
            raise HTTPError(404, "the container is deleted", self._headers(info, deleted=True))
        entries = [] if params is None else broker.list_objects(**dataclasses.asdict(params))
        return info, broker.metadata, entries

    @staticmethod
    def _headers(info: Mapping[str, Any], deleted: bool = False) -> dict[str, str]:
        """Swift's container headers; a deleted container shows only the
        backend ones (the proxy uses them to tell deleted from missing)."""
        headers = {
            "X-Backend-Timestamp": info["created_at"].internal,
            "X-Backend-PUT-Timestamp": info["put_timestamp"].internal,
            "X-Backend-DELETE-Timestamp": info["delete_timestamp"].internal,
            "X-Backend-Status-Changed-At": info["status_changed_at"].internal,
            "X-Backend-Storage-Policy-Index": str(info["storage_policy_index"]),
        }
        if not deleted:
            headers.update({
                "X-Container-Object-Count": str(info["object_count"]),
                "X-Container-Bytes-Used": str(info["bytes_used"]),
                "X-Timestamp": info["created_at"].normal,
                "X-PUT-Timestamp": info["put_timestamp"].normal,
                "Last-Modified": info["put_timestamp"].http_date,
            })
        return headers

    # -- POST / DELETE -------------------------------------------------------

    def do_POST(self, request: Request) -> Response:
        timestamp = header_timestamp(request)
        target = self._target(request, obj_allowed=False)
        metadata = self.request_metadata(request, timestamp)
        self.run(target.device, target.path, self._post, metadata, grows=True)
        return respond(204)

    @staticmethod
    def _post(broker: ContainerBroker, metadata: dict[str, tuple[str, str]]) -> None:
        if broker.is_deleted():
            raise HTTPError(404, "the container is deleted")
        if metadata:
            broker.update_metadata(metadata)

    def do_DELETE(self, request: Request) -> Response:
        timestamp = header_timestamp(request)
        target = self._target(request)
        if target.obj is not None:
            return self._update_object(request, target, timestamp, deleted=True)
        nodes = account_nodes(request.headers)
        existed, info = self.run(target.device, target.path, self._delete_container, timestamp)
        if self._tell_account(request, target, info, nodes):
            raise HTTPError(404, f"account {target.account!r} does not exist")
        if not existed:
            raise HTTPError(404, "the container was deleted already")
        return respond(204)

    @staticmethod
    def _delete_container(broker: ContainerBroker,
                          timestamp: Timestamp) -> tuple[bool, dict[str, Any]]:
        """(whether it was live, info) after a container DELETE."""
        if not broker.empty():
            raise HTTPError(409, "the container is not empty")
        existed = not broker.is_deleted()
        broker.mark_deleted(timestamp)
        if not broker.is_deleted():
            put = broker.get_info()["put_timestamp"]
            raise HTTPError(409, f"X-Timestamp {timestamp.internal} is not newer than the "
                                 f"container's PUT {put.internal}")
        return existed, broker.get_info()

    # -- the account ---------------------------------------------------------

    def _tell_account(self, request: Request, target: _Target, info: Mapping[str, Any],
                      nodes: list[NamedNode]) -> bool:
        """Send the container's state to the account replicas the request
        names; True when every one of them answered 404 (no such account)."""
        headers = report_headers(info)
        for name in ("X-Trans-Id", "X-Account-Override-Deleted"):
            if name in request.headers:
                headers[name] = request.headers[name]
        return report(nodes, target.account, target.container, headers,
                      connect_timeout=self.conf.conn_timeout,
                      read_timeout=self.conf.node_timeout, logger=self.logger)

    def read_info(self, device: str, path: str) -> Mapping[str, Any] | None:
        """A container's info for its account report (None if it is gone)."""
        def info(broker: ContainerBroker) -> Mapping[str, Any] | None:
            return broker.get_info() if broker.exists() else None
        return self.run(device, path, info)

    def mark_reported(self, device: str, path: str, info: Mapping[str, Any]) -> None:
        """Record that the account took ``info`` (the container updater then
        skips the container until it changes again)."""
        self.run(device, path, ContainerBroker.mark_reported, info)


def make_app(conf: ContainerServerConfig, logger: logging.Logger) -> WSGIApp:
    def start_reporting(controller: ContainerController) -> None:
        ring_path = os.path.join(conf.ring_dir, "account.ring.gz")
        if not os.path.exists(ring_path):
            logger.warning("no %s: account totals change only on container PUT and DELETE "
                           "until the container updater runs", ring_path)
            return
        from objstore.common import concurrency

        controller.reporter = AccountReporter(
            Ring(ring_path), controller.read_info, interval=conf.account_update_interval,
            connect_timeout=conf.conn_timeout, read_timeout=conf.node_timeout, logger=logger,
            mark_reported=controller.mark_reported)
        concurrency.spawn(controller.reporter.run_forever, concurrency.sleep)

    return make_db_app(ContainerController, conf, logger, start_reporting)


def main() -> None:
    """``objstore-container-server <conf>``: section ``[app:container-server]``."""
    server_main("container-server", ContainerServerConfig, make_app)
