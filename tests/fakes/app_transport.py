"""Replication peers served in process: the sync sender's Transport over WSGI
apps (real object-server controllers), for unit tests without sockets."""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from objstore.common.http import Request, wsgi_app
from objstore.obj.diskfile import DiskFileManager
from objstore.obj.server import ObjectController, ObjectServerConfig
from objstore.obj.sync_sender import Peer, PeerError
from ring.hashing import PathHasher


def object_app(devices: Path, hasher: PathHasher, reclaim_age: float = 604800.0) -> Any:
    """A real object server's app on ``devices``, disk work inline."""
    conf = ObjectServerConfig(devices=str(devices), mount_check=False, reclaim_age=reclaim_age)
    manager = DiskFileManager(str(devices), hasher=hasher, reclaim_age=reclaim_age)
    logger = logging.getLogger("test-object-server")
    return wsgi_app(ObjectController(conf, logger, manager=manager), logger)


class AppTransport:
    """Peers by port; a port with no app (or one marked down) is refused."""

    def __init__(self, apps: dict[int, Any]) -> None:
        self.apps = apps
        self.down: set[int] = set()
        self.seen: list[tuple[int, str, str]] = []  # (port, method, path)

    def request(self, peer: Peer, method: str, path: str, headers: Mapping[str, str],
                body: Iterable[bytes] | None = None) -> tuple[int, bytes]:
        self.seen.append((peer.port, method, path))
        app = self.apps.get(peer.port)
        if app is None or peer.port in self.down:
            raise PeerError(peer, "cannot connect: connection refused")
        data = b"".join(body) if body is not None else b""
        request = Request.blank(path, method=method, headers=dict(headers), body=data)
        response = request.get_response(app)
        return response.status_int, response.body
