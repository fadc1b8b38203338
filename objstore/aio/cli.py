"""objstore-aio's commands: start, stop, status, once.

``start`` runs every node's daemons (``layout.DAEMONS``) beside its
servers, once the servers answer; ``once`` runs one pass of the named
daemons (all by default) on every node, nodes in parallel and daemons
one after the other in the order given, whether the cluster runs or not.

Exit codes: 0 done; 1 a warning (start: the proxy is not installed, so
only the storage servers run; stop: a server had to be killed; status:
not every server is up or a daemon is not running; once: a pass did not
go through cleanly); 2 an error, one line on stderr (a port in use, a
server that would not start: then nothing is left running).
"""
from __future__ import annotations

import argparse
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Final

from objstore.aio import processes
from objstore.aio.files import USERS, add_daemon_sections, configured_servers, prepare
from objstore.aio.layout import (
    DAEMONS, DEFAULT_PORT, IP, DaemonProcess, DataDir, Server, check_port, default_data_dir,
    plan_daemons, plan_servers,
)
from objstore.common.config import ConfigError
from objstore.daemons.recon import read_recon, recon_path
from objstore.daemons.runner import counts_text
from ring.exceptions import RingError

START_SECONDS: Final = 60.0
COMMANDS: Final = ("start", "stop", "status", "once")
Process = Server | DaemonProcess


def main(argv: list[str] | None = None) -> None:
    sys.exit(run(sys.argv[1:] if argv is None else argv))


def run(argv: list[str]) -> int:
    args = parse_args(argv)
    data = DataDir(Path(args.data_dir).expanduser().resolve())
    command = {"start": start, "stop": stop, "status": status, "once": once}[args.command]
    try:
        return command(data, args)
    except (ConfigError, RingError, OSError) as err:
        return fail(str(err))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="objstore-aio",
        description="A whole objstore cluster on 127.0.0.1: a proxy, four storage nodes "
                    "and the image service.")
    commands = parser.add_subparsers(dest="command", metavar="{start,stop,status}")
    helps = {"start": "set up (first time) and start the cluster; the default command",
             "stop": "stop a cluster started with --detach (or from another terminal)",
             "status": "each server: pid, port and whether it answers",
             "once": "run one pass of the named daemons on every node and return "
                     f"(default: all of {', '.join(DAEMONS)})"}
    for name in COMMANDS:
        sub = commands.add_parser(name, help=helps[name], description=helps[name])
        sub.add_argument("--data-dir", metavar="DIR", default=str(default_data_dir()),
                         help="the cluster's directory (default: $OBJSTORE_AIO_DIR or "
                              "./objstore-data)")
        if name == "start":
            sub.add_argument("--port", type=_port, default=None,
                             help=f"the proxy's port (default {DEFAULT_PORT}, or the one the "
                                  "directory was set up with); storage servers use "
                                  "port + 1000 to port + 1032, the image server "
                                  "port + 1212")
            sub.add_argument("--detach", action="store_true",
                             help="return once the cluster answers, leaving it running")
            sub.add_argument("--no-daemons", action="store_true",
                             help="the servers only, no background daemons (for benchmarks)")
        if name == "once":
            sub.add_argument("daemons", nargs="*", metavar="DAEMON",
                             help=f"one of {', '.join(DAEMONS)}")
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["start", *argv]  # start is the default command
    return parser.parse_args(argv)


def _port(text: str) -> int:
    try:
        return check_port(int(text))
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err) if text.strip().isdigit()
                                         else f"{text!r} is not a port number") from None


def say(text: str, error: bool = False) -> None:
    try:
        print(text, file=sys.stderr if error else sys.stdout, flush=True)
    except OSError:
        pass  # the terminal went away; carry on stopping


def fail(text: str) -> int:
    say(f"objstore-aio: {text}", error=True)
    return 2


# -- start -----------------------------------------------------------------------

def start(data: DataDir, args: argparse.Namespace) -> int:
    servers = configured_servers(data)
    if servers is None:
        servers = plan_servers(args.port or DEFAULT_PORT)
    elif args.port is not None and args.port != proxy_of(servers).port:
        return fail(f"{data.root} was set up with --port {proxy_of(servers).port}; start it "
                    "with that port, or use another --data-dir")
    wanted = [server for server in servers if processes.available(server)]
    missing = [server for server in servers if server not in wanted]
    running = [server for server in servers if processes.running_pid(data, server)]
    if running:
        if running != wanted:
            return fail(f"part of the cluster under {data.root} runs already "
                        f"({', '.join(s.name for s in running)}); stop it first: "
                        f"{stop_command(data)}")
        say(f"objstore-aio: the cluster under {data.root} runs already")
        banner(data, servers, missing, detached=True)
        return 1 if missing else 0
    busy = [server for server in wanted if processes.port_in_use(server.port)]
    if busy:
        more = f" (and {len(busy) - 1} more of the cluster's ports)" if len(busy) > 1 else ""
        return fail(f"port {busy[0].port} ({busy[0].name}) is already in use{more}")
    prepare(data, servers)
    for server in servers:
        data.pid_file(server).unlink(missing_ok=True)  # stale: checked above
    return launch(data, servers, wanted, missing, args.detach, not args.no_daemons)


