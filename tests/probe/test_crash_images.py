"""A crash right after a write is acknowledged loses nothing of it.

Each filesystem the write path trusts to make a new name durable with the
file's own fsync (objstore.obj.durable_names) is made on a loop device
backed by a file; objects are written the way
a PUT, POST and DELETE write them, and the moment the last returns the
backing file is copied: the disk as a power cut would leave it (what the
kernel has not written is not in the copy). The copy, checked and
mounted, must hold every object. Leaving out the fsync after the link
loses them, so the check can fail."""
from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from objstore.common.timestamp import Timestamp
from objstore.obj import diskfile as diskfile_module
from objstore.obj import durable_names
from objstore.obj.diskfile import KEEP_CACHE_SIZE, DiskFileManager
from objstore.obj.exceptions import DiskFileDeleted, DiskFileNotFound, DiskFileQuarantined
from ring.hashing import PathHasher

HASHER = PathHasher("pre", "suf")


@dataclass(frozen=True)
class Filesystem:
    name: str
    mkfs: tuple[str, ...]
    size_mb: int
    check: tuple[str, ...] = ()   # run on the copy before it is mounted
    mount_options: str = ""


EXT4 = Filesystem("ext4 without a journal", ("mkfs.ext4", "-q", "-F", "-O", "^has_journal"),
                  64, ("e2fsck", "-fy"))
FILESYSTEMS = [
    EXT4,
    Filesystem("ext4", ("mkfs.ext4", "-q", "-F"), 64, ("e2fsck", "-fy")),
    # the copy has the original's UUID, and XFS refuses two mounted at once
    Filesystem("xfs", ("mkfs.xfs", "-q", "-f"), 320, (), "nouuid"),
]


def _run(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


class LoopDisk:
    """A filesystem on a loop device: what it has written is in its backing
    file (or that file's page cache) at once, and nothing it has not."""

    def __init__(self, image: Path, fs: Filesystem) -> None:
        self.image, self.fs = image, fs
        self.loops: list[str] = []
        self.mounts: list[Path] = []

    def make(self, mount_point: Path) -> None:
        with open(self.image, "wb") as handle:
            handle.truncate(self.fs.size_mb << 20)
        loop = self._attach(self.image)
        _run(*self.fs.mkfs, loop)
        self._mount(loop, mount_point)

    def crash_copy(self, mount_point: Path) -> None:
        """Mount what a crash at this moment would leave on the disk."""
        copy = self.image.with_suffix(".crashed")
        shutil.copyfile(self.image, copy)
        loop = self._attach(copy)
        if self.fs.check:  # exit 1 means it repaired something: expected after a crash
            subprocess.run([*self.fs.check, loop], capture_output=True, check=False)
        self._mount(loop, mount_point)

    def _attach(self, image: Path) -> str:
        loop = _run("losetup", "-f", "--show", str(image))
        self.loops.append(loop)
        return loop

    def _mount(self, loop: str, mount_point: Path) -> None:
        mount_point.mkdir(parents=True, exist_ok=True)
        options = ["-o", self.fs.mount_options] if self.fs.mount_options else []
        _run("mount", *options, loop, str(mount_point))
        self.mounts.append(mount_point)

    def close(self) -> None:
        for mount_point in reversed(self.mounts):
            subprocess.run(["umount", str(mount_point)], capture_output=True, check=False)
        for loop in reversed(self.loops):
            subprocess.run(["losetup", "-d", loop], capture_output=True, check=False)


def _unavailable(fs: Filesystem) -> str | None:
    if os.geteuid() != 0:
        return "loop devices and mounts need root"
    missing = [tool for tool in ("losetup", "mount", fs.mkfs[0], *fs.check[:1])
               if shutil.which(tool) is None]
    return f"not installed: {', '.join(missing)}" if missing else None


@pytest.fixture
def disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LoopDisk]:
    fs: Filesystem = request.param
    reason = _unavailable(fs)
    if reason:
        pytest.skip(reason)
    loop_disk = LoopDisk(tmp_path / "disk.img", fs)
    try:
        loop_disk.make(tmp_path / "devices" / "sda")
        yield loop_disk
    finally:
        loop_disk.close()


def _write_objects(devices: Path) -> dict[str, bytes]:
    """Objects in new partitions, suffixes and hash directories, as a PUT
    writes them, one of them big; one then POSTed, one DELETEd."""
    os.makedirs(devices / "sda" / "tmp")
    os.sync()  # the empty device is on the disk: only the writes below are at stake
    manager = DiskFileManager(str(devices), hasher=HASHER)
    assert durable_names.fsync_names_new_files(str(devices / "sda"))
    now = float(Timestamp.now())
    bodies = {f"o{number}": os.urandom(5000 + number) for number in range(6)}
    # past the page cache (direct_writes), with a tail that is not
    bodies["big"] = os.urandom(KEEP_CACHE_SIZE + (1 << 20) + 1234)
    for number, (name, body) in enumerate(bodies.items()):
        with manager.get("sda", number, "a", "c", name).create(len(body)) as writer:
            writer.write(body)
            writer.commit({"X-Timestamp": Timestamp(now - 60).internal,
                           "Content-Type": "application/octet-stream"})
    manager.get("sda", 0, "a", "c", "o0").post(Timestamp(now - 30), {"X-Object-Meta-A": "b"})
    manager.get("sda", 1, "a", "c", "o1").delete(Timestamp(now - 30))
    return bodies


