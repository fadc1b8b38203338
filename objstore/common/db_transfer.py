"""A whole database moved to another replica: its consistent copy, its
arrival, and what the receiver does with it.

A replicator sends a whole database when the peer has none (a container
made while that replica was down, a device replaced) or is so far behind
that rows one by one would take many passes:

    REPLICATE /<device>/<partition>/<hash>
    Content-Type: application/vnd.sqlite3
    Content-Length: <bytes>
    ETag: <md5 of the bytes>

Sender (``snapshot``): ``VACUUM INTO`` a file under ``<device>/tmp``, a
consistent copy of the committed database (WAL included) taken in one
read transaction, compact, row ids and the row id sequence kept.

Receiver (``receive``), invariants:

- Nothing is trusted before it is checked: the bytes must match the
  ETag (else 422); the file must be a database of the server's kind that
  this code can read, pass SQLite's ``quick_check``, and name the account
  or container whose hash is in the path (else 400).
- Durable before acknowledged, whole or not at all: the body is written
  to a temp file in the database's own directory (``.<hash>.db.<hex>.tmp``,
  the name ``db_files`` cleans up after a crash), fsynced, and linked to
  its final name; the directory is fsynced after the link.
- Never overwriting a newer database: a link fails where a file exists.
  Then (a replica made meanwhile, or the sender found the peer far
  behind) the copy's rows, sync points, timestamps and metadata are
  merged into the database there, last writer winning, as any
  replication does: 202 instead of 201.
- A replica installed from a copy gets its own id (sync points are kept
  per replica id; two replicas with one id would skip each other's rows),
  starts with the sender's incoming sync points (it has every row the
  sender had from those replicas) and an incoming sync point for the
  sender at the copy's last row; the sender's outgoing ones are dropped.
  Its answer (201, msgpack ``{"id": <new id>}``) lets the sender record
  that it has every row of the new replica up to that row too: they are
  the same rows, with the same row ids.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO, Final
from urllib.parse import quote

from objstore.common.db import DatabaseBroker, DatabaseError, DatabaseVersionError
from objstore.common.db_files import fsync_directory, fsync_file, make_directories
from objstore.common.http import HTTPError
from objstore.common.timestamp import Timestamp

DB_CONTENT_TYPE: Final = "application/vnd.sqlite3"
RECEIVE_CHUNK: Final = 1024 * 1024
MERGE_BATCH: Final = 10_000  # rows of a pushed copy merged per transaction
SNAPSHOT_PREFIX: Final = "db-snapshot-"
STALE_SNAPSHOT_AGE: Final = 3600.0  # seconds; no push takes this long
_SIDE_FILES: Final = ("", "-journal", "-wal", "-shm")
_NO_SPACE: Final = (errno.ENOSPC, errno.EDQUOT)

Offload = Callable[..., Any]


# -- the sender -------------------------------------------------------------------------

def snapshot(db_path: str, directory: str, row_table: str) -> tuple[str, int]:
    """A consistent copy of the committed database in ``directory``, and
    the largest row id it has ever given (-1: none); the caller removes
    the copy (``remove_file``). Merge the pending file first."""
    os.makedirs(directory, exist_ok=True)
    copy = os.path.join(directory, f"{SNAPSHOT_PREFIX}{uuid.uuid4().hex}.db")
    try:
        conn = sqlite3.connect(f"file:{quote(db_path)}?mode=ro", uri=True, timeout=25.0,
                               isolation_level=None)
        try:
            conn.execute("VACUUM INTO ?", (copy,))
        finally:
            conn.close()
        conn = sqlite3.connect(f"file:{quote(copy)}?mode=ro", uri=True, isolation_level=None)
        try:
            found = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?",
                                 (row_table,)).fetchone()
        finally:
            conn.close()
    except sqlite3.Error as err:
        remove_file(copy)
        raise DatabaseError(f"cannot copy database {db_path}: {err}") from err
    return copy, -1 if found is None else int(found[0])


def remove_stale_snapshots(directory: str) -> None:
    """Copies a crashed replicator left behind."""
    cutoff = time.time() - STALE_SNAPSHOT_AGE
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return
    for entry in entries:
        if entry.name.startswith(SNAPSHOT_PREFIX):
            with contextlib.suppress(FileNotFoundError):
                if entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)


def remove_file(path: str) -> None:
    """A database file and SQLite's files beside it."""
    for suffix in _SIDE_FILES:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path + suffix)


# -- what a replica takes from another ------------------------------------------------

def merge_replica_info(broker: DatabaseBroker, changes: Mapping[str, Any]) -> None:
    """Merge another replica's ``put_timestamp``, ``delete_timestamp`` and
    ``metadata`` (``{name: [value, timestamp]}``, '' for a deleted name),
    any of them; the newest wins each."""
    put = changes.get("put_timestamp")
    delete = changes.get("delete_timestamp")
    metadata = changes.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise ValueError("metadata must be a map")
    if put:
        broker.update_put_timestamp(Timestamp(put))
    if delete:
        broker.mark_deleted(Timestamp(delete))
    if metadata:
        broker.update_metadata({str(name): (held[0], held[1])
                                for name, held in metadata.items()})


