"""Chunk checksums: corrupt bytes are never served, not even once.

While an object is written, every ``CHUNK`` bytes get a crc32; the table
of them is stored in the data file right after the object's bytes:

    [object bytes][crc32 of chunk 0, 1, ... as big-endian uint32][metadata trailer, if any]

A reader fetches a span of whole chunks at a time (a megabyte, say, so a
trip to the disk thread pool carries a lot) and verifies each chunk of
it against the table *before* handing any of its bytes out, so rot is
caught at the first bad chunk and the response stops there (the proxy
carries on from another replica) instead of sending bad bytes to a
client. The good chunks before the bad one are still served: they are
proven good, and the proxy resumes right after them. The table's own
crc32 is kept in the metadata so a damaged table is told apart from
damaged data (both mean: quarantine).

Reads do not recompute the MD5 (the ETag): the crc32s already prove
every byte served at a small part of MD5's cost (measured on one core:
MD5 about 750 MB/s, crc32 about 4 GB/s with zlib and 20 with zlib-ng,
see common/crc.py). Checking MD5s at rest is the auditor's job (issue #5).
crc32 catches every error burst up to 32 bits; it guards against disks
and cables, not against someone who can write the file.
"""
from __future__ import annotations

import array
import hashlib
import sys
from collections.abc import Callable, Iterator
from typing import Final

from objstore.common.crc import crc32

CHUNK: Final = 64 * 1024


class ChecksumWriter:
    """Feeds on the object's bytes as they arrive; yields the table."""

    def __init__(self, with_md5: bool = True) -> None:
        self.crcs: array.array[int] = array.array("I")
        self._crc = 0
        self._filled = 0
        # without: the MD5 comes from elsewhere (put_footer.py)
        self.md5 = hashlib.md5(usedforsecurity=False) if with_md5 else None
        self.size = 0

    def update(self, data: bytes) -> None:
        if self.md5 is not None:
            self.md5.update(data)
        self.size += len(data)
        view = memoryview(data)
        while view:
            take = min(CHUNK - self._filled, len(view))
            self._crc = crc32(view[:take], self._crc)
            self._filled += take
            view = view[take:]
            if self._filled == CHUNK:
                self.crcs.append(self._crc)
                self._crc, self._filled = 0, 0

    def table(self) -> bytes:
        """The table as stored: one big-endian uint32 per chunk."""
        crcs = array.array("I", self.crcs)
        if self._filled:
            crcs.append(self._crc)
        if sys.byteorder != "big":
            crcs.byteswap()
        return crcs.tobytes()


def table_length(size: int) -> int:
    return 4 * ((size + CHUNK - 1) // CHUNK)


def parse_table(raw: bytes) -> array.array[int]:
    crcs = array.array("I")
    crcs.frombytes(raw)
    if sys.byteorder != "big":
        crcs.byteswap()
    return crcs


class ChunkMismatch(Exception):
    """A chunk whose bytes do not match their checksum."""

    def __init__(self, index: int) -> None:
        super().__init__(f"chunk {index} (bytes {index * CHUNK}+) fails its crc32")
        self.index = index


def verified_spans(read_span: Callable[[int, int], bytes], crcs: array.array[int], size: int,
                   start: int, end: int, span: int) -> Iterator[bytes]:
    """The bytes [start, end) of an object of ``size`` bytes.

    ``read_span(offset, length)`` reads whole chunks, ``span`` bytes (at
    least one chunk) at a time; every chunk of a span is checked before
    any of the span is yielded. A bad chunk raises ChunkMismatch once the
    good chunks before it are out."""
    step = max(1, span // CHUNK) * CHUNK
    stop = min(size, -(-end // CHUNK) * CHUNK)  # the end of the last chunk needed
    offset = start - start % CHUNK
    while offset < end:
        length = min(step, stop - offset)
        data = read_span(offset, length)
        good = _good_prefix(data, length, crcs, offset // CHUNK)
        low, high = max(start - offset, 0), min(end - offset, good)
        if low < high:
            yield data if (low, high) == (0, len(data)) else data[low:high]
        if good < length:
            raise ChunkMismatch((offset + good) // CHUNK)
        offset += length


def _good_prefix(data: bytes, length: int, crcs: array.array[int], first: int) -> int:
    """How many bytes of ``data`` (chunks ``first`` on, ``length`` bytes
    expected) come before the first chunk that is short or fails its crc."""
    view = memoryview(data)
    for at in range(0, length, CHUNK):
        chunk = view[at:at + CHUNK]
        if len(chunk) != min(CHUNK, length - at) or crc32(chunk) != crcs[first + at // CHUNK]:
            return at
    return length
