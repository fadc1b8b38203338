"""Young directories: marked on the disk from their making until their
maker's write is durable, so that any other write (any thread, any
process) that finds one on its path makes its entry durable itself."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from objstore.obj import young_dirs


def is_young(path: Path) -> bool:
    return bool(os.stat(path).st_mode & stat.S_ISVTX)


def test_a_directory_is_young_from_its_making_until_its_write_is_over(tmp_path: Path) -> None:
    hash_dir = tmp_path / "objects" / "7" / "abc" / "hash"
    with young_dirs.making() as maker:
        for path in (hash_dir.parents[2], hash_dir.parents[1], hash_dir.parents[0]):
            young_dirs.make(str(path), maker)
        young_dirs.make(str(hash_dir.parents[0]), maker)  # there already: not its making
        assert maker.dirs == [str(p) for p in (hash_dir.parents[2], hash_dir.parents[1],
                                               hash_dir.parents[0])]
        with young_dirs.making() as other:  # another write, in another process maybe
            young_dirs.make(str(hash_dir), other)
            assert young_dirs.others_young(str(hash_dir), str(tmp_path), other) == [
                str(hash_dir.parents[0]), str(hash_dir.parents[1]), str(hash_dir.parents[2])]
            assert young_dirs.others_young(str(hash_dir), str(tmp_path), maker) == [
                str(hash_dir)]
    assert not any(is_young(p) for p in (hash_dir, *hash_dir.parents[:3]))
    with young_dirs.making() as later:
        assert young_dirs.others_young(str(hash_dir), str(tmp_path), later) == []


def test_a_failed_write_leaves_its_directories_young(tmp_path: Path) -> None:
    made_here = tmp_path / "objects"
    with pytest.raises(OSError):
        with young_dirs.making() as write:
            young_dirs.make(str(made_here), write)
            raise OSError("the disk went away")
    assert is_young(made_here)  # not known durable: the next write there sees to it
    young_dirs.grown_up(str(made_here))
    assert not is_young(made_here)
    assert stat.S_IMODE(os.stat(made_here).st_mode) == young_dirs.MODE


def test_a_missing_parent_is_not_made() -> None:
    with young_dirs.making() as write:
        with pytest.raises(FileNotFoundError):
            young_dirs.make("/nonexistent-objstore-dir/objects", write)
    assert write.dirs == []
