"""Builder files: msgpack with a format version, atomic, and loud when broken."""
from __future__ import annotations

import os
from pathlib import Path

import msgpack
import pytest

from ring import builderfile
from ring.exceptions import BuilderFileError

from .conftest import grid, make_builder


def test_save_and_load_give_back_the_same_builder(tmp_path: Path) -> None:
    builder = make_builder(part_power=8, replicas=2.5, min_part_hours=3, layout=grid(2, 2, 1, 2))
    builder.set_overload(0.25)
    builder.rebalance(seed=5)
    builder.remove_dev(1)
    path = str(tmp_path / "object.builder")
    builderfile.save(builder, path)
    loaded = builderfile.load(path)
    assert builderfile.to_dict(loaded) == builderfile.to_dict(builder)
    assert loaded.devs == builder.devs and loaded.table == builder.table
    assert loaded.removing == {1} and loaded.overload == 0.25 and loaded.replicas == 2.5
    # the loaded builder carries on exactly as the original would
    builder.pretend_min_part_hours_passed()
    loaded.pretend_min_part_hours_passed()
    assert builder.rebalance(seed=9).parts_moved == loaded.rebalance(seed=9).parts_moved
    assert builder.table == loaded.table


def test_file_starts_with_its_format(tmp_path: Path) -> None:
    path = tmp_path / "b.builder"
    builderfile.save(make_builder(), str(path))
    data = msgpack.unpackb(path.read_bytes())
    assert (data["format"], data["format_version"]) == ("objstore-ring-builder", 1)
    assert os.listdir(tmp_path) == ["b.builder"]


@pytest.mark.parametrize(("content", "message"), [
    (b"\x80\x04\x95 pickled", "not a builder"),
    (msgpack.packb([1, 2]), "not a builder"),
    (msgpack.packb({"format": "other"}), "not an objstore builder"),
    (msgpack.packb({"format": "objstore-ring-builder", "format_version": 99}), "version 99"),
    (msgpack.packb({"format": "objstore-ring-builder", "format_version": 1}), "corrupt builder"),
])
def test_broken_builder_files_are_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.builder"
    path.write_bytes(content)
    with pytest.raises(BuilderFileError, match=message):
        builderfile.load(str(path))


def test_rows_that_do_not_fit_the_part_power_are_refused(tmp_path: Path) -> None:
    builder = make_builder(part_power=6, layout=grid(1, 3, 1, 1))
    builder.rebalance(seed=1)
    data = builderfile.to_dict(builder)
    data["table"][0] = data["table"][0][:10]
    path = tmp_path / "bad.builder"
    path.write_bytes(msgpack.packb(data, use_bin_type=True))
    with pytest.raises(BuilderFileError, match="must hold 64 partitions"):
        builderfile.load(str(path))


def test_missing_builder_file(tmp_path: Path) -> None:
    with pytest.raises(BuilderFileError, match="does not exist"):
        builderfile.load(str(tmp_path / "nope.builder"))
