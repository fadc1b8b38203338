"""The sending end of replication: what a replicator asks a peer, and what it pushes.

    client = SyncClient(HttpTransport(conn_timeout=0.5, node_timeout=20))
    theirs = client.suffix_hashes(peer, policy, partition)         # REPLICATE
    wants = client.offer(peer, policy, partition, objects)        # SYNC offer
    results = client.push(peer, policy, partition, local, items)  # SYNC push
    client.suffix_hashes(peer, policy, partition, recalculate=suffixes)

The protocol is ``sync_protocol``'s. ``LocalPartition`` reads this node's
side: which objects a suffix holds (``layout.resolve``'s view) and each
file's frames, a ``.data``'s bytes read through DiskFile's verified read,
so rot is never sent: a chunk that fails its crc32 quarantines the local
file and ends the push (``DiskFileQuarantined``), and the peer, whose
stream stops mid-object, keeps nothing of it.

Every failure to talk to a peer is a ``PeerError``: whether the peer's
server could not be reached at all (``server_down``: skip all its devices
for the pass), its device is gone (507), or it answered something else.
Every wait is bounded by the transport's timeouts.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final, NamedTuple, Protocol

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type hints

from objstore.common import paths
from objstore.common.http_client import BackendConnection, BackendError, ConnectionPool
from objstore.common.metadata import MetadataError, read_metadata
from objstore.common.peers import Peer, PeerError
from objstore.common.timestamp import Timestamp
from objstore.obj import layout
from objstore.obj.diskfile import DiskFile, DiskFileManager
from objstore.obj.exceptions import DiskFileNotFound
from objstore.obj.sync_protocol import (
    MAX_TABLE, ProtocolError, State, body_frames, end_frame, header_frame, item_frame, pack,
    parse_results, parse_wants,
)
from objstore.obj.integrity import table_length

MAX_ANSWER: Final = 64 * 1024 * 1024  # bytes of a peer's answer we are willing to hold
SEND_SIZE: Final = 64 * 1024           # small frames are gathered into sends of this size


class Transport(Protocol):
    """How requests reach peers: HTTP in a cluster, an app in unit tests."""

    def request(self, peer: Peer, method: str, path: str, headers: Mapping[str, str],
                body: Iterable[bytes] | None = None) -> tuple[int, bytes]:
        """(status, body) of one request; PeerError when there is none."""
        ...


class HttpTransport:
    """Requests over ``http_client``, keeping sockets alive between them."""

    def __init__(self, conn_timeout: float, node_timeout: float) -> None:
        self.conn_timeout = conn_timeout
        self.node_timeout = node_timeout
        self.pool = ConnectionPool()

    def request(self, peer: Peer, method: str, path: str, headers: Mapping[str, str],
                body: Iterable[bytes] | None = None) -> tuple[int, bytes]:
        try:
            with BackendConnection(peer.ip, peer.port, connect_timeout=self.conn_timeout,
                                   read_timeout=self.node_timeout, pool=self.pool) as conn:
                if body is None:
                    conn.send_request(method, path, headers, body=b"")
                else:
                    conn.send_request(method, path, headers, chunked=True)
                    for data in _gathered(body):
                        conn.send(data)
                    conn.finish()
                response = conn.getresponse()
                answer = response.read(MAX_ANSWER + 1)
        except BackendError as err:
            raise PeerError(peer, str(err)) from None
        if len(answer) > MAX_ANSWER:
            raise PeerError(peer, f"answer to {method} longer than {MAX_ANSWER} bytes",
                            response.status)
        return response.status, answer


def _gathered(frames: Iterable[bytes]) -> Iterator[bytes]:
    """Frames joined into sends of about SEND_SIZE (a small object's frames
    are a few dozen bytes; a body piece goes as it is)."""
    pending: list[bytes] = []
    size = 0
    for frame in frames:
        pending.append(frame)
        size += len(frame)
        if size >= SEND_SIZE:
            yield b"".join(pending)
            pending, size = [], 0
    if pending:
        yield b"".join(pending)


# -- this node's side -------------------------------------------------------------------

class Frame(NamedTuple):
    """A piece of a push body: an item's frame (``starts``: its kind) or a
    piece of a .data's bytes (``body_bytes`` of them)."""

    data: bytes
    starts: str | None = None
    body_bytes: int = 0


