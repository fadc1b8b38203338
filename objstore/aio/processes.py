"""Starting, watching and stopping the cluster's server processes.

* Each server runs in its own session, so its pid is its process group
  id: one signal reaches its supervisor and its workers together, and a
  Ctrl-C in the terminal reaches only objstore-aio, which then stops the
  servers itself.
* ``run/<server>.pid`` names each running server. A pid read from a file
  is signalled only while that process's command line names the server's
  config file, so a stale file after a reboot never hits a stranger.
* Stopping: SIGTERM to every group at once (the servers finish requests
  in flight), then SIGKILL to any group still there after the timeout.
  A group counts as gone when none of its processes is left but zombies
  (a detached server's zombie is its new parent's to reap).
"""
from __future__ import annotations

import http.client
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

from objstore.aio.layout import IP, DaemonProcess, DataDir, Server

STOP_SECONDS: Final = 15.0
KILL_SECONDS: Final = 5.0
_HAVE_PROC: Final = Path("/proc/self/stat").exists()  # Linux: zombies and command lines


def command(server: Server | DaemonProcess) -> list[str]:
    """The server's (or daemon's) console script or, before it is
    installed, its main()."""
    name = server.daemon if isinstance(server, DaemonProcess) else f"{server.kind}-server"
    script = shutil.which(f"objstore-{name}")
    if script:
        return [script]
    return [sys.executable, "-c", f"from {server.module} import main; main()"]


def available(server: Server) -> bool:
    """Whether this installation has the server at all (the proxy is new)."""
    if shutil.which(f"objstore-{server.kind}-server"):
        return True
    try:
        return importlib.util.find_spec(server.module) is not None
    except ImportError:
        return False


def port_in_use(port: int) -> bool:
    """Whether a server could not listen on the port (as the servers
    bind: with SO_REUSEADDR, so connections in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((IP, port))
        except OSError:
            return True
    return False


def spawn(data: DataDir, server: Server | DaemonProcess,
          once: bool = False) -> subprocess.Popen[bytes]:
    """Start the server (or daemon) in its own session; its output goes to
    its log, its pid to its pid file. ``once``: a daemon's single pass,
    which has no pid file (a running daemon of the same name keeps its)."""
    log = open(data.log_file(server), "ab")
    try:
        proc = subprocess.Popen([*command(server), str(data.conf(server)),
                                 *(["--once"] if once else [])], cwd=data.root,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True)
    finally:
        log.close()
    if once:
        return proc
    pid_file = data.pid_file(server)
    partial = pid_file.with_name(pid_file.name + ".new")
    partial.write_text(f"{proc.pid}\n", encoding="ascii")
    partial.replace(pid_file)  # a reader sees no file or the whole pid
    return proc


def answers(server: Server, timeout: float = 1.0) -> bool:
    """Storage servers answer 400 to ``GET /``; the proxy 200 to
    ``GET /healthcheck``."""
    path, expected = ("/", 400) if server.is_storage else ("/healthcheck", 200)
    conn = http.client.HTTPConnection(IP, server.port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": "objstore-aio"})
        response = conn.getresponse()
        response.read()
        return response.status == expected
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


# -- pid files and processes -------------------------------------------------

def read_pid(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() and int(text) > 1 else None


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name: state, ppid, pgrp, ..."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return raw[raw.rfind(")") + 2:].split()


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    if not _HAVE_PROC:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def is_server(pid: int, conf: Path) -> bool:
    """The pid is alive and runs with ``conf`` on its command line."""
    if not alive(pid):
        return False
    if not _HAVE_PROC:
        return True  # nothing to check against: trust the pid file
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return os.fsencode(str(conf)) in args


def running_pid(data: DataDir, server: Server | DaemonProcess) -> int | None:
    """The server's pid when its pid file names it and it is alive."""
    pid = read_pid(data.pid_file(server))
    return pid if pid is not None and is_server(pid, data.conf(server)) else None


def group_alive(pgid: int) -> bool:
    """Some process of the group is left, zombies aside."""
    if not _HAVE_PROC:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and fields[2] == str(pgid) and fields[0] != "Z":
                return True
    return False


def signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass  # gone already, or (after pid reuse) not ours to signal


def stop_groups(pgids: Iterable[int], timeout: float = STOP_SECONDS,
                children: Sequence[subprocess.Popen[bytes]] = ()) -> list[int]:
    """SIGTERM every group, wait, SIGKILL what is left; returns the
    groups that had to be killed. ``children`` (our own) are reaped."""
    pending = [pgid for pgid in pgids if group_alive(pgid)]
    for pgid in pending:
        signal_group(pgid, signal.SIGTERM)
    pending = _wait_groups(pending, timeout, children)
    for pgid in pending:
        signal_group(pgid, signal.SIGKILL)
    if pending:
        _wait_groups(pending, KILL_SECONDS, children)
    for child in children:
        try:
            child.wait(timeout=KILL_SECONDS)
        except subprocess.TimeoutExpired:
            pass
    return pending


def _wait_groups(pgids: list[int], timeout: float,
                 children: Sequence[subprocess.Popen[bytes]]) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        for child in children:
            child.poll()  # reap as they go
        pgids = [pgid for pgid in pgids if group_alive(pgid)]
        if not pgids or time.monotonic() > deadline:
            return pgids
        time.sleep(0.05)


def last_line(path: Path) -> str:
    """The last line of a log, for a one-line report of a failure."""
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, os.fstat(handle.fileno()).st_size - 4096))
            lines = handle.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""
