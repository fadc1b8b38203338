"""The expirer's queue: its names, the split among expirers, the rows an
object server writes and removes, and X-If-Delete-At."""
from __future__ import annotations

import time
import urllib.parse
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from objstore.common.config import ConfigError, build
from objstore.common.timestamp import Timestamp
from objstore.obj import expiring
from objstore.obj.expirer import ObjectExpirerConfig
from objstore.obj.updates import read_async_pending

from ...fakes.recording_server import RecordingServer, recording_server
from .test_server import call, make_app, now, put

ROW_PREFIX = "/sdd/9/.expiring_objects/"


def test_queue_names() -> None:
    assert expiring.queue_container(1700000123) == "1699920000"
    assert expiring.queue_container(1699920000) == "1699920000"
    row = expiring.queue_object(1700000123, "AUTH_a", "c", "photos/cat.jpg")
    assert row == "1700000123-AUTH_a/c/photos/cat.jpg"
    assert expiring.parse_queue_object(row) == (1700000123, "AUTH_a", "c", "photos/cat.jpg")
    for bad in ("1700000123", "x-AUTH_a/c/o", "1700000123-AUTH_a/c", "17-AUTH_a//o", "-a/c/o"):
        with pytest.raises(ValueError):
            expiring.parse_queue_object(bad)


def test_every_row_has_exactly_one_expirer() -> None:
    rows = [expiring.queue_object(1700000000 + i, "AUTH_a", "c", f"o{i}") for i in range(3000)]
    owners: Counter[int] = Counter()
    for row in rows:
        mine = [p for p in range(3) if expiring.is_mine(row, 3, p)]
        assert len(mine) == 1, row
        owners[mine[0]] += 1
    assert all(800 < count < 1200 for count in owners.values()), owners
    assert all(expiring.is_mine(row, 0, 0) and expiring.is_mine(row, 1, 0) for row in rows)


def test_a_process_beyond_processes_is_refused() -> None:
    with pytest.raises(ConfigError, match="below processes"):
        build(ObjectExpirerConfig, {"processes": "2", "process": "2"}, source="x",
              section="object-expirer")


@pytest.fixture
def queue_server() -> Any:
    with recording_server() as server:
        yield server


def queue_headers(server: RecordingServer, delete_at: int) -> dict[str, str]:
    return {"X_Delete_At": str(delete_at), "X_Delete_At_Host": server.host,
            "X_Delete_At_Device": "sdd", "X_Delete_At_Partition": "9",
            "X_Delete_At_Container": expiring.queue_container(delete_at)}


def rows_seen(server: RecordingServer) -> list[tuple[str, str]]:
    return [(op, urllib.parse.unquote(path)[len(ROW_PREFIX):])
            for op, path, _ in server.seen if path.startswith(ROW_PREFIX)]


def pendings(devices: Path) -> list[dict[str, Any]]:
    return [read_async_pending(str(p)) for p in (devices / "sda").rglob("async_pending/*/*")]


def test_a_put_with_x_delete_at_adds_its_queue_row(tmp_path: Path,
                                                   queue_server: RecordingServer) -> None:
    app = make_app(tmp_path)
    at = int(time.time()) + 3600
    ts = now()
    assert put(app, b"meow", ts, **queue_headers(queue_server, at)).status_int == 201
    (op, path, headers), = queue_server.seen
    assert (op, urllib.parse.unquote(path)) == (
        "PUT", f"{ROW_PREFIX}{expiring.queue_container(at)}/{at}-AUTH_a/c/photos/cat.jpg")
    assert (headers["X-Size"], headers["X-Content-Type"], headers["X-Etag"],
            headers["X-Timestamp"]) == ("0", "text/plain", expiring.EMPTY_ETAG, ts)
    # an object without X-Delete-At over one without: no queue work at all
    assert put(app, b"purr", path="/sda/7/AUTH_a/c/plain").status_int == 201
    assert len(queue_server.seen) == 1 and pendings(tmp_path) == []


def test_moving_or_clearing_x_delete_at_removes_the_old_row(
        tmp_path: Path, queue_server: RecordingServer) -> None:
    app = make_app(tmp_path)
    first, later = int(time.time()) + 3600, int(time.time()) + 200000
    put(app, b"meow", now(), **queue_headers(queue_server, first))
    assert call(app, "POST", X_Timestamp=now(1), **queue_headers(queue_server, later)
                ).status_int == 202
    assert rows_seen(queue_server)[-1] == (
        "PUT", f"{expiring.queue_container(later)}/{later}-AUTH_a/c/photos/cat.jpg")
    (old,) = pendings(tmp_path)  # the old row's removal is the updater's
    assert (old["op"], old["account"], old["container"], old["obj"]) == (
        "DELETE", ".expiring_objects", expiring.queue_container(first),
        f"{first}-AUTH_a/c/photos/cat.jpg")
    # a PUT without X-Delete-At over it clears it: that row goes too
    assert put(app, b"new", now(2)).status_int == 201
    assert sorted(p["obj"] for p in pendings(tmp_path)) == sorted(
        [f"{first}-AUTH_a/c/photos/cat.jpg", f"{later}-AUTH_a/c/photos/cat.jpg"])


def test_a_delete_removes_the_row_unless_the_expirer_sends_it(
        tmp_path: Path, queue_server: RecordingServer) -> None:
    app = make_app(tmp_path)
    at = int(time.time()) + 3600
    put(app, b"meow", now(), **queue_headers(queue_server, at))
    put(app, b"meow", now(), path="/sda/7/AUTH_a/c/other", **queue_headers(queue_server, at))
    assert call(app, "DELETE", X_Timestamp=now(1)).status_int == 204
    assert [p["obj"] for p in pendings(tmp_path)] == [f"{at}-AUTH_a/c/photos/cat.jpg"]
    assert call(app, "DELETE", path="/sda/7/AUTH_a/c/other", X_Timestamp=now(1),
                X_Backend_Clean_Expiring_Object_Queue="false").status_int == 204
    assert len(pendings(tmp_path)) == 1


def test_x_if_delete_at_deletes_only_what_still_expires_then(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    at = int(time.time()) + 3600
    put(app, b"meow", now(), X_Delete_At=str(at))
    put(app, b"purr", now(), path="/sda/7/AUTH_a/c/plain")
    # moved by a later POST, or never expiring: 412, and the object stays
    assert call(app, "DELETE", X_Timestamp=now(1), X_If_Delete_At=str(at + 1)).status_int == 412
    assert call(app, "DELETE", path="/sda/7/AUTH_a/c/plain", X_Timestamp=now(1),
                X_If_Delete_At=str(at)).status_int == 412
    assert call(app, "GET").body == b"meow"
    assert call(app, "GET", path="/sda/7/AUTH_a/c/plain").body == b"purr"
    # still the same time: deleted, at the timestamp sent
    gone = Timestamp(at).internal
    assert call(app, "DELETE", X_Timestamp=gone, X_If_Delete_At=str(at)).status_int == 204
    missing = call(app, "GET")
    assert missing.status_int == 404 and missing.headers["X-Backend-Timestamp"] == gone
    # done already (a tombstone): nothing left to match
    assert call(app, "DELETE", X_Timestamp=Timestamp(at + 1).internal,
                X_If_Delete_At=str(at)).status_int == 412