class LocalPartition:
    """One partition of one policy on one local device."""

    def __init__(self, manager: DiskFileManager, device: str, device_path: str, policy: int,
                 partition: int) -> None:
        self.manager = manager
        self.device = device
        self.policy = policy
        self.partition = partition
        self.path = os.path.join(device_path, layout.data_dir(policy), str(partition))

    def suffixes(self) -> list[str]:
        return sorted(name for name in _listdir(self.path)
                      if len(name) == 3 and all(c in "0123456789abcdef" for c in name))

    def objects(self, suffixes: Iterable[str]) -> dict[str, State]:
        """{hash: what counts} of every object in the suffixes, in hash order."""
        now = Timestamp.now()
        found = {}
        for suffix in sorted(suffixes):
            suffix_dir = os.path.join(self.path, suffix)
            for name_hash in sorted(_listdir(suffix_dir)):
                if not (paths.valid_hash(name_hash) and name_hash.endswith(suffix)):
                    continue
                names = _listdir(os.path.join(suffix_dir, name_hash))
                state = State.of(layout.resolve(names, now, self.manager.reclaim_age))
                if state.winner is not None:
                    found[name_hash] = state
        return found

    def hash_dir(self, name_hash: str) -> str:
        return os.path.join(self.path, name_hash[-3:], name_hash)

    def data_size(self, name_hash: str, state: State) -> int:
        """About how many bytes the object's .data holds (0 when gone)."""
        name = state.file_name("data")
        try:
            return os.path.getsize(os.path.join(self.hash_dir(name_hash), name)) if name else 0
        except OSError:
            return 0

    def frames(self, name_hash: str, state: State, kinds: Sequence[str],
               tables: bool = False) -> Iterator[Frame]:
        """The push frames of an object's files of ``kinds`` (a .data's
        with its checksum table when ``tables``). Files that changed since
        ``state`` was read are left out: each item is whole or absent,
        never begun and dropped."""
        diskfile = self.manager.get_by_hash(self.device, self.partition, name_hash, self.policy)
        for kind in kinds:
            name = state.file_name(kind)
            stamp = state.stamp(kind)
            if name is None or stamp is None:
                continue
            if kind == "data":
                yield from self._data_frames(diskfile, name_hash, name, stamp, tables)
                continue
            metadata = _file_metadata(diskfile, os.path.join(diskfile.hash_dir, name))
            if metadata is not None:
                yield Frame(item_frame(name_hash, kind, stamp, metadata), kind)

    def _data_frames(self, diskfile: DiskFile, name_hash: str, name: str,
                     stamp: Timestamp, tables: bool) -> Iterator[Frame]:
        try:
            info = diskfile.open()  # checks lengths; unreadable metadata is quarantined
        except DiskFileNotFound:
            return  # deleted, or replaced, since the listing
        if os.path.basename(info.data_path) != name:
            return
        metadata = _file_metadata(diskfile, info.data_path)
        if metadata is None:
            return
        table = diskfile.stored_table(info) \
            if tables and table_length(info.content_length) <= MAX_TABLE else None
        yield Frame(item_frame(name_hash, "data", stamp, metadata, table), "data")
        # verified chunk by chunk: a bad one raises DiskFileQuarantined
        for piece, size in body_frames(diskfile.read(info)):
            yield Frame(piece, None, size)


