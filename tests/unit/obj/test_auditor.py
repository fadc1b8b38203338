"""The object auditor on real files: what it quarantines, and what it never touches."""
from __future__ import annotations

import errno
import hashlib
import logging
import os
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from objstore.common.metadata import read_metadata, write_metadata
from objstore.common.timestamp import Timestamp
from objstore.daemons.base import LocalDevice
from objstore.obj import auditor as auditor_module
from objstore.obj.auditor import ObjectAuditor, ObjectAuditorConfig
from objstore.obj.diskfile import KEEP_CACHE_SIZE, TABLE_CRC_KEY, DiskFile, DiskFileManager
from objstore.obj.integrity import CHUNK
from ring.hashing import PathHasher

HASHER = PathHasher("", "auditor-tests")
SIZES = {"empty": 0, "one": 1, "chunk": CHUNK, "chunk+1": CHUNK + 1,
         "big": KEEP_CACHE_SIZE + 3 * CHUNK + 7}


@pytest.fixture
def node(tmp_path: Path) -> Path:
    (tmp_path / "srv" / "sda").mkdir(parents=True)
    (tmp_path / "objstore.conf").write_text(
        "[swift-hash]\nswift_hash_path_suffix = auditor-tests\n"
        "[storage-policy:0]\nname = gold\ndefault = yes\n[storage-policy:1]\nname = silver\n")
    return tmp_path


@pytest.fixture
def manager(node: Path) -> DiskFileManager:
    return DiskFileManager(str(node / "srv"), hasher=HASHER)


def make_auditor(node: Path, zero_byte_fps: float | None = None, **options: Any) -> ObjectAuditor:
    options = {"files_per_second": 0, "bytes_per_second": 0, **options}
    conf = ObjectAuditorConfig(devices=str(node / "srv"), mount_check=False,
                               cluster_conf=str(node / "objstore.conf"), **options)
    return ObjectAuditor(conf, logging.getLogger("test-auditor"), zero_byte_fps=zero_byte_fps)


def audit(node: Path, zero_byte_fps: float | None = None, **options: Any) -> dict[str, int]:
    auditor = make_auditor(node, zero_byte_fps, **options)
    auditor.begin_pass()
    auditor.run_once([LocalDevice("sda", str(node / "srv" / "sda"))])
    return auditor.statistics()


def put(manager: DiskFileManager, name: str, body: bytes, ts: float = 1000.0,
        policy: int = 0, **meta: Any) -> DiskFile:
    df = manager.get("sda", 3, "a", "c", name, policy_index=policy)
    with df.create(len(body)) as writer:
        writer.write(body)
        writer.commit({"X-Timestamp": Timestamp(ts).internal, "Content-Type": "x/y", **meta})
    return df


def data_path(df: DiskFile) -> str:
    return df.open().data_path


def flip(path: str, offset: int) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0x40]))


