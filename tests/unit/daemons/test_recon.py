"""The recon cache: whole JSON files, entries that add up, shared by daemons."""
from __future__ import annotations

import json
import multiprocessing
import os
import threading
from pathlib import Path

from objstore.daemons.recon import ReconCache, read_recon


def test_passes_add_up_and_the_last_is_kept(tmp_path: Path) -> None:
    recon = ReconCache(str(tmp_path / "recon"), "object")
    recon.record_progress("object-auditor", 10.0, 11.0, {"files": 3})
    assert recon.entry("object-auditor")["current_pass"] == {
        "started": 10.0, "updated": 11.0, "counts": {"files": 3}}
    recon.record_pass("object-auditor", 10.0, 12.5, True, {"files": 5, "errors": 0}, ["sda"])
    recon.record_pass("object-auditor", 20.0, 21.0, False, {"files": 2, "errors": 1}, ["sda"])
    entry = json.loads((tmp_path / "recon" / "object.recon").read_text())["object-auditor"]
    assert entry == {
        "passes": 1, "interrupted": 1, "totals": {"files": 7, "errors": 1},
        "last_pass": {"started": 20.0, "finished": 21.0, "duration": 1.0, "completed": False,
                      "devices": ["sda"], "counts": {"files": 2, "errors": 1}},
    }


def test_a_damaged_file_reads_as_empty_and_is_started_afresh(tmp_path: Path) -> None:
    recon = ReconCache(str(tmp_path), "object")
    (tmp_path / "object.recon").write_text('{"object-auditor": {"pass')
    assert recon.read() == {} and read_recon(str(tmp_path / "missing.recon")) == {}
    recon.record_pass("object-auditor", 1.0, 2.0, True, {"files": 1}, [])
    assert recon.entry("object-auditor")["passes"] == 1


def _bump(directory: str, key: str, times: int) -> None:
    recon = ReconCache(directory, "object")
    for number in range(times):
        recon.record_pass(key, float(number), float(number) + 1, True, {"files": 1}, ["sda"])


def test_daemons_sharing_the_file_lose_none_of_each_others_passes(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")  # separate processes, as daemons are
    workers = [context.Process(target=_bump, args=(str(tmp_path), key, 40))
               for key in ("object-auditor", "object-replicator", "object-updater")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    data = read_recon(str(tmp_path / "object.recon"))
    assert {key: entry["passes"] for key, entry in data.items()} == {
        "object-auditor": 40, "object-replicator": 40, "object-updater": 40}


def test_a_reader_never_sees_half_a_file(tmp_path: Path) -> None:
    recon = ReconCache(str(tmp_path), "object")
    recon.record_pass("object-auditor", 0.0, 1.0, True, {"files": 1}, ["sda"])
    done = threading.Event()
    torn = []

    def read_all_the_time() -> None:
        while not done.is_set():
            try:
                with open(recon.path, encoding="utf-8") as handle:
                    json.load(handle)
            except ValueError as err:
                torn.append(err)

    reader = threading.Thread(target=read_all_the_time)
    reader.start()
    try:
        devices = [f"d{number}" for number in range(2000)]  # big enough to take many writes
        for number in range(30):
            recon.record_pass("object-auditor", float(number), number + 1.0, True,
                              {"files": number}, devices)
    finally:
        done.set()
        reader.join()
    assert torn == []
    assert oct(os.stat(recon.path).st_mode & 0o777) == "0o644"  # operators may read it
