"""The object server's HTTP handling, on a real device directory."""
from __future__ import annotations

import hashlib
import logging
import os
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from objstore.common.http import Request, wsgi_app
from objstore.common.timestamp import Timestamp
from objstore.obj.diskfile import DiskFileManager
from objstore.obj.exceptions import DiskFileQuarantined
from objstore.obj.integrity import CHUNK
from objstore.obj.server import ObjectController, ObjectServerConfig
from ring.hashing import PathHasher

from ...fakes.recording_server import RecordingServer, recording_server

PATH = "/sda/7/AUTH_a/c/photos/cat.jpg"


def make_app(devices: Path, offload: Any = None, **options: Any) -> Any:
    (devices / "sda").mkdir(exist_ok=True)
    conf = ObjectServerConfig(devices=str(devices), mount_check=False, **options)
    manager = DiskFileManager(str(devices), hasher=PathHasher("pre", "suf"),
                              disk_chunk_size=conf.disk_chunk_size)
    offloading = {} if offload is None else {"offload": offload}
    controller = ObjectController(conf, logging.getLogger("test"), manager, **offloading)
    return wsgi_app(controller, logging.getLogger("test"))


@pytest.fixture
def app(tmp_path: Path) -> Any:
    return make_app(tmp_path)


def call(app: Any, method: str, path: str = PATH, body: bytes | None = None,
         **headers: str) -> Any:
    request = Request.blank(path, method=method,
                            headers={k.replace("_", "-"): v for k, v in headers.items()})
    if body is not None:
        request.body = body
    return request.get_response(app)


def now(delta: float = 0) -> str:
    return Timestamp(float(Timestamp.now()) + delta).internal


def put(app: Any, body: bytes = b"meow", ts: str | None = None, **headers: str) -> Any:
    return call(app, "PUT", body=body, X_Timestamp=ts or now(),
                Content_Type="image/jpeg", **headers)


def test_put_get_head(app: Any) -> None:
    ts = now()
    created = put(app, b"meow", ts, X_Object_Meta_Color="grey")
    assert created.status_int == 201
    assert created.headers["ETag"] == hashlib.md5(b"meow").hexdigest()
    assert created.headers["Content-Length"] == "0"
    got = call(app, "GET")
    assert (got.status_int, got.body) == (200, b"meow")
    assert got.headers["Content-Length"] == "4"
    assert got.headers["Content-Type"] == "image/jpeg"
    assert got.headers["X-Object-Meta-Color"] == "grey"
    assert got.headers["X-Backend-Timestamp"] == ts
    assert got.headers["Last-Modified"] == Timestamp(ts).http_date
    assert "name" not in {k.lower() for k in got.headers}
    head = call(app, "HEAD")
    assert (head.status_int, head.body, head.headers["Content-Length"]) == (200, b"", "4")


def test_timestamps_order_writes(app: Any) -> None:
    ts = now()
    put(app, b"new", ts)
    stale = put(app, b"old", now(-10))
    assert stale.status_int == 409 and stale.headers["X-Backend-Timestamp"] == ts
    assert call(app, "GET").body == b"new"
    assert call(app, "DELETE", X_Timestamp=now(-5)).status_int == 409
    assert call(app, "DELETE", X_Timestamp=now(5)).status_int == 204
    gone = call(app, "GET")
    assert gone.status_int == 404 and "X-Backend-Timestamp" in gone.headers
    assert call(app, "DELETE", X_Timestamp=now(10)).status_int == 404


def test_post_replaces_metadata(app: Any) -> None:
    put(app, X_Object_Meta_A="1")
    assert call(app, "POST", X_Timestamp=now(1), X_Object_Meta_B="2").status_int == 202
    headers = call(app, "HEAD").headers
    assert "X-Object-Meta-A" not in headers and headers["X-Object-Meta-B"] == "2"
    assert call(app, "POST", path="/sda/7/AUTH_a/c/none", X_Timestamp=now()).status_int == 404


