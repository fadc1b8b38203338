"""Running a WSGI server: bind, pre-forked workers, signals, access log.

    run_wsgi_server("object-server", conf_path, "app:object-server",
                    ObjectServerConfig, make_app)

* The parent reads the config once (a bad value: one line on stderr, exit
  2; a server's ``check`` looks further, e.g. at the proxy's filters), binds the listening socket, and forks ``workers`` children that
  share it. It never serves requests and never loads eventlet's patches,
  so it stays a plain, simple process supervisor.
* Each worker patches itself for eventlet, builds the app from the
  config, wraps it in the access log (unless the app logs its own, as the
  proxy's proxy_logging filter does) and serves up to ``max_clients``
  requests at once. A worker whose parent is gone exits by itself.
* SIGTERM or SIGINT to the parent: every worker stops accepting, finishes
  the requests it has (up to ``graceful_shutdown_timeout`` seconds, then
  it is killed), and the parent exits 0.
* SIGHUP to the parent: reload. The config is read again; if it is valid,
  (and passes ``check``), a new set of workers starts with it and the old
  ones stop gracefully,
  so no request is refused. An invalid config is logged and the running
  workers carry on. The listening address cannot change on reload.
* A worker that dies is replaced (at most once a second per slot).
* ``workers = 0`` serves in the parent process itself (for debugging).
* ``scheduling``: each worker puts itself under Linux's batch scheduling
  unless told ``normal`` (see scheduling.py for why).
"""
from __future__ import annotations

import dataclasses
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

from objstore.common import scheduling
from objstore.common.access_log import AccessLog
from objstore.common.config import ConfigError, ConfigFile, option
from objstore.common.http import WSGIApp
from objstore.common.logs import LEVELS, get_logger
from objstore.common.policies import ClusterConfig, load_cluster_config
from ring.hashing import set_hash_path_secret

C = TypeVar("C", bound="ServerConfig")
AppMaker = Callable[[Any, logging.Logger], WSGIApp]
# Raises ConfigError for what the schema cannot see (the proxy's pipeline).
ConfigCheck = Callable[[Any, logging.Logger], None]


@dataclasses.dataclass(frozen=True)
class Hooks:
    """A server's say in how it runs."""

    check: ConfigCheck | None = None
    access_log: bool = True


@dataclasses.dataclass(frozen=True)
class ServerConfig:
    """Options every server has; a server's own config extends it."""

    bind_ip: str = option("127.0.0.1", "address to listen on (0.0.0.0 or :: for all)")
    bind_port: int = option(8080, "port to listen on", minimum=1, maximum=65535)
    workers: int = option(2, "pre-forked worker processes; 0 serves in the main process",
                          minimum=0, maximum=256)
    max_clients: int = option(1024, "requests one worker serves at once", minimum=1)
    backlog: int = option(4096, "connections the kernel queues before accepting", minimum=1)
    client_timeout: float = option(60.0, "seconds a client may stay silent mid-request",
                                   minimum=0.1)
    graceful_shutdown_timeout: float = option(
        30.0, "seconds a stopping worker may take to finish its requests", minimum=0)
    log_level: str = option("INFO", "least severe log level written", choices=LEVELS)
    log_file: str = option("", "file to append logs to; empty for standard error")
    scheduling: str = option("batch", "Linux scheduling policy of the workers' threads: batch "
                             "(a thread that wakes waits for the running one; less CPU under "
                             "load) or normal", choices=scheduling.POLICIES)


def run_wsgi_server(name: str, conf_path: str, section: str, schema: type[C],
                    make_app: AppMaker, hooks: Hooks = Hooks()) -> int:
    """Run a server until SIGTERM; returns the process exit code."""
    try:
        conf, warnings = ConfigFile(conf_path).load(section, schema)
    except ConfigError as err:
        print(f"{name}: {err}", file=sys.stderr)
        return 2
    logger = get_logger(name, conf.log_level, conf.log_file)
    for warning in warnings:
        logger.warning(warning)
    try:
        if hooks.check is not None:
            hooks.check(conf, logger)
    except ConfigError as err:
        print(f"{name}: {err}", file=sys.stderr)
        return 2
    try:
        sock = _bind(conf)
    except OSError as err:
        print(f"{name}: cannot listen on {conf.bind_ip}:{conf.bind_port}: {err.strerror}",
              file=sys.stderr)
        return 2
    logger.info("listening on %s:%d with %d workers", conf.bind_ip, conf.bind_port, conf.workers)
    if conf.workers == 0:
        _serve(sock, conf, make_app, logger, parent=None, access_log=hooks.access_log)
        return 0
    return Supervisor(name, conf_path, section, schema, make_app, sock, conf, logger,
                      hooks).run()


def server_main(name: str, schema: type[C], make_app: AppMaker) -> None:
    """``objstore-<name> <conf>``: the server's section is ``[app:<name>]``."""
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print(f"usage: objstore-{name} <config file>", file=sys.stderr)
        sys.exit(2)
    sys.exit(run_wsgi_server(name, sys.argv[1], f"app:{name}", schema, make_app))


def install_cluster(cluster_conf: str, logger: logging.Logger) -> ClusterConfig:
    """Read the cluster file in a worker: log its warnings and install the
    hash path secret that places every name."""
    cluster, warnings = load_cluster_config(cluster_conf)
    for warning in warnings:
        logger.warning(warning)
    set_hash_path_secret(cluster.hash_path_prefix, cluster.hash_path_suffix)
    return cluster


