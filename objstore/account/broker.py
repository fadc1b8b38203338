"""The account database: one row per container name, the listing, and the
account's totals, overall and per storage policy.

Container servers report each container's timestamps and statistics
(the container updater); the account merges the reports.

Invariants:

- Per name, ``put_timestamp`` and ``delete_timestamp`` are each the newest
  ever reported, and the row is deleted when the delete is the newer.
- The statistics (object count, bytes, policy index) come from the report
  with the newest ``stats_timestamp``; on a tie the report merged last
  wins, so a container that reports again with the same timestamps still
  updates its counts. ``stats_timestamp`` defaults to the newer of the
  report's put and delete timestamps; a reporter that passes the time it
  took the statistics makes the merge independent of arrival order.
- ``container_count``, ``object_count`` and ``bytes_used`` in ``info`` and
  the ``policy_stat`` table count live rows only, and move in the same
  transaction as the rows.
- A DELETE of the account (``mark_deleted``) leaves its rows: the account
  is status-deleted at once, and deleted (``is_deleted``, the file may go)
  once the reaper has emptied it.
"""
from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, ClassVar

from objstore.common.db import DatabaseBroker, Row
from objstore.common.db_listing import Subdir
from objstore.common.timestamp import Timestamp

LISTING_LIMIT = 10_000  # Swift's ACCOUNT_LISTING_LIMIT

_POLICY_STAT = """
CREATE TABLE policy_stat (
    storage_policy_index INTEGER PRIMARY KEY,
    container_count INTEGER NOT NULL DEFAULT 0,
    object_count INTEGER NOT NULL DEFAULT 0,
    bytes_used INTEGER NOT NULL DEFAULT 0
);
"""


class AccountBroker(DatabaseBroker):
    """The SQLite database of one account.

    ``initialize(put_timestamp, account=...)`` creates it."""

    DB_TYPE: ClassVar[str] = "account"
    APPLICATION_ID: ClassVar[int] = 0x4F534101  # "OSA\x01"
    ROW_TABLE: ClassVar[str] = "container"
    ROW_COLUMNS: ClassVar[dict[str, str]] = {
        "name": "text",
        "put_timestamp": "timestamp",
        "delete_timestamp": "timestamp",
        "stats_timestamp": "timestamp",
        "object_count": "int",
        "bytes_used": "int",
        "storage_policy_index": "int",
        "deleted": "int",
    }
    INFO_COLUMNS: ClassVar[dict[str, str]] = {
        "account": "text",
        "container_count": "int",
        "object_count": "int",
        "bytes_used": "int",
    }
    STAT_COLUMNS: ClassVar[frozenset[str]] = frozenset(
        {"container_count", "object_count", "bytes_used"})
    EXTRA_SCHEMA: ClassVar[str] = _POLICY_STAT
    RECLAIM_COLUMN: ClassVar[str] = "delete_timestamp"
    LIVE_COUNT: ClassVar[str] = "container_count"

    def put_container(self, name: str, put_timestamp: Timestamp, delete_timestamp: Timestamp,
                      object_count: int, bytes_used: int, storage_policy_index: int = 0,
                      stats_timestamp: Timestamp | None = None) -> None:
        """Record a container's report, via the pending file."""
        put, delete = Timestamp(put_timestamp), Timestamp(delete_timestamp)
        self.put_record({
            "name": name, "put_timestamp": put, "delete_timestamp": delete,
            "stats_timestamp": max(put, delete) if stats_timestamp is None else stats_timestamp,
            "object_count": object_count, "bytes_used": bytes_used,
            "storage_policy_index": storage_policy_index, "deleted": int(delete > put),
        })

    def is_status_deleted(self) -> bool:
        """Deleted by a DELETE newer than its newest PUT, containers or not."""
        info = self.get_info()
        return bool(info["delete_timestamp"] > info["put_timestamp"])

    def get_policy_stats(self) -> dict[int, dict[str, int]]:
        """``{policy_index: {container_count, object_count, bytes_used}}`` of
        live containers, for every policy that has one."""
        with self._read() as conn:
            cursor = conn.execute("SELECT storage_policy_index, container_count, object_count, "
                                  "bytes_used FROM policy_stat WHERE container_count > 0 "
                                  "ORDER BY storage_policy_index")
            return {index: {"container_count": containers, "object_count": objects,
                            "bytes_used": used}
                    for index, containers, objects, used in cursor}

    def list_containers(self, limit: int = LISTING_LIMIT, marker: str = "",
                        end_marker: str = "", prefix: str = "", delimiter: str = "",
                        reverse: bool = False) -> list[dict[str, Any]]:
        """A page of the listing, with Swift's semantics (``db_listing``):
        ``{name, count, bytes, last_modified, storage_policy_index}`` per
        container and ``{subdir}`` per rolled-up prefix."""
        entries = self._list_rows(("put_timestamp", "object_count", "bytes_used",
                                   "storage_policy_index"),
                                  limit=limit, marker=marker, end_marker=end_marker,
                                  prefix=prefix, delimiter=delimiter, reverse=reverse)
        listing: list[dict[str, Any]] = []
        for entry in entries:
            if isinstance(entry, Subdir):
                listing.append({"subdir": entry.name})
                continue
            name, put_timestamp, count, used, policy_index = entry
            listing.append({"name": name, "count": count, "bytes": used,
                            "last_modified": Timestamp(put_timestamp).isoformat,
                            "storage_policy_index": policy_index})
        return listing

    def _resolve(self, current: Row | None, incoming: Row) -> Row:
        if current is None:
            merged = dict(incoming)
        else:
            newer_stats = incoming["stats_timestamp"] >= current["stats_timestamp"]
            merged = dict(incoming if newer_stats else current)
            merged["put_timestamp"] = max(current["put_timestamp"], incoming["put_timestamp"])
            merged["delete_timestamp"] = max(current["delete_timestamp"],
                                             incoming["delete_timestamp"])
        # Whatever a report claimed, deleted follows the timestamps.
        merged["deleted"] = int(merged["delete_timestamp"] > merged["put_timestamp"])
        return merged

    def _update_stats(self, conn: sqlite3.Connection, removed: Sequence[Row],
                      added: Sequence[Row]) -> None:
        moves: defaultdict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
        for sign, rows in ((-1, removed), (1, added)):
            for row in rows:
                if not row["deleted"]:
                    move = moves[row["storage_policy_index"]]
                    move[0] += sign
                    move[1] += sign * row["object_count"]
                    move[2] += sign * row["bytes_used"]
        total = [sum(move[i] for move in moves.values()) for i in range(3)]
        if any(total):
            conn.execute("UPDATE info SET container_count = container_count + ?, "
                         "object_count = object_count + ?, bytes_used = bytes_used + ?", total)
        for index, (containers, objects, used) in moves.items():
            conn.execute(
                "INSERT INTO policy_stat (storage_policy_index, container_count, object_count, "
                "bytes_used) VALUES (?, ?, ?, ?) ON CONFLICT (storage_policy_index) DO UPDATE "
                "SET container_count = container_count + excluded.container_count, "
                "object_count = object_count + excluded.object_count, "
                "bytes_used = bytes_used + excluded.bytes_used",
                (index, containers, objects, used))
