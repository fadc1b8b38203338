"""The object bytes' crc32: the same values as zlib's, from the fast one."""
from __future__ import annotations

import os
import zlib

import pytest

from objstore.common import crc


@pytest.mark.parametrize("size", [0, 1, 63, 4096, 65536, 65537, 1 << 20])
def test_same_values_as_zlib_whole_and_running(size: int) -> None:
    data = os.urandom(size)
    assert crc.crc32(data) == zlib.crc32(data)
    # a running crc (ChecksumWriter feeds chunks in pieces) continues alike
    split = size // 3
    assert crc.crc32(data[split:], crc.crc32(data[:split])) == zlib.crc32(data)
    assert crc.crc32(memoryview(data)[split:], 12345) == zlib.crc32(data[split:], 12345)


def test_the_fast_crc_is_the_one_in_use() -> None:
    # zlib-ng is an install dependency (setup.py): the fallback is for
    # a stripped install only, never what a normal one runs
    assert crc.crc32.__module__.startswith("zlib_ng")
