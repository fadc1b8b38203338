"""The process around a daemon: one pass or a pass every interval.

    objstore-<daemon> CONF [--once] [--devices sdb1,sdb2] [daemon options]

* The config is read once at start (a bad value: one line on stderr,
  exit 2), from the daemon's section of CONF (``base`` says how node
  options come from the server's section). The rings and the cluster
  file must be readable too.
* Every pass works on this node's devices as the rings place them now
  (``local_devices``; a ring file that changes is reloaded), optionally
  narrowed by ``--devices``. What the pass did goes to the recon cache
  and one log line.
* ``--once``: one pass, then exit 0 when it went through cleanly, 1 when
  something was not done (errors, a device missing, no local device for a
  daemon that works on them, a stop part way).
* Otherwise a pass starts every ``interval`` seconds (at once after a
  pass that took longer), the daemon's companions each on their own
  schedule in the same process.
* SIGTERM or SIGINT: the passes in progress stop at their next object
  (recorded as interrupted), the process exits 0; a second one exits at
  once. SIGHUP: the config is read again and used from each daemon's
  next pass on; a config that does not load is logged and the old one
  kept. (With ``--once``, SIGHUP stops the pass like SIGTERM.)
* Each pass runs under the ``scheduling`` policy (batch by default, as
  the servers' workers: objstore.common.scheduling), set in its thread
  before it starts any other.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from objstore.common import scheduling
from objstore.common.config import ConfigError, ConfigFile, build, parse_list
from objstore.common.logs import get_logger
from objstore.daemons.base import NODE_OPTIONS, Daemon, DaemonConfig, LocalDevice, load_ring
from objstore.daemons.local_devices import local_devices
from objstore.daemons.recon import ReconCache
from ring.ring import Ring

EXIT_OK: Final = 0
EXIT_WARNING: Final = 1
EXIT_ERROR: Final = 2
POLL_SECONDS: Final = 1.0  # how often a sleeping loop looks for a new interval
SIGNAL_SECONDS: Final = 0.05  # how soon the main thread acts on a signal


def load_daemon_config(path: str, daemon_class: type[Daemon]) -> tuple[Any, list[str]]:
    """The daemon's section of ``path`` (over ``[DEFAULT]``), with the node
    options its section does not set taken from the server's section (see
    ``base``); and warnings about the daemon's section."""
    config = ConfigFile(path)
    section, schema = daemon_class.name, daemon_class.config_schema
    own = config.sections.get(section, {})
    own_names = {name.lower() for name in own}
    node = {name: value for name, value in config.sections.get(daemon_class.server_section,
                                                                {}).items()
            if name.lower() in NODE_OPTIONS and name.lower() not in own_names}
    # The server's values checked first, so a bad one is reported where it is.
    build(schema, node, source=path, section=daemon_class.server_section,
          shared=config.defaults)
    conf, warnings = build(schema, own, source=path, section=section,
                           shared={**config.defaults, **node})
    if not config.has(section):
        warnings.append(f"{path} has no [{section}] section: every option at its default")
    return conf, warnings


def counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{value} {name.replace('_', ' ')}" for name, value in sorted(counts.items()))


