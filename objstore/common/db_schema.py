"""The tables of a broker's database, made from each broker's column lists.

Every broker has the same four tables: ``info`` (one row: who it is, its
timestamps, metadata, statistics), its row table (``object`` for a
container, ``container`` for an account), ``sync`` (replication sync
points) and whatever ``extra`` SQL the broker adds.

A column has a kind: ``"text"``, ``"int"`` or ``"timestamp"``; a
timestamp is stored as ``Timestamp.internal``, fixed-width text that sorts
as the timestamps do. ``coerce`` turns a value into its stored form or
raises ValueError; nothing else reaches a row.

Row tables have ``row_id INTEGER PRIMARY KEY AUTOINCREMENT`` (never
reused, so replication sync points stay valid), a unique index on
``name`` (one row per name: merging looks it up) and an index on
``(deleted, name)`` (listings range over live names without touching
tombstones).
"""
from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any, Final

from objstore.common.timestamp import Timestamp

COMMON_INFO: Final = {
    "id": "text",                 # this replica's own id, for sync points
    "created_at": "timestamp",    # when this replica's file was made
    "put_timestamp": "timestamp",
    "delete_timestamp": "timestamp",
    "status_changed_at": "timestamp",  # when it last became deleted or live again
    "metadata": "text",           # JSON {name: [value, timestamp]}
    "hash": "text",               # hex XOR of the row digests
}

_SQL_TYPES: Final = {
    "text": "TEXT NOT NULL DEFAULT ''",
    "int": "INTEGER NOT NULL DEFAULT 0",
    "timestamp": "TEXT NOT NULL DEFAULT ''",
}


def coerce(kind: str, value: Any) -> Any:
    """A column value in its stored form."""
    if kind == "timestamp":
        return Timestamp(value).internal
    if kind == "int":
        if isinstance(value, str) or int(value) != value:
            raise ValueError(f"{value!r} is not a whole number")
        return int(value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a string")
    return value


def blank(kind: str) -> Any:
    return 0 if kind == "int" else ""


def _columns(columns: Mapping[str, str]) -> str:
    return ",\n    ".join(f"{name} {_SQL_TYPES[kind]}" for name, kind in columns.items())


def add_missing_columns(conn: sqlite3.Connection, table: str,
                        columns: Mapping[str, str]) -> list[str]:
    """Add to ``table`` the ``columns`` a database made by older code lacks,
    each with its kind's default; the names added. Checked on every open
    (one PRAGMA), added in one write transaction that looks again, so two
    processes opening the same old database at once add each column once.
    Adding columns needs no new ``user_version``: older code reads the
    table by name and never sees them."""
    def present() -> set[str]:
        return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}

    if not set(columns) - present():
        return []
    conn.execute("BEGIN IMMEDIATE")
    try:
        missing = [name for name in columns if name not in present()]
        for name in missing:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {_SQL_TYPES[columns[name]]}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return missing


def schema_sql(info_columns: Mapping[str, str], row_table: str,
               row_columns: Mapping[str, str], extra: str = "") -> str:
    """The CREATE statements of a new database."""
    return f"""
CREATE TABLE info (
    {_columns({**COMMON_INFO, **info_columns})}
);
CREATE TABLE {row_table} (
    row_id INTEGER PRIMARY KEY AUTOINCREMENT,
    {_columns(row_columns)}
);
CREATE UNIQUE INDEX {row_table}_name ON {row_table} (name);
CREATE INDEX {row_table}_deleted_name ON {row_table} (deleted, name);
CREATE TABLE sync (
    remote_id TEXT NOT NULL,
    incoming INTEGER NOT NULL,
    sync_point INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (remote_id, incoming)
) WITHOUT ROWID;
{extra}
"""
