"""objstore-ring-builder: the operator's ring CLI.

    objstore-ring-builder <builder_file> [command] [arguments]

Commands and argument forms follow swift-ring-builder. Exit codes: 0 done,
1 warning (for example a rebalance that min_part_hours held back), 2 error.
Every error is one line naming what is wrong, and leaves files as they were:
the builder is only saved after a command has fully succeeded.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from ring import builderfile
from ring.builder import RingBuilder
from ring.cli_output import DEVICE_HEADER, device_rows, dispersion_lines, summary
from ring.devices import (
    Device, check_port, normalize_ip, parse_new_device, parse_search_value, parse_weight,
)
from ring.exceptions import RingError
from ring.reports import dispersion_report
from ring.ringfile import load_ring_data

EXIT_SUCCESS, EXIT_WARNING, EXIT_ERROR = 0, 1, 2

USAGE = """\
usage: objstore-ring-builder <builder_file> [command] [arguments]

With no command, prints a summary of the builder.

  create <part_power> <replicas> <min_part_hours>
  add <r1z2-ip:port[Rip:port]/device[_meta]> <weight> [<device> <weight> ...]
  add --region R --zone Z --ip IP --port P [--replication-ip IP]
      [--replication-port P] --device NAME --weight W [--meta M]
  remove <search-value> [<search-value> ...] [--yes]
  set_weight <search-value> <weight> [<search-value> <weight> ...] [--yes]
  set_info <search-value> <ip:port[Rip:port]/device_meta> [...] [--yes]
  rebalance [--seed N]
  write_ring
  validate
  search <search-value>
  list_parts <search-value> [<search-value> ...]
  dispersion [-v]
  set_min_part_hours <hours>
  set_overload <overload>[%]
  set_replicas <replicas>
  pretend_min_part_hours_passed

objstore-ring-builder <ring_file> write_builder [min_part_hours]
  makes <name>.builder from an existing ring (objstore's or OpenStack Swift's)

