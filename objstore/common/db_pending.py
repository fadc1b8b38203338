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

Group commit (``PendingFile.append_shared``): threads of one process that
append to the same path at the same time share one write and one fsync.
The first to arrive leads a batch; whoever arrives before it starts
writing joins that batch; the leader writes every frame of the batch in
one write under the ``flock``, fsyncs once and wakes the others. Those
who arrive while a batch is being written form the next one, whose leader
waits for the write ahead of it (one write per path at a time in a
process; the ``flock`` still orders processes). Invariants:

- Every caller returns only after the fsync of the write that carried its
  frames, and a failed write or fsync is raised in every caller of its
  batch: the same promise as one append per caller.
- A batch is written whole within one hold of the ``flock``, as a single
  append was, so a merge (read and empty, under the same lock) sees all of
  it or none of it.
- Frames join a batch only while it is open, under ``_mutex``; the leader
  closes it under ``_mutex`` before reading them, so no frame is written
  twice or left behind.
- ``_mutex`` is held for a few dictionary and list operations, never
  across I/O or a wait; a batch's waiters block on its own latch.
"""
from __future__ import annotations

import contextlib
import copy
import fcntl
import os
import struct
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type hints

from objstore.common import os_threads
from objstore.common.db_files import fsync_directory

MAGIC: Final = b"\xc1OSp"
FORMAT_VERSION: Final = 1
_HEADER: Final = struct.Struct(">4sII")
_LOCK_POLL: Final = 0.005  # seconds between attempts at a busy lock

# Group commit blocks real OS threads (the disk thread pool's) on locks that
# another OS thread releases, so the locks and sleeps here are the
# interpreter's own (os_threads); the real sleep also keeps a lock wait from
# yielding to another green thread in the middle of a batch.
_os_lock: Final = os_threads.allocate_lock
_os_sleep: Final = os_threads.sleep


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
        while self._fd is None:
            # The file is there but for a database's first append: try that first.
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
                break
            except FileNotFoundError:
                pass
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL,
                                   0o644)
            except FileExistsError:
                continue  # made meanwhile by another broker
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
                _os_sleep(_LOCK_POLL)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def append_shared(self, frames: bytes) -> tuple[int, bool]:
        """Append ``frames`` and fsync, sharing the write and the fsync with
        the appends other threads make to this path meanwhile (group
        commit; see the module doc). Takes the lock itself: do not hold it.

        Returns the file's size after the write that carried the frames,
        and whether this call made that write (led the batch). What that
        write raised is raised here, in every call of its batch."""
        ahead = None
        with _mutex:
            line = _lines.get(self.path)
            if line is None:
                line = _lines[self.path] = _Line()
            line.users += 1
            batch = line.open
            leads = batch is None
            if batch is None:
                batch = line.open = _Batch()
                ahead = line.writing
            batch.frames.append(frames)
        try:
            if leads:
                self._lead(line, batch, ahead)
            else:
                batch.wait()
        finally:
            with _mutex:
                line.users -= 1
                if not line.users:
                    del _lines[self.path]
        if batch.error is not None:
            raise batch.error if leads else _private_copy(batch.error)
        return batch.size, leads

    def _lead(self, line: _Line, batch: _Batch, ahead: _Batch | None) -> None:
        """Write ``batch`` once the write ahead of it is done; frames join
        it until then."""
        try:
            if ahead is not None:
                ahead.wait()
            with _mutex:
                line.open = None  # arrivals from now on start the next batch
                line.writing = batch
            with self.locked():
                size = self.append(b"".join(batch.frames))
        except BaseException as err:
            with _mutex:
                if line.open is batch:
                    line.open = None
            batch.finish(0, err)
        else:
            batch.finish(size, None)

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


class _Batch:
    """Frames that share one write and one fsync, and how that went."""

    __slots__ = ("frames", "size", "error", "_done")

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.size = 0
        self.error: BaseException | None = None
        self._done = _os_lock()
        self._done.acquire()  # held until the outcome is known

    def finish(self, size: int, error: BaseException | None) -> None:
        self.size, self.error, self.frames = size, error, []
        self._done.release()

    def wait(self) -> None:
        """Until ``finish``; each waiter passes the latch on to the next."""
        with self._done:
            pass


@dataclass
class _Line:
    """The appends to one path in this process."""

    open: _Batch | None = None     # taking frames; its leader has not started writing
    writing: _Batch | None = None  # the last batch closed (being written, or done)
    users: int = 0                 # calls in progress; the line goes with the last


def _private_copy(error: BaseException) -> BaseException:
    """The batch's error for one more caller: a copy, so that callers in
    different threads do not all grow one traceback."""
    try:
        return copy.copy(error)
    except Exception:  # noqa: BLE001 -- an exception class that does not copy
        return error


_mutex = _os_lock()
_lines: dict[str, _Line] = {}


def _forget_after_fork() -> None:
    # A fork copies only the forking thread: a lock or a batch another
    # thread held would never be released in the child.
    global _mutex
    _mutex = _os_lock()
    _lines.clear()


os.register_at_fork(after_in_child=_forget_after_fork)
