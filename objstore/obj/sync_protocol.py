"""The object sync protocol: how a replicator hands a peer the files it lacks.

One verb on the object server, two exchanges per partition and peer, each
one HTTP request whose body is a stream of frames, each a msgpack object
after its length (4 bytes, big-endian; at most MAX_FRAME), in a chunked or
a sized body alike; the answer is one frame::

    SYNC /<device>/<partition>        X-Backend-Storage-Policy-Index: N

    offer   {"v": 1, "op": "offer"}
            {"hash": H, "data": T|nil, "meta": T|nil, "ts": T|nil}    one per object
            {"end": <objects offered>}
      -> 200  {"v": 1, "want": {H: ["data", "meta"], ...},           what the peer lacks
               "tables": true}                          it takes checksum tables (see below)

    push    {"v": 1, "op": "push"}
            {"hash": H, "kind": "data", "timestamp": T, "metadata": {...}, "table": B}
               then the object's bytes as bin objects (each <= MAX_PIECE) up to
               metadata["Content-Length"]
            {"hash": H, "kind": "meta", "timestamp": T, "metadata": {...}}
            {"hash": H, "kind": "ts", "timestamp": T, "metadata": {...}}
            {"end": <items pushed>}
      -> 200  {"v": 1, "results": [[H, kind, T, status, reason], ...]}

``T`` is an internal timestamp (the file's name without its extension);
``metadata`` is the file's own (a ``.data``'s without any ``.meta`` applied),
so each side ends up with the same files and the same suffix hashes.

``table`` (optional, a .data's only) is the file's chunk checksum table
as stored (``integrity``: a big-endian crc32 per 64 KiB), sent only to a
peer whose offer answer said ``"tables": true`` (a receiver that predates
it refuses unknown keys) and only for tables of at most MAX_TABLE bytes
(objects up to 16 GiB). The receiver computes that table from the bytes
anyway (it stores one); an equal table proves the bytes are the ones the
sender stored and checked as it read them, so the receiver need not
hash them to the ETag: MD5 was about half its CPU while it took a lost
disk's big objects back. Without a table it checks the MD5 as before.
Either way the receiver writes its own table from the bytes, so the two
files come out the same.

Invariants, enforced by the receiver (``sync_receiver``) with ``wanted``:

* Newest wins, with ``layout.resolve``'s rules: at equal timestamps a
  ``.data`` beats a ``.ts``. An item no newer than what the peer holds is
  refused (``HELD``) and counts as held: the peer has it or something newer.
* A ``.meta`` is kept only over a ``.data`` older than it (``NO_BASE`` when
  the peer holds nothing for it to apply to).
* A ``.data`` is kept only when its bytes are as long as its metadata says
  and match its ``table``, or without one hash to its ETag (``BAD_BODY``
  otherwise; the stream goes on), and only under the hash its ``name``
  has (400 otherwise).
* Every file kept is durable before the answer (DiskFile's write path:
  temp file, fsync, rename, fsync of the directory).
* A tombstone the peer would reclaim at once (older than its
  ``reclaim_age``) is not wanted.
* A malformed stream (version, frame, hash, kind, timestamp, metadata) is
  answered 400 and ends the request; items stored before it stay, each
  whole and durable.
"""
from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type hints

from objstore.common import paths
from objstore.common.timestamp import InvalidTimestamp, Timestamp
from objstore.obj import layout
from objstore.obj.integrity import table_length

VERSION: Final = 1
KINDS: Final = ("data", "meta", "ts")      # push order within one object
EXTENSION: Final = {"data": ".data", "meta": ".meta", "ts": ".ts"}
MAX_PIECE: Final = 1024 * 1024             # body bytes per bin object
MAX_FRAME: Final = 2 * 1024 * 1024         # the largest frame a reader takes
MAX_TABLE: Final = 1024 * 1024             # the largest table sent (an object of 16 GiB)
_LENGTH: Final = struct.Struct(">I")      # a frame's length prefix
READ_SIZE: Final = 64 * 1024

# Per-item answers of a push.
STORED: Final = 201
HELD: Final = 409       # the peer holds this or something newer: nothing to do
NO_BASE: Final = 412    # a .meta with no .data under it at the peer
BAD_BODY: Final = 422   # bytes that do not match their metadata's length or ETag
CONFIRMED: Final = frozenset({STORED, HELD})


