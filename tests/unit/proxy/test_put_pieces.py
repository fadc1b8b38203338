"""How the proxy cuts a PUT body into pieces: big ones from a fast client,
and something at least every PIECE_WAIT seconds from a slow one."""
from __future__ import annotations

from objstore.proxy.objects import CHUNK, READ_STEP, read_piece


class Source:
    """A request body of ``size`` bytes; each read takes ``seconds`` on
    the fake clock."""

    def __init__(self, size: int, seconds: float) -> None:
        self.left, self.seconds, self.now, self.reads = size, seconds, 0.0, 0

    def clock(self) -> float:
        return self.now

    def readinto(self, target: memoryview) -> int:
        count = min(len(target), self.left)
        target[:count] = b"x" * count
        self.left -= count
        self.now += self.seconds
        self.reads += 1
        return count


def test_a_fast_client_fills_a_whole_piece() -> None:
    source = Source(3 * CHUNK, 0.001)
    buffer = memoryview(bytearray(CHUNK))
    assert read_piece(source, buffer, 1.0, source.clock) == CHUNK
    assert source.reads == CHUNK // READ_STEP


def test_a_slow_client_sends_what_came_once_the_wait_is_over() -> None:
    source = Source(3 * CHUNK, 0.6)  # a READ_STEP every 0.6 s
    buffer = memoryview(bytearray(CHUNK))
    assert read_piece(source, buffer, 1.0, source.clock) == 2 * READ_STEP
    assert read_piece(source, buffer, 1.0, source.clock) == 2 * READ_STEP


def test_a_body_that_ends_gives_what_there_was() -> None:
    source = Source(READ_STEP + 5, 0.001)
    buffer = memoryview(bytearray(CHUNK))
    assert read_piece(source, buffer, 1.0, source.clock) == READ_STEP + 5
    assert read_piece(source, buffer, 1.0, source.clock) == 0
