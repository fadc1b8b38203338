"""The builder file: a RingBuilder saved as msgpack, never pickle.

A map with ``format`` and ``format_version`` first, so a future layout
can be recognised and migrated. Arrays travel as little-endian bytes.
Saving is atomic, so a crash mid-save leaves the previous builder.
"""
from __future__ import annotations

import array
import sys
from typing import Any, BinaryIO, Final

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type hints

from ring.atomic import write_atomically
from ring.builder import RingBuilder
from ring.devices import Device
from ring.exceptions import BuilderFileError, RingError
from ring.placement import rows_problem

FORMAT: Final = "objstore-ring-builder"
FORMAT_VERSION: Final = 1


def _le_bytes(values: array.array[int]) -> bytes:
    if sys.byteorder != "little":
        values = array.array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


def _from_le(typecode: str, data: bytes) -> array.array[int]:
    values = array.array(typecode)
    values.frombytes(data)
    if sys.byteorder != "little":
        values.byteswap()
    return values


def to_dict(builder: RingBuilder) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "id": builder.id,
        "version": builder.version,
        "part_power": builder.part_power,
        "replicas": builder.replicas,
        "min_part_hours": builder.min_part_hours,
        "overload": builder.overload,
        "devs": [dev.to_dict() if dev else None for dev in builder.devs],
        "removing": sorted(builder.removing),
        "table": None if builder.table is None else [_le_bytes(row) for row in builder.table],
        "last_moved": _le_bytes(builder.last_moved),
        "dispersion": builder.dispersion,
        "changed_since_rebalance": builder.changed_since_rebalance,
    }


def from_dict(data: dict[str, Any]) -> RingBuilder:
    if data.get("format") != FORMAT:
        raise BuilderFileError("not an objstore builder file (Swift's pickled builders are not read)")
    if data.get("format_version") != FORMAT_VERSION:
        raise BuilderFileError(f"builder format version {data.get('format_version')} is not supported")
    try:
        builder = RingBuilder(int(data["part_power"]), float(data["replicas"]),
                              int(data["min_part_hours"]))
        builder.id = str(data["id"])
        builder.version = int(data["version"])
        builder.overload = float(data["overload"])
        builder.devs = [Device.from_dict(dev) if dev else None for dev in data["devs"]]
        builder.removing = {int(dev_id) for dev_id in data["removing"]}
        if data["table"] is not None:
            builder.table = [_from_le("H", row) for row in data["table"]]
        builder.last_moved = _from_le("I", data["last_moved"])
        builder.dispersion = float(data["dispersion"])
        builder.changed_since_rebalance = bool(data["changed_since_rebalance"])
    except (KeyError, TypeError, ValueError, RingError) as err:
        raise BuilderFileError(f"corrupt builder: {err}") from None
    _check(builder)
    return builder


def _check(builder: RingBuilder) -> None:
    for index, dev in enumerate(builder.devs):
        if dev is not None and dev.id != index:
            raise BuilderFileError(f"corrupt builder: device {dev.id} stored at position {index}")
    if len(builder.last_moved) != builder.partitions:
        raise BuilderFileError("corrupt builder: move times do not match the part power")
    if builder.table is not None:
        problem = rows_problem(builder.table, builder.partitions)
        if problem:
            raise BuilderFileError(f"corrupt builder: {problem}")


def save(builder: RingBuilder, path: str) -> None:
    payload = msgpack.packb(to_dict(builder), use_bin_type=True)

    def write(handle: BinaryIO) -> None:
        handle.write(payload)

    write_atomically(path, write)


def load(path: str) -> RingBuilder:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise BuilderFileError(f"builder file {path} does not exist") from None
    except OSError as err:
        raise BuilderFileError(f"builder file {path} cannot be read: {err.strerror}") from None
    try:
        data = msgpack.unpackb(raw, raw=False, strict_map_key=False)
    except (ValueError, msgpack.UnpackException) as err:
        raise BuilderFileError(f"builder file {path} is not a builder: {err}") from None
    if not isinstance(data, dict):
        raise BuilderFileError(f"builder file {path} is not a builder")
    try:
        return from_dict(data)
    except BuilderFileError as err:
        raise BuilderFileError(f"builder file {path}: {err}") from None
