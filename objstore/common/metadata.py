"""Object metadata kept with the object's file: in xattrs while they fit, else in the file.

Swift pickles metadata into xattrs. On ext4 all xattrs of a file share one
block (about 4 KiB), less than Swift's metadata limits allow, so Swift answers
507 there and stays stuck. We keep the metadata in xattrs while the filesystem
takes it and otherwise append it to the data file as a trailer, leaving only a
small stub in the xattrs. Readers make one call and get the dict either way.

Blob: ``msgpack(envelope) + crc32(msgpack(envelope))``, the crc as 4 bytes
big-endian. The envelope is ``{"v": 1, "meta": {...}}``, or for a stub
``{"v": 1, "in_file": [offset, length, crc32 of the trailer blob]}``. crc32
rather than a cryptographic digest: it guards against disk and copy faults,
not against people who can already write the file; it catches every burst of
up to 32 bits, misses other damage one time in 2**32, and costs nothing.

On disk:

- xattrs ``user.objstore.meta``, ``user.objstore.meta.1``, ... hold the blob
  in chunks of at most ``chunk_size`` bytes; a reader joins chunks until a
  key is missing.
- overflow: the file is ``[object bytes][blob][blob length: 8 bytes BE]
  [b"OSMETA01"]`` and the xattrs hold the stub. The object ends where the
  trailer starts: ``content_end(fd)``.

Invariants:

- Chunk 0 is removed first and written last. Between the two a reader finds
  no metadata; it never joins new chunks to an old chunk 0, and a mixture of
  chunks fails the checksum.
- A trailer counts only when the stub names its offset, length and crc and
  the file ends right after its footer.
- ``write_metadata`` does not fsync. The caller writes a temp file, calls it,
  fsyncs, renames. If it fails the file has no metadata or corrupt metadata,
  never the old metadata beside new bytes, never half of the new.

Errors::

    MetadataError           base of all errors raised here
    +-- MetadataCorrupt     checksum, version, shape or trailer is wrong
    +-- MetadataMissing     the file has no metadata
    +-- XattrUnsupported    the filesystem has no xattrs (metadata is never dropped)

A caller's bad input raises TypeError or ValueError. Other disk errors, a
full disk among them, pass through as OSError.
"""
from __future__ import annotations

import contextlib
import errno
import itertools
import os
import re
import struct
import zlib
from collections.abc import Iterator, Mapping
from typing import Any, Final, TypeAlias

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type hints

MetaValue: TypeAlias = str | int | float | bool

FORMAT_VERSION: Final = 1
XATTR_KEY: Final = "user.objstore.meta"
# ext4 refuses one value bigger than its block minus headers (about 4 KiB on
# 4 KiB blocks), and the VFS caps values at 64 KiB. 2 KiB chunks fit anywhere
# xattrs are usable. Any blob up to about 4 KiB splits into pieces ext4 can
# still take, and a large blob can live in the xattrs of filesystems with more
# room (XFS), with about 1% of it spent on headers.
DEFAULT_CHUNK_SIZE: Final = 2048
TRAILER_MAGIC: Final = b"OSMETA01"

_CRC_SIZE: Final = 4
_FOOTER: Final = struct.Struct(">Q8s")  # blob length, magic
_CHUNK_NAME: Final = re.compile(re.escape(XATTR_KEY) + r"\.[0-9]+")
_OVERFLOW: Final = frozenset({errno.ENOSPC, errno.E2BIG})
_UNSUPPORTED: Final = frozenset({errno.ENOTSUP, errno.EOPNOTSUPP})
_INT_RANGE: Final = range(-(2**63), 2**64)  # what msgpack can carry


class MetadataError(Exception):
    """Base of the metadata layer's errors."""


class MetadataCorrupt(MetadataError):
    """Stored metadata fails its checksum, version, shape or trailer checks."""


class MetadataMissing(MetadataError):
    """The file carries no objstore metadata."""


class XattrUnsupported(MetadataError):
    """The file's filesystem has no xattrs, so metadata cannot be kept with it."""


def encode_metadata(meta: Mapping[str, MetaValue]) -> bytes:
    """The checksummed blob for ``meta``. Refuses anything that would not read back the same."""
    for key, value in meta.items():
        _check_item(key, value)
    return _seal({"v": FORMAT_VERSION, "meta": dict(meta)})


