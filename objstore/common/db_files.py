"""A database's files on disk: made whole or not at all, and durable.

Invariants:

- ``create_atomically`` builds the file at a temp name in the same
  directory, fsyncs the file and the directory, links it to its final name
  and fsyncs the directory again, so after a crash the final name holds
  the whole file or does not exist. A link, unlike a rename, fails rather
  than replace a file another process made meanwhile.
- A new directory's name lasts only once its parent is fsynced:
  ``make_directories`` fsyncs the parent of each directory it makes.
- A temp left by a crash (``.<name>.<hex>.tmp``) is never opened by
  anyone; ``remove_stale_temps`` deletes those older than
  ``STALE_TEMP_AGE``, long past any build still running.
"""
from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable
from typing import Final

STALE_TEMP_AGE: Final = 3600.0  # seconds; no database takes this long to build
_SIDE_FILES: Final = ("", "-journal", "-wal", "-shm")  # SQLite's files beside a database


def fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(path: str) -> None:
    """Make the names in a directory (new, linked, removed) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_directories(directory: str) -> None:
    """``os.makedirs``, and fsync the parent of every directory it made."""
    missing = []
    here = directory
    while not os.path.isdir(here):
        missing.append(here)
        here = os.path.dirname(here)
    os.makedirs(directory, exist_ok=True)
    for made in missing:
        fsync_directory(os.path.dirname(made))


def remove_stale_temps(directory: str, name: str) -> None:
    """Delete temps of ``name`` that a crashed build left, once stale."""
    cutoff = time.time() - STALE_TEMP_AGE
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.name.startswith(f".{name}.") and ".tmp" in entry.name:
                with contextlib.suppress(FileNotFoundError):
                    if entry.stat().st_mtime < cutoff:
                        os.unlink(entry.path)


def create_atomically(path: str, build: Callable[[str], None]) -> None:
    """Have ``build`` write a complete file at the temp path it is given,
    then put it at ``path``; FileExistsError if ``path`` exists by then."""
    directory = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    make_directories(directory)
    remove_stale_temps(directory, name)
    temp = os.path.join(directory, f".{name}.{uuid.uuid4().hex}.tmp")
    try:
        build(temp)
        fsync_file(temp)
        fsync_directory(directory)
        os.link(temp, path)
    finally:
        for suffix in _SIDE_FILES:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp + suffix)
        fsync_directory(directory)
