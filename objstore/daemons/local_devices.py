"""Which devices of a ring are this node's own.

A node is its servers' address and port: ``bind_ip`` and ``bind_port``
of the server whose config file the daemon shares. A device is local
when the ring places it on one of this host's addresses *and* that port,
either as the device's ``ip:port`` or its ``replication_ip:replication_port``
(a replication network is the same node). Matching the port as well as
the address lets several nodes share one host (objstore-aio's nodes all
listen on 127.0.0.1), and the same code runs unchanged on a multi-host
cluster.

The host's addresses: ``bind_ip`` alone when it is a specific address;
every address of every interface (netifaces) when it is a wildcard
(``0.0.0.0`` or ``::``). Addresses are compared as addresses, not text
(``::1`` equals ``0:0::1``); a ring that names a device by host name has
the name resolved.
"""
from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

import netifaces

from ring.devices import Device
from ring.ring import Ring

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(text: str) -> Address | None:
    bare = text.strip()
    if bare.startswith("[") and bare.endswith("]"):
        bare = bare[1:-1]
    try:
        return ipaddress.ip_address(bare.split("%", 1)[0])  # drop an IPv6 zone (fe80::1%eth0)
    except ValueError:
        return None


def interface_addresses() -> set[Address]:
    """Every IPv4 and IPv6 address of every interface of this host."""
    found: set[Address] = set()
    for interface in netifaces.interfaces():
        families = netifaces.ifaddresses(interface)
        for family in (netifaces.AF_INET, netifaces.AF_INET6):
            for entry in families.get(family, ()):
                address = _address(str(entry.get("addr", "")))
                if address is not None:
                    found.add(address)
    return found


def my_addresses(bind_ip: str) -> set[Address]:
    """The addresses a server bound to ``bind_ip`` answers on."""
    address = _address(bind_ip)
    if address is None:  # a host name: whatever it resolves to
        return _resolve(bind_ip)
    if address.is_unspecified:
        return interface_addresses()
    return {address}


def _resolve(host: str) -> set[Address]:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return set()
    return {a for info in infos if (a := _address(str(info[4][0]))) is not None}


def is_local(device: Device, addresses: set[Address], port: int) -> bool:
    """Whether the ring puts ``device`` on this node."""
    for ip, dev_port in ((device.ip, device.port),
                         (device.replication_ip, device.replication_port)):
        if dev_port != port:
            continue
        address = _address(ip)
        candidates = {address} if address is not None else _resolve(ip)
        if candidates & addresses:
            return True
    return False


def local_devices(rings: Iterable[Ring], bind_ip: str, bind_port: int) -> list[str]:
    """The names of this node's devices in any of ``rings``, sorted, each once."""
    addresses = my_addresses(bind_ip)
    names = {device.device for ring in rings for device in ring.devs
             if device is not None and is_local(device, addresses, bind_port)}
    return sorted(names)
