"""The replicator's side of the database row-sync protocol: requests to peers.

Every request is ``REPLICATE /<device>/<partition>/<hash>`` to another
replica's server (at the ring's replication address); the server side is
``objstore.common.db_server`` (``do_REPLICATE``) and, for whole files,
``objstore.common.db_transfer``. Small requests carry a msgpack map with
an ``op``; a whole database goes as ``application/vnd.sqlite3`` with its
MD5 in ``ETag``.

``ReplicationClient`` turns each answer into a value or a ``PeerError``;
how the bytes travel is a ``Transport``: HTTP in a cluster
(``HttpTransport``), an app called in process in unit tests.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type hints

from objstore.common.db_transfer import DB_CONTENT_TYPE
from objstore.common.http_client import BackendConnection, BackendError, ConnectionPool, request
from objstore.common.peers import Peer, PeerError

FILE_CHUNK: Final = 1024 * 1024
MAX_ANSWER: Final = 64 * 1024 * 1024  # a get_items answer of 100,000 long rows fits


class Transport(Protocol):
    """How REPLICATE requests reach peers."""

    def replicate(self, peer: Peer, path: str, headers: Mapping[str, str],
                  body: bytes = b"", file_path: str | None = None) -> tuple[int, bytes]:
        """(status, body) of one request whose body is ``body``, or the
        whole file at ``file_path``; PeerError when there is no answer."""
        ...


class HttpTransport:
    """REPLICATE over ``http_client``; small requests on kept-alive sockets."""

    def __init__(self, conn_timeout: float, node_timeout: float) -> None:
        self.conn_timeout = conn_timeout
        self.node_timeout = node_timeout
        self.pool = ConnectionPool()

    def replicate(self, peer: Peer, path: str, headers: Mapping[str, str],
                  body: bytes = b"", file_path: str | None = None) -> tuple[int, bytes]:
        try:
            if file_path is None:
                status, _, answer = request(peer.ip, peer.port, "REPLICATE", path, headers, body,
                                            connect_timeout=self.conn_timeout,
                                            read_timeout=self.node_timeout, pool=self.pool)
                return status, answer
            return self._send_file(peer, path, headers, file_path)
        except BackendError as err:
            raise PeerError(peer, str(err)) from None

    def _send_file(self, peer: Peer, path: str, headers: Mapping[str, str],
                   file_path: str) -> tuple[int, bytes]:
        # A connection of its own: a long body must not meet a pooled
        # socket the server closed meanwhile. 100-continue: a peer that
        # refuses (a device gone, a bad path) says so before the body.
        with open(file_path, "rb") as handle, \
                BackendConnection(peer.ip, peer.port, connect_timeout=self.conn_timeout,
                                  read_timeout=self.node_timeout) as conn:
            conn.send_request("REPLICATE", path, headers, expect_continue=True,
                              body_length=os.fstat(handle.fileno()).st_size)
            if conn.wait_for_continue(self.node_timeout) == 100:
                while chunk := handle.read(FILE_CHUNK):
                    conn.send(chunk)
                conn.finish()
            response = conn.getresponse()
            return response.status, response.read(MAX_ANSWER)


def file_md5(path: str) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(FILE_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class ReplicationClient:
    """The protocol's requests, each answered or a ``PeerError``."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    @staticmethod
    def path(peer: Peer, partition: int, name_hash: str) -> str:
        return f"/{peer.device}/{partition}/{name_hash}"

    def _op(self, peer: Peer, partition: int, name_hash: str, op: str,
            **args: Any) -> tuple[int, Any]:
        body = msgpack.packb({"op": op, **args}, use_bin_type=True)
        status, answer = self.transport.replicate(
            peer, self.path(peer, partition, name_hash),
            {"Content-Type": "application/x-msgpack"}, body)
        if status == 404 and op == "sync":
            return status, None
        if not 200 <= status < 300:
            raise PeerError(peer, f"REPLICATE {op} answered {status}: {_reason(answer)}",
                            status)
        if status == 202 or not answer:
            return status, None
        try:
            return status, msgpack.unpackb(answer, raw=False)
        except (ValueError, msgpack.UnpackException):
            raise PeerError(peer, f"REPLICATE {op}: the answer is not msgpack", status) \
                from None

    def sync(self, peer: Peer, partition: int, name_hash: str,
             local_id: str) -> dict[str, Any] | None:
        """The peer's replication info and the last of our rows it has
        merged (``sync_point``); None when it has no such database."""
        _, answer = self._op(peer, partition, name_hash, "sync", remote_id=local_id)
        if answer is None:
            return None
        if not isinstance(answer, dict) or not {"id", "hash", "max_row", "sync_point",
                                                "row_count"} <= set(answer):
            raise PeerError(peer, "REPLICATE sync: the answer lacks the replication info", 200)
        return answer

    def merge_items(self, peer: Peer, partition: int, name_hash: str,
                    items: Sequence[Mapping[str, Any]], source_id: str) -> None:
        self._op(peer, partition, name_hash, "merge_items", items=list(items),
                 source_id=source_id)

    def merge_syncs(self, peer: Peer, partition: int, name_hash: str,
                    points: Sequence[Mapping[str, Any]]) -> None:
        self._op(peer, partition, name_hash, "merge_syncs", points=list(points))

    def merge_info(self, peer: Peer, partition: int, name_hash: str,
                   changes: Mapping[str, Any]) -> None:
        self._op(peer, partition, name_hash, "merge_info", **changes)

    def push_db(self, peer: Peer, partition: int, name_hash: str,
                file_path: str) -> str | None:
        """Send a whole database (a consistent copy); the id of the replica
        the peer made of it, or None when the peer merged it into the one
        it had."""
        headers = {"Content-Type": DB_CONTENT_TYPE, "ETag": file_md5(file_path)}
        status, answer = self.transport.replicate(
            peer, self.path(peer, partition, name_hash), headers, file_path=file_path)
        if status not in (201, 202):
            raise PeerError(peer, f"REPLICATE of the whole database answered {status}: "
                                  f"{_reason(answer)}", status)
        if status == 202:
            return None
        try:
            new_id = msgpack.unpackb(answer, raw=False)["id"]
        except (ValueError, TypeError, KeyError, msgpack.UnpackException):
            raise PeerError(peer, "REPLICATE of the whole database: 201 without the new "
                                  "replica's id", status) from None
        return str(new_id)


def _reason(answer: bytes) -> str:
    return answer[:200].decode("utf-8", "replace").strip() or "no reason given"
