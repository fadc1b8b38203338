"""Directories whose maker has not made them durable yet.

A write that makes a directory (a new partition, suffix or hash
directory) makes its entry durable with its own fsync (durable_names.py,
or an fsync of the parent). Another write that finds the directory there
counts on that, but may finish first: its own fsync covers its file and
the directories it made itself, and it would acknowledge an object whose
path is not on disk yet. On ext4 without a journal the window is real:
the kernel walks a new file's new parents once, clearing a flag on each,
so the second fsync stops where the first one is still writing.

So a write claims each directory before it tries to make it, keeps the
ones it made until its fsync has returned, and a write that finds another
write's claim on its path fsyncs the parent of that directory itself.
Concurrent writes into one just-made directory are rare outside a fresh
cluster's first minutes, so the extra fsync is too.

Claims are per process: the workers of one server are processes of their
own, and a race between two of them is not covered.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from objstore.common import os_threads

# Disk threads (real OS threads) share the claims: the interpreter's own
# lock, never a green one (os_threads).
_lock = os_threads.allocate_lock()
_claims: dict[str, int] = {}


class Made:
    """The directories one write claimed and made (see ``claimed``)."""

    def __init__(self) -> None:
        self.dirs: list[str] = []

    def claim(self, path: str) -> None:
        """Before trying to make ``path``."""
        with _lock:
            _claims[path] = _claims.get(path, 0) + 1

    def keep(self, path: str) -> None:
        """``path`` was made: its claim stays until the write is durable."""
        self.dirs.append(path)

    def drop(self, path: str) -> None:
        """``path`` was not made here (it existed, or its parent did not)."""
        _release(path)


@contextlib.contextmanager
def claimed() -> Iterator[Made]:
    """A write's claims, all given up when it is over (durable or failed)."""
    made = Made()
    try:
        yield made
    finally:
        for path in made.dirs:
            _release(path)


def others_young(hash_dir: str, top: str, made: Made) -> list[str]:
    """The directories below ``top`` down to ``hash_dir`` that another
    write made and has not yet made durable."""
    path, own, found = hash_dir, set(made.dirs), []
    with _lock:
        while path.startswith(top + os.sep):
            if path in _claims and path not in own:
                found.append(path)
            path = os.path.dirname(path)
    return found


def _release(path: str) -> None:
    with _lock:
        left = _claims[path] - 1
        if left:
            _claims[path] = left
        else:
            del _claims[path]
