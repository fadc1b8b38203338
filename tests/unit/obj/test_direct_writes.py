"""Direct writes: every byte lands, in order, whatever the sizes."""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from objstore.obj import direct_writes
from objstore.obj.direct_writes import ALIGN, BUFFER


@pytest.mark.parametrize("size", [0, 1, ALIGN - 1, ALIGN, ALIGN + 1, BUFFER - 1, BUFFER,
                                  BUFFER + 1, 2 * BUFFER + ALIGN + 7])
@pytest.mark.parametrize("piece", [1000, ALIGN, BUFFER + 3])
def test_every_byte_in_order(tmp_path: Path, size: int, piece: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "f"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        writes = direct_writes.start(fd)
        assert writes is not None, "the filesystem under tmp_path takes O_DIRECT"
        for start in range(0, size, piece):
            writes.write(data[start:start + piece])
        writes.finish()
        assert not fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT
        os.write(fd, b"after")  # the descriptor carries on where the body ends
    finally:
        os.close(fd)
    assert path.read_bytes() == data + b"after"


def test_none_where_the_filesystem_refuses(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    real = fcntl.fcntl

    def refusing(fd: int, command: int, arg: int = 0) -> int:
        if command == fcntl.F_SETFL and arg & os.O_DIRECT:
            raise OSError(22, "Invalid argument")
        return real(fd, command, arg)

    monkeypatch.setattr(fcntl, "fcntl", refusing)
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        assert direct_writes.start(fd) is None
    finally:
        os.close(fd)


def test_a_kept_buffer_serves_one_write_at_a_time(tmp_path: Path) -> None:
    """Buffers are kept for later writes: one closed twice must not go to
    two writes at once (their bytes would mix), and a reused one leaves
    none of the earlier object's bytes in a later file."""
    fds = [os.open(tmp_path / name, os.O_RDWR | os.O_CREAT, 0o600) for name in "abc"]
    try:
        first = direct_writes.start(fds[0])
        assert first is not None
        first.write(os.urandom(BUFFER - 1))
        first.finish()
        first.close()
        bodies = [os.urandom(3 * ALIGN + 5), os.urandom(2 * ALIGN + 9)]
        writes = [direct_writes.start(fd) for fd in fds[1:]]
        for start, end in ((0, 1000), (1000, None)):  # interleaved, both held in buffers
            for write, body in zip(writes, bodies):
                assert write is not None
                write.write(body[start:end])
        for write in writes:
            assert write is not None
            write.finish()
    finally:
        for fd in fds:
            os.close(fd)
    assert [(tmp_path / name).read_bytes() for name in "bc"] == bodies