def merge_database(source: DatabaseBroker, target: DatabaseBroker) -> None:
    """Merge every row, sync point and info of ``source`` (a pushed copy)
    into ``target``, rows a batch per transaction."""
    info = source.get_replication_info()
    point = -1
    while items := source.get_items_since(point, MERGE_BATCH):
        target.merge_items(items)
        point = int(items[-1]["row_id"])
    own_id = target.get_replication_info()["id"]
    points = [*source.get_syncs(incoming=True),
              {"remote_id": info["id"], "sync_point": info["max_row"]}]
    target.merge_syncs([p for p in points if p["remote_id"] != own_id])
    merge_replica_info(target, info)


# -- the receiver ---------------------------------------------------------------------

def receive(stream: BinaryIO, length: int, etag: str, path: str,
            broker_class: type[DatabaseBroker], belongs: Callable[[Mapping[str, Any]], bool],
            offload: Offload) -> str | None:
    """Take a pushed database for ``path`` (see the module doc): the id of
    the replica it became there, or None when it was merged into the one
    there. ``belongs(info)``: whether the copy's names hash to ``path``.
    Disk work goes through ``offload``; reading ``stream`` does not."""
    directory = os.path.dirname(path)
    temp = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    try:
        offload(make_directories, directory)
        fd = offload(os.open, temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            digest = _copy_body(stream, length, fd, offload)
        finally:
            offload(os.close, fd)
        if digest != etag.strip('"').lower():
            raise HTTPError(422, f"the body's MD5 {digest} does not match its ETag")
        installed: str | None = offload(_take, temp, path, broker_class, belongs)
        return installed
    except OSError as err:
        if err.errno in _NO_SPACE:
            raise HTTPError(507, "the device is full") from None
        raise
    finally:
        offload(_discard, temp, directory)


def _copy_body(stream: BinaryIO, length: int, fd: int, offload: Offload) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    left = length
    while left > 0:
        chunk = stream.read(min(RECEIVE_CHUNK, left))
        if not chunk:
            raise HTTPError(400, f"the body ended {left} bytes short of its Content-Length")
        digest.update(chunk)
        offload(_write_all, fd, chunk)
        left -= len(chunk)
    offload(os.fsync, fd)
    return digest.hexdigest()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _take(temp: str, path: str, broker_class: type[DatabaseBroker],
          belongs: Callable[[Mapping[str, Any]], bool]) -> str | None:
    """Check the received copy, then link it into place (its new id) or
    merge it (None)."""
    _quick_check(temp)
    copy = broker_class(temp)
    try:
        try:
            info = copy.get_replication_info()
        except DatabaseVersionError as err:
            raise HTTPError(400, f"the database is newer than this server reads: {err}") \
                from None
        except DatabaseError as err:
            raise HTTPError(400, f"not a {broker_class.DB_TYPE} database: {err}") from None
        if not belongs(info):
            raise HTTPError(400, f"the database is not the {broker_class.DB_TYPE} whose hash "
                                 "is in the path")
        if not os.path.exists(path):
            copy.close()
            new_id = _adopt(temp, str(info["id"]), int(info["max_row"]))
            fsync_file(temp)
            try:
                os.link(temp, path)
            except FileExistsError:
                pass  # made meanwhile: merged below, like any other
            else:
                fsync_directory(os.path.dirname(path))
                return new_id
        target = broker_class(path)
        try:
            merge_database(copy, target)
        finally:
            target.close()
        return None
    finally:
        copy.close()


def _adopt(temp: str, sender_id: str, max_row: int) -> str:
    """Make the copy a replica of its own (see the module doc); its new
    id. The copy has the ``info`` and ``sync`` tables of ``db_schema``."""
    new_id = str(uuid.uuid4())
    conn = sqlite3.connect(temp, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE info SET id = ?", (new_id,))
        conn.execute("DELETE FROM sync WHERE incoming = 0")
        if max_row >= 0:
            conn.execute(
                "INSERT INTO sync (remote_id, incoming, sync_point, updated_at) "
                "VALUES (?, 1, ?, ?) ON CONFLICT (remote_id, incoming) DO UPDATE SET "
                "sync_point = max(sync_point, excluded.sync_point)",
                (sender_id, max_row, Timestamp.now().internal))
        conn.execute("COMMIT")
    except sqlite3.Error as err:
        raise HTTPError(400, f"the database cannot be taken: {err}") from None
    finally:
        conn.close()
    return new_id


def _quick_check(temp: str) -> None:
    """400 unless SQLite finds the file a sound database."""
    try:
        conn = sqlite3.connect(temp, isolation_level=None)
        try:
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as err:
        raise HTTPError(400, f"not a database: {err}") from None
    if check != "ok":
        first = next((line for line in str(check).splitlines() if not line.startswith("***")),
                     "")
        raise HTTPError(400, f"the database fails SQLite's quick_check: {first}")


def _discard(temp: str, directory: str) -> None:
    """The temp and SQLite's files beside it; the directory when that
    leaves it empty (a push that failed before anything was there)."""
    remove_file(temp)
    with contextlib.suppress(OSError):
        os.rmdir(directory)
