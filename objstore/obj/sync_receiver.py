"""The receiving end of ``SYNC`` (the protocol: ``sync_protocol``).

The object server routes ``SYNC /<device>/<partition>`` here. An offer is
read whole (at most ``MAX_OFFER`` objects), then looked up on disk in one
trip to the disk threads; a push is stored item by item as it streams in
(an item whose body fits one frame, or that has none, in one trip),
each file through DiskFile's durable write path (a ``.data`` through the
same writer as a PUT: temp file, checksums, fsync, rename, fsync of the
directory), and answered only when the stream has ended and every file it
kept is durable.

Bad input never reaches the disk: the device name, partition and every
hash are checked against ``objstore.common.paths`` before a path is built
from them, a ``.data``'s ``name`` must hash to the hash it is sent for,
and a stream that breaks the protocol is answered 400 with the reason.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Final

from objstore.common.http import HTTPError, Request, Response, header_int, split_path
from objstore.common.timestamp import Timestamp
from objstore.obj import layout
from objstore.obj.diskfile import DiskFile, DiskFileManager
from objstore.obj.sync_protocol import (
    BAD_BODY, HELD, MAX_PIECE, NO_BASE, STORED, VERSION, FrameReader, Item, ProtocolError,
    State, check_header, check_item, check_offer, end_count, meta_applies, pack,
    reclaim_cutoff, wanted,
)
from ring.hashing import PathHasher, default_hasher

MAX_OFFER: Final = 100_000  # objects in one offer; senders send fewer at a time
Offload = Callable[..., Any]


def handle_sync(request: Request, manager: DiskFileManager, offload: Offload,
                reclaim_age: float) -> Response:
    """``SYNC /<device>/<partition>``: an offer or a push."""
    device, partition_text = split_path(request, 2, 2)
    layout.check_device(device)
    partition = layout.check_partition(partition_text)
    policy = header_int(request, "X-Backend-Storage-Policy-Index", 0) or 0
    if policy < 0:
        raise HTTPError(400, f"invalid storage policy index {policy}")
    offload(manager.device_path, device)  # 507 before the body, if the device is gone
    reader = FrameReader(_body_reader(request))
    receiver = _Receiver(manager, offload, reclaim_age, device, partition, policy, reader)
    try:
        op = check_header(reader.next(), ("offer", "push"))
        answer = receiver.offer() if op == "offer" else receiver.push()
        if not reader.at_end():
            raise ProtocolError("data after the end frame")
    except ProtocolError as err:
        raise HTTPError(400, str(err)) from None
    return Response(body=pack({"v": VERSION, **answer}), content_type="application/x-msgpack",
                    charset=None)


def _body_reader(request: Request) -> Callable[[int], bytes]:
    source = request.environ["wsgi.input"]

    def read(size: int) -> bytes:
        try:
            return source.read(size)  # type: ignore[no-any-return]
        except (OSError, ValueError):
            raise HTTPError(499, "client disconnected while sending the stream") from None
    return read


class _Receiver:
    """One SYNC request's work on one partition of one device."""

    def __init__(self, manager: DiskFileManager, offload: Offload, reclaim_age: float,
                 device: str, partition: int, policy: int, reader: FrameReader) -> None:
        self.manager = manager
        self.offload = offload
        self.reclaim_age = reclaim_age
        self.device = device
        self.partition = partition
        self.policy = policy
        self.reader = reader

    # -- offer ------------------------------------------------------------------------

    def offer(self) -> dict[str, Any]:
        offered: list[tuple[str, State]] = []
        while True:
            frame = self.reader.next()
            count = end_count(frame)
            if count is not None:
                if count != len(offered):
                    raise ProtocolError(f"end frame counts {count} objects, the offer had "
                                        f"{len(offered)}")
                break
            if len(offered) >= MAX_OFFER:
                raise HTTPError(413, f"an offer may hold at most {MAX_OFFER} objects")
            offered.append(check_offer(frame))
        return {"want": self.offload(self._wants_job, offered), "tables": True}

    def _wants_job(self, offered: list[tuple[str, State]]) -> dict[str, list[str]]:
        device_path = self.manager.device_path(self.device)
        now = Timestamp.now()
        cutoff = reclaim_cutoff(float(now), self.reclaim_age)
        wants = {}
        for name_hash, state in offered:
            hash_dir = layout.hash_dir(device_path, self.policy, self.partition, name_hash)
            kinds = wanted(state, _held(hash_dir, now, self.reclaim_age), cutoff)
            if kinds:
                wants[name_hash] = kinds
        return wants

    # -- push -------------------------------------------------------------------------

    def push(self) -> dict[str, Any]:
        results: list[list[Any]] = []
        while True:
            frame = self.reader.next()
            count = end_count(frame)
            if count is not None:
                if count != len(results):
                    raise ProtocolError(f"end frame counts {count} items, the push had "
                                        f"{len(results)}")
                return {"results": results}
            item = check_item(frame)
            status, reason = self._store(item)
            results.append([item.name_hash, item.kind, item.timestamp.internal, status, reason])

    def _store(self, item: Item) -> tuple[int, str]:
        """Keep one item if the device lacks it; its body is read either way.
        An item without a body, or whose body came in one frame, is read
        first and then handled in one disk trip (most objects of a lost
        device of small ones: a trip is a few context switches, a fifth
        of the receiver's CPU); a bigger body is written as it streams."""
        _check_name(item, self.manager.hasher or default_hasher())
        now = Timestamp.now()
        if item.length <= MAX_PIECE:
            body = b"".join(self._body(item))
            stored: tuple[int, str] = self.offload(self._store_whole_job, item, body, now)
            return stored
        diskfile, held = self.offload(self._locate_job, item, now)
        verdict = self._verdict(item, held, now)
        if verdict is not None:
            self._skip_body(item)
            return verdict
        return self._store_data(diskfile, item)

    def _locate_job(self, item: Item, now: Timestamp) -> tuple[DiskFile, State]:
        diskfile = self.manager.get_by_hash(self.device, self.partition, item.name_hash,
                                            self.policy, item.metadata.get("name"))
        return diskfile, _held(diskfile.hash_dir, now, self.reclaim_age)

    def _verdict(self, item: Item, held: State, now: Timestamp) -> tuple[int, str] | None:
        """Why the device keeps what it holds instead (None: it wants the item)."""
        if item.kind == "meta":
            if meta_applies(item.timestamp, held):
                return None
            if held.winner is None:
                return NO_BASE, "no data for the metadata to apply to"
            return HELD, "holds newer"
        offered = State(data=item.timestamp) if item.kind == "data" else State(ts=item.timestamp)
        if item.kind not in wanted(offered, held, reclaim_cutoff(float(now), self.reclaim_age)):
            return HELD, "holds this or newer"
        return None

    def _store_whole_job(self, item: Item, body: bytes, now: Timestamp) -> tuple[int, str]:
        diskfile, held = self._locate_job(item, now)
        verdict = self._verdict(item, held, now)
        if verdict is not None:
            return verdict
        if item.kind == "meta":
            diskfile.post(item.timestamp, item.metadata)
        elif item.kind == "ts":
            diskfile.delete(item.timestamp, item.metadata)
        else:
            with diskfile.create(len(body), item.table is None) as writer:
                writer.write(body)
                problem = _body_problem(writer, item)
                if problem is not None:
                    return BAD_BODY, problem
                writer.commit(item.metadata)
        return STORED, ""

    def _store_data(self, diskfile: DiskFile, item: Item) -> tuple[int, str]:
        writer = self.offload(diskfile.create, item.length, item.table is None)
        try:
            for piece in self._body(item):
                self.offload(writer.write, piece)
            problem = _body_problem(writer, item)
            if problem is not None:
                return BAD_BODY, problem
            self.offload(writer.commit, item.metadata)
        finally:
            self.offload(writer.__exit__, None, None, None)  # drops an uncommitted temp file
        return STORED, ""

    def _body(self, item: Item) -> Any:
        """The bin objects after a .data's frame, up to its length."""
        left = item.length
        while left > 0:
            piece = self.reader.next()
            if not isinstance(piece, bytes) or not piece:
                raise ProtocolError(f"data of {item.name_hash}: expected {left} more body "
                                    f"bytes, got a {type(piece).__name__}")
            if len(piece) > left:
                raise ProtocolError(f"data of {item.name_hash}: body longer than its "
                                    f"Content-Length {item.length}")
            left -= len(piece)
            yield piece

    def _skip_body(self, item: Item) -> None:
        for _ in self._body(item):
            pass