class Runner:
    """Runs one daemon class as this process (see the module docstring)."""

    def __init__(self, daemon_class: type[Daemon], conf_path: str, args: argparse.Namespace,
                 conf: DaemonConfig, logger: logging.Logger) -> None:
        self.daemon_class = daemon_class
        self.conf_path = conf_path
        self.args = args
        self.logger = logger
        self.only: list[str] | None = getattr(args, "devices", None)
        self.stop = threading.Event()
        self.stop_signal: int | None = None  # set by a handler; acted on by the main thread
        self.reload_requested = False
        self.rings: dict[str, Ring] = {}
        self.current: dict[str, Daemon] = {}  # recon key -> daemon, as last built
        self._build(conf)

    # -- building and finding devices ----------------------------------------------

    def _build(self, conf: DaemonConfig) -> list[Daemon]:
        """The daemon and its companions for ``conf``; raises ConfigError."""
        main = self.daemon_class.from_args(conf, self.logger, self.stop, self.args)
        daemons = [main, *main.companions()]
        for daemon in daemons:
            self.devices_of(daemon)  # rings readable now, or refuse the config
        self.current = {daemon.recon_key: daemon for daemon in daemons}
        return daemons

    def _ring(self, ring_dir: str, name: str) -> Ring:
        path = os.path.join(ring_dir, f"{name}.ring.gz")
        ring = self.rings.get(path)
        if ring is None:
            ring = self.rings[path] = load_ring(ring_dir, name)
        return ring

    def devices_of(self, daemon: Daemon) -> list[LocalDevice]:
        conf = daemon.conf
        rings = [self._ring(conf.ring_dir, name) for name in daemon.ring_names()]
        names = local_devices(rings, conf.bind_ip, conf.bind_port)
        if self.only is not None:
            names = [name for name in names if name in self.only]
        return [LocalDevice(name, os.path.join(conf.devices, name)) for name in names]

    # -- one pass ------------------------------------------------------------------

    def run_pass(self, daemon: Daemon) -> bool:
        """One pass of ``daemon``, recorded; True when it went through cleanly."""
        # in the pass's own thread, before it starts any: they inherit it
        scheduling.apply(daemon.conf.scheduling, self.logger)
        daemon.begin_pass()
        recon = ReconCache(daemon.conf.recon_cache_path, daemon.server_type)
        started = time.time()
        daemon.on_progress = lambda d: self._record(
            lambda: recon.record_progress(d.recon_key, started, time.time(), d.statistics()))
        devices: list[LocalDevice] = []
        try:
            devices = self.devices_of(daemon)
            if not devices and daemon.uses_local_devices:
                self.logger.warning(
                    "%s: no device of rings %s is on this node (%s:%d)%s", daemon.recon_key,
                    ", ".join(daemon.ring_names()), daemon.conf.bind_ip, daemon.conf.bind_port,
                    f" among --devices {','.join(self.only)}" if self.only is not None else "")
            daemon.run_once(devices)
        except Exception:  # the daemon's bug or a ring gone bad: log it, keep the process
            daemon.stats.add("errors")
            self.logger.exception("%s pass failed", daemon.recon_key)
        finished = time.time()
        completed = not self.stop.is_set()
        counts = daemon.statistics()
        self._record(lambda: recon.record_pass(daemon.recon_key, started, finished, completed,
                                               counts, [device.name for device in devices]))
        self.logger.info("%s pass %s in %.2f s over %d devices: %s", daemon.recon_key,
                         "done" if completed else "stopped", finished - started, len(devices),
                         counts_text(counts))
        trouble = counts.get("errors", 0) + counts.get("devices_unavailable", 0)
        return completed and (bool(devices) or not daemon.uses_local_devices) and not trouble

    def _record(self, write: Callable[[], None]) -> None:
        try:
            write()
        except OSError as err:  # a full disk must not stop the daemon's real work
            self.logger.error("cannot write the recon cache: %s", err)

    # -- signals -------------------------------------------------------------------
    # Handlers only set flags: they run in the main thread between any two
    # bytecodes, and taking a lock there (Event.set, logging) can deadlock
    # with the code they interrupted. The main thread does nothing but watch
    # the flags; passes run in other threads.

    def _install_signals(self, once: bool) -> None:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_stop if once else self._on_reload)

    def _on_stop(self, signum: int, _frame: Any) -> None:
        if self.stop_signal is not None:
            os._exit(EXIT_WARNING)  # a second one: the operator will not wait
        self.stop_signal = signum

    def _on_reload(self, _signum: int, _frame: Any) -> None:
        self.reload_requested = True

    def _watch_signals(self) -> None:
        if self.stop_signal is not None and not self.stop.is_set():
            self.logger.info("%s: stopping after the current object",
                             signal.Signals(self.stop_signal).name)
            self.stop.set()
        if self.reload_requested and not self.stop.is_set():
            self.reload_requested = False
            self._reload()

    def _reload(self) -> None:
        try:
            conf, warnings = load_daemon_config(self.conf_path, self.daemon_class)
            self.logger = get_logger(self.daemon_class.name, conf.log_level, conf.log_file)
            self._build(conf)
        except ConfigError as err:
            self.logger.error("reload refused, keeping the running config: %s", err)
            return
        for warning in warnings:
            self.logger.warning(warning)
        self.logger.info("config reloaded; used from each daemon's next pass")

    # -- the two ways to run ---------------------------------------------------------

    def run_once(self) -> int:
        self._install_signals(once=True)
        main = next(iter(self.current.values()))
        clean: list[bool] = []
        worker = threading.Thread(target=lambda: clean.append(self.run_pass(main)),
                                  name=main.recon_key)
        worker.start()
        while worker.is_alive():
            self._watch_signals()
            worker.join(SIGNAL_SECONDS)
        return EXIT_OK if clean == [True] else EXIT_WARNING

    def run_forever(self) -> int:
        self._install_signals(once=False)
        loops: dict[str, threading.Thread] = {}
        while not self.stop.is_set():
            for key in self.current:
                if key not in loops or not loops[key].is_alive():
                    loops[key] = threading.Thread(target=self._loop, args=(key,), name=key)
                    loops[key].start()
            time.sleep(SIGNAL_SECONDS)
            self._watch_signals()
        for thread in loops.values():
            thread.join()
        self.logger.info("stopped")
        return EXIT_OK

    def _loop(self, key: str) -> None:
        """Passes of the daemon ``key`` until a stop, or until a reload drops it."""
        while not self.stop.is_set():
            daemon = self.current.get(key)
            if daemon is None:
                return
            started = time.monotonic()
            self.run_pass(daemon)
            while not self.stop.is_set():
                daemon = self.current.get(key)
                if daemon is None:
                    return
                remaining = started + daemon.conf.interval - time.monotonic()
                if remaining <= 0:
                    break
                self.stop.wait(min(remaining, POLL_SECONDS))


