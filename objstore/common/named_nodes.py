"""Replicas a request names in its headers, for the server to update next.

A proxy tells an object server which container replica to update
(``X-Container-Host: ip:port``, ``X-Container-Device``,
``X-Container-Partition``), and a container server which account
replica (``X-Account-...``); hosts and devices are comma-separated
lists of the same length. ``named_nodes`` reads them, ``node_headers``
writes one, ``nodes_headers`` several.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping



@dataclasses.dataclass(frozen=True)
class NamedNode:
    host: str
    port: int
    device: str
    partition: str


def named_nodes(headers: Mapping[str, str], kind: str) -> list[NamedNode]:
    """The ``kind`` ("Container", "Account") replicas named, maybe none;
    ValueError with a reason when the headers contradict each other."""
    hosts = [h.strip() for h in headers.get(f"X-{kind}-Host", "").split(",") if h.strip()]
    devices = [d.strip() for d in headers.get(f"X-{kind}-Device", "").split(",") if d.strip()]
    partition = headers.get(f"X-{kind}-Partition", "").strip()
    if len(hosts) != len(devices):
        raise ValueError(f"X-{kind}-Host names {len(hosts)} nodes but X-{kind}-Device "
                         f"{len(devices)}")
    if not hosts or not partition:
        return []
    if not partition.isdigit():
        raise ValueError(f"invalid X-{kind}-Partition {partition[:20]!r}")
    nodes = []
    for host, device in zip(hosts, devices):
        address, _, port = host.rpartition(":")
        if not address or not port.isdigit():
            raise ValueError(f"invalid X-{kind}-Host {host[:60]!r}: ip:port")
        nodes.append(NamedNode(address.strip("[]"), int(port), device, partition))
    return nodes


def node_headers(kind: str, ip: str, port: int, device: str, partition: int | str
                 ) -> dict[str, str]:
    """The headers that name one ``kind`` replica."""
    return nodes_headers(kind, [(ip, port, device)], partition)


def nodes_headers(kind: str, nodes: list[tuple[str, int, str]], partition: int | str
                  ) -> dict[str, str]:
    """The headers that name several ``kind`` replicas, (ip, port, device)
    each, of one partition."""
    hosts = [f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}" for ip, port, _ in nodes]
    return {f"X-{kind}-Host": ",".join(hosts),
            f"X-{kind}-Device": ",".join(device for _, _, device in nodes),
            f"X-{kind}-Partition": str(partition)}
