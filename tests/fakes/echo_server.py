"""A tiny server on the real runtime, for the runtime's own tests.

    python -m tests.fakes.echo_server <conf>      (section [app:echo])

GET /pid -> the worker's pid; /greet -> the configured greeting;
/slow?seconds=N -> answers after N seconds; /crash -> the worker dies;
/environ -> the request as the app saw it (JSON: method, path, query,
the HTTP_* and CONTENT_* keys, and the body read); /stream?pieces=N -> N
pieces without a Content-Length; /raise -> the app raises; /ignore ->
answers without reading the body; /sched -> the scheduling policy numbers
of the worker's main thread and of a disk thread (JSON: main, disk).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

from objstore.common.config import option
from objstore.common.server import ServerConfig, run_wsgi_server


@dataclasses.dataclass(frozen=True)
class EchoConfig(ServerConfig):
    greeting: str = option("hello", "what /greet answers")


def make_app(conf: EchoConfig, logger: logging.Logger) -> Callable[..., Iterable[bytes]]:
    from objstore.common import concurrency

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ["PATH_INFO"]
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        if path == "/crash":
            os._exit(3)
        if path == "/slow":
            concurrency.sleep(float(query.get("seconds", ["1"])[0]))
        if path == "/raise":
            raise RuntimeError("the echo app fails on purpose")
        if path == "/stream":
            start_response("200 OK", [("X-Trans-Id", "tx-echo")])
            return (b"piece %d;" % n for n in range(int(query.get("pieces", ["3"])[0])))
        if path == "/environ":
            body = json.dumps(_seen(environ)).encode()
        elif path == "/sched":
            disk = concurrency.run_blocking(os.sched_getscheduler, 0)
            body = json.dumps({"main": os.sched_getscheduler(0), "disk": disk}).encode()
        else:
            body = {"/pid": str(os.getpid()), "/greet": conf.greeting}.get(path, "ok").encode()
        start_response("200 OK", [("Content-Length", str(len(body))),
                                  ("X-Trans-Id", "tx-echo")])
        return [body]

    return app


def _seen(environ: dict[str, Any]) -> dict[str, Any]:
    keys = [k for k in environ if k.startswith(("HTTP_", "CONTENT_"))]
    return {"method": environ["REQUEST_METHOD"], "path": environ["PATH_INFO"],
            "query": environ.get("QUERY_STRING", ""), **{k: environ[k] for k in keys},
            "body": environ["wsgi.input"].read().decode("latin-1")}


def main() -> None:
    sys.exit(run_wsgi_server("echo-server", sys.argv[1], "app:echo", EchoConfig, make_app))


if __name__ == "__main__":
    main()
