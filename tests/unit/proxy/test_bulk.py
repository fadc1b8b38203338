"""bulk over a fake proxy: archives extracted into an account, a container
and a prefix; members refused and archives broken; bulk deletes; limits;
what reaches the app below."""
from __future__ import annotations

import gzip
import io
import json
import logging
import tarfile
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from objstore.common.constraints import Constraints
from objstore.common.http import wsgi_to_text
from objstore.proxy.middleware import bulk_delete, bulk_extract
from objstore.proxy.middleware.bulk import filter_factory
from objstore.proxy.middleware.bulk_delete import parse_list, read_lines
from objstore.proxy.middleware.bulk_extract import ItemError, destination, member_headers

LOG = logging.getLogger("test.bulk")


def answer(start_response: Callable[..., Any], status: str, body: bytes = b"") -> list[bytes]:
    start_response(status, [("Content-Length", str(len(body)))])
    return [body]


class FakeProxy:
    """Containers and objects of one account in memory, answered as the proxy
    would; a request needs the token "good" (401 otherwise)."""

    def __init__(self) -> None:
        self.containers: set[str] = set()
        self.objects: dict[str, bytes] = {}
        self.metadata: dict[str, dict[str, str]] = {}
        self.seen: list[tuple[str, str]] = []
        self.forced: dict[tuple[str, str], str] = {}  # (method, path) -> status
        self.environs: list[dict[str, Any]] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], wsgi_to_text(environ["PATH_INFO"])
        self.seen.append((method, path))
        self.environs.append(environ)
        if environ.get("HTTP_X_AUTH_TOKEN") != "good":
            return answer(start_response, "401 Unauthorized", b"a valid token is required")
        if (method, path) in self.forced:
            return answer(start_response, self.forced[(method, path)], b"forced")
        container, _, obj = path.split("/", 3)[3].partition("/")
        if len(container.encode()) > 256:
            return answer(start_response, "400 Bad Request", b"container name too long")
        if not obj:
            return self.container(method, container, start_response)
        key = f"{container}/{obj}"
        if method == "PUT":
            if container not in self.containers:
                return answer(start_response, "404 Not Found", b"no such container")
            body = self.read_body(environ)
            if body is None:
                return answer(start_response, "499 Client Disconnect", b"body ended early")
            self.objects[key] = body
            self.metadata[key] = {k: v for k, v in environ.items()
                                  if k.startswith("HTTP_X_OBJECT_META_") or k == "CONTENT_TYPE"}
            return answer(start_response, "201 Created")
        if method == "DELETE":
            if self.objects.pop(key, None) is None:
                return answer(start_response, "404 Not Found")
            return answer(start_response, "204 No Content")
        return answer(start_response, "405 Method Not Allowed")

    def container(self, method: str, container: str, start_response: Callable[..., Any]
                  ) -> list[bytes]:
        if method == "HEAD":
            return answer(start_response, "204 No Content" if container in self.containers
                          else "404 Not Found")
        if method == "PUT":
            self.containers.add(container)
            return answer(start_response, "201 Created")
        if method == "DELETE":
            if container not in self.containers:
                return answer(start_response, "404 Not Found")
            if any(key.startswith(container + "/") for key in self.objects):
                return answer(start_response, "409 Conflict", b"not empty")
            self.containers.discard(container)
            return answer(start_response, "204 No Content")
        return answer(start_response, "405 Method Not Allowed")

    @staticmethod
    def read_body(environ: dict[str, Any]) -> bytes | None:
        length, data = int(environ["CONTENT_LENGTH"]), b""
        while len(data) < length:
            chunk = environ["wsgi.input"].read(min(1000, length - len(data)))
            if not chunk:
                return None
            data += chunk
        return data


