"""healthcheck: ``GET /healthcheck`` answers ``200 OK`` while the proxy serves.

With ``disable_path`` set and a file there, it answers ``503 DISABLED BY
FILE`` instead, so an operator takes a proxy out of a load balancer's
rotation before maintenance without stopping it.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from objstore.common.http import WSGIApp


class HealthCheck:
    def __init__(self, app: WSGIApp, disable_path: str) -> None:
        self.app = app
        self.disable_path = disable_path

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/healthcheck":
            return self.app(environ, start_response)
        if self.disable_path and os.path.exists(self.disable_path):
            status, body = "503 Service Unavailable", b"DISABLED BY FILE"
        else:
            status, body = "200 OK", b"OK"
        start_response(status, [("Content-Type", "text/plain"),
                                ("Content-Length", str(len(body)))])
        return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else body]


def filter_factory(options: Mapping[str, str], logger: logging.Logger,
                   source: str = "") -> Callable[[WSGIApp], HealthCheck]:
    return lambda app: HealthCheck(app, options.get("disable_path", "").strip())
