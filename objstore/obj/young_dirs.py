"""Directories whose maker has not made them durable yet.

A write that makes a directory (a new partition, suffix or hash
directory) makes its entry durable with its own fsync (durable_names.py,
or an fsync of the parent). Another write that finds the directory there
counts on that, but may finish first: its own fsync covers its file and
the directories it made itself, and it would acknowledge an object whose
path is not on disk yet. On ext4 without a journal the window is real:
the kernel walks a new file's new parents once, clearing a flag on each,
so the second fsync stops where the first one is still writing.

So a directory is made *young*: with the sticky bit (S_ISVTX) in its
mode, which has no other effect here (every process of the store runs as
one user), and its maker clears the bit once its fsync has returned. A
write that finds a young directory on its path that it did not make
fsyncs that directory's parent itself, then clears the bit. The mark is
on the disk, so it covers every thread and every worker process of every
server on the node, and a maker that died before clearing it costs the
next write there one fsync, no more.

The cost is a stat of each directory on a write's path that it did not
make, and a chmod of each one it made.
"""
from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator


def _umask() -> int:
    """The process's umask, without setting it (os.umask would, for every
    thread at once)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


MODE = 0o777 & ~_umask()  # a durable directory's mode, as mkdir would give it
YOUNG = MODE | stat.S_ISVTX


class Made:
    """The directories one write made (see ``making``)."""

    def __init__(self) -> None:
        self.dirs: list[str] = []


def make(path: str, made: Made) -> None:
    """Make ``path``, young, unless it exists; FileNotFoundError when its
    parent does not."""
    try:
        os.mkdir(path, YOUNG)
    except FileExistsError:
        return
    made.dirs.append(path)


@contextlib.contextmanager
def making() -> Iterator[Made]:
    """The directories a write makes, grown up once the block is done (the
    write durable); left young if it fails, for a later write to finish."""
    made = Made()
    yield made
    for path in made.dirs:
        grown_up(path)


def others_young(hash_dir: str, top: str, made: Made) -> list[str]:
    """The young directories below ``top`` down to ``hash_dir`` that this
    write did not make, deepest first."""
    path, own, found = hash_dir, set(made.dirs), []
    while path.startswith(top + os.sep):
        if path not in own:
            try:
                if os.stat(path).st_mode & stat.S_ISVTX:
                    found.append(path)
            except FileNotFoundError:
                pass  # removed meanwhile (an empty one): nothing of ours is in it
        path = os.path.dirname(path)
    return found


def grown_up(path: str) -> None:
    """``path``'s entry is durable: clear its mark (not fsynced: a lost
    clear costs one more fsync of its parent later)."""
    try:
        os.chmod(path, MODE)
    except FileNotFoundError:
        pass
