"""A tar archive read as it arrives, never held whole, and never taken
for whole when it is not.

tarfile's stream mode reads the archive member by member (the
compression found from its first bytes: none, gzip, bzip2), with two
gaps this module closes:

* A stream that merely stops (a truncated upload, cut between members)
  reads as a complete archive. ``Header`` notes the end-of-archive
  marker, and ``Archive.finish`` refuses an archive without one.
* tarfile inflates gzip itself and skips gzip's checksum, so damaged
  deflate data can pass for good bytes. Gzip is inflated here instead
  (``GzipBody``), the checksum checked at the end of each gzip member;
  ``Archive.finish`` reads to that end. The checksum covers the whole
  archive: damage it alone reveals is found only once the members before
  it were stored (the report then says the archive was invalid). bzip2
  checks each block itself.

A read that fails or ends before Content-Length is the client going
away (``ClientGone``); anything an archive's bytes can make tarfile or a
decompressor raise is one of ``ARCHIVE_ERRORS``.
"""
from __future__ import annotations

import tarfile
import zlib
from typing import Any, Final, Self

from objstore.common.http import HTTPError

# What a broken archive raises from tarfile and the decompressors under it.
ARCHIVE_ERRORS: Final = (tarfile.TarError, EOFError, zlib.error, OSError, ValueError)
GZIP_MAGIC: Final = b"\x1f\x8b"
CHUNK: Final = 65536
# Inflated bytes read after the end-of-archive marker to reach gzip's
# checksum (tar pads to its record size; a larger rest is not checked).
MAX_TRAILER: Final = 16 << 20


class ClientGone(Exception):
    """The client stopped sending the archive before its end."""


class RequestBody:
    """The request's body as the archive reader reads it (see the module doc)."""

    def __init__(self, source: Any, length: int | None) -> None:
        self.source, self.length = source, length
        self.received = 0
        self._first = b""

    def read(self, size: int = -1) -> bytes:
        if not self._first:
            return self._read(size)
        cut = len(self._first) if size < 0 else size
        data, self._first = self._first[:cut], self._first[cut:]
        # the peeked bytes and what follows: tarfile takes a short read for the end
        return data + self._read(size - len(data)) if size > len(data) else data

    def peek(self, size: int) -> bytes:
        """The next ``size`` bytes (fewer at the end), left to be read."""
        while len(self._first) < size:
            more = self._read(size - len(self._first))
            if not more:
                break
            self._first += more
        return self._first[:size]

    def _read(self, size: int) -> bytes:
        try:
            data: bytes = self.source.read(size)
        except (OSError, ValueError) as err:
            raise ClientGone(f"the client went away: {err}") from None
        self.received += len(data)
        if not data and self.length is not None and self.received < self.length:
            raise ClientGone(f"the body ended after {self.received} of {self.length} bytes")
        return data


class GzipBody:
    """Gzip inflated, its checksum and length checked at the end of each
    member (concatenated members are read one after another; bytes after
    the last that do not start another are ignored, as gzip does zeros)."""

    def __init__(self, source: RequestBody) -> None:
        self.source = source
        self.inflater = zlib.decompressobj(wbits=31)
        self.pending = b""
        self.at_end = False

    def read(self, size: int = -1) -> bytes:
        size = CHUNK if size < 0 else size
        while len(self.pending) < size and not self.at_end:
            self._inflate()
        data, self.pending = self.pending[:size], self.pending[size:]
        return data

    def _inflate(self) -> None:
        if self.inflater.eof:
            rest = self.inflater.unused_data or self.source.read(CHUNK)
            if not rest.startswith(GZIP_MAGIC):
                self.at_end = True
                return
            self.inflater = zlib.decompressobj(wbits=31)
            data = rest
        else:
            data = self.inflater.unconsumed_tail or self.source.read(CHUNK)
            if not data:
                raise EOFError("the gzip data stops before its end (truncated?)")
        try:
            self.pending += self.inflater.decompress(data, CHUNK)
        except zlib.error as err:
            raise tarfile.ReadError(f"damaged gzip data ({err})") from None

    def drain(self) -> None:
        """Read to the end of the gzip data, so its checksum is checked."""
        read = 0
        while not self.at_end and read < MAX_TRAILER:
            read += len(self.read(CHUNK))


class Header(tarfile.TarInfo):
    """A member's header that notes on its archive when the end-of-archive
    marker is read (see the module doc)."""

    @classmethod
    def fromtarfile(cls, tar: tarfile.TarFile) -> Self:
        try:
            return super().fromtarfile(tar)
        except tarfile.EOFHeaderError:  # type: ignore[attr-defined]
            tar.ended = True  # type: ignore[attr-defined]
            raise


class MemberBody:
    """One member's bytes as its PUT's ``wsgi.input``. A broken archive or
    a client gone mid-member ends the body short, so the proxy stores
    nothing of it; ``failure`` keeps why, to end the extraction with."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.failure: BaseException | None = None

    def read(self, size: int = -1) -> bytes:
        if self.failure is not None:
            return b""
        try:
            data: bytes = self.source.read(size)
        except (ClientGone, *ARCHIVE_ERRORS) as err:
            self.failure = err
            return b""
        return data


class Archive:
    """The members of an archive, one at a time."""

    def __init__(self, tar: tarfile.TarFile, gzip: GzipBody | None) -> None:
        self.tar, self.gzip = tar, gzip

    def next(self) -> tarfile.TarInfo | None:
        member = self.tar.next()
        # stream mode keeps every header it read otherwise, for the archive's life
        self.tar.members.clear()  # type: ignore[attr-defined]
        return member

    def member_body(self, member: tarfile.TarInfo) -> MemberBody:
        return MemberBody(self.tar.extractfile(member))

    def finish(self) -> None:
        """After the last member: a ReadError if the archive was not whole."""
        if not getattr(self.tar, "ended", False):
            raise tarfile.ReadError("the archive stops before its end-of-archive marker "
                                    "(truncated?)")
        if self.gzip is not None:
            self.gzip.drain()


def open_archive(source: Any, length: int | None) -> Archive:
    """The archive in a request body, its first header read; 400 if it is
    not a tar archive (plain, gzip or bzip2), 499 if the client went away."""
    body = RequestBody(source, length)
    try:
        gzip = GzipBody(body) if body.peek(2) == GZIP_MAGIC else None
        tar = tarfile.open(fileobj=gzip or body, mode="r|*",  # type: ignore[call-overload]
                           tarinfo=Header, encoding="utf-8", errors="surrogateescape")
    except ClientGone as err:
        raise HTTPError(499, str(err)) from None
    except ARCHIVE_ERRORS as err:
        raise HTTPError(400, f"Invalid Tar File: {err}") from None
    return Archive(tar, gzip)