def decode_metadata(blob: bytes) -> dict[str, Any]:
    """The metadata in a blob from ``encode_metadata``. Raises MetadataCorrupt on any damage."""
    return _meta_of(_unseal(blob))


def write_metadata(fd: int, meta: Mapping[str, MetaValue], data_length: int,
                   chunk_size: int = DEFAULT_CHUNK_SIZE, *, new_file: bool = False) -> None:
    """Store ``meta`` with the file open on ``fd``, which holds ``data_length`` object bytes.

    The file must hold exactly the object bytes, or those bytes followed by a
    trailer from an earlier call (it is replaced). Uses xattrs if the
    filesystem takes the blob, otherwise appends a trailer and writes a stub.
    ``new_file``: the caller just made the file and wrote exactly the object
    bytes, so there is no earlier metadata to check for and clear (four
    system calls fewer on every object write).
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, not {chunk_size}")
    if data_length < 0:
        raise ValueError(f"data_length must not be negative, not {data_length}")
    blob = encode_metadata(meta)  # refuse bad input before touching the file
    with _xattrs_of(fd):
        if not new_file:
            _check_data_length(fd, data_length)
            _clear_chunks(fd)
            _cut(fd, data_length)
        try:
            _set_chunks(fd, blob, chunk_size)
            return
        except OSError as err:
            if err.errno not in _OVERFLOW:
                raise
        _clear_chunks(fd)  # free the space the partial chunks took, for the stub
        stub = _seal({"v": FORMAT_VERSION, "in_file": [data_length, len(blob), _crc(blob)]})
        try:
            _pwrite_all(fd, blob + _FOOTER.pack(len(blob), TRAILER_MAGIC), data_length)
            _set_chunks(fd, stub, chunk_size)
        except BaseException:
            with contextlib.suppress(OSError):
                _clear_chunks(fd)
                _cut(fd, data_length)
            raise


def read_metadata(fd: int) -> dict[str, Any]:
    """The metadata stored with the file open on ``fd``, from xattrs or the trailer."""
    return read_metadata_and_end(fd)[0]


def content_end(fd: int) -> int:
    """Where the object bytes end: the trailer's offset, or the file size if there is none."""
    return read_metadata_and_end(fd)[1]


def read_metadata_and_end(fd: int) -> tuple[dict[str, Any], int]:
    """The metadata and where the object bytes end, checked together in one pass."""
    with _xattrs_of(fd):
        envelope = _unseal(_read_chunks(fd))
    size = os.fstat(fd).st_size
    if "in_file" not in envelope:
        return _meta_of(envelope), size
    offset, length, crc = _stub_of(envelope)
    if size != offset + length + _FOOTER.size or _trailer_start(fd, size) != offset:
        raise MetadataCorrupt("metadata trailer does not match its stub")
    blob = _pread_exact(fd, length, offset)
    if _crc(blob) != crc:
        raise MetadataCorrupt("metadata trailer checksum mismatch")
    return decode_metadata(blob), offset


def _check_item(key: object, value: object) -> None:
    if not isinstance(key, str):
        raise TypeError(f"metadata key {key!r} is not a str")
    _check_utf8(key, "key")
    if isinstance(value, str):
        _check_utf8(value, f"value of {key!r}")
    elif isinstance(value, int):  # bool too
        if value not in _INT_RANGE:
            raise ValueError(f"metadata value of {key!r} does not fit in 64 bits")
    elif not isinstance(value, float):
        raise TypeError(f"metadata value of {key!r} is a {type(value).__name__}, "
                        "not str, int, float or bool")


def _check_utf8(text: str, what: str) -> None:
    # A str may hold lone surrogates (from surrogateescape), which UTF-8 cannot carry.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"metadata {what} {text!r} is not valid UTF-8") from None


