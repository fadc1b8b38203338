"""Where objects live on a device, and which of an object's files counts.

    <devices>/<device>/<objects[-N]>/<partition>/<suffix>/<hash>/<timestamp>.<ext>

``hash`` is ``hash_path(account, container, object)`` in hex and
``suffix`` its last three hex digits. ``objects-N`` holds storage policy
N (N > 0). An object's hash directory holds files named by their
internal timestamp:

* ``.data``: the object's bytes and metadata, written by PUT;
* ``.ts``: a tombstone, written by DELETE;
* ``.meta``: metadata written by POST (fast POST), applied over the data.

The rules, in ``resolve`` (shared by the disk backend and its in-memory
twin so both agree):

1. The newest ``.data`` or ``.ts`` wins. A tombstone winning means the
   object is deleted.
2. The newest ``.meta`` newer than the winning ``.data`` applies to it.
   ``apply_post`` says what a ``.meta`` changes.
3. Everything older than what counts is obsolete and may be removed;
   a ``.meta`` with no ``.data`` under it is obsolete too.
4. A winning tombstone older than ``reclaim_age`` is obsolete as well:
   the replicas have all seen the delete by then.

Unknown names (temporary files, foreign files) are left alone.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any, Final

from objstore.common import paths
from objstore.common.timestamp import InvalidTimestamp, Timestamp
from objstore.obj.exceptions import DiskFileBadRequest

EXTENSIONS: Final = (".data", ".meta", ".ts")
# What a POST (.meta) replaces in the metadata of the data it applies to.
POST_REPLACES: Final = ("x-object-meta-", "x-object-transient-sysmeta-", "x-delete-at")


def data_dir(policy_index: int) -> str:
    return "objects" if policy_index == 0 else f"objects-{policy_index}"


def check_device(device: str) -> str:
    """A device name that cannot leave the devices directory."""
    if not paths.valid_device(device):
        raise DiskFileBadRequest(f"invalid device name {device!r}")
    return device


def check_partition(partition: int | str) -> int:
    number = paths.valid_partition(partition)
    if number is None:
        raise DiskFileBadRequest(f"invalid partition {str(partition)!r}: not a whole number")
    return number


def check_hash(name_hash: str) -> str:
    if not paths.valid_hash(name_hash):
        raise DiskFileBadRequest(f"invalid object hash {name_hash!r}")
    return name_hash


def hash_dir(device_path: str, policy_index: int, partition: int, name_hash: str) -> str:
    return os.path.join(device_path, data_dir(policy_index), str(partition), name_hash[-3:],
                        name_hash)


def file_name(timestamp: Timestamp, ext: str) -> str:
    return timestamp.internal + ext


def apply_post(data_meta: Mapping[str, Any], post_meta: Mapping[str, Any]) -> dict[str, Any]:
    """The data's metadata with a POST's applied: the POST replaces all user
    metadata, transient sysmeta and X-Delete-At, and may set Content-Type."""
    merged = {k: v for k, v in data_meta.items() if not k.lower().startswith(POST_REPLACES)}
    merged.update({k: v for k, v in post_meta.items() if k != "X-Timestamp"})
    return merged


def parse_file_name(name: str) -> tuple[Timestamp, str] | None:
    """(timestamp, extension) of an object file, None for anything else."""
    stem, dot, ext = name.rpartition(".")
    if not dot or "." + ext not in EXTENSIONS:
        return None
    try:
        return Timestamp(stem), "." + ext
    except InvalidTimestamp:
        return None


@dataclasses.dataclass(frozen=True)
class Resolution:
    """What an object's files say: what counts, and what is obsolete."""

    data: str | None = None        # file name of the winning .data
    tombstone: str | None = None   # file name of the winning .ts
    meta: str | None = None        # file name of the .meta that applies
    obsolete: tuple[str, ...] = ()

    @property
    def timestamp(self) -> Timestamp | None:
        winner = self.data or self.tombstone
        return parse_file_name(winner)[0] if winner else None  # type: ignore[index]


def resolve(names: list[str], now: Timestamp, reclaim_age: float) -> Resolution:
    """Apply the module's rules to the names found in a hash directory."""
    files = sorted(
        ((parsed[0], parsed[1], name) for name in names
         if (parsed := parse_file_name(name)) is not None),
        key=lambda item: (item[0], item[1] == ".data"), reverse=True,
    )
    winner = next(((ts, ext, name) for ts, ext, name in files if ext in (".data", ".ts")), None)
    metas = [(ts, name) for ts, ext, name in files if ext == ".meta"]
    if winner is None:
        return Resolution(obsolete=tuple(name for _, name in metas))
    win_ts, win_ext, win_name = winner
    meta = next((name for ts, name in metas if ts > win_ts), None) if win_ext == ".data" else None
    keep = {win_name, meta}
    if win_ext == ".ts" and float(now) - float(win_ts) > reclaim_age:
        keep.discard(win_name)
    obsolete = tuple(name for _, _, name in files if name not in keep)
    if win_name not in keep:
        return Resolution(obsolete=obsolete)
    if win_ext == ".ts":
        return Resolution(tombstone=win_name, obsolete=obsolete)
    return Resolution(data=win_name, meta=meta, obsolete=obsolete)
