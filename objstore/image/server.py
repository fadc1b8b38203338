"""``objstore-image-server <conf>``: the image API (``[app:image-server]``).

Runs like every objstore server (``objstore.common.server``): pre-forked
workers, graceful stop on SIGTERM, reload on SIGHUP, one access-log line
per request. It needs a running proxy only once requests come.
"""
from __future__ import annotations

import logging
import sys

from objstore.common.config import ConfigError
from objstore.common.server import Hooks, run_wsgi_server
from objstore.image.app import make_app
from objstore.image.config import ImageConfig


def check(conf: ImageConfig, logger: logging.Logger) -> None:
    if not conf.service_key:
        raise ConfigError("[app:image-server] service_key must be set (the key of "
                          f"service_user {conf.service_user})")


def main() -> None:
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print("usage: objstore-image-server <config file>", file=sys.stderr)
        sys.exit(2)
    sys.exit(run_wsgi_server("image-server", sys.argv[1], "app:image-server", ImageConfig,
                             make_app, Hooks(check=check)))


__all__ = ["check", "main"]
