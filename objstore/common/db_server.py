"""What the account and container servers share: one SQLite database per
account or container on a node's devices, served over HTTP.

    <devices>/<device>/<accounts|containers>/<partition>/<suffix>/<hash>/<hash>.db

``hash`` is ``hash_path(account[, container])`` in hex (the cluster's
secret, as for objects) and ``suffix`` its last three digits, so a
database sits where the ring puts its name and a replicator finds it by
partition and suffix.

``DatabaseController`` holds the parts both servers have alike:

* dispatch of ``do_<METHOD>`` (405 for anything else) and the names in
  the path: a device that could leave the devices directory or a
  partition that is not a number is 400 (``objstore.common.paths``, the
  rules the object layer applies too), a device that is missing (or,
  with ``mount_check``, not a mount point) 507;
* ``run``: every request's database work in one call through
  ``offload`` (a trip to the thread pool costs about 90 us of CPU, so a
  request makes one): the device checked, a broker opened at the path,
  the work done, the broker closed. Database errors become statuses
  there: a missing database 404, a lock held too long 503, a corrupt or
  unreadable one 500 (logged); a full disk 507;
* metadata: the headers a server keeps (``META_PREFIXES`` and
  ``META_HEADERS``) stored as UTF-8 text with the request's timestamp,
  newest per name winning; an empty value deletes the name. A request
  that breaks ``constraints.check_metadata`` is 400, as is one whose
  metadata is not UTF-8;
* ``X-Backend-Storage-Policy-Index``: a whole number naming one of the
  cluster's policies, else 400;
* ``REPLICATE /<device>/<partition>/<hash>``: the row-sync protocol of the
  DB replicators (``do_REPLICATE``): replication info, sync points, rows
  since a row id, and merging rows and info; 404 if there is no such
  database; a whole database pushed (``db_transfer``).
"""
from __future__ import annotations

import dataclasses
import errno
import functools
import json
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Final, TypeVar

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type hints

from objstore.common import constraints, db_transfer, free_space, paths
from objstore.common.config import option
from objstore.common.db import (
    DatabaseBroker, DatabaseError, DatabaseLockTimeout, DatabaseNotFound,
)
from objstore.common.http import (
    HTTPError, Request, Response, WSGIApp, header_int, headers_as_text, split_path, text_to_wsgi,
    wsgi_app,
)
from objstore.common.http import canonical_header as canonical
from objstore.common.policies import StoragePolicies, StoragePolicy
from objstore.common.server import ServerConfig, install_cluster
from objstore.common.timestamp import Timestamp
from ring.hashing import PathHasher, default_hasher

R = TypeVar("R")
Offload = Callable[..., Any]
_NO_SPACE: Final = (errno.ENOSPC, errno.EDQUOT)


@dataclasses.dataclass(frozen=True)
class DatabaseServerConfig(ServerConfig):
    """Options the account and container servers both have."""

    devices: str = option("/srv/node", "directory holding one directory (mount) per device")
    mount_check: bool = option(True, "refuse devices that are not mount points")
    reclaim_age: float = option(604800.0, "seconds deleted rows and databases are kept (a week)",
                                minimum=0)
    auto_create_account_prefix: str = option(
        ".", "accounts whose names start with this are made on first use (internal accounts)")
    cluster_conf: str = option("/etc/objstore/objstore.conf",
                               "the cluster file: hash path secret and storage policies")
    fallocate_reserve: str = option("1%", "free space kept on each device: past it, PUT, POST, "
                                    "UPDATE and replication merges are refused 507 (bytes, "
                                    "or N%)")

    def __post_init__(self) -> None:
        free_space.Reserve.parse(self.fallocate_reserve)  # ValueError: a config error


