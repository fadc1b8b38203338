"""The pending file: rows waiting beside a database to be merged in one transaction.

A container takes thousands of object PUT records a second. One SQLite
transaction per record would cost a full fsync of the WAL each; instead a
writer appends the record to ``<db>.pending`` (one write and one fsync per
batch call) and the broker merges the whole file into the database in one
transaction when it grows past a threshold, or before anything reads the
database.

On disk the file is a sequence of frames::

    MAGIC (4 bytes) | body length (4, big-endian) | crc32 of body (4, big-endian) | body

and the body is ``msgpack([FORMAT_VERSION, record])``. ``MAGIC`` begins
with 0xc1, a byte msgpack never uses to start a value.

Invariants:

- Every append and every merge happens under an exclusive ``flock`` of the
  file, taken on the one descriptor the broker keeps open (two descriptors
  in one process would lock each other out). Lock order: the pending lock
  before SQLite's write lock, never the reverse.
- A frame that is cut short or damaged (a crash mid-append, a lost page
  after power failure) is skipped and the reader resynchronises on the next
  ``MAGIC`` whose crc matches; appends after a torn frame are not lost. A
  false ``MAGIC`` inside a body fails its crc and is skipped too.
- The file is emptied only after the merge has committed. A crash between
  the two merges the same records again, which the brokers' last-writer-wins
  merge makes harmless.
- A record of a newer format version stops the merge with an error rather
  than being dropped: it holds rows this code cannot read.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type hints

from objstore.common.db_files import fsync_directory

MAGIC: Final = b"\xc1OSp"
FORMAT_VERSION: Final = 1
_HEADER: Final = struct.Struct(">4sII")
_LOCK_POLL: Final = 0.005  # seconds between attempts at a busy lock


class PendingLockTimeout(Exception):
    """Another process held the pending file's lock for too long."""


class PendingVersionError(Exception):
    """The pending file holds records of a format newer than this code."""


@dataclass
class PendingContents:
    """What a read found: the records, in order, and the bytes skipped."""

    records: list[dict[str, Any]]
    skipped_bytes: int


def encode(records: Sequence[Mapping[str, Any]]) -> bytes:
    """The frames for ``records``, ready to append in one write."""
    frames = []
    for record in records:
        body = msgpack.packb([FORMAT_VERSION, dict(record)], use_bin_type=True)
        frames.append(_HEADER.pack(MAGIC, len(body), zlib.crc32(body)) + body)
    return b"".join(frames)


def decode(data: bytes) -> PendingContents:
    """Every whole frame in ``data``; damaged stretches are skipped."""
    records: list[dict[str, Any]] = []
    skipped = 0
    offset = 0
    while offset < len(data):
        record, frame_end = _frame_at(data, offset)
        if record is not None:
            records.append(record)
            offset = frame_end
            continue
        # Not a whole, valid frame here: resynchronise on the next MAGIC.
        following = data.find(MAGIC, offset + 1)
        following = len(data) if following < 0 else following
        skipped += following - offset
        offset = following
    return PendingContents(records, skipped)


def _frame_at(data: bytes, offset: int) -> tuple[dict[str, Any] | None, int]:
    """The record of a valid frame at ``offset`` and where it ends, or None."""
    if len(data) - offset < _HEADER.size:
        return None, offset
    magic, length, crc = _HEADER.unpack_from(data, offset)
    start = offset + _HEADER.size
    body = data[start:start + length]
    if magic != MAGIC or len(body) != length or zlib.crc32(body) != crc:
        return None, offset
    try:
        version, record = msgpack.unpackb(body, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException):
        return None, offset
    if not isinstance(version, int) or not isinstance(record, dict):
        return None, offset
    if version > FORMAT_VERSION:
        raise PendingVersionError(
            f"pending record format {version} is newer than this code reads ({FORMAT_VERSION})")
    return record, start + length


class PendingFile:
    """``<db>.pending``: append frames, read them back, empty the file.

    Holds one descriptor, opened lazily; ``close`` releases it."""

    def __init__(self, path: str, lock_timeout: float) -> None:
        self.path = path
        self.lock_timeout = lock_timeout
        self._fd: int | None = None

    def size(self) -> int:
        """The file's size, 0 when it does not exist; takes no lock."""
        try:
            return os.stat(self.path).st_size
        except FileNotFoundError:
            return 0

    def _descriptor(self) -> int:
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL,
                                   0o644)
            except FileExistsError:
                self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
            else:
                # A new name lasts only once its directory is on disk.
                fsync_directory(os.path.dirname(os.path.abspath(self.path)))
        return self._fd

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the exclusive lock; poll (never block the OS thread forever)."""
        fd = self._descriptor()
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise PendingLockTimeout(
                        f"pending file {self.path} stayed locked for {self.lock_timeout:g} s"
                    ) from None
                time.sleep(_LOCK_POLL)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def append(self, frames: bytes) -> int:
        """Append and fsync; the file's size after. Call under ``locked``."""
        fd = self._descriptor()
        view = memoryview(frames)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
        return os.fstat(fd).st_size

    def read(self) -> PendingContents:
        """Every whole record in the file. Call under ``locked``."""
        fd = self._descriptor()
        size = os.fstat(fd).st_size
        chunks = []
        offset = 0
        while offset < size:
            chunk = os.pread(fd, size - offset, offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
        return decode(b"".join(chunks))

    def clear(self) -> None:
        """Empty the file after a committed merge. Call under ``locked``."""
        os.ftruncate(self._descriptor(), 0)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

