"""Bulk requests on a real cluster: archives (tar, tar.gz, tar.bz2) extracted
into an account, a container and a prefix, byte for byte; members that
would escape refused; broken archives; bulk deletes and their limits,
with tempauth deciding each item; and the swift CLI deleting in bulk."""
from __future__ import annotations

import io
import json
import os
import tarfile
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .cluster import Cluster, ok, raw, token

LIMITS = {"max_deletes_per_request": "60", "max_failed_deletes": "4",
          "max_failed_extractions": "4", "yield_frequency": "0.1"}


class BulkCluster(Cluster):
    """The test cluster with bulk where Swift has it: right after proxy_logging."""

    def _proxy_conf(self) -> Path:
        conf = super()._proxy_conf()
        text = conf.read_text()
        options = "".join(f"{name} = {value}\n" for name, value in LIMITS.items())
        if " bulk " not in text:
            text = text.replace(" proxy_logging ", " proxy_logging bulk ", 1) + "[filter:bulk]\n"
        conf.write_text(text.replace("[filter:bulk]\n", "[filter:bulk]\n" + options, 1))
        return conf


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BulkCluster]:
    running = BulkCluster(tmp_path_factory.mktemp("bulk"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


class Client:
    """Requests as one user, paths relative to the user's account."""

    def __init__(self, cluster: Cluster, user: str = "test:tester", key: str = "testing"
                 ) -> None:
        self.cluster = cluster
        auth, url = token(cluster, user, key)
        self.headers = {"X-Auth-Token": auth}
        self.account = url.rsplit("/", 1)[1]

    def __call__(self, method: str, path: str = "", body: bytes = b"", query: str = "",
                 **headers: str) -> tuple[int, dict[str, str], bytes]:
        full = urllib.parse.quote(f"/v1/{self.account}" + (f"/{path}" if path else ""))
        return raw(self.cluster, method, full + (f"?{query}" if query else ""), body,
                   {**self.headers, **{k.replace("_", "-"): v for k, v in headers.items()}})

    def bulk(self, method: str, path: str, query: str, body: bytes, **headers: str
             ) -> tuple[int, dict[str, Any], bytes]:
        """A bulk request answered in JSON: (status, report, raw body)."""
        status, _, data = self(method, path, body, query, Accept="application/json", **headers)
        return status, json.loads(data), data

    def listing(self, path: str = "") -> list[str]:
        status, _, data = self("GET", path, query="format=json")
        return [] if status == 404 else [entry["name"] for entry in json.loads(data)]


@pytest.fixture(scope="module")
def tester(cluster: Cluster) -> Client:
    return Client(cluster)


def archive(files: dict[str, bytes], mode: str = "w") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode, format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def tree(tag: str) -> dict[str, bytes]:
    """Nested directories and unicode names, one member of a megabyte."""
    return {f"{tag}/readme.txt": f"read me {tag}".encode(),
            f"{tag}/deep/er/still/file.bin": os.urandom(1 << 20),
            f"{tag}/caf\u00e9 \u2603/\u6587\u4ef6 one.txt": "\u2603 snow".encode(),
            f"{tag}/spaces and %25 signs/empty": b"",
            f"{tag}/deep/er/other": os.urandom(3000)}


FORMATS = [("tar", "w"), ("tar.gz", "w:gz"), ("tar.bz2", "w:bz2")]


def check_objects(client: Client, expected: dict[str, bytes]) -> None:
    for path, data in expected.items():
        status, _, body = client("GET", path)
        assert (status, body) == (200, data), path


@pytest.mark.parametrize("kind, mode", FORMATS)
def test_extract_into_an_account_a_container_and_a_prefix(tester: Client, kind: str,
                                                          mode: str) -> None:
    files = {**tree(f"{kind}-one"), **tree(f"{kind}-two")}
    data = archive(files, mode)
    # into the account: each top directory becomes a container
    status, report, _ = tester.bulk("PUT", "", f"extract-archive={kind}", data)
    assert status == 200
    assert report == {"Number Files Created": 10, "Response Status": "201 Created",
                      "Response Body": "", "Errors": []}
    check_objects(tester, files)
    for top in (f"{kind}-one", f"{kind}-two"):
        assert sorted(tester.listing(top)) == sorted(
            name.split("/", 1)[1] for name in files if name.startswith(top + "/"))
    # into a container (made by the extraction) and under a prefix of it
    for target in (f"into-{kind}", f"into-{kind}/pre/fix"):
        status, report, _ = tester.bulk("PUT", target, f"extract-archive={kind}", data)
        assert (status, report["Number Files Created"], report["Errors"]) == (200, 10, [])
        check_objects(tester, {f"{target}/{name}": body for name, body in files.items()})
    assert len(tester.listing(f"into-{kind}")) == 20


def test_reports_in_text_and_xml_with_heartbeats(tester: Client) -> None:
    files = {f"beats/{index:03d}": b"%d" % index for index in range(40)}
    status, _, body = tester("PUT", "", archive(files), "extract-archive=tar")
    assert status == 200
    # the work took longer than yield_frequency: spaces went out first
    assert body.startswith(b" ") and b"\r\n\r\n" in body
    assert b"Number Files Created: 40\nResponse Body: \nResponse Status: 201 Created\n" \
        in body
    status, headers, body = tester("PUT", "beats", archive({"x": b"x"}), "extract-archive=tar",
                                   Accept="text/xml")
    assert headers["Content-Type"].startswith("text/xml")
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    assert b"<number_files_created>1</number_files_created>" in body


def test_members_that_would_escape_are_refused(tester: Client) -> None:
    before = set(tester.listing())
    bad = archive({"../escape": b"e", "/abs/olute": b"a", "ok/../../up": b"u",
                   "fine/one": b"1", "./fine/two": b"2"})
    status, report, _ = tester.bulk("PUT", "esc", "extract-archive=tar", bad)
    assert status == 200 and report["Response Status"] == "400 Bad Request"
    assert report["Number Files Created"] == 2
    assert sorted(report["Errors"]) == [["esc/../escape", "400 Bad Request"],
                                        ["esc//abs/olute", "400 Bad Request"],
                                        ["esc/ok/../../up", "400 Bad Request"]]
    assert "'..'" in report["Response Body"]
    assert tester.listing("esc") == ["fine/one", "fine/two"]
    # into the account: nothing but the good member's container appears
    status, report, _ = tester.bulk("PUT", "", "extract-archive=tar", bad)
    assert report["Number Files Created"] == 2 and len(report["Errors"]) == 3
    assert set(tester.listing()) - before == {"esc", "fine"}
    assert tester.listing("fine") == ["one", "two"]


def test_broken_archives(tester: Client) -> None:
    # not an archive at all: refused before anything is written
    status, report, _ = tester.bulk("PUT", "broken", "extract-archive=tar.gz",
                                    b"no archive here" * 100)
    assert status == 400 and "Invalid Tar File" in report["Response Body"]
    assert tester("HEAD", "broken")[0] == 404
    # cut off inside its second member: the first is whole, the second listed, no more
    files = {"first": os.urandom(5000), "second": os.urandom(20000), "third": b"3"}
    data = archive(files)
    status, report, _ = tester.bulk("PUT", "broken", "extract-archive=tar", data[:12000])
    assert status == 200 and report["Response Status"] == "400 Bad Request"
    assert report["Response Body"].startswith("Invalid Tar File")
    assert report["Number Files Created"] == 1
    assert report["Errors"] == [["broken/second", "400 Bad Request"]]
    assert tester.listing("broken") == ["first"]
    check_objects(tester, {"broken/first": files["first"]})
    # damaged gzip data: found and reported
    damaged = bytearray(archive({"big": bytes(range(256)) * 800}, "w:gz"))
    for index in range(len(damaged) // 2, len(damaged) // 2 + 32):
        damaged[index] ^= 0x55
    status, report, _ = tester.bulk("PUT", "damaged", "extract-archive=tar.gz", bytes(damaged))
    assert report["Response Status"] == "400 Bad Request"
    assert "Invalid Tar File" in report["Response Body"]
    # unknown formats
    status, _, body = tester("PUT", "broken", archive(files), "extract-archive=zip")
    assert status == 400 and b"Unsupported archive format" in body


def test_bulk_delete_of_fifty_objects_and_their_container(tester: Client) -> None:
    names = [f"obj {index} \u00e9" for index in range(50)]
    status, report, _ = tester.bulk("PUT", "doomed", "extract-archive=tar",
                                    archive({name: b"x" for name in names}))
    assert report["Number Files Created"] == 50
    paths = [urllib.parse.quote(f"/doomed/{name}") for name in names]
    body = "\n".join([*paths, "/doomed", "/doomed/never-was"]).encode()
    status, report, _ = tester.bulk("POST", "", "bulk-delete", body,
                                    Content_Type="text/plain")
    assert status == 200
    assert report == {"Number Deleted": 51, "Number Not Found": 1,
                      "Response Status": "200 OK", "Response Body": "", "Errors": []}
    assert tester("HEAD", "doomed")[0] == 404
    # a container that is not empty is an error; the rest go on; DELETE works too
    tester.bulk("PUT", "kept", "extract-archive=tar", archive({"a": b"a", "b": b"b"}))
    status, _, text = tester("DELETE", "", b"/kept\n/kept/a\n", "bulk-delete")
    assert status == 200
    assert b"Number Deleted: 1\n" in text and b"Response Status: 400 Bad Request\n" in text
    assert b"Errors:\n/kept, 409 Conflict\n" in text
    assert tester.listing("kept") == ["b"]


def test_limits_and_who_may_delete(cluster: Cluster, tester: Client) -> None:
    tester.bulk("PUT", "guarded", "extract-archive=tar",
                archive({f"o{index}": b"x" for index in range(8)}))
    # more paths than max_deletes_per_request, or one too long: 413, nothing deleted
    status, report, _ = tester.bulk("POST", "", "bulk-delete",
                                    "\n".join(f"/guarded/o{i % 8}" for i in range(61)).encode())
    assert status == 413 and report["Response Body"] == "Maximum Bulk Deletes: 60 per request"
    status, report, _ = tester.bulk("POST", "", "bulk-delete", b"/guarded/" + b"n" * 1300)
    assert status == 413
    assert len(tester.listing("guarded")) == 8
    # a user who may not write: each item refused by tempauth, 413 after 4 failures
    reader = Client(cluster, "test:tester3", "testing3")
    status, report, _ = reader.bulk("POST", "", "bulk-delete",
                                    "\n".join(f"/guarded/o{i}" for i in range(8)).encode())
    assert status == 200
    assert report["Response Status"] == "413 Request Entity Too Large"
    assert report["Errors"] == [[f"/guarded/o{i}", "403 Forbidden"] for i in range(4)]
    status, report, _ = reader.bulk("PUT", "guarded", "extract-archive=tar",
                                    archive({f"new{i}": b"n" for i in range(6)}))
    assert report["Response Status"] == "413 Request Entity Too Large"
    assert len(report["Errors"]) == 4
    # no token at all: the first item's 401 ends it
    status, _, body = raw(cluster, "POST", f"/v1/{tester.account}?bulk-delete",
                          b"/guarded/o1\n/guarded/o2", {"Accept": "application/json"})
    assert json.loads(body)["Response Status"] == "401 Unauthorized"
    assert len(tester.listing("guarded")) == 8


def test_the_swift_cli_deletes_in_bulk(cluster: Cluster, tester: Client) -> None:
    info = json.loads(ok(cluster.swift("capabilities", "--json")))
    assert info["bulk_delete"] == {"max_deletes_per_request": 60, "max_failed_deletes": 4}
    assert info["bulk_upload"]["max_failed_extractions"] == 4
    tester.bulk("PUT", "cli", "extract-archive=tar",
                archive({f"dir/file {index}": b"f" for index in range(50)}))
    log = cluster.root / "log" / "proxy.log"
    before = log.read_text(errors="replace").count("bulk-delete")
    ok(cluster.swift("delete", "cli"))
    assert tester("HEAD", "cli")[0] == 404
    assert log.read_text(errors="replace").count("bulk-delete") > before
