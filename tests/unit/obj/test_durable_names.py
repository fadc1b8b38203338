"""Which mounts let a file's own fsync make its new name durable."""
from __future__ import annotations

from pathlib import Path

import pytest

from objstore.obj import durable_names
from objstore.obj.durable_names import filesystem_of, fsync_names_new_files

MOUNTINFO = "\n".join([
    "22 27 0:21 / /proc rw,relatime - proc proc rw",
    "27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw",
    "40 27 8:16 / /srv/node/sdb rw,noatime shared:20 master:3 - xfs /dev/sdb rw,attr2",
    "41 27 0:50 / /srv/node/sdc rw - tmpfs tmpfs rw,size=1024k",
    r"42 27 8:32 / /srv/node/my\040disk rw - xfs /dev/sdd rw",
    "43 27 0:51 / /srv/node/sdb rw - tmpfs tmpfs rw",  # mounted over the xfs one
    "44 27 8:48 / /mnt/broken",  # cut short: ignored
])


@pytest.mark.parametrize(("path", "expected"), [
    ("/", "ext4"),
    ("/srv/node", "ext4"),
    ("/srv/node/sdc", "tmpfs"),
    ("/srv/node/sdc/objects/7", "tmpfs"),
    ("/srv/node/sdc2/objects", "ext4"),  # a prefix of the name is not a parent
    ("/srv/node/my disk/objects", "xfs"),  # spaces come escaped as \040
    ("/srv/node/sdb/objects", "tmpfs"),  # the later mount hides the earlier
    ("/proc/self", "proc"),
    ("/mnt/broken/x", "ext4"),
])
def test_the_deepest_mount_above_a_path_names_its_filesystem(path: str, expected: str) -> None:
    assert filesystem_of(path, MOUNTINFO) == expected


def test_no_mount_above_says_none() -> None:
    assert filesystem_of("/srv", "40 27 8:16 / /data rw - xfs /dev/sdb rw") is None


def test_the_answer_is_kept_a_while_then_looked_up_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(f"40 27 8:16 / {tmp_path} rw - xfs /dev/sdb rw\n")
    monkeypatch.setattr(durable_names, "MOUNTINFO", str(mountinfo))
    monkeypatch.setattr(durable_names, "_checked", {})
    device = str(tmp_path / "sdb")
    assert fsync_names_new_files(device)
    mountinfo.write_text(f"40 27 0:50 / {tmp_path} rw - tmpfs tmpfs rw\n")  # a disk swapped
    assert fsync_names_new_files(device)  # not read again yet
    monkeypatch.setattr(durable_names, "RECHECK_SECONDS", 0.0)
    assert not fsync_names_new_files(device)
    mountinfo.unlink()
    assert not fsync_names_new_files(device)  # cannot tell: every directory fsynced
