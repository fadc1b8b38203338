"""Ring: where a path's replicas live, read from a ring file.

Primaries come straight from the replica-to-partition table, exactly as
OpenStack Swift reads it (a device listed by two replica rows of one
partition counts once), so a ring built by either routes identically.

Handoffs (``get_more_nodes``) are ours. Each partition ranks the devices
with weighted rendezvous hashing: a score from a hash of (partition,
device) scaled by weight, highest first. That gives every partition its
own order, so the load of a failed device spreads over the cluster, and
adding a device changes few orders. The ranking is walked in four passes
that prefer what the primaries do not already use: first devices in a new
region, then in a new zone, then on a new server, then any device left.
Devices of weight zero are never handoffs.

The ring reloads itself when its file changes, checking at most every
``reload_time`` seconds; a replacement file that cannot be read is
logged and the ring in memory stays in use.
"""
from __future__ import annotations

import logging
import math
import os
import struct
import time
from collections.abc import Iterator, Sequence
from typing import Final

from ring.devices import Device
from ring.hashing import PathHasher, default_hasher
from ring.ringfile import RingData, load_ring_data

_log = logging.getLogger(__name__)
_TOP32: Final = struct.Struct(">I")
_M64: Final = (1 << 64) - 1


def _mix64(value: int) -> int:
    """A 64-bit finalizer (splitmix64): cheap, well spread, portable."""
    value = (value + 0x9E3779B97F4A7C15) & _M64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _M64
    return value ^ (value >> 31)


class Ring:
    """A loaded ring file that answers where paths and partitions live."""

    def __init__(
        self,
        path: str,
        reload_time: float = 15.0,
        hasher: PathHasher | None = None,
    ) -> None:
        self.path = path
        self.reload_time = reload_time
        self._hasher = hasher
        self._file_id: tuple[int, int, int] = (0, 0, 0)
        self._load(load_ring_data(path), self._stat())

    # -- loading -----------------------------------------------------------

    def _stat(self) -> tuple[int, int, int]:
        st = os.stat(self.path)
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _load(self, data: RingData, file_id: tuple[int, int, int]) -> None:
        self._data = data
        self._devs = data.devs
        self._table = data.replica2part2dev
        self._part_shift = data.part_shift
        self._parts = 1 << (32 - data.part_shift)
        self._full_rows = all(len(row) == self._parts for row in self._table)
        self._handoff_salts = {
            dev.id: _mix64(dev.id * 0x2545F4914F6CDD1D)
            for dev in self._devs
            if dev is not None and dev.weight > 0
        }
        self._file_id = file_id
        self._next_check = time.monotonic() + self.reload_time

    def _maybe_reload(self) -> None:
        self._next_check = time.monotonic() + self.reload_time
        try:
            file_id = self._stat()
            if file_id == self._file_id:
                return
            data = load_ring_data(self.path)
        except Exception as err:  # keep routing with the ring we have
            _log.error("ring %s not reloaded, keeping the loaded ring: %s", self.path, err)
            return
        self._load(data, file_id)

    def _fresh(self) -> None:
        if time.monotonic() >= self._next_check:
            self._maybe_reload()

    # -- facts -------------------------------------------------------------

    @property
    def devs(self) -> Sequence[Device | None]:
        """Every device by id; ``None`` where an id is unused."""
        self._fresh()
        return self._devs

    @property
    def replica_count(self) -> float:
        self._fresh()
        return self._data.replica_count

    @property
    def part_power(self) -> int:
        self._fresh()
        return 32 - self._part_shift

    @property
    def partition_count(self) -> int:
        self._fresh()
        return self._parts

    @property
    def version(self) -> int | None:
        return self._data.version

    # -- lookups -----------------------------------------------------------

    def get_part(
        self,
        account: str | bytes,
        container: str | bytes | None = None,
        obj: str | bytes | None = None,
    ) -> int:
        """The partition of a path."""
        self._fresh()
        hasher = self._hasher or default_hasher()
        return int(_TOP32.unpack_from(hasher.digest(account, container, obj))[0] >> self._part_shift)

    def get_part_nodes(self, part: int) -> list[Device]:
        """The primary devices of a partition, in replica order."""
        self._fresh()
        return self._primaries(part)

    def _primaries(self, part: int) -> list[Device]:
        devs = self._devs
        if self._full_rows:
            ids = [row[part] for row in self._table]
        else:
            ids = [row[part] for row in self._table if part < len(row)]
        if len(set(ids)) != len(ids):
            ids = list(dict.fromkeys(ids))
        return [devs[dev_id] for dev_id in ids]  # type: ignore[misc]

    def get_nodes(
        self,
        account: str | bytes,
        container: str | bytes | None = None,
        obj: str | bytes | None = None,
    ) -> tuple[int, list[Device]]:
        """A path's partition and its primary devices, in replica order."""
        if time.monotonic() >= self._next_check:
            self._maybe_reload()
        hasher = self._hasher or default_hasher()
        digest = hasher.digest(account, container, obj)
        part = _TOP32.unpack_from(digest)[0] >> self._part_shift
        return part, self._primaries(part)

    def get_more_nodes(self, part: int) -> Iterator[Device]:
        """Handoff devices for a partition, best first, never a primary."""
        self._fresh()
        primaries = self._primaries(part)
        used_ids = {dev.id for dev in primaries}
        used: list[set[object]] = [
            {dev.region for dev in primaries},
            {(dev.region, dev.zone) for dev in primaries},
            {(dev.region, dev.zone, dev.ip, dev.port) for dev in primaries},
        ]
        ranked = self._handoff_ranking(part)
        for tier in range(4):
            for dev in ranked:
                if dev.id in used_ids:
                    continue
                keys: tuple[object, ...] = (
                    dev.region, (dev.region, dev.zone), (dev.region, dev.zone, dev.ip, dev.port))
                if tier < 3 and keys[tier] in used[tier]:
                    continue
                used_ids.add(dev.id)
                for level, key in enumerate(keys):
                    used[level].add(key)
                yield dev

    def _handoff_ranking(self, part: int) -> list[Device]:
        seed = _mix64(part)
        scored = []
        for dev in self._devs:
            if dev is None or dev.id not in self._handoff_salts:
                continue
            unit = ((_mix64(seed ^ self._handoff_salts[dev.id]) >> 11) + 0.5) / 9007199254740992.0
            scored.append((dev.weight / -math.log(unit), dev.id, dev))
        scored.sort(key=lambda item: (-item[0], item[1]))
        return [dev for _, _, dev in scored]
