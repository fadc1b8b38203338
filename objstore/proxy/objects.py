"""Object requests in the proxy: streamed to every replica, read from one.

* PUT connects to every replica at once (``Expect: 100-continue``; a node
  that cannot take it is replaced by a handoff), streams the body to all
  that said continue, and answers by quorum: 201 once a majority stored
  it. Each replica is told which container replica to update. A client
  that stops early (499) or a quorum lost mid-body (503) stores nothing.
* GET tries replicas one at a time; a 404 moves on (that replica may not
  have it yet). If a replica fails mid-body, the rest of the body comes
  from the next replica with a Range for what is left, pinned to the
  same ETag with If-Match, so the client gets one whole, correct body.
* POST and DELETE go to every replica, answered by quorum.
"""
from __future__ import annotations

import itertools
import mimetypes
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from objstore.common import concurrency, constraints
from objstore.common.config import is_true
from objstore.common.http import HTTPError, Request, Response, header_fields, read_body
from objstore.common.http_client import BackendConnection, BackendError, BackendResponse
from objstore.common.kept_buffers import KeptBuffers
from objstore.common.named_nodes import NamedNode, named_nodes, nodes_headers
from objstore.common.request_body import read_into
from objstore.common.timestamp import Timestamp
from objstore.obj import expiring, put_footer, updates
from objstore.obj.integrity import ChecksumWriter
from objstore.proxy.backend import _take, strip_backend
from objstore.proxy.controllers import (
    Controller, account_info, container_info, from_quorum, passed_headers, read, respond,
    trans_headers, wants_newest,
)
from objstore.proxy.nodes import node_iter
from objstore.proxy.quorum import best_status, quorum_size
from objstore.proxy.update_pairing import pairing
from ring.devices import Device

if TYPE_CHECKING:
    from objstore.proxy.server import ProxyApp

OBJECT_HEADERS = ("x-object-meta-", "x-remove-object-meta-")
OBJECT_SETTINGS = ("content-encoding", "content-disposition", "content-language",
                   "cache-control", "expires", "x-object-manifest", "etag")
FORWARDED_ON_READ = ("range", "if-match", "if-none-match", "if-modified-since",
                     "if-unmodified-since")
# A PUT body goes on in pieces of this size: a 64 MiB PUT is 16 trips
# through the hub's loop (and 16 hashings handed to a thread) instead of
# 64, 10 ms less proxy CPU (2 and 8 MiB do worse).
CHUNK = 4 << 20
# ...but a piece goes on once it has waited this long for a slow client:
# the object servers must hear from us well within their client_timeout
# (a full 4 MiB from a client at 60 KB/s would take over a minute).
PIECE_WAIT = 1.0
READ_STEP = 1 << 20  # a piece's reads, the wait checked between them
# a PUT body up to this size is read whole before any replica is asked
SMALL_BODY = 65536
# How long a write's answer waits for the container updates of a replica
# slot that failed (_tell_missed_containers); they go on after it
CATCH_UP_WAIT = 1.0
# Piece buffers of finished PUTs, kept for the next ones (at most 32 MiB a worker)
_pieces = KeptBuffers(CHUNK, 8)
# environ key: the sysmeta of the object a GET or HEAD answered with (show_sysmeta)
OBJECT_SYSMETA = "objstore.object_sysmeta"


class PutTarget(NamedTuple):
    """A streamed PUT's open request to one object server, standing in
    for replica slot ``slot`` (a handoff takes its slot's place)."""
    node: Device
    conn: BackendConnection
    slot: int


