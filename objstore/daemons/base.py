"""What every daemon is: options, one pass over local devices, counters.

A daemon says what one pass does and nothing about how it is run (the
runner, ``objstore.daemons.runner``, owns processes, intervals, signals
and the recon cache)::

    class ObjectAuditor(Daemon):
        name = "object-auditor"
        server_type = "object"
        config_schema = ObjectAuditorConfig

        def process_device(self, device: LocalDevice) -> None:
            ...  # walk it; self.stats.add("files"); return early once self.stopping

``run_once(devices)`` by default hands each device to ``process_device``,
``concurrency`` devices at a time in threads (disk I/O and hashing
release the interpreter lock, so devices really are worked in parallel),
skipping devices that are not there (or not mounted, with
``mount_check``). A daemon whose pass is not per device overrides
``run_once``.

Config: the daemon's section (``[object-auditor]``) of its server's
config file, ``[DEFAULT]`` under it. What makes the node a node (its
address and port, its devices, the cluster file, ...: ``NODE_OPTIONS``)
is the server's, read from the server's own section, unless the daemon's
section sets it. A daemon's defaults for these options must be its
server's (a test compares the two schemas), so an option set nowhere
means the same to both.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Final

from objstore.common import scheduling
from objstore.common.config import ConfigError, option
from objstore.common.logs import LEVELS
from ring.ring import Ring

# Options a daemon takes from its server's section unless its own sets them.
NODE_OPTIONS: Final = ("bind_ip", "bind_port", "devices", "mount_check", "cluster_conf",
                       "ring_dir", "reclaim_age")


@dataclasses.dataclass(frozen=True)
class DaemonConfig:
    """Options every daemon has; a daemon's own config extends it."""

    devices: str = option("/srv/node", "directory holding one directory (mount) per device "
                                       "(default: the server's)")
    mount_check: bool = option(True, "skip devices that are not mount points "
                                     "(default: the server's)")
    bind_ip: str = option("127.0.0.1", "the node's address, to find its devices in the ring "
                                       "(default: the server's)")
    bind_port: int = option(6200, "the node's port, to find its devices in the ring "
                                  "(default: the server's)", minimum=1, maximum=65535)
    cluster_conf: str = option("/etc/objstore/objstore.conf",
                               "the cluster file: hash path secret and storage policies "
                               "(default: the server's)")
    ring_dir: str = option("/etc/objstore", "where the ring files are")
    reclaim_age: float = option(604800.0, "seconds tombstones are kept (default: the server's)",
                                minimum=0)
    recon_cache_path: str = option("/var/cache/objstore",
                                   "directory of this node's recon files (<type>.recon)")
    interval: float = option(30.0, "seconds from the start of one pass to the start of the "
                                   "next", minimum=0)
    concurrency: int = option(1, "devices worked on at once", minimum=1, maximum=1024)
    log_time: float = option(3600.0, "seconds between progress reports (log and recon) "
                                     "during a long pass", minimum=1)
    log_level: str = option("INFO", "least severe log level written", choices=LEVELS)
    log_file: str = option("", "file to append logs to; empty for standard error")
    scheduling: str = option("batch", "Linux scheduling policy of a pass's threads: batch "
                             "(a thread that wakes never preempts a server's) or normal",
                             choices=scheduling.POLICIES)


def load_ring(ring_dir: str, name: str) -> Ring:
    """``<ring_dir>/<name>.ring.gz``; a ConfigError (exit 2) if it cannot be
    read. The ring reloads itself when the file changes."""
    path = os.path.join(ring_dir, f"{name}.ring.gz")
    try:
        return Ring(path)
    except Exception as err:  # missing, damaged, or not a ring: all mean the same
        raise ConfigError(f"ring {path} cannot be read: {err}") from None


@dataclasses.dataclass(frozen=True)
class LocalDevice:
    """A device the ring places on this node."""

    name: str
    path: str


