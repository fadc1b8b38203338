"""Path hashing: where a name lives in the ring.

A path's place is the md5 of the cluster's secret prefix, the path
``/account[/container[/object]]`` and the secret suffix. This is the same
digest OpenStack Swift computes for the same prefix and suffix, so rings
and data directories are interchangeable with Swift's. The partition is
the digest's top 32 bits shifted right by ``32 - part_power``.

The secret is per cluster, so one process has one: ``set_hash_path_secret``
installs it for the module-level ``hash_path``; a ``PathHasher`` carries
its own for code (tests, tools) that handles several clusters.
"""
from __future__ import annotations

import hashlib
import struct
from typing import Final

_TOP32: Final = struct.Struct(">I")


def _utf8(name: str | bytes) -> bytes:
    return name if isinstance(name, bytes) else name.encode("utf-8")


class PathHasher:
    """Hashes account/container/object paths with one cluster secret."""

    __slots__ = ("prefix", "suffix")

    def __init__(self, prefix: str | bytes = b"", suffix: str | bytes = b"") -> None:
        self.prefix = _utf8(prefix)
        self.suffix = _utf8(suffix)

    def digest(
        self,
        account: str | bytes,
        container: str | bytes | None = None,
        obj: str | bytes | None = None,
    ) -> bytes:
        """The raw 16-byte md5 of the path."""
        # Empty names count as absent, as they do in Swift's digest.
        if obj and not container:
            raise ValueError("an object path needs a container")
        path = b"/" + _utf8(account)
        if container:
            path += b"/" + _utf8(container)
            if obj:
                path += b"/" + _utf8(obj)
        return hashlib.md5(self.prefix + path + self.suffix, usedforsecurity=False).digest()

    def hash_path(
        self,
        account: str | bytes,
        container: str | bytes | None = None,
        obj: str | bytes | None = None,
    ) -> str:
        """The path's hash as 32 hex digits (the name of its hash directory)."""
        return self.digest(account, container, obj).hex()


def partition_of(digest: bytes, part_shift: int) -> int:
    """The partition of a raw digest in a ring whose part_shift is given."""
    return int(_TOP32.unpack_from(digest)[0] >> part_shift)


_default = PathHasher()


def set_hash_path_secret(prefix: str | bytes, suffix: str | bytes) -> None:
    """Install this process's cluster secret for ``hash_path``."""
    global _default
    if not prefix and not suffix:
        raise ValueError("a cluster needs a hash path prefix or suffix")
    _default = PathHasher(prefix, suffix)


def default_hasher() -> PathHasher:
    """The hasher holding this process's cluster secret."""
    return _default


def hash_path(
    account: str | bytes,
    container: str | bytes | None = None,
    obj: str | bytes | None = None,
) -> str:
    """Hex md5 of ``/account[/container[/object]]`` with the cluster secret."""
    return _default.hash_path(account, container, obj)