class ObjectController(Controller):
    KIND = "objects"

    def __init__(self, app: ProxyApp, account: str, container: str, obj: str) -> None:
        self.app = app
        self.account, self.container, self.obj = account, container, obj
        self.path = f"/{account}/{container}/{obj}"

    def handle(self, request: Request) -> Response:
        handler = self.handler(request)
        info = container_info(self.app, request, self.account, self.container)
        self.app.authorize(request, self.account, self.container, self.obj,
                           container_info=info or {}, account_info=self._account_acl(request))
        if info is None:
            raise HTTPError(404, "no such container")
        policy = info["policy"]
        ring = self.app.rings.objects.get(policy)
        if ring is None:
            raise HTTPError(503, f"this proxy has no ring for storage policy {policy}")
        self.ring, self.policy = ring, policy
        request.environ["objstore.policy_index"] = str(policy)  # for the access log
        self.part = ring.get_part(self.account, self.container, self.obj)
        return handler(request)

    def _base_headers(self, request: Request) -> dict[str, str]:
        return {**trans_headers(request), "X-Backend-Storage-Policy-Index": str(self.policy)}

    def _container_headers(self, degraded: bool) -> list[dict[str, str]]:
        """For each replica slot of the object, the container replica its
        object server tells (update_pairing.py). ``degraded``: fewer
        object servers can take the write than it has replicas, so some
        slot will fail and its container replica would not hear of the
        write: every slot then names every replica (its own first)."""
        ring = self.app.rings.container
        part, nodes = ring.get_nodes(self.account, self.container)
        if not nodes:
            return []
        paired = pairing(self.ring.get_part_nodes(self.part), nodes)
        return [_named_replicas("Container", nodes, index, part, degraded) for index in paired]

    def _short_of_nodes(self) -> bool:
        """Whether fewer object servers can take a write now than it has
        replicas (see ``_container_headers``)."""
        return self.app.backend.reachable(self.ring, self.part) < \
            len(self.ring.get_part_nodes(self.part))

    def _queue_headers(self, delete_at: str | None, degraded: bool = False
                       ) -> list[dict[str, str]]:
        """For a write that sets X-Delete-At: the expirer queue container's
        replicas, one per object server (spread as container updates are);
        ``degraded``: all of them to each, its own first (the expirer lists
        one replica, which must not miss the row while replication has yet
        to bring it; see _container_headers)."""
        if delete_at is None:
            return []
        container = expiring.queue_container(int(delete_at))
        part, nodes = self.app.rings.container.get_nodes(expiring.QUEUE_ACCOUNT, container)
        return [{**_named_replicas("Delete-At", nodes, index, part, degraded),
                 "X-Delete-At-Container": container} for index in range(len(nodes))]

    # -- PUT ---------------------------------------------------------------------

    def do_PUT(self, request: Request) -> Response:
        _client_content_type(request)
        chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        fields = header_fields(request)
        try:
            created = constraints.check_object_creation(
                request.headers.get("Content-Length"), chunked,
                {**fields, "Content-Type": request.headers.get("Content-Type")
                 or "application/octet-stream"}, self.obj, now=time.time())
        except constraints.ConstraintError as err:
            raise HTTPError(err.status, err.reason) from None
        if_none_match = request.headers.get("If-None-Match")
        if if_none_match is not None and if_none_match.strip() != "*":
            raise HTTPError(400, "If-None-Match on a PUT takes only *")
        headers = {**self._base_headers(request), "X-Timestamp": Timestamp.now().internal,
                   **({"If-None-Match": "*"} if if_none_match is not None else {}),
                   "Content-Type": self._content_type(request),
                   **passed_headers(request, OBJECT_HEADERS, OBJECT_SETTINGS, fields)}
        if created.delete_at is not None:
            headers["X-Delete-At"] = str(created.delete_at)
        # What a filter stores that no client may set (sysmeta, X-Static-Large-Object):
        # an environ key, which no request header can reach.
        headers.update(request.environ.get("objstore.backend_headers") or {})
        length = created.content_length
        if length is not None and length <= SMALL_BODY:
            return self._put_small(request, headers, length)
        footed = length is not None and length >= put_footer.MIN_LENGTH
        if footed:
            headers[put_footer.LENGTH_HEADER] = str(length)
        degraded = self._short_of_nodes()
        conns, early = self._connect(headers, length, footed, degraded)
        replicas = len(self.ring.get_part_nodes(self.part))
        try:
            if len(conns) < quorum_size(replicas):
                status = best_status(early + [503] * (replicas - len(early)), replicas)
                raise HTTPError(status if status >= 400 else 503,
                                "the object exists (If-None-Match: *)" if status == 412
                                else "not enough storage nodes could take the object")
            conns, size = self._stream_body(request, conns, length, replicas, footed)
            statuses, etag = self._finish(conns)
        finally:
            for target in conns:
                target.conn.close()
        status = best_status(statuses + early + [503] * (replicas - len(statuses) - len(early)),
                             replicas)
        if status >= 300:
            raise HTTPError(status, "the storage nodes did not store the object")
        self._tell_missed_containers(
            {target.slot for target, answer in zip(conns, statuses) if answer < 300}, degraded,
            "PUT", headers, {"Content-Length": size, "ETag": etag or ""})
        return _created(headers, etag)

    def _put_small(self, request: Request, headers: dict[str, str], length: int) -> Response:
        """A body of at most SMALL_BODY bytes, read whole first, then sent
        with its headers in one go to each replica: no 100-continue round
        trip to each (a third of a small PUT's requests and wake-ups on
        both sides). A replica that cannot take it is replaced by a
        handoff, with the same bytes (write_all). As with a streamed body,
        nothing is sent (not even the client's 100 Continue) unless a
        quorum of replicas takes connections: a PUT refused for want of
        nodes must not leave a copy behind."""
        replicas = len(self.ring.get_part_nodes(self.part))
        reachable = self.app.backend.reachable(self.ring, self.part)
        if reachable < quorum_size(replicas):
            raise HTTPError(503, "not enough storage nodes could take the object")
        body = read_body(request, length)
        degraded = reachable < replicas
        per_node = self._per_node_headers(headers.get("X-Delete-At"), container_updates=True,
                                          degraded=degraded)
        answers = self.app.backend.write_all(self.ring, self.part, "PUT", self.path, headers,
                                             body, per_node)
        statuses = [answer.status for answer in answers]
        status = best_status(statuses + [503] * (replicas - len(statuses)), replicas)
        if status >= 300:
            reason = next((a.body.decode("utf-8", "replace").strip() for a in answers
                           if a.status == status and a.body), "")
            raise HTTPError(status, "the object exists (If-None-Match: *)" if status == 412
                            else reason or "the storage nodes did not store the object")
        etag = next((a.headers.get("ETag") for a in answers if 200 <= a.status < 300), None)
        self._tell_missed_containers(  # write_all answers slot by slot
            {slot for slot, answer in enumerate(statuses) if answer < 300}, degraded,
            "PUT", headers, {"Content-Length": length, "ETag": etag or ""})
        return _created(headers, etag)

    def _per_node_headers(self, delete_at: str | None, container_updates: bool,
                          degraded: bool = False) -> Callable[[int], dict[str, str]]:
        """The extra headers of the request to replica ``index``: which
        container replica (and expiry queue replica) it updates."""
        container_headers = self._container_headers(degraded) if container_updates else []
        queue_headers = self._queue_headers(delete_at, degraded)

        def per_node(index: int) -> dict[str, str]:
            extra = container_headers[index % len(container_headers)] if container_headers else {}
            if queue_headers:
                extra = {**extra, **queue_headers[index % len(queue_headers)]}
            return extra
        return per_node

    def _content_type(self, request: Request) -> str:
        given = request.headers.get("Content-Type")
        if given and not is_true(request.headers.get("X-Detect-Content-Type")):
            return given
        return mimetypes.guess_type(self.obj)[0] or "application/octet-stream"

    def _connect(self, headers: dict[str, str], length: int | None, footed: bool,
                 degraded: bool) -> tuple[list[PutTarget], list[int]]:
        """Open a PUT to each replica slot (handoffs for the unreachable).
        With ``footed``, the body is followed by the proxy's MD5
        (put_footer.py), and a server that does not confirm it reads
        footers counts as failed. ``degraded``: see _container_headers."""
        replicas = len(self.ring.get_part_nodes(self.part))
        nodes = node_iter(self.ring, self.part, self.app.limiter)
        per_node = self._per_node_headers(headers.get("X-Delete-At"), container_updates=True,
                                          degraded=degraded)
        timeouts = self.app.backend.timeouts
        wire_length = length + put_footer.footer_length(length) \
            if footed and length is not None else length

        def one(index: int) -> PutTarget | int:
            extra = per_node(index)
            for node in _take(nodes):
                conn = BackendConnection(node.ip, node.port, connect_timeout=timeouts.connect,
                                         read_timeout=timeouts.read, pool=self.app.backend.pool)
                try:
                    conn.send_request("PUT", f"/{node.device}/{self.part}{self.path}",
                                      {**headers, **extra}, body_length=wire_length,
                                      chunked=length is None, expect_continue=True)
                    status = conn.wait_for_continue(timeouts.read)
                    if footed and status == 100 and conn.continue_headers.get(
                            put_footer.CONFIRM_HEADER) != put_footer.CONFIRM_VALUE:
                        raise BackendError(f"{conn.where} does not read PUT footers")
                except BackendError:
                    self.app.limiter.error(node)
                    conn.close()
                    continue
                # an empty body needs no 100: the server may answer at once
                if status == 100 or (length == 0 and 200 <= status < 300):
                    return PutTarget(node, conn, index)
                conn.close()
                if status == 507:
                    self.app.limiter.limit(node)
                    continue
                return status
            return 503

        pool = concurrency.GreenPool(replicas)
        conns, early = [], []
        for result in pool.imap(one, range(replicas)):
            if isinstance(result, int):
                early.append(result)
            else:
                conns.append(result)
        return conns, early

    def _stream_body(self, request: Request, conns: list[PutTarget], length: int | None,
                     replicas: int, footed: bool) -> tuple[list[PutTarget], int]:
        """The body to every connection, with the footer when ``footed``;
        the connections still alive, and the body's length.
        A piece is hashed (MD5, 70 ms of CPU in a 64 MiB body) in a disk
        thread while the hub sends it: the two share no state, and
        hashlib lets go of the GIL, so the proxy uses a second core
        (64 MiB PUT at c2 +10%). The hashing is handed over at once
        (start_blocking): a green thread spawned to hand it over waited
        for the hub's turn, which the sends gave it only once a socket
        was full, 3.8 ms into a piece's ~17 (64 MiB PUT +3%, proxy -5 ms).
        Pieces are read into one buffer, reused once the last piece is
        hashed and sent, then kept for the next PUT."""
        source = request.environ["wsgi.input"]
        sums = ChecksumWriter() if footed else None
        kept = _pieces.take()
        try:
            conns, received = self._send_pieces(
                source, memoryview(kept)[:CHUNK if length is None else min(CHUNK, length)],
                length, sums, conns, replicas)
        finally:
            # all hashed and sent; or the PUT failed, and a hash still running counts for nothing
            _pieces.give_back(kept)
        if length is not None and received < length:
            raise HTTPError(499, f"body ended after {received} of {length} bytes")
        if sums is not None:
            footer = put_footer.build(sums)
            md5, sent = footer[:32].decode(), request.headers.get("ETag", "").strip('"').lower()
            if sent and sent != md5:
                # said here, with the reason; closing makes the servers drop the body
                raise HTTPError(422, f"body MD5 {md5} does not match ETag {sent}")
            conns = self._send_to_all(conns, footer, replicas)
        return conns, received

    def _send_pieces(self, source: Any, buffer: memoryview, length: int | None,
                     sums: ChecksumWriter | None, conns: list[PutTarget], replicas: int
                     ) -> tuple[list[PutTarget], int]:
        """The body read into ``buffer`` a piece at a time, each sent to every
        connection (and hashed into ``sums`` meanwhile); the connections
        still alive, and how many bytes came."""
        received = 0
        while length is None or received < length:
            want = len(buffer) if length is None else min(len(buffer), length - received)
            try:
                got = read_piece(source, buffer[:want], PIECE_WAIT)
            except (OSError, ValueError):
                raise HTTPError(499, "client disconnected while sending the body") from None
            if not got:
                break
            received += got
            piece = buffer[:got]
            hashing = None if sums is None else concurrency.start_blocking(sums.update, piece)
            conns = self._send_to_all(conns, piece, replicas)
            if hashing is not None:
                hashing.wait()
        return conns, received

    def _send_to_all(self, conns: list[PutTarget], data: bytes | memoryview, replicas: int
                     ) -> list[PutTarget]:
        """The connections still alive after ``data`` went to each."""
        alive = []
        for target in conns:
            try:
                target.conn.send(data)
                alive.append(target)
            except BackendError:
                self.app.limiter.error(target.node)
                target.conn.close()
        if len(alive) < quorum_size(replicas):
            raise HTTPError(503, "storage nodes failed while receiving the object")
        return alive

    def _finish(self, conns: list[PutTarget]) -> tuple[list[int], str | None]:
        """Each connection's status (in order) and the ETag stored."""
        statuses, etag = [], None
        for node, conn, _ in conns:
            try:
                conn.finish()
                response = conn.getresponse()
                response.read()
            except BackendError:
                self.app.limiter.error(node)
                statuses.append(503)
                continue
            statuses.append(response.status)
            if 200 <= response.status < 300:
                etag = response.headers.get("ETag", etag)
        return statuses, etag

    # -- POST / DELETE -----------------------------------------------------------

    def do_POST(self, request: Request) -> Response:
        _client_content_type(request)
        return self._write_all(request, "POST")

    def do_DELETE(self, request: Request) -> Response:
        return self._write_all(request, "DELETE")

    def _write_all(self, request: Request, method: str) -> Response:
        headers = {**self._base_headers(request), "X-Timestamp": Timestamp.now().internal}
        if method == "POST":
            try:
                constraints.check_metadata(request.headers, "object")
                delete_at = constraints.check_delete_headers(request.headers, time.time())
            except constraints.ConstraintError as err:
                raise HTTPError(err.status, err.reason) from None
            # A POST replaces all of an object's metadata, so a name it
            # removes (X-Remove-Object-Meta-*) is simply left out, as Swift
            # shows it (one sent empty stays, empty); an empty Content-Type
            # is guessed from the name, as on a PUT.
            for name, value in passed_headers(request, ("x-object-meta-",),
                                              ("content-type",)).items():
                if name.lower() == "content-type":
                    value = value or self._content_type(request)
                headers[name] = value
            if delete_at is not None:
                headers["X-Delete-At"] = str(delete_at)
        degraded = method == "DELETE" and self._short_of_nodes()
        per_node = self._per_node_headers(headers.get("X-Delete-At"),
                                          container_updates=method == "DELETE",
                                          degraded=degraded)
        answers = self.app.backend.write_all(self.ring, self.part, method, self.path, headers,
                                             b"", per_node)
        response = from_quorum(answers, len(answers), f"object {method} failed")
        if method == "DELETE" and response.status_int < 300:
            # a 404 wrote its tombstone and told its container replica too
            self._tell_missed_containers({slot for slot, answer in enumerate(answers)
                                          if answer.status < 300 or answer.status == 404},
                                         degraded, "DELETE", headers, {})
        return response

    def _tell_missed_containers(self, stored: set[int], degraded: bool, op: str,
                                headers: Mapping[str, str], stored_as: Mapping[str, Any]
                                ) -> None:
        """After a write acknowledged without every replica slot (an
        object server failed mid-write, or no node could stand in for
        one), the container replicas only the failed slots were to tell
        hear of it from the proxy, at once: otherwise only container
        replication would tell them, and a listing served by one would
        miss an acknowledged object until then. So does the expirer's
        queue replica of such a slot (the expirer lists one replica).
        ``stored``: the slots that took the write (each told its own
        replicas; with ``degraded`` each was named every container and
        queue replica, so none is left to tell); ``stored_as``: the
        object's size and ETag for a PUT. The answer waits for these at
        most CATCH_UP_WAIT; a replica that does not answer is left to
        replication, as before."""
        replicas = len(self.ring.get_part_nodes(self.part))
        missing = [slot for slot in range(replicas) if slot not in stored]
        if degraded or not missing:
            return
        timestamp, trans_id = Timestamp(headers["X-Timestamp"]), headers.get("X-Trans-Id")
        sends: list[tuple[NamedNode, str, tuple[str, str, str], dict[str, str]]] = []
        update = updates.update_headers(op, timestamp, {**headers, **stored_as}, self.policy,
                                        trans_id)
        for node in _missed_nodes(self._container_headers(degraded=False), stored, missing):
            sends.append((node, op, (self.account, self.container, self.obj), update))
        delete_at = headers.get("X-Delete-At") if op == "PUT" else None
        if delete_at is not None:
            row = expiring.queue_object(int(delete_at), self.account, self.container, self.obj)
            queue = self._queue_headers(delete_at)
            row_headers = expiring.row_headers(timestamp, trans_id)
            for node in _missed_nodes(queue, stored, missing, "Delete-At"):
                sends.append((node, "PUT", (expiring.QUEUE_ACCOUNT,
                                            queue[0]["X-Delete-At-Container"], row), row_headers))
        if not sends:
            return
        timeouts = self.app.backend.timeouts

        def tell(send: tuple[NamedNode, str, tuple[str, str, str], dict[str, str]]) -> None:
            node, method, names, update = send
            if not updates.send_update(node, method, *names, update,
                                       connect_timeout=timeouts.connect,
                                       read_timeout=timeouts.read, pool=self.app.backend.pool):
                self.app.logger.warning("could not tell %s:%d/%s of a write to /%s/%s that "
                                        "an object server missed; left to replication",
                                        node.host, node.port, node.device, names[0], names[1])
        pool = concurrency.GreenPool(len(sends))
        for send in sends:
            pool.spawn(tell, send)
        with concurrency.Timeout(CATCH_UP_WAIT, False):
            pool.waitall()  # a replica on a host that went silent must not hold the answer

    # -- GET / HEAD ------------------------------------------------------------

    def _read_headers(self, request: Request) -> dict[str, str]:
        headers = self._base_headers(request)
        for name in FORWARDED_ON_READ:  # five lookups cost less than one walk of them all
            value = request.headers.get(name)
            if value is not None:
                headers[name.title()] = value
        return headers

    def _account_acl(self, request: Request) -> dict[str, Any]:
        """The account's facts for its ACL (cached); none when its servers do
        not answer: objects stay readable to their owners without them."""
        try:
            return account_info(self.app, request, self.account) or {}
        except HTTPError:
            return {}

    def do_HEAD(self, request: Request) -> Response:
        answer = read(self.app, request, self.ring, self.part, self.path,
                      self._read_headers(request), spread=True)
        show_sysmeta(request, answer.headers)
        return respond(answer, head=True)

    def _nodes_to_read(self, request: Request) -> Iterator[Device]:
        """Ring order from the partition's own start (node_iter's spread);
        with X-Newest the replica holding the newest write first (404 at
        once when that is a tombstone)."""
        nodes = node_iter(self.ring, self.part, self.app.limiter, spread=True)
        if not wants_newest(request):
            return nodes
        newest = self.app.backend.read_newest(self.ring, self.part, "HEAD", self.path,
                                              self._base_headers(request))
        if newest.status == 404:
            raise HTTPError(404, "not found")
        if newest.node is None or newest.status >= 300:
            return nodes
        chosen = newest.node
        return itertools.chain([chosen], (node for node in nodes if node != chosen))

    def do_GET(self, request: Request) -> Response:
        headers = self._read_headers(request)
        found = self._open(headers, self._nodes_to_read(request))
        if found is None:
            raise HTTPError(503, "no storage node could serve the object")
        response_from, nodes = found
        if isinstance(response_from, int):
            raise HTTPError(response_from, "not found" if response_from == 404 else "")
        node, conn, backend = response_from
        show_sysmeta(request, backend.headers)
        if backend.status not in (200, 206):
            body = backend.read()
            conn.close()
            response = Response(status=backend.status, content_type=None, charset=None)
            response.headers.update(strip_backend(backend.headers))
            response.body = body
            return response
        response = Response(status=backend.status, content_type=None, charset=None)
        response.headers.update(strip_backend(backend.headers))
        response.app_iter = self._stream(backend, conn, headers, nodes)
        # webob's app_iter setter drops Content-Length: set it after
        if "Content-Length" in backend.headers:
            response.headers["Content-Length"] = backend.headers["Content-Length"]
        return response

    def _open(self, headers: dict[str, str], nodes: Iterator[Device]) -> Any:
        """The first replica that answers usefully, and the nodes left."""
        missing = False
        timeouts = self.app.backend.timeouts
        for node in nodes:
            conn = BackendConnection(node.ip, node.port, connect_timeout=timeouts.connect,
                                     read_timeout=timeouts.read, pool=self.app.backend.pool)
            try:
                conn.send_request("GET", f"/{node.device}/{self.part}{self.path}", headers)
                backend = conn.getresponse()
            except BackendError:
                self.app.limiter.error(node)
                conn.close()
                continue
            if backend.status == 404:
                missing = True
                backend.read()
                conn.close()
                continue
            if backend.status >= 500:
                if backend.status == 507:
                    self.app.limiter.limit(node)
                else:
                    self.app.limiter.error(node)
                backend.read()
                conn.close()
                continue
            return (node, conn, backend), nodes
        return (404, nodes) if missing else None

    def _stream(self, backend: BackendResponse, conn: BackendConnection,
                headers: dict[str, str], nodes: Iterator[Device]) -> Iterator[bytes]:
        """The body, resumed from another replica if this one fails."""
        start, end = _range_of(backend.headers.get("Content-Range"))
        etag = backend.headers.get("ETag")
        sent = 0
        try:
            while True:
                try:
                    for chunk in backend:
                        sent += len(chunk)
                        yield chunk
                    return
                except BackendError as err:
                    self.app.logger.warning("object read failed after %d bytes: %s", sent, err)
                    conn.close()
                    if etag is None or "multipart" in backend.headers.get("Content-Type", ""):
                        return
                    resume = {**headers, "Range": f"bytes={start + sent}-"
                              + ("" if end is None else str(end)), "If-Match": etag}
                    found = self._open(resume, nodes)
                    if found is None or isinstance(found[0], int):
                        return  # the client sees a short body and retries
                    (_, conn, backend), nodes = found
        finally:
            conn.close()


