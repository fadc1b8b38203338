"""Which devices of a ring are this node's: address and port, as the servers bind."""
from __future__ import annotations

from pathlib import Path

import pytest

from objstore.daemons import local_devices as local
from objstore.daemons.local_devices import is_local, local_devices, my_addresses
from ring.builder import RingBuilder
from ring.devices import Device
from ring.ring import Ring


def make_ring(tmp_path: Path, name: str, devices: list[dict[str, object]]) -> Ring:
    builder = RingBuilder(4, 1, 0)
    for zone, device in enumerate(devices, start=1):
        builder.add_dev(region=1, zone=zone, weight=1.0, **device)  # type: ignore[arg-type]
    builder.rebalance(seed=1)
    path = tmp_path / f"{name}.ring.gz"
    builder.get_ring().save(str(path))
    return Ring(str(path))


def dev(ip: str, port: int, replication_ip: str = "", replication_port: int = 0) -> Device:
    return Device(id=0, region=1, zone=1, ip=ip, port=port,
                  replication_ip=replication_ip or ip,
                  replication_port=replication_port or port, device="sda", weight=1.0)


def test_nodes_on_one_address_are_told_apart_by_port(tmp_path: Path) -> None:
    ring = make_ring(tmp_path, "object", [
        {"ip": "127.0.0.1", "port": 6210, "device": "sdb1"},
        {"ip": "127.0.0.1", "port": 6220, "device": "sdb2"},
        {"ip": "127.0.0.1", "port": 6210, "device": "sdb5"},
        {"ip": "203.0.113.9", "port": 6210, "device": "sdb9"},  # another host
    ])
    assert local_devices([ring], "127.0.0.1", 6210) == ["sdb1", "sdb5"]
    assert local_devices([ring], "127.0.0.1", 6220) == ["sdb2"]
    assert local_devices([ring], "127.0.0.1", 6230) == []
    assert local_devices([ring], "203.0.113.7", 6210) == []


def test_devices_of_several_rings_are_listed_once(tmp_path: Path) -> None:
    gold = make_ring(tmp_path, "object", [{"ip": "127.0.0.1", "port": 6200, "device": "sda"},
                                          {"ip": "127.0.0.1", "port": 6200, "device": "sdb"}])
    silver = make_ring(tmp_path, "object-1", [{"ip": "127.0.0.1", "port": 6200, "device": "sdb"},
                                              {"ip": "127.0.0.1", "port": 6200, "device": "sdc"}])
    assert local_devices([gold, silver], "127.0.0.1", 6200) == ["sda", "sdb", "sdc"]


def test_a_wildcard_bind_means_every_interface(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    addresses = local.interface_addresses()  # netifaces, for real
    assert my_addresses("127.0.0.1") <= addresses and my_addresses("::1") <= addresses
    ring = make_ring(tmp_path, "object", [
        {"ip": "127.0.0.1", "port": 6200, "device": "lo4"},
        {"ip": "192.0.2.44", "port": 6200, "device": "eth"},
        {"ip": "198.51.100.1", "port": 6200, "device": "far"},
    ])
    assert local_devices([ring], "0.0.0.0", 6200) == ["lo4"]
    monkeypatch.setattr(local, "interface_addresses",
                        lambda: {*addresses, *my_addresses("192.0.2.44")})
    assert local_devices([ring], "0.0.0.0", 6200) == ["eth", "lo4"]
    assert local_devices([ring], "::", 6200) == ["eth", "lo4"]


def test_addresses_compare_as_addresses_not_text() -> None:
    ipv6 = my_addresses("0:0::1")
    assert is_local(dev("::1", 6200), ipv6, 6200)
    assert is_local(dev("[::1]", 6200), ipv6, 6200)
    assert is_local(dev("fe80::1%eth0", 6200), my_addresses("fe80::1"), 6200)
    assert is_local(dev("localhost", 6200), my_addresses("127.0.0.1"), 6200)
    assert not is_local(dev("no-such-host.invalid", 6200), my_addresses("127.0.0.1"), 6200)


def test_the_replication_address_is_the_same_node() -> None:
    mine = my_addresses("10.1.0.5")
    assert is_local(dev("10.0.0.5", 6200, "10.1.0.5", 6400), mine, 6400)
    assert not is_local(dev("10.0.0.5", 6200, "10.1.0.5", 6400), mine, 6200)
