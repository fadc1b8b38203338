"""objstore-ring-builder, run as an operator runs it: the installed command."""
from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from ring.ring import Ring

from .test_ringfile import DATA

COMMAND = shutil.which("objstore-ring-builder")


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    assert COMMAND, "objstore-ring-builder is not installed (pip install -e .)"

    def invoke(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([COMMAND, *args], cwd=tmp_path, input=stdin, capture_output=True,
                              text=True, timeout=60)
    return invoke


def checksums(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(directory.iterdir()) if p.is_file()}


@pytest.fixture
def built(run, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    assert run("object.builder", "create", "8", "3", "1").returncode == 0
    devices = []
    for zone in (1, 2, 3, 4):
        devices += [f"r1z{zone}-127.0.0.{zone}:6200/sdb", "100"]
    result = run("object.builder", "add", *devices)
    assert result.returncode == 0, result.stderr
    assert "got id 3" in result.stdout
    result = run("object.builder", "rebalance", "--seed", "1")
    assert result.returncode == 0, result.stderr
    return tmp_path


def test_operator_workflow(run, built: Path) -> None:  # type: ignore[no-untyped-def]
    summary = run("object.builder")
    assert summary.returncode == 0
    lines = summary.stdout.splitlines()
    assert lines[1].startswith("256 partitions, 3.000000 replicas, 1 regions, 4 zones, 4 devices")
    assert "Ring file object.ring.gz is up-to-date" in summary.stdout
    assert summary.stdout.count("127.0.0.") == 8  # ip and replication ip of four devices
    ring = Ring(str(built / "object.ring.gz"))
    assert ring.partition_count == 256 and len(ring.get_part_nodes(0)) == 3
    assert len(list((built / "backups").iterdir())) == 2  # builder and ring of the rebalance


def test_adding_by_flags_and_rebalancing_within_min_part_hours_warns(run, built: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("object.builder", "add", "--region", "2", "--zone", "1", "--ip", "::1",
                 "--port", "6300", "--device", "sdc", "--weight", "100", "--meta", "new")
    assert result.returncode == 0, result.stderr
    assert "d4r2z1-[::1]:6300/sdc_new" in result.stdout
    before = checksums(built)
    held = run("object.builder", "rebalance")
    assert held.returncode == 1
    assert "No partitions could be reassigned" in held.stdout
    assert checksums(built) == before
    assert run("object.builder", "pretend_min_part_hours_passed").returncode == 0
    moved = run("object.builder", "rebalance", "--seed", "2")
    assert moved.returncode in (0, 1), moved.stderr
    assert moved.stdout.startswith("Reassigned ")
    assert "Ring file object.ring.gz is up-to-date" in run("object.builder").stdout


def test_search_list_parts_and_dispersion(run, built: Path) -> None:  # type: ignore[no-untyped-def]
    found = run("object.builder", "search", "z2-127.0.0.2")
    assert found.returncode == 0
    assert len(found.stdout.splitlines()) == 2
    missing = run("object.builder", "search", "z9")
    assert missing.returncode == 2
    parts = run("object.builder", "list_parts", "d0")
    rows = parts.stdout.splitlines()
    assert rows[0].split() == ["Partition", "Matches"]
    assert len(rows) - 1 == 192  # 3 * 256 / 4
    assert all(line.split()[1] == "1" for line in rows[1:])
    two = run("object.builder", "list_parts", "d0", "d1").stdout.splitlines()
    assert two[1].split()[1] == "2"  # partitions on both come first
    dispersion = run("object.builder", "dispersion", "-v")
    assert dispersion.returncode == 0
    assert dispersion.stdout.startswith("Dispersion is 0.00")
    assert "r1z1-127.0.0.1:6200" in dispersion.stdout


def test_remove_set_weight_set_info_need_yes_for_many(run, built: Path) -> None:  # type: ignore[no-untyped-def]
    before = checksums(built)
    many = run("object.builder", "set_weight", "r1", "50")
    assert many.returncode == 2 and "--yes" in many.stderr
    assert checksums(built) == before
    assert run("object.builder", "set_weight", "r1", "50", "--yes").returncode == 0
    assert run("object.builder", "set_weight", "d0", "200").returncode == 0
    info = run("object.builder", "set_info", "d1", "127.0.0.9:6201R127.0.1.9:6401/sdz_moved")
    assert info.returncode == 0, info.stderr
    assert "d1r1z2-127.0.0.9:6201R127.0.1.9:6401/sdz_moved" in info.stdout
    removed = run("object.builder", "remove", "d3")
    assert removed.returncode == 0 and "marked for removal" in removed.stdout
    summary = run("object.builder").stdout
    assert "DEL" in summary and "Ring file object.ring.gz is obsolete" in summary


def test_settings(run, built: Path) -> None:  # type: ignore[no-untyped-def]
    assert run("object.builder", "set_min_part_hours", "0").returncode == 0
    assert run("object.builder", "set_overload", "10%").stdout.startswith(
        "The overload factor is now 10.00% (0.100000)")
    assert run("object.builder", "set_replicas", "2.5").returncode == 0
    result = run("object.builder", "rebalance", "--seed", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert run("object.builder", "validate").returncode == 0
    ring = Ring(str(built / "object.ring.gz"))
    assert ring.replica_count == 2.5
    summary = run("object.builder").stdout
    assert "2.500000 replicas" in summary and "is 0 (0:00:00 remaining)" in summary


def test_write_ring_and_write_builder_round_trip(run, built: Path) -> None:  # type: ignore[no-untyped-def]
    (built / "object.ring.gz").unlink()
    assert "not found" in run("object.builder").stdout
    assert run("object.builder", "write_ring").returncode == 0
    shutil.copy(DATA / "swift-v2.ring.gz", built / "swift.ring.gz")
    adopted = run("swift.ring.gz", "write_builder")
    assert adopted.returncode == 0, adopted.stderr
    assert "4 devices, 1024 partitions, 3 replicas" in adopted.stdout
    assert run("swift.builder", "validate").returncode == 0
    again = run("swift.ring.gz", "write_builder")
    assert again.returncode == 2 and "already exists" in again.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("object.builder", "add", "r1z1-127.0.0.1/sdb", "100"), "invalid device"),
    (("object.builder", "add", "r1z1-127.0.0.1:6200/sdb", "100"), "already exists as d0"),
    (("object.builder", "add", "r1z9-127.0.0.9:6200/sdb", "-5"), "weight"),
    (("object.builder", "add", "r1z9-127.0.0.9:6200/sdb"), "weight is missing"),
    (("object.builder", "add", "r1z9-127.0.0.9:6200/sdb", "1", "r1z9-bad/sdc", "1"), "invalid device"),
    (("object.builder", "set_weight", "d99", "1"), "no device matches"),
    (("object.builder", "set_weight", "d0", "heavy"), "weight"),
    (("object.builder", "remove", "q"), "invalid search value"),
    (("object.builder", "set_replicas", "0"), "out of range"),
    (("object.builder", "set_overload", "-1"), "overload"),
    (("object.builder", "set_min_part_hours", "x"), "whole number"),
    (("object.builder", "create", "8", "3", "1"), "already exists"),
    (("other.builder", "create", "40", "3", "1"), "part power 40 out of range"),
    (("missing.builder",), "does not exist"),
    (("missing.builder", "rebalance"), "does not exist"),
    (("object.builder", "frobnicate"), "unknown command"),
    (("object.builder", "rebalance", "--seed", "x"), "rebalance"),
])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(run, built: Path, args: tuple[str, ...],  # type: ignore[no-untyped-def]
                                                          message: str) -> None:
    before = checksums(built)
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert checksums(built) == before


def test_corrupt_files_are_errors(run, built: Path) -> None:  # type: ignore[no-untyped-def]
    (built / "bad.builder").write_bytes(b"\x00garbage")
    result = run("bad.builder")
    assert result.returncode == 2 and "not a builder" in result.stderr
    (built / "worse.ring.gz").write_bytes(gzip.compress(b"R1NG\x00\x01\x00\x00\x00\x05{oops"))
    result = run("worse.ring.gz", "write_builder")
    assert result.returncode == 2 and "corrupt header" in result.stderr
    assert not (built / "worse.builder").exists()


def test_too_few_devices_to_rebalance(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("small.builder", "create", "6", "3", "0")
    run("small.builder", "add", "r1z1-127.0.0.1:6200/sdb", "1")
    result = run("small.builder", "rebalance")
    assert result.returncode == 2 and "at least 3 devices" in result.stderr
    assert not (tmp_path / "small.ring.gz").exists()


def test_help_and_usage(run) -> None:  # type: ignore[no-untyped-def]
    assert run("--help").returncode == 0
    assert "rebalance [--seed N]" in run("--help").stdout
    assert run().returncode == 2
