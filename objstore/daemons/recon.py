"""The recon cache: what each daemon of a node did, in a file operators read.

One JSON file per node and server type, ``<recon_cache_path>/<type>.recon``
(``object.recon``, ``container.recon``, ``account.recon``), holding one
entry per daemon::

    {"object-auditor": {
        "passes": 12,                  completed passes, ever
        "interrupted": 1,              passes cut short by a stop
        "totals": {"files": ..., ...}, counts summed over every pass
        "last_pass": {"started": 1700000000.1, "finished": ..., "duration": 3.2,
                      "completed": true, "devices": ["sdb1"],
                      "counts": {"files": 40, "bytes": 1048576, "quarantined": 1,
                                 "errors": 0}},
        "current_pass": {"started": ..., "updated": ..., "counts": {...}}
                                       while a long pass runs, its progress so far
    }}

Times are Unix times in seconds. Several daemons of a node share a file,
so every change is a read-modify-write under an ``flock`` on a lock file
beside it, and the new file replaces the old by rename: a reader (``cat``,
``jq``, a monitoring agent) sees the old file or the new, never half of
one. A damaged or missing file reads as empty and is started afresh: it
is a record, never the source of truth.
"""
from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, BinaryIO

from ring.atomic import write_atomically

Entry = dict[str, Any]


def recon_path(directory: str, server_type: str) -> str:
    return os.path.join(directory, f"{server_type}.recon")


def read_recon(path: str) -> dict[str, Entry]:
    """The whole file; {} when it is missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(handle: BinaryIO, payload: bytes) -> None:
    handle.write(payload)


class ReconCache:
    """One node's recon file for one server type."""

    def __init__(self, directory: str, server_type: str) -> None:
        self.directory = directory
        self.path = recon_path(directory, server_type)

    def read(self) -> dict[str, Entry]:
        return read_recon(self.path)

    def entry(self, key: str) -> Entry:
        value = self.read().get(key)
        return value if isinstance(value, dict) else {}

    def update(self, key: str, change: Callable[[Entry], Entry]) -> None:
        """Replace the entry ``key`` by ``change(old entry)``, atomically."""
        os.makedirs(self.directory, exist_ok=True)
        with open(self.path + ".lock", "a", encoding="ascii") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self.read()
            old = data.get(key)
            data[key] = change(dict(old) if isinstance(old, dict) else {})
            payload = json.dumps(data, indent=1, sort_keys=True).encode("utf-8") + b"\n"
            write_atomically(self.path, lambda handle: _write(handle, payload))

    def record_pass(self, key: str, started: float, finished: float, completed: bool,
                    counts: Mapping[str, int], devices: Sequence[str]) -> None:
        """A pass has ended (``completed`` False: it was stopped part way)."""
        def change(entry: Entry) -> Entry:
            totals = dict(entry.get("totals") or {})
            for name, value in counts.items():
                totals[name] = int(totals.get(name, 0)) + value
            done = "passes" if completed else "interrupted"
            entry[done] = int(entry.get(done, 0)) + 1
            entry.setdefault("passes", 0)
            entry.setdefault("interrupted", 0)
            entry["totals"] = totals
            entry["last_pass"] = {
                "started": started, "finished": finished,
                "duration": round(finished - started, 6), "completed": completed,
                "devices": list(devices), "counts": dict(counts),
            }
            entry.pop("current_pass", None)
            return entry
        self.update(key, change)

    def record_progress(self, key: str, started: float, now: float,
                        counts: Mapping[str, int]) -> None:
        """How far a pass still running has come."""
        def change(entry: Entry) -> Entry:
            entry["current_pass"] = {"started": started, "updated": now, "counts": dict(counts)}
            return entry
        self.update(key, change)
