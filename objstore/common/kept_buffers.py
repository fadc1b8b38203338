"""Body buffers kept from one request for the next.

A new buffer of a few MiB costs more than the bytes it holds: it is
zeroed and faulted in a page at a time (a fifth of the proxy's CPU on
1 MiB PUTs, py-spy), and freed again with the request. A worker keeps a
few instead. Only the pages a body touched are memory, so keeping a
4 MiB buffer that served 1 MiB bodies costs 1 MiB.

deque's append and pop are atomic, so green threads and disk threads
may share one without a lock.
"""
from __future__ import annotations

import collections


class KeptBuffers:
    """Up to ``keep`` bytearrays of ``size`` bytes, handed out and taken back."""

    def __init__(self, size: int, keep: int) -> None:
        self.size = size
        self.keep = keep
        self._kept: collections.deque[bytearray] = collections.deque()

    def take(self) -> bytearray:
        try:
            return self._kept.pop()
        except IndexError:
            return bytearray(self.size)

    def give_back(self, buffer: bytearray) -> None:
        """Once nothing that matters reads or writes ``buffer`` any more."""
        if len(self._kept) < self.keep and len(buffer) == self.size:
            self._kept.append(buffer)
