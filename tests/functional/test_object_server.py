"""The object server as a real process over HTTP, including a crash mid-PUT."""
from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from objstore.common.timestamp import Timestamp

from .exchange import exchange
from .test_server_runtime import free_port, wait_until

COMMAND = shutil.which("objstore-object-server")


class ObjectServer:
    def __init__(self, tmp_path: Path) -> None:
        self.devices = tmp_path / "srv"
        (self.devices / "sda").mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        cluster = tmp_path / "objstore.conf"
        cluster.write_text("[swift-hash]\nswift_hash_path_suffix = functional\n")
        self.conf = tmp_path / "object-server.conf"
        self.conf.write_text(
            f"[app:object-server]\nbind_port = {self.port}\nworkers = 1\n"
            f"devices = {self.devices}\nmount_check = false\ncluster_conf = {cluster}\n"
            f"log_file = {tmp_path / 'object.log'}\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert COMMAND, "objstore-object-server is not installed (pip install -e .)"
        self.proc = subprocess.Popen([COMMAND, str(self.conf)], start_new_session=True,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_until(lambda: self.request("GET", "/sda/0/a/c/probe")[0] == 404)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()

    def request(self, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        return exchange(self.port, method, path, body, headers)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ObjectServer]:
    node = ObjectServer(tmp_path)
    node.start()
    try:
        yield node
    finally:
        node.kill()


def stamp(delta: float = 0) -> str:
    return Timestamp(float(Timestamp.now()) + delta).internal


def test_put_get_range_delete_over_http(server: ObjectServer) -> None:
    body = os.urandom(200_000)
    path = "/sda/3/AUTH_test/c/dir/\u00e9t\u00e9.bin"
    quoted = "/sda/3/AUTH_test/c/dir/%C3%A9t%C3%A9.bin"
    status, headers, _ = server.request("PUT", quoted, body, {
        "X-Timestamp": stamp(), "Content-Type": "application/x-test",
        "ETag": hashlib.md5(body).hexdigest(), "X-Object-Meta-Season": "summer"})
    assert status == 201 and headers["ETag"] == hashlib.md5(body).hexdigest()
    # framed by its length: no chunked encoding for an empty answer
    assert headers["Content-Length"] == "0" and "Transfer-Encoding" not in headers
    status, headers, got = server.request("GET", quoted)
    assert (status, got) == (200, body)
    assert headers["X-Object-Meta-Season"] == "summer"
    status, _, got = server.request("GET", quoted, headers={"Range": "bytes=100-199"})
    assert (status, got) == (206, body[100:200])
    assert server.request("DELETE", quoted, headers={"X-Timestamp": stamp(1)})[0] == 204
    assert server.request("GET", quoted)[0] == 404
    assert path  # the same name, as the proxy would send it quoted


def test_chunked_upload(server: ObjectServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.putrequest("PUT", "/sda/1/a/c/chunked")
    for name, value in {"X-Timestamp": stamp(), "Content-Type": "a/b",
                        "Transfer-Encoding": "chunked"}.items():
        conn.putheader(name, value)
    conn.endheaders()
    for piece in (b"abc", b"defg", b""):
        conn.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
    assert conn.getresponse().status == 201
    conn.close()
    assert server.request("GET", "/sda/1/a/c/chunked")[2] == b"abcdefg"


def test_kill_9_mid_put_leaves_nothing_visible_and_restarts_cleanly(
        server: ObjectServer) -> None:
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall((f"PUT /sda/2/a/c/big HTTP/1.1\r\nHost: x\r\nX-Timestamp: {stamp()}\r\n"
                  "Content-Type: a/b\r\nContent-Length: 10000000\r\n\r\n").encode())
    sock.sendall(os.urandom(3_000_000))
    time.sleep(0.3)  # the server is mid-body, writing to its temp file
    server.kill()
    sock.close()
    server.start()
    assert server.request("GET", "/sda/2/a/c/big")[0] == 404
    assert not list((server.devices / "sda").rglob("*.data"))
    status = server.request("PUT", "/sda/2/a/c/big", b"fine",
                            {"X-Timestamp": stamp(), "Content-Type": "a/b"})[0]
    assert status == 201
    assert server.request("GET", "/sda/2/a/c/big")[2] == b"fine"


def test_a_client_that_disconnects_mid_body_leaves_nothing(server: ObjectServer) -> None:
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall((f"PUT /sda/2/a/c/gone HTTP/1.1\r\nHost: x\r\nX-Timestamp: {stamp()}\r\n"
                  "Content-Type: a/b\r\nContent-Length: 1000\r\n\r\n").encode() + b"x" * 10)
    sock.close()
    wait_until(lambda: "499" in (server.devices.parent / "object.log").read_text())
    assert server.request("GET", "/sda/2/a/c/gone")[0] == 404
    tmp = server.devices / "sda" / "tmp"
    assert not tmp.exists() or os.listdir(tmp) == []


def test_a_big_body_goes_from_the_socket_to_the_disk_whole(server: ObjectServer) -> None:
    # past KEEP_CACHE_SIZE and not a multiple of the direct writes' buffer
    body = os.urandom((6 << 20) + 12345)
    headers = {"X-Timestamp": stamp(), "Content-Type": "a/b"}
    status, answer, _ = server.request("PUT", "/sda/2/a/c/big", body, headers)
    assert status == 201 and answer["ETag"] == hashlib.md5(body).hexdigest()
    assert server.request("GET", "/sda/2/a/c/big")[2] == body


def test_a_big_body_cut_short_leaves_nothing(server: ObjectServer) -> None:
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall((f"PUT /sda/2/a/c/cut HTTP/1.1\r\nHost: x\r\nX-Timestamp: {stamp()}\r\n"
                  "Content-Type: a/b\r\nContent-Length: 8000000\r\n\r\n").encode())
    sock.sendall(os.urandom(6_500_000))
    sock.close()
    wait_until(lambda: "499" in (server.devices.parent / "object.log").read_text())
    assert server.request("GET", "/sda/2/a/c/cut")[0] == 404
    assert not list((server.devices / "sda").rglob("*.data"))


@pytest.mark.parametrize(("method", "path", "headers", "status"), [
    ("GET", "/sda/1/a/c/%FF%FE", {}, 412),                     # not UTF-8
    ("GET", "/sda/1/a/c/x%00y", {}, 412),                      # NUL in the name
    ("GET", "/../1/a/c/o", {}, 400),                           # leaves the devices dir
    ("GET", "/sda/../a/c/o", {}, 400),
    ("GET", "/sda/1/a/c/" + "n" * 1025, {}, 400),              # name too long
    ("PUT", "/sda/1/a/c/o", {"X-Timestamp": "soon"}, 400),     # bad timestamp
    ("PUT", "/sda/1/a/c/o", {"X-Timestamp": "-5"}, 400),
    ("PUT", "/sda/1/a/c/o", {"X-Object-Meta-" + "k" * 129: "v"}, 400),  # metadata too big
    ("PUT", "/sda/1/a/c/o", {"X-Delete-At": "yesterday"}, 400),
    ("GET", "/sdz/1/a/c/o", {}, 507),                          # no such device
])
def test_bad_input_over_http_is_a_4xx_with_a_reason(server: ObjectServer, method: str, path: str,
                                                     headers: dict[str, str],
                                                     status: int) -> None:
    full = {"Content-Type": "a/b", **headers}
    if method == "PUT":
        full.setdefault("X-Timestamp", stamp())
    got_status, _, body = server.request(method, path, b"x" if method == "PUT" else b"", full)
    assert got_status == status
    assert body.strip() and b"Traceback" not in body


def test_a_range_past_the_end_is_416(server: ObjectServer) -> None:
    server.request("PUT", "/sda/1/a/c/r", b"0123456789", {"X-Timestamp": stamp(),
                                                          "Content-Type": "a/b"})
    status, headers, _ = server.request("GET", "/sda/1/a/c/r", headers={"Range": "bytes=20-30"})
    assert (status, headers["Content-Range"]) == (416, "bytes */10")
    status, headers, body = server.request("GET", "/sda/1/a/c/r",
                                           headers={"Range": "bytes=1-2,4-5"})
    assert status == 206 and headers["Content-Type"].startswith("multipart/byteranges")
    assert b"Content-Range: bytes 1-2/10" in body and b"Content-Range: bytes 4-5/10" in body


MIB = 1024 * 1024
CHUNK = 64 * 1024


def test_a_big_odd_sized_object_and_its_ranges_over_http(server: ObjectServer) -> None:
    body = os.urandom(5 * MIB + 777)
    etag = hashlib.md5(body).hexdigest()
    status, headers, _ = server.request("PUT", "/sda/4/a/c/big", body, {
        "X-Timestamp": stamp(), "Content-Type": "a/b", "ETag": etag})
    assert (status, headers["ETag"]) == (201, etag)
    status, headers, got = server.request("GET", "/sda/4/a/c/big")
    assert (status, headers["Content-Length"], headers["ETag"]) == (200, str(len(body)), etag)
    assert got == body
    for start, end in [(MIB - 1, MIB + 1), (CHUNK - 2, 3 * MIB + CHUNK + 2),
                       (4 * MIB + 5, len(body))]:
        status, _, got = server.request("GET", "/sda/4/a/c/big",
                                        headers={"Range": f"bytes={start}-{end - 1}"})
        assert (status, got) == (206, body[start:end])
    status, headers, got = server.request("GET", "/sda/4/a/c/big",
                                          headers={"Range": f"bytes=0-0,{2 * MIB - 1}-{2 * MIB}"})
    assert status == 206 and int(headers["Content-Length"]) == len(got)
    assert body[2 * MIB - 1:2 * MIB + 1] in got


def test_rot_past_the_first_megabyte_cuts_the_body_short_and_quarantines(
        server: ObjectServer) -> None:
    body = os.urandom(3 * MIB + 12345)
    server.request("PUT", "/sda/4/a/c/rot", body, {"X-Timestamp": stamp(),
                                                   "Content-Type": "a/b"})
    (data_file,) = (server.devices / "sda" / "objects").rglob("*.data")
    bad = 2 * MIB + 5 * CHUNK + 100
    with open(data_file, "r+b") as handle:
        handle.seek(bad)
        handle.write(bytes([body[bad] ^ 1]))
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/sda/4/a/c/rot")
    response = conn.getresponse()
    assert response.status == 200
    began = time.monotonic()
    with pytest.raises(http.client.IncompleteRead) as cut:
        response.read()
    conn.close()
    assert time.monotonic() - began < 5  # the server hung up; no read timeout
    assert cut.value.partial == body[:bad - bad % CHUNK]  # good chunks, never the bad one
    assert server.request("GET", "/sda/4/a/c/rot")[0] == 404
    assert list((server.devices / "sda" / "quarantined" / "objects").rglob("*.data"))


def footed_put(server: ObjectServer, path: str, body: bytes, footer: bytes,
               wire_length: int | None = None, etag: str = "") -> tuple[bytes, bytes]:
    """A PUT as the proxy sends a big body (put_footer.py): the 100 Continue
    it got, and the final answer."""
    length = len(body) + len(footer) if wire_length is None else wire_length
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        sock.sendall((f"PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n"
                      f"X-Backend-Object-Length: {len(body)}\r\nX-Timestamp: {stamp()}\r\n"
                      f"Content-Type: application/x-test\r\nExpect: 100-continue\r\n"
                      + (f"ETag: {etag}\r\n" if etag else "") + "\r\n").encode())
        interim = sock.recv(65536)
        if not interim.startswith(b"HTTP/1.1 100"):
            return b"", interim
        sock.sendall(body + footer)
        answer = interim.split(b"\r\n\r\n", 1)[1] or sock.recv(65536)
        return interim, answer
    finally:
        sock.close()


def test_a_body_with_the_proxys_md5_after_it_is_stored_once_its_checksums_match(
        server: ObjectServer) -> None:
    from objstore.obj import put_footer
    from objstore.obj.integrity import ChecksumWriter

    body = os.urandom(2 * 1024 * 1024 + 5)
    sums = ChecksumWriter()
    sums.update(body)
    footer = put_footer.build(sums)
    md5 = hashlib.md5(body).hexdigest()
    interim, answer = footed_put(server, "/sda/1/a/c/good", body, footer)
    assert b"X-Backend-Footer: md5-crc32" in interim  # how the proxy knows it is understood
    assert answer.startswith(b"HTTP/1.1 201") and md5.encode() in answer
    status, headers, got = server.request("GET", "/sda/1/a/c/good")
    assert (status, headers["ETag"], got == body) == (200, md5, True)

    other = bytearray(body)
    other[1_500_000] ^= 1  # a byte that changed between the proxy and the disk
    _, answer = footed_put(server, "/sda/1/a/c/bent", bytes(other), footer)
    assert answer.startswith(b"HTTP/1.1 422") and b"does not match" in answer
    _, answer = footed_put(server, "/sda/1/a/c/bent", body, b"z" * 32 + footer[32:])
    assert answer.startswith(b"HTTP/1.1 422") and b"MD5" in answer
    _, answer = footed_put(server, "/sda/1/a/c/bent", body, footer, etag="0" * 32)
    assert answer.startswith(b"HTTP/1.1 422")  # the client's ETag still rules
    assert server.request("GET", "/sda/1/a/c/bent")[0] == 404
    _, answer = footed_put(server, "/sda/1/a/c/bent", body, footer,
                           wire_length=len(body) + len(footer) - 1)
    assert answer.startswith(b"HTTP/1.1 400") and b"footer" in answer