def _body_problem(writer: Any, item: Item) -> str | None:
    """Why the bytes written are not the .data's (None: they are). With
    the sender's checksum table they are checked against it (computed
    anyway) instead of hashed to the ETag (see sync_protocol)."""
    etag = str(item.metadata["ETag"]).strip('"').lower()
    if item.table is not None:
        if writer.sums.table() != item.table:
            return "body does not match the checksum table sent with it"
        writer.given_etag = etag
    elif writer.etag != etag:
        return f"body MD5 {writer.etag} does not match its ETag {etag}"
    return None


def _held(hash_dir: str, now: Timestamp, reclaim_age: float) -> State:
    try:
        names = os.listdir(hash_dir)
    except (FileNotFoundError, NotADirectoryError):
        return State()
    return State.of(layout.resolve(names, now, reclaim_age))


def _check_name(item: Item, hasher: PathHasher) -> None:
    """A file's object name, when it has one, must be the object it is sent as."""
    name = item.metadata.get("name")
    if name is None:
        if item.kind == "data":
            raise ProtocolError(f"data of {item.name_hash}: metadata has no name")
        return
    parts = name[1:].split("/", 2) if isinstance(name, str) and name.startswith("/") else []
    if len(parts) != 3 or not all(parts):
        raise ProtocolError(f"{item.kind} of {item.name_hash}: bad name {str(name)[:80]!r}")
    if hasher.hash_path(*parts) != item.name_hash:
        raise ProtocolError(f"{item.kind} of {item.name_hash}: name {name[:80]!r} does not "
                            f"hash to it")
