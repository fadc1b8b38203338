"""RingBuilder: the operator's model of the cluster, and rebalancing it.

The builder holds devices (with region, zone, server, weight), the
replica count, ``min_part_hours`` and ``overload``, and the current
replica-to-partition table. ``rebalance`` turns it into a new table under
the placement invariants stated in ``ring/placement.py``:

* replicas as dispersed as the tiers (and weights) allow: regions, then
  zones, then servers, then devices; a device never holds two replicas;
* partitions per device proportional to weight (balance within 1% where
  the tiers and the partition count allow; ``balance_notes`` says why not);
* within ``min_part_hours`` no partition moves more than one replica;
* only the share that has to move moves;
* the same builder and seed give the same ring.

Removing a device drains it: its weight drops to zero, rebalances move
its partitions away as ``min_part_hours`` allows, and it leaves the
builder once it holds nothing.
"""
from __future__ import annotations

import array
import dataclasses
import gc
import math
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any, Final

from ring.devices import Device, check_port, matches, normalize_ip
from ring.exceptions import BuilderError, RebalanceError
from ring.placement import NO_DEVICE, Placer, Table, deal, row_lengths, rows_problem
from ring.plan import ReplicaPlan, TierTree
from ring.reports import dispersion_report
from ring.ringfile import RingData

# 2 ** 24 partitions already hold 16 million replicas per ring row; past
# that a builder's arrays alone outgrow a commodity machine. Ring files of
# any part power Swift allows still load (ring/ringfile.py).
MAX_BUILDER_PART_POWER: Final = 24
MAX_DEVICES: Final = NO_DEVICE  # device ids are 2 bytes; 0xFFFF marks an empty slot
MAX_BALANCE: Final = 999.99
MAX_MIN_PART_HOURS: Final = 0xFFFF