def make_tar(members: list[tuple[str, bytes]], mode: str = "w",
             pax: dict[str, dict[str, str]] | None = None,
             links: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode, format=tarfile.PAX_FORMAT) as tar:
        directory = tarfile.TarInfo("somedir")
        directory.type = tarfile.DIRTYPE
        tar.addfile(directory)  # skipped, as links are
        for name in links:
            link = tarfile.TarInfo(name)
            link.type, link.linkname = tarfile.SYMTYPE, "elsewhere"
            tar.addfile(link)
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.pax_headers = (pax or {}).get(name, {})
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class Client:
    def __init__(self, **options: str) -> None:
        self.proxy = FakeProxy()
        self.app = filter_factory(options, LOG)(self.proxy)

    def __call__(self, method: str, path: str, body: bytes = b"", token: str = "good",
                 chunked: bool = False, extra: dict[str, Any] | None = None, **headers: str
                 ) -> tuple[int, dict[str, str], bytes]:
        path, _, query = path.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method, "PATH_INFO": path.encode().decode("latin-1"),
            "QUERY_STRING": query, "wsgi.input": io.BytesIO(body),
            "CONTENT_LENGTH": "" if chunked else str(len(body)), "HTTP_X_AUTH_TOKEN": token,
            "HTTP_USER_AGENT": "tester", "objstore.trans_id": "tx-bulk",
            **{"HTTP_" + k.upper(): v for k, v in headers.items()}, **(extra or {})}
        if chunked:
            environ["HTTP_TRANSFER_ENCODING"] = "chunked"
        started: list[Any] = []
        data = b"".join(self.app(environ, lambda s, h, e=None: started.append((s, h))))
        return int(started[0][0].split()[0]), dict(started[0][1]), data

    def json(self, method: str, path: str, body: bytes = b"", **kw: Any
             ) -> tuple[int, dict[str, Any]]:
        status, _, data = self(method, path, body, ACCEPT="application/json", **kw)
        return status, json.loads(data)


FILES = [("docs/a.txt", b"alpha"), ("docs/nested/deeper/b.bin", bytes(range(256)) * 40),
         ("pics/caf\u00e9 \u2603.txt", "snow \u2603".encode()), ("pics/empty", b"")]


# -- where members go --------------------------------------------------------------

@pytest.mark.parametrize("base, name, expected", [
    ("", "c/o", ("c", "o")),
    ("", "./c/d/o", ("c", "d/o")),
    ("c", "o", ("c", "o")),
    ("c", "./././d/o", ("c", "d/o")),
    ("c/pre", "d/o", ("c", "pre/d/o")),
    ("c", "a..b/..c", ("c", "a..b/..c")),
    ("c", "x/./y", ("c", "x/./y")),
])
def test_destination(base: str, name: str, expected: tuple[str, str]) -> None:
    assert destination(base, name) == expected


@pytest.mark.parametrize("base, name, status", [
    ("c", "../escape", 400), ("c", "a/../../b", 400), ("", "c/..", 400),
    ("c", "/etc/passwd", 400), ("", "/c/o", 400), ("c", "./../x", 400),
    ("", "top-level-file", 400), ("", "./top", 400),
    ("c", "bad\udcff", 412), ("c", "nul\x00", 400),
])
def test_destination_refuses(base: str, name: str, status: int) -> None:
    with pytest.raises(ItemError) as caught:
        destination(base, name)
    assert caught.value.status == status and caught.value.reason


def test_pax_metadata_becomes_headers() -> None:
    assert member_headers({"SCHILY.xattr.user.meta.color": "blue",
                           "LIBARCHIVE.xattr.user.meta.Mood-Ring": "caf\u00e9",
                           "SCHILY.xattr.user.mime_type": "text/x-thing",
                           "path": "ignored", "SCHILY.xattr.security.selinux": "ignored"}) == {
        "HTTP_X_OBJECT_META_COLOR": "blue", "HTTP_X_OBJECT_META_MOOD_RING": "caf\u00c3\u00a9",
        "CONTENT_TYPE": "text/x-thing"}
    for bad in ({"SCHILY.xattr.user.meta.a b": "x"},
                {"SCHILY.xattr.user.meta.x": "line\r\nX-Injected: 1"}):
        with pytest.raises(ItemError):
            member_headers(bad)


# -- extraction ------------------------------------------------------------------

@pytest.mark.parametrize("query, mode", [
    ("tar", "w"), ("tar.gz", "w:gz"), ("tar.bz2", "w:bz2"), (".TAR.GZ", "w:gz")])
