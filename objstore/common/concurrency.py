"""The one module that imports eventlet and greenlet.

Eventlet is in maintenance mode; keeping every use of it behind these
names means it can be replaced in one place. Everything else in objstore
imports from here: green threads (``spawn``, ``GreenPool``, ``Event``), ``Timeout``,
``sleep``, ``run_blocking`` (a real OS thread for calls that block: fsync,
opens, large reads and writes, so one slow disk cannot stall a worker's
other requests; ``start_blocking`` to go on meanwhile) and sockets
(``listen``, ``green_socket``). The HTTP server itself is ours
(wsgi_server.py), on these green threads.

Eventlet warns about its own deprecation on import; that warning, and
only it, is silenced here, since the project knows and has chosen.
"""
from __future__ import annotations

import collections
import os
import socket
import warnings
from collections.abc import Callable
from typing import Any, Generic, TypeVar

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import eventlet
    import eventlet.event
    import eventlet.greenio
    import eventlet.greenpool
    import eventlet.hubs
    import eventlet.patcher
    import eventlet.timeout
    import greenlet

R = TypeVar("R")

Event = eventlet.event.Event  # one green thread tells others a result
GreenPool = eventlet.greenpool.GreenPool
Timeout = eventlet.timeout.Timeout
GreenletExit = greenlet.GreenletExit
spawn = eventlet.spawn
sleep = eventlet.sleep


def patch_process() -> None:
    """Make sockets, select, time and threads cooperative in a server
    process; call once, before the server opens anything."""
    eventlet.patcher.monkey_patch(all=False, socket=True, select=True, thread=True, time=True)


# Real threads and their queue and ids, whatever patch_process did.
_real_thread = eventlet.patcher.original("_thread")
_real_threading = eventlet.patcher.original("threading")
_real_queue = eventlet.patcher.original("queue")
DISK_THREADS = 20


class _DiskThreads:
    """The real threads that run_blocking hands calls to.

    eventlet.tpool does the same job at about 70 us of CPU a call (two
    Python-level queues with their conditions, a socket write and a hub
    wake-up per call); this costs 10 to 50: calls go in through a C
    SimpleQueue, results come back in a deque, and an eventfd wakes the
    hub, whose one green thread hands out every result that came
    meanwhile in one go."""

    def __init__(self, size: int) -> None:
        self.pid = os.getpid()
        self._calls = _real_queue.SimpleQueue()
        self._results: collections.deque[tuple[Any, bool, Any]] = collections.deque()
        self._wake = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        for number in range(size):
            _real_threading.Thread(target=self._work, name=f"disk-{number}", daemon=True).start()
        spawn(self._hand_out)

    def call(self, func: Callable[..., R], args: tuple[Any, ...], kwargs: dict[str, Any]) -> R:
        return self.start(func, args, kwargs).wait()

    def start(self, func: Callable[..., R], args: tuple[Any, ...], kwargs: dict[str, Any]
              ) -> Started[R]:
        answer = Event()
        self._calls.put((answer, func, args, kwargs))
        return Started(answer)

    def _work(self) -> None:
        while True:
            answer, func, args, kwargs = self._calls.get()
            try:
                self._results.append((answer, True, func(*args, **kwargs)))
            except BaseException as err:  # noqa: BLE001 -- raised in the caller instead
                self._results.append((answer, False, err))
            answer = func = args = kwargs = None
            os.eventfd_write(self._wake, 1)

    def _hand_out(self) -> None:
        while True:
            eventlet.hubs.trampoline(self._wake, read=True)
            try:
                os.eventfd_read(self._wake)
            except BlockingIOError:
                continue
            while self._results:
                answer, done, value = self._results.popleft()
                answer.send((done, value))


class Started(Generic[R]):
    """A call already running in a disk thread (start_blocking)."""

    def __init__(self, answer: Event) -> None:
        self._answer = answer

    def wait(self) -> R:
        """Its result (or its exception, raised here) once it is done."""
        done, value = self._answer.wait()
        if done:
            return value  # type: ignore[no-any-return]
        raise value


_disk_threads: _DiskThreads | None = None


def run_blocking(func: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """Run a call that may block the OS thread (disk I/O) in a real thread
    while other green threads go on. Only the main thread's green threads
    (a server's: its hub runs there) hand calls over; from any other
    thread (a disk thread itself, a daemon's) the call is simply made,
    and makes no pool: a pool started from another thread would take
    that thread for the hub's and run the hub's own calls in place."""
    if _real_thread.get_ident() != _real_threading.main_thread().ident:
        return func(*args, **kwargs)
    return _pool().call(func, args, kwargs)


def start_blocking(func: Callable[..., R], *args: Any, **kwargs: Any) -> Started[R]:
    """run_blocking's call, handed to a disk thread at once; the caller
    goes on and waits for it later. A green thread that only called
    run_blocking would first have to wait for the hub's turn, which a
    green thread busy sending may not give it for milliseconds. Off the
    main thread the call is made here, as by run_blocking."""
    if _real_thread.get_ident() != _real_threading.main_thread().ident:
        answer = Event()
        try:
            answer.send((True, func(*args, **kwargs)))
        except Exception as err:  # noqa: BLE001 -- raised by wait() instead
            answer.send((False, err))
        return Started(answer)
    return _pool().start(func, args, kwargs)


def _pool() -> _DiskThreads:
    global _disk_threads
    pool = _disk_threads
    if pool is None or pool.pid != os.getpid():  # none yet, or inherited by a fork
        pool = _disk_threads = _DiskThreads(DISK_THREADS)
    return pool


def listen(address: tuple[str, int], backlog: int = 4096) -> socket.socket:
    """A listening green socket with SO_REUSEADDR, for IPv4 or IPv6."""
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    return eventlet.listen(address, family=family, backlog=backlog)  # type: ignore[no-any-return]


def green_socket(sock: socket.socket) -> socket.socket:
    """A plain socket (made before fork) made cooperative for this process."""
    return eventlet.greenio.GreenSocket(sock)  # type: ignore[no-any-return]


def is_patched(module: str) -> bool:
    return bool(eventlet.patcher.is_monkey_patched(module))