def read_piece(source: Any, buffer: memoryview, wait: float,
               clock: Callable[[], float] = time.monotonic) -> int:
    """Fill ``buffer`` from the request body ``source``, READ_STEP bytes
    a read, but stop at the first read that ends ``wait`` seconds or more
    after the first began (with something read): how many bytes came.
    Fewer than asked without the wait over: the body ended."""
    began, got = clock(), 0
    while got < len(buffer):
        step = min(READ_STEP, len(buffer) - got)
        with buffer[got:got + step] as target:
            count = read_into(source, target)
        got += count
        if count < step or clock() - began >= wait:
            break
    return got


def _client_content_type(request: Request) -> None:
    """A client's Content-Type may carry no ``swift_*`` parameter (400);
    filters' subrequests (``objstore.source``) set them."""
    if "objstore.source" not in request.environ:
        try:
            constraints.check_client_content_type(request.headers.get("Content-Type", ""))
        except constraints.ConstraintError as err:
            raise HTTPError(err.status, err.reason) from None


def _missed_nodes(per_slot: list[dict[str, str]], stored: set[int], missing: list[int],
                  kind: str = "Container") -> list[NamedNode]:
    """The ``kind`` replicas named to the ``missing`` slots and to none of
    the ``stored`` ones (``per_slot``: the headers each slot was sent)."""
    if not per_slot:
        return []

    def named(slot: int) -> list[NamedNode]:
        return named_nodes(per_slot[slot % len(per_slot)], kind)
    told = {node for slot in stored for node in named(slot)}
    return list(dict.fromkeys(node for slot in missing for node in named(slot)
                              if node not in told))


