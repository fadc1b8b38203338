"""Where a device's databases are, for the daemons that visit each of them.

    <device>/<accounts|containers>/<partition>/<suffix>/<hash>/<hash>.db

``walk_databases`` yields every database file of one kind on a device,
partitions in numeric order; names that are not a partition, a suffix or
a hash of that suffix are passed over (a database is only ever made at
its own name). Directories vanish under a walk (replication moves
databases home): that is normal. ``quarantine_database`` moves a bad
database's directory aside, where no server or daemon looks for it.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import NamedTuple

from objstore.common import paths


class DatabaseFile(NamedTuple):
    partition: int
    name_hash: str
    path: str  # .../<hash>/<hash>.db

    @property
    def hash_dir(self) -> str:
        return os.path.dirname(self.path)


def walk_databases(device_path: str, db_dir: str,
                   on_error: Callable[[str, OSError], None]) -> Iterator[DatabaseFile]:
    """Every ``<hash>.db`` under ``<device_path>/<db_dir>``; a directory
    that cannot be listed (other than gone) is reported to ``on_error``."""
    def listdir(path: str) -> list[str]:
        try:
            return sorted(os.listdir(path))
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as err:
            on_error(path, err)
            return []

    root = os.path.join(device_path, db_dir)
    for partition in sorted(number for name in listdir(root)
                            if (number := paths.valid_partition(name)) is not None):
        partition_dir = os.path.join(root, str(partition))
        for suffix in listdir(partition_dir):
            suffix_dir = os.path.join(partition_dir, suffix)
            for name_hash in listdir(suffix_dir):
                path = os.path.join(suffix_dir, name_hash, name_hash + ".db")
                if paths.valid_hash(name_hash) and name_hash.endswith(suffix) \
                        and os.path.exists(path):
                    yield DatabaseFile(partition, name_hash, path)


def quarantine_database(device_path: str, db_dir: str, found: DatabaseFile) -> str:
    """Move the database's directory (its file, pending file and SQLite's
    files) to ``<device>/quarantined/<db_dir>/<hash>[-<hex>]``; where it went."""
    target = os.path.join(device_path, "quarantined", db_dir, found.name_hash)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if os.path.exists(target):
        target += f"-{uuid.uuid4().hex}"
    os.rename(found.hash_dir, target)
    return target
