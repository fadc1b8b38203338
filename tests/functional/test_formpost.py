"""Form POST on a real cluster: browser uploads with a signed form, and the
forms that must store nothing (or nothing more)."""
from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
import urllib.parse
from collections.abc import Iterator

import pytest

from .cluster import raw
from .test_tempurl import KEY, Owner, SignedCluster, signed_cluster

BOUNDARY = "----objstoreFormBoundary4f3a"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SignedCluster]:
    yield from signed_cluster(tmp_path_factory.mktemp("formpost"))


@pytest.fixture(scope="module")
def owner(cluster: SignedCluster) -> Owner:
    owner = Owner(cluster)
    assert owner("POST", "", X_Account_Meta_Temp_URL_Key=KEY)[0] == 204
    assert owner("PUT", "uploads")[0] in (201, 202)
    return owner


def form(path: str, files: list[tuple[str, bytes]], redirect: str = "", max_file_size: int = 65536,
         max_file_count: int = 10, expires_in: int = 300, key: str = KEY,
         extra: list[tuple[str, str]] = ()) -> bytes:
    """A browser's form body, signed as Swift's formpost signs it."""
    expires = str(int(time.time()) + expires_in)
    message = f"{path}\n{redirect}\n{max_file_size}\n{max_file_count}\n{expires}"
    signature = hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()
    fields = [("redirect", redirect), ("max_file_size", str(max_file_size)),
              ("max_file_count", str(max_file_count)), ("expires", expires),
              ("signature", signature), *extra]
    body = b""
    for name, value in fields:
        body += (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                 f"{value}\r\n").encode()
    for index, (filename, data) in enumerate(files):
        body += (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file{index}"; '
                 f'filename="{filename}"\r\nContent-Type: text/x-upload\r\n\r\n').encode()
        body += data + b"\r\n"
    return body + f"--{BOUNDARY}--\r\n".encode()


def submit(owner: Owner, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    return raw(owner.cluster, "POST", urllib.parse.quote(path), body,
               {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})


def listing(owner: Owner) -> list[str]:
    status, _, body = raw(owner.cluster, "GET", f"/v1/{owner.account}/uploads?format=json",
                          headers={"X-Auth-Token": owner.token})
    assert status == 200
    return [entry["name"] for entry in json.loads(body)]


def test_a_browser_upload_of_two_files(owner: Owner) -> None:
    path = f"/v1/{owner.account}/uploads/photos/"
    status, headers, _ = submit(owner, path, form(
        path, [("one.txt", b"first file"), ("t\u00e9st two.txt", b"second" * 1000)],
        redirect="https://example.com/done?from=form",
        extra=[("x_delete_after", "3600")]))
    assert status == 303
    location = urllib.parse.urlsplit(headers["Location"])
    assert (location.netloc, location.path) == ("example.com", "/done")
    assert urllib.parse.parse_qs(location.query) == {
        "from": ["form"], "status": ["201"], "message": ["2 file(s) stored"]}
    status, headers, body = owner("GET", "uploads/photos/one.txt")
    assert (status, body) == (200, b"first file")
    assert headers["Content-Type"] == "text/x-upload" and "X-Delete-At" in headers
    assert owner("GET", "uploads/photos/t\u00e9st two.txt")[2] == b"second" * 1000
    # without a redirect the answer is the status itself
    path = f"/v1/{owner.account}/uploads"
    status, _, body = submit(owner, path, form(path, [("plain.txt", b"p")]))
    assert (status, body) == (201, b"FormPost: 1 file(s) stored\n")
    assert owner("GET", "uploads/plain.txt")[2] == b"p"


def test_forms_that_store_nothing_or_nothing_more(owner: Owner) -> None:
    before = listing(owner)
    path = f"/v1/{owner.account}/uploads/refused/"
    untrusted = [
        (form(path, [("a", b"1")], key="not-the-key"), 401, b"does not match"),
        (form(path, [("a", b"1")], expires_in=-10), 401, b"expired"),
        (form(f"/v1/{owner.account}/uploads/elsewhere/", [("a", b"1")]), 401,
         b"does not match"),
        (form(path, [("a", b"1")]).replace(b"max_file_count\"\r\n\r\n10",
                                           b"max_file_count\"\r\n\r\n99"), 401,
         b"does not match"),
    ]
    for body, status, reason in untrusted:
        got = submit(owner, path, body)
        assert got[0] == status and reason in got[2], got
        assert "Location" not in got[1]
    assert listing(owner) == before
    # too big: the files before it stay, it is not stored, not even in part
    status, headers, _ = submit(owner, path, form(
        path, [("small", b"x" * 10), ("big", b"y" * 200_000), ("after", b"z")],
        redirect="https://example.com/", max_file_size=100_000))
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(headers["Location"]).query)
    assert query["status"] == ["400"] and "max_file_size exceeded" in query["message"][0]
    assert listing(owner) == sorted(before + ["refused/small"])
    assert owner("HEAD", "uploads/refused/big")[0] == 404
    # too many: the ones over the count are refused
    status, _, body = submit(owner, path, form(path, [("1", b"1"), ("2", b"2")],
                                               max_file_count=1))
    assert status == 400 and b"max_file_count exceeded" in body
    assert owner("HEAD", "uploads/refused/1")[0] == 200
    assert owner("HEAD", "uploads/refused/2")[0] == 404


def test_a_form_cut_off_mid_file_leaves_no_object(owner: Owner) -> None:
    path = f"/v1/{owner.account}/uploads/cut/"
    body = form(path, [("partial", b"p" * 300_000)], max_file_size=1_000_000)
    head = (f"POST {urllib.parse.quote(path)} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", owner.cluster.ports["proxy"]),
                                  timeout=30) as sock:
        sock.sendall(head + body[:200_000])
        sock.shutdown(socket.SHUT_WR)  # the browser went away mid-file
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert not answer.startswith(b"HTTP/1.1 2")
    time.sleep(0.5)
    assert owner("HEAD", "uploads/cut/partial")[0] == 404
    assert not [name for name in listing(owner) if name.startswith("cut/")]
