"""Ring files: Swift's format both ways, and refusal of anything broken."""
from __future__ import annotations

import array
import gzip
import json
import os
import struct
from pathlib import Path

import pytest

from ring.devices import Device
from ring.exceptions import RingFileError
from ring.hashing import PathHasher
from ring.ring import Ring
from ring.ringfile import RingData, load_ring_data

from .conftest import grid, make_builder

DATA = Path(__file__).parent / "data"
SWIFT_ROUTES = [
    (("a",), 684, [1, 0, 3]),
    (("a", "c"), 52, [1, 3, 0]),
    (("a", "c", "o"), 241, [3, 1, 2]),
    (("AUTH_test", "cont", "obj/with/slash"), 344, [3, 1, 2]),
]


@pytest.mark.parametrize("name", ["swift-v1.ring.gz", "swift-v2.ring.gz"])
def test_rings_written_by_swift_route_as_swift_does(name: str) -> None:
    ring = Ring(str(DATA / name), hasher=PathHasher("pre", "suf"))
    assert ring.part_power == 10
    assert ring.replica_count == 3.0
    assert ring.version == 5
    for path, part, primaries in SWIFT_ROUTES:
        got_part, nodes = ring.get_nodes(*path)
        assert (got_part, [dev.id for dev in nodes]) == (part, primaries)
    dev0 = ring.devs[0]
    assert dev0 is not None
    assert (dev0.replication_ip, dev0.replication_port, dev0.meta) == ("127.0.0.2", 6300, "metaA")


def test_written_ring_has_swifts_v1_layout(tmp_path: Path) -> None:
    builder = make_builder(part_power=8, layout=grid(1, 3, 1, 1))
    builder.rebalance(seed=1)
    path = tmp_path / "object.ring.gz"
    builder.get_ring().save(str(path))
    raw = gzip.decompress(path.read_bytes())
    magic, version, header_len = struct.unpack_from("!4sHI", raw)
    assert (magic, version) == (b"R1NG", 1)
    header = json.loads(raw[10:10 + header_len])
    assert header["replica_count"] == 3 and isinstance(header["replica_count"], int)
    assert header["part_shift"] == 24
    assert header["byteorder"] == "little"
    assert set(header["devs"][0]) == {
        "id", "region", "zone", "ip", "port", "replication_ip", "replication_port",
        "device", "weight", "meta"}
    assert "next_part_power" not in header  # Swift writes it only when set
    assert len(raw) == 10 + header_len + 3 * 256 * 2
    row0 = array.array("H", raw[10 + header_len:10 + header_len + 512])
    assert builder.table is not None and row0 == builder.table[0]


def test_round_trip_keeps_everything(tmp_path: Path) -> None:
    builder = make_builder(part_power=9, replicas=2.5, layout=grid(2, 2, 1, 1))
    builder.rebalance(seed=3)
    original = builder.get_ring()
    original.save(str(tmp_path / "r.ring.gz"))
    loaded = load_ring_data(str(tmp_path / "r.ring.gz"))
    assert loaded.devs == original.devs
    assert loaded.replica2part2dev == original.replica2part2dev
    assert loaded.replica_count == 2.5
    assert (loaded.part_shift, loaded.version) == (original.part_shift, original.version)


def test_same_ring_same_bytes(tmp_path: Path) -> None:
    builder = make_builder(part_power=6, layout=grid(1, 3, 1, 1))
    builder.rebalance(seed=1)
    path = tmp_path / "a.ring.gz"
    builder.get_ring().save(str(path))
    first = path.read_bytes()
    builder.get_ring().save(str(path))
    assert path.read_bytes() == first


def _write_raw(path: Path, payload: bytes) -> str:
    path.write_bytes(gzip.compress(payload))
    return str(path)


def _v1(header: dict[str, object], rows: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("!4sHI", b"R1NG", 1, len(text)) + text + rows


DEV = {"id": 0, "region": 1, "zone": 1, "ip": "1.2.3.4", "port": 6200, "device": "sdb", "weight": 1.0}


def test_big_endian_rows_are_read(tmp_path: Path) -> None:
    rows = array.array("H", [0, 1] * 2)
    rows.byteswap()  # little -> big on this machine
    devs = [DEV, dict(DEV, id=1, device="sdc")]
    path = _write_raw(tmp_path / "be.ring.gz", _v1(
        {"devs": devs, "part_shift": 30, "replica_count": 1, "byteorder": "big"}, rows.tobytes()))
    assert list(load_ring_data(path).replica2part2dev[0]) == [0, 1, 0, 1]


@pytest.mark.parametrize(("name", "payload", "message"), [
    ("not gzip", None, "not a readable gzip"),
    ("pickle", b"\x80\x04\x95junk", "not a ring"),
    ("version 9", struct.pack("!4sHI", b"R1NG", 9, 0), "format version 9"),
    ("bad json", struct.pack("!4sHI", b"R1NG", 1, 3) + b"{x}", "corrupt header"),
    ("no part_shift", _v1({"devs": [DEV], "replica_count": 1}, b""), "corrupt header"),
    ("truncated", _v1({"devs": [DEV], "part_shift": 30, "replica_count": 2}, b"\0" * 4),
     "truncated"),
    ("unknown device", _v1({"devs": [DEV], "part_shift": 31, "replica_count": 1},
                           array.array("H", [0, 7]).tobytes()), "unknown device ids"),
])
def test_corrupt_ring_files_are_refused(tmp_path: Path, name: str, payload: bytes | None,
                                        message: str) -> None:
    path = tmp_path / "bad.ring.gz"
    if payload is None:
        path.write_bytes(b"plain text, not a ring")
    else:
        _write_raw(path, payload)
    with pytest.raises(RingFileError, match=message):
        load_ring_data(str(path))


def test_missing_ring_file(tmp_path: Path) -> None:
    with pytest.raises(RingFileError, match="does not exist"):
        load_ring_data(str(tmp_path / "nope.ring.gz"))


def test_v2_section_with_a_bad_checksum_is_refused(tmp_path: Path) -> None:
    raw = bytearray(gzip.decompress((DATA / "swift-v2.ring.gz").read_bytes()))
    at = raw.index(b'"part_shift"')
    raw[at + 14:at + 16] = b"21"  # metadata edited, digest not
    path = _write_raw(tmp_path / "v2.ring.gz", bytes(raw))
    with pytest.raises(RingFileError, match="checksum"):
        load_ring_data(path)


def test_save_leaves_no_temporary_files(tmp_path: Path) -> None:
    data = RingData([Device(0, 1, 1, "1.2.3.4", 6200, "1.2.3.4", 6200, "sdb", 1.0)],
                    [array.array("H", [0, 0])], part_shift=31)
    data.save(str(tmp_path / "x.ring.gz"))
    assert os.listdir(tmp_path) == ["x.ring.gz"]