@pytest.mark.parametrize(("range_header", "status", "expected"), [
    ("bytes=0-3", 206, b"0123"),
    ("bytes=-3", 206, b"789"),
    ("bytes=7-", 206, b"789"),
    ("bytes=8-100", 206, b"89"),
    ("bytes=50-60", 416, None),
    ("bytes=3-1", 200, b"0123456789"),  # invalid: ignored
    ("chars=0-1", 200, b"0123456789"),
])
def test_ranges(app: Any, range_header: str, status: int, expected: bytes | None) -> None:
    put(app, b"0123456789")
    got = call(app, "GET", Range=range_header)
    assert got.status_int == status
    if expected is not None:
        assert got.body == expected
    if status == 416:
        assert got.headers["Content-Range"] == "bytes */10"


def test_multiple_ranges_are_multipart(app: Any) -> None:
    put(app, b"0123456789")
    got = call(app, "GET", Range="bytes=0-1,5-6")
    assert got.status_int == 206
    content_type = got.headers["Content-Type"]
    assert content_type.startswith("multipart/byteranges;boundary=")
    boundary = content_type.split("=", 1)[1]
    assert int(got.headers["Content-Length"]) == len(got.body)
    parts = got.body.split(f"--{boundary}".encode())
    assert b"Content-Range: bytes 0-1/10\r\n\r\n01\r\n" in parts[1]
    assert b"Content-Range: bytes 5-6/10\r\n\r\n56\r\n" in parts[2]
    assert parts[3] == b"--\r\n"


def test_conditional_requests(app: Any) -> None:
    ts = now()
    etag = put(app, b"data", ts).headers["ETag"]
    last_modified = Timestamp(ts).http_date
    assert call(app, "GET", If_None_Match=f'"{etag}"').status_int == 304
    assert call(app, "GET", If_Match='"other"').status_int == 412
    assert call(app, "GET", If_Match=etag).status_int == 200
    assert call(app, "GET", If_Modified_Since=last_modified).status_int == 304
    assert call(app, "GET", If_Unmodified_Since="Thu, 01 Jan 1970 00:00:00 GMT").status_int == 412
    assert call(app, "GET", If_Modified_Since="not a date").status_int == 200


@pytest.mark.parametrize(("method", "path", "headers", "status"), [
    ("PUT", PATH, {}, 400),  # no X-Timestamp
    ("PUT", PATH, {"X_Timestamp": "yesterday"}, 400),
    ("GET", "/sda/7/AUTH_a/c", {}, 400),
    ("GET", "/sda/x/AUTH_a/c/o", {}, 400),
    ("GET", "/../7/AUTH_a/c/o", {}, 400),
    ("GET", "/sda/7/AUTH_a/c/%FF", {}, 412),
    ("GET", "/sdz/7/AUTH_a/c/o", {}, 507),
    ("GET", "/sda/7/AUTH_a/c/" + "o" * 1025, {}, 400),
    ("PATCH", PATH, {}, 405),
])
def test_bad_requests(app: Any, method: str, path: str, headers: dict[str, str],
                      status: int) -> None:
    response = call(app, method, path=path, **headers)
    assert response.status_int == status
    assert response.body.strip()  # a reason, never an empty error
    assert b"Traceback" not in response.body


def test_put_checks(app: Any) -> None:
    assert put(app, b"body", ETag="0" * 32).status_int == 422
    assert call(app, "GET").status_int == 404  # nothing left behind
    request = Request.blank(PATH, method="PUT", headers={"X-Timestamp": now(),
                                                         "Content-Type": "a/b"})
    request.body = b"abc"
    del request.headers["Content-Length"]
    assert request.get_response(app).status_int == 411
    request = Request.blank(PATH, method="PUT", headers={"X-Timestamp": now(),
                                                         "Content-Type": "a/b"})
    request.body = b"x"
    request.headers["Content-Length"] = str(6 * 1024**3)
    assert request.get_response(app).status_int == 413


def test_a_short_body_is_499_and_leaves_nothing(app: Any) -> None:
    request = Request.blank(PATH, method="PUT", headers={"X-Timestamp": now(),
                                                         "Content-Type": "a/b"})
    request.body = b"abc"
    request.headers["Content-Length"] = "10"
    assert request.get_response(app).status_int == 499
    assert call(app, "GET").status_int == 404