class ProtocolError(Exception):
    """A stream that breaks the protocol: answered 400 with this reason."""


class StreamEnded(ProtocolError):
    """The body ended before the stream did (a sender that gave up mid-way)."""


# -- what one side holds of one object -------------------------------------------------

@dataclasses.dataclass(frozen=True)
class State:
    """The timestamps of an object's files that count (``layout.resolve``)."""

    data: Timestamp | None = None
    meta: Timestamp | None = None
    ts: Timestamp | None = None

    @classmethod
    def of(cls, found: layout.Resolution) -> State:
        def stamp(name: str | None) -> Timestamp | None:
            parsed = layout.parse_file_name(name) if name else None
            return parsed[0] if parsed else None
        return cls(stamp(found.data), stamp(found.meta), stamp(found.tombstone))

    @property
    def winner(self) -> Timestamp | None:
        return self.data or self.ts

    def stamp(self, kind: str) -> Timestamp | None:
        return {"data": self.data, "meta": self.meta, "ts": self.ts}[kind]

    def file_name(self, kind: str) -> str | None:
        stamp = self.stamp(kind)
        return layout.file_name(stamp, EXTENSION[kind]) if stamp is not None else None

    def file_names(self) -> list[str]:
        return [name for kind in KINDS if (name := self.file_name(kind)) is not None]

    def offer_frame(self, name_hash: str) -> dict[str, Any]:
        frame: dict[str, Any] = {"hash": name_hash}
        for kind in KINDS:
            stamp = self.stamp(kind)
            frame[kind] = stamp.internal if stamp is not None else None
        return frame


def wanted(offered: State, held: State, reclaim_before: float) -> list[str]:
    """The kinds of ``offered``'s files a peer holding ``held`` lacks.
    ``reclaim_before``: the peer's cutoff for tombstones (now - reclaim_age)."""
    winner = held.winner
    if offered.ts is not None:
        fresh = float(offered.ts) >= reclaim_before
        return ["ts"] if fresh and (winner is None or winner < offered.ts) else []
    if offered.data is None:
        return []
    want = []
    data_wanted = winner is None or winner < offered.data or (
        winner == offered.data and held.data is None)  # a .data beats a .ts of its time
    if data_wanted:
        want.append("data")
    if offered.meta is not None and meta_applies(offered.meta, held, data_wanted):
        want.append("meta")
    return want


def meta_applies(meta: Timestamp, held: State, data_coming: bool = False) -> bool:
    """Whether a ``.meta`` of time ``meta`` would count at a peer holding
    ``held`` (plus the ``.data`` it is sent with, when ``data_coming``)."""
    if data_coming:
        return True
    if held.data is None:
        return False  # nothing, or a tombstone: a .meta there is obsolete at once
    return held.data < meta and (held.meta is None or held.meta < meta)


def reclaim_cutoff(now: float, reclaim_age: float) -> float:
    return now - reclaim_age


# -- frames -------------------------------------------------------------------------------

def pack(value: Any) -> bytes:
    """One frame: the msgpack object's length (4 bytes, big-endian), then it."""
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return _LENGTH.pack(len(packed)) + packed


def unpack(frame: bytes) -> Any:
    """The object of a whole answer (one frame), as ``pack`` made it."""
    if len(frame) < _LENGTH.size or _LENGTH.unpack_from(frame)[0] != len(frame) - _LENGTH.size:
        raise ProtocolError(f"an answer of {len(frame)} bytes is not one whole frame")
    try:
        return msgpack.unpackb(frame[_LENGTH.size:], raw=False)
    except (ValueError, TypeError, msgpack.UnpackException) as err:
        raise ProtocolError(f"answer is not msgpack: {type(err).__name__}") from None


def header_frame(op: str) -> bytes:
    return pack({"v": VERSION, "op": op})


def end_frame(count: int) -> bytes:
    return pack({"end": count})


def item_frame(name_hash: str, kind: str, timestamp: Timestamp,
               metadata: Mapping[str, Any], table: bytes | None = None) -> bytes:
    frame = {"hash": name_hash, "kind": kind, "timestamp": timestamp.internal,
             "metadata": dict(metadata)}
    if table is not None:
        frame["table"] = table
    return pack(frame)


