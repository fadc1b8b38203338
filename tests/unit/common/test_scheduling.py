"""scheduling.apply: the calling thread's policy, inherited by threads it starts."""
from __future__ import annotations

import logging
import os
import threading

import pytest

from objstore.common import scheduling

LOGGER = logging.getLogger("test-scheduling")


def policies_in_a_thread(policy: str) -> tuple[int, int]:
    """(the policy of a fresh thread after apply, that of a thread it starts)."""
    seen: list[int] = []

    def child() -> None:
        seen.append(os.sched_getscheduler(0))

    def parent() -> None:
        scheduling.apply(policy, LOGGER)
        seen.append(os.sched_getscheduler(0))
        started = threading.Thread(target=child)
        started.start()
        started.join()

    thread = threading.Thread(target=parent)  # the test's own thread stays as it is
    thread.start()
    thread.join()
    return seen[0], seen[1]


def test_batch_is_set_and_inherited() -> None:
    assert policies_in_a_thread("batch") == (os.SCHED_BATCH, os.SCHED_BATCH)


def test_normal_is_sched_other() -> None:
    assert policies_in_a_thread("normal") == (os.SCHED_OTHER, os.SCHED_OTHER)


def test_an_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError):
        scheduling.apply("fifo", LOGGER)


def test_a_refused_call_is_logged_not_raised(monkeypatch: pytest.MonkeyPatch,
                                             caplog: pytest.LogCaptureFixture) -> None:
    def refuse(*_: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    monkeypatch.setattr(scheduling, "_refused", set())
    with caplog.at_level(logging.WARNING, logger="test-scheduling"):
        scheduling.apply("batch", LOGGER)
    assert "scheduling = batch not applied" in caplog.text


def test_a_refusal_is_logged_once_per_process(monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    """A daemon applies its policy every pass: a sandbox that refuses it
    gets one line, not one a pass."""
    def refuse(*_: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    monkeypatch.setattr(scheduling, "_refused", set())
    with caplog.at_level(logging.WARNING, logger="test-scheduling"):
        for _ in range(3):
            scheduling.apply("batch", LOGGER)
    assert caplog.text.count("scheduling = batch not applied") == 1