def _file_metadata(diskfile: DiskFile, path: str) -> dict[str, Any] | None:
    """A file's own metadata (a .data's without any .meta applied); None
    when the file is gone. Unreadable metadata quarantines the object."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        return read_metadata(fd)  # type: ignore[no-any-return]
    except MetadataError as err:
        return diskfile.quarantine(  # type: ignore[no-any-return]
            f"unreadable metadata in {os.path.basename(path)}: {err}", os.path.basename(path))
    finally:
        os.close(fd)


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


# -- the peer's side ----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class PushResult:
    """The peer's verdict on one file pushed (``sync_protocol`` statuses)."""

    name_hash: str
    kind: str
    timestamp: str
    status: int
    reason: str
    size: int = 0  # body bytes sent, for a .data


class SyncClient:
    """REPLICATE and SYNC requests to peers, their answers checked."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        # peers whose last offer answer said they take checksum tables
        self._take_tables: set[Peer] = set()

    @staticmethod
    def _headers(policy: int) -> dict[str, str]:
        return {"X-Backend-Storage-Policy-Index": str(policy), "User-Agent": "object-replicator"}

    def _call(self, peer: Peer, method: str, path: str, policy: int,
              body: Iterable[bytes] | None = None) -> bytes:
        status, answer = self.transport.request(peer, method, path, self._headers(policy), body)
        if status != 200:
            reason = answer[:200].decode("utf-8", "replace").strip()
            raise PeerError(peer, f"{method} {path}: {status} {reason}", status)
        return answer

    def suffix_hashes(self, peer: Peer, policy: int, partition: int,
                      recalculate: Sequence[str] = ()) -> dict[str, str]:
        """The peer's suffix hashes of the partition, recomputing those named."""
        path = f"/{peer.device}/{partition}"
        if recalculate:
            path += "/" + "-".join(recalculate)
        answer = self._call(peer, "REPLICATE", path, policy)
        try:
            found = msgpack.unpackb(answer, raw=False)
        except (ValueError, TypeError, msgpack.UnpackException):
            raise PeerError(peer, "REPLICATE answer is not msgpack", 200) from None
        if not isinstance(found, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in found.items()):
            raise PeerError(peer, "REPLICATE answer is not a map of suffix hashes", 200)
        return found

    def offer(self, peer: Peer, policy: int, partition: int,
              objects: Mapping[str, State]) -> dict[str, list[str]]:
        """What of ``objects`` the peer lacks: {hash: kinds}."""
        def body() -> Iterator[bytes]:
            yield header_frame("offer")
            for name_hash, state in objects.items():
                yield pack(state.offer_frame(name_hash))
            yield end_frame(len(objects))
        answer = self._call(peer, "SYNC", f"/{peer.device}/{partition}", policy, body())
        try:
            wants, tables = parse_wants(answer)
        except ProtocolError as err:
            raise PeerError(peer, str(err), 200) from None
        if tables:
            self._take_tables.add(peer)
        else:
            self._take_tables.discard(peer)
        return {name_hash: kinds for name_hash, kinds in wants.items() if name_hash in objects}

    def push(self, peer: Peer, local: LocalPartition,
             items: Sequence[tuple[str, State, Sequence[str]]]) -> list[PushResult]:
        """Push each (hash, state, kinds) of ``items``; the peer's verdict on
        each file it got. Local trouble reading a file (DiskFileQuarantined,
        OSError) ends the push and is raised as it is."""
        sizes: dict[str, int] = {}  # body bytes sent per hash
        tables = peer in self._take_tables

        def body() -> Iterator[bytes]:
            yield header_frame("push")
            sent = 0
            for name_hash, state, kinds in items:
                for frame in local.frames(name_hash, state, kinds, tables):
                    if frame.starts is not None:
                        sent += 1
                    elif frame.body_bytes:
                        sizes[name_hash] = sizes.get(name_hash, 0) + frame.body_bytes
                    yield frame.data
            yield end_frame(sent)
        answer = self._call(peer, "SYNC", f"/{peer.device}/{local.partition}", local.policy,
                            body())
        try:
            rows = parse_results(answer)
        except ProtocolError as err:
            raise PeerError(peer, str(err), 200) from None
        return [PushResult(*row, size=sizes.get(row[0], 0) if row[1] == "data" else 0)
                for row in rows]