def test_extract_into_the_account(query: str, mode: str) -> None:
    client = Client()
    status, report = client.json("PUT", f"/v1/AUTH_a?extract-archive={query}",
                                 make_tar(FILES, mode, links=("docs/link",)))
    assert status == 200
    assert report == {"Number Files Created": 4, "Response Status": "201 Created",
                      "Response Body": "", "Errors": []}
    assert client.proxy.objects == dict(FILES)
    assert client.proxy.containers == {"docs", "pics"}
    # each container is looked for once, and made once
    assert client.proxy.seen.count(("HEAD", "/v1/AUTH_a/docs")) == 1
    assert client.proxy.seen.count(("PUT", "/v1/AUTH_a/docs")) == 1


def test_extract_into_a_container_and_a_prefix() -> None:
    client = Client()
    client.proxy.containers.add("c")
    archive = make_tar(FILES, "w:gz")
    assert client.json("PUT", "/v1/AUTH_a/c?extract-archive=tar.gz", archive)[1][
        "Number Files Created"] == 4
    assert client.json("PUT", "/v1/AUTH_a/c/pre/?extract-archive=tar.gz", archive)[1][
        "Number Files Created"] == 4
    assert client.proxy.objects == {**{f"c/{name}": data for name, data in FILES},
                                    **{f"c/pre/{name}": data for name, data in FILES}}
    assert ("PUT", "/v1/AUTH_a/c") not in client.proxy.seen  # it existed


def test_subrequests_are_the_clients_and_nothing_more() -> None:
    client = Client()
    client("PUT", "/v1/AUTH_a?extract-archive=tar", make_tar(FILES[:1]),
           X_OBJECT_META_SNEAKY="1", X_DELETE_AFTER="1")
    put = client.proxy.environs[-1]
    assert put["REQUEST_METHOD"] == "PUT" and put["HTTP_X_AUTH_TOKEN"] == "good"
    assert put["objstore.trans_id"] == "tx-bulk" and put["objstore.source"] == "EA"
    assert put["HTTP_USER_AGENT"] == "tester BulkExpand"
    assert put["QUERY_STRING"] == "" and put["CONTENT_LENGTH"] == "5"
    assert "HTTP_X_OBJECT_META_SNEAKY" not in put and "HTTP_X_DELETE_AFTER" not in put


def test_pax_metadata_is_stored() -> None:
    client = Client()
    pax = {"docs/a.txt": {"SCHILY.xattr.user.meta.color": "blue",
                          "SCHILY.xattr.user.mime_type": "text/x-alpha"}}
    client("PUT", "/v1/AUTH_a?extract-archive=tar", make_tar(FILES[:1], pax=pax))
    assert client.proxy.metadata["docs/a.txt"] == {"HTTP_X_OBJECT_META_COLOR": "blue",
                                                   "CONTENT_TYPE": "text/x-alpha"}


def test_escaping_members_are_errors_and_never_written() -> None:
    client = Client()
    client.proxy.containers.add("c")
    archive = make_tar([("../escape", b"x"), ("/abs/path", b"y"), ("ok/one", b"1"),
                        ("ok/../../up", b"z"), ("ok/two", b"2")])
    status, report = client.json("PUT", "/v1/AUTH_a/c?extract-archive=tar", archive)
    assert status == 200
    assert report["Number Files Created"] == 2
    assert report["Response Status"] == "400 Bad Request"
    assert report["Errors"] == [["c/../escape", "400 Bad Request"],
                                ["c//abs/path", "400 Bad Request"],
                                ["c/ok/../../up", "400 Bad Request"]]
    assert "'..'" in report["Response Body"] and "absolute" in report["Response Body"]
    assert client.proxy.objects == {"c/ok/one": b"1", "c/ok/two": b"2"}
    assert [s for s in client.proxy.seen if s[0] == "PUT" and "escape" in s[1]] == []


def test_top_level_files_need_a_container() -> None:
    client = Client()
    status, report = client.json("PUT", "/v1/AUTH_a?extract-archive=tar",
                                 make_tar([("README", b"r"), ("c/o", b"o")]))
    assert report["Errors"] == [["README", "400 Bad Request"]]
    assert client.proxy.objects == {"c/o": b"o"}


