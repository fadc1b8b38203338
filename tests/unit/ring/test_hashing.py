"""hash_path gives the digests OpenStack Swift gives for the same secret."""
from __future__ import annotations

import pytest

from ring import hashing
from ring.hashing import PathHasher, partition_of

# (path, digest with prefix "pre"/suffix "suf", digest with suffix "changeme"),
# as computed by Swift 2.38.3's own hash_path.
SWIFT_VECTORS = [
    (("a",), "ab349048c4d787b8cac7454c3dc7c95b", "b8ea67c480b33ac40c79510c7df2b8a8"),
    (("a", "c"), "0d25b61566837c3531c8a377fbabc763", "e8fbcd486a77117e2cd3398aa1f9485f"),
    (("a", "c", "o"), "3c455f4c36c2927865b8822a4cef8a1f", "2f714cd91b0e5d803cde2012b01d7099"),
    (("AUTH_test", "cont", "obj/with/slash"), "562e7575ba43ff60ba6bd814b516ed4c",
     "422719a0118dad48bb4b1f3fde3a9836"),
    (("a", "c", "\u00fcn\u00efcode"), "f29af0cccd3d801ba81c3589f941a070",
     "6c4eb9e33c51df7e9bae01fefb8c5aba"),
]


@pytest.mark.parametrize(("path", "with_prefix", "suffix_only"), SWIFT_VECTORS)
def test_digests_match_swift(path: tuple[str, ...], with_prefix: str, suffix_only: str) -> None:
    assert PathHasher("pre", "suf").hash_path(*path) == with_prefix
    assert PathHasher("", "changeme").hash_path(*path) == suffix_only


def test_bytes_and_str_names_hash_alike() -> None:
    hasher = PathHasher(b"pre", b"suf")
    assert hasher.hash_path(b"a", b"c", "\u00fcn\u00efcode".encode()) == SWIFT_VECTORS[4][1]


def test_empty_parts_are_skipped_like_swift() -> None:
    hasher = PathHasher("pre", "suf")
    assert hasher.hash_path("a", "", "") == SWIFT_VECTORS[0][1]


def test_object_without_container_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a container"):
        PathHasher("pre", "suf").hash_path("a", None, "o")


def test_partition_is_top_bits_of_digest() -> None:
    digest = PathHasher("pre", "suf").digest("a", "c", "o")
    assert partition_of(digest, 32 - 10) == 241  # Swift's partition at part power 10
    assert partition_of(digest, 0) == 0x3C455F4C


def test_module_secret_is_installed_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hashing, "_default", hashing.PathHasher())
    hashing.set_hash_path_secret("pre", "suf")
    assert hashing.hash_path("a", "c", "o") == SWIFT_VECTORS[2][1]
    with pytest.raises(ValueError, match="prefix or suffix"):
        hashing.set_hash_path_secret("", "")
