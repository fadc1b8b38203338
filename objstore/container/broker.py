"""The container database: one row per object name, the listing, and the
container's statistics.

A row is the newest thing known about a name: a PUT (size, content type,
etag) or a DELETE (``deleted = 1``, a tombstone kept until ``reclaim`` so
that the delete reaches every replica). ``created_at`` is the X-Timestamp
of that PUT or DELETE.

Invariants:

- A row replaces the row of the same name only if its ``created_at`` is
  newer; on a tie the row already there stays (one proxy timestamp names
  one request, so a tie is the same update seen twice).
- ``object_count`` and ``bytes_used`` in ``info`` count live rows only and
  move in the same transaction as the rows (``_update_stats``); a HEAD
  reads them without scanning.
- Listings read the ``(deleted, name)`` index: tombstones cost nothing,
  a page is one index range per query (see ``db_listing``).
- One row per name, whatever its storage policy: an object recorded in
  another policy than the container's (for a reconciler to move) is
  counted and listed like any other.
- ``reported_*`` in ``info`` are the put and delete timestamps, object
  count and bytes that a quorum of the account's replicas last took from
  this replica (``mark_reported``); ``unreported(info)`` says whether the
  account may be behind. They are this replica's own record: a whole
  database pushed to a new replica brings them along (the account already
  has those values), and a database made by older code gets the columns
  when it is opened (``db_schema.add_missing_columns``), never reported
  yet. The timestamps are text, '' for never.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Final

from objstore.common.db import DatabaseBroker, Row
from objstore.common.db_listing import Subdir
from objstore.common.db_schema import add_missing_columns
from objstore.common.timestamp import Timestamp

LISTING_LIMIT = 10_000  # Swift's CONTAINER_LISTING_LIMIT

# info column -> the column holding its value as last taken by the account
REPORTED: Final = {
    "put_timestamp": "reported_put_timestamp",
    "delete_timestamp": "reported_delete_timestamp",
    "object_count": "reported_object_count",
    "bytes_used": "reported_bytes_used",
}


def _reported_form(value: Any) -> Any:
    return value.internal if isinstance(value, Timestamp) else value


def unreported(info: Mapping[str, Any]) -> bool:
    """Whether the container's state (``get_info``) differs from what its
    account last took."""
    return any(_reported_form(info[name]) != info[column] for name, column in REPORTED.items())


class ContainerBroker(DatabaseBroker):
    """The SQLite database of one container.

    ``initialize(put_timestamp, account=..., container=...,
    storage_policy_index=...)`` creates it."""

    DB_TYPE: ClassVar[str] = "container"
    APPLICATION_ID: ClassVar[int] = 0x4F534301  # "OSC\x01"
    ROW_TABLE: ClassVar[str] = "object"
    ROW_COLUMNS: ClassVar[dict[str, str]] = {
        "name": "text",
        "created_at": "timestamp",
        "size": "int",
        "content_type": "text",
        "etag": "text",
        "deleted": "int",
        "storage_policy_index": "int",
    }
    INFO_COLUMNS: ClassVar[dict[str, str]] = {
        "account": "text",
        "container": "text",
        "storage_policy_index": "int",
        "object_count": "int",
        "bytes_used": "int",
        "reported_put_timestamp": "text",
        "reported_delete_timestamp": "text",
        "reported_object_count": "int",
        "reported_bytes_used": "int",
    }
    STAT_COLUMNS: ClassVar[frozenset[str]] = frozenset({"object_count", "bytes_used"})
    RECLAIM_COLUMN: ClassVar[str] = "created_at"
    LIVE_COUNT: ClassVar[str] = "object_count"

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        super()._check_schema(conn)
        add_missing_columns(conn, "info", self.INFO_COLUMNS)

    def mark_reported(self, info: Mapping[str, Any]) -> None:
        """Record that the account took the state in ``info`` (as read
        before the report was sent, not as it may be now)."""
        columns = list(REPORTED.values())
        with self._write() as conn:
            conn.execute(f"UPDATE info SET {', '.join(f'{c} = ?' for c in columns)}",
                         [_reported_form(info[name]) for name in REPORTED])

    def put_object(self, name: str, timestamp: Timestamp, size: int, content_type: str,
                   etag: str, deleted: bool = False, storage_policy_index: int = 0) -> None:
        """Record a PUT (or, with ``deleted``, a DELETE) of an object, via the
        pending file: durable on return, visible to the next read."""
        self.put_record({
            "name": name, "created_at": timestamp, "size": size,
            "content_type": content_type, "etag": etag, "deleted": int(bool(deleted)),
            "storage_policy_index": storage_policy_index,
        })

    def delete_object(self, name: str, timestamp: Timestamp,
                      storage_policy_index: int = 0) -> None:
        """Record a DELETE: a tombstone row, via the pending file."""
        self.put_object(name, timestamp, 0, "", "", deleted=True,
                        storage_policy_index=storage_policy_index)

    def set_storage_policy_index(self, index: int) -> None:
        """Move the container to another policy: only for a deleted
        container that a PUT brings back (its objects are all gone)."""
        with self._write() as conn:
            conn.execute("UPDATE info SET storage_policy_index = ?", (int(index),))

    def empty(self) -> bool:
        """No live objects (tombstones do not count)."""
        return bool(self.get_info()["object_count"] == 0)

    def list_objects(self, limit: int = LISTING_LIMIT, marker: str = "", end_marker: str = "",
                     prefix: str = "", delimiter: str = "", reverse: bool = False,
                     path: str | None = None) -> list[dict[str, Any]]:
        """A page of the listing, with Swift's semantics (``db_listing``):
        ``{name, hash, bytes, content_type, last_modified}`` per object and
        ``{subdir}`` per rolled-up pseudo-directory."""
        entries = self._list_rows(("created_at", "size", "content_type", "etag"),
                                  limit=limit, marker=marker, end_marker=end_marker,
                                  prefix=prefix, delimiter=delimiter, reverse=reverse,
                                  path=path)
        listing: list[dict[str, Any]] = []
        for entry in entries:
            if isinstance(entry, Subdir):
                listing.append({"subdir": entry.name})
                continue
            name, created_at, size, content_type, etag = entry
            listing.append({"name": name, "hash": etag, "bytes": size,
                            "content_type": content_type,
                            "last_modified": Timestamp(created_at).isoformat})
        return listing

    def _resolve(self, current: Row | None, incoming: Row) -> Row:
        if current is None or incoming["created_at"] > current["created_at"]:
            return incoming
        return current

    def _update_stats(self, conn: sqlite3.Connection, removed: Sequence[Row],
                      added: Sequence[Row]) -> None:
        count = used = 0
        for sign, rows in ((-1, removed), (1, added)):
            for row in rows:
                if not row["deleted"]:
                    count += sign
                    used += sign * row["size"]
        if count or used:
            conn.execute("UPDATE info SET object_count = object_count + ?, "
                         "bytes_used = bytes_used + ?", (count, used))
