"""A new filesystem for one benchmark run, on the disk that holds /tmp.

ext4 without a journal (this machine's root filesystem) skips, one by
one, inodes freed in the last 60 s to 6 min when it makes a file
(``recently_deleted`` in the kernel). On a filesystem where an earlier run
just removed its thousands of files, every new file costs up to ~1 ms of
kernel time more, for minutes, and that weighs most on the cluster that
spends least per request. A filesystem made for the run, in a sparse image
file beside /tmp's files, on a loop device with direct I/O (the image's
pages do not sit in the page cache twice), with /tmp's filesystem type,
journal setting and ``discard`` option, starts every run alike.

It is not the default (``bench/side_by_side.py --fresh-fs``): the loop
device's own work (its kernel threads, the image's block allocation)
takes CPU from the clusters, while the disk probe, kernel writes alone,
hardly misses it (objstore's 64 MiB PUT came to 87% of the probe's rate
in one such run, 103-114% in /tmp), and the figures so far were taken
in /tmp. Use it to compare two versions of the code, or when /tmp has
just seen a test run or other mass deletions.

Needs root, losetup and mkfs; ``make`` returns None (the caller stays on
/tmp) when something is missing. ``remove`` unmounts, detaches and
deletes the image.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

SIZE = 48 << 30  # sparse: only what the run writes takes space


def mount_of(path: str) -> tuple[str, str, str] | None:
    """(source, mount point, type) of the mount holding ``path``."""
    best = None
    with open("/proc/mounts") as mounts:
        for line in mounts:
            source, point, kind = line.split()[:3]
            if path == point or path.startswith(point.rstrip("/") + "/"):
                if best is None or len(point) >= len(best[1]):
                    best = (source, point, kind)
    return best


def _ext4_like(source: str) -> tuple[list[str], list[str]]:
    """mkfs and mount options matching the ext4 filesystem on ``source``."""
    device = os.path.basename(source)
    journal = bool(glob.glob(f"/proc/fs/jbd2/{device}-*"))
    try:
        with open(f"/proc/fs/ext4/{device}/options") as handle:
            discard = "discard" in handle.read().split()
    except OSError:
        discard = False
    # inode tables written now: a lazy init would write them during the loads
    mkfs = ["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0,nodiscard"]
    if not journal:
        mkfs += ["-O", "^has_journal"]
    return mkfs, ["-o", "discard"] if discard else []


class ScratchFilesystem:
    """One run's filesystem; ``describe`` says what it is for the report."""

    def __init__(self) -> None:
        self.image: Path | None = None
        self.loop: str | None = None
        self.mount_point: Path | None = None
        self._made_mount_point = False
        self.description = ""

    def make(self, at: Path | None = None) -> Path | None:
        """Mounted at ``at`` (an empty directory), or at a new one in the
        temp directory."""
        where = tempfile.gettempdir()
        mount = mount_of(where)
        if os.geteuid() != 0 or mount is None or shutil.which("losetup") is None:
            return None
        source, _, kind = mount
        if kind == "ext4" and shutil.which("mkfs.ext4"):
            mkfs, mount_options = _ext4_like(source)
            journal = "-O" not in mkfs
            self.description = (f"a new ext4 ({'journal' if journal else 'no journal'}"
                                f"{', discard' if mount_options else ''}) on a loop device "
                                f"over a sparse file in {where}")
        elif kind == "xfs" and shutil.which("mkfs.xfs"):
            mkfs, mount_options = ["mkfs.xfs", "-q", "-f"], []
            self.description = f"a new xfs on a loop device over a sparse file in {where}"
        else:
            return None
        self.image = Path(tempfile.mkstemp(prefix="side_by_side-fs-", suffix=".img",
                                           dir=where)[1])
        os.truncate(self.image, SIZE)
        self.loop = subprocess.run(["losetup", "-f", "--show", "--direct-io=on",
                                    str(self.image)], check=True, capture_output=True,
                                   text=True).stdout.strip()
        subprocess.run([*mkfs, self.loop], check=True, capture_output=True)
        self._made_mount_point = at is None
        self.mount_point = Path(tempfile.mkdtemp(prefix="side_by_side-mnt-", dir=where)) \
            if at is None else at
        subprocess.run(["mount", *mount_options, self.loop, str(self.mount_point)],
                       check=True, capture_output=True)
        return self.mount_point

    def remove(self) -> None:
        if self.mount_point is not None:
            subprocess.run(["umount", str(self.mount_point)], capture_output=True, check=False)
            if self._made_mount_point:
                try:
                    self.mount_point.rmdir()
                except OSError:
                    pass
        if self.loop is not None:
            subprocess.run(["losetup", "-d", self.loop], capture_output=True, check=False)
        if self.image is not None:
            self.image.unlink(missing_ok=True)
