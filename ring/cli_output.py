"""What objstore-ring-builder prints: summaries, device tables, reports."""
from __future__ import annotations

import os
from collections.abc import Iterable

from ring.builder import RingBuilder
from ring.devices import Device, format_ip
from ring.exceptions import RingError
from ring.reports import DispersionReport, balance_notes
from ring.ringfile import load_ring_data

_COLUMNS = "{:>5} {:>6} {:>4} {:>22} {:>22} {:>10} {:>9} {:>10} {:>8} {:>5} {}"
DEVICE_HEADER = "Devices:" + _COLUMNS.format(
    "id", "region", "zone", "ip address:port", "replication ip:port", "name", "weight",
    "partitions", "balance", "flags", "meta").rstrip()


def hms(seconds: int) -> str:
    hours, rest = divmod(max(0, seconds), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def device_rows(builder: RingBuilder, devs: Iterable[Device]) -> list[str]:
    counts = builder.parts_per_device()
    balances = builder.device_balances()
    lines = [DEVICE_HEADER]
    for dev in sorted(devs, key=lambda d: d.id):
        flags = "DEL" if dev.id in builder.removing else ""
        replication = f"{format_ip(dev.replication_ip)}:{dev.replication_port}"
        lines.append(" " * 8 + _COLUMNS.format(
            dev.id, dev.region, dev.zone, dev.server, replication, dev.device,
            f"{dev.weight:.2f}", counts.get(dev.id, 0), f"{balances.get(dev.id, 0.0):.2f}",
            flags, dev.meta).rstrip())
    return lines


def ring_file_status(builder: RingBuilder, ring_path: str) -> str:
    name = os.path.basename(ring_path)
    if not os.path.exists(ring_path):
        return f"Ring file {name} not found; write_ring (or rebalance) creates it"
    try:
        written = load_ring_data(ring_path)
    except RingError as err:
        return f"Ring file {name} is unreadable: {err}"
    if written.version == builder.version:
        return f"Ring file {name} is up-to-date"
    return f"Ring file {name} is obsolete (builder version {builder.version}, ring version {written.version})"


def summary(builder: RingBuilder, builder_path: str, ring_path: str) -> list[str]:
    devs = builder.live_devs()
    regions = {d.region for d in devs}
    zones = {(d.region, d.zone) for d in devs}
    lines = [
        f"{os.path.basename(builder_path)}, build version {builder.version}, id {builder.id}",
        f"{builder.partitions} partitions, {builder.replicas:.6f} replicas, {len(regions)} regions, "
        f"{len(zones)} zones, {len(devs)} devices, {builder.get_balance():.2f} balance, "
        f"{builder.dispersion:.2f} dispersion",
        f"The minimum number of hours before a partition can be reassigned is "
        f"{builder.min_part_hours} ({hms(builder.min_part_seconds_left())} remaining)",
        f"The overload factor is {builder.overload * 100:.2f}% ({builder.overload:.6f})",
    ]
    if builder.table is None:
        lines.append("The builder has not been rebalanced yet")
    else:
        lines.append(ring_file_status(builder, ring_path))
    if devs:
        lines.extend(device_rows(builder, devs))
    lines.extend(f"Note: {note}" for note in balance_notes(builder))
    return lines


def dispersion_lines(builder: RingBuilder, report: DispersionReport, verbose: bool) -> list[str]:
    lines = [
        f"Dispersion is {report.percent:.2f}, Balance is {builder.get_balance():.2f}, "
        f"Overload is {builder.overload * 100:.2f}%",
        f"{report.undispersed_parts} of {builder.partitions} partitions have replicas "
        "less dispersed than the tiers allow"
        + ("" if not report.undispersed_parts else
           " (" + ", ".join(f"{lvl}: {n}" for lvl, n in report.per_level.items() if n) + ")"),
    ]
    if not verbose:
        return lines
    rows = len(builder.table or [])
    lines.append(
        f"{'Tier':<40} {'Parts':>9} {'%':>7} {'Max':>4} {'Undispersed':>11}   "
        + "Partitions holding " + " ".join(str(i) for i in range(rows + 1)) + " replicas"
    )
    total = builder.partitions * rows or 1
    for tier in report.tiers:
        lines.append(
            f"{tier.name:<40} {tier.parts:>9} {100.0 * tier.parts / total:>7.2f} "
            f"{tier.max_replicas:>4} {tier.undispersed:>11}   "
            + " ".join(str(n) for n in tier.histogram)
        )
    return lines