def _found(devices: Path, bodies: dict[str, bytes]) -> dict[str, str]:
    """What a crashed copy holds of each object."""
    manager = DiskFileManager(str(devices), hasher=HASHER)
    found = {}
    for number, (name, body) in enumerate(bodies.items()):
        diskfile = manager.get("sda", number, "a", "c", name)
        try:
            info = diskfile.open()
        except DiskFileDeleted:
            found[name] = "deleted"
            continue
        except DiskFileNotFound:
            found[name] = "missing"
            continue
        same = b"".join(diskfile.read(info)) == body
        found[name] = ("meta " if info.meta_timestamp else "") + ("intact" if same else "damaged")
    return found


@pytest.mark.parametrize("disk", FILESYSTEMS, ids=[fs.name for fs in FILESYSTEMS],
                         indirect=True)
def test_what_was_written_is_on_the_disk_a_crash_leaves(disk: LoopDisk, tmp_path: Path) -> None:
    bodies = _write_objects(tmp_path / "devices")
    disk.crash_copy(tmp_path / "crashed" / "sda")
    assert _found(tmp_path / "crashed", bodies) == {
        "o0": "meta intact", "o1": "deleted", **{name: "intact" for name in list(bodies)[2:]}}


@pytest.mark.parametrize("disk", [EXT4], ids=[EXT4.name], indirect=True)
def test_without_the_fsync_after_the_link_the_objects_are_lost(
        disk: LoopDisk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the one fsync of a new object comes after its link: skipped here
    monkeypatch.setattr(diskfile_module, "_fsync", lambda fd: None)
    bodies = _write_objects(tmp_path / "devices")
    disk.crash_copy(tmp_path / "crashed" / "sda")
    assert set(_found(tmp_path / "crashed", bodies).values()) == {"missing"}


class _PowerCut(BaseException):
    """The machine stops here: nothing after runs, not even clean-up."""


@pytest.mark.parametrize("disk", FILESYSTEMS, ids=[fs.name for fs in FILESYSTEMS],
                         indirect=True)
def test_a_newer_write_cut_short_leaves_the_older_object(
        disk: LoopDisk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The power fails during a newer write's one fsync, after its link:
    the name may reach the disk without the bytes. The older object,
    acknowledged long ago, must still be read whole (the torn file is set
    aside), or else the newer one whole, never anything less."""
    devices = tmp_path / "devices"
    bodies = _write_objects(devices)
    os.sync()  # every object above is on the disk, as acknowledged ones are
    real = diskfile_module._fsync

    def cut(fd: int) -> None:
        if os.fstat(fd).st_nlink:  # named: this fsync never ends
            raise _PowerCut()
        real(fd)

    monkeypatch.setattr(diskfile_module, "_fsync", cut)
    manager = DiskFileManager(str(devices), hasher=HASHER)
    overwritten = {name: os.urandom(4 << 20) for name in list(bodies)[2:]}
    for name, body in overwritten.items():
        diskfile = manager.get("sda", list(bodies).index(name), "a", "c", name)
        with pytest.raises(_PowerCut):
            with diskfile.create(len(body)) as writer:
                writer.write(body)
                writer.commit({"X-Timestamp": Timestamp.now().internal,
                               "Content-Type": "application/octet-stream"})
        # the worst case: the directory (the new name) reached the disk
        dir_fd = os.open(diskfile.hash_dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            real(dir_fd)
        finally:
            os.close(dir_fd)
    disk.crash_copy(tmp_path / "crashed" / "sda")
    crashed = DiskFileManager(str(tmp_path / "crashed"), hasher=HASHER)
    for name, body in overwritten.items():
        got = _read_through(crashed, list(bodies).index(name), name)
        assert got == bodies[name] or got == body, f"{name}: {got[:40]!r}"


def _read_through(manager: DiskFileManager, number: int, name: str) -> bytes:
    """The object as a GET sees it, trying again after a damaged file was
    set aside mid-read (the proxy would go to another replica meanwhile)."""
    for _ in range(3):
        diskfile = manager.get("sda", number, "a", "c", name)
        try:
            info = diskfile.open()
            return b"".join(diskfile.read(info))
        except DiskFileQuarantined as err:
            if not err.set_aside:
                return b"quarantined whole"
        except (DiskFileDeleted, DiskFileNotFound):
            return b"missing"
    return b"unreadable"
