"""Objects on disk: the durable write path and the verified read path.

A write (PUT's ``.data``, DELETE's ``.ts``, POST's ``.meta``) is made
durable before the caller can acknowledge it:

1. the bytes (and the chunk checksum table) go to a temp file in
   ``<device>/tmp`` (same filesystem, so step 5 is atomic): an unnamed
   one (``O_TMPFILE``) where the filesystem allows, which a crash leaves
   nothing of, else a named ``.put-*``; the length of a body bigger than
   one write is preallocated when known; a body of known length from
   ``DIRECT_WRITE_SIZE`` up goes past the page cache (``direct_writes``)
   as it arrives, so its fsync finds little left to write; a big one
   (over ``KEEP_CACHE_SIZE``) of unknown length is handed to the disk
   every ``WRITE_BACK_STEP`` bytes;
2. metadata is written (xattrs, or a trailer: ``objstore.common.metadata``);
3. where the filesystem makes a linked file's name and new directories
   durable with the file's own fsync (ext4, XFS: ``durable_names``) and
   the temp file is unnamed, nothing yet; elsewhere the temp file is
   fsynced, so that no name ever leads to less than the whole file;
4. missing directories up to the hash directory are created;
5. the temp file gets its name ``<hash dir>/<timestamp><ext>`` (linked
   from ``/proc/self/fd``, or renamed; a file of the same name is only
   ever replaced by a file already fsynced);
6. the write is made durable: after a link covered by ``durable_names``,
   by the file's one fsync (bytes, name and directories at once; if it
   fails, the name is removed again); elsewhere, or when the name replaced
   a file, the hash directory is fsynced, then the parent of every
   directory step 4 created;
7. obsolete files are removed (none can be when the hash directory was
   empty as the write began; one a racing write left is the rehash's to
   remove) and the suffix is marked for rehashing.

A power cut during step 6's one fsync can leave the name on the disk
without all the bytes: a write never acknowledged, beside the files of
the object before it (step 7 had not run). ``quarantine`` then moves only
the damaged file and the object is its older state again.

``tests/unit/obj/test_diskfile.py`` asserts exactly which files and
directories are fsynced. A failure before step 5 leaves nothing visible;
the temp file is removed. Reads fetch ``disk_chunk_size`` bytes at a
time and verify every chunk before yielding any of it
(``objstore.obj.integrity``); they quarantine the object on a mismatch:
its hash directory moves to ``<device>/quarantined/<objects dir>/`` (or
only the damaged file, into ``.../<hash>/``, when an older state is
beside it) and the suffix is marked so the replicator restores a good copy.

Everything here blocks; servers call it through
``concurrency.run_blocking`` so one slow disk cannot stall other requests.
"""
from __future__ import annotations

import array
import contextlib
import dataclasses
import errno
import os
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from objstore.common import free_space
from objstore.common.crc import crc32
from objstore.common.metadata import MetadataError, read_metadata_and_end, write_metadata
from objstore.common.timestamp import Timestamp
from objstore.obj import direct_writes, durable_names, hashes, layout, young_dirs
from objstore.obj.exceptions import (
    DiskFileDeleted, DiskFileDeviceUnavailable, DiskFileError, DiskFileExpired,
    DiskFileNoSpace, DiskFileNotFound, DiskFileQuarantined,
)
from objstore.obj.integrity import CHUNK, ChecksumWriter, ChunkMismatch, parse_table, \
    table_length, verified_spans
from ring.hashing import PathHasher, default_hasher

# Keys the object layer itself keeps in metadata.
CHUNK_SIZE_KEY = "X-Objstore-Chunk-Size"
TABLE_CRC_KEY = "X-Objstore-Table-Crc"

