"""Reading OpenStack Swift's ring format version 2.

Swift announces v2 as its future default. Inside the gzip stream:

    b"R1NG", uint16 big-endian 2
    sections, each a blob: uint64 big-endian length, then that many bytes
        swift/ring/metadata     JSON: dev_id_bytes, part_shift, version, ...
        swift/ring/devices      JSON list of device dicts (null for gaps)
        swift/ring/assignments  replica rows of big-endian device ids,
                                dev_id_bytes wide, 2 ** part_power each
                                (the last row may be shorter)
    an index blob: JSON {section: [compressed start, uncompressed start,
        compressed end, uncompressed end, hash name, hex digest]}
    uint64 uncompressed offset of the index blob
    uint64 compressed offset of the index blob

Each section's digest covers its blob, length prefix included. We read
the whole stream (a ring is tens of MiB at most) and find sections by the
index, checking every digest.
"""
from __future__ import annotations

import array
import hashlib
import json
import struct
import sys
from typing import Any, Final

from ring.devices import Device
from ring.exceptions import RingError, RingFileError

_U64: Final = struct.Struct("!Q")
_HASHES: Final = frozenset({"md5", "sha1", "sha256", "sha512"})
_EMPTY: Final = {2: 0xFFFF, 4: 0xFFFFFFFF}


def _blob(data: bytes, start: int, path: str) -> bytes:
    if start + 8 > len(data):
        raise RingFileError(f"ring file {path} is truncated (section at {start})")
    (length,) = _U64.unpack_from(data, start)
    if start + 8 + length > len(data):
        raise RingFileError(f"ring file {path} is truncated (section at {start})")
    return data[start + 8:start + 8 + length]


def _section(data: bytes, index: dict[str, Any], name: str, path: str) -> bytes:
    try:
        _, start, _, end, algorithm, digest = index[name]
        start, end = int(start), int(end)
    except (KeyError, TypeError, ValueError):
        raise RingFileError(f"ring file {path} has no valid {name} section") from None
    if algorithm not in _HASHES:
        raise RingFileError(f"ring file {path}: unknown checksum {algorithm!r} for {name}")
    if hashlib.new(algorithm, data[start:end], usedforsecurity=False).hexdigest() != digest:
        raise RingFileError(f"ring file {path}: section {name} fails its {algorithm} checksum")
    return _blob(data, start, path)


V2Ring = tuple[list[Device | None], list["array.array[int]"], int, Any, Any]


def read_v2(data: bytes, path: str) -> V2Ring:
    """Devices, rows, part_shift, next_part_power and version of a v2 ring,
    from its whole uncompressed stream."""
    if len(data) < 6 + 16:
        raise RingFileError(f"ring file {path} is truncated")
    (index_at,) = _U64.unpack_from(data, len(data) - 16)
    try:
        index = json.loads(_blob(data, index_at, path))
        meta = json.loads(_section(data, index, "swift/ring/metadata", path))
        devs_raw = json.loads(_section(data, index, "swift/ring/devices", path))
        width = int(meta["dev_id_bytes"])
        part_shift = int(meta["part_shift"])
        devs = [Device.from_dict(dev) if dev else None for dev in devs_raw]
    except RingFileError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, RingError) as err:
        raise RingFileError(f"ring file {path} has a corrupt v2 header: {err}") from None
    if width not in _EMPTY or not 0 <= part_shift <= 32:
        raise RingFileError(f"ring file {path} has impossible v2 metadata")
    rows = _rows(_section(data, index, "swift/ring/assignments", path), width,
                 1 << (32 - part_shift), path)
    return devs, rows, part_shift, meta.get("next_part_power"), meta.get("version")


def _rows(raw: bytes, width: int, parts: int, path: str) -> list[array.array[int]]:
    if len(raw) % width:
        raise RingFileError(f"ring file {path} has a ragged assignments section")
    wide: array.array[int] = array.array("H" if width == 2 else "I")
    if wide.itemsize != width:
        raise RingFileError(f"ring file {path}: {width}-byte ids unsupported on this machine")
    wide.frombytes(raw)
    if sys.byteorder != "big":
        wide.byteswap()
    if width == 4:
        if any(dev_id >= 0xFFFF for dev_id in wide if dev_id != _EMPTY[4]):
            raise RingFileError(f"ring file {path} uses device ids above 65534; objstore allows fewer")
        wide = array.array("H", (0xFFFF if d == _EMPTY[4] else d for d in wide))
    return [wide[start:start + parts] for start in range(0, len(wide), parts)]
