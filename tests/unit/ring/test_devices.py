"""Device strings and search values read as swift-ring-builder's do."""
from __future__ import annotations

import pytest

from ring.devices import Device, parse_new_device, parse_search_value, parse_weight
from ring.exceptions import DeviceStringError


def test_full_device_string() -> None:
    assert parse_new_device("r1z2-10.0.0.1:6200R10.0.1.1:6400/sdb1_fast disk") == {
        "region": 1, "zone": 2, "ip": "10.0.0.1", "port": 6200,
        "replication_ip": "10.0.1.1", "replication_port": 6400,
        "device": "sdb1", "meta": "fast disk",
    }


def test_region_defaults_to_one_and_replication_to_the_main_address() -> None:
    fields = parse_new_device("z3-[2001:DB8::1]:6000/sdc")
    assert (fields["region"], fields["zone"], fields["ip"]) == (1, 3, "2001:db8::1")
    assert (fields["replication_ip"], fields["replication_port"]) == ("2001:db8::1", 6000)


@pytest.mark.parametrize("text", [
    "r1z1-10.0.0.1/sdb", "r1z1-10.0.0.1:6200", "r1-10.0.0.1:6200/sdb", "r1z1-10.0.0.1:70000/sdb",
    "r1z1-10.0.0.1:0/sdb", "r1z1-10.0.0.999:6200/sdb", "garbage", "",
])
def test_bad_device_strings_name_the_problem(text: str) -> None:
    with pytest.raises(DeviceStringError, match="invalid"):
        parse_new_device(text)


@pytest.mark.parametrize(("text", "criteria"), [
    ("d74", {"id": 74}),
    ("r1", {"region": 1}),
    ("r1z2", {"region": 1, "zone": 2}),
    ("z1-10.0.0.1", {"zone": 1, "ip": "10.0.0.1"}),
    ("-10.0.0.1:6200", {"ip": "10.0.0.1", "port": 6200}),
    ("/sdb1", {"device": "sdb1"}),
    ("_ssd", {"meta": "ssd"}),
    ("d3r1z2-[::1]:6200R[::2]:6400/sdb_m", {
        "id": 3, "region": 1, "zone": 2, "ip": "::1", "port": 6200,
        "replication_ip": "::2", "replication_port": 6400, "device": "sdb", "meta": "m"}),
])
def test_search_values(text: str, criteria: dict[str, object]) -> None:
    assert parse_search_value(text) == criteria


@pytest.mark.parametrize("text", ["", "d", "q7", "d1x"])
def test_bad_search_values(text: str) -> None:
    with pytest.raises(DeviceStringError, match="invalid search value"):
        parse_search_value(text)


@pytest.mark.parametrize("text", ["-1", "abc", "nan", "inf"])
def test_bad_weights(text: str) -> None:
    with pytest.raises(DeviceStringError, match="weight"):
        parse_weight(text)


def test_describe_round_trips_through_the_parser() -> None:
    dev = Device(5, 2, 3, "::1", 6200, "10.0.0.2", 6400, "sdb", 1.0, "m")
    text = dev.describe()
    assert text == "d5r2z3-[::1]:6200R10.0.0.2:6400/sdb_m"
    assert parse_search_value(text) == {k: v for k, v in dev.to_dict().items() if k != "weight"}