def _created(headers: Mapping[str, str], etag: str | None) -> Response:
    response = Response(status=201, content_type=None, charset=None)
    response.headers.update({"ETag": etag or "", "Last-Modified": Timestamp(
        headers["X-Timestamp"]).http_date, "Content-Length": "0"})
    return response


def show_sysmeta(request: Request, headers: Mapping[str, str]) -> None:
    """The object's sysmeta for the filters above (symlink reads its target
    there): in the environ, since a client never sees sysmeta headers."""
    request.environ[OBJECT_SYSMETA] = {
        name: value for name, value in headers.items()
        if name.lower().startswith("x-object-sysmeta-")}


def _range_of(content_range: str | None) -> tuple[int, int | None]:
    """(first byte, last byte) of a Content-Range; (0, None) for a whole body."""
    if not content_range or not content_range.startswith("bytes "):
        return 0, None
    span = content_range[len("bytes "):].split("/", 1)[0]
    first, _, last = span.partition("-")
    return int(first), int(last)


def _named_replicas(kind: str, nodes: list[Device], index: int, part: int,
                    every: bool) -> dict[str, str]:
    """The headers naming replica ``index`` of ``nodes`` (a ``kind``, of
    ``part``) to an object server; with ``every``, all the others after it."""
    order = [index, *(other for other in range(len(nodes)) if other != index)] \
        if every else [index]
    return nodes_headers(kind, [(nodes[i].ip, nodes[i].port, nodes[i].device) for i in order],
                         part)
