"""The interpreter's own lock and sleep, for code that real OS threads run.

Eventlet's monkey patching swaps threading's locks and ``time.sleep`` for
green ones, which cannot wake a thread blocked in another OS thread (the
disk threads of ``concurrency.run_blocking``), and whose sleep yields to
another green thread. These names are bound when this module is first
imported, which every server does before it patches
(objstore.common.server._serve); a first import after that is an error,
never a silent green lock.
"""
from __future__ import annotations

import _thread
import time
from typing import Final

allocate_lock: Final = _thread.allocate_lock
sleep: Final = time.sleep
if type(allocate_lock()).__module__ != "_thread" or sleep.__module__ != "time":
    raise ImportError("objstore.common.os_threads was first imported after eventlet patched "
                      "threads; import it before concurrency.patch_process()")
