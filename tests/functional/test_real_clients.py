"""Real clients against a real cluster: rclone and the swift CLI, file trees
up and back byte for byte, and an object server that stops mid-way."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from .cluster import USERS, Cluster, ok


def make_tree(root: Path, files: int) -> dict[str, str]:
    """A directory tree of ``files`` files (empty to 300 KB, nested, odd
    names); returns relative path -> md5."""
    sums = {}
    for index in range(files):
        folder = root / f"dir{index % 7}" / (f"sub {index % 3}" if index % 2 else "")
        folder.mkdir(parents=True, exist_ok=True)
        name = f"file-{index:03d}" + ("-ünï.txt" if index % 11 == 0 else ".bin")
        size = 0 if index % 50 == 0 else (index * 7919) % 300_000
        data = os.urandom(size)
        (folder / name).write_bytes(data)
        sums[str((folder / name).relative_to(root))] = hashlib.md5(data).hexdigest()
    return sums


def tree_sums(root: Path) -> dict[str, str]:
    return {str(path.relative_to(root)): hashlib.md5(path.read_bytes()).hexdigest()
            for path in root.rglob("*") if path.is_file()}


def rclone(cluster: Cluster, *args: str) -> str:
    binary = shutil.which("rclone")
    assert binary, "rclone is not installed: apt-get install -y rclone (see README)"
    env = {**os.environ, "RCLONE_CONFIG": "/dev/null",
           "RCLONE_CONFIG_OBJ_TYPE": "swift", "RCLONE_CONFIG_OBJ_USER": "test:tester",
           "RCLONE_CONFIG_OBJ_KEY": USERS["test:tester"],
           "RCLONE_CONFIG_OBJ_AUTH": cluster.auth_url}
    result = subprocess.run([binary, *args], capture_output=True, text=True, timeout=300,
                            env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_rclone_syncs_a_tree_up_and_back(cluster: Cluster, tmp_path: Path) -> None:
    source, back = tmp_path / "source", tmp_path / "back"
    sums = make_tree(source, 300)
    rclone(cluster, "sync", str(source), "obj:tree", "--transfers", "8")
    assert len(rclone(cluster, "lsf", "-R", "--files-only", "obj:tree").split("\n")) - 1 == 300
    rclone(cluster, "check", str(source), "obj:tree")  # sizes and md5s, as rclone sees them
    rclone(cluster, "sync", "obj:tree", str(back), "--transfers", "8")
    assert tree_sums(back) == sums
    # a change and a deletion on one side reach the other
    changed = next(iter(sums))
    (source / changed).write_bytes(b"changed")
    removed = list(sums)[1]
    (source / removed).unlink()
    rclone(cluster, "sync", str(source), "obj:tree")
    rclone(cluster, "sync", "obj:tree", str(back))
    assert tree_sums(back) == tree_sums(source)


def test_swift_cli_uploads_lists_and_downloads_a_directory(cluster: Cluster,
                                                           tmp_path: Path) -> None:
    sums = make_tree(tmp_path / "tree", 60)
    ok(cluster.swift("upload", "--object-threads", "8", "files", "tree"))
    listed = ok(cluster.swift("list", "files")).splitlines()
    assert sorted(listed) == sorted(f"tree/{name}" for name in sums)
    assert sorted(ok(cluster.swift("list", "files", "--prefix", "tree/dir3/")).splitlines()) == \
        sorted(f"tree/{name}" for name in sums if name.startswith("dir3/"))
    rolled = ok(cluster.swift("list", "files", "--prefix", "tree/", "-d", "/")).splitlines()
    assert rolled == [f"tree/dir{n}/" for n in range(7)]
    long = ok(cluster.swift("list", "--long", "files")).splitlines()
    assert int(long[-1].split()[0]) == sum((tmp_path / "tree" / name).stat().st_size
                                           for name in sums)  # the totals line
    assert "Objects: 60" in ok(cluster.swift("stat", "files"))
    (tmp_path / "down").mkdir()
    ok(cluster.swift("download", "--object-threads", "8", "-D", str(tmp_path / "down"),
                     "files", "--prefix", "tree/"))
    assert tree_sums(tmp_path / "down") == {f"tree/{name}": md5 for name, md5 in sums.items()}
    ok(cluster.swift("delete", "files"))
    assert ok(cluster.swift("list")).split() == []


def test_uploads_and_reads_go_on_while_an_object_server_is_down(cluster: Cluster,
                                                                 tmp_path: Path) -> None:
    before = make_tree(tmp_path / "before", 40)
    ok(cluster.swift("upload", "--object-threads", "8", "c", "before"))
    cluster.stop_server("object2")
    during = make_tree(tmp_path / "during", 40)
    ok(cluster.swift("upload", "--object-threads", "8", "c", "during"))
    (tmp_path / "down1").mkdir()
    ok(cluster.swift("download", "-D", str(tmp_path / "down1"), "c"))
    assert tree_sums(tmp_path / "down1") == \
        {f"before/{name}": md5 for name, md5 in before.items()} | \
        {f"during/{name}": md5 for name, md5 in during.items()}
    cluster.restart_server("object2")
    # object2 lacks what was written while it was down: reads go past it
    (tmp_path / "down2").mkdir()
    ok(cluster.swift("download", "-D", str(tmp_path / "down2"), "c"))
    assert tree_sums(tmp_path / "down2") == tree_sums(tmp_path / "down1")
    assert ok(cluster.swift("stat", "c")).count("Objects: 80") == 1


def test_the_readmes_swift_tour(cluster: Cluster, tmp_path: Path) -> None:
    (tmp_path / "holiday").mkdir()
    (tmp_path / "holiday" / "cat.jpg").write_bytes(b"meow")
    (tmp_path / "holiday" / "dog.jpg").write_bytes(b"woof")
    ok(cluster.swift("upload", "--object-threads", "8", "photos", str(tmp_path / "holiday"),
                     "--object-name", "holiday"))
    assert ok(cluster.swift("list", "photos", "--prefix", "holiday/", "-d", "/")).split() == \
        ["holiday/cat.jpg", "holiday/dog.jpg"]
    ok(cluster.swift("post", "-m", "color:blue", "photos", "holiday/cat.jpg"))
    assert "Meta Color: blue" in ok(cluster.swift("stat", "photos", "holiday/cat.jpg"))
    ok(cluster.swift("copy", "-d", "/archive/cat.jpg", "photos", "holiday/cat.jpg"))
    ok(cluster.swift("download", "archive", "cat.jpg", "-o", str(tmp_path / "copy.jpg")))
    assert (tmp_path / "copy.jpg").read_bytes() == b"meow"
    ok(cluster.swift("post", "-r", ".r:*,.rlistings", "photos"))
    assert "Read ACL: .r:*,.rlistings" in ok(cluster.swift("stat", "photos"))
    ok(cluster.swift("post", "-H", "X-Storage-Policy: silver", "cold"))
    assert "X-Storage-Policy: silver" in ok(cluster.swift("stat", "cold"))
    assert "Objects in policy \"gold\"" in ok(cluster.swift("stat"))
    ok(cluster.swift("delete", "photos"))
    assert ok(cluster.swift("list")).split() == ["archive", "cold"]
