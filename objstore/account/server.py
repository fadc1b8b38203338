"""The account server: each account's container listing and totals over HTTP.

    PUT|HEAD|GET|POST|DELETE /<device>/<partition>/<account>
    PUT                      /<device>/<partition>/<account>/<container>
    REPLICATE                /<device>/<partition>/<hash>

An account is one SQLite database (``AccountBroker``) at
``<device>/accounts/<partition>/<suffix>/<hash>/<hash>.db``, hash =
``hash_path(account)`` (see ``objstore.common.db_server``).

* ``PUT`` of the account (X-Timestamp required) creates it, 201, or moves
  its PUT timestamp, 202. An account that was deleted stays so until the
  reaper has removed it: a PUT is 403 with ``X-Account-Status: Deleted``
  (the proxy creates accounts; Swift answers the same).
* ``PUT`` of a container comes from container servers: X-Put-Timestamp,
  X-Delete-Timestamp, X-Object-Count, X-Bytes-Used and the container's
  X-Backend-Storage-Policy-Index, merged into the listing; 201, or 204
  when the report is of a deleted container. The account must exist
  and not be deleted (404; ``X-Account-Override-Deleted: yes`` lets the
  reaper report into a deleted one); an account whose name starts with
  ``auto_create_account_prefix`` is made on its first report.
* ``HEAD``/``GET``: X-Account-Container-Count, -Object-Count, -Bytes-Used,
  per storage policy ``X-Account-Storage-Policy-<Name>-Container-Count``,
  ``-Object-Count`` and ``-Bytes-Used``, X-Timestamp, X-PUT-Timestamp and
  the metadata; GET lists the containers (``objstore.common.listing``).
  HEAD is 204. A deleted account is 404 with ``X-Account-Status:
  Deleted``, a missing one plain 404.
* ``POST`` stores metadata, 204. ``DELETE`` marks the account deleted
  (its containers stay, for the reaper): 204 with ``X-Account-Status:
  Deleted``; 404 if it is deleted already, and 409 for a DELETE older
  than the account's PUT (the newer PUT wins).
* Metadata kept: ``X-Account-Meta-*``, ``X-Account-Sysmeta-*``,
  ``X-Account-Access-Control``.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any, Final

from objstore.account.broker import AccountBroker
from objstore.common import constraints
from objstore.common.config import option
from objstore.common.db import DatabaseAlreadyExists
from objstore.common.db_server import (
    DatabaseController, DatabaseServerConfig, make_db_app, respond,
)
from objstore.common.http import (
    HTTPError, Request, Response, WSGIApp, header_int, header_timestamp, split_path,
)
from objstore.common.listing import (
    ListingParams, account_body, listing_content_type, listing_params, listing_response,
)
from objstore.common.server import server_main
from objstore.common.timestamp import Timestamp

_DELETED: Final = {"X-Account-Status": "Deleted"}


@dataclasses.dataclass(frozen=True)
class AccountServerConfig(DatabaseServerConfig):
    bind_port: int = option(6202, "port to listen on", minimum=1, maximum=65535)


@dataclasses.dataclass(frozen=True)
class _Target:
    device: str
    partition: str
    account: str
    container: str | None
    path: str


@dataclasses.dataclass(frozen=True)
class _Report:
    """A container server's report of one container."""

    put_timestamp: Timestamp
    delete_timestamp: Timestamp
    object_count: int
    bytes_used: int
    policy_index: int
    override_deleted: bool
    timestamp: Timestamp  # the account's PUT timestamp, if the report makes it