def test_expiry(app: Any) -> None:
    assert put(app, X_Delete_At=str(int(float(Timestamp.now())) - 10)).status_int == 400
    # 2 s: the expiry is a whole second, so it is at least 1 s away here
    assert put(app, X_Delete_After="2").status_int == 201
    got = call(app, "GET")
    assert got.status_int == 200 and int(got.headers["X-Delete-At"]) > float(Timestamp.now())
    time.sleep(int(got.headers["X-Delete-At"]) - time.time() + 0.05)
    assert call(app, "GET").status_int == 404


def serve(app: Any, **headers: str) -> tuple[list[str], bytes, Exception | None]:
    """Status lines, the body as served and what cut it short, if anything
    (the WSGI server drops the connection on it)."""
    statuses: list[str] = []
    environ = Request.blank(PATH, headers={k.replace("_", "-"): v
                                           for k, v in headers.items()}).environ
    served = bytearray()
    try:
        for piece in app(environ, lambda status, headers, *exc: statuses.append(status)):
            served += piece
    except DiskFileQuarantined as err:
        return statuses, bytes(served), err
    return statuses, bytes(served), None


def flip_byte(devices: Path, offset: int) -> None:
    data_file = next((devices / "sda" / "objects").rglob("*.data"))
    with open(data_file, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0x10]))


def test_rot_stops_the_response_and_quarantines(app: Any, tmp_path: Path) -> None:
    body = os.urandom(3 * CHUNK)
    put(app, body)
    data_file = next((tmp_path / "sda" / "objects").rglob("*.data"))
    with open(data_file, "r+b") as handle:
        handle.seek(CHUNK + 1)
        handle.write(b"\x00\x01")
    statuses, served, cut = serve(app)
    assert statuses == ["200 OK"] and cut is not None
    assert served == body[:CHUNK]  # cut short: never the bad chunk
    assert call(app, "GET").status_int == 404
    assert list((tmp_path / "sda" / "quarantined" / "objects").iterdir())


MIB = 1024 * 1024
BIG = 3 * MIB + 12345  # ends mid-chunk, past three 1 MiB batches