def launch(data: DataDir, servers: list[Server], wanted: list[Server], missing: list[Server],
           detach: bool, daemons: bool = True) -> int:
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    children: dict[Process, subprocess.Popen[bytes]] = {}
    detached = False
    try:
        for server in wanted:
            children[server] = processes.spawn(data, server)
        problem = wait_ready(data, {server: children[server] for server in wanted})
        if problem:
            return fail(problem)
        for daemon in plan_daemons(wanted) if daemons else []:
            children[daemon] = processes.spawn(data, daemon)
        banner(data, servers, missing, detach, daemons)
        if detach:
            detached = True
            return 1 if missing else 0
        return 0 if watch(data, children) else 1
    except KeyboardInterrupt:
        say("objstore-aio: stopping")
        return 0
    finally:
        if not detached:  # whatever happened, nothing is left running
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(signum, signal.SIG_IGN)
            shut_down(data, children)


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def wait_ready(data: DataDir, children: dict[Server, subprocess.Popen[bytes]],
               timeout: float = START_SECONDS) -> str | None:
    """None once every server answers; else what went wrong, in one line."""
    deadline = time.monotonic() + timeout
    waiting = list(children)
    while waiting:
        for server in list(waiting):
            child = children[server]
            if child.poll() is not None:
                return f"{server.name} failed to start: {ended(data, server, child)}"
            if processes.answers(server):
                waiting.remove(server)
        if waiting and time.monotonic() > deadline:
            return (f"{', '.join(s.name for s in waiting)} did not answer within "
                    f"{timeout:g} s (logs in {data.log})")
        time.sleep(0.1)
    return None


def watch(data: DataDir, children: dict[Process, subprocess.Popen[bytes]]) -> bool:
    """Until every child is gone: report each that dies. A child whose
    pid file is gone was stopped by ``objstore-aio stop``. Returns False
    when some died on their own."""
    gone: set[Process] = set()
    died = False
    while len(gone) < len(children):
        for server, child in children.items():
            if server in gone or child.poll() is None:
                continue
            gone.add(server)
            if data.pid_file(server).exists():  # left for `status` to call dead
                died = True
                say(f"objstore-aio: {server.name} (pid {child.pid}) "
                    f"{ended(data, server, child)}", error=True)
        time.sleep(0.2)
    say("objstore-aio: every server has stopped")
    return not died


def ended(data: DataDir, server: Process, child: subprocess.Popen[bytes]) -> str:
    """How a child ended, in a few words: its signal, or its status and
    the last line of its log."""
    code = child.returncode
    if code is not None and code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    last = processes.last_line(data.log_file(server))
    return f"exited with status {code}" + (f": {last}" if last else "")


def shut_down(data: DataDir, children: dict[Process, subprocess.Popen[bytes]]) -> None:
    """The proxy and the daemons first (they may finish work with the
    storage servers), then the storage servers; pid files go first so no
    watcher reports these exits as deaths."""
    for server in children:
        data.pid_file(server).unlink(missing_ok=True)
    for front in (True, False):
        group = [child for server, child in children.items() if server.is_storage != front]
        processes.stop_groups([child.pid for child in group], children=group)


def proxy_of(servers: list[Server]) -> Server:
    return next(server for server in servers if server.kind == "proxy")


def stop_command(data: DataDir) -> str:
    return f"objstore-aio stop --data-dir {shlex.quote(str(data.root))}"


def banner(data: DataDir, servers: list[Server], missing: list[Server], detached: bool,
           daemons: bool = True) -> None:
    storage = [server.port for server in servers if server.is_storage]
    nodes = f"{len(storage) // 3} nodes on {IP}, ports {min(storage)}-{max(storage)}"
    stop_hint = stop_command(data) if detached else f"Ctrl-C, or {stop_command(data)}"
    if any(server.kind == "proxy" for server in missing):
        say(f"objstore-aio: storage servers running under {data.root}, but no proxy: "
            f"{proxy_of(servers).module} is not installed yet")
        say(f"  storage:   {nodes}\n  logs:      {data.log}\n  stop:      {stop_hint}")
        return
    auth = f"http://{IP}:{proxy_of(servers).port}/auth/v1.0"
    account, user, key, _ = USERS[0]
    others = ", ".join(f"{a}:{u}/{k}" + (f" ({g})" if g else "") for a, u, k, g in USERS[1:])
    images = [server for server in servers if server.kind == "image" and server not in missing]
    image_line = (f"  images:    http://{IP}:{images[0].port}  (Glance v2 API: glance "
                  f"--os-image-url http://{IP}:{images[0].port} --os-auth-token TOKEN "
                  "image-list)\n" if images else "")
    say(f"objstore-aio: cluster running under {data.root}\n"
        f"  auth URL:  {auth}\n"
        f"  user:      {account}:{user}   key: {key}\n"
        f"  swift -A {auth} -U {account}:{user} -K {key} stat\n"
        f"  others:    {others}\n"
        f"{image_line}"
        f"  storage:   {nodes}\n"
        f"  daemons:   {', '.join(DAEMONS) + ' on every node' if daemons else 'none'}; "
        "a pass now: objstore-aio once\n"
        f"  logs:      {data.log}\n"
        f"  stop:      {stop_hint}")


