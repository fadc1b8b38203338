"""Peers of replication: another replica's device, and what failed in asking it.

Shared by the object replicator (``objstore.obj.sync_sender``) and the
database replicators (``objstore.common.db_peers``).
"""
from __future__ import annotations

import dataclasses

from ring.devices import Device


@dataclasses.dataclass(frozen=True)
class Peer:
    """A device of another replica, at its replication address."""

    device: str
    ip: str
    port: int

    @classmethod
    def of(cls, device: Device) -> Peer:
        return cls(device.device, device.replication_ip, device.replication_port)

    @property
    def server(self) -> tuple[str, int]:
        return self.ip, self.port

    def __str__(self) -> str:
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{host}:{self.port}/{self.device}"


class PeerError(Exception):
    """A request to a peer that did not get the answer it wanted."""

    def __init__(self, peer: Peer, reason: str, status: int | None = None) -> None:
        super().__init__(f"{peer}: {reason}")
        self.peer = peer
        self.status = status

    @property
    def server_down(self) -> bool:
        """Not reached at all (refused, timed out, cut off): the whole server."""
        return self.status is None

    @property
    def device_gone(self) -> bool:
        return self.status == 507


__all__ = ["Peer", "PeerError"]
