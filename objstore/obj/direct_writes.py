"""A big body written past the page cache (O_DIRECT).

Through the page cache, a 64 MiB object costs its object server some
15 ms of CPU more than the bytes need: the copy into the cache, then the
kernel's writeback of every page and the freeing of each once clean
(measured here, a 64 MiB file in 1 MiB writes, fsynced: 20 ms of CPU
buffered, 5 direct, the same wall time). A big object leaves the cache
once durable anyway (diskfile.KEEP_CACHE_SIZE), so nothing is lost by
never putting it there; from 1 MiB up (diskfile.DIRECT_WRITE_SIZE) the
saving outweighs the first GET's read from the disk.

O_DIRECT wants the memory, the file offset and the length aligned to the
device's logical block; ``ALIGN`` (4 KiB) suits 512-byte and 4 KiB
devices. The bytes gather in a page-aligned buffer (an anonymous mmap;
the object server reads a body from its socket straight into it, see
``space``) and go out a whole buffer at a time; at the end, the whole blocks of
what is left go direct and the last partial block through the page
cache, with O_DIRECT turned off on the descriptor. Where the filesystem
refuses O_DIRECT (EINVAL when it is set: ``start`` says None; or at the
first write: the rest goes through the page cache), the caller's plain
writes do; nothing else changes.
"""
from __future__ import annotations

import collections
import errno
import fcntl
import mmap
import os
from typing import Final

ALIGN: Final = 4096
# A multiple of ALIGN. 4 MiB: a quarter of the disk-thread trips of 1 MiB
# (each a hub wake-up and GIL hand-overs: 30 ms of the object servers'
# CPU on a 64 MiB PUT), yet still in the CPU's cache when its crc32 runs
# right after it arrived (8 and 16 MiB cost more CPU again).
BUFFER: Final = 4 << 20
# Buffers of finished writes kept for the next ones: a new one costs a
# page fault per 4 KiB on first touch (1,024 a buffer, 5% of an object
# server's CPU on 64 MiB PUTs). At most 16 MiB stay with a worker when
# big writes stop. deque's append and pop are atomic: the disk threads
# share it without a lock.
KEPT_BUFFERS: Final = 4
_kept: collections.deque[mmap.mmap] = collections.deque()


def start(fd: int) -> DirectWrites | None:
    """Direct writes to ``fd`` (positioned at 0, or at any multiple of
    ALIGN); None where its filesystem refuses O_DIRECT."""
    return DirectWrites(fd) if _set_direct(fd, True) else None


class DirectWrites:
    """Appends to a descriptor with O_DIRECT on (see ``start``)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.direct = True
        self._buffer = _take_buffer()
        self._filled = 0
        self._closed = False

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            take = min(BUFFER - self._filled, len(view))
            self._buffer[self._filled:self._filled + take] = view[:take]
            self._filled += take
            view = view[take:]
            if self._filled == BUFFER:
                self._write_out(BUFFER)

    def space(self) -> memoryview:
        """The buffer's free part, to fill in place (then ``filled``)."""
        return memoryview(self._buffer)[self._filled:]

    def filled(self, count: int) -> None:
        """``count`` bytes were put at the start of ``space()``."""
        self._filled += count
        if self._filled == BUFFER:
            self._write_out(BUFFER)

    def finish(self) -> None:
        """Write what is left; the descriptor is a plain one again."""
        whole = self._filled - self._filled % ALIGN
        if whole and self.direct:
            self._write_out(whole)
        self._stop_direct()
        if self._filled:
            self._write_out(self._filled)
        self.close()

    def close(self) -> None:
        if self._closed:
            return  # the buffer may be another write's by now
        self._closed = True
        if len(_kept) < KEPT_BUFFERS:
            _kept.append(self._buffer)
        else:
            self._buffer.close()

    def _write_out(self, length: int) -> None:
        """The buffer's first ``length`` bytes to the file; the rest moves
        to the buffer's start."""
        done = 0
        while done < length:
            with memoryview(self._buffer) as whole, whole[done:length] as view:
                try:
                    written = os.write(self.fd, view)
                except OSError as err:
                    if err.errno != errno.EINVAL or not self.direct:
                        raise
                    self._stop_direct()  # accepted by fcntl, refused by the filesystem
                    continue
            done += written
            if self.direct and done % ALIGN:
                self._stop_direct()  # a short write: the offset is no longer aligned
        rest = self._filled - length
        if rest:
            self._buffer.move(0, length, rest)
        self._filled = rest

    def _stop_direct(self) -> None:
        if self.direct:
            _set_direct(self.fd, False)
            self.direct = False


def _take_buffer() -> mmap.mmap:
    try:
        return _kept.pop()
    except IndexError:
        # private: a plain mmap(-1) is shared memory, slower to fault in
        # and to pin for each direct write
        return mmap.mmap(-1, BUFFER, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)


def _set_direct(fd: int, on: bool) -> bool:
    """Turn O_DIRECT on or off for ``fd``; whether it is now on."""
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_DIRECT if on else flags & ~os.O_DIRECT)
    except OSError as err:
        if err.errno != errno.EINVAL:
            raise
        return False
    return on