class AccountController(DatabaseController):
    """Request -> Response for the accounts on one node's devices."""

    DB_DIR = "accounts"
    BROKER = AccountBroker
    TARGET = "account"
    META_PREFIXES = ("x-account-meta-", "x-account-sysmeta-")
    META_HEADERS = frozenset({"x-account-access-control"})
    METHODS = "PUT, HEAD, GET, POST, DELETE, REPLICATE"

    conf: AccountServerConfig

    def _target(self, request: Request, container_allowed: bool = False) -> _Target:
        device, partition, account, *rest = split_path(request, 3, 4)
        constraints.check_account_name(account)
        container = rest[0] if rest else None
        if container is not None:
            if not container_allowed:
                raise HTTPError(400, f"{request.method} is for accounts, not containers")
            constraints.check_container_name(container)
        path = self.db_path(device, partition, self.hash_path(account))
        return _Target(device, partition, account, container, path)

    # -- PUT -----------------------------------------------------------------

    def do_PUT(self, request: Request) -> Response:
        target = self._target(request, container_allowed=True)
        if target.container is not None:
            return self._put_container(request, target)
        timestamp = header_timestamp(request)
        metadata = self.request_metadata(request, timestamp)
        created = self.run(target.device, target.path, self._put_account, target, timestamp,
                           metadata, grows=True)
        return respond(201 if created else 202)

    @staticmethod
    def _put_account(broker: AccountBroker, target: _Target, timestamp: Timestamp,
                     metadata: dict[str, tuple[str, str]]) -> bool:
        created = False
        if not broker.exists():
            try:
                broker.initialize(timestamp, account=target.account)
                created = True
            except DatabaseAlreadyExists:
                pass  # made meanwhile by another request
        if not created:
            if broker.is_status_deleted():
                raise HTTPError(403, "the account was deleted recently", _DELETED)
            broker.update_put_timestamp(timestamp)
        if metadata:
            broker.update_metadata(metadata)
        return created

    def _put_container(self, request: Request, target: _Target) -> Response:
        report = _Report(
            put_timestamp=header_timestamp(request, "X-Put-Timestamp"),
            delete_timestamp=header_timestamp(request, "X-Delete-Timestamp"),
            object_count=_count(request, "X-Object-Count"),
            bytes_used=_count(request, "X-Bytes-Used"),
            policy_index=header_int(request, "X-Backend-Storage-Policy-Index", 0) or 0,
            override_deleted=request.headers.get("X-Account-Override-Deleted",
                                                 "").lower() == "yes",
            timestamp=(header_timestamp(request) if "X-Timestamp" in request.headers
                       else Timestamp.now()),
        )
        deleted = report.delete_timestamp > report.put_timestamp
        self.run(target.device, target.path, self._record_container, target, report,
                 grows=not deleted)
        return respond(204 if deleted else 201)

    def _record_container(self, broker: AccountBroker, target: _Target,
                          report: _Report) -> None:
        if not broker.exists():
            if not self.is_internal(target.account):
                raise HTTPError(404, f"account {target.account!r} does not exist")
            try:
                broker.initialize(report.timestamp, account=target.account)
            except DatabaseAlreadyExists:
                pass
        if not report.override_deleted and broker.is_status_deleted():
            raise HTTPError(404, f"account {target.account!r} is deleted", _DELETED)
        assert target.container is not None
        broker.put_container(target.container, report.put_timestamp, report.delete_timestamp,
                             report.object_count, report.bytes_used, report.policy_index)

    # -- HEAD / GET ----------------------------------------------------------

    def do_HEAD(self, request: Request) -> Response:
        return self.do_GET(request, head=True)

    def do_GET(self, request: Request, head: bool = False) -> Response:
        target = self._target(request)
        content_type = listing_content_type(request)
        params = None if head else listing_params(request, "account")
        headers, entries = self.run(target.device, target.path, self._read, params)
        if params is None:
            return respond(204, {**headers, "Content-Type": f"{content_type}; charset=utf-8"})
        return listing_response(account_body(entries, target.account, content_type),
                                content_type, headers)

    def _read(self, broker: AccountBroker, params: ListingParams | None
              ) -> tuple[dict[str, str], list[dict[str, Any]]]:
        if broker.is_status_deleted():
            raise HTTPError(404, "the account is deleted", _DELETED)
        info = broker.get_info()
        headers = {
            "X-Account-Container-Count": str(info["container_count"]),
            "X-Account-Object-Count": str(info["object_count"]),
            "X-Account-Bytes-Used": str(info["bytes_used"]),
            "X-Timestamp": info["created_at"].normal,
            "X-PUT-Timestamp": info["put_timestamp"].normal,
        }
        headers.update(self._policy_headers(broker.get_policy_stats()))
        headers.update(self.metadata_headers(broker.metadata))
        if params is None:
            return headers, []
        arguments = dataclasses.asdict(params)
        arguments.pop("path")  # an account has no pseudo-directories to walk
        return headers, [self._named_policy(entry)
                         for entry in broker.list_containers(**arguments)]

    def _named_policy(self, entry: dict[str, Any]) -> dict[str, Any]:
        """A listed container's policy by name, as Swift lists it (left
        out for an index this cluster no longer names)."""
        index = entry.pop("storage_policy_index", None)
        policy = None if index is None else self.policies.by_index(index)
        if policy is not None:
            entry["storage_policy"] = policy.name
        return entry

    def _policy_headers(self, stats: Mapping[int, Mapping[str, int]]) -> dict[str, str]:
        """``X-Account-Storage-Policy-<Name>-Container-Count`` and its kin,
        for each policy of the cluster that holds a container."""
        headers = {}
        for index, totals in stats.items():
            policy = self.policies.by_index(index)
            if policy is None:
                continue  # a policy this cluster no longer names
            for key, value in totals.items():
                name = key.replace("_", "-").title()
                headers[f"X-Account-Storage-Policy-{policy.name}-{name}"] = str(value)
        return headers

    # -- POST / DELETE -------------------------------------------------------

    def do_POST(self, request: Request) -> Response:
        timestamp = header_timestamp(request)
        target = self._target(request)
        metadata = self.request_metadata(request, timestamp)
        self.run(target.device, target.path, self._post, metadata, grows=True)
        return respond(204)

    @staticmethod
    def _post(broker: AccountBroker, metadata: dict[str, tuple[str, str]]) -> None:
        if broker.is_status_deleted():
            raise HTTPError(404, "the account is deleted", _DELETED)
        if metadata:
            broker.update_metadata(metadata)

    def do_DELETE(self, request: Request) -> Response:
        timestamp = header_timestamp(request)
        target = self._target(request)
        self.run(target.device, target.path, self._delete, timestamp)
        return respond(204, _DELETED)

    @staticmethod
    def _delete(broker: AccountBroker, timestamp: Timestamp) -> None:
        if broker.is_status_deleted():
            raise HTTPError(404, "the account is deleted already", _DELETED)
        broker.mark_deleted(timestamp)
        if not broker.is_status_deleted():
            put = broker.get_info()["put_timestamp"]
            raise HTTPError(409, f"X-Timestamp {timestamp.internal} is not newer than the "
                                 f"account's PUT {put.internal}")


def _count(request: Request, name: str) -> int:
    value = header_int(request, name)
    if value is None or value < 0:
        raise HTTPError(400, f"{name} is required: a whole number, 0 or more")
    return value


def make_app(conf: AccountServerConfig, logger: logging.Logger) -> WSGIApp:
    return make_db_app(AccountController, conf, logger)


def main() -> None:
    """``objstore-account-server <conf>``: section ``[app:account-server]``."""
    server_main("account-server", AccountServerConfig, make_app)