class PassStats:
    """Counters of one pass, safe to bump from several threads."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.started = clock()
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def get(self, name: str) -> int:
        with self._lock:
            return self._counts[name]

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


class Daemon:
    """One kind of background work; see the module docstring."""

    name: ClassVar[str] = ""             # object-auditor: logs, recon, console script
    server_type: ClassVar[str] = ""      # object: its server's config file, rings, recon file
    server_section: ClassVar[str] = ""   # app:object-server: where node options come from
    config_schema: ClassVar[type[DaemonConfig]] = DaemonConfig
    counters: ClassVar[tuple[str, ...]] = ("errors",)  # always in the recon, 0 or not
    # False for work that is not on this node's disks (the expirer's queue
    # lives in the cluster): a node with no device of the rings is fine
    uses_local_devices: ClassVar[bool] = True

    def __init__(self, conf: Any, logger: logging.Logger,
                 stop: threading.Event | None = None) -> None:
        self.conf = conf
        self.logger = logger
        self.stop = stop or threading.Event()
        self.stats = PassStats()
        # Set by the runner: records progress of a long pass in the recon.
        self.on_progress: Callable[[Daemon], None] | None = None
        self._last_report = time.monotonic()
        self._report_lock = threading.Lock()

    # -- what the runner asks ---------------------------------------------------

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Command-line options of this daemon besides CONF, --once and --devices."""

    @classmethod
    def from_args(cls, conf: Any, logger: logging.Logger, stop: threading.Event,
                  args: argparse.Namespace) -> Daemon:
        return cls(conf, logger, stop)

    @property
    def recon_key(self) -> str:
        """This daemon's entry in the recon file."""
        return self.name

    def ring_names(self) -> list[str]:
        """The rings whose local devices this daemon works on."""
        return [self.server_type]

    def companions(self) -> list[Daemon]:
        """Other daemons to run beside this one in the same process, each on
        its own schedule (the object auditor's zero-byte pass)."""
        return []

    def begin_pass(self) -> None:
        self.stats = PassStats()
        self._last_report = time.monotonic()

    @property
    def stopping(self) -> bool:
        return self.stop.is_set()

    def statistics(self) -> dict[str, int]:
        """The running pass's counts (every name of ``counters`` included)."""
        return {**{name: 0 for name in self.counters}, **self.stats.snapshot()}

    # -- one pass ---------------------------------------------------------------

    def run_once(self, devices: Sequence[LocalDevice]) -> None:
        """One pass over ``devices``, ``concurrency`` at a time."""
        workers = min(self.conf.concurrency, len(devices))
        if workers <= 1:
            for device in devices:
                if self.stopping:
                    return
                self._process(device)
            return
        with ThreadPoolExecutor(max_workers=workers,
                                thread_name_prefix=f"{self.name}-device") as pool:
            for _ in pool.map(self._process, devices):
                pass

    def _process(self, device: LocalDevice) -> None:
        if self.stopping:
            return
        if not self.device_available(device):
            self.stats.add("devices_unavailable")
            self.logger.warning("skipping %s: %s", device.name,
                                "not mounted" if self.conf.mount_check else "no such directory")
            return
        try:
            self.process_device(device)
        except Exception:  # one device's trouble must not end the pass for the others
            self.stats.add("errors")
            self.logger.exception("%s failed on device %s", self.name, device.name)

    def listdir(self, path: str) -> list[str]:
        """A directory's names, sorted; none if it is gone (directories
        vanish under a walk: replication, rehashing); other trouble
        listing it is counted as an error and logged."""
        try:
            return sorted(os.listdir(path))
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as err:
            self.stats.add("errors")
            self.logger.error("cannot list %s: %s", path, err.strerror or err)
            return []

    def device_available(self, device: LocalDevice) -> bool:
        if self.conf.mount_check:
            return os.path.ismount(device.path)
        return os.path.isdir(device.path)

    def process_device(self, device: LocalDevice) -> None:
        raise NotImplementedError

    # -- progress -----------------------------------------------------------------

    def report_progress(self, describe: Callable[[dict[str, int]], str]) -> None:
        """Every ``log_time`` seconds during a pass: a log line (``describe``
        of the counts so far) and the recon's ``current_pass``."""
        now = time.monotonic()
        if now - self._last_report < self.conf.log_time:
            return
        with self._report_lock:
            if now - self._last_report < self.conf.log_time:
                return
            self._last_report = now
        self.logger.info("%s pass in progress: %s", self.recon_key, describe(self.statistics()))
        if self.on_progress is not None:
            self.on_progress(self)