def body_frames(pieces: Iterator[bytes]) -> Iterator[tuple[bytes, int]]:
    """An object's bytes as bin objects of at most MAX_PIECE bytes, each
    with how many of the object's bytes it carries."""
    for piece in pieces:
        for start in range(0, len(piece), MAX_PIECE):
            part = piece[start:start + MAX_PIECE]
            yield pack(part), len(part)


class FrameReader:
    """The frames of a body read by ``read(n)`` (b"" at its end), one
    frame (at most MAX_FRAME bytes) and one read in memory at a time."""

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._read = read
        self._buffer = bytearray()
        self._ended = False
        self.bytes_read = 0

    def next(self) -> Any:
        """The next frame's object; StreamEnded at the body's end."""
        length = int.from_bytes(self._take(_LENGTH.size), "big")
        if length > MAX_FRAME:
            raise ProtocolError(f"a frame of {length} bytes is larger than {MAX_FRAME}")
        payload = self._take(length)
        try:
            return msgpack.unpackb(payload, raw=False, strict_map_key=True,
                                   max_bin_len=MAX_FRAME, max_str_len=MAX_FRAME)
        except (ValueError, TypeError, msgpack.UnpackException) as err:
            raise ProtocolError(f"a frame is not one msgpack object: "
                                f"{str(err)[:100] or type(err).__name__}") from None

    def _take(self, size: int) -> bytes:
        while len(self._buffer) < size:
            data = b"" if self._ended else self._read(max(READ_SIZE, size - len(self._buffer)))
            if not data:
                self._ended = True
                raise StreamEnded(f"body ended after {self.bytes_read} bytes, inside the "
                                  f"stream")
            self.bytes_read += len(data)
            self._buffer += data
        taken = bytes(self._buffer[:size])
        del self._buffer[:size]
        return taken

    def at_end(self) -> bool:
        """Whether the body has ended (nothing left to read)."""
        if self._buffer:
            return False
        data = b"" if self._ended else self._read(READ_SIZE)
        if data:
            self._buffer += data
            return False
        self._ended = True
        return True


# -- checking frames (the receiver's side) ----------------------------------------------

def check_header(frame: Any, ops: tuple[str, ...]) -> str:
    if not isinstance(frame, dict) or "v" not in frame:
        raise ProtocolError("the stream does not start with a header {v, op}")
    if frame["v"] != VERSION:
        raise ProtocolError(f"sync protocol version {frame['v']!r} is not supported "
                            f"(this server speaks {VERSION})")
    op = frame.get("op")
    if op not in ops:
        raise ProtocolError(f"unknown sync op {op!r} (there are: {', '.join(ops)})")
    return str(op)


def end_count(frame: Any) -> int | None:
    """The count of an end frame, None for any other frame."""
    if isinstance(frame, dict) and set(frame) == {"end"}:
        count = frame["end"]
        if type(count) is not int or count < 0:
            raise ProtocolError(f"bad end frame {frame!r}")
        return count
    return None


def check_hash(value: Any) -> str:
    if not isinstance(value, str) or not paths.valid_hash(value):
        raise ProtocolError(f"invalid object hash {str(value)[:80]!r}")
    return value


def check_timestamp(value: Any, what: str) -> Timestamp:
    if not isinstance(value, str):
        raise ProtocolError(f"{what} must be a timestamp string, not {value!r:.80}")
    try:
        return Timestamp(value)
    except InvalidTimestamp as err:
        raise ProtocolError(f"invalid {what}: {err}") from None


def check_offer(frame: Any) -> tuple[str, State]:
    if not isinstance(frame, dict) or not set(frame) <= {"hash", *KINDS}:
        raise ProtocolError(f"bad offer frame {str(frame)[:120]!r}")
    name_hash = check_hash(frame.get("hash"))
    stamps = {kind: check_timestamp(frame[kind], kind) if frame.get(kind) is not None else None
              for kind in KINDS}
    state = State(**stamps)
    if (state.data is None) == (state.ts is None):
        raise ProtocolError(f"offer of {name_hash} needs exactly one of data and ts")
    if state.meta is not None and (state.data is None or state.meta <= state.data):
        raise ProtocolError(f"offer of {name_hash}: a meta must be newer than its data")
    return name_hash, state


