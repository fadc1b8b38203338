"""Whether a file's own fsync, made after it is named, makes the name durable.

POSIX promises a new name survives a crash only once its directory is
fsynced, and a new directory only once its parent is: a new object (new
hash directory, often a new suffix and partition directory too) would take
three to five fsyncs, each a flush of the device's write cache.

On the filesystems listed here one fsync of the file after its link does
all of it, the file's bytes included, and the write path (diskfile.py)
makes that its only fsync:

* ext4 with a journal, and XFS: the fsync forces the log up to the file's
  last change, the link, which is logged with its directory entry; every
  directory made before it is in the same or an earlier commit.
* ext4 without a journal: fsyncing a newly named inode writes its parent
  directory, and on up while that directory is itself new (the kernel's
  ext4_sync_parent, written for this case).

tests/probe/test_crash_images.py shows it on each: it copies a loop
device's backing file right after a write, as a crash would leave the disk,
and finds the object in the copy; with that fsync left out the object is
gone. Anywhere else (or when the mount cannot be told) the file is fsynced
before it is named and the directories one by one after.
"""
from __future__ import annotations

import os
import re
import time

FILESYSTEMS = frozenset({"ext4", "xfs"})
# a device directory gets a new disk when an operator swaps one
RECHECK_SECONDS = 60.0
MOUNTINFO = "/proc/self/mountinfo"

_checked: dict[str, tuple[bool, float]] = {}
_ESCAPED = re.compile(r"\\([0-7]{3})")


def fsync_names_new_files(path: str) -> bool:
    """True when ``path`` is on a filesystem where a just-linked file's
    fsync makes its name and its new directories durable (module doc)."""
    now = time.monotonic()
    known = _checked.get(path)
    if known is not None and now - known[1] < RECHECK_SECONDS:
        return known[0]
    try:
        with open(MOUNTINFO, encoding="utf-8", errors="surrogateescape") as lines:
            covered = filesystem_of(os.path.realpath(path), lines.read()) in FILESYSTEMS
    except OSError:
        covered = False
    _checked[path] = (covered, now)
    return covered


def filesystem_of(path: str, mountinfo: str) -> str | None:
    """The type of the mount holding the absolute ``path`` in a
    /proc/<pid>/mountinfo text: the deepest mount point above it."""
    best, best_type = "", None
    for line in mountinfo.splitlines():
        fields = line.split(" ")
        try:
            mount_point = _ESCAPED.sub(lambda m: chr(int(m.group(1), 8)), fields[4])
            fs_type = fields[fields.index("-", 6) + 1]
        except (IndexError, ValueError):
            continue
        inside = path == mount_point or path.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, best_type = mount_point, fs_type
    return best_type


__all__ = ["FILESYSTEMS", "filesystem_of", "fsync_names_new_files"]
