"""Group commit of pending-file appends: threads share a write and an fsync.

Each append here goes through a broker of its own, opened and closed
around one put, as the account and container servers do per request.
"""
from __future__ import annotations

import errno
import fcntl
import functools
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from objstore.common import db_pending
from objstore.common.db import BrokerStatistics, DatabaseLockTimeout
from objstore.common.timestamp import Timestamp

from .test_db import NoteBroker

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def path(tmp_path: Path) -> Iterator[str]:
    made = NoteBroker(str(tmp_path / "part" / "notes.db"))
    made.initialize(Timestamp(100), owner="alice")
    made.close()
    yield made.path
    assert db_pending._lines == {}  # nothing left waiting, nothing kept


def put_alone(path: str, name: str, stamp: float, **options: Any) -> BrokerStatistics:
    """One put through a broker of its own; what that broker did."""
    with NoteBroker(path, **options) as broker:
        broker.put_note(name, stamp)
        return broker.statistics()


def in_threads(count: int, target: Callable[[int], Any]) -> list[Any]:
    """``target(i)`` in ``count`` threads started together; each result,
    or the exception it raised."""
    start = threading.Barrier(count)
    outcomes: list[Any] = [None] * count

    def run(i: int) -> None:
        start.wait()
        try:
            outcomes[i] = target(i)
        except Exception as err:  # noqa: BLE001 -- the test looks at it
            outcomes[i] = err

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive(), "a caller never returned"
    return outcomes