def now_minutes() -> int:
    return int(time.time() // 60)


@dataclasses.dataclass(frozen=True)
class RebalanceResult:
    """What a rebalance did. Unpacks like Swift's result:
    ``moved, balance, removed = builder.rebalance()``."""

    parts_moved: int
    balance: float
    removed_devices: list[Device]
    dispersion: float
    held_back: bool  # min_part_hours kept a wanted move from happening

    def __iter__(self) -> Iterator[Any]:
        return iter((self.parts_moved, self.balance, self.removed_devices))


class RingBuilder:
    """Devices, weights and the partition table; see the module docstring."""

    def __init__(self, part_power: int, replicas: float, min_part_hours: int) -> None:
        if not 1 <= part_power <= MAX_BUILDER_PART_POWER:
            raise BuilderError(
                f"part power {part_power} out of range: must be 1 to {MAX_BUILDER_PART_POWER}")
        self.part_power = part_power
        self.replicas = _check_replicas(replicas)
        self.min_part_hours = _check_min_part_hours(min_part_hours)
        self.overload = 0.0
        self.devs: list[Device | None] = []
        self.removing: set[int] = set()
        self.table: Table | None = None
        self.last_moved = array.array("I", bytes(4 << part_power))
        self.version = 0
        self.id = uuid.uuid4().hex
        self.dispersion = 0.0
        self.changed_since_rebalance = False
        # (ids of the rows counted, counts): rows are replaced, never edited,
        # by everything but a test that damages a table on purpose
        self._counted: tuple[list[int], dict[int, int]] | None = None

    @classmethod
    def from_ring(cls, data: RingData, min_part_hours: int = 1) -> RingBuilder:
        """A builder that continues from a ring file (ours or Swift's)."""
        builder = cls(data.part_power, data.replica_count, min_part_hours)
        builder.devs = list(data.devs)
        builder.table = [array.array("H", row) for row in data.replica2part2dev]
        problem = rows_problem(builder.table, builder.partitions)
        if problem:
            raise BuilderError(f"the ring cannot be adopted: {problem}")
        builder.version = data.version or 0
        builder.dispersion = builder.dispersion_percent()
        return builder

    # -- devices -----------------------------------------------------------

    @property
    def partitions(self) -> int:
        return 1 << self.part_power

    def live_devs(self) -> list[Device]:
        return [dev for dev in self.devs if dev is not None]

    def dev(self, dev_id: int) -> Device:
        if 0 <= dev_id < len(self.devs) and self.devs[dev_id] is not None:
            return self.devs[dev_id]  # type: ignore[return-value]
        raise BuilderError(f"no device with id {dev_id}")

    def add_dev(self, region: int, zone: int, ip: str, port: int, device: str, weight: float,
                replication_ip: str | None = None, replication_port: int | None = None,
                meta: str = "", dev_id: int | None = None) -> int:
        """Add a device and return its id; the next rebalance gives it partitions."""
        if dev_id is None:
            dev_id = next((i for i, d in enumerate(self.devs) if d is None), len(self.devs))
        if dev_id >= MAX_DEVICES or dev_id < 0:
            raise BuilderError(f"device id {dev_id} out of range: at most {MAX_DEVICES - 1}")
        if dev_id < len(self.devs) and self.devs[dev_id] is not None:
            raise BuilderError(f"device id {dev_id} is already in use")
        ip = normalize_ip(ip)
        new = Device(
            id=dev_id, region=_check_tier("region", region), zone=_check_tier("zone", zone),
            ip=ip, port=check_port(port),
            replication_ip=normalize_ip(replication_ip) if replication_ip else ip,
            replication_port=check_port(replication_port) if replication_port else port,
            device=_check_name(device), weight=_check_weight(weight), meta=meta,
        )
        self._refuse_duplicate(new)
        while len(self.devs) <= dev_id:
            self.devs.append(None)
        self.devs[dev_id] = new
        self._changed()
        return dev_id

    def _refuse_duplicate(self, new: Device) -> None:
        for dev in self.live_devs():
            if dev.id != new.id and (dev.ip, dev.port, dev.device) == (new.ip, new.port, new.device):
                raise BuilderError(
                    f"device {new.server}/{new.device} already exists as d{dev.id}"
                )

    def remove_dev(self, dev_id: int) -> None:
        """Drain a device: weight zero now, gone once it holds nothing."""
        dev = self.dev(dev_id)
        self.devs[dev_id] = dataclasses.replace(dev, weight=0.0)
        self.removing.add(dev_id)
        self._changed()

    def set_dev_weight(self, dev_id: int, weight: float) -> None:
        dev = self.dev(dev_id)
        if dev_id in self.removing:
            raise BuilderError(f"device d{dev_id} is being removed; its weight stays 0")
        self.devs[dev_id] = dataclasses.replace(dev, weight=_check_weight(weight))
        self._changed()

    def set_dev_info(self, dev_id: int, **changes: Any) -> None:
        """Change ip, port, replication_ip, replication_port, device or meta."""
        allowed = {"ip", "port", "replication_ip", "replication_port", "device", "meta"}
        unknown = set(changes) - allowed
        if unknown:
            raise BuilderError(f"cannot change {', '.join(sorted(unknown))} with set_info")
        for key in ("ip", "replication_ip"):
            if key in changes:
                changes[key] = normalize_ip(changes[key])
        for key in ("port", "replication_port"):
            if key in changes:
                changes[key] = check_port(int(changes[key]))
        if "device" in changes:
            changes["device"] = _check_name(changes["device"])
        new = dataclasses.replace(self.dev(dev_id), **changes)
        self._refuse_duplicate(new)
        self.devs[dev_id] = new
        self.version += 1

    def search_devs(self, criteria: dict[str, Any]) -> list[Device]:
        return [dev for dev in self.live_devs() if matches(dev, criteria)]

    def set_overload(self, overload: float) -> None:
        if not 0 <= overload < float("inf"):
            raise BuilderError(f"overload {overload} must be a finite number >= 0")
        self.overload = overload
        self._changed()

    def set_replicas(self, replicas: float) -> None:
        self.replicas = _check_replicas(replicas)
        self._changed()

    def set_min_part_hours(self, hours: int) -> None:
        self.min_part_hours = _check_min_part_hours(hours)
        self.version += 1

    def pretend_min_part_hours_passed(self) -> None:
        self.last_moved = array.array("I", bytes(4 << self.part_power))

    def _changed(self) -> None:
        self.version += 1
        self.changed_since_rebalance = True

    # -- rebalance ---------------------------------------------------------

    def weighted_devs(self) -> list[Device]:
        return [d for d in self.live_devs() if d.weight > 0 and d.id not in self.removing]

    def plan(self) -> ReplicaPlan:
        lengths = row_lengths(self.replicas, self.partitions)
        return ReplicaPlan(TierTree(self.weighted_devs()), self.replicas, self.overload,
                           sum(lengths), self.partitions)

    def min_part_seconds_left(self) -> int:
        """Seconds until every partition may move again."""
        if self.min_part_hours == 0 or self.table is None:
            return 0
        newest = max(self.last_moved)
        left = (newest + self.min_part_hours * 60 - now_minutes()) * 60
        return max(0, left - int(time.time()) % 60)

    def rebalance(self, seed: int | None = None) -> RebalanceResult:
        """Move replicas toward the plan; see the module docstring."""
        # Placement allocates millions of small objects and no cycles; the
        # cyclic collector would rescan them all many times over.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._rebalance(seed)
        finally:
            if collecting:
                gc.enable()

    def _rebalance(self, seed: int | None) -> RebalanceResult:
        weighted = self.weighted_devs()
        needed = math.ceil(self.replicas)
        if len(weighted) < needed:
            raise RebalanceError(
                f"{self.replicas:g} replicas need at least {needed} devices with weight > 0; "
                f"the builder has {len(weighted)}"
            )
        rng = random.Random(seed if seed is not None else int.from_bytes(os.urandom(8), "big"))
        plan = self.plan()
        lengths = row_lengths(self.replicas, self.partitions)
        now = now_minutes()
        if self.table is None:
            table = deal(plan, lengths, self.part_power, rng)
            placer = Placer(plan, table, lambda part: True, rng)
            placer.gather_undispersed()
            placer.fill()
            placer.moved = set(range(self.partitions))
            moved = self.partitions
        else:
            table = _resized(self.table, lengths)
            last_moved, wait = self.last_moved, self.min_part_hours * 60
            placer = Placer(plan, table, lambda part: now - last_moved[part] >= wait, rng,
                            one_move_per_part=wait > 0)
            placer.gather_empty()
            placer.gather_unplaceable()
            placer.gather_undispersed()
            placer.gather_overfull()
            placer.fill()
            placer.pull_to_underfull()
            moved = len(placer.moved)
        for part in placer.moved:
            self.last_moved[part] = now
        self.table = table
        removed = self._forget_drained_devices()
        self.changed_since_rebalance = False
        self.version += 1
        self.dispersion = self.dispersion_percent()
        return RebalanceResult(
            parts_moved=moved, balance=self.get_balance(), removed_devices=removed,
            dispersion=self.dispersion, held_back=placer.held_back > 0,
        )

    def _forget_drained_devices(self) -> list[Device]:
        counts = self.parts_per_device()
        gone = []
        for dev_id in sorted(self.removing):
            if counts.get(dev_id, 0) == 0:
                gone.append(self.dev(dev_id))
                self.devs[dev_id] = None
                self.removing.discard(dev_id)
        while self.devs and self.devs[-1] is None:
            self.devs.pop()
        return gone

    # -- facts -------------------------------------------------------------

    def parts_per_device(self) -> dict[int, int]:
        """Partition-replicas held by each device id."""
        table = self.table or []
        key = [id(row) for row in table]
        if self._counted is not None and self._counted[0] == key:
            return self._counted[1]
        counts: Counter[int] = Counter()
        for row in table:
            counts.update(row)
        counts.pop(NO_DEVICE, None)
        self._counted = (key, dict(counts))
        return self._counted[1]

    def parts_wanted(self) -> dict[int, float]:
        """Partition-replicas each device should hold by weight alone."""
        weighted = self.weighted_devs()
        total = sum(d.weight for d in weighted)
        slots = sum(row_lengths(self.replicas, self.partitions))
        return {d.id: slots * d.weight / total for d in weighted} if total else {}

    def device_balances(self) -> dict[int, float]:
        """Percent by which each device is above (+) or below (-) its weight share."""
        counts, wanted = self.parts_per_device(), self.parts_wanted()
        balances = {}
        for dev in self.live_devs():
            want = wanted.get(dev.id, 0.0)
            have = counts.get(dev.id, 0)
            if want:
                balances[dev.id] = 100.0 * have / want - 100.0
            else:
                balances[dev.id] = MAX_BALANCE if have else 0.0
        return balances

    def get_balance(self) -> float:
        """The largest device balance in percent, as swift-ring-builder shows it."""
        balances = self.device_balances()
        return min(MAX_BALANCE, max((abs(b) for b in balances.values()), default=0.0))

    def dispersion_percent(self) -> float:
        """Percent of partitions with replicas less dispersed than the tiers allow."""
        return dispersion_report(self).percent if self.table else 0.0

    def get_ring(self) -> RingData:
        if self.table is None:
            raise BuilderError("the builder has never been rebalanced: there is no ring yet")
        return RingData(
            devs=list(self.devs),
            replica2part2dev=[array.array("H", row) for row in self.table],
            part_shift=32 - self.part_power,
            version=self.version,
        )

    def validate(self) -> None:
        """Raise BuilderError if the table is not a usable ring."""
        if self.table is None:
            raise BuilderError("the builder has never been rebalanced")
        problem = rows_problem(self.table, self.partitions)
        if problem:
            raise BuilderError(problem)
        known = {dev.id for dev in self.live_devs()}
        for index, row in enumerate(self.table):
            unknown = set(row) - known
            if unknown:
                raise BuilderError(f"replica row {index} uses unknown device ids {sorted(unknown)[:5]}")
        if len(known) >= len(self.table):
            for part, ids in enumerate(_replicas_by_part(self.table)):
                if len(set(ids)) != len(ids):
                    raise BuilderError(f"partition {part} has two replicas on one device")
        for dev_id in self.removing:
            if dev_id not in known:
                raise BuilderError(f"device {dev_id} is marked for removal but does not exist")

    def parts_of(self, dev_ids: Iterable[int]) -> dict[int, int]:
        """Partitions with replicas on the given devices, and how many."""
        wanted = set(dev_ids)
        found: dict[int, int] = {}
        for row in self.table or ():
            for part, dev_id in enumerate(row):
                if dev_id in wanted:
                    found[part] = found.get(part, 0) + 1
        return found


def _replicas_by_part(table: Table) -> Iterable[tuple[int, ...]]:
    full = [row for row in table if len(row) == len(table[0])]
    short = [row for row in table if len(row) != len(table[0])]
    for part, ids in enumerate(zip(*full)):
        yield ids + tuple(row[part] for row in short if part < len(row))


def _resized(table: Table, lengths: list[int]) -> Table:
    """A copy of the table with rows added, cut or dropped to ``lengths``."""
    resized = []
    for index, length in enumerate(lengths):
        row = array.array("H", table[index][:length]) if index < len(table) else array.array("H")
        if len(row) < length:
            row.extend(array.array("H", [NO_DEVICE]) * (length - len(row)))
        resized.append(row)
    return resized


def _check_replicas(replicas: float) -> float:
    if not 1 <= replicas <= 64:
        raise BuilderError(f"replica count {replicas} out of range: must be 1 to 64")
    return float(replicas)


def _check_min_part_hours(hours: int) -> int:
    if not 0 <= hours <= MAX_MIN_PART_HOURS:
        raise BuilderError(f"min_part_hours {hours} out of range: must be 0 to {MAX_MIN_PART_HOURS}")
    return int(hours)


def _check_weight(weight: float) -> float:
    if not 0 <= weight < float("inf"):
        raise BuilderError(f"weight {weight} must be a finite number >= 0")
    return float(weight)


def _check_tier(name: str, value: int) -> int:
    if value < 0:
        raise BuilderError(f"{name} {value} must be >= 0")
    return int(value)


def _check_name(device: str) -> str:
    if not device or "/" in device or device in (".", "..") or any(c.isspace() for c in device):
        raise BuilderError(f"invalid device name {device!r}: no slashes, spaces or dot names")
    return device
