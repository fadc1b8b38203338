"""The on-disk ring: OpenStack Swift's gzip-compressed ring format.

Layout inside the gzip stream (format version 1, which Swift writes by
default; version 2 is read too, see ``ring/ringfile_v2.py``):

    b"R1NG"                 magic
    uint16 big-endian       format version (1)
    uint32 big-endian       length of the JSON header
    JSON header             {"byteorder", "devs", "part_shift",
                             "replica_count", "next_part_power", "version"}
    replica rows            one array of 2-byte device ids per replica,
                            2 ** part_power entries each (the last row is
                            shorter for a fractional replica count), in the
                            header's byteorder

``devs`` is indexed by device id, with ``null`` where an id was removed.
We write little-endian rows, sorted JSON keys and a zero gzip timestamp,
so the same ring always gives the same bytes.
"""
from __future__ import annotations

import array
import dataclasses
import gzip
import json
import os
import struct
import sys
import zlib
from typing import Any, BinaryIO, Final

from ring.atomic import write_atomically
from ring.devices import Device
from ring.exceptions import RingFileError
from ring.ringfile_v2 import read_v2

MAGIC: Final = b"R1NG"
_PREAMBLE: Final = struct.Struct("!4sHI")
# A header larger than this is not a ring: refuse before allocating it.
_MAX_HEADER: Final = 256 * 1024 * 1024


@dataclasses.dataclass
class RingData:
    """What a ring file holds: devices and the replica-to-partition table."""

    devs: list[Device | None]
    replica2part2dev: list[array.array[int]]
    part_shift: int
    next_part_power: int | None = None
    version: int | None = None

    @property
    def part_power(self) -> int:
        return 32 - self.part_shift

    @property
    def replica_count(self) -> float:
        """Replicas per partition, fractional when the last row is short."""
        parts = 1 << self.part_power
        return float(sum(len(row) for row in self.replica2part2dev)) / parts

    def header(self) -> dict[str, Any]:
        header: dict[str, Any] = {
            "byteorder": "little",
            "devs": [dev.to_dict() if dev else None for dev in self.devs],
            "part_shift": self.part_shift,
            "replica_count": len(self.replica2part2dev),
        }
        # Swift writes these two only when set; so do we.
        if self.next_part_power is not None:
            header["next_part_power"] = self.next_part_power
        if self.version is not None:
            header["version"] = self.version
        return header

    def to_bytes(self) -> bytes:
        """The uncompressed serialization (the gzip stream's content)."""
        text = json.dumps(self.header(), sort_keys=True).encode("ascii")
        chunks = [_PREAMBLE.pack(MAGIC, 1, len(text)), text]
        for row in self.replica2part2dev:
            if sys.byteorder != "little":
                row = array.array("H", row)
                row.byteswap()
            chunks.append(row.tobytes())
        return b"".join(chunks)

    def save(self, path: str) -> None:
        """Write the ring atomically: a reader sees the old file or the new."""
        payload = self.to_bytes()

        def write(raw: BinaryIO) -> None:
            # Level 6: device ids compress poorly, and level 9 takes three
            # times as long for under 3% smaller files.
            with gzip.GzipFile(filename=os.path.basename(path), mode="wb",
                               fileobj=raw, mtime=0, compresslevel=6) as gz:
                gz.write(payload)

        write_atomically(path, write)


def load_ring_data(path: str) -> RingData:
    """Read a ring file written by objstore or by OpenStack Swift."""
    try:
        with gzip.open(path, "rb") as gz:
            return _read(gz, path)
    except RingFileError:
        raise
    except FileNotFoundError:
        raise RingFileError(f"ring file {path} does not exist") from None
    except (OSError, EOFError, zlib.error) as err:
        raise RingFileError(f"ring file {path} is not a readable gzip file: {err}") from None


def _read(stream: gzip.GzipFile, path: str) -> RingData:
    preamble = stream.read(_PREAMBLE.size)
    if len(preamble) < _PREAMBLE.size or preamble[:4] != MAGIC:
        raise RingFileError(
            f"ring file {path} is not a ring (no R1NG magic; pickled rings are not read)"
        )
    _, version, header_len = _PREAMBLE.unpack(preamble)
    if version == 2:
        devs, table, part_shift, next_part_power, ring_version = read_v2(
            preamble + stream.read(), path)
        _check_device_ids(path, devs, table)
        return RingData(devs, table, part_shift, next_part_power, ring_version)
    if version != 1:
        raise RingFileError(f"ring file {path} has format version {version}; 1 and 2 are read")
    if header_len > _MAX_HEADER:
        raise RingFileError(f"ring file {path} has an implausible header length")
    try:
        header = json.loads(stream.read(header_len))
        part_shift = int(header["part_shift"])
        rows = int(header["replica_count"])
        byteorder = header.get("byteorder", "little")
        devs = [Device.from_dict(dev) if dev else None for dev in header["devs"]]
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise RingFileError(f"ring file {path} has a corrupt header: {err}") from None
    if not 0 <= part_shift <= 32 or rows < 1 or byteorder not in ("little", "big"):
        raise RingFileError(f"ring file {path} has impossible header values")
    parts = 1 << (32 - part_shift)
    table = []
    for index in range(rows):
        row: array.array[int] = array.array("H")
        data = stream.read(2 * parts)
        if len(data) % 2 or (index < rows - 1 and len(data) != 2 * parts) or not data:
            raise RingFileError(f"ring file {path} is truncated (replica row {index})")
        row.frombytes(data)
        if byteorder != sys.byteorder:
            row.byteswap()
        table.append(row)
    # Swift ignores anything after the rows it was told of; so do we.
    _check_device_ids(path, devs, table)
    return RingData(
        devs=devs,
        replica2part2dev=table,
        part_shift=part_shift,
        next_part_power=header.get("next_part_power"),
        version=header.get("version"),
    )


def _check_device_ids(
    path: str, devs: list[Device | None], table: list[array.array[int]]
) -> None:
    present = {dev.id for dev in devs if dev is not None}
    for index, dev in enumerate(devs):
        if dev is not None and dev.id != index:
            raise RingFileError(f"ring file {path} lists device {dev.id} at position {index}")
    for row in table:
        missing = set(row) - present
        if missing:
            raise RingFileError(
                f"ring file {path} assigns partitions to unknown device ids {sorted(missing)[:5]}"
            )
