"""The in-memory twin of the disk backend (``objstore.obj.diskfile``).

Same interface, same rules (``layout.resolve``), no disk: it proves the
interface is the real boundary, and it makes tests of what sits above
(the object server's HTTP handling) fast. It keeps nothing across
processes and verifies nothing, so it is for tests only.
"""
from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator, Mapping
from typing import Any

from objstore.common.timestamp import Timestamp
from objstore.obj import layout
from objstore.obj.diskfile import ObjectInfo
from objstore.obj.exceptions import (
    DiskFileDeleted, DiskFileDeviceUnavailable, DiskFileExpired, DiskFileNotFound,
)
from ring.hashing import PathHasher, default_hasher


@dataclasses.dataclass
class _File:
    metadata: dict[str, Any]
    body: bytes = b""


class MemoryDiskFileManager:
    """Devices as dictionaries: {device: {(policy, partition, hash): {name: file}}}."""

    def __init__(self, devices: list[str], *, reclaim_age: float = 7 * 86400.0,
                 hasher: PathHasher | None = None) -> None:
        self.devices: dict[str, dict[tuple[int, int, str], dict[str, _File]]] = {
            device: {} for device in devices}
        self.reclaim_age = reclaim_age
        self.hasher = hasher

    def get(self, device: str, partition: int | str, account: str, container: str, obj: str,
            policy_index: int = 0) -> MemoryDiskFile:
        name_hash = (self.hasher or default_hasher()).hash_path(account, container, obj)
        return self.get_by_hash(device, partition, name_hash, policy_index,
                                name=f"/{account}/{container}/{obj}")

    def get_by_hash(self, device: str, partition: int | str, name_hash: str,
                    policy_index: int = 0, name: str | None = None) -> MemoryDiskFile:
        layout.check_device(device)
        if device not in self.devices:
            raise DiskFileDeviceUnavailable(f"device {device} does not exist")
        key = (policy_index, layout.check_partition(partition), layout.check_hash(name_hash))
        return MemoryDiskFile(self, self.devices[device].setdefault(key, {}), name or name_hash)


class MemoryDiskFile:
    def __init__(self, manager: MemoryDiskFileManager, files: dict[str, _File], name: str) -> None:
        self.manager = manager
        self.files = files
        self.name = name

    def _resolve(self) -> layout.Resolution:
        return layout.resolve(list(self.files), Timestamp.now(), self.manager.reclaim_age)

    def open(self, now: float | None = None) -> ObjectInfo:
        found = self._resolve()
        if found.tombstone:
            raise DiskFileDeleted(found.timestamp)  # type: ignore[arg-type]
        if not found.data:
            raise DiskFileNotFound(self.name)
        data = self.files[found.data]
        metadata = dict(data.metadata)
        meta_timestamp = None
        if found.meta:
            meta_timestamp = layout.parse_file_name(found.meta)[0]  # type: ignore[index]
            metadata = layout.apply_post(metadata, self.files[found.meta].metadata)
        delete_at = metadata.get("X-Delete-At")
        if delete_at is not None and now is not None and int(delete_at) <= now:
            raise DiskFileExpired(int(delete_at))
        return ObjectInfo(metadata, found.timestamp, meta_timestamp,  # type: ignore[arg-type]
                          len(data.body), str(metadata["ETag"]), found.data, len(data.body))

    def read(self, info: ObjectInfo, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        body = self.files[info.data_path].body
        if start < min(len(body), end if end is not None else len(body)):
            yield body[start:end]

    def create(self, size: int | None = None) -> MemoryWriter:
        return MemoryWriter(self)

    def delete(self, timestamp: Timestamp, metadata: Mapping[str, Any] | None = None) -> None:
        self._add(layout.file_name(timestamp, ".ts"),
                  _File({**(metadata or {}), "X-Timestamp": timestamp.internal}))

    def post(self, timestamp: Timestamp, metadata: Mapping[str, Any]) -> None:
        self._add(layout.file_name(timestamp, ".meta"),
                  _File({**metadata, "X-Timestamp": timestamp.internal}))

    def _add(self, name: str, file: _File) -> None:
        self.files[name] = file
        for obsolete in self._resolve().obsolete:
            self.files.pop(obsolete, None)


class MemoryWriter:
    def __init__(self, diskfile: MemoryDiskFile) -> None:
        self.diskfile = diskfile
        self.chunks: list[bytes] = []
        self.committed = False

    def write(self, chunk: bytes) -> None:
        self.chunks.append(chunk)

    @property
    def size(self) -> int:
        return sum(len(c) for c in self.chunks)

    @property
    def etag(self) -> str:
        return hashlib.md5(b"".join(self.chunks), usedforsecurity=False).hexdigest()

    def commit(self, metadata: Mapping[str, Any]) -> None:
        body = b"".join(self.chunks)
        full = {**metadata, "Content-Length": len(body), "ETag": self.etag}
        timestamp = Timestamp(metadata["X-Timestamp"])
        self.diskfile._add(layout.file_name(timestamp, ".data"), _File(full, body))
        self.committed = True

    def abort(self) -> None:
        self.chunks = []

    def __enter__(self) -> MemoryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.committed:
            self.abort()
