"""run_blocking and start_blocking: calls made in real threads while green threads go on."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)


def test_blocking_calls_run_in_other_threads_while_the_hub_goes_on() -> None:
    # Eight calls that each block their OS thread for 0.3 s finish in about
    # 0.3 s together, and a green thread keeps ticking meanwhile.
    done = _run_python("""
        import threading, time
        from objstore.common import concurrency
        concurrency.patch_process()
        hub = concurrency._real_thread.get_ident()
        ticks = []
        def tick():
            while True:
                ticks.append(1)
                concurrency.sleep(0.01)
        concurrency.spawn(tick)
        def block(i):
            time_module = concurrency.eventlet.patcher.original("time")
            time_module.sleep(0.3)
            return i, concurrency._real_thread.get_ident() != hub
        started = time.monotonic()
        pool = concurrency.GreenPool(8)
        results = list(pool.imap(lambda i: concurrency.run_blocking(block, i), range(8)))
        took = time.monotonic() - started
        print(results == [(i, True) for i in range(8)], took < 1.2, len(ticks) >= 10)
        """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "True"]


def test_exceptions_reach_the_caller_and_nested_calls_run_in_place() -> None:
    done = _run_python("""
        from objstore.common import concurrency
        concurrency.patch_process()
        def fails():
            raise KeyError("missing")
        try:
            concurrency.run_blocking(fails)
        except KeyError as err:
            print("raised", err.args[0], err.__traceback__ is not None)
        def outer():
            here = concurrency._real_thread.get_ident()
            return concurrency.run_blocking(lambda: concurrency._real_thread.get_ident()) == here
        print("nested", concurrency.run_blocking(outer))
        print("kwargs", concurrency.run_blocking(lambda a, b=0: a + b, 1, b=2))
        """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["raised missing True", "nested True", "kwargs 3"]


def test_many_calls_at_once_all_get_their_own_answer() -> None:
    done = _run_python("""
        from objstore.common import concurrency
        concurrency.patch_process()
        pool = concurrency.GreenPool(200)
        answers = list(pool.imap(lambda i: concurrency.run_blocking(lambda: i * i), range(5000)))
        print(answers == [i * i for i in range(5000)])
        """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True"]


def test_a_first_call_from_another_thread_runs_in_place_and_the_hub_still_hands_over() -> None:
    # A daemon's thread calling first must not become "the hub": the main
    # thread's green threads still get disk threads afterwards.
    done = _run_python("""
        from objstore.common import concurrency
        concurrency.patch_process()
        ident = concurrency._real_thread.get_ident
        seen = []
        worker = concurrency._real_threading.Thread(
            target=lambda: seen.append(concurrency.run_blocking(ident) == ident()))
        worker.start()
        worker.join()
        print("other thread in place", seen == [True], concurrency._disk_threads is None)
        print("main thread handed over", concurrency.run_blocking(ident) != ident())
        """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["other thread in place True True",
                                        "main thread handed over True"]


def test_a_started_call_runs_before_its_caller_yields_and_answers_on_wait() -> None:
    # The caller goes on without yielding to the hub (a real sleep of 0.5 s);
    # the call has run meanwhile, not only once the hub got a turn.
    done = _run_python("""
        from objstore.common import concurrency
        concurrency.patch_process()
        real_time = concurrency.eventlet.patcher.original("time")
        began = real_time.monotonic()
        started = concurrency.start_blocking(lambda: real_time.monotonic() - began)
        real_time.sleep(0.5)
        print("ran before the caller yielded", started.wait() < 0.25)
        def fails():
            raise KeyError("missing")
        failing = concurrency.start_blocking(fails)
        try:
            failing.wait()
        except KeyError as err:
            print("raised on wait", err.args[0])
        ident = concurrency._real_thread.get_ident
        seen = []
        worker = concurrency._real_threading.Thread(
            target=lambda: seen.append(concurrency.start_blocking(ident).wait() == ident()))
        worker.start()
        worker.join()
        print("other thread in place", seen == [True])
        """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["ran before the caller yielded True",
                                        "raised on wait missing", "other thread in place True"]
