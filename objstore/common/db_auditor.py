"""The database auditor: finds a damaged account or container database
before a client or a replica does.

    objstore-container-auditor CONF [--once] [--devices LIST]
    objstore-account-auditor CONF [--once] [--devices LIST]

Each pass opens every database of its kind on the node's local devices
(``db_walk``), at most ``databases_per_second`` a device, and checks that

* it is a database of this kind whose schema this code reads (the
  broker's own check when it opens it);
* SQLite's ``PRAGMA quick_check`` finds its pages and indexes sound;
* the account (and container) it names hash to the directory it is in,
  so it is found where the ring sends requests for it.

A database that fails is moved to ``<device>/quarantined/<db_dir>/``
(``db_walk.quarantine_database``) and logged; the other replicas'
replicators then find it missing here and push a good copy. What might
be passing trouble is never a reason to quarantine: a lock held too long,
an I/O error, a schema newer than this code (an upgrade half done) are
counted as ``errors`` and the database is left in place.

Recon (``container.recon`` / ``account.recon``, key
``container-auditor`` / ``account-auditor``): ``dbs`` checked, ``passed``,
``quarantined``, ``errors``.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import sqlite3
import threading
from typing import Any, ClassVar
from urllib.parse import quote

from objstore.common.config import option
from objstore.common.db import (
    DatabaseBroker, DatabaseCorrupt, DatabaseError, DatabaseLockTimeout, DatabaseVersionError,
)
from objstore.common.db_walk import DatabaseFile, quarantine_database, walk_databases
from objstore.common.policies import load_cluster_config
from objstore.daemons.base import Daemon, DaemonConfig, LocalDevice
from objstore.daemons.ratelimit import RateLimiter
from objstore.daemons.runner import counts_text
from ring.hashing import PathHasher


@dataclasses.dataclass(frozen=True)
class DatabaseAuditorConfig(DaemonConfig):
    interval: float = option(1800.0, "seconds from the start of one pass to the start of the "
                                     "next", minimum=0)
    databases_per_second: float = option(
        50.0, "databases checked per second, per device (0: no limit)", minimum=0)


class _Transient(Exception):
    """Trouble that may pass: count it, leave the database alone."""


class DatabaseAuditor(Daemon):
    """Checks every database of its kind on this node; quarantines the bad."""

    config_schema = DatabaseAuditorConfig
    counters = ("dbs", "passed", "quarantined", "errors")
    broker_class: ClassVar[type[DatabaseBroker]] = DatabaseBroker
    db_dir: ClassVar[str] = ""

    def __init__(self, conf: DatabaseAuditorConfig, logger: logging.Logger,
                 stop: threading.Event | None = None) -> None:
        super().__init__(conf, logger, stop)
        cluster, _ = load_cluster_config(conf.cluster_conf)  # ConfigError: exit 2
        self.hasher = PathHasher(cluster.hash_path_prefix, cluster.hash_path_suffix)

    def process_device(self, device: LocalDevice) -> None:
        pace = RateLimiter(self.conf.databases_per_second, sleep=self.stop.wait)
        for found in walk_databases(device.path, self.db_dir, self._cannot_list):
            if self.stopping:
                return
            self.audit(device, found)
            pace.consume(1)
            self.report_progress(counts_text)

    def audit(self, device: LocalDevice, found: DatabaseFile) -> None:
        try:
            problem = self.problem(found)
        except FileNotFoundError:
            return  # moved home or reclaimed by the replicator meanwhile
        except _Transient as err:
            self.stats.add("errors")
            self.logger.error("cannot audit %s (left in place): %s", found.path, err)
            return
        self.stats.add("dbs")
        if problem is None:
            self.stats.add("passed")
            return
        try:
            target = quarantine_database(device.path, self.db_dir, found)
        except OSError as err:
            self.stats.add("errors")
            self.logger.error("%s is bad (%s) and cannot be moved aside: %s", found.path,
                              problem, err)
            return
        self.stats.add("quarantined")
        self.logger.warning("%s quarantined to %s: %s", found.path, target, problem)

    def problem(self, found: DatabaseFile) -> str | None:
        """What is wrong with the database, or None; ``_Transient`` when
        it cannot be told now."""
        broker = self.broker_class(found.path)
        try:
            info: dict[str, Any] = broker.get_info()
        except DatabaseCorrupt as err:
            return str(err)
        except (DatabaseVersionError, DatabaseLockTimeout) as err:
            raise _Transient(str(err)) from None
        except DatabaseError as err:
            if not os.path.exists(found.path):
                raise FileNotFoundError(found.path) from None
            raise _Transient(str(err)) from None
        except OSError as err:
            raise _Transient(err.strerror or str(err)) from None
        finally:
            broker.close()
        checked = _quick_check(found.path)
        if checked is not None:
            return checked
        name_hash = self.hasher.hash_path(str(info["account"]), info.get("container"))
        if name_hash != found.name_hash:
            named = "/".join(str(part) for part in (info["account"], info.get("container"))
                             if part is not None)
            return f"it holds {named!r}, whose hash {name_hash} is not its directory's"
        return None

    def _cannot_list(self, path: str, err: OSError) -> None:
        self.stats.add("errors")
        self.logger.error("cannot list %s: %s", path, err.strerror or err)


def _quick_check(path: str) -> str | None:
    """SQLite's verdict on the file's pages and indexes: None when sound."""
    try:
        conn = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, timeout=25.0,
                               isolation_level=None)
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
        finally:
            conn.close()
    except sqlite3.OperationalError as err:  # locked, busy, I/O: not the file's fault
        if "malformed" in str(err) or "not a database" in str(err):
            return f"quick_check: {err}"
        raise _Transient(str(err)) from None
    except sqlite3.DatabaseError as err:
        return f"quick_check: {err}"
    lines = [line for row in rows for line in str(row[0]).splitlines()
             if line and not line.startswith("***")]
    if lines == ["ok"]:
        return None
    more = f" (and {len(lines) - 3} more)" if len(lines) > 3 else ""
    return f"quick_check: {'; '.join(lines[:3])}{more}"  # one log line