Search values: d<id>r<region>z<zone>-<ip>:<port>R<ip>:<port>/<device>_<meta>,
every part optional (d3, r1z2, -10.0.0.1:6200, /sdb1, z1-10.0.0.1/sdb1).
Exit codes: 0 done, 1 warning, 2 error.
"""


class CliError(Exception):
    """One line for the operator, exit code 2."""


class Command:
    """One invocation: the builder path and what it refers to."""

    def __init__(self, builder_path: str, args: list[str]) -> None:
        self.builder_path = builder_path
        self.args = args
        base = builder_path[:-len(".builder")] if builder_path.endswith(".builder") else builder_path
        self.ring_path = base + ".ring.gz"
        self._builder: RingBuilder | None = None

    @property
    def builder(self) -> RingBuilder:
        if self._builder is None:
            self._builder = builderfile.load(self.builder_path)
        return self._builder

    def save(self, with_ring: bool = False) -> None:
        """Save the builder; with the ring, keep copies of both in backups/."""
        builderfile.save(self.builder, self.builder_path)
        if not with_ring:
            return
        self.builder.get_ring().save(self.ring_path)
        backups = os.path.join(os.path.dirname(os.path.abspath(self.builder_path)), "backups")
        os.makedirs(backups, exist_ok=True)
        stamp = f"{time.time():.6f}"
        for path in (self.builder_path, self.ring_path):
            shutil.copy2(path, os.path.join(backups, f"{stamp}.{os.path.basename(path)}"))


def _out(*lines: str) -> None:
    for line in lines:
        print(line)


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise CliError(f"invalid {what} {text!r}: not a whole number") from None


def _float(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise CliError(f"invalid {what} {text!r}: not a number") from None


def _pop_flag(args: list[str], *names: str) -> bool:
    found = any(name in args for name in names)
    args[:] = [a for a in args if a not in names]
    return found


def _select(cmd: Command, search: str, confirmed: bool, action: str) -> list[Device]:
    devs = cmd.builder.search_devs(parse_search_value(search))
    if not devs:
        raise CliError(f"no device matches {search!r}")
    if len(devs) > 1 and not confirmed:
        _out(*device_rows(cmd.builder, devs))
        if not (sys.stdin.isatty() and input(f"{action} these {len(devs)} devices? (y/N) ")
                .strip().lower() in ("y", "yes")):
            raise CliError(f"{search!r} matches {len(devs)} devices; add --yes to {action.lower()} them all")
    return devs


# -- commands ---------------------------------------------------------------


def cmd_create(cmd: Command) -> int:
    if len(cmd.args) != 3:
        raise CliError("create takes <part_power> <replicas> <min_part_hours>")
    if os.path.exists(cmd.builder_path):
        raise CliError(f"{cmd.builder_path} already exists; remove it first to start over")
    cmd._builder = RingBuilder(_int(cmd.args[0], "part power"), _float(cmd.args[1], "replica count"),
                               _int(cmd.args[2], "min_part_hours"))
    cmd.save()
    return EXIT_SUCCESS


def _add_by_flags(args: list[str]) -> list[tuple[dict[str, Any], float]]:
    parser = argparse.ArgumentParser(prog="add", add_help=False, exit_on_error=False)
    for name in ("--region", "--zone", "--port", "--replication-port"):
        parser.add_argument(name, type=int)
    for name in ("--ip", "--replication-ip", "--device", "--meta", "--weight"):
        parser.add_argument(name)
    try:
        opts = parser.parse_args(args)
    except (argparse.ArgumentError, SystemExit) as err:
        raise CliError(f"add: {err}") from None
    missing = [n for n in ("zone", "ip", "port", "device", "weight") if getattr(opts, n) is None]
    if missing:
        raise CliError("add: missing " + ", ".join("--" + n for n in missing))
    ip = normalize_ip(opts.ip)
    fields = {
        "region": opts.region if opts.region is not None else 1, "zone": opts.zone, "ip": ip,
        "port": check_port(opts.port),
        "replication_ip": normalize_ip(opts.replication_ip) if opts.replication_ip else ip,
        "replication_port": check_port(opts.replication_port or opts.port),
        "device": opts.device, "meta": opts.meta or "",
    }
    return [(fields, parse_weight(opts.weight))]


def cmd_add(cmd: Command) -> int:
    args = cmd.args
    if not args:
        raise CliError("add takes <device> <weight> pairs or --region/--zone/--ip/--port/--device/--weight")
    if args[0].startswith("--"):
        new = _add_by_flags(args)
    else:
        if len(args) % 2:
            raise CliError("add takes <device> <weight> pairs; a weight is missing")
        new = [(parse_new_device(args[i]), parse_weight(args[i + 1])) for i in range(0, len(args), 2)]
    builder = cmd.builder
    for fields, weight in new:
        dev_id = builder.add_dev(weight=weight, **fields)
        _out(f"Device {builder.dev(dev_id).describe()} with {weight:g} weight got id {dev_id}")
    cmd.save()
    return EXIT_SUCCESS


def cmd_remove(cmd: Command) -> int:
    confirmed = _pop_flag(cmd.args, "--yes", "-y")
    if not cmd.args:
        raise CliError("remove takes one or more search values")
    for search in cmd.args:
        for dev in _select(cmd, search, confirmed, "Remove"):
            cmd.builder.remove_dev(dev.id)
            _out(f"{dev.describe()} marked for removal and will be removed next rebalance.")
    cmd.save()
    return EXIT_SUCCESS


def _pairs(cmd: Command, usage: str) -> tuple[list[tuple[str, str]], bool]:
    """``<search-value> <value>`` pairs of a command, and its --yes."""
    confirmed = _pop_flag(cmd.args, "--yes", "-y")
    if not cmd.args or len(cmd.args) % 2:
        raise CliError(usage)
    return list(zip(cmd.args[::2], cmd.args[1::2])), confirmed


def cmd_set_weight(cmd: Command) -> int:
    pairs, confirmed = _pairs(cmd, "set_weight takes <search-value> <weight> pairs")
    for search, text in pairs:
        weight = parse_weight(text)
        for dev in _select(cmd, search, confirmed, "Update"):
            cmd.builder.set_dev_weight(dev.id, weight)
            _out(f"{dev.describe()} weight set to {weight:g}")
    cmd.save()
    return EXIT_SUCCESS


def _parse_change(text: str) -> dict[str, Any]:
    """``ip:port[Rip:port]/device_meta`` with every part optional."""
    criteria = parse_search_value(text if text[:1] in "-/_R[" or not text[:1].isdigit() else "-" + text)
    allowed = {"ip", "port", "replication_ip", "replication_port", "device", "meta"}
    if set(criteria) - allowed:
        raise CliError(f"invalid change {text!r}: only ip:port, Rip:port, /device and _meta")
    return criteria


def cmd_set_info(cmd: Command) -> int:
    pairs, confirmed = _pairs(cmd, "set_info takes <search-value> <ip:port[Rip:port]/device_meta> pairs")
    for search, text in pairs:
        change = _parse_change(text)
        devs = _select(cmd, search, confirmed, "Update")
        if len(devs) > 1 and set(change) & {"ip", "port", "device"} == {"ip", "port", "device"}:
            raise CliError("one ip:port/device cannot be given to several devices")
        for dev in devs:
            cmd.builder.set_dev_info(dev.id, **change)
            _out(f"Device {dev.describe()} is now {cmd.builder.dev(dev.id).describe()}")
    cmd.save()
    return EXIT_SUCCESS


def cmd_rebalance(cmd: Command) -> int:
    parser = argparse.ArgumentParser(prog="rebalance", add_help=False, exit_on_error=False)
    parser.add_argument("--seed", "-s", type=int)
    try:
        opts = parser.parse_args(cmd.args)
    except (argparse.ArgumentError, SystemExit) as err:
        raise CliError(f"rebalance: {err}") from None
    builder = cmd.builder
    result = builder.rebalance(seed=opts.seed)
    if result.parts_moved == 0:
        _out("No partitions could be reassigned.")
        if builder.min_part_seconds_left():
            _out(f"Partitions move at most once every {builder.min_part_hours} hours; "
                 "try again later, or see pretend_min_part_hours_passed.")
        else:
            _out("The ring is already as balanced and dispersed as it can be.")
        return EXIT_WARNING
    cmd.save(with_ring=True)
    percent = 100.0 * result.parts_moved / builder.partitions
    _out(f"Reassigned {result.parts_moved} ({percent:.2f}%) partitions. "
         f"Balance is now {result.balance:.2f}.  Dispersion is now {result.dispersion:.2f}")
    for dev in result.removed_devices:
        _out(f"Removed device {dev.describe()}")
    if result.held_back:
        _out("-" * 79,
             "NOTE: min_part_hours kept some partitions from moving; the ring is not yet",
             f"      as balanced as it can be. Push this ring, wait {builder.min_part_hours} hours "
             "(min_part_hours) and rebalance again.",
             "-" * 79)
        return EXIT_WARNING
    return EXIT_SUCCESS


def cmd_write_ring(cmd: Command) -> int:
    if cmd.args:
        raise CliError("write_ring takes no arguments")
    cmd.save(with_ring=True)
    _out(f"Wrote {cmd.ring_path}")
    return EXIT_SUCCESS


def cmd_validate(cmd: Command) -> int:
    cmd.builder.validate()
    _out("The builder and its table are valid.")
    return EXIT_SUCCESS


def cmd_search(cmd: Command) -> int:
    if len(cmd.args) != 1:
        raise CliError("search takes one search value")
    devs = cmd.builder.search_devs(parse_search_value(cmd.args[0]))
    if not devs:
        _out(f"No matching devices found for {cmd.args[0]!r}")
        return EXIT_ERROR
    _out(*device_rows(cmd.builder, devs))
    return EXIT_SUCCESS


def cmd_list_parts(cmd: Command) -> int:
    if not cmd.args:
        raise CliError("list_parts takes one or more search values")
    if cmd.builder.table is None:
        raise CliError("the builder has not been rebalanced: no partitions yet")
    ids = {dev.id for search in cmd.args
           for dev in cmd.builder.search_devs(parse_search_value(search))}
    if not ids:
        _out("No matching devices found")
        return EXIT_ERROR
    found = cmd.builder.parts_of(ids)
    _out("Partition   Matches")
    for part, count in sorted(found.items(), key=lambda item: (-item[1], item[0])):
        _out(f"{part:>9} {count:>9}")
    return EXIT_SUCCESS


def cmd_dispersion(cmd: Command) -> int:
    verbose = _pop_flag(cmd.args, "-v", "--verbose")
    if cmd.args:
        raise CliError("dispersion takes only -v")
    if cmd.builder.table is None:
        raise CliError("the builder has not been rebalanced: no dispersion yet")
    report = dispersion_report(cmd.builder, verbose=verbose)
    _out(*dispersion_lines(cmd.builder, report, verbose))
    return EXIT_WARNING if report.undispersed_parts else EXIT_SUCCESS


def cmd_set_min_part_hours(cmd: Command) -> int:
    if len(cmd.args) != 1:
        raise CliError("set_min_part_hours takes <hours>")
    cmd.builder.set_min_part_hours(_int(cmd.args[0], "min_part_hours"))
    _out(f"The minimum number of hours before a partition can be reassigned is now "
         f"{cmd.builder.min_part_hours}")
    cmd.save()
    return EXIT_SUCCESS


def cmd_set_overload(cmd: Command) -> int:
    if len(cmd.args) != 1:
        raise CliError("set_overload takes <overload> (a fraction like 0.1, or 10%)")
    text = cmd.args[0]
    value = _float(text.rstrip("%"), "overload") / (100.0 if text.endswith("%") else 1.0)
    cmd.builder.set_overload(value)
    _out(f"The overload factor is now {value * 100:.2f}% ({value:.6f})")
    cmd.save()
    return EXIT_SUCCESS


def cmd_set_replicas(cmd: Command) -> int:
    if len(cmd.args) != 1:
        raise CliError("set_replicas takes <replicas>")
    cmd.builder.set_replicas(_float(cmd.args[0], "replica count"))
    _out(f"The replica count is now {cmd.builder.replicas:.6f}.",
         "The change takes effect at the next rebalance.")
    cmd.save()
    return EXIT_SUCCESS


def cmd_pretend(cmd: Command) -> int:
    if cmd.args:
        raise CliError("pretend_min_part_hours_passed takes no arguments")
    cmd.builder.pretend_min_part_hours_passed()
    cmd.save()
    return EXIT_SUCCESS


def cmd_write_builder(cmd: Command) -> int:
    """``<ring_file> write_builder [min_part_hours]``: adopt an existing ring."""
    if len(cmd.args) > 1:
        raise CliError("write_builder takes [min_part_hours]")
    ring_path = cmd.builder_path
    if not ring_path.endswith(".ring.gz"):
        raise CliError("write_builder reads a ring file: give <name>.ring.gz first")
    builder_path = ring_path[:-len(".ring.gz")] + ".builder"
    if os.path.exists(builder_path):
        raise CliError(f"{builder_path} already exists; remove it first to rebuild it")
    hours = _int(cmd.args[0], "min_part_hours") if cmd.args else 1
    builder = RingBuilder.from_ring(load_ring_data(ring_path), hours)
    builderfile.save(builder, builder_path)
    _out(f"Wrote {builder_path} from {ring_path}: {len(builder.live_devs())} devices, "
         f"{builder.partitions} partitions, {builder.replicas:g} replicas")
    return EXIT_SUCCESS


def cmd_summary(cmd: Command) -> int:
    _out(*summary(cmd.builder, cmd.builder_path, cmd.ring_path))
    return EXIT_SUCCESS


COMMANDS: dict[str, Callable[[Command], int]] = {
    "create": cmd_create,
    "add": cmd_add,
    "remove": cmd_remove,
    "set_weight": cmd_set_weight,
    "set_info": cmd_set_info,
    "rebalance": cmd_rebalance,
    "write_ring": cmd_write_ring,
    "validate": cmd_validate,
    "search": cmd_search,
    "list_parts": cmd_list_parts,
    "dispersion": cmd_dispersion,
    "set_min_part_hours": cmd_set_min_part_hours,
    "set_overload": cmd_set_overload,
    "set_replicas": cmd_set_replicas,
    "pretend_min_part_hours_passed": cmd_pretend,
    "write_builder": cmd_write_builder,
}


def run(argv: Sequence[str]) -> int:
    """Run one command; returns the exit code."""
    args = list(argv)
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return EXIT_SUCCESS if args else EXIT_ERROR
    builder_path, name, rest = args[0], (args[1] if len(args) > 1 else None), args[2:]
    handler = COMMANDS.get(name) if name is not None else cmd_summary
    if handler is None:
        _error(f"unknown command {name!r}; run objstore-ring-builder --help")
        return EXIT_ERROR
    try:
        return handler(Command(builder_path, rest))
    except (CliError, RingError) as err:
        _error(str(err))
        return EXIT_ERROR
    except BrokenPipeError:  # the reader (head, less) went away: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_SUCCESS
    except OSError as err:
        _error(f"{err.filename or builder_path}: {err.strerror}")
        return EXIT_ERROR


def _error(message: str) -> None:
    print(f"objstore-ring-builder: error: {message}", file=sys.stderr)


def main() -> NoReturn:
    sys.exit(run(sys.argv[1:]))


__all__ = ["main", "run", "DEVICE_HEADER"]

if __name__ == "__main__":
    main()