@dataclasses.dataclass(frozen=True)
class Item:
    """One file of a push, as its frame announced it."""

    name_hash: str
    kind: str
    timestamp: Timestamp
    metadata: dict[str, Any]
    table: bytes | None = None  # a .data's chunk checksum table, when sent

    @property
    def length(self) -> int:
        """Body bytes that follow the frame (a .data's)."""
        return int(self.metadata["Content-Length"]) if self.kind == "data" else 0


def check_item(frame: Any) -> Item:
    if not isinstance(frame, dict) or not _ITEM_KEYS <= set(frame) <= _ITEM_KEYS | {"table"}:
        raise ProtocolError(f"bad push frame {str(frame)[:120]!r}")
    name_hash = check_hash(frame["hash"])
    kind = frame["kind"]
    if kind not in KINDS:
        raise ProtocolError(f"unknown kind {str(kind)[:20]!r} (there are: {', '.join(KINDS)})")
    timestamp = check_timestamp(frame["timestamp"], "timestamp")
    metadata = check_metadata(frame["metadata"])
    stated = metadata.get("X-Timestamp")
    if stated is None or check_timestamp(stated, "X-Timestamp") != timestamp:
        raise ProtocolError(f"{kind} of {name_hash}: metadata X-Timestamp {stated!r} is not "
                            f"the item's {timestamp.internal}")
    if kind == "data":
        size = metadata.get("Content-Length")
        if type(size) is not int or size < 0:
            raise ProtocolError(f"data of {name_hash}: Content-Length {size!r} is not a "
                                f"whole number")
        if not isinstance(metadata.get("ETag"), str):
            raise ProtocolError(f"data of {name_hash}: metadata has no ETag")
    table = frame.get("table")
    if table is not None:
        if kind != "data":
            raise ProtocolError(f"{kind} of {name_hash}: only a .data has a table")
        expected = table_length(metadata["Content-Length"])
        if not isinstance(table, bytes) or len(table) != expected:
            raise ProtocolError(f"data of {name_hash}: its table must be {expected} bytes")
    return Item(name_hash, kind, timestamp, metadata, table)


_ITEM_KEYS: Final = frozenset({"hash", "kind", "timestamp", "metadata"})


def check_metadata(value: Any) -> dict[str, Any]:
    """Metadata the disk layer can store as it came (str keys; str, int,
    float or bool values; valid UTF-8)."""
    if not isinstance(value, dict):
        raise ProtocolError("metadata must be a map")
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, (str, int, float)):
            raise ProtocolError(f"metadata item {str(key)[:80]!r} is not text or a number")
        for text in (key, item) if isinstance(item, str) else (key,):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise ProtocolError(f"metadata item {key[:80]!r} is not valid UTF-8") from None
        if isinstance(item, int) and not -(2 ** 63) <= item < 2 ** 64:
            raise ProtocolError(f"metadata value of {key[:80]!r} does not fit in 64 bits")
    return value


# -- checking answers (the sender's side) -------------------------------------------------

def parse_wants(body: bytes) -> tuple[dict[str, list[str]], bool]:
    """What the peer lacks, and whether it takes checksum tables."""
    answer = _answer(body)
    wants = answer.get("want")
    if not isinstance(wants, dict):
        raise ProtocolError("offer answer has no want map")
    parsed = {}
    for name_hash, kinds in wants.items():
        if not isinstance(kinds, list) or not set(kinds) <= set(KINDS):
            raise ProtocolError(f"offer answer: bad kinds {kinds!r:.80} for {name_hash!r:.40}")
        parsed[check_hash(name_hash)] = list(kinds)
    return parsed, answer.get("tables") is True


def parse_results(body: bytes) -> list[tuple[str, str, str, int, str]]:
    answer = _answer(body)
    results = answer.get("results")
    if not isinstance(results, list):
        raise ProtocolError("push answer has no results list")
    parsed = []
    for row in results:
        if not (isinstance(row, list) and len(row) == 5 and isinstance(row[0], str)
                and row[1] in KINDS and isinstance(row[2], str) and type(row[3]) is int
                and isinstance(row[4], str)):
            raise ProtocolError(f"push answer: bad result {row!r:.120}")
        parsed.append((row[0], row[1], row[2], row[3], row[4]))
    return parsed


def _answer(body: bytes) -> dict[str, Any]:
    answer = unpack(body)
    if not isinstance(answer, dict) or answer.get("v") != VERSION:
        raise ProtocolError(f"answer of an unknown version: {str(answer)[:80]!r}")
    return answer
