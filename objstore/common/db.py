"""SQLite brokers: one database file per account or container.

An account lists its containers and a container its objects, each in its
own SQLite file placed on the ring like an object. Replicas of a file take
writes independently and converge: every row merges last-writer-wins by
the timestamps the proxies chose, so the same rows in any order, any
number of times, give the same database.

``DatabaseBroker`` holds what both kinds share; ``ContainerBroker`` and
``AccountBroker`` say what a row is, which of two rows wins, and what the
statistics are. Beside this module: ``db_schema`` (the tables and column
kinds), ``db_files`` (creating the file on disk), ``db_pending`` (the
pending file) and ``db_listing`` (Swift's listing rules).

Invariants, and where they are enforced:

- Nothing is acknowledged before it is on disk: WAL journal with
  ``synchronous=FULL`` (every commit fsyncs the WAL), and pending appends
  fsync before they return (``db_pending``).
- A database at its final path is whole (``initialize``): it is built at a
  temp path in the same directory, the file and the directory are fsynced,
  it is linked into place and the directory is fsynced again
  (``db_files``). A temp left by a crash is never opened.
- Every change of a row gives it a new row id larger than any before
  (AUTOINCREMENT: ids are never reused, even after the largest row is
  reclaimed), so a replicator that has shipped up to row id N ships every
  later change with ``get_items_since(N)``.
- The statistics (counts, bytes) and the hash of the rows are kept in the
  ``info`` table and change in the same transaction as the rows; nothing
  scans the rows to answer a HEAD.
- The hash of the rows is the XOR of an md5 per row over all its columns
  but the row id: it depends on the set of rows alone, so two replicas
  with the same rows have the same hash, whatever order they merged in.
- Timestamps are stored in ``Timestamp``'s internal form, which has fixed
  width: comparing the strings (in Python or SQL) compares the timestamps.
- ``PRAGMA user_version`` is the schema version. A newer one than this
  code knows is refused with ``DatabaseVersionError``: writing to it could
  lose what the newer code keeps. ``PRAGMA application_id`` tells an
  account database from a container database.

Concurrency: a broker object may be used by one green thread at a time;
it holds one SQLite connection, opened lazily and released by ``close``.
Any number of broker objects, in any number of processes, may open the
same file: SQLite serialises writers (``BEGIN IMMEDIATE`` and a busy
timeout) and the pending file has its own lock. Every method blocks its OS
thread (SQLite, fsync, lock waits), so a server calls brokers through
``objstore.common.concurrency.run_blocking``; the connection may move
between OS threads for that reason.

Errors::

    DatabaseError               base of every error raised by a broker
    +-- DatabaseNotFound        no database at the path
    +-- DatabaseAlreadyExists   initialize found one there already
    +-- DatabaseCorrupt         not a database, malformed, or not ours
    +-- DatabaseVersionError    schema or pending records newer than this code
    +-- DatabaseLockTimeout     a lock stayed held past its timeout

SQLite's own errors are raised as these, the original chained; an
``OSError`` from the filesystem (ENOSPC, EIO) passes through unchanged.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Final, Self
from urllib.parse import quote

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type hints

from objstore.common.db_files import create_atomically
from objstore.common.db_listing import Bounds, Row as ListingRow, Subdir, walk
from objstore.common.db_pending import PendingFile, PendingLockTimeout, PendingVersionError, encode
from objstore.common.db_schema import COMMON_INFO, blank, coerce, schema_sql
from objstore.common.timestamp import Timestamp

Row = dict[str, Any]

_IN_CHUNK: Final = 500  # names per "IN (...)" query, far below SQLite's limit
_ZERO_HASH: Final = "0" * 32


class DatabaseError(Exception):
    """A broker could not do what it was asked; one line."""


class DatabaseNotFound(DatabaseError):
    """There is no database at the path."""


class DatabaseAlreadyExists(DatabaseError):
    """``initialize`` found a database at the path already."""


class DatabaseCorrupt(DatabaseError):
    """The file is not a database, is malformed, or is not one of ours."""


class DatabaseVersionError(DatabaseError):
    """The schema or the pending records are newer than this code."""


class DatabaseLockTimeout(DatabaseError):
    """A lock on the database or its pending file stayed held too long."""


@dataclasses.dataclass
class BrokerStatistics:
    """What a broker object has done, for recon, metrics and tests."""

    pending_merges: int = 0
    records_merged: int = 0
    rows_changed: int = 0
    bad_records: int = 0       # pending records that would not normalise
    skipped_bytes: int = 0     # torn or damaged pending frames


def _digest(values: Sequence[Any]) -> int:
    packed = msgpack.packb(list(values), use_bin_type=True)
    return int.from_bytes(hashlib.md5(packed, usedforsecurity=False).digest(), "big")


class DatabaseBroker:
    """One SQLite database of rows merged last-writer-wins, with a pending file.

    Subclasses set the class attributes and implement ``_resolve`` (which
    of two rows of one name survives) and ``_update_stats`` (the info
    statistics after rows were removed and added)."""

    DB_TYPE: ClassVar[str] = ""
    APPLICATION_ID: ClassVar[int] = 0
    SCHEMA_VERSION: ClassVar[int] = 1
    ROW_TABLE: ClassVar[str] = ""
    # Columns of a row (no row id), "name" first, kind "text"|"int"|"timestamp".
    ROW_COLUMNS: ClassVar[dict[str, str]] = {}
    INFO_COLUMNS: ClassVar[dict[str, str]] = {}  # beyond db_schema.COMMON_INFO
    EXTRA_SCHEMA: ClassVar[str] = ""
    STAT_COLUMNS: ClassVar[frozenset[str]] = frozenset()  # info kept by the merge, not set
    RECLAIM_COLUMN: ClassVar[str] = ""  # a deleted row goes once this is older than the cutoff
    LIVE_COUNT: ClassVar[str] = ""  # the info column that counts live rows

    def __init__(self, path: str, *, timeout: float = 25.0, pending_cap: int = 128 * 1024,
                 lock_timeout: float = 10.0) -> None:
        self.path = path
        self.timeout = timeout
        self.pending_cap = pending_cap
        self._conn: sqlite3.Connection | None = None
        self._pending = PendingFile(path + ".pending", lock_timeout)
        self._stats = BrokerStatistics()

    # --- lifecycle ----------------------------------------------------------

    def exists(self) -> bool:
        return os.path.exists(self.path)

    def close(self) -> None:
        """Release the connection and the pending file; the broker reopens
        them if it is used again."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._pending.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def statistics(self) -> BrokerStatistics:
        return dataclasses.replace(self._stats)

    # --- creation -----------------------------------------------------------

    def initialize(self, put_timestamp: Timestamp, **info: Any) -> None:
        """Create the database, whole or not at all (``db_files``); ``info``
        sets the subclass's info columns (account, container, policy...)."""
        put = Timestamp(put_timestamp)
        extras = self._initial_info(info)
        if self.exists():
            raise DatabaseAlreadyExists(f"database {self.path} already exists")
        try:
            create_atomically(self.path, lambda temp: self._build(temp, put, extras))
        except FileExistsError:
            raise DatabaseAlreadyExists(f"database {self.path} already exists") from None

    def _initial_info(self, info: Mapping[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(info) - (set(self.INFO_COLUMNS) - self.STAT_COLUMNS))
        if unknown:
            raise TypeError(f"{self.DB_TYPE} info has no {', '.join(unknown)}")
        values = {column: blank(kind) for column, kind in self.INFO_COLUMNS.items()}
        for column, value in info.items():
            values[column] = coerce(self.INFO_COLUMNS[column], value)
        return values

    def _build(self, temp: str, put: Timestamp, extras: Mapping[str, Any]) -> None:
        row = {"id": str(uuid.uuid4()), "created_at": Timestamp.now().internal,
               "put_timestamp": put.internal, "delete_timestamp": Timestamp(0).internal,
               "status_changed_at": put.internal, "metadata": "{}", "hash": _ZERO_HASH,
               **extras}
        schema = schema_sql(self.INFO_COLUMNS, self.ROW_TABLE, self.ROW_COLUMNS,
                            self.EXTRA_SCHEMA)
        conn = sqlite3.connect(temp, isolation_level=None)
        try:
            with self._translated():
                conn.execute("PRAGMA synchronous = FULL")
                conn.executescript("BEGIN;" + schema + "COMMIT;")
                conn.execute("BEGIN")
                conn.execute(f"INSERT INTO info ({', '.join(row)}) "
                             f"VALUES ({', '.join('?' * len(row))})", list(row.values()))
                self._build_extra(conn)
                conn.execute(f"PRAGMA user_version = {int(self.SCHEMA_VERSION)}")
                conn.execute(f"PRAGMA application_id = {int(self.APPLICATION_ID)}")
                conn.execute("COMMIT")
                conn.execute("PRAGMA journal_mode = WAL")
        finally:
            conn.close()

    def _build_extra(self, conn: sqlite3.Connection) -> None:
        """Rows a new database starts with, inside its first transaction."""

    # --- connection and transactions ---------------------------------------

    def _require_database(self) -> None:
        if not self.exists():
            raise DatabaseNotFound(f"database {self.path} does not exist")

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._require_database()
            with self._translated():
                # mode=rw: never create an empty database by opening a missing one.
                conn = sqlite3.connect(f"file:{quote(self.path)}?mode=rw", uri=True,
                                       timeout=self.timeout, isolation_level=None,
                                       check_same_thread=False)
                try:
                    self._check_schema(conn)
                    conn.execute("PRAGMA journal_mode = WAL")
                    conn.execute("PRAGMA synchronous = FULL")
                except BaseException:
                    conn.close()
                    raise
            self._conn = conn
        return self._conn

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        application = conn.execute("PRAGMA application_id").fetchone()[0]
        if version > self.SCHEMA_VERSION:
            raise DatabaseVersionError(f"database {self.path} has schema version {version}; "
                                       f"this code knows up to {self.SCHEMA_VERSION}")
        if version < 1 or application != self.APPLICATION_ID:
            raise DatabaseCorrupt(f"database {self.path} is not an objstore {self.DB_TYPE} "
                                  "database")

    def _translate(self, err: sqlite3.Error) -> DatabaseError:
        text = str(err)
        if "not a database" in text or "malformed" in text:
            return DatabaseCorrupt(f"database {self.path} is corrupt: {text}")
        if "locked" in text or "busy" in text:
            return DatabaseLockTimeout(
                f"database {self.path} stayed locked for {self.timeout:g} s")
        return DatabaseError(f"database {self.path}: {text}")

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as err:
            raise self._translate(err) from err

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; IMMEDIATE so that reading then writing in it
        cannot fail on a snapshot another writer has moved past."""
        conn = self._connection()
        with self._translated():
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One snapshot for several queries, after merging the pending file."""
        self._commit_pending()
        conn = self._connection()
        with self._translated():
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")

    # --- info ---------------------------------------------------------------

    def _info_row(self, conn: sqlite3.Connection) -> dict[str, Any]:
        cursor = conn.execute("SELECT * FROM info")
        names = [column[0] for column in cursor.description]
        return dict(zip(names, cursor.fetchone()))

    def get_info(self) -> dict[str, Any]:
        """The info columns, timestamps as ``Timestamp``, without metadata."""
        with self._read() as conn:
            info = self._info_row(conn)
        info.pop("metadata")
        kinds = {**COMMON_INFO, **self.INFO_COLUMNS}
        return {name: Timestamp(value) if kinds.get(name) == "timestamp" else value
                for name, value in info.items()}

    def is_deleted(self) -> bool:
        """Deleted after its newest PUT and holding no live rows: a
        replicator may remove the file once the delete is old enough."""
        info = self.get_info()
        return bool(info["delete_timestamp"] > info["put_timestamp"]
                    and info[self.LIVE_COUNT] == 0)

    def mark_deleted(self, timestamp: Timestamp) -> None:
        self._move_timestamps(delete=Timestamp(timestamp))

    def update_put_timestamp(self, timestamp: Timestamp) -> None:
        self._move_timestamps(put=Timestamp(timestamp))

    def _move_timestamps(self, put: Timestamp | None = None,
                         delete: Timestamp | None = None) -> None:
        """Newest wins for each; a change between live and deleted is
        dated by the timestamp that caused it."""
        with self._write() as conn:
            info = self._info_row(conn)
            old_put = Timestamp(info["put_timestamp"])
            old_delete = Timestamp(info["delete_timestamp"])
            new_put = max(old_put, put) if put is not None else old_put
            new_delete = max(old_delete, delete) if delete is not None else old_delete
            changed_at = info["status_changed_at"]
            if (old_delete > old_put) != (new_delete > new_put):
                changed_at = (new_delete if new_delete > new_put else new_put).internal
            conn.execute("UPDATE info SET put_timestamp = ?, delete_timestamp = ?, "
                         "status_changed_at = ?",
                         (new_put.internal, new_delete.internal, changed_at))

    # --- metadata -----------------------------------------------------------

    def _raw_metadata(self, conn: sqlite3.Connection) -> dict[str, list[str]]:
        text = conn.execute("SELECT metadata FROM info").fetchone()[0]
        return json.loads(text) if text else {}

    @property
    def metadata(self) -> dict[str, tuple[str, Timestamp]]:
        """Live metadata: name -> (value, timestamp); deleted keys left out."""
        with self._read() as conn:
            raw = self._raw_metadata(conn)
        return {name: (value, Timestamp(stamp)) for name, (value, stamp) in raw.items() if value}

    def update_metadata(self, updates: Mapping[str, Sequence[Any]]) -> None:
        """Merge ``{name: (value, timestamp)}``, newest timestamp winning per
        name; a value of '' deletes the name (kept until reclaimed, so the
        delete replicates)."""
        with self._write() as conn:
            current = self._raw_metadata(conn)
            changed = False
            for name, (value, stamp) in updates.items():
                stamp = Timestamp(stamp)
                held = current.get(name)
                if held is None or stamp > Timestamp(held[1]):
                    current[name] = [coerce("text", value), stamp.internal]
                    changed = True
            if changed:
                conn.execute("UPDATE info SET metadata = ?",
                             (json.dumps(current, sort_keys=True, ensure_ascii=False),))

    # --- rows: pending, merging -------------------------------------------------

    def put_record(self, record: Mapping[str, Any]) -> None:
        self.put_records([record])

    def put_records(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Append rows to the pending file, durable on return; appends made
        at the same time by other threads share the write and the fsync
        (``db_pending``'s group commit). The call that wrote merges the file
        into the database once it is ``pending_cap`` bytes or more."""
        rows = [self._normalize(record) for record in records]
        self._require_database()
        frames = encode(rows)
        try:
            size, wrote = self._pending.append_shared(frames)
        except PendingLockTimeout as err:
            raise DatabaseLockTimeout(str(err)) from None
        if wrote and size >= self.pending_cap:
            self._commit_pending()

    def _commit_pending(self) -> None:
        """Merge the pending file, if it holds anything, in one transaction."""
        if self._pending.size() == 0:
            return
        self._require_database()
        with self._pending_locked():
            self._merge_pending()

    @contextlib.contextmanager
    def _pending_locked(self) -> Iterator[None]:
        try:
            with self._pending.locked():
                yield
        except PendingLockTimeout as err:
            raise DatabaseLockTimeout(str(err)) from None

    def _merge_pending(self) -> None:
        """Merge and empty the pending file; hold its lock."""
        try:
            contents = self._pending.read()
        except PendingVersionError as err:
            raise DatabaseVersionError(f"{self._pending.path}: {err}") from None
        rows = []
        for record in contents.records:
            try:
                rows.append(self._normalize(record))
            except (KeyError, ValueError, TypeError):
                self._stats.bad_records += 1
        if rows:
            with self._write() as conn:
                self._stats.rows_changed += self._merge_rows(conn, rows)
        self._pending.clear()
        self._stats.pending_merges += 1
        self._stats.records_merged += len(rows)
        self._stats.skipped_bytes += contents.skipped_bytes

    def _normalize(self, record: Mapping[str, Any]) -> Row:
        """A row with every column in its stored form, or ValueError."""
        row = {}
        for column, kind in self.ROW_COLUMNS.items():
            if column not in record:
                raise ValueError(f"{self.DB_TYPE} row has no {column!r}")
            row[column] = coerce(kind, record[column])
        if not row["name"]:
            raise ValueError(f"{self.DB_TYPE} row has an empty name")
        return row

    def _existing_rows(self, conn: sqlite3.Connection,
                       names: Sequence[str]) -> dict[str, tuple[int, Row]]:
        columns = list(self.ROW_COLUMNS)
        select = f"SELECT row_id, {', '.join(columns)} FROM {self.ROW_TABLE} WHERE name IN "
        found: dict[str, tuple[int, Row]] = {}
        for start in range(0, len(names), _IN_CHUNK):
            chunk = names[start:start + _IN_CHUNK]
            for row_id, *values in conn.execute(select + f"({', '.join('?' * len(chunk))})",
                                                chunk):
                row = dict(zip(columns, values))
                found[row["name"]] = (row_id, row)
        return found

    def _merge_rows(self, conn: sqlite3.Connection, rows: Sequence[Row]) -> int:
        """Merge normalised rows inside a write transaction; how many rows
        changed. A changed row is deleted and inserted again so that it
        gets a new, larger row id."""
        names = list(dict.fromkeys(row["name"] for row in rows))
        existing = self._existing_rows(conn, names)
        survivors: dict[str, Row | None] = {name: existing[name][1] if name in existing else None
                                            for name in names}
        for row in rows:
            survivors[row["name"]] = self._resolve(survivors[row["name"]], row)
        removed_ids, removed, added = [], [], []
        for name, survivor in survivors.items():
            row_id, old = existing.get(name, (None, None))
            if survivor is None or survivor == old:
                continue
            if row_id is not None and old is not None:
                removed_ids.append((row_id,))
                removed.append(old)
            added.append(survivor)
        if not added:
            return 0
        columns = list(self.ROW_COLUMNS)
        conn.executemany(f"DELETE FROM {self.ROW_TABLE} WHERE row_id = ?", removed_ids)
        conn.executemany(
            f"INSERT INTO {self.ROW_TABLE} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' * len(columns))})",
            [[row[column] for column in columns] for row in added])
        self._update_hash(conn, removed + added)
        self._update_stats(conn, removed, added)
        return len(added)

    def _update_hash(self, conn: sqlite3.Connection, rows: Iterable[Row]) -> None:
        """XOR rows into (or, being already there, out of) the rows hash."""
        value = int(conn.execute("SELECT hash FROM info").fetchone()[0], 16)
        for row in rows:
            value ^= _digest([row[column] for column in self.ROW_COLUMNS])
        conn.execute("UPDATE info SET hash = ?", (f"{value:032x}",))

    def _resolve(self, current: Row | None, incoming: Row) -> Row:
        """The row that survives when ``incoming`` meets ``current``."""
        raise NotImplementedError

    def _update_stats(self, conn: sqlite3.Connection, removed: Sequence[Row],
                      added: Sequence[Row]) -> None:
        """Move the info statistics by the rows removed and added."""
        raise NotImplementedError

    # --- listing ---------------------------------------------------------------

    def _list_rows(self, columns: Sequence[str], *, limit: int, marker: str, end_marker: str,
                   prefix: str, delimiter: str, reverse: bool,
                   path: str | None = None) -> list[ListingRow | Subdir]:
        """A page of live rows (``name`` then ``columns``) and subdirs."""
        select = f"SELECT {', '.join(['name', *columns])} FROM {self.ROW_TABLE} WHERE deleted = 0"
        with self._read() as conn:

            def fetch(bounds: Bounds, descending: bool, count: int) -> Iterator[ListingRow]:
                sql, args = [select], []
                if bounds.low is not None:
                    sql.append("AND name >= ?" if bounds.low_inclusive else "AND name > ?")
                    args.append(bounds.low)
                if bounds.high is not None:
                    sql.append("AND name <= ?" if bounds.high_inclusive else "AND name < ?")
                    args.append(bounds.high)
                sql.append("ORDER BY name DESC LIMIT ?" if descending else "ORDER BY name LIMIT ?")
                cursor = conn.execute(" ".join(sql), [*args, count])
                try:
                    yield from cursor
                finally:
                    cursor.close()

            return walk(fetch, limit=limit, marker=marker, end_marker=end_marker,
                        prefix=prefix, delimiter=delimiter, reverse=reverse, path=path)

    # --- replication --------------------------------------------------------

    def get_items_since(self, row_id: int, count: int) -> list[Row]:
        """Up to ``count`` rows changed after ``row_id``, oldest change first,
        each with its ``row_id``; deleted rows included."""
        columns = ["row_id", *self.ROW_COLUMNS]
        with self._read() as conn:
            cursor = conn.execute(f"SELECT {', '.join(columns)} FROM {self.ROW_TABLE} "
                                  "WHERE row_id > ? ORDER BY row_id LIMIT ?", (row_id, count))
            return [dict(zip(columns, values)) for values in cursor]

    def merge_items(self, items: Sequence[Mapping[str, Any]],
                    source_id: str | None = None) -> None:
        """Merge rows from another replica in one transaction; with
        ``source_id``, also move its incoming sync point to the largest
        ``row_id`` among them. Idempotent."""
        rows = [self._normalize(item) for item in items]
        with self._write() as conn:
            self._stats.rows_changed += self._merge_rows(conn, rows)
            if source_id is not None and items:
                point = max(int(item["row_id"]) for item in items)
                self._upsert_sync(conn, source_id, point, incoming=True)

    def _upsert_sync(self, conn: sqlite3.Connection, remote_id: str, point: int,
                     incoming: bool) -> None:
        conn.execute(
            "INSERT INTO sync (remote_id, incoming, sync_point, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (remote_id, incoming) DO UPDATE SET "
            "sync_point = max(sync_point, excluded.sync_point), updated_at = excluded.updated_at",
            (remote_id, int(incoming), point, Timestamp.now().internal))

    def get_sync(self, remote_id: str, incoming: bool = True) -> int:
        """The row id up to which rows from (or to) ``remote_id`` are merged; -1 if none."""
        with self._translated():
            found = self._connection().execute(
                "SELECT sync_point FROM sync WHERE remote_id = ? AND incoming = ?",
                (remote_id, int(incoming))).fetchone()
        return -1 if found is None else int(found[0])

    def get_syncs(self, incoming: bool = True) -> list[dict[str, Any]]:
        with self._translated():
            cursor = self._connection().execute(
                "SELECT remote_id, sync_point FROM sync WHERE incoming = ? ORDER BY remote_id",
                (int(incoming),))
            return [{"remote_id": remote, "sync_point": point} for remote, point in cursor]

    def merge_syncs(self, points: Iterable[Mapping[str, Any]], incoming: bool = True) -> None:
        """Merge ``{"remote_id", "sync_point"}`` entries; the larger point wins."""
        with self._write() as conn:
            for point in points:
                self._upsert_sync(conn, str(point["remote_id"]), int(point["sync_point"]),
                                  incoming)

    def _max_row(self, conn: sqlite3.Connection) -> int:
        found = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?",
                             (self.ROW_TABLE,)).fetchone()
        return -1 if found is None else int(found[0])

    def get_replication_info(self) -> dict[str, Any]:
        """What a replicator compares, in wire form (timestamps as internal
        strings, metadata with its deleted names): the info columns, the
        largest row id ever given (``max_row``, -1 before any row) and the
        number of rows, deleted ones included (``row_count``)."""
        with self._read() as conn:
            info = self._info_row(conn)
            info["metadata"] = self._raw_metadata(conn)
            info["max_row"] = self._max_row(conn)
            info["row_count"] = conn.execute(
                f"SELECT count(*) FROM {self.ROW_TABLE}").fetchone()[0]
        return info

    # --- reclaim ------------------------------------------------------------

    def reclaim(self, age_cutoff: Timestamp) -> int:
        """Drop deleted rows and deleted metadata older than ``age_cutoff``;
        the number of rows dropped."""
        cutoff = Timestamp(age_cutoff).internal
        columns = list(self.ROW_COLUMNS)
        self._commit_pending()  # it may hold rows newer than a tombstone
        with self._write() as conn:
            found = conn.execute(f"SELECT row_id, {', '.join(columns)} FROM {self.ROW_TABLE} "
                                 f"WHERE deleted = 1 AND {self.RECLAIM_COLUMN} < ?",
                                 (cutoff,)).fetchall()
            conn.executemany(f"DELETE FROM {self.ROW_TABLE} WHERE row_id = ?",
                             [(values[0],) for values in found])
            if found:
                self._update_hash(conn, [dict(zip(columns, values[1:])) for values in found])
            metadata = self._raw_metadata(conn)
            kept = {name: held for name, held in metadata.items()
                    if held[0] or held[1] >= cutoff}
            if kept != metadata:
                conn.execute("UPDATE info SET metadata = ?",
                             (json.dumps(kept, sort_keys=True, ensure_ascii=False),))
        return len(found)