def test_failed_puts_are_listed_with_their_status() -> None:
    client = Client()
    client.proxy.forced[("PUT", "/v1/AUTH_a/c/bad")] = "403 Forbidden"
    client.proxy.forced[("PUT", "/v1/AUTH_a/c/broken")] = "503 Service Unavailable"
    client.proxy.containers.add("c")
    status, report = client.json("PUT", "/v1/AUTH_a/c?extract-archive=tar", make_tar(
        [("bad", b"1"), ("good", b"2"), ("broken", b"3")]))
    assert report["Errors"] == [["c/bad", "403 Forbidden"],
                                ["c/broken", "503 Service Unavailable"]]
    assert report["Response Status"] == "502 Bad Gateway"
    assert report["Number Files Created"] == 1 and client.proxy.objects == {"c/good": b"2"}


def test_a_container_that_cannot_be_made_is_listed_once() -> None:
    client = Client()
    long_name = "x" * 300
    status, report = client.json("PUT", "/v1/AUTH_a?extract-archive=tar", make_tar(
        [(f"{long_name}/a", b"1"), (f"{long_name}/b", b"2"), ("fine/c", b"3")]))
    # the container's failure once, then each member's own
    assert report["Errors"] == [[long_name, "400 Bad Request"],
                                [f"{long_name}/a", "400 Bad Request"],
                                [f"{long_name}/b", "400 Bad Request"]]
    assert client.proxy.seen.count(("HEAD", f"/v1/AUTH_a/{long_name}")) == 1
    assert client.proxy.objects == {"fine/c": b"3"}


def test_a_refused_token_ends_the_extraction() -> None:
    client = Client()
    status, report = client.json("PUT", "/v1/AUTH_a?extract-archive=tar",
                                 make_tar(FILES), token="expired")
    assert status == 200 and report["Response Status"] == "401 Unauthorized"
    assert report["Errors"] == [["docs", "401 Unauthorized"], ["docs/a.txt", "401 Unauthorized"]]
    assert len([s for s in client.proxy.seen if s[0] == "PUT"]) == 1


def test_too_many_failures_end_it_with_413() -> None:
    client = Client(max_failed_extractions="3")
    members = [(f"../x{i}", b"x") for i in range(5)] + [("c/late", b"never")]
    status, report = client.json("PUT", "/v1/AUTH_a?extract-archive=tar", make_tar(members))
    assert report["Response Status"] == "413 Request Entity Too Large"
    assert len(report["Errors"]) == 3 and client.proxy.objects == {}


def test_too_many_containers_end_it_with_413() -> None:
    client = Client(max_containers_per_extraction="2")
    status, report = client.json("PUT", "/v1/AUTH_a?extract-archive=tar",
                                 make_tar([("a/1", b""), ("b/1", b""), ("c/1", b"")]))
    assert report["Response Status"] == "413 Request Entity Too Large"
    assert "2 containers" in report["Response Body"]
    assert set(client.proxy.objects) == {"a/1", "b/1"}


def test_members_over_max_file_size_are_413(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk_extract, "DEFAULT_CONSTRAINTS", Constraints(max_file_size=10))
    client = Client()
    status, report = client.json("PUT", "/v1/AUTH_a?extract-archive=tar",
                                 make_tar([("c/big", b"x" * 11), ("c/small", b"x" * 10)]))
    assert report["Errors"] == [["c/big", "413 Request Entity Too Large"]]
    assert client.proxy.objects == {"c/small": b"x" * 10}


def offsets(archive: bytes) -> dict[str, tuple[int, int]]:
    """Each member's header and data offsets in a plain tar."""
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {m.name: (m.offset, m.offset_data) for m in tar.getmembers()}


MEMBERS = {"c/first": b"1" * 1000, "c/second": b"2" * 5000, "c/third": b"3"}