def parse_args(daemon_class: type[Daemon], argv: list[str]) -> argparse.Namespace:
    doc = (daemon_class.__doc__ or "").strip().splitlines()
    parser = argparse.ArgumentParser(prog=f"objstore-{daemon_class.name}",
                                     description=doc[0] if doc else None)
    parser.add_argument("conf", metavar="CONF",
                        help=f"the {daemon_class.server_type} server's config file "
                             f"(section [{daemon_class.name}])")
    parser.add_argument("--once", action="store_true", help="run one pass, then exit")
    parser.add_argument("--devices", metavar="LIST", type=parse_list, default=None,
                        help="work only on these of the node's devices (names, commas between)")
    daemon_class.add_arguments(parser)
    return parser.parse_args(argv)


def run_daemon(daemon_class: type[Daemon], argv: list[str]) -> int:
    """The whole life of a daemon process; returns its exit code."""
    args = parse_args(daemon_class, argv)
    name = f"objstore-{daemon_class.name}"
    try:
        conf, warnings = load_daemon_config(args.conf, daemon_class)
    except ConfigError as err:
        print(f"{name}: {err}", file=sys.stderr)
        return EXIT_ERROR
    logger = get_logger(daemon_class.name, conf.log_level, conf.log_file)
    for warning in warnings:
        logger.warning(warning)
    try:
        runner = Runner(daemon_class, args.conf, args, conf, logger)
    except ConfigError as err:
        print(f"{name}: {err}", file=sys.stderr)
        return EXIT_ERROR
    return runner.run_once() if args.once else runner.run_forever()


def daemon_main(daemon_class: type[Daemon]) -> None:
    """A console script's ``main``: ``objstore-<name> CONF [--once] ...``."""
    sys.exit(run_daemon(daemon_class, sys.argv[1:]))