def _crc(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def _seal(envelope: dict[str, Any]) -> bytes:
    payload: bytes = msgpack.packb(envelope, use_bin_type=True)
    return payload + _crc(payload).to_bytes(_CRC_SIZE, "big")


def _unseal(blob: bytes) -> dict[str, Any]:
    if len(blob) <= _CRC_SIZE:
        raise MetadataCorrupt(f"metadata blob of {len(blob)} bytes is truncated")
    payload = blob[:-_CRC_SIZE]
    if _crc(payload) != int.from_bytes(blob[-_CRC_SIZE:], "big"):
        raise MetadataCorrupt("metadata checksum mismatch (corrupt or truncated)")
    try:
        envelope = msgpack.unpackb(payload, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException) as err:
        raise MetadataCorrupt(f"metadata payload is not msgpack: {type(err).__name__}") from None
    if not isinstance(envelope, dict):
        raise MetadataCorrupt("metadata envelope is not a map")
    version = envelope.get("v")
    if type(version) is not int or version != FORMAT_VERSION:
        raise MetadataCorrupt(f"metadata format version {version!r} is unknown")
    return envelope


def _meta_of(envelope: dict[str, Any]) -> dict[str, Any]:
    meta = envelope.get("meta")
    if len(envelope) != 2 or not isinstance(meta, dict):
        raise MetadataCorrupt("metadata envelope holds no metadata map")
    for key, value in meta.items():
        if not isinstance(key, str) or not isinstance(value, (str, int, float)):
            raise MetadataCorrupt(f"metadata item {key!r} has a key or value of the wrong type")
    return meta


def _stub_of(envelope: dict[str, Any]) -> tuple[int, int, int]:
    where = envelope["in_file"]
    if (len(envelope) != 2 or not isinstance(where, list) or len(where) != 3
            or not all(type(number) is int and number >= 0 for number in where)):
        raise MetadataCorrupt("metadata stub is malformed")
    return where[0], where[1], where[2]


@contextlib.contextmanager
def _xattrs_of(fd: int) -> Iterator[None]:
    try:
        yield
    except OSError as err:
        if err.errno in _UNSUPPORTED:
            raise XattrUnsupported(f"no xattr support for {_describe(fd)}") from None
        raise


def _describe(fd: int) -> str:
    try:
        return f"{os.readlink(f'/proc/self/fd/{fd}')} (fd {fd})"
    except OSError:
        return f"fd {fd}"


def _chunk_key(index: int) -> str:
    return XATTR_KEY if index == 0 else f"{XATTR_KEY}.{index}"


def _read_chunks(fd: int) -> bytes:
    chunks = []
    for index in itertools.count():
        try:
            chunks.append(os.getxattr(fd, _chunk_key(index)))
        except OSError as err:
            if err.errno != errno.ENODATA:
                raise
            break
    if not chunks:
        raise MetadataMissing(f"no metadata on {_describe(fd)}")
    return b"".join(chunks)


def _set_chunks(fd: int, blob: bytes, chunk_size: int) -> None:
    # Highest first: chunk 0 commits the set.
    count = -(-len(blob) // chunk_size)
    for index in reversed(range(count)):
        os.setxattr(fd, _chunk_key(index), blob[index * chunk_size:(index + 1) * chunk_size])


def _clear_chunks(fd: int) -> None:
    # Chunk 0 first, so readers see no metadata rather than a mix of old and new.
    _remove_xattr(fd, XATTR_KEY)
    for name in os.listxattr(fd):
        if _CHUNK_NAME.fullmatch(name):
            _remove_xattr(fd, name)


def _remove_xattr(fd: int, name: str) -> None:
    try:
        os.removexattr(fd, name)
    except OSError as err:
        if err.errno != errno.ENODATA:
            raise


def _check_data_length(fd: int, data_length: int) -> None:
    # Bytes past data_length are fine only as an old trailer we are replacing;
    # anything else is object data the caller miscounted, not ours to cut.
    size = os.fstat(fd).st_size
    if size != data_length and (size < data_length or _trailer_start(fd, size) != data_length):
        raise ValueError(f"data_length {data_length} does not match the file's {size} bytes")


def _cut(fd: int, data_length: int) -> None:
    if os.fstat(fd).st_size != data_length:
        os.ftruncate(fd, data_length)


def _trailer_start(fd: int, size: int) -> int | None:
    """Where the trailer blob starts if the file of ``size`` bytes ends in a footer."""
    if size < _FOOTER.size:
        return None
    length, magic = _FOOTER.unpack(_pread_exact(fd, _FOOTER.size, size - _FOOTER.size))
    if magic != TRAILER_MAGIC or length > size - _FOOTER.size:
        return None
    return int(size - _FOOTER.size - length)


def _pread_exact(fd: int, length: int, offset: int) -> bytes:
    parts = []
    while length:
        part = os.pread(fd, length, offset)
        if not part:
            raise MetadataCorrupt("metadata trailer is cut short")
        parts.append(part)
        length -= len(part)
        offset += len(part)
    return b"".join(parts)


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written
