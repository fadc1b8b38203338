"""The object server: objects over HTTP on one node's devices.

    PUT|GET|HEAD|POST|DELETE /<device>/<partition>/<account>/<container>/<object>

Backend requests come from proxies (and later replicators); they carry
``X-Timestamp`` (the only clock: a write older than what the device holds
is 409) and ``X-Backend-Storage-Policy-Index``. Every piece of bad input
is a 4xx with a reason: a malformed path or timestamp 400, bad UTF-8 412,
a missing length 411, an ETag that does not match the body 422, a client
that leaves mid-body 499. A missing device or a full one is 507.

Disk work goes through ``offload`` (``concurrency.run_blocking`` in a
real server) so a slow disk stalls only the requests that use it. A trip
there costs about 90 us of CPU, so each carries as much as it can: a
small request's whole disk work, or ``disk_chunk_size`` bytes of a big
body (PUT: written, with its MD5 and crc32s; GET: read and verified).
"""
from __future__ import annotations

import dataclasses
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type hints

from objstore.common import constraints, free_space
from objstore.common.config import option
from objstore.common.http import (
    HTTPError, Request, Response, WSGIApp, canonical_header, check_conditions, header_fields,
    header_int, header_timestamp, multipart_body, multipart_length, parse_ranges, read_body,
    split_path, wsgi_app,
)
from objstore.common.http_client import ConnectionPool
from objstore.common.named_nodes import NamedNode
from objstore.common.server import ServerConfig, install_cluster, server_main
from objstore.common.timestamp import Timestamp
from objstore.obj import expiring, hashes, put_footer, sync_receiver, updates
from objstore.obj.update_batches import Expected, UpdateBatcher
from objstore.obj.diskfile import DISK_CHUNK_SIZE, DiskFileManager, ObjectInfo
from objstore.obj.exceptions import (
    DiskFileDeleted, DiskFileError, DiskFileNotFound, DiskFileQuarantined,
)
from objstore.obj.integrity import CHUNK
from objstore.obj.layout import check_partition, data_dir
from ring.hashing import hash_path

R = TypeVar("R")

# Metadata a PUT keeps from the request, besides the prefixes below.
_KEPT_HEADERS = ("content-type", "content-encoding", "content-disposition", "content-language",
                 "x-delete-at", "x-object-manifest", "x-static-large-object", "cache-control",
                 "expires")
_KEPT_PREFIXES = ("x-object-meta-", "x-object-sysmeta-", "x-object-transient-sysmeta-")
_POST_PREFIXES = ("x-object-meta-", "x-object-transient-sysmeta-")
_INTERNAL = ("name", "x-objstore-")
_SUFFIX = re.compile(r"[0-9a-f]{3}")


@dataclasses.dataclass(frozen=True)
class ObjectServerConfig(ServerConfig):
    bind_port: int = option(6200, "port to listen on", minimum=1, maximum=65535)
    devices: str = option("/srv/node", "directory holding one directory (mount) per device")
    mount_check: bool = option(True, "refuse devices that are not mount points")
    reclaim_age: float = option(604800.0, "seconds tombstones are kept (a week)", minimum=0)
    network_chunk_size: int = option(1 << 20, "bytes read from a client at a time", minimum=1024)
    disk_chunk_size: int = option(DISK_CHUNK_SIZE,
                                  "bytes of a body per trip to the disk threads (PUT writes, "
                                  "GET reads, in whole 64 KiB chunks)", minimum=CHUNK)
    conn_timeout: float = option(0.5, "seconds to connect to a container server", minimum=0.01)
    node_timeout: float = option(3.0, "seconds a container server may take to answer",
                                 minimum=0.01)
    cluster_conf: str = option("/etc/objstore/objstore.conf",
                               "the cluster file: hash path secret and storage policies")
    fallocate_reserve: str = option("1%", "free space kept on each device: a new object that "
                                    "would leave less is refused 507 (bytes, or N%)")

    def __post_init__(self) -> None:
        free_space.Reserve.parse(self.fallocate_reserve)  # ValueError: a config error


Offload = Callable[..., Any]