@pytest.mark.parametrize("where", ["at-a-header", "mid-header", "mid-data", "before-the-end"])
def test_a_truncated_archive_keeps_only_whole_members(where: str) -> None:
    archive = make_tar(list(MEMBERS.items()))
    at = offsets(archive)
    cut = {"at-a-header": at["c/second"][0], "mid-header": at["c/second"][0] + 100,
           "mid-data": at["c/second"][1] + 100, "before-the-end": at["c/third"][1] + 512}[where]
    client = Client()
    status, report = client.json("PUT", "/v1/AUTH_a?extract-archive=tar", archive[:cut])
    assert status == 200 and report["Response Status"] == "400 Bad Request"
    assert report["Response Body"].startswith("Invalid Tar File"), report
    assert report["Number Files Created"] == len(client.proxy.objects)
    for name, data in client.proxy.objects.items():  # never a short object
        assert data == MEMBERS[name]
    expected = {"at-a-header": ["c/first"], "mid-header": ["c/first"],
                "mid-data": ["c/first"], "before-the-end": list(MEMBERS)}[where]
    assert list(client.proxy.objects) == expected
    # a member cut short is listed
    assert report["Errors"] == ([["c/second", "400 Bad Request"]] if where == "mid-data"
                                else [])


@pytest.mark.parametrize("mode, found", [
    ("w:gz", "damaged gzip data"), ("w:bz2", "Invalid Tar File")])
