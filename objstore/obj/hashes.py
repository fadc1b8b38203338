"""Suffix hashes: how replicas of a partition tell what differs, cheaply.

A partition directory holds suffix directories (the last three hex digits
of object hashes). A suffix's hash is the md5 of the names of the files
that count in each of its hash directories, in sorted order: two replicas
with the same objects at the same timestamps have the same suffix hashes,
and the replicator compares sixteen-byte digests instead of listings.

Computing a suffix's hash walks it, so results are cached per partition
in ``hashes.msgpack``. Every write marks its suffix dirty by appending it
to ``hashes.invalid``; ``get_hashes`` folds those marks into the cache and
recomputes only dirty or missing suffixes. Marking and folding take the
same ``flock`` on ``hashes.invalid``, so a mark made while the cache is
being refreshed is never lost. The cache is not fsynced: losing it only
costs a recomputation.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import re
import uuid
from collections.abc import Iterable
from typing import Final

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type hints

from objstore.common.timestamp import Timestamp
from objstore.obj import layout

INVALID: Final = "hashes.invalid"
CACHE: Final = "hashes.msgpack"
_SUFFIX: Final = re.compile(r"[0-9a-f]{3}")


def invalidate(partition_dir: str, suffix: str) -> None:
    """Mark a suffix dirty (called after every write in it)."""
    try:
        # plain descriptor calls: a buffered file would add four system calls
        marks = os.open(os.path.join(partition_dir, INVALID),
                        os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o666)
    except FileNotFoundError:
        return  # the partition is gone: nothing to rehash
    try:
        fcntl.flock(marks, fcntl.LOCK_EX)
        os.write(marks, (suffix + "\n").encode("ascii"))
    finally:
        os.close(marks)


def suffix_hash(suffix_dir: str, reclaim_age: float) -> str | None:
    """The suffix's hash, removing obsolete files and empty directories on
    the way; None when nothing is left in it."""
    digest = hashlib.md5(usedforsecurity=False)
    now = Timestamp.now()
    found_any = False
    try:
        hash_dirs = sorted(os.listdir(suffix_dir))
    except FileNotFoundError:
        return None
    for name_hash in hash_dirs:
        path = os.path.join(suffix_dir, name_hash)
        try:
            names = os.listdir(path)
        except (FileNotFoundError, NotADirectoryError):
            continue
        found = layout.resolve(names, now, reclaim_age)
        for obsolete in found.obsolete:
            _unlink(os.path.join(path, obsolete))
        kept = sorted(n for n in (found.data, found.tombstone, found.meta) if n)
        if not kept:
            _rmdir(path)
            continue
        found_any = True
        digest.update(name_hash.encode("ascii"))
        for name in kept:
            digest.update(name.encode("ascii"))
    if not found_any:
        _rmdir(suffix_dir)
        return None
    return digest.hexdigest()


def get_hashes(partition_dir: str, reclaim_age: float,
               recalculate: Iterable[str] = ()) -> dict[str, str]:
    """{suffix: hash} of every suffix in the partition, cached (see above)."""
    if not os.path.isdir(partition_dir):
        return {}
    cache = _read_cache(partition_dir)
    dirty = set(recalculate) | _take_marks(partition_dir)
    on_disk = {name for name in os.listdir(partition_dir) if _SUFFIX.fullmatch(name)}
    for suffix in set(cache) - on_disk:
        del cache[suffix]
    for suffix in sorted(on_disk):
        if suffix in dirty or suffix not in cache:
            value = suffix_hash(os.path.join(partition_dir, suffix), reclaim_age)
            if value is None:
                cache.pop(suffix, None)
            else:
                cache[suffix] = value
    _write_cache(partition_dir, cache)
    return dict(cache)


def _take_marks(partition_dir: str) -> set[str]:
    path = os.path.join(partition_dir, INVALID)
    try:
        with open(path, "r+", encoding="ascii") as marks:
            fcntl.flock(marks, fcntl.LOCK_EX)
            dirty = {line.strip() for line in marks if _SUFFIX.fullmatch(line.strip())}
            marks.seek(0)
            marks.truncate()
            return dirty
    except FileNotFoundError:
        return set()


def _read_cache(partition_dir: str) -> dict[str, str]:
    try:
        with open(os.path.join(partition_dir, CACHE), "rb") as handle:
            data = msgpack.unpackb(handle.read(), raw=False)
    except (FileNotFoundError, ValueError, msgpack.UnpackException):
        return {}  # missing or damaged: everything is recomputed
    if not isinstance(data, dict) or data.get("version") != 1:
        return {}
    hashes = data.get("hashes")
    return {k: v for k, v in hashes.items() if isinstance(k, str) and isinstance(v, str)} \
        if isinstance(hashes, dict) else {}


def _write_cache(partition_dir: str, hashes: dict[str, str]) -> None:
    path = os.path.join(partition_dir, CACHE)
    # one name per call: two REPLICATEs of one partition may refresh it at once
    temp = f"{path}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    with open(temp, "wb") as handle:
        handle.write(msgpack.packb({"version": 1, "hashes": hashes}, use_bin_type=True))
    os.replace(temp, path)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _rmdir(path: str) -> None:
    try:
        os.rmdir(path)
    except OSError:
        pass  # not empty (a write raced us) or already gone
