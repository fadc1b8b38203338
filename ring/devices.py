"""Devices, and the strings operators use to name and select them.

An operator names a device as ``r1z2-10.0.0.1:6200R10.0.1.1:6400/sdb1_meta``
(region, zone, ip:port, optional replication ip:port, device name, meta)
and selects devices with search values built from the same parts, each
optional: ``d3``, ``r1z2``, ``-10.0.0.1:6200``, ``/sdb1``, ``_ssd`` and
their combinations. Both read as they do in swift-ring-builder.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import re
from typing import Any, Final

from ring.exceptions import DeviceStringError

DEVICE_FIELDS: Final = (
    "id", "region", "zone", "ip", "port", "replication_ip", "replication_port",
    "device", "weight", "meta",
)


@dataclasses.dataclass(frozen=True, slots=True)
class Device:
    """One disk of the cluster as the ring knows it. Read-only."""

    id: int
    region: int
    zone: int
    ip: str
    port: int
    replication_ip: str
    replication_port: int
    device: str
    weight: float
    meta: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in DEVICE_FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Device:
        """A device from a ring or builder file's dict (extra keys ignored)."""
        try:
            return cls(
                id=int(data["id"]),
                region=int(data.get("region", 1)),
                zone=int(data["zone"]),
                ip=str(data["ip"]),
                port=int(data["port"]),
                replication_ip=str(data.get("replication_ip") or data["ip"]),
                replication_port=int(data.get("replication_port") or data["port"]),
                device=str(data["device"]),
                weight=float(data["weight"]),
                meta=str(data.get("meta") or ""),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise DeviceStringError(f"bad device record {data!r}: {err}") from None

    @property
    def server(self) -> str:
        """``ip:port``: the server tier's name."""
        return f"{format_ip(self.ip)}:{self.port}"

    def describe(self) -> str:
        """The operator's device string, with id: ``d0r1z1-1.2.3.4:6200/sdb``."""
        text = f"d{self.id}r{self.region}z{self.zone}-{self.server}"
        if (self.replication_ip, self.replication_port) != (self.ip, self.port):
            text += f"R{format_ip(self.replication_ip)}:{self.replication_port}"
        text += f"/{self.device}"
        if self.meta:
            text += f"_{self.meta}"
        return text


def normalize_ip(text: str) -> str:
    """An address in canonical form; hostnames are lowercased and kept."""
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        numeric = re.fullmatch(r"[0-9.]+", bare)
        if numeric or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.\-]*", bare):
            raise DeviceStringError(f"invalid ip or host name {text!r}") from None
        return bare.lower()


def format_ip(ip: str) -> str:
    """An address as it stands before ``:port``: IPv6 in brackets."""
    return f"[{ip}]" if ":" in ip else ip


# One search value: every part optional, in this order.
_SEARCH_RE: Final = re.compile(
    r"""
    (?:d(?P<id>\d+))?
    (?:r(?P<region>\d+))?
    (?:z(?P<zone>\d+))?
    (?:-?(?P<ip>\[[0-9A-Fa-f:.]+\]|\d+\.\d+\.\d+\.\d+)|-(?P<host>[A-Za-z][A-Za-z0-9.\-]*?))?
    (?::(?P<port>\d+))?
    (?:R(?P<replication_ip>\[[0-9A-Fa-f:.]+\]|\d+\.\d+\.\d+\.\d+|[A-Za-z][A-Za-z0-9.\-]*?))?
    (?::(?P<replication_port>\d+))?
    (?:/(?P<device>[^_]+))?
    (?:_(?P<meta>.*))?
    """,
    re.VERBOSE | re.DOTALL,
)

_INT_KEYS: Final = ("id", "region", "zone", "port", "replication_port")


def parse_search_value(text: str) -> dict[str, Any]:
    """The criteria of a search value, e.g. ``{'zone': 2, 'device': 'sdb1'}``."""
    match = _SEARCH_RE.fullmatch(text)
    if not text or not match or not any(match.groupdict().values()):
        raise DeviceStringError(
            f"invalid search value {text!r}: expected "
            "d<id>r<region>z<zone>-<ip>:<port>R<ip>:<port>/<device>_<meta>, "
            "each part optional"
        )
    criteria: dict[str, Any] = {}
    for key, value in match.groupdict().items():
        if value is None:
            continue
        key = "ip" if key == "host" else key
        if key in _INT_KEYS:
            criteria[key] = int(value)
        elif key in ("ip", "replication_ip"):
            criteria[key] = normalize_ip(value)
        else:
            criteria[key] = value
    return criteria


def matches(device: Device, criteria: dict[str, Any]) -> bool:
    return all(getattr(device, key) == value for key, value in criteria.items())


# A new device: region optional (default 1), zone, ip:port and name required.
_ADD_RE: Final = re.compile(
    r"""
    (?:r(?P<region>\d+))?
    z(?P<zone>\d+)
    -(?P<ip>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+)
    :(?P<port>\d+)
    (?:R(?P<replication_ip>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+):(?P<replication_port>\d+))?
    /(?P<device>[^_\s]+)
    (?:_(?P<meta>.*))?
    """,
    re.VERBOSE | re.DOTALL,
)


def parse_new_device(text: str) -> dict[str, Any]:
    """Fields of a new device from ``r1z2-1.2.3.4:6200R5.6.7.8:6400/sdb_meta``."""
    match = _ADD_RE.fullmatch(text)
    if not match:
        raise DeviceStringError(
            f"invalid device {text!r}: expected "
            "r<region>z<zone>-<ip>:<port>[R<ip>:<port>]/<device>[_<meta>]"
        )
    fields = match.groupdict()
    ip = normalize_ip(fields["ip"])
    port = check_port(int(fields["port"]))
    replication_ip = normalize_ip(fields["replication_ip"]) if fields["replication_ip"] else ip
    replication_port = (
        check_port(int(fields["replication_port"])) if fields["replication_port"] else port
    )
    return {
        "region": int(fields["region"] or 1),
        "zone": int(fields["zone"]),
        "ip": ip,
        "port": port,
        "replication_ip": replication_ip,
        "replication_port": replication_port,
        "device": fields["device"],
        "meta": fields["meta"] or "",
    }


def check_port(port: int) -> int:
    if not 0 < port < 65536:
        raise DeviceStringError(f"invalid port {port}: must be 1 to 65535")
    return port


def parse_weight(text: str) -> float:
    try:
        weight = float(text)
    except ValueError:
        raise DeviceStringError(f"invalid weight {text!r}: not a number") from None
    if not weight >= 0 or weight == float("inf"):
        raise DeviceStringError(f"invalid weight {text!r}: must be a finite number >= 0")
    return weight