def test_a_damaged_compressed_archive_is_400(mode: str, found: str) -> None:
    data = bytes(range(256)) * 400
    archive = bytearray(make_tar([("c/x", data)], mode))
    for index in range(len(archive) // 2, len(archive) // 2 + 64):
        archive[index] ^= 0xFF
    client = Client()
    status, report = client.json("PUT", "/v1/AUTH_a?extract-archive=tar.gz", bytes(archive))
    assert report["Response Status"] == "400 Bad Request"
    assert found in report["Response Body"], report
    # what was stored (before the checksum at the end showed the damage) is told of
    assert report["Number Files Created"] == len(client.proxy.objects)


@pytest.mark.parametrize("cut", [10, 100, -20, -4])
def test_a_truncated_gzip_archive_is_400(cut: int) -> None:
    archive = make_tar(list(MEMBERS.items()), "w:gz")
    client = Client()
    status, report = client.json("PUT", "/v1/AUTH_a?extract-archive=tar.gz", archive[:cut])
    assert report["Response Status"] == "400 Bad Request"
    assert "Invalid Tar File" in report["Response Body"]
    for name, data in client.proxy.objects.items():
        assert data == MEMBERS[name]


def test_concatenated_gzip_members_are_one_archive() -> None:
    archive = make_tar(list(MEMBERS.items()))
    halves = gzip.compress(archive[:3000]) + gzip.compress(archive[3000:])
    client = Client()
    status, report = client.json("PUT", "/v1/AUTH_a?extract-archive=tar.gz", halves)
    assert report["Number Files Created"] == 3 and client.proxy.objects == MEMBERS


@pytest.mark.parametrize("body, reason", [
    (b"", "empty file"), (b"this is not an archive" * 50, "Invalid Tar File"),
    (b"\x1f\x8b\x08" + b"\x00" * 100, "Invalid Tar File"),
])
def test_not_an_archive_is_refused_up_front(body: bytes, reason: str) -> None:
    client = Client()
    status, headers, data = client("PUT", "/v1/AUTH_a/c?extract-archive=tar", body)
    assert status == 400 and headers["Content-Length"] == str(len(data))
    assert "Response Status: 400 Bad Request" in data.decode() and reason in data.decode()
    assert client.proxy.seen == []


def test_an_empty_archive_has_no_valid_files() -> None:
    client = Client()
    status, report = client.json("PUT", "/v1/AUTH_a/c?extract-archive=tar", make_tar([]))
    assert report["Response Status"] == "400 Bad Request"
    assert report["Response Body"] == "Invalid Tar File: No Valid Files"


def test_unknown_formats_and_accepts_are_refused() -> None:
    client = Client()
    status, _, data = client("PUT", "/v1/AUTH_a/c?extract-archive=zip", b"x")
    assert status == 400 and b"Unsupported archive format" in data
    status, _, data = client("PUT", "/v1/AUTH_a/c?extract-archive=tar", make_tar(FILES),
                             ACCEPT="image/png")
    assert status == 406
    status, _, data = client("PUT", "/v1/AUTH_a/c?extract-archive", b"x")
    assert status == 400
    assert client.proxy.seen == []


def test_a_chunked_archive_is_read_as_it_comes() -> None:
    client = Client()
    status, report = client.json("PUT", "/v1/AUTH_a?extract-archive=tar", make_tar(FILES),
                                 chunked=True)
    assert report["Number Files Created"] == 4


def test_other_requests_pass_through() -> None:
    client = Client()
    client.proxy.containers.add("c")
    assert client("PUT", "/v1/AUTH_a/c/o?other=1", b"plain")[0] == 201
    assert client.proxy.objects == {"c/o": b"plain"}
    assert client("GET", "/v1/AUTH_a/c?extract-archive=tar")[0] == 405
    assert client("PUT", "/v1/AUTH_a/c?bulk-delete", b"")[0] == 201


# -- bulk delete -----------------------------------------------------------------

def test_read_lines_and_parse_list() -> None:
    lines = read_lines(io.BytesIO(b"/c/o\n\n  c/caf%C3%A9 \r\n/c\n/c/bad%FF\n/%00\n//c/x%2Fy"),
                       10)
    items, refused = parse_list(lines)
    assert items == [("c", "o"), ("c", "caf\u00e9"), ("c", None), ("c", "x/y")]
    assert refused == [("/c/bad%FF", "412 Precondition Failed"),
                       ("/%00", "412 Precondition Failed")]


def test_bulk_delete_objects_then_their_container() -> None:
    client = Client(delete_concurrency="3")
    client.proxy.containers.update({"c", "d"})
    client.proxy.objects.update({f"c/o{i}": b"x" for i in range(10)})
    client.proxy.objects["d/keep"] = b"k"
    paths = ["/c"] + [f"/c/o{i}" for i in range(10)] + ["/c/missing", "/d", "/nope"]
    status, report = client.json("POST", "/v1/AUTH_a?bulk-delete",
                                 "\n".join(paths).encode())
    assert status == 200
    assert report == {"Number Deleted": 11, "Number Not Found": 2,
                      "Response Status": "400 Bad Request", "Response Body": "",
                      "Errors": [["/d", "409 Conflict"]]}
    assert client.proxy.containers == {"d"} and client.proxy.objects == {"d/keep": b"k"}
    deletes = [path for method, path in client.proxy.seen if method == "DELETE"]
    assert deletes.index("/v1/AUTH_a/c") > deletes.index("/v1/AUTH_a/c/o9")


def test_bulk_delete_all_fine_is_200_ok_in_every_form() -> None:
    for accept, expected in [("text/plain", b"Response Status: 200 OK"),
                             ("application/xml", b"<response_status>200 OK"),
                             ("text/xml", b"<number_deleted>1</number_deleted>")]:
        client = Client()
        client.proxy.containers.add("c")
        client.proxy.objects["c/o"] = b""
        status, headers, data = client("DELETE", "/v1/AUTH_a?bulk-delete", b"/c/o\n",
                                       ACCEPT=accept)
        assert status == 200 and expected in data
        assert headers["Content-Type"].startswith(accept)


def test_delete_subrequests_carry_the_token_only() -> None:
    client = Client()
    client("POST", "/v1/AUTH_a?bulk-delete", b"/c/o", X_OBJECT_META_X="1")
    sub = client.proxy.environs[-1]
    assert (sub["REQUEST_METHOD"], sub["PATH_INFO"]) == ("DELETE", "/v1/AUTH_a/c/o")
    assert sub["HTTP_X_AUTH_TOKEN"] == "good" and sub["objstore.source"] == "BD"
    assert "HTTP_X_OBJECT_META_X" not in sub and sub["wsgi.input"].read() == b""


def test_container_deletes_are_retried_on_409(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(bulk_delete, "sleep", sleeps.append)
    client = Client(delete_container_retry_count="2")
    client.proxy.forced[("DELETE", "/v1/AUTH_a/c")] = "409 Conflict"
    status, report = client.json("POST", "/v1/AUTH_a?bulk-delete", b"/c")
    assert client.proxy.seen.count(("DELETE", "/v1/AUTH_a/c")) == 3 and len(sleeps) == 2
    assert report["Errors"] == [["/c", "409 Conflict"]]


def test_a_refused_token_ends_the_deletes() -> None:
    client = Client(delete_concurrency="1")
    status, report = client.json("POST", "/v1/AUTH_a?bulk-delete",
                                 b"\n".join(b"/c/o%d" % i for i in range(20)), token="bad")
    assert report["Response Status"] == "401 Unauthorized"
    assert report["Errors"] == [["/c/o0", "401 Unauthorized"]]
    assert len(client.proxy.seen) <= 2


def test_too_many_failed_deletes_end_with_413() -> None:
    client = Client(max_failed_deletes="3", delete_concurrency="1")
    for i in range(6):
        client.proxy.forced[("DELETE", f"/v1/AUTH_a/c/o{i}")] = "403 Forbidden"
    status, report = client.json("POST", "/v1/AUTH_a?bulk-delete",
                                 b"\n".join(b"/c/o%d" % i for i in range(6)))
    assert report["Response Status"] == "413 Request Entity Too Large"
    assert "Max delete failures" in report["Response Body"] and len(report["Errors"]) == 3
    assert len(client.proxy.seen) == 3


@pytest.mark.parametrize("body, status, reason", [
    (b"\n".join(b"/c/o%d" % i for i in range(6)), 413, b"Maximum Bulk Deletes: 5"),
    (b"/c/" + b"o" * 1400, 413, b"longer than any valid one"),
    (b"/c/" + b"%41" * 1000 + b"o" * 400, 413, b"longer than any valid one"),
    (b"/c/" + b"o" * 5000, 413, b"longer than any path"),
    (b"\n \n", 400, b"names no paths"),
], ids=["too-many", "too-long", "too-long-quoted", "not-a-path", "empty"])
def test_bad_lists_are_refused_before_any_delete(body: bytes, status: int, reason: bytes
                                                  ) -> None:
    client = Client(max_deletes_per_request="5")
    got, headers, data = client("POST", "/v1/AUTH_a?bulk-delete", body)
    assert got == status and reason in data, data
    assert f"Response Status: {status}".encode() in data
    assert client.proxy.seen == []


def test_a_list_needs_a_length_and_an_acceptable_form() -> None:
    client = Client(max_deletes_per_request="5")

    def post(**environ: Any) -> tuple[str, bytes]:
        started: list[str] = []
        base = {"REQUEST_METHOD": "POST", "PATH_INFO": "/v1/AUTH_a",
                "QUERY_STRING": "bulk-delete", "wsgi.input": io.BytesIO(b"/c/o")}
        body = b"".join(client.app({**base, **environ},
                                   lambda s, h, e=None: started.append(s)))
        return started[0], body

    status, body = post()
    assert status == "411 Length Required" and b"Content-Length" in body
    assert post(CONTENT_LENGTH=str(10 ** 9))[0] == "413 Request Entity Too Large"
    assert post(CONTENT_LENGTH="4", HTTP_ACCEPT="text/html")[0].startswith("406")
    assert client.proxy.seen == []


def test_info_lists_both_sections() -> None:
    def proxy_info(environ: dict[str, Any], start_response: Callable[..., Any]
                   ) -> list[bytes]:
        body = json.dumps({"swift": {"version": "x"}}).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    app = filter_factory({"max_deletes_per_request": "7", "max_failed_extractions": "3"},
                         LOG)(proxy_info)
    started: list[Any] = []
    body = b"".join(app({"REQUEST_METHOD": "GET", "PATH_INFO": "/info"},
                        lambda s, h, e=None: started.append(h)))
    info = json.loads(body)
    assert info["bulk_delete"] == {"max_deletes_per_request": 7, "max_failed_deletes": 1000}
    assert info["bulk_upload"] == {"max_containers_per_extraction": 10000,
                                   "max_failed_extractions": 3}
    assert dict(started[0])["Content-Length"] == str(len(body))


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="max_deletes_per_request"):
        filter_factory({"max_deletes_per_request": "0"}, LOG)
    with pytest.raises(ValueError, match="yield_frequency"):
        filter_factory({"yield_frequency": "soon"}, LOG)


def test_a_signature_does_not_authorize_a_bulk_request() -> None:
    client = Client()
    status, _, data = client("PUT", "/v1/AUTH_a/c?extract-archive=tar", make_tar(FILES),
                             extra={"objstore.authorize_override": True})
    assert status == 403 and b"token" in data and client.proxy.seen == []