# -- stop and status ---------------------------------------------------------------

def _set_up(data: DataDir) -> list[Server] | None:
    servers = configured_servers(data)
    if servers is None:
        fail(f"no cluster under {data.root} (objstore-aio start --data-dir DIR sets one up)")
    return servers


def stop(data: DataDir, args: argparse.Namespace) -> int:
    servers = _set_up(data)
    if servers is None:
        return 2
    pids: dict[Process, int] = {}
    processes_of: list[Process] = [*servers, *plan_daemons(servers)]
    for server in processes_of:
        pid = processes.running_pid(data, server)
        data.pid_file(server).unlink(missing_ok=True)
        if pid is not None:
            pids[server] = pid
    if not pids:
        say(f"objstore-aio: nothing runs under {data.root}")
        return 0
    killed = []
    for front in (True, False):
        killed += processes.stop_groups(
            [pid for server, pid in pids.items() if server.is_storage != front])
    daemons = sum(isinstance(server, DaemonProcess) for server in pids)
    say(f"objstore-aio: stopped {len(pids) - daemons} servers "
        f"{f'and {daemons} daemons ' if daemons else ''}under {data.root}")
    if killed:
        names = [server.name for server, pid in pids.items() if pid in killed]
        say(f"objstore-aio: killed {', '.join(names)} after {processes.STOP_SECONDS:g} s",
            error=True)
        return 1
    return 0


def status(data: DataDir, args: argparse.Namespace) -> int:
    servers = _set_up(data)
    if servers is None:
        return 2
    say(f"objstore-aio: cluster under {data.root}")
    say(f"  {'server':<20} {'pid':>8} {'port':>6}  state")
    up = 0
    for server in servers:
        pid = processes.read_pid(data.pid_file(server))
        if pid is None:
            state = "stopped" if processes.available(server) else "not installed"
        elif not processes.is_server(pid, data.conf(server)):
            state = f"dead (see {data.log_file(server)})"
        elif processes.answers(server):
            state, up = "up", up + 1
        else:
            state = "not answering"
        say(f"  {server.name:<20} {pid or '-':>8} {server.port:>6}  {state}")
    daemons = plan_daemons(servers)
    running = 0
    for daemon in daemons:
        pid = processes.read_pid(data.pid_file(daemon))
        if pid is None:
            state = "stopped"
        elif not processes.is_server(pid, data.conf(daemon)):
            state = f"dead (see {data.log_file(daemon)})"
        else:
            state, running = "running", running + 1
        say(f"  {daemon.name:<20} {pid or '-':>8} {'-':>6}  {state}")
    return 0 if up == len(servers) and running == len(daemons) else 1


# -- once ---------------------------------------------------------------------------

def once(data: DataDir, args: argparse.Namespace) -> int:
    servers = _set_up(data)
    if servers is None:
        return 2
    unknown = [name for name in args.daemons if name not in DAEMONS]
    if unknown:
        return fail(f"no daemon {unknown[0]!r} (there are: {', '.join(DAEMONS)})")
    for server in servers:
        if server.is_storage:
            add_daemon_sections(data, server)  # a directory set up before the daemon
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    worst = 0
    for name in args.daemons or list(DAEMONS):
        daemons = plan_daemons(servers, [name])
        children = {daemon: processes.spawn(data, daemon, once=True) for daemon in daemons}
        try:
            for child in children.values():
                child.wait()
        except KeyboardInterrupt:
            say("objstore-aio: stopping the passes")
            processes.stop_groups([child.pid for child in children.values()],
                                  children=list(children.values()))
            return 1
        for daemon, child in children.items():
            say(pass_summary(data, daemon, child.returncode))
            worst = max(worst, child.returncode if child.returncode in (0, 1) else 2)
    return worst


def pass_summary(data: DataDir, daemon: DaemonProcess, code: int) -> str:
    """One line: what the daemon's pass did, from its node's recon cache."""
    server_type = DAEMONS[daemon.daemon][0]
    entry = read_recon(recon_path(str(data.recon(daemon.node)), server_type)).get(
        daemon.daemon, {})
    last = entry.get("last_pass") or {}
    text = f"objstore-aio: {daemon.name}: "
    if last:
        text += f"{counts_text(last.get('counts', {}))} in {last.get('duration', 0):.2f} s"
    if code != 0:
        text += ("; " if last else "") + f"exit status {code} (see {data.log_file(daemon)})"
    return text