def in_a_thread(call: Callable[[], Any]) -> Callable[[], Any]:
    """Start ``call`` in a thread; the returned function waits for what it
    returned or raised."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as err:  # noqa: BLE001 -- the test looks at it
            outcome.append(err)

    thread = threading.Thread(target=run)
    thread.start()

    def wait() -> Any:
        thread.join(30)
        assert not thread.is_alive(), "a caller never returned"
        return outcome[0]

    return wait


def pending_fsyncs(monkeypatch: pytest.MonkeyPatch,
                   before: Callable[[int], None] = lambda call: None) -> list[int]:
    """Record each fsync of a pending file (``before(call number)`` runs
    first, and may wait or raise); the list grows with each one done."""
    done: list[int] = []
    calls = iter(range(1, 1_000_000))
    real = os.fsync

    def fsync(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".pending"):
            call = next(calls)
            before(call)
            real(fd)
            done.append(call)
        else:
            real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return done


def batch_size(path: str) -> int:
    """Frames in the batch now open for ``path`` (0 if none)."""
    with db_pending._mutex:
        line = db_pending._lines.get(path + ".pending")
        return len(line.open.frames) if line is not None and line.open is not None else 0


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_a_single_caller_writes_alone_and_at_once(path: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    fsyncs = pending_fsyncs(monkeypatch)
    started = time.monotonic()
    for i in range(20):
        put_alone(path, f"n{i:02d}", i + 1)
    assert time.monotonic() - started < 5  # nobody waited for a batch that never comes
    assert len(fsyncs) == 20
    with NoteBroker(path) as reader:
        assert len(reader.notes()) == 20


def test_appends_at_once_share_writes_and_fsyncs(path: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    fsyncs = pending_fsyncs(monkeypatch, lambda call: time.sleep(0.1))  # a slow disk
    outcomes = in_threads(16, lambda i: put_alone(path, f"n{i:02d}", i + 1))
    assert all(isinstance(stats, BrokerStatistics) for stats in outcomes), outcomes
    # The first leader writes alone; the other 15 arrive during its fsync.
    assert len(fsyncs) <= 4
    with NoteBroker(path) as reader:
        assert len(reader.notes()) == 16 == reader.get_info()["note_count"]


def test_many_threads_with_merges_between_land_exactly_once(path: str) -> None:
    writers, each = 12, 40
    stop = threading.Event()
    merged = []

    def merge_meanwhile() -> None:
        with NoteBroker(path) as merger:
            while not stop.is_set():
                merger.get_info()  # a read merges whatever is pending
            merged.append(merger.statistics())

    merger = threading.Thread(target=merge_meanwhile)
    merger.start()
    try:
        # A small cap: the leaders merge too, between other threads' batches.
        outcomes = in_threads(writers, lambda w: [
            put_alone(path, f"w{w:02d}-{i:03d}", i + 1, pending_cap=600) for i in range(each)])
    finally:
        stop.set()
        merger.join(30)
    stats = [s for result in outcomes for s in result] + merged
    with NoteBroker(path) as reader:
        assert len(reader.notes()) == writers * each == reader.get_info()["note_count"]
        stats.append(reader.statistics())
    # Every record was merged once: none lost, none applied twice.
    assert sum(s.records_merged for s in stats) == writers * each
    assert sum(s.rows_changed for s in stats) == writers * each
    assert os.path.getsize(path + ".pending") == 0


@pytest.mark.parametrize(("failing", "error"), [("write", errno.ENOSPC), ("fsync", errno.EIO)])
def test_a_failed_batch_raises_in_each_of_its_callers_and_loses_nothing_acknowledged(
        path: str, monkeypatch: pytest.MonkeyPatch, failing: str, error: int) -> None:
    put_alone(path, "before", 1)
    first_written = threading.Event()
    go_on = threading.Event()

    def first_waits_second_fails(call: int) -> None:
        if call == 1:  # the first append, at its fsync
            first_written.set()
            assert go_on.wait(10)
        elif call == 2 and failing == "fsync":
            raise OSError(error, os.strerror(error))

    pending_fsyncs(monkeypatch, first_waits_second_fails)
    real_write = os.write

    def write(fd: int, data: Any) -> int:
        if failing == "write" and go_on.is_set() and b"second" in bytes(data):
            raise OSError(error, os.strerror(error))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)

    first = in_a_thread(lambda: put_alone(path, "first", 2))
    assert first_written.wait(10)
    second = [in_a_thread(functools.partial(put_alone, path, f"second{i}", 3))
              for i in range(6)]
    wait_for(lambda: batch_size(path) == 6)  # one batch behind the first
    go_on.set()
    assert isinstance(first(), BrokerStatistics)
    for outcome in (wait() for wait in second):
        assert isinstance(outcome, OSError) and outcome.errno == error
    put_alone(path, "after", 4)  # the file takes appends again
    with NoteBroker(path) as reader:
        notes = reader.notes()
    assert {"before", "first", "after"} <= set(notes)
    if failing == "write":
        assert not any(name.startswith("second") for name in notes)


def test_a_lock_held_elsewhere_times_out_every_caller(path: str) -> None:
    put_alone(path, "before", 1)
    fd = os.open(path + ".pending", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another process, merging slowly
    try:
        outcomes = in_threads(5, lambda i: put_alone(path, f"n{i}", 2, lock_timeout=0.2))
    finally:
        os.close(fd)
    assert all(isinstance(outcome, DatabaseLockTimeout) for outcome in outcomes), outcomes
    put_alone(path, "after", 3)
    with NoteBroker(path) as reader:
        assert set(reader.notes()) == {"before", "after"}


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)


def test_green_threads_through_the_disk_pool_under_eventlet(path: str) -> None:
    # As a server worker runs: monkey patched, each request's database work
    # in a real thread of the pool, many at once.
    done = _run_python(f"""
        from objstore.common import concurrency
        from objstore.common.timestamp import Timestamp
        from tests.unit.common.test_db import NoteBroker
        concurrency.patch_process()

        def put(i):
            with NoteBroker({path!r}) as broker:
                broker.put_note("g%04d" % i, i + 1)

        pool = concurrency.GreenPool(64)
        for i in range(600):
            pool.spawn(concurrency.run_blocking, put, i)
        pool.waitall()
        with NoteBroker({path!r}) as reader:
            print(len(reader.notes()), reader.get_info()["note_count"])
        """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["600", "600"]


def test_importing_after_eventlet_patched_threads_is_refused() -> None:
    done = _run_python("""
        from objstore.common import concurrency
        concurrency.patch_process()
        import objstore.common.db_pending
        """)
    assert done.returncode != 0
    assert "imported after eventlet patched threads" in done.stderr