def _bind(conf: ServerConfig) -> socket.socket:
    family = socket.AF_INET6 if ":" in conf.bind_ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((conf.bind_ip, conf.bind_port))
    sock.listen(conf.backlog)
    return sock


def _serve(sock: socket.socket, conf: ServerConfig, make_app: AppMaker,
           logger: logging.Logger, parent: int | None, access_log: bool = True) -> None:
    """A worker's life: serve until SIGTERM, then finish in-flight requests."""
    def stop(*_: Any) -> None:
        raise SystemExit(0)  # eventlet's server stops accepting and drains

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN if parent else stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN if parent else stop)
    scheduling.apply(conf.scheduling, logger)  # before any thread: they inherit it
    from objstore.common import concurrency  # eventlet only in workers

    concurrency.patch_process()
    app = make_app(conf, logger)
    if access_log:
        app = AccessLog(app, logger)
    if parent is not None:
        concurrency.spawn(_exit_with_parent, parent)
    from objstore.common import wsgi_server

    wsgi_server.serve(concurrency.green_socket(sock), app, logger, pool_size=conf.max_clients,
                      client_timeout=conf.client_timeout)


def _exit_with_parent(parent: int) -> None:
    from objstore.common import concurrency

    while os.getppid() == parent:
        concurrency.sleep(1.0)
    os._exit(0)  # orphaned: nobody would ever stop us


class Supervisor:
    """The parent process: keeps ``workers`` children serving."""

    def __init__(self, name: str, conf_path: str, section: str, schema: type[C],
                 make_app: AppMaker, sock: socket.socket, conf: ServerConfig,
                 logger: logging.Logger, hooks: Hooks = Hooks()) -> None:
        self.name, self.conf_path, self.section, self.schema = name, conf_path, section, schema
        self.make_app = make_app
        self.hooks = hooks
        self.sock = sock
        self.conf = conf
        self.logger = logger
        self.current: dict[int, float] = {}   # pid -> start time, serving now
        self.retiring: dict[int, float] = {}  # pid -> time told to stop
        self.stopping = False
        self.reloading = False

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)
        for _ in range(self.conf.workers):
            self._fork()
        while not self.stopping:
            self._reap()
            if self.reloading:
                self.reloading = False
                self._reload()
            while len(self.current) < self.conf.workers and not self.stopping:
                self._fork(throttle=True)
            self._kill_overdue()
            time.sleep(0.1)
        self._shutdown()
        return 0

    def _on_stop(self, *_: Any) -> None:
        self.stopping = True

    def _on_reload(self, *_: Any) -> None:
        self.reloading = True

    def _fork(self, throttle: bool = False) -> None:
        if throttle:
            time.sleep(1.0)  # a worker that keeps dying must not spin the CPU
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                _serve(self.sock, self.conf, self.make_app, self.logger, parent,
                       self.hooks.access_log)
            except SystemExit:
                pass
            except BaseException:
                self.logger.exception("worker failed")
                code = 1
            finally:
                logging.shutdown()
                os._exit(code)
        self.current[pid] = time.monotonic()

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.current.pop(pid, None) is not None and not self.stopping:
                self.logger.error("worker %d exited unexpectedly (status %d); replacing it",
                                  pid, status)
            self.retiring.pop(pid, None)

    def _retire(self, pids: list[int]) -> None:
        now = time.monotonic()
        for pid in pids:
            self.current.pop(pid, None)
            self.retiring[pid] = now
            _signal(pid, signal.SIGTERM)

    def _kill_overdue(self) -> None:
        deadline = self.conf.graceful_shutdown_timeout
        for pid, since in list(self.retiring.items()):
            if time.monotonic() - since > deadline:
                self.logger.warning("worker %d did not stop in %.0fs; killing it", pid, deadline)
                _signal(pid, signal.SIGKILL)
                self.retiring[pid] = float("inf")  # killed once; reaped later

    def _reload(self) -> None:
        try:
            conf, warnings = ConfigFile(self.conf_path).load(self.section, self.schema)
            if self.hooks.check is not None:
                self.hooks.check(conf, self.logger)
        except ConfigError as err:
            self.logger.error("reload refused, keeping the running config: %s", err)
            return
        for warning in warnings:
            self.logger.warning(warning)
        if (conf.bind_ip, conf.bind_port) != (self.conf.bind_ip, self.conf.bind_port):
            self.logger.warning("reload cannot move the listening address; restart to do that")
            conf = dataclasses.replace(conf, bind_ip=self.conf.bind_ip,
                                       bind_port=self.conf.bind_port)
        self.conf = conf
        self.logger = get_logger(self.name, conf.log_level, conf.log_file)
        old = list(self.current)
        for _ in range(max(conf.workers, 1)):
            self._fork()
        self._retire(old)
        self.logger.info("reloaded: %d new workers, %d stopping", len(self.current), len(old))

    def _shutdown(self) -> None:
        self._retire(list(self.current))
        self.sock.close()
        while self.retiring:
            self._reap()
            self._kill_overdue()
            time.sleep(0.05)
        self.logger.info("stopped")


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