def tree(root: Path) -> dict[str, tuple[bytes, int, dict[str, bytes]]]:
    """Every file under root: bytes, mtime and xattrs."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.startswith("hashes."):
            xattrs = {name: os.getxattr(path, name) for name in os.listxattr(path)}
            found[str(path.relative_to(root))] = (path.read_bytes(), path.stat().st_mtime_ns,
                                                  xattrs)
    return found


def quarantined(node: Path, policy_dir: str = "objects") -> list[str]:
    where = node / "srv" / "sda" / "quarantined" / policy_dir
    return sorted(os.listdir(where)) if where.exists() else []


def test_good_objects_of_every_shape_are_left_exactly_as_they_were(
        node: Path, manager: DiskFileManager) -> None:
    for label, size in SIZES.items():
        put(manager, label, os.urandom(size))
    put(manager, "silver", os.urandom(CHUNK * 2 + 1), policy=1)
    put(manager, "posted", b"data")
    manager.get("sda", 3, "a", "c", "posted").post(Timestamp(2000), {"X-Object-Meta-A": "b"})
    put(manager, "big-metadata", b"trailer", **{f"X-Object-Meta-K{i}": "v" * 200
                                                for i in range(40)})
    put(manager, "gone", b"x")
    manager.get("sda", 3, "a", "c", "gone").delete(Timestamp(3000))
    put(manager, "expired", b"old", **{"X-Delete-At": "1"})
    before = tree(node / "srv")
    counts = audit(node)
    assert tree(node / "srv") == before
    assert quarantined(node) == [] and quarantined(node, "objects-1") == []
    assert counts == {"files": len(SIZES) + 4, "quarantined": 0, "errors": 0,
                      "bytes": sum(SIZES.values()) + CHUNK * 2 + 1 + 4 + 7 + 3}


@pytest.mark.parametrize("label", ["one", "chunk+1", "big"])
def test_a_flipped_body_byte_is_quarantined_and_its_suffix_marked(
        node: Path, manager: DiskFileManager, label: str) -> None:
    size = SIZES[label]
    bad = put(manager, "bad", os.urandom(size))
    good = put(manager, "good", os.urandom(size))
    flip(data_path(bad), size - 1)
    partition_dir = node / "srv" / "sda" / "objects" / "3"
    (partition_dir / "hashes.invalid").write_text("")
    good_before = tree(Path(good.hash_dir))
    counts = audit(node)
    assert (counts["files"], counts["quarantined"], counts["errors"]) == (2, 1, 0)
    assert quarantined(node) == [bad.name_hash]
    assert not os.path.exists(bad.hash_dir)
    assert (partition_dir / "hashes.invalid").read_text() == bad.name_hash[-3:] + "\n"
    assert tree(Path(good.hash_dir)) == good_before


def rewrite_chunk_consistently(path: str, size: int) -> None:
    """Change the body's first byte and fix its chunk crc and the table's
    crc too: only the MD5 can tell."""
    flip(path, 0)
    with open(path, "r+b") as handle:
        first = handle.read(min(CHUNK, size))
        table_at = size
        handle.seek(table_at)
        table = bytearray(handle.read(4 * (-(-size // CHUNK))))
        table[0:4] = zlib.crc32(first).to_bytes(4, "big")
        handle.seek(table_at)
        handle.write(table)
        fd = handle.fileno()
        meta = read_metadata(fd)
        meta[TABLE_CRC_KEY] = zlib.crc32(bytes(table))
        write_metadata(fd, meta, size + len(table))


def test_only_the_md5_can_tell_and_it_does(node: Path, manager: DiskFileManager) -> None:
    bad = put(manager, "bad", os.urandom(3 * CHUNK))
    rewrite_chunk_consistently(data_path(bad), 3 * CHUNK)
    assert len(b"".join(bad.read(bad.open()))) == 3 * CHUNK  # every crc agrees
    assert audit(node)["quarantined"] == 1
    assert quarantined(node) == [bad.name_hash]


def damage_table(path: str, size: int) -> None:
    flip(path, size + 1)


def damage_metadata(path: str, size: int) -> None:
    fd = os.open(path, os.O_RDWR)
    try:
        raw = os.getxattr(fd, "user.objstore.meta")
        os.setxattr(fd, "user.objstore.meta", raw[:-1] + bytes([raw[-1] ^ 1]))
    finally:
        os.close(fd)


def cut_short(path: str, size: int) -> None:
    os.truncate(path, size // 2)


def emptied(path: str, size: int) -> None:
    os.truncate(path, 0)


@pytest.mark.parametrize("damage", [damage_table, damage_metadata, cut_short, emptied])
def test_every_kind_of_damage_is_quarantined(node: Path, manager: DiskFileManager,
                                             damage: Callable[[str, int], None]) -> None:
    bad = put(manager, "bad", os.urandom(2 * CHUNK + 9))
    good = put(manager, "good", os.urandom(2 * CHUNK + 9))
    good_before = tree(Path(good.hash_dir))
    damage(data_path(bad), 2 * CHUNK + 9)
    counts = audit(node)
    assert (counts["quarantined"], counts["errors"]) == (1, 0)
    assert quarantined(node) == [bad.name_hash]
    assert tree(Path(good.hash_dir)) == good_before


def test_an_empty_object_whose_etag_is_not_the_empty_md5_is_quarantined(
        node: Path, manager: DiskFileManager) -> None:
    bad = put(manager, "bad", b"")
    fd = os.open(data_path(bad), os.O_RDWR)
    try:
        meta = read_metadata(fd)
        meta["ETag"] = hashlib.md5(b"something").hexdigest()
        write_metadata(fd, meta, 0)
    finally:
        os.close(fd)
    assert audit(node)["quarantined"] == 1


def test_the_zero_byte_pass_reads_only_metadata_and_empty_objects(
        node: Path, manager: DiskFileManager) -> None:
    rotten = put(manager, "rotten", os.urandom(CHUNK))   # a flipped byte: the full pass's job
    flip(data_path(rotten), 5)
    torn = put(manager, "torn", os.urandom(CHUNK))       # emptied by a crash
    emptied(data_path(torn), CHUNK)
    put(manager, "empty", b"")
    counts = audit(node, zero_byte_fps=1000)
    assert (counts["files"], counts["bytes"], counts["quarantined"]) == (2, 0, 1)
    assert quarantined(node) == [torn.name_hash]
    counts = audit(node)
    assert (counts["files"], counts["quarantined"]) == (2, 1)
    assert quarantined(node) == sorted([torn.name_hash, rotten.name_hash])


def test_an_unreadable_file_is_an_error_left_in_place_and_the_walk_goes_on(
        node: Path, manager: DiskFileManager, monkeypatch: pytest.MonkeyPatch) -> None:
    sick = put(manager, "sick", os.urandom(100))
    bad = put(manager, "bad", os.urandom(100))
    flip(data_path(bad), 3)
    put(manager, "fine", os.urandom(100))
    sick_path = data_path(sick)
    real_open = os.open

    def failing_open(path: str, flags: int, *args: Any) -> int:
        if path == sick_path:
            raise OSError(errno.EIO, os.strerror(errno.EIO), path)
        return real_open(path, flags, *args)

    monkeypatch.setattr(auditor_module.os, "open", failing_open)
    counts = audit(node)
    assert (counts["files"], counts["errors"], counts["quarantined"]) == (2, 1, 1)
    assert os.path.exists(sick_path)
    assert quarantined(node) == [bad.name_hash]


def test_an_object_replaced_while_it_is_read_is_not_quarantined(
        node: Path, manager: DiskFileManager, monkeypatch: pytest.MonkeyPatch) -> None:
    old = put(manager, "o", os.urandom(3 * CHUNK), ts=1000)
    flip(data_path(old), 2 * CHUNK + 1)
    new_body = os.urandom(10)
    real_spans = auditor_module.verified_spans

    def spans_then_overwrite(*args: Any) -> Any:
        for number, piece in enumerate(real_spans(*args)):
            if number == 0:
                put(manager, "o", new_body, ts=2000)  # a client's PUT lands meanwhile
            yield piece

    monkeypatch.setattr(auditor_module, "verified_spans", spans_then_overwrite)
    counts = audit(node, disk_chunk_size=CHUNK)
    assert counts["quarantined"] == 0 and quarantined(node) == []
    assert b"".join(old.read(old.open())) == new_body


def test_a_stop_mid_object_ends_the_pass_without_a_verdict(
        node: Path, manager: DiskFileManager, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = put(manager, "bad", os.urandom(4 * CHUNK))
    flip(data_path(bad), 3 * CHUNK)  # in the last chunk, which is never reached
    later = put(manager, "later", os.urandom(10))
    flip(data_path(later), 1)
    auditor = make_auditor(node, disk_chunk_size=CHUNK)
    real_spans = auditor_module.verified_spans

    def spans_then_stop(*args: Any) -> Any:
        for piece in real_spans(*args):
            auditor.stop.set()  # SIGTERM arrives
            yield piece

    monkeypatch.setattr(auditor_module, "verified_spans", spans_then_stop)
    auditor.run_once([LocalDevice("sda", str(node / "srv" / "sda"))])
    assert quarantined(node) == []
    assert os.path.exists(data_path(bad)) and os.path.exists(data_path(later))
    assert auditor.statistics()["bytes"] == CHUNK


def test_rates_come_from_the_config(node: Path, manager: DiskFileManager,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    rates = []

    class Recording(auditor_module.RateLimiter):
        def __init__(self, rate: float, **kwargs: Any) -> None:
            rates.append(rate)
            super().__init__(0, **kwargs)

    monkeypatch.setattr(auditor_module, "RateLimiter", Recording)
    put(manager, "o", b"x")
    audit(node, files_per_second=7, bytes_per_second=9000)
    assert rates == [7, 9000]
    rates.clear()
    audit(node, zero_byte_fps=40)
    assert rates == [40, 0]


def test_a_full_auditor_runs_the_zero_byte_pass_beside_it(node: Path) -> None:
    full = make_auditor(node)
    assert full.recon_key == "object-auditor"
    (fast,) = full.companions()
    assert (fast.recon_key, fast.zero_byte_fps) == ("object-auditor-zero-byte", 50.0)
    assert fast.companions() == []
    assert make_auditor(node, zero_byte_files_per_second=0).companions() == []
    assert full.ring_names() == ["object", "object-1"]


def test_the_sample_section_parses_to_the_defaults(tmp_path: Path) -> None:
    import re

    from objstore.daemons.runner import load_daemon_config

    sample = Path(__file__).resolve().parents[3] / "etc" / "object-server.conf-sample"
    uncommented = tmp_path / "object-server.conf"
    uncommented.write_text(re.sub(r"^# (\w+ = )", r"\1", sample.read_text(), flags=re.MULTILINE))
    conf, warnings = load_daemon_config(str(uncommented), ObjectAuditor)
    assert warnings == [] and conf == ObjectAuditorConfig()


def test_a_config_the_auditor_cannot_use_is_exit_2(
        node: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from objstore.daemons.runner import run_daemon

    conf = node / "object-server.conf"
    conf.write_text(f"[object-auditor]\ncluster_conf = {node / 'missing.conf'}\n")
    assert run_daemon(ObjectAuditor, [str(conf), "--once"]) == 2
    assert capsys.readouterr().err == (
        f"objstore-object-auditor: config file {node / 'missing.conf'} does not exist\n")
    conf.write_text(f"[object-auditor]\ncluster_conf = {node / 'objstore.conf'}\n"
                    f"ring_dir = {node}\n")
    assert run_daemon(ObjectAuditor, [str(conf), "--once", "--zero-byte-fps", "0"]) == 2
    assert "--zero-byte-fps 0: must be more than 0" in capsys.readouterr().err


def test_node_options_default_as_the_object_servers_do() -> None:
    from objstore.common.config import describe
    from objstore.daemons.base import NODE_OPTIONS
    from objstore.obj.server import ObjectServerConfig

    server = {name: default for name, default, _ in describe(ObjectServerConfig)}
    auditor = {name: default for name, default, _ in describe(ObjectAuditorConfig)}
    shared = [name for name in NODE_OPTIONS if name in server]
    assert len(shared) == 6  # all but ring_dir, which the object server has not
    assert {name: auditor[name] for name in shared} == {name: server[name] for name in shared}