def _inline(func: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    return func(*args, **kwargs)


def check_device(device: str) -> str:
    """A device name that cannot leave the devices directory (else 400)."""
    if not paths.valid_device(device):
        raise HTTPError(400, f"invalid device name {device[:60]!r}")
    return device


def check_partition(partition: str) -> int:
    number = paths.valid_partition(partition)
    if number is None:
        raise HTTPError(400, f"invalid partition {partition[:20]!r}: not a whole number")
    return number


def respond(status: int, headers: Mapping[str, str] | None = None, body: bytes = b"") -> Response:
    """A response with exactly ``headers`` (webob adds no Content-Type)
    and the body's Content-Length, which a 204 does not have."""
    # A headerlist of our own: webob then guesses nothing, and building the
    # response costs half as much (every object update ends here).
    headerlist = list(headers.items()) if headers else []
    if status == 204:
        return Response(status=status, headerlist=headerlist)
    headerlist.append(("Content-Length", str(len(body))))
    return Response(status=status, headerlist=headerlist, app_iter=[body])


class DatabaseController:
    """Request -> Response for the databases on one node's devices."""

    DB_DIR: ClassVar[str] = ""            # "accounts" or "containers"
    BROKER: ClassVar[type[DatabaseBroker]] = DatabaseBroker
    TARGET: ClassVar[constraints.Target] = "account"
    META_PREFIXES: ClassVar[tuple[str, ...]] = ()  # lower case
    META_HEADERS: ClassVar[frozenset[str]] = frozenset()  # lower case
    METHODS: ClassVar[str] = ""

    def __init__(self, conf: DatabaseServerConfig, logger: logging.Logger, *,
                 policies: StoragePolicies | None = None, hasher: PathHasher | None = None,
                 offload: Offload = _inline) -> None:
        self.conf = conf
        self.logger = logger
        self.policies = policies or StoragePolicies([StoragePolicy(0, "Policy-0",
                                                                   is_default=True)])
        self.hasher = hasher
        self.offload = offload
        self.reserve = free_space.Reserve.parse(conf.fallocate_reserve)

    def __call__(self, request: Request) -> Response:
        handler = getattr(self, "do_" + request.method, None)
        if handler is None:
            raise HTTPError(405, f"{request.method} is not supported", {"Allow": self.METHODS})
        try:
            return handler(request)  # type: ignore[no-any-return]
        except constraints.ConstraintError as err:
            raise HTTPError(err.status, err.reason) from None

    # -- where databases live ------------------------------------------------

    def hash_path(self, account: str, container: str | None = None) -> str:
        return _hash_path(self.hasher or default_hasher(), account, container)

    def db_path(self, device: str, partition: str, name_hash: str) -> str:
        """The database's path (no disk access); 400 for a bad name."""
        if not paths.valid_hash(name_hash):
            raise HTTPError(400, f"invalid hash {name_hash[:40]!r}: 32 hex digits")
        return os.path.join(self.conf.devices, check_device(device), self.DB_DIR,
                            str(check_partition(partition)), name_hash[-3:], name_hash,
                            name_hash + ".db")

    def _check_device(self, device: str, grows: bool = False) -> None:
        """507 for a device that is missing, or (``grows``: the request
        may make its databases bigger) past its fallocate_reserve."""
        path = os.path.join(self.conf.devices, check_device(device))
        if self.conf.mount_check and not os.path.ismount(path):
            raise HTTPError(507, f"device {device} is not mounted")
        if not os.path.isdir(path):
            raise HTTPError(507, f"device {device} does not exist")
        if grows and not self.has_room(device):
            raise HTTPError(507, f"device {device} is full: it keeps {self.reserve} free "
                                 f"(fallocate_reserve)")

    def has_room(self, device: str) -> bool:
        """Whether the device has room beyond its fallocate_reserve (a
        quick statfs, no disk access); a missing device is left to ``run``."""
        try:
            return self.reserve.allows(os.path.join(self.conf.devices, check_device(device)), 0)
        except OSError:
            return True

    def run(self, device: str, path: str, work: Callable[..., R], *args: Any,
            grows: bool = False) -> R:
        """``work(broker, *args)`` in one trip through ``offload`` (see the
        module doc); what it raises as an HTTP error. ``grows``: the work
        may make the database bigger, refused on a device past its reserve
        (what frees space, DELETE, never is)."""
        result: R = self.offload(self._run, device, path, work, args, grows)
        return result

    def _run(self, device: str, path: str, work: Callable[..., R], args: tuple[Any, ...],
             grows: bool) -> R:
        self._check_device(device, grows)
        broker = self.BROKER(path)
        try:
            return work(broker, *args)
        except DatabaseNotFound:
            raise HTTPError(404, "not found") from None
        except DatabaseLockTimeout as err:
            self.logger.warning("%s", err)
            raise HTTPError(503, "the database is busy; try again") from None
        except DatabaseError as err:
            self.logger.error("%s", err)
            raise HTTPError(500, f"database error: {err}") from None
        except OSError as err:
            if err.errno in _NO_SPACE:
                raise HTTPError(507, f"device {device} is full") from None
            raise
        finally:
            broker.close()

    def is_internal(self, account: str) -> bool:
        """An account made on first use (``auto_create_account_prefix``)."""
        prefix = self.conf.auto_create_account_prefix
        return bool(prefix) and account.startswith(prefix)

    # -- request headers -------------------------------------------------------

    def _is_metadata(self, lowered: str) -> bool:
        return lowered in self.META_HEADERS or lowered.startswith(self.META_PREFIXES)

    def request_metadata(self, request: Request,
                         timestamp: Timestamp) -> dict[str, tuple[str, str]]:
        """``{Name: (value, timestamp)}`` of the metadata the request sets."""
        found = headers_as_text(request, self._is_metadata)
        constraints.check_metadata(found, self.TARGET)
        return {canonical(name): (value, timestamp.internal) for name, value in found.items()}

    def policy_index(self, request: Request) -> int | None:
        """The request's X-Backend-Storage-Policy-Index, None if absent."""
        value = request.headers.get("X-Backend-Storage-Policy-Index")
        if value is None:
            return None
        try:
            index = int(value)
        except ValueError:
            raise HTTPError(400, f"invalid X-Backend-Storage-Policy-Index {value[:20]!r}") \
                from None
        if self.policies.by_index(index) is None:
            raise HTTPError(400, f"X-Backend-Storage-Policy-Index {index} is no storage policy "
                                 "of this cluster")
        return index

    @staticmethod
    def metadata_headers(metadata: Mapping[str, tuple[str, Timestamp]]) -> dict[str, str]:
        """Stored metadata as response headers."""
        return {text_to_wsgi(name): text_to_wsgi(value)
                for name, (value, _) in metadata.items() if value}

    # -- REPLICATE -------------------------------------------------------------

    def do_REPLICATE(self, request: Request) -> Response:
        """``REPLICATE /<device>/<partition>/<hash>``: the row-sync protocol
        of the database replicators.

        No body: the replication info as JSON. Otherwise a msgpack map
        whose ``op`` says what to do; the answer is msgpack:

        * ``sync`` (``remote_id``): this replica's info, plus ``sync_point``,
          the last of the sender's rows merged here (-1: none), so the
          sender pushes only what follows;
        * ``get_items`` (``since``, ``count``): rows changed after a row id;
        * ``merge_items`` (``items``, ``source_id``): rows merged
          last-writer-wins in one transaction, the sync point moved; 202;
        * ``merge_syncs`` (``points``): sync points the sender knows; 202;
        * ``merge_info`` (``put_timestamp``, ``delete_timestamp``,
          ``metadata``, any of them): the sender's, newest winning; 202.

        A database this node does not have is 404 (the replicator then
        sends the whole file); a malformed request is 400. A body of
        type ``application/vnd.sqlite3`` is a whole database
        (``_receive_database``)."""
        device, partition, name_hash = split_path(request, 3, 3)
        path = self.db_path(device, partition, name_hash)
        if request.content_type == db_transfer.DB_CONTENT_TYPE:
            return self._receive_database(request, device, name_hash, path)
        if not request.body:
            info = self.run(device, path, DatabaseBroker.get_replication_info)
            return respond(200, {"Content-Type": "application/json; charset=utf-8"},
                           json.dumps(info).encode("ascii"))
        op, args = _replicate_request(request.body)
        result = self.run(device, path, _REPLICATE_OPS[op], args, grows=op.startswith("merge_"))
        if result is None:
            return respond(202)
        return respond(200, {"Content-Type": "application/x-msgpack"},
                       msgpack.packb(result, use_bin_type=True))

    # -- REPLICATE of a whole database (objstore.common.db_transfer) ------------

    def _receive_database(self, request: Request, device: str, name_hash: str,
                          path: str) -> Response:
        """A whole database pushed by a replicator: 201 with the new
        replica's id (msgpack ``{"id": ...}``) when it became this replica,
        202 when it was merged into the one here."""
        length = header_int(request, "Content-Length")
        if length is None:
            raise HTTPError(411, "a database needs a Content-Length")
        if length <= 0:
            raise HTTPError(400, "an empty body is no database")
        etag = request.headers.get("ETag", "")
        if not etag:
            raise HTTPError(400, "a database needs an ETag (the MD5 of its bytes)")
        self.offload(self._check_device, device, True)

        def belongs(info: Mapping[str, Any]) -> bool:
            return self.hash_path(str(info.get("account", "")),
                                  info.get("container")) == name_hash

        try:
            installed = db_transfer.receive(request.environ["wsgi.input"], length, etag, path,
                                            self.BROKER, belongs, self.offload)
        except DatabaseLockTimeout as err:
            self.logger.warning("%s", err)
            raise HTTPError(503, "the database is busy; try again") from None
        except DatabaseError as err:
            self.logger.error("%s", err)
            raise HTTPError(500, f"database error: {err}") from None
        if installed is None:
            return respond(202)
        return respond(201, {"Content-Type": "application/x-msgpack"},
                       msgpack.packb({"id": installed}, use_bin_type=True))


def _replicate_request(body: bytes) -> tuple[str, dict[str, Any]]:
    try:
        message = msgpack.unpackb(body, raw=False)
    except (ValueError, msgpack.UnpackException):
        raise HTTPError(400, "REPLICATE body is not msgpack") from None
    if not isinstance(message, dict) or message.get("op") not in _REPLICATE_OPS:
        raise HTTPError(400, "REPLICATE op must be one of " + ", ".join(sorted(_REPLICATE_OPS)))
    return message["op"], message


def _checked(work: Callable[[DatabaseBroker, dict[str, Any]], Any]
             ) -> Callable[[DatabaseBroker, dict[str, Any]], Any]:
    """A REPLICATE op whose malformed arguments are 400, not 500."""
    def run(broker: DatabaseBroker, args: dict[str, Any]) -> Any:
        try:
            return work(broker, args)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise HTTPError(400, f"malformed REPLICATE {args.get('op')}: {err!r}") from None
    return run


@_checked
def _op_sync(broker: DatabaseBroker, args: dict[str, Any]) -> dict[str, Any]:
    return {**broker.get_replication_info(),
            "sync_point": broker.get_sync(str(args["remote_id"]))}


@_checked
def _op_get_items(broker: DatabaseBroker, args: dict[str, Any]) -> dict[str, Any]:
    count = int(args.get("count", 1000))
    if not 0 < count <= 100_000:
        raise ValueError("count must be 1 to 100000")
    return {"items": broker.get_items_since(int(args["since"]), count)}


@_checked
def _op_merge_items(broker: DatabaseBroker, args: dict[str, Any]) -> None:
    items = args["items"]
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ValueError("items must be a list of rows")
    source = args.get("source_id")
    broker.merge_items(items, str(source) if source is not None else None)


@_checked
def _op_merge_syncs(broker: DatabaseBroker, args: dict[str, Any]) -> None:
    points = args["points"]
    if not isinstance(points, list):
        raise ValueError("points must be a list")
    broker.merge_syncs(points)


@_checked
def _op_merge_info(broker: DatabaseBroker, args: dict[str, Any]) -> None:
    db_transfer.merge_replica_info(broker, args)


_REPLICATE_OPS: Final = {"sync": _op_sync, "get_items": _op_get_items,
                         "merge_items": _op_merge_items, "merge_syncs": _op_merge_syncs,
                         "merge_info": _op_merge_info}


def make_db_app(controller: type[DatabaseController], conf: DatabaseServerConfig,
                logger: logging.Logger,
                prepare: Callable[[Any], None] | None = None) -> WSGIApp:
    """A worker's app: the cluster file read (secret, policies), then the
    controller with its database work in real threads; ``prepare`` may
    finish setting the controller up (in the worker)."""
    cluster = install_cluster(conf.cluster_conf, logger)
    from objstore.common import concurrency  # eventlet only in workers

    built = controller(conf, logger, policies=cluster.policies,
                       offload=concurrency.run_blocking)
    if prepare is not None:
        prepare(built)
    return wsgi_app(built, logger)


@functools.lru_cache(maxsize=4096)
def _hash_path(hasher: PathHasher, account: str, container: str | None) -> str:
    # remembered: a busy container is named by every update to it, and an
    # MD5 with its encoding is ~7 us each time
    return hasher.hash_path(account, container)


__all__ = ["DatabaseController", "DatabaseServerConfig", "canonical", "check_device",
           "check_partition", "make_db_app", "respond"]