# Bytes read per call: big enough that a trip to the disk thread pool
# (about 90 us of CPU) is a small share of it, small enough to hold one
# per request in flight.
DISK_CHUNK_SIZE = 1024 * 1024
# Objects larger than this leave the page cache once they are on disk (as
# Swift's keep_cache_size): gigabytes of cold uploads would otherwise fill
# it, and every later write would pay to reclaim pages before copying.
KEEP_CACHE_SIZE = 5 * 1024 * 1024
# A body of at least this many bytes, its length known, is written past the
# page cache (direct_writes). Here a 1 MiB write and fsync cost 0.1-0.45 ms
# of CPU direct against 0.35-1.7 through the cache (4 MiB: 0.2-0.5 against
# 3-10; bench/write_modes.py): the copy into pages the kernel must find
# first, then write back. From 512 KiB down the two cost the same, and the
# cache keeps a new object for its first GET. 1 MiB PUTs at 8 in flight:
# 89-96 -> 136-139 a second, and their first GETs 10-35% slower (from the
# disk; doc/performance.md).
DIRECT_WRITE_SIZE = 1024 * 1024
# A big body's pages are handed to the disk every this many bytes as it
# arrives (see DiskFileWriter._write_back).
WRITE_BACK_STEP = 4 * 1024 * 1024
# Unnamed temp files need O_TMPFILE and /proc/self/fd to name them later.
_unnamed = hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd")


def _fsync(fd: int) -> None:
    """The one place the object layer makes things durable (tests watch it)."""
    os.fsync(fd)


def _write_back(fd: int, start: int, end: int) -> None:
    """Start writing ``[start, end)`` out and drop its pages once clean
    (the kernel's DONTNEED starts writeback of dirty pages and drops only
    clean ones); never waits for the disk."""
    os.posix_fadvise(fd, start, end - start, os.POSIX_FADV_DONTNEED)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        _fsync(fd)
    finally:
        os.close(fd)


def _no_space(err: OSError) -> bool:
    return err.errno in (errno.ENOSPC, errno.EDQUOT)


@contextlib.contextmanager
def _full_device_is_507() -> Iterator[None]:
    """A full device's OSError as DiskFileNoSpace (507); others as they are."""
    try:
        yield
    except OSError as err:
        if _no_space(err):
            raise DiskFileNoSpace(f"device full: {err.strerror}") from None
        raise


@dataclasses.dataclass
class ObjectInfo:
    """An object as ``open`` found it."""

    metadata: dict[str, Any]          # data metadata with any .meta applied
    data_timestamp: Timestamp
    meta_timestamp: Timestamp | None
    content_length: int
    etag: str
    data_path: str
    data_end: int                     # where the checksum table starts (= content_length)

    @property
    def timestamp(self) -> Timestamp:
        """The newest change: the POST's if there was one, else the PUT's."""
        return self.meta_timestamp or self.data_timestamp


class DiskFileManager:
    """Finds objects on the devices under one directory."""

    def __init__(self, devices: str, *, mount_check: bool = False,
                 reclaim_age: float = 7 * 86400.0, hasher: PathHasher | None = None,
                 disk_chunk_size: int = DISK_CHUNK_SIZE,
                 reserve: free_space.Reserve = free_space.NONE) -> None:
        self.devices = devices
        self.mount_check = mount_check
        self.reclaim_age = reclaim_age
        self.hasher = hasher
        self.disk_chunk_size = disk_chunk_size
        self.reserve = reserve  # free space a new .data must leave (free_space.py)

    def device_path(self, device: str) -> str:
        path = os.path.join(self.devices, layout.check_device(device))
        if self.mount_check and not os.path.ismount(path):
            raise DiskFileDeviceUnavailable(f"device {device} is not mounted")
        if not os.path.isdir(path):
            raise DiskFileDeviceUnavailable(f"device {device} does not exist")
        return path

    def get(self, device: str, partition: int | str, account: str, container: str, obj: str,
            policy_index: int = 0) -> DiskFile:
        name_hash = (self.hasher or default_hasher()).hash_path(account, container, obj)
        return self.get_by_hash(device, partition, name_hash, policy_index,
                                name=f"/{account}/{container}/{obj}")

    def get_by_hash(self, device: str, partition: int | str, name_hash: str,
                    policy_index: int = 0, name: str | None = None) -> DiskFile:
        return DiskFile(self, self.device_path(device), policy_index,
                        layout.check_partition(partition), layout.check_hash(name_hash), name)