class CountingOffload:
    """Trips to the disk thread pool, run inline."""

    def __init__(self) -> None:
        self.trips = 0

    def __call__(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        self.trips += 1
        return func(*args, **kwargs)


def test_a_big_put_of_an_odd_size_stores_exactly_its_bytes(tmp_path: Path) -> None:
    trips = CountingOffload()
    app = make_app(tmp_path, trips)
    body = os.urandom(BIG)
    etag = hashlib.md5(body).hexdigest()
    created = put(app, body, ETag=etag, X_Object_Meta_Size="big")
    assert (created.status_int, created.headers["ETag"]) == (201, etag)
    # found, checked and created; the body (read straight into one
    # direct-write buffer) written; committed
    assert trips.trips == 1 + 1 + 1
    data_file = next((tmp_path / "sda" / "objects").rglob("*.data"))
    with open(data_file, "rb") as handle:
        assert handle.read(BIG) == body
        table = handle.read(4 * (-(-BIG // CHUNK)))
    assert [int.from_bytes(table[i:i + 4], "big") for i in range(0, len(table), 4)] == [
        zlib.crc32(body[at:at + CHUNK]) for at in range(0, BIG, CHUNK)]
    head = call(app, "HEAD")
    assert (head.headers["Content-Length"], head.headers["ETag"]) == (str(BIG), etag)
    assert head.headers["X-Object-Meta-Size"] == "big"
    trips.trips = 0
    assert call(app, "GET").body == body
    assert trips.trips == 1 + 3 + 1  # open with the first MiB, three more, the end


def test_a_big_put_is_refused_in_its_first_trip(tmp_path: Path) -> None:
    trips = CountingOffload()
    app = make_app(tmp_path, trips)
    body = os.urandom(BIG)
    assert put(app, body).status_int == 201
    trips.trips = 0
    assert put(app, body, If_None_Match="*").status_int == 412  # never overwrites
    assert trips.trips == 1
    assert put(app, body, now(-100)).status_int == 409  # older than what is stored
    assert trips.trips == 2
    assert put(app, body, If_None_Match='"abc"').status_int == 400
    assert trips.trips == 2  # refused before any disk work
    assert len(list((tmp_path / "sda" / "objects").rglob("*.data"))) == 1


@pytest.mark.parametrize("size", [4096, MIB])
def test_a_body_up_to_one_batch_is_stored_and_served_in_one_trip(tmp_path: Path,
                                                                 size: int) -> None:
    trips = CountingOffload()
    app = make_app(tmp_path, trips)
    body = os.urandom(size)
    assert put(app, body).status_int == 201
    assert trips.trips == 1  # received first, then found, checked and stored in one trip
    trips.trips = 0
    assert call(app, "GET").body == body
    assert trips.trips == 1  # open and read


def test_a_delete_checks_and_writes_its_tombstone_in_one_trip(tmp_path: Path) -> None:
    trips = CountingOffload()
    app = make_app(tmp_path, trips)
    assert put(app, b"x", now(-10), X_Delete_At=str(int(time.time()) + 3600)).status_int == 201
    trips.trips = 0
    refused = call(app, "DELETE", X_Timestamp=now(-5), X_If_Delete_At="1")
    assert refused.status_int == 412 and trips.trips == 1
    stale = call(app, "DELETE", X_Timestamp=now(-20))
    assert stale.status_int == 409 and trips.trips == 2
    assert call(app, "HEAD").status_int == 200  # neither left a tombstone
    trips.trips = 0
    assert call(app, "DELETE", X_Timestamp=now(-5)).status_int == 204
    assert trips.trips == 1 + 1  # found, checked and deleted; the expirer's row an async pending
    assert call(app, "HEAD").status_int == 404


def test_a_big_put_with_a_wrong_etag_is_422_and_leaves_nothing(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    assert put(app, os.urandom(BIG), ETag="0" * 32).status_int == 422
    assert put(app, os.urandom(MIB), ETag="0" * 32).status_int == 422  # one trip's worth
    assert call(app, "GET").status_int == 404
    assert os.listdir(tmp_path / "sda" / "tmp") == []


EDGES = [
    (0, 1), (CHUNK - 1, CHUNK + 1), (MIB - 1, MIB + 1), (MIB - CHUNK - 3, 2 * MIB + 5),
    (MIB, 2 * MIB), (2 * MIB + 7, 3 * MIB - 7), (3 * MIB - 1, BIG), (5, BIG - 5), (0, BIG),
]


@pytest.mark.parametrize("disk_chunk_size", [CHUNK, 3 * CHUNK + 1, MIB])
def test_ranges_across_chunks_and_batches_are_exact(tmp_path: Path,
                                                    disk_chunk_size: int) -> None:
    app = make_app(tmp_path, disk_chunk_size=disk_chunk_size)
    body = os.urandom(BIG)
    put(app, body)
    for start, end in EDGES:
        got = call(app, "GET", Range=f"bytes={start}-{end - 1}")
        assert got.status_int == 206 and got.body == body[start:end], (start, end)
    ranges = ",".join(f"{start}-{end - 1}" for start, end in EDGES[1:4])
    got = call(app, "GET", Range=f"bytes={ranges}")
    boundary = got.headers["Content-Type"].split("=", 1)[1].encode()
    parts = got.body.split(b"--" + boundary)[1:-1]
    assert [part.split(b"\r\n\r\n", 1)[1][:-2] for part in parts] == [
        body[start:end] for start, end in EDGES[1:4]]


BAD = 2 * MIB + 5 * CHUNK + 100  # in chunk 37, mid-way through the third batch


@pytest.mark.parametrize(("range_header", "status", "good"), [
    (None, "200 OK", slice(0, 2 * MIB + 5 * CHUNK)),
    (f"bytes={MIB + 3}-", "206 Partial Content", slice(MIB + 3, 2 * MIB + 5 * CHUNK)),
    (f"bytes={BAD - 50}-{BAD + 50}", "206 Partial Content", slice(0, 0)),
])
def test_a_flipped_byte_past_the_first_batch_is_never_served(
        tmp_path: Path, range_header: str | None, status: str, good: slice) -> None:
    app = make_app(tmp_path)
    body = os.urandom(BIG)
    put(app, body)
    flip_byte(tmp_path, BAD)
    statuses, served, cut = serve(app, **({"Range": range_header} if range_header else {}))
    assert statuses == [status] and cut is not None
    assert served == body[good]  # the good chunks before the bad one, then nothing
    assert call(app, "GET").status_int == 404
    (quarantined,) = (tmp_path / "sda" / "quarantined" / "objects").iterdir()
    assert [p.name.endswith(".data") for p in quarantined.iterdir()] == [True]


def test_replicate_returns_suffix_hashes(app: Any) -> None:
    put(app)
    got = call(app, "REPLICATE", path="/sda/7")
    assert got.status_int == 200
    found = __import__("msgpack").unpackb(got.body)
    suffix = PathHasher("pre", "suf").hash_path("AUTH_a", "c", "photos/cat.jpg")[-3:]
    assert list(found) == [suffix] and len(found[suffix]) == 32
    assert call(app, "REPLICATE", path=f"/sda/7/{suffix}-abc").status_int == 200
    assert call(app, "REPLICATE", path="/sda/7/../x").status_int == 400
    assert call(app, "REPLICATE", path="/sda/7/xyz1").status_int == 400
    assert __import__("msgpack").unpackb(call(app, "REPLICATE", path="/sda/8").body) == {}


@pytest.fixture
def container_server() -> Iterator[RecordingServer]:
    with recording_server() as server:
        yield server


def test_put_and_delete_update_the_container(app: Any, container_server: RecordingServer) -> None:
    host = container_server.host
    where = {"X_Container_Host": host, "X_Container_Device": "sdc",
             "X_Container_Partition": "42", "X_Trans_Id": "tx-1"}
    ts = now()
    assert put(app, b"meow", ts, **where).status_int == 201
    assert call(app, "DELETE", X_Timestamp=now(1), **where).status_int == 204
    (op1, path1, headers1), (op2, path2, headers2) = container_server.seen
    assert (op1, path1) == ("PUT", "/sdc/42/AUTH_a/c/photos/cat.jpg")
    assert (headers1["X-Size"], headers1["X-Etag"], headers1["X-Timestamp"]) == (
        "4", hashlib.md5(b"meow").hexdigest(), ts)
    assert headers1["X-Content-Type"] == "image/jpeg" and headers1["X-Trans-Id"] == "tx-1"
    assert (op2, path2) == ("DELETE", "/sdc/42/AUTH_a/c/photos/cat.jpg")


def test_a_failed_update_becomes_a_durable_async_pending(app: Any, tmp_path: Path) -> None:
    from objstore.obj.updates import read_async_pending

    closed = __import__("socket").socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nobody listens there
    ts = now()
    response = put(app, b"meow", ts, X_Container_Host=f"127.0.0.1:{port}",
                   X_Container_Device="sdc", X_Container_Partition="42")
    assert response.status_int == 201  # the object is stored; the listing catches up later
    (pending,) = [p for p in (tmp_path / "sda" / "async_pending").rglob("*") if p.is_file()]
    name_hash = PathHasher("pre", "suf").hash_path("AUTH_a", "c", "photos/cat.jpg")
    assert pending.name == f"{name_hash}-{ts}"
    record = read_async_pending(str(pending))
    assert (record["op"], record["account"], record["container"], record["obj"]) == (
        "PUT", "AUTH_a", "c", "photos/cat.jpg")
    assert record["headers"]["X-Size"] == "4"


@pytest.mark.parametrize("headers", [
    {"X_Object_Meta_" + "n" * 129: "v"},                       # name over 128 bytes
    {"X_Object_Meta_Big": "v" * 257},                          # value over 256 bytes
    {f"X_Object_Meta_K{i}": "v" for i in range(91)},           # over 90 items
    {f"X_Object_Meta_K{i:02d}": "v" * 250 for i in range(17)},  # over 4096 bytes in all
])
def test_oversize_metadata_is_400_with_a_reason(app: Any, headers: dict[str, str]) -> None:
    response = put(app, **headers)
    assert response.status_int == 400 and response.body.strip()
    assert call(app, "GET").status_int == 404
    assert call(app, "POST", X_Timestamp=now(), **headers).status_int in (400, 404)
