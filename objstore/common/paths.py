"""Names that become paths on a device: the rules every storage server applies.

A device name, a partition and a hash are joined into file system paths,
so each must be unable to leave its directory: a device name is letters,
digits, '.', '_' and '-' (never '.' or '..', never a leading dot or
dash); a partition is up to ten digits; a hash is 32 lower-case hex
digits. Each layer raises its own error (DiskFileBadRequest, HTTP 400).
"""
from __future__ import annotations

import re
from typing import Final

_DEVICE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
_PARTITION: Final = re.compile(r"[0-9]{1,10}")
_HASH: Final = re.compile(r"[0-9a-f]{32}")


def valid_device(name: str) -> bool:
    return bool(_DEVICE.fullmatch(name)) and name not in (".", "..")


def valid_partition(text: int | str) -> int | None:
    """The partition as a number, or None when it is not one."""
    text = str(text)
    return int(text) if _PARTITION.fullmatch(text) else None


def valid_hash(text: str) -> bool:
    return bool(_HASH.fullmatch(text))