class DiskFile:
    """One object's hash directory on one device."""

    def __init__(self, manager: DiskFileManager, device_path: str, policy_index: int,
                 partition: int, name_hash: str, name: str | None) -> None:
        self.manager = manager
        self.device_path = device_path
        self.policy_index = policy_index
        self.partition = partition
        self.name_hash = name_hash
        self.name = name
        self.hash_dir = layout.hash_dir(device_path, policy_index, partition, name_hash)
        # the hash directory was missing or empty when last looked at here:
        # a write then has nothing obsolete to clean up after it
        self._seen_empty = False

    # -- reading -----------------------------------------------------------

    def _resolve(self) -> layout.Resolution:
        try:
            names = os.listdir(self.hash_dir)
        except FileNotFoundError:
            names = []
        self._seen_empty = not names
        if not names:
            return layout.Resolution()
        return layout.resolve(names, Timestamp.now(), self.manager.reclaim_age)

    def open(self, now: float | None = None) -> ObjectInfo:
        """The object's metadata; 404s as exceptions (see exceptions.py)."""
        while True:
            found = self._resolve()
            if found.tombstone:
                raise DiskFileDeleted(found.timestamp)  # type: ignore[arg-type]
            if not found.data:
                raise DiskFileNotFound(self.name or self.name_hash)
            try:
                info = self._load(found)
            except DiskFileQuarantined as err:
                if err.set_aside:  # a damaged newer file went: the older state is the object
                    continue
                raise
            break
        delete_at = info.metadata.get("X-Delete-At")
        if delete_at is not None and now is not None and int(delete_at) <= now:
            raise DiskFileExpired(int(delete_at))
        return info

    def _load(self, found: layout.Resolution) -> ObjectInfo:
        data_path = os.path.join(self.hash_dir, found.data)  # type: ignore[arg-type]
        metadata, end = self._read_metadata(data_path)
        size = int(metadata.get("Content-Length", -1))
        if size < 0 or end != size + table_length(size):
            self.quarantine(f"data file holds {end} bytes, metadata says {size}", found.data)
        meta_timestamp = None
        if found.meta:
            post, _ = self._read_metadata(os.path.join(self.hash_dir, found.meta))
            metadata = layout.apply_post(metadata, post)
            meta_timestamp = layout.parse_file_name(found.meta)[0]  # type: ignore[index]
        return ObjectInfo(
            metadata=metadata, data_timestamp=found.timestamp,  # type: ignore[arg-type]
            meta_timestamp=meta_timestamp, content_length=size,
            etag=str(metadata.get("ETag", "")), data_path=data_path, data_end=size,
        )

    def _read_metadata(self, path: str) -> tuple[dict[str, Any], int]:
        """A file's metadata and where its data ends; unreadable metadata
        quarantines the object."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:  # replaced under us by a newer write
            raise DiskFileNotFound(self.name or self.name_hash) from None
        try:
            return read_metadata_and_end(fd)  # type: ignore[no-any-return]
        except MetadataError as err:
            return self.quarantine(f"unreadable metadata in {os.path.basename(path)}: {err}",
                                   os.path.basename(path))
        finally:
            os.close(fd)

    def read(self, info: ObjectInfo, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Bytes [start, end) of the object in pieces of up to
        ``disk_chunk_size``, every chunk verified before any of a piece
        is yielded.

        A mismatch quarantines the object and raises DiskFileQuarantined
        mid-iteration, after the good chunks before the bad one."""
        end = info.content_length if end is None else min(end, info.content_length)
        if start >= end:
            return
        big = info.content_length > KEEP_CACHE_SIZE
        with open(info.data_path, "rb") as handle:
            fd = handle.fileno()
            if big:  # larger read-ahead; and the pages go once read (see KEEP_CACHE_SIZE)
                os.posix_fadvise(fd, start, end - start, os.POSIX_FADV_SEQUENTIAL)
            crcs = self._chunk_table(fd, info)
            try:
                yield from verified_spans(lambda offset, length: os.pread(fd, length, offset),
                                          crcs, info.content_length, start, end,
                                          self.manager.disk_chunk_size)
            except ChunkMismatch as err:
                self.quarantine(str(err), os.path.basename(info.data_path))
            finally:
                if big:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)

    def stored_table(self, info: ObjectInfo) -> bytes | None:
        """The chunk checksum table as the .data holds it, unchecked (a
        read checks the bytes against it); None when the file holds none
        of this build's chunk size or it is cut short."""
        expected = table_length(info.content_length)
        if info.metadata.get(CHUNK_SIZE_KEY) != CHUNK:
            return None
        with open(info.data_path, "rb") as handle:
            raw = os.pread(handle.fileno(), expected, info.data_end)
        return raw if len(raw) == expected else None

    def _chunk_table(self, fd: int, info: ObjectInfo) -> array.array[int]:
        expected = table_length(info.content_length)
        raw = os.pread(fd, expected, info.data_end)
        if len(raw) != expected:  # cut short since open() looked
            self.quarantine(f"checksum table holds {len(raw)} bytes, not {expected}",
                            os.path.basename(info.data_path))
        return parse_table(raw)

    def quarantine(self, reason: str, bad_name: str | None = None) -> Any:
        """Move the damage aside and raise DiskFileQuarantined.

        When ``bad_name``, the damaged file, has an older state of the
        object beside it (another .data, a .ts; for a .meta, the .data),
        only that file moves, into ``quarantined/<objects dir>/<hash>/``,
        and the object is its older state again (``set_aside`` on the
        exception). That is what a crash leaves when it cuts short a
        newer write, never acknowledged, whose one fsync had not finished
        (see ``_commit``): the write is lost, the state before it must not
        be. Otherwise the whole hash directory moves."""
        target_dir = os.path.join(self.device_path, "quarantined",
                                  layout.data_dir(self.policy_index))
        set_aside = bad_name is not None and self._older_state_beside(bad_name)
        if bad_name is not None and set_aside:
            source, target_dir = os.path.join(self.hash_dir, bad_name), \
                os.path.join(target_dir, self.name_hash)
        else:
            source = self.hash_dir
        os.makedirs(target_dir, exist_ok=True)
        target = os.path.join(target_dir, os.path.basename(source))
        if os.path.exists(target):
            target += "-" + uuid.uuid4().hex
        try:
            os.rename(source, target)
        except FileNotFoundError:
            pass
        self._invalidate_suffix()
        error = DiskFileQuarantined(f"{self.name or self.name_hash} quarantined: {reason}")
        error.set_aside = set_aside
        raise error

    def _older_state_beside(self, bad_name: str) -> bool:
        try:
            names = os.listdir(self.hash_dir)
        except FileNotFoundError:
            return False
        wanted = (".data",) if bad_name.endswith(".meta") else (".data", ".ts")
        return any(name != bad_name and name.endswith(wanted) and
                   layout.parse_file_name(name) is not None for name in names)

    # -- writing -----------------------------------------------------------

    def create(self, size: int | None = None, hashed: bool = True) -> DiskFileWriter:
        """A writer for a new ``.data`` (PUT)."""
        return DiskFileWriter(self, size, hashed)

    def delete(self, timestamp: Timestamp, metadata: Mapping[str, Any] | None = None) -> None:
        """Write a tombstone (DELETE)."""
        self._write_empty(timestamp, ".ts", {**(metadata or {}), "X-Timestamp": timestamp.internal})

    def post(self, timestamp: Timestamp, metadata: Mapping[str, Any]) -> None:
        """Write a ``.meta`` (POST): replaces user metadata and X-Delete-At."""
        self._write_empty(timestamp, ".meta", {**metadata, "X-Timestamp": timestamp.internal})

    def _write_empty(self, timestamp: Timestamp, ext: str, metadata: Mapping[str, Any]) -> None:
        fd, temp_path = self._temp_file()
        try:
            write_metadata(fd, metadata, 0, new_file=True)
            self._commit(fd, temp_path, layout.file_name(timestamp, ext))
        finally:
            os.close(fd)
            _discard(temp_path)

    def _temp_file(self) -> tuple[int, str | None]:
        """An open temp file and its path (None: unnamed, see the module doc)."""
        tmp_dir = os.path.join(self.device_path, "tmp")
        with _full_device_is_507():
            try:
                return _open_temp(tmp_dir)
            except FileNotFoundError:
                os.makedirs(tmp_dir, exist_ok=True)
                return _open_temp(tmp_dir)

    def _commit(self, fd: int, temp_path: str | None, final_name: str) -> None:
        """Steps 3 to 7 of the module docstring."""
        with _full_device_is_507(), young_dirs.making() as made:
            # where a file's own fsync makes its new name durable too
            # (durable_names), the one after the link makes all of it so
            one_fsync = temp_path is None and \
                durable_names.fsync_names_new_files(self.device_path)
            if not one_fsync:
                _fsync(fd)  # no name may ever lead to less than the whole file
            fresh = self._name_in_place(fd, temp_path, final_name, not one_fsync, made)
            if fresh and one_fsync:
                self._fsync_named(fd, final_name)  # the bytes, the name, new directories
            else:
                for directory in (self.hash_dir, *map(os.path.dirname, reversed(made.dirs))):
                    _fsync_dir(directory)
            for directory in young_dirs.others_young(self.hash_dir, self.device_path, made):
                _fsync_dir(os.path.dirname(directory))  # its maker may not have yet
                young_dirs.grown_up(directory)
        if not self._seen_empty:
            # A write that raced ours into an empty directory may leave an
            # obsolete file; the suffix's next rehash removes it.
            self.cleanup()
        self._seen_empty = False
        self._invalidate_suffix()

    def _fsync_named(self, fd: int, name: str) -> None:
        try:
            _fsync(fd)
        except OSError:
            # not durable, maybe not whole: the name must not stay to shadow
            # the state before it (a crash instead leaves that to quarantine)
            try:
                os.unlink(os.path.join(self.hash_dir, name))
            except OSError:
                pass
            raise

    def _name_in_place(self, fd: int, temp_path: str | None, final_name: str, synced: bool,
                       made: young_dirs.Made) -> bool:
        """Steps 4 and 5 (the directories made go to ``made``): whether the
        name is a new entry (nothing of that name replaced; ``synced``: the
        file is fsynced already, else it is before it replaces one). A
        rehash removes empty hash directories, maybe one just made here
        before the file is in it: then make it again."""
        failures = 0
        while True:
            _make_dirs(self.hash_dir, made)
            try:
                dir_fd = os.open(self.hash_dir, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    return _name(fd, temp_path, dir_fd, final_name, synced)
                finally:
                    os.close(dir_fd)
            except FileNotFoundError:
                failures += 1
                if failures == 3:
                    raise

    def cleanup(self) -> None:
        """Remove files that no longer count (rules in layout.py)."""
        found = self._resolve()
        for name in found.obsolete:
            try:
                os.unlink(os.path.join(self.hash_dir, name))
            except FileNotFoundError:
                pass
        if not found.data and not found.tombstone and not found.meta:
            try:
                os.rmdir(self.hash_dir)
            except OSError:
                pass  # not empty (foreign files) or already gone

    def _invalidate_suffix(self) -> None:
        # Not fsynced: a lost mark costs a late rehash, never data; the
        # replicator recomputes every suffix's hash now and then anyway.
        hashes.invalidate(os.path.dirname(os.path.dirname(self.hash_dir)), self.name_hash[-3:])


def _open_temp(tmp_dir: str) -> tuple[int, str | None]:
    global _unnamed
    if _unnamed:
        try:
            return os.open(tmp_dir, os.O_TMPFILE | os.O_RDWR, 0o600), None
        except OSError as err:
            if err.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                raise
            _unnamed = False  # this filesystem cannot: named temp files from now on
    return tempfile.mkstemp(dir=tmp_dir, prefix=".put-")


def _name(fd: int, temp_path: str | None, dir_fd: int, final: str, synced: bool) -> bool:
    """Give the temp file its final name in the directory open as
    ``dir_fd``, replacing a file of that name (a write of the same
    timestamp again) as a rename would, but only once the file is
    fsynced (``synced``: it is already). True when an unnamed file got a
    new entry by a link (durable_names covers only that case)."""
    if temp_path is not None:
        os.rename(temp_path, final, dst_dir_fd=dir_fd)
        return False
    # with a dir fd, os.link is linkat(..., AT_SYMLINK_FOLLOW): the magic
    # link leads to the open file itself
    try:
        os.link(f"/proc/self/fd/{fd}", final, dst_dir_fd=dir_fd)
        return True
    except FileExistsError:
        if not synced:
            _fsync(fd)  # a name that leads to a whole file must go on doing so
        staged = f"{final}.{uuid.uuid4().hex}.tmp"  # a name layout.resolve ignores
        os.link(f"/proc/self/fd/{fd}", staged, dst_dir_fd=dir_fd)
        os.rename(staged, final, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        return False


def _discard(temp_path: str | None) -> None:
    """Remove a named temp file that did not become the object (an unnamed
    one goes with its last descriptor)."""
    if temp_path is not None and os.path.exists(temp_path):
        os.unlink(temp_path)


def _make_dirs(path: str, made: young_dirs.Made) -> None:
    """Create ``path`` and missing parents (those made go to ``made``).
    Tries the deepest first: its parents usually exist, and then one
    mkdir is all it takes."""
    missing = []
    while True:
        try:
            young_dirs.make(path, made)
        except FileNotFoundError:
            parent = os.path.dirname(path)
            if parent == path:
                raise
            missing.append(path)
            path = parent
            continue
        break
    for directory in reversed(missing):
        young_dirs.make(directory, made)


class DiskFileWriter:
    """Receives a PUT's body; ``commit`` makes it the object, durably."""

    def __init__(self, diskfile: DiskFile, size: int | None, hashed: bool = True) -> None:
        """``hashed=False``: no MD5 here; ``given_etag`` must be set
        before ``commit`` (put_footer.py). DiskFileNoSpace (507) when the
        body would leave the device less than its reserve."""
        reserve = diskfile.manager.reserve
        if not reserve.allows(diskfile.device_path, size or 0):
            raise DiskFileNoSpace(f"device full: it keeps {reserve} free (fallocate_reserve)")
        self.diskfile = diskfile
        self.fd, self.temp_path = diskfile._temp_file()
        self.sums = ChecksumWriter(with_md5=hashed)
        self.given_etag: str | None = None
        self.committed = False
        self._written_back = 0  # bytes before this are on their way to the disk
        self._direct: direct_writes.DirectWrites | None = None
        # a body that fits one write gains nothing from reserving its blocks
        self.preallocated = bool(size) and size > diskfile.manager.disk_chunk_size  # type: ignore[operator]
        if self.preallocated:
            self._preallocate(size + table_length(size))  # type: ignore[operator]
        if size is not None and size >= DIRECT_WRITE_SIZE:
            self._direct = direct_writes.start(self.fd)

    def _preallocate(self, length: int) -> None:
        try:
            os.posix_fallocate(self.fd, 0, length)
        except OSError as err:
            if _no_space(err):
                self.abort()
                raise DiskFileNoSpace(f"device full: {err.strerror}") from None
            # filesystems without fallocate just grow the file as it is written

    def write(self, chunk: bytes) -> None:
        self.sums.update(chunk)
        if self._direct is not None:
            with _full_device_is_507():
                self._direct.write(chunk)
            return
        view = memoryview(chunk)
        while view:
            with _full_device_is_507():
                written = os.write(self.fd, view)
            view = view[written:]
        if self.size > KEEP_CACHE_SIZE and self.size - self._written_back >= WRITE_BACK_STEP:
            # What arrived since the last step goes to the disk now, and the
            # step before it, written out by now, leaves the page cache (a
            # big object leaves it anyway once durable): the disk works
            # while the body still arrives, and the fsync at the end waits
            # for the last step or two, not the whole object.
            _write_back(self.fd, max(self._written_back - WRITE_BACK_STEP, 0), self.size)
            self._written_back = self.size

    @property
    def receives_in_place(self) -> bool:
        """Whether the body may be put straight into ``receive_space()``."""
        return self._direct is not None

    def receive_space(self) -> memoryview:
        """Where the body's next bytes may go in place (release it, then
        call ``received``): the direct writes' aligned buffer, so bytes
        come from the socket to the disk with no copy in between."""
        assert self._direct is not None, "only with receives_in_place"
        return self._direct.space()

    def received(self, count: int) -> None:
        """``count`` bytes were put at the start of ``receive_space()``."""
        assert self._direct is not None, "only with receives_in_place"
        with self._direct.space() as space, space[:count] as data:
            self.sums.update(data)
        with _full_device_is_507():
            self._direct.filled(count)

    @property
    def size(self) -> int:
        return self.sums.size

    @property
    def etag(self) -> str:
        if self.given_etag is not None:
            return self.given_etag
        if self.sums.md5 is None:
            raise RuntimeError("an unhashed write has no ETag until one is given")
        return self.sums.md5.hexdigest()

    def commit(self, metadata: Mapping[str, Any]) -> None:
        """Finish the object under ``metadata['X-Timestamp']``, durably."""
        timestamp = Timestamp(metadata["X-Timestamp"])
        table = self.sums.table()
        if self._direct is not None:
            with _full_device_is_507():
                self._direct.finish()
            self._direct = None
        if self.preallocated:
            os.ftruncate(self.fd, self.size)  # drop what the body did not use
        os.pwrite(self.fd, table, self.size)
        full = {
            **metadata, "Content-Length": self.size, "ETag": self.etag,
            CHUNK_SIZE_KEY: CHUNK, TABLE_CRC_KEY: crc32(table),
        }
        with _full_device_is_507():
            write_metadata(self.fd, full, self.size + len(table), new_file=True)
            self.diskfile._commit(self.fd, self.temp_path, layout.file_name(timestamp, ".data"))
            if self.size > KEEP_CACHE_SIZE:  # clean after the fsync: dropped at once
                os.posix_fadvise(self.fd, 0, 0, os.POSIX_FADV_DONTNEED)
        self.committed = True

    def abort(self) -> None:
        """Forget the upload; nothing becomes visible."""
        self._close()
        _discard(self.temp_path)

    def _close(self) -> None:
        if self._direct is not None:
            self._direct.close()
            self._direct = None
        if self.fd >= 0:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = -1

    def __enter__(self) -> DiskFileWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()
        if not self.committed:
            _discard(self.temp_path)


__all__ = ["DiskFile", "DiskFileError", "DiskFileManager", "DiskFileWriter", "ObjectInfo"]