def _inline(func: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    return func(*args, **kwargs)


class ObjectController:
    """Request -> Response for one node's devices."""

    def __init__(self, conf: ObjectServerConfig, logger: logging.Logger,
                 manager: Any = None, offload: Offload = _inline) -> None:
        self.conf = conf
        self.logger = logger
        self.manager = manager or DiskFileManager(
            conf.devices, mount_check=conf.mount_check, reclaim_age=conf.reclaim_age,
            disk_chunk_size=conf.disk_chunk_size,
            reserve=free_space.Reserve.parse(conf.fallocate_reserve))
        self.offload = offload
        # to the container servers: kept-alive sockets, concurrent updates batched
        self.updates = UpdateBatcher(connect_timeout=conf.conn_timeout,
                                     read_timeout=conf.node_timeout, pool=ConnectionPool())

    def __call__(self, request: Request) -> Response:
        handler = getattr(self, "do_" + request.method, None)
        if handler is None:
            raise HTTPError(405, f"{request.method} is not supported",
                            {"Allow": "PUT, GET, HEAD, POST, DELETE, REPLICATE, SYNC"})
        try:
            return handler(request)  # type: ignore[no-any-return]
        except DiskFileError as err:
            raise HTTPError(err.status, str(err)) from None

    def _names(self, request: Request) -> tuple[tuple[str, str, str, str, str], int]:
        """(device, partition, account, container, object) and the policy."""
        device, partition, account, container, obj = split_path(request, 5, 5, rest=True)
        try:
            constraints.check_object_name(obj)
        except constraints.ConstraintError as err:
            raise HTTPError(err.status, err.reason) from None
        policy = header_int(request, "X-Backend-Storage-Policy-Index", 0) or 0
        return (device, partition, account, container, obj), policy

    def _locate(self, request: Request) -> tuple[Any, ObjectInfo | None, Timestamp | None,
                                                  tuple[str, str, str]]:
        """The object's diskfile, current state and newest timestamp, found
        in one trip to the disk thread pool."""
        names, policy = self._names(request)
        diskfile, info, newest = self.offload(_locate_job, self.manager, names, policy)
        return diskfile, info, newest, (names[2], names[3], names[4])

    # -- PUT ---------------------------------------------------------------

    def do_PUT(self, request: Request) -> Response:
        timestamp = header_timestamp(request)
        names, policy = self._names(request)
        account, container, obj = names[2:]
        chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        footed = _footed_length(request)
        fields = header_fields(request)
        try:
            created = constraints.check_object_creation(
                request.headers.get("Content-Length") if footed is None else str(footed),
                chunked, fields, obj, now=time.time())
        except constraints.ConstraintError as err:
            raise HTTPError(err.status, err.reason) from None
        metadata = self._put_metadata(fields, timestamp, f"/{account}/{container}/{obj}")
        if created.delete_at is not None:
            metadata["X-Delete-At"] = str(created.delete_at)
        length = created.content_length
        sent_etag = request.headers.get("ETag", "").strip('"').lower()
        nodes = updates.container_nodes(fields)
        announced: list[Expected] = []
        if length is not None and length <= self.conf.disk_chunk_size and footed is None \
                and "If-None-Match" not in request.headers:
            # the body first, then all disk work (the checks too) in one trip
            body = read_body(request, length)
            announced, (diskfile, size, etag, old_delete_at) = self._announced_trip(
                nodes, (account, container, obj),
                _locate_and_store_job, self.manager, names, policy, body, metadata, sent_etag)
        else:
            # the checks and the writer in one trip; the footer's check and
            # the commit in another
            diskfile, current, writer = self.offload(
                _locate_and_create_job, self.manager, names, policy, timestamp, length,
                footed is None, _exclusive(request))
            old_delete_at = _delete_at(current)
            with writer:
                if footed is not None:
                    _confirm_footer(request)
                self._receive(request, writer, length)
                footer = None if footed is None else \
                    read_body(request, put_footer.footer_length(footed))
                announced, _ = self._announced_trip(
                    nodes, (account, container, obj),
                    _finish_job, writer, footer, sent_etag, metadata)
            size, etag = writer.size, writer.etag
        metadata.update({"Content-Length": size, "ETag": etag})
        self._update_container(request, diskfile, "PUT", timestamp, metadata,
                               (account, container, obj), nodes, announced)
        if created.delete_at is not None or old_delete_at is not None:
            self._update_queue(request, diskfile, timestamp, (account, container, obj),
                               old_delete_at, created.delete_at)
        return Response(status=201, headers={"ETag": etag}, content_type=None, charset=None)

    def _announced_trip(self, nodes: list[NamedNode], names: tuple[str, str, str],
                        job: Callable[..., R], *args: Any) -> tuple[list[Expected], R]:
        """A write's one disk trip (``job``), with the container updates (to
        ``nodes``) it will send afterwards announced first, so that others
        about to go wait for them (update_batches); settled at once if the
        trip fails."""
        announced = [self.updates.expect(node, names[0], names[1]) for node in nodes]
        try:
            return announced, self.offload(job, *args)
        except BaseException:
            _settle(announced)
            raise

    def _update_container(self, request: Request, diskfile: Any, op: str,
                          timestamp: Timestamp, metadata: dict[str, Any],
                          names: tuple[str, str, str], nodes: list[NamedNode],
                          announced: list[Expected] | None = None) -> None:
        """Tell the container replicas the request names (``nodes``;
        ``announced``: the announcements made for them, in order); what
        fails is kept as an async pending for the updater (see updates.py)."""
        policy = header_int(request, "X-Backend-Storage-Policy-Index", 0) or 0
        headers = updates.update_headers(op, timestamp, metadata, policy,
                                         request.headers.get("X-Trans-Id"))
        try:
            for number, node in enumerate(nodes):
                # green I/O on a kept-alive socket: no disk-thread trip, no connect
                expected = announced[number] if announced else None
                if self.updates.send(node, op, *names, headers, expected):
                    continue
                self.logger.warning("container update to %s:%d/%s failed; saved for the "
                                    "updater", node.host, node.port, node.device)
                self.offload(updates.write_async_pending, diskfile.device_path, policy,
                             diskfile.name_hash, timestamp, op, *names, headers)
        finally:
            _settle(announced or [])  # whatever went wrong, nobody waits for these

    def _update_queue(self, request: Request, diskfile: Any, timestamp: Timestamp,
                      names: tuple[str, str, str], old: int | None, new: int | None) -> None:
        """The expirer's queue after a write (see expiring.py): a row for the
        new X-Delete-At, on the replica the proxy named; the row of a
        replaced one removed. That removal is always left to the object
        updater as an async pending: the proxy cannot know the old time, so
        names no replica of its queue container (the updater finds them on
        the ring), and a row left a while only costs the expirer a 412."""
        trans_id = request.headers.get("X-Trans-Id")
        headers = expiring.row_headers(timestamp, trans_id)
        if new is not None:
            container, nodes = expiring.queue_nodes(request.headers)
            row = expiring.queue_object(new, *names)
            for node in nodes:
                if self.updates.send(node, "PUT", expiring.QUEUE_ACCOUNT, container, row,
                                     headers):
                    continue
                self.logger.warning("expirer queue update to %s:%d/%s failed; saved for the "
                                    "updater", node.host, node.port, node.device)
                self._queue_pending(diskfile, timestamp, "PUT", container, row, headers)
        if old is not None and old != new:
            self._queue_pending(diskfile, timestamp, "DELETE", expiring.queue_container(old),
                                expiring.queue_object(old, *names), headers)

    def _queue_pending(self, diskfile: Any, timestamp: Timestamp, op: str, container: str,
                       row: str, headers: dict[str, str]) -> None:
        # named by the row's own hash: the updater keeps one record per hash,
        # which must not be the object's container update
        name_hash = hash_path(expiring.QUEUE_ACCOUNT, container, row)
        self.offload(updates.write_async_pending, diskfile.device_path, 0, name_hash,
                     timestamp, op, expiring.QUEUE_ACCOUNT, container, row, headers)

    def _receive(self, request: Request, writer: Any, length: int | None) -> None:
        """Gather the body's network reads into batches of about
        ``disk_chunk_size``, each written (and hashed) in one disk trip;
        hashing there also runs beside the hub, since hashlib and zlib
        let go of the GIL on big buffers."""
        if length is not None and writer.receives_in_place:
            self._receive_in_place(request, writer, length)
            return
        batch: list[bytes] = []
        batched = 0
        for chunk in self._body_chunks(request, length):
            batch.append(chunk)
            batched += len(chunk)
            if batched >= self.conf.disk_chunk_size:
                self.offload(_write_job, writer, batch)
                batch, batched = [], 0
        if batch:
            self.offload(_write_job, writer, batch)

    def _receive_in_place(self, request: Request, writer: Any, length: int) -> None:
        """A big body of known length read straight into the writer's
        buffer, one disk trip (hashing and writing) per buffer filled."""
        source = request.environ["wsgi.input"]
        received = 0
        while received < length:
            with writer.receive_space() as space:
                want = min(len(space), length - received)
                with space[:want] as target:
                    _fill(source, target, received, length)
            received += want
            self.offload(writer.received, want)

    def _body_chunks(self, request: Request, length: int | None) -> Iterator[bytes]:
        source = request.environ["wsgi.input"]
        chunk_size = self.conf.network_chunk_size
        received = 0
        while length is None or received < length:
            want = chunk_size if length is None else min(chunk_size, length - received)
            try:
                chunk = source.read(want)
            except (OSError, ValueError):
                raise HTTPError(499, "client disconnected while sending the body") from None
            if not chunk:
                break
            received += len(chunk)
            yield chunk
        if length is not None and received < length:
            raise HTTPError(499, f"body ended after {received} of {length} bytes")

    @staticmethod
    def _put_metadata(fields: Mapping[str, str], timestamp: Timestamp, name: str
                      ) -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": name, "X-Timestamp": timestamp.internal}
        for key, value in fields.items():
            lowered = key.lower()
            if lowered in _KEPT_HEADERS or lowered.startswith(_KEPT_PREFIXES):
                metadata[canonical_header(key)] = value
        metadata.setdefault("Content-Type", "application/octet-stream")
        return metadata

    # -- GET / HEAD ----------------------------------------------------------

    def do_HEAD(self, request: Request) -> Response:
        return self.do_GET(request, head=True)

    def do_GET(self, request: Request, head: bool = False) -> Response:
        names, policy = self._names(request)
        whole = not head and "Range" not in request.headers
        try:
            diskfile, info, first, rest = self.offload(
                _fetch_job, self.manager, names, policy, time.time(), whole)
        except DiskFileDeleted as gone:
            raise HTTPError(404, "deleted", {"X-Backend-Timestamp": gone.timestamp.internal})
        except DiskFileNotFound:
            raise HTTPError(404, "not found") from None
        except DiskFileQuarantined as err:
            raise HTTPError(404, str(err)) from None  # gone from here; other replicas serve
        response = Response(headers=self._object_headers(info), content_type=None, charset=None)
        status = check_conditions(request, info.etag, info.data_timestamp)
        if status:
            if rest is not None:
                rest.close()
            response.status = status
            response.headers["Content-Length"] = "0"
            return response
        ranges = parse_ranges(request.headers.get("Range"), info.content_length)
        # webob's app_iter setter drops Content-Length: set the body first.
        if ranges is None:
            if whole:
                response.app_iter = self._continue(diskfile, first, rest)
            elif not head:
                response.app_iter = self._stream(diskfile, info, 0, info.content_length)
            response.headers["Content-Length"] = str(info.content_length)
            return response
        response.status = 206
        if len(ranges) == 1:
            start, end = ranges[0]
            if not head:
                response.app_iter = self._stream(diskfile, info, start, end)
            response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{info.content_length}"
            response.headers["Content-Length"] = str(end - start)
            return response
        boundary = uuid.uuid4().hex
        content_type = response.headers["Content-Type"]
        if not head:
            parts = ((s, e, self._stream(diskfile, info, s, e)) for s, e in ranges)
            response.app_iter = multipart_body(parts, info.content_length, content_type,
                                               boundary)
        response.headers["Content-Type"] = f"multipart/byteranges;boundary={boundary}"
        response.headers["Content-Length"] = str(
            multipart_length(ranges, info.content_length, content_type, boundary))
        return response

    def _stream(self, diskfile: Any, info: ObjectInfo, start: int, end: int) -> Iterator[bytes]:
        """Verified bytes; on corruption the response is cut short and the
        file is gone (see ``_continue``)."""
        return self._continue(diskfile, [], diskfile.read(info, start, end))

    def _continue(self, diskfile: Any, first: list[bytes],
                  chunks: Iterator[bytes] | None) -> Iterator[bytes]:
        """What ``_fetch_job`` read already, then the rest, one disk trip
        per piece (``disk_chunk_size``, verified in the trip).

        A bad chunk is raised, not just ended on: the WSGI server then
        drops the connection, so the client (a proxy, which resumes from
        another replica) learns at once that the body is short instead
        of waiting out its read timeout on a kept-alive connection."""
        yield from first
        if chunks is None:
            return
        while True:
            try:
                chunk = self.offload(next, chunks, None)
            except DiskFileError as err:
                self.logger.error("stopped serving %s: %s", diskfile.name, err)
                raise
            if chunk is None:
                return
            yield chunk

    @staticmethod
    def _object_headers(info: ObjectInfo) -> dict[str, str]:
        headers = {
            canonical_header(k): str(v) for k, v in info.metadata.items()
            if not k.lower().startswith(_INTERNAL) and k not in ("X-Timestamp", "Content-Length")
        }
        headers.update({
            "ETag": info.etag,
            "Last-Modified": info.timestamp.http_date,
            "X-Timestamp": info.data_timestamp.normal,
            "X-Backend-Timestamp": info.timestamp.internal,
            "X-Backend-Data-Timestamp": info.data_timestamp.internal,
            "Accept-Ranges": "bytes",
        })
        return headers

    # -- POST / DELETE -------------------------------------------------------

    def do_POST(self, request: Request) -> Response:
        timestamp = header_timestamp(request)
        diskfile, info, _, names = self._locate(request)
        now = time.time()
        try:
            constraints.check_metadata(request.headers, "object")
            delete_at = constraints.check_delete_headers(request.headers, now)
        except constraints.ConstraintError as err:
            raise HTTPError(err.status, err.reason) from None
        expiry = None if info is None else info.metadata.get("X-Delete-At")
        if info is None or expiry is not None and int(expiry) <= now:
            # an expired object is gone: a POST must not bring it back
            raise HTTPError(404, "not found")
        if info.timestamp >= timestamp:
            raise HTTPError(409, f"X-Timestamp {timestamp.internal} is not newer than "
                                 f"{info.timestamp.internal}")
        metadata = {canonical_header(k): v for k, v in request.headers.items()
                    if k.lower().startswith(_POST_PREFIXES)}
        if "Content-Type" in request.headers:
            metadata["Content-Type"] = request.headers["Content-Type"]
        if delete_at is not None:
            metadata["X-Delete-At"] = str(delete_at)
        self.offload(diskfile.post, timestamp, metadata)
        old_delete_at = _delete_at(info)
        if delete_at is not None or old_delete_at is not None:
            # a POST replaces the metadata: without X-Delete-At it clears it
            self._update_queue(request, diskfile, timestamp, names, old_delete_at, delete_at)
        return Response(status=202, content_type=None, charset=None)

    def do_REPLICATE(self, request: Request) -> Response:
        """``REPLICATE /<device>/<partition>[/<suffix>-<suffix>...]``: the
        partition's suffix hashes (msgpack map), recomputing those named."""
        parts = split_path(request, 2, 3)
        device, partition = parts[0], parts[1]
        recalculate = parts[2].split("-") if len(parts) == 3 and parts[2] else []
        if any(not _SUFFIX.fullmatch(suffix) for suffix in recalculate):
            raise HTTPError(400, "suffixes are three hex digits, joined by '-'")
        policy = header_int(request, "X-Backend-Storage-Policy-Index", 0) or 0
        device_path = self.offload(self.manager.device_path, device)
        partition_dir = os.path.join(device_path, data_dir(policy),
                                     str(check_partition(partition)))
        found = self.offload(hashes.get_hashes, partition_dir, self.conf.reclaim_age,
                             recalculate)
        return Response(body=msgpack.packb(found), content_type="application/x-msgpack",
                        charset=None)

    def do_SYNC(self, request: Request) -> Response:
        """``SYNC /<device>/<partition>``: the replicator's offers and pushes
        (``sync_protocol``; handled by ``sync_receiver``)."""
        return sync_receiver.handle_sync(request, self.manager, self.offload,
                                         self.conf.reclaim_age)

    def do_DELETE(self, request: Request) -> Response:
        timestamp = header_timestamp(request)
        found, policy = self._names(request)
        names = (found[2], found[3], found[4])
        nodes = updates.container_nodes(request.headers)
        announced, (diskfile, info) = self._announced_trip(
            nodes, names, _locate_and_delete_job, self.manager, found, policy, timestamp,
            request.headers.get("X-If-Delete-At"))
        self._update_container(request, diskfile, "DELETE", timestamp, {}, names, nodes,
                               announced)
        old_delete_at = _delete_at(info)
        if old_delete_at is not None and \
                request.headers.get(expiring.CLEAN_QUEUE, "").lower() != "false":
            self._update_queue(request, diskfile, timestamp, names, old_delete_at, None)
        # A tombstone is written even for a missing object: it orders this
        # delete against a PUT that may still be on its way.
        return Response(status=204 if info is not None else 404, content_type=None,
                        charset=None)


# Disk jobs: each runs whole in one trip to the disk thread pool (a trip
# costs about 90 us of CPU, a good share of a small request).

def _exclusive(request: Request) -> bool:
    """Whether a PUT says ``If-None-Match: *`` (never overwrite: 412 if the
    object exists). Other values mean nothing to a PUT: 400."""
    value = request.headers.get("If-None-Match")
    if value is not None and value.strip() != "*":
        raise HTTPError(400, "If-None-Match on a PUT takes only *")
    return value is not None


def _locate_and_create_job(manager: Any, names: tuple[str, ...], policy: int,
                           timestamp: Timestamp, length: int | None, hashed: bool,
                           exclusive: bool) -> tuple[Any, ObjectInfo | None, Any]:
    """A streamed PUT's checks and its writer in one trip: 412 when
    ``exclusive`` and the object exists, 409 unless ``timestamp`` is newer
    than what the device holds. Also the object it replaces."""
    diskfile, current, newest = _locate_job(manager, names, policy)
    if exclusive and current is not None:
        raise HTTPError(412, "the object exists (If-None-Match: *)")
    _check_newer(timestamp, newest)
    return diskfile, current, diskfile.create(length, hashed)


def _finish_job(writer: Any, footer: bytes | None, sent_etag: str,
                metadata: dict[str, Any]) -> None:
    """A streamed PUT's last trip: the proxy's ``footer`` checked (its MD5
    is then the ETag), the client's ETag checked, and the commit. (The
    body's last piece is written in a trip of its own, before the footer
    is awaited: the proxy sends it once it has hashed that piece, and
    meanwhile the disk works; 4 MiB PUTs ran 17% slower with the two
    trips as one.)"""
    if footer is not None:
        try:
            writer.given_etag = put_footer.verified_md5(footer, writer.sums)
        except put_footer.FooterError as err:
            raise HTTPError(422, str(err)) from None
    _check_etag(sent_etag, writer.etag)
    writer.commit(metadata)


def _fill(source: Any, target: memoryview, before: int, length: int) -> None:
    """``target`` filled from the request body ``source`` (``before`` of its
    ``length`` bytes came earlier); 499 when the client stops short."""
    got = 0
    while got < len(target):
        with target[got:] as rest:
            try:
                count = source.readinto(rest)
            except (OSError, ValueError):
                raise HTTPError(499, "client disconnected while sending the body") from None
        if not count:
            raise HTTPError(499, f"body ended after {before + got} of {length} bytes")
        got += count


def _locate_job(manager: Any, names: tuple[str, ...], policy: int
                ) -> tuple[Any, ObjectInfo | None, Timestamp | None]:
    diskfile = manager.get(*names, policy)
    try:
        info = diskfile.open()
    except DiskFileDeleted as gone:
        return diskfile, None, gone.timestamp
    except DiskFileNotFound:
        return diskfile, None, None
    return diskfile, info, info.timestamp


def _delete_at(info: ObjectInfo | None) -> int | None:
    """The X-Delete-At an object holds (None for none, or a damaged one)."""
    value = None if info is None else info.metadata.get("X-Delete-At")
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


def _fetch_job(manager: Any, names: tuple[str, ...], policy: int, now: float, whole: bool
               ) -> tuple[Any, ObjectInfo, list[bytes], Iterator[bytes] | None]:
    """Open the object and, for a whole-object GET, read its first piece
    (all of an object up to ``disk_chunk_size``) so the response may need
    no further trip."""
    diskfile = manager.get(*names, policy)
    info = diskfile.open(now)
    if not whole:
        return diskfile, info, [], None
    chunks = diskfile.read(info)
    first = next(chunks, b"")
    if len(first) < info.content_length:
        return diskfile, info, [first], chunks
    chunks.close()  # closes the file now, not when the generator is collected
    return diskfile, info, [first] if first else [], None


def _write_job(writer: Any, chunks: list[bytes]) -> None:
    for chunk in chunks:
        writer.write(chunk)


def _locate_and_store_job(manager: Any, names: tuple[str, ...], policy: int, body: bytes,
                          metadata: dict[str, Any], sent_etag: str
                          ) -> tuple[Any, int, str, int | None]:
    """A body held whole, stored unless the device holds a newer write:
    written, checked against the ETag the client sent (422 leaves nothing
    behind) and made durable, all in one trip. Also the X-Delete-At of the
    object it replaced (read anyway, to find the newest timestamp)."""
    diskfile, current, newest = _locate_job(manager, names, policy)
    _check_newer(Timestamp(metadata["X-Timestamp"]), newest)
    with diskfile.create(len(body)) as writer:
        writer.write(body)
        _check_etag(sent_etag, writer.etag)
        writer.commit(metadata)
    return diskfile, writer.size, writer.etag, _delete_at(current)


def _locate_and_delete_job(manager: Any, names: tuple[str, ...], policy: int,
                           timestamp: Timestamp, if_delete_at: str | None
                           ) -> tuple[Any, ObjectInfo | None]:
    """A DELETE's checks and tombstone in one trip: 409 unless it is newer
    than what the device holds, 412 when ``X-If-Delete-At`` (the expirer's)
    is not the object's X-Delete-At."""
    diskfile, info, newest = _locate_job(manager, names, policy)
    _check_newer(timestamp, newest)
    if if_delete_at is not None and (info is None or
                                     str(info.metadata.get("X-Delete-At")) != if_delete_at):
        raise HTTPError(412, "X-If-Delete-At does not match the object's X-Delete-At")
    diskfile.delete(timestamp)
    return diskfile, info


def _settle(announced: list[Expected]) -> None:
    for expected in announced:
        expected.settle()


def _check_newer(timestamp: Timestamp, newest: Timestamp | None) -> None:
    if newest is not None and newest >= timestamp:
        raise HTTPError(409, f"X-Timestamp {timestamp.internal} is not newer than "
                             f"{newest.internal}", {"X-Backend-Timestamp": newest.internal})


def _footed_length(request: Request) -> int | None:
    """The object's size when the proxy sends its MD5 after the body
    (put_footer.py); None for a plain body."""
    wire = request.headers.get("Content-Length")
    try:
        return put_footer.object_length(request.headers,
                                        int(wire) if wire and wire.isdigit() else None)
    except put_footer.FooterError as err:
        raise HTTPError(400, str(err)) from None


def _confirm_footer(request: Request) -> None:
    """Tell the proxy, on the 100 Continue, that a footer will be read."""
    source = request.environ["wsgi.input"]
    if hasattr(source, "set_hundred_continue_response_headers"):
        source.set_hundred_continue_response_headers(
            [(put_footer.CONFIRM_HEADER, put_footer.CONFIRM_VALUE)])


def _check_etag(sent: str, etag: str) -> None:
    if sent and sent != etag:
        raise HTTPError(422, f"body MD5 {etag} does not match ETag {sent}")


def make_app(conf: ObjectServerConfig, logger: logging.Logger) -> WSGIApp:
    install_cluster(conf.cluster_conf, logger)
    from objstore.common import concurrency

    controller = ObjectController(conf, logger, offload=concurrency.run_blocking)
    return wsgi_app(controller, logger)


def main() -> None:
    """``objstore-object-server <conf>``: section ``[app:object-server]``."""
    server_main("object-server", ObjectServerConfig, make_app)
