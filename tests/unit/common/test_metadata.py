"""Metadata in xattrs and in the file trailer, on real files in tmp_path (ext4 here)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type hints
import pytest

from objstore.common.metadata import (
    TRAILER_MAGIC,
    XATTR_KEY,
    MetadataCorrupt,
    MetadataMissing,
    content_end,
    decode_metadata,
    encode_metadata,
    read_metadata,
    read_metadata_and_end,
    write_metadata,
)

DATA = bytes(range(256)) * 300  # not a multiple of anything the trailer uses
SMALL = {"Content-Type": "text/plain", "ETag": "d41d8cd98f00b204e9800998ecf8427e",
         "Content-Length": len(DATA), "X-Timestamp": "1700000000.00000"}


def largest_swift_metadata() -> dict[str, Any]:
    """90 user items with 128-byte names and 256-byte values, plus system metadata."""
    meta: dict[str, Any] = dict(SMALL)
    for index in range(90):
        name = f"X-Object-Meta-{index:02d}-"
        meta[name.ljust(128, "n")] = f"{index:02d}".ljust(256, "v")
    meta["X-Object-Sysmeta-Crypto-Etag"] = "s" * 256
    meta["X-Object-Transient-Sysmeta-Crypto-Meta"] = "t" * 256
    meta["X-Static-Large-Object"] = True
    return meta


@pytest.fixture
def path(tmp_path: Path) -> Path:
    target = tmp_path / "object.data"
    target.write_bytes(DATA)
    return target


@pytest.fixture
def fd(path: Path) -> Iterator[int]:
    descriptor = os.open(path, os.O_RDWR)
    yield descriptor
    os.close(descriptor)


@pytest.fixture
def xattrs_are_small(tmp_path: Path) -> None:
    """Skip unless the filesystem refuses 8 KiB of xattrs on one file, as ext4 does."""
    probe = os.open(tmp_path / "probe", os.O_RDWR | os.O_CREAT)
    try:
        os.setxattr(probe, "user.probe.0", b"p" * 2048)
        for index in range(1, 4):
            os.setxattr(probe, f"user.probe.{index}", b"p" * 2048)
    except OSError:
        return
    finally:
        os.close(probe)
    pytest.skip("this filesystem has room for 8 KiB of xattrs; the trailer is not forced")


def our_xattrs(fd: int) -> list[str]:
    return sorted(name for name in os.listxattr(fd) if name.startswith(XATTR_KEY))


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1:]


def sealed(envelope: Any) -> bytes:
    payload: bytes = msgpack.packb(envelope, use_bin_type=True)
    return payload + (zlib.crc32(payload) & 0xFFFFFFFF).to_bytes(4, "big")


# The blob.

def test_blob_round_trips_types() -> None:
    meta = {"s": "text", "i": -5, "big": 2**64 - 1, "f": 0.25, "b": False, "": ""}
    decoded = decode_metadata(encode_metadata(meta))
    assert decoded == meta
    assert type(decoded["b"]) is bool and type(decoded["f"]) is float


@pytest.mark.parametrize("cut", [0, 1, 4, 5, -1])
def test_truncated_blob_is_corrupt(cut: int) -> None:
    with pytest.raises(MetadataCorrupt):
        decode_metadata(encode_metadata(SMALL)[:cut])


def test_any_flipped_byte_in_blob_is_corrupt() -> None:
    blob = encode_metadata(SMALL)
    for index in range(len(blob)):
        with pytest.raises(MetadataCorrupt):
            decode_metadata(flip(blob, index))


@pytest.mark.parametrize("envelope, message", [
    ({"v": 2, "meta": {}}, "version 2"),
    ({"v": True, "meta": {}}, "version True"),
    ({"meta": {}}, "version None"),
    ([1, {"a": "b"}], "not a map"),
    ({"v": 1, "meta": ["a", "b"]}, "no metadata map"),
    ({"v": 1, "meta": {}, "extra": 1}, "no metadata map"),
    ({"v": 1, "meta": {"a": None}}, "wrong type"),
    ({"v": 1, "meta": {b"a": "b"}}, "wrong type"),
    ({"v": 1, "in_file": [0, 1, 2]}, "no metadata map"),
])
def test_well_sealed_but_wrong_envelope_is_corrupt(envelope: Any, message: str) -> None:
    with pytest.raises(MetadataCorrupt, match=message):
        decode_metadata(sealed(envelope))


def test_non_msgpack_payload_is_corrupt() -> None:
    payload = b"\xc1"  # never used by msgpack
    with pytest.raises(MetadataCorrupt, match="not msgpack"):
        decode_metadata(payload + zlib.crc32(payload).to_bytes(4, "big"))


@pytest.mark.parametrize("meta, error", [
    ({b"X-Object-Meta-A": "v"}, TypeError),
    ({1: "v"}, TypeError),
    ({"X-Object-Meta-\udcff": "v"}, ValueError),
    ({"X-Object-Meta-A": "bad \udcff"}, ValueError),
    ({"X-Object-Meta-A": b"bytes"}, TypeError),
    ({"X-Object-Meta-A": None}, TypeError),
    ({"X-Object-Meta-A": ["list"]}, TypeError),
    ({"Content-Length": 2**64}, ValueError),
])
def test_bad_keys_and_values_are_refused(meta: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        encode_metadata(meta)


# Xattrs.

def test_small_metadata_stays_in_xattrs(fd: int, path: Path) -> None:
    write_metadata(fd, SMALL, len(DATA))
    assert read_metadata_and_end(fd) == (SMALL, len(DATA))
    assert our_xattrs(fd) == [XATTR_KEY]
    assert path.read_bytes() == DATA


def test_metadata_on_an_empty_file(tmp_path: Path) -> None:
    descriptor = os.open(tmp_path / "empty", os.O_RDWR | os.O_CREAT)
    try:
        write_metadata(descriptor, {"Content-Length": 0}, 0)
        assert read_metadata_and_end(descriptor) == ({"Content-Length": 0}, 0)
    finally:
        os.close(descriptor)


def new_file(directory: Path, name: str) -> int:
    descriptor = os.open(directory / name, os.O_RDWR | os.O_CREAT | os.O_EXCL)
    os.write(descriptor, DATA)
    return descriptor


def test_a_new_files_metadata_is_written_without_looking_for_old(tmp_path: Path) -> None:
    descriptor = new_file(tmp_path, "new")
    try:
        write_metadata(descriptor, SMALL, len(DATA), new_file=True)
        assert read_metadata_and_end(descriptor) == (SMALL, len(DATA))
        assert our_xattrs(descriptor) == [XATTR_KEY]
    finally:
        os.close(descriptor)


@pytest.mark.usefixtures("xattrs_are_small")
def test_a_new_files_metadata_too_big_for_xattrs_goes_to_the_trailer(tmp_path: Path) -> None:
    descriptor, meta = new_file(tmp_path, "new"), largest_swift_metadata()
    try:
        write_metadata(descriptor, meta, len(DATA), new_file=True)
        assert read_metadata_and_end(descriptor) == (meta, len(DATA))
        assert our_xattrs(descriptor) == [XATTR_KEY]  # the chunks tried first are gone
    finally:
        os.close(descriptor)


def test_metadata_split_into_chunks_reads_back(fd: int) -> None:
    meta = {f"X-Object-Meta-{index}": "x" * 100 for index in range(10)}
    write_metadata(fd, meta, len(DATA), chunk_size=256)
    assert read_metadata(fd) == meta
    count = -(-len(encode_metadata(meta)) // 256)
    assert our_xattrs(fd) == sorted([XATTR_KEY] + [f"{XATTR_KEY}.{i}" for i in range(1, count)])
    assert len(os.getxattr(fd, f"{XATTR_KEY}.{count - 1}")) <= 256


def test_small_over_big_removes_stale_chunks(fd: int) -> None:
    big = {f"X-Object-Meta-{index}": "x" * 100 for index in range(10)}
    write_metadata(fd, big, len(DATA), chunk_size=64)
    assert len(our_xattrs(fd)) > 10
    write_metadata(fd, SMALL, len(DATA), chunk_size=64)
    assert read_metadata(fd) == SMALL
    assert len(our_xattrs(fd)) == -(-len(encode_metadata(SMALL)) // 64)


@pytest.mark.parametrize("chunk", [XATTR_KEY, f"{XATTR_KEY}.1", f"{XATTR_KEY}.3"])
def test_flipped_byte_in_a_chunk_is_corrupt(fd: int, chunk: str) -> None:
    write_metadata(fd, SMALL, len(DATA), chunk_size=32)
    value = os.getxattr(fd, chunk)
    os.setxattr(fd, chunk, flip(value, len(value) // 2))
    with pytest.raises(MetadataCorrupt):
        read_metadata(fd)


def test_stale_chunk_after_the_last_is_corrupt(fd: int) -> None:
    write_metadata(fd, SMALL, len(DATA), chunk_size=32)
    count = len(our_xattrs(fd))
    os.setxattr(fd, f"{XATTR_KEY}.{count}", b"left over")
    with pytest.raises(MetadataCorrupt):
        read_metadata(fd)


def test_missing_metadata(fd: int) -> None:
    with pytest.raises(MetadataMissing, match="object.data"):
        read_metadata(fd)
    with pytest.raises(MetadataMissing):
        content_end(fd)


def test_higher_chunks_without_chunk_zero_are_missing(fd: int) -> None:
    write_metadata(fd, SMALL, len(DATA), chunk_size=32)
    os.removexattr(fd, XATTR_KEY)
    with pytest.raises(MetadataMissing):
        read_metadata(fd)


def test_refused_input_leaves_the_old_metadata(fd: int) -> None:
    write_metadata(fd, SMALL, len(DATA))
    with pytest.raises(TypeError):
        write_metadata(fd, {"X-Object-Meta-A": None}, len(DATA))  # type: ignore[dict-item]
    assert read_metadata(fd) == SMALL


@pytest.mark.parametrize("length", [len(DATA) - 1, len(DATA) + 1, -1])
def test_wrong_data_length_is_refused_untouched(fd: int, path: Path, length: int) -> None:
    write_metadata(fd, SMALL, len(DATA))
    with pytest.raises(ValueError, match="data_length"):
        write_metadata(fd, {"a": "b"}, length)
    assert read_metadata(fd) == SMALL
    assert path.read_bytes() == DATA


def test_unicode_round_trips_in_xattrs(fd: int) -> None:
    meta = {"X-Object-Meta-Ünïcødé": "日本語 ✓ \U0001f600", "Content-Type": "text/plain; charset=utf-8"}
    write_metadata(fd, meta, len(DATA))
    assert read_metadata(fd) == meta


# The trailer (the filesystem refuses the xattrs).

@pytest.mark.usefixtures("xattrs_are_small")
def test_largest_swift_metadata_goes_to_the_trailer(fd: int, path: Path) -> None:
    meta = largest_swift_metadata()
    blob = encode_metadata(meta)
    assert len(blob) > 8 * 4096
    write_metadata(fd, meta, len(DATA))
    assert read_metadata_and_end(fd) == (meta, len(DATA))
    assert content_end(fd) == len(DATA)
    stored = path.read_bytes()
    assert stored[:len(DATA)] == DATA
    assert stored[len(DATA):] == blob + len(blob).to_bytes(8, "big") + TRAILER_MAGIC
    assert our_xattrs(fd) == [XATTR_KEY]
    assert len(os.getxattr(fd, XATTR_KEY)) < 64


@pytest.mark.usefixtures("xattrs_are_small")
def test_unicode_round_trips_in_the_trailer(fd: int) -> None:
    meta = largest_swift_metadata()
    meta["X-Object-Meta-Ünïcødé"] = "日本語 ✓ \U0001f600" * 10
    write_metadata(fd, meta, len(DATA))
    assert read_metadata(fd) == meta


@pytest.mark.usefixtures("xattrs_are_small")
def test_rewrites_move_between_xattrs_and_trailer(fd: int, path: Path) -> None:
    big = largest_swift_metadata()
    write_metadata(fd, SMALL, len(DATA))
    write_metadata(fd, big, len(DATA))
    assert read_metadata_and_end(fd) == (big, len(DATA))
    bigger = dict(big, **{"X-Object-Meta-Extra": "e" * 256})
    write_metadata(fd, bigger, len(DATA))
    assert read_metadata_and_end(fd) == (bigger, len(DATA))
    assert path.stat().st_size == len(DATA) + len(encode_metadata(bigger)) + 16
    write_metadata(fd, SMALL, len(DATA))
    assert read_metadata_and_end(fd) == (SMALL, len(DATA))
    assert path.read_bytes() == DATA
    assert our_xattrs(fd) == [XATTR_KEY]


@pytest.mark.usefixtures("xattrs_are_small")
def test_any_flipped_byte_in_the_trailer_is_corrupt(fd: int, path: Path) -> None:
    write_metadata(fd, largest_swift_metadata(), len(DATA))
    size = path.stat().st_size
    # The blob's start, middle and end, the length field and the magic.
    for offset in (len(DATA), (len(DATA) + size) // 2, size - 17, size - 12, size - 1):
        original = os.pread(fd, 1, offset)
        os.pwrite(fd, bytes([original[0] ^ 0x01]), offset)
        with pytest.raises(MetadataCorrupt, match="trailer"):
            read_metadata(fd)
        with pytest.raises(MetadataCorrupt):
            content_end(fd)
        os.pwrite(fd, original, offset)
        assert read_metadata(fd) == largest_swift_metadata()


@pytest.mark.usefixtures("xattrs_are_small")
@pytest.mark.parametrize("change", [-1, -16, 1])
def test_trailer_cut_or_extended_is_corrupt(fd: int, path: Path, change: int) -> None:
    write_metadata(fd, largest_swift_metadata(), len(DATA))
    os.ftruncate(fd, path.stat().st_size + change)
    with pytest.raises(MetadataCorrupt, match="does not match its stub"):
        read_metadata(fd)


@pytest.mark.usefixtures("xattrs_are_small")
def test_failed_trailer_write_leaves_no_metadata(fd: int, path: Path) -> None:
    write_metadata(fd, SMALL, len(DATA))
    read_only = os.open(path, os.O_RDONLY)  # xattrs can be set, the trailer cannot be written
    try:
        with pytest.raises(OSError):
            write_metadata(read_only, largest_swift_metadata(), len(DATA))
        with pytest.raises(MetadataMissing):
            read_metadata(read_only)
    finally:
        os.close(read_only)
    assert path.read_bytes() == DATA


# No xattrs at all: a ramfs mounted on tmp_path in a private mount namespace.

NO_XATTR_SCRIPT = textwrap.dedent("""
    import os, sys
    from objstore.common.metadata import XattrUnsupported, read_metadata, write_metadata
    fd = os.open(os.path.join(sys.argv[1], "object.data"), os.O_RDWR | os.O_CREAT)
    for attempt in (lambda: write_metadata(fd, {"a": "b"}, 0), lambda: read_metadata(fd)):
        try:
            attempt()
        except XattrUnsupported as err:
            print(err)
        else:
            sys.exit("no XattrUnsupported")
""")


def test_filesystem_without_xattrs_is_reported(tmp_path: Path) -> None:
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "--mount", "--propagation", "private", "true"],
                                         capture_output=True, check=False).returncode:
        pytest.skip("cannot make a private mount namespace here")
    mount_point = tmp_path / "noxattr"
    mount_point.mkdir()
    repo = Path(__file__).resolve().parents[3]
    shell = 'mount -t ramfs ramfs "$1" || exit 77; exec "$2" -c "$3" "$1"'
    result = subprocess.run(
        [unshare, "--mount", "--propagation", "private", "sh", "-c", shell, "sh",
         str(mount_point), sys.executable, NO_XATTR_SCRIPT],
        capture_output=True, text=True, check=False, env=dict(os.environ, PYTHONPATH=str(repo)))
    if result.returncode == 77:
        pytest.skip("cannot mount a ramfs here")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert all(line.startswith("no xattr support for") and "object.data" in line for line in lines)
