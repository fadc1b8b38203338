"""The image service over HTTP and through the real glance CLI, on a real cluster.

One cluster (with its image server, 1 MiB segments) serves every test of
this module; each test works on images of its own.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.unit.image import disk_images

from .exchange import exchange
from .image_service import SEGMENT, ImageCluster, image_cluster, stop_process
from .test_server_runtime import free_port

pytestmark = pytest.mark.slow
RAW = {"disk_format": "raw", "container_format": "bare"}
OCTETS = {"Content-Type": "application/octet-stream"}


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImageCluster]:
    yield from image_cluster(tmp_path_factory.mktemp("images"))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home directory for the CLI: its schema cache starts empty."""
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def create(images: ImageCluster, token: str, **fields: Any) -> dict[str, Any]:
    status, _, body = images.api("POST", "/v2/images", token, fields)
    assert status == 201, body
    return dict(json.loads(body))


def show(images: ImageCluster, token: str, image_id: str) -> dict[str, Any]:
    status, _, body = images.api("GET", f"/v2/images/{image_id}", token)
    assert status == 200, body
    return dict(json.loads(body))


def stored(images: ImageCluster, image_id: str) -> list[str]:
    """The names of the image's segments and manifests in the cluster."""
    token = images.token("images:glance")
    names = []
    for container in ("glance_segments", "glance_data"):
        status, _, body = exchange(
            images.ports["proxy"], "GET",
            f"/v1/AUTH_images/{container}?format=json&prefix={image_id}/",
            headers={"X-Auth-Token": token})
        assert status in (200, 204, 404), status
        if status == 200:
            names += [row["name"] for row in json.loads(body)]
    return names


def ok(result: Any) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return str(result.stdout)


def id_in(output: str) -> str:
    return next(line.split("|")[2].strip() for line in output.splitlines()
                if line.startswith("| id "))


def digests(data: bytes) -> tuple[str, str]:
    return hashlib.md5(data).hexdigest(), hashlib.sha512(data).hexdigest()


def test_the_glance_cli_stores_shows_lists_changes_and_deletes_images(
        images: ImageCluster, home: Path, tmp_path: Path) -> None:
    token = images.token()
    data = os.urandom(50 * SEGMENT + 100)   # 50 MB, as issue #7 asks
    source = tmp_path / "disk.raw"
    source.write_bytes(data)
    output = ok(images.glance(token, "image-create", "--name", "cirros", "--disk-format", "raw",
                              "--container-format", "bare", "--file", str(source),
                              "--property", "os_distro=cirros", home=home))
    image_id = id_in(output)
    assert "| status           | active" in output
    image = show(images, token, image_id)
    md5, sha512 = digests(data)
    assert (image["size"], image["virtual_size"], image["checksum"]) == (len(data), len(data), md5)
    assert (image["os_hash_algo"], image["os_hash_value"]) == ("sha512", sha512)
    assert (image["owner"], image["os_distro"]) == ("AUTH_test", "cirros")
    assert len(stored(images, image_id)) == 51 + 1   # 51 segments and the manifest

    back = tmp_path / "back.raw"
    ok(images.glance(token, "image-download", "--file", str(back), image_id, home=home))
    assert back.read_bytes() == data   # the CLI checked the sha512 too

    ok(images.glance(token, "image-update", "--property", "color=blue", "--remove-property",
                     "os_distro", "--min-ram", "512", image_id, home=home))
    ok(images.glance(token, "image-tag-update", image_id, "web", home=home))
    image = show(images, token, image_id)
    assert (image["color"], image["min_ram"], image["tags"]) == ("blue", 512, ["web"])
    assert "os_distro" not in image
    listed = ok(images.glance(token, "image-list", "--property-filter", "color=blue",
                              home=home))
    assert image_id in listed
    assert image_id not in ok(images.glance(token, "image-list", "--property-filter",
                                            "color=red", home=home))
    ok(images.glance(token, "image-tag-delete", image_id, "web", home=home))
    assert show(images, token, image_id)["tags"] == []

    ok(images.glance(token, "image-deactivate", image_id, home=home))
    refused = images.glance(token, "image-download", "--file", str(tmp_path / "no"), image_id,
                            home=home)
    assert refused.returncode != 0 and "403" in refused.stdout + refused.stderr
    ok(images.glance(token, "image-reactivate", image_id, home=home))
    status, _, head = images.api("GET", f"/v2/images/{image_id}/file", token,
                                 headers={"Range": "bytes=0-99"})
    assert (status, head) == (206, data[:100])

    ok(images.glance(token, "image-update", "--protected", "True", image_id, home=home))
    kept = images.glance(token, "image-delete", image_id, home=home)
    assert kept.returncode != 0 and "not permitted" in kept.stdout + kept.stderr
    assert show(images, token, image_id)["status"] == "active"
    ok(images.glance(token, "image-update", "--protected", "False", image_id, home=home))
    ok(images.glance(token, "image-delete", image_id, home=home))
    gone = images.glance(token, "image-show", image_id, home=home)
    assert gone.returncode != 0 and "404" in gone.stdout + gone.stderr
    assert stored(images, image_id) == []


def test_chunked_uploads_and_ranged_downloads(images: ImageCluster) -> None:
    token = images.token()
    image = create(images, token, name="chunked", **RAW)
    path = f"/v2/images/{image['id']}"
    data = os.urandom(2 * SEGMENT + SEGMENT // 2)
    pieces = [data[start:start + SEGMENT] for start in range(0, len(data), SEGMENT)]
    # the size announced is not the size sent: refused, and the image stays
    # queued (segments go with their lengths when a size is announced)
    for announced in (len(data) + 1, len(data) - 1):
        status, _ = images.put_chunked(path + "/file", token, iter(pieces),
                                       {"x-openstack-image-size": str(announced)})
        assert status == 400
        assert show(images, token, image["id"])["status"] == "queued"
        assert stored(images, image["id"]) == []
    status, _ = images.put_chunked(path + "/file", token, iter(pieces),
                                   {"x-openstack-image-size": str(len(data))})
    assert status == 204
    assert show(images, token, image["id"])["checksum"] == hashlib.md5(data).hexdigest()

    status, headers, body = images.api("GET", path + "/file", token)
    assert (status, body) == (200, data)
    assert headers["content-md5"] == hashlib.md5(data).hexdigest()
    assert headers["content-type"] == "application/octet-stream"
    start, end = SEGMENT - 10, SEGMENT + 20   # across two segments
    status, headers, body = images.api("GET", path + "/file", token,
                                       headers={"Range": f"bytes={start}-{end}"})
    assert (status, body) == (206, data[start:end + 1])
    assert headers["content-range"] == f"bytes {start}-{end}/{len(data)}"
    assert images.api("GET", path + "/file", token,
                      headers={"Range": "bytes=0-1,5-6"})[0] == 416

    # data once stored is never replaced
    status, _ = images.put_chunked(path + "/file", token, iter([b"other"]))
    assert status == 409
    assert images.api("PUT", path + "/stage", token, b"x", OCTETS)[0] == 409
    assert images.api("GET", path + "/file", token)[2] == data


def test_content_that_is_not_its_disk_format_is_refused_and_leaves_nothing(
        images: ImageCluster, home: Path, tmp_path: Path) -> None:
    token = images.token()
    attack = tmp_path / "attack.img"
    attack.write_bytes(disk_images.qcow2(1 << 30) + os.urandom(2 * SEGMENT))
    refused = images.glance(token, "image-create", "--name", "sneaky", "--disk-format", "raw",
                            "--container-format", "bare", "--file", str(attack), home=home)
    assert refused.returncode != 0
    assert "415" in refused.stdout + refused.stderr
    assert "qcow2" in refused.stdout + refused.stderr
    image_id = id_in(refused.stdout)
    assert show(images, token, image_id)["status"] == "queued"
    assert stored(images, image_id) == []
    honest = tmp_path / "honest.img"
    honest.write_bytes(os.urandom(SEGMENT + 1))
    ok(images.glance(token, "image-upload", "--file", str(honest), image_id, home=home))
    image = show(images, token, image_id)
    assert (image["status"], image["size"]) == ("active", SEGMENT + 1)

    def upload(fields: dict[str, str], content: bytes) -> tuple[int, dict[str, Any]]:
        image = create(images, token, **fields)
        status, _, body = images.api("PUT", f"/v2/images/{image['id']}/file", token,
                                     content, OCTETS)
        return status, {**show(images, token, image["id"]), "reason": body.decode()}

    qcow2 = {"disk_format": "qcow2", "container_format": "bare"}
    status, image = upload(qcow2, disk_images.qcow2(5 << 30) + b"\0" * 1000)
    assert (status, image["status"], image["virtual_size"]) == (204, "active", 5 << 30)
    status, image = upload(qcow2, disk_images.qcow2(1 << 30, backing="/etc/shadow"))
    assert (status, image["status"]) == (415, "queued")
    assert "backing file" in image["reason"]
    status, image = upload(qcow2, os.urandom(4096))
    assert (status, image["status"]) == (415, "queued")

    vhd = {"disk_format": "vhd", "container_format": "bare"}
    fixed = os.urandom(3 * SEGMENT) + disk_images.vhd_footer(3 * SEGMENT)
    status, image = upload(vhd, fixed)
    assert (status, image["virtual_size"], image["size"]) == (204, 3 * SEGMENT, len(fixed))
    # not a VHD after all, which only its last bytes tell: the segments written go
    status, image = upload(vhd, os.urandom(3 * SEGMENT))
    assert (status, image["status"]) == (415, "queued")
    assert stored(images, image["id"]) == []


def test_the_import_workflow(images: ImageCluster, home: Path) -> None:
    token = images.token()
    content = disk_images.qcow2(2 << 30) + os.urandom(SEGMENT)
    output = ok(images.glance(token, "image-create-via-import", "--name", "imported",
                              "--disk-format", "qcow2", "--container-format", "bare",
                              home=home, stdin=content))
    image = show(images, token, id_in(output))
    assert (image["status"], image["virtual_size"]) == ("active", 2 << 30)
    assert image["checksum"] == hashlib.md5(content).hexdigest()
    assert images.api("GET", f"/v2/images/{image['id']}/file", token)[2] == content

    staged = create(images, token, name="staged")   # formats set only after staging
    path = f"/v2/images/{staged['id']}"
    assert images.api("POST", path + "/import", token,
                      {"method": {"name": "glance-direct"}})[0] == 409   # nothing staged
    assert images.api("PUT", path + "/stage", token, content, OCTETS)[0] == 204
    assert show(images, token, staged["id"])["status"] == "uploading"
    patch = [{"op": "add", "path": "/disk_format", "value": "raw"},
             {"op": "add", "path": "/container_format", "value": "bare"}]
    status, _, body = images.api("PATCH", path, token, json.dumps(patch).encode(), {
        "Content-Type": "application/openstack-images-v2.1-json-patch"})
    assert status == 403, body   # formats change only while queued
    assert images.api("POST", path + "/import", token,
                      {"method": {"name": "web-download"}})[0] == 400
    assert images.api("POST", path + "/import", token,
                      {"method": {"name": "glance-direct"}})[0] == 400   # no formats yet


def test_bad_requests_get_glance_errors(images: ImageCluster) -> None:
    token = images.token()
    status, _, body = images.api("GET", "/", token)
    versions = json.loads(body)["versions"]
    assert status == 300 and versions[0] == {
        "id": "v2.9", "status": "CURRENT",
        "links": [{"rel": "self", "href": f"{images.image_url}/v2/"}]}
    assert images.api("GET", "/v2/images", "")[0] == 401
    assert images.api("GET", "/v2/images", token[:-4] + "AAAA")[0] == 401
    assert images.api("POST", "/v2/images", token, {"disk_format": "floppy"})[0] == 400
    assert images.api("POST", "/v2/images", token, b"{not json",
                      {"Content-Type": "application/json"})[0] == 400
    assert images.api("POST", "/v2/images", token, {"status": "active"})[0] == 403
    assert images.api("POST", "/v2/images", token, {"name": "x" * (3 << 20)})[0] == 413
    image = create(images, token, name="errors", protected=True, **RAW)
    path = f"/v2/images/{image['id']}"
    assert images.api("POST", "/v2/images", token, {"id": image["id"]})[0] == 409
    patch = json.dumps([{"op": "replace", "path": "/name", "value": "x"}]).encode()
    assert images.api("PATCH", path, token, patch, {"Content-Type": "application/json"})[0] \
        == 415
    deep = json.dumps([{"op": "add", "path": "/a/b", "value": "x"}]).encode()
    status, headers, body = images.api("PATCH", path, token, deep, {
        "Content-Type": "application/openstack-images-v2.1-json-patch"})
    assert status == 400 and b"top-level property" in body
    assert headers["x-openstack-request-id"].startswith("req-")
    assert images.api("PUT", path + "/file", token, b"x",
                      {**OCTETS, "x-openstack-image-size": str(65 * SEGMENT)})[0] == 413
    assert images.api("DELETE", path, token)[0] == 403
    assert images.api("GET", "/v2/images/" + "1" * 8 + "-0000-0000-0000-" + "0" * 12,
                      token)[0] == 404
    assert images.api("GET", "/v2/nothing", token)[0] == 404
    assert images.api("DELETE", "/v2/images", token)[0] == 405
    bare = create(images, token, name="no formats")
    assert images.api("PUT", f"/v2/images/{bare['id']}/file", token, b"x", OCTETS)[0] == 400


def test_who_sees_what_members_and_pages(images: ImageCluster, home: Path) -> None:
    owner, other, admin = images.token(), images.token("other:user"), images.token("admin:admin")
    made = [create(images, owner, name=f"page-{n}", visibility=visibility, tags=["paging"])
            for n, visibility in enumerate(["private", "shared", "community", "private",
                                            "shared"])]
    private, shared, community = made[0]["id"], made[1]["id"], made[2]["id"]
    assert images.api("GET", f"/v2/images/{private}", other)[0] == 404
    assert images.api("GET", f"/v2/images/{shared}", other)[0] == 404
    assert images.api("GET", f"/v2/images/{community}", other)[0] == 200

    def listing(token: str, query: str) -> list[str]:
        names, url = [], f"/v2/images?{query}"
        while url:
            status, _, body = images.api("GET", url, token)
            assert status == 200, body
            page = json.loads(body)
            assert len(page["images"]) <= 2
            names += [image["name"] for image in page["images"]]
            url = page.get("next", "")
        return names

    everything = "tag=paging&sort_key=name&sort_dir=asc&limit=2"
    assert listing(owner, everything) == [f"page-{n}" for n in range(5)]
    pages = ok(images.glance(owner, "image-list", "--tag", "paging", "--sort", "name:desc",
                             "--page-size", "2", "--limit", "3", home=home))
    assert [line.split("|")[2].strip() for line in pages.splitlines()
            if "page-" in line] == ["page-4", "page-3", "page-2"]
    assert listing(other, everything) == []
    assert listing(other, everything + "&visibility=community") == ["page-2"]
    assert listing(admin, everything + "&visibility=all") == [f"page-{n}" for n in range(5)]

    members = f"/v2/images/{shared}/members"
    assert images.api("POST", members, other, {"member": "AUTH_other"})[0] == 404
    assert images.api("POST", f"/v2/images/{private}/members", owner,
                      {"member": "AUTH_other"})[0] == 403   # only shared images
    status, _, body = images.api("POST", members, owner, {"member": "AUTH_other"})
    assert status == 200 and json.loads(body)["status"] == "pending"
    assert images.api("POST", members, owner, {"member": "AUTH_other"})[0] == 409
    assert images.api("GET", f"/v2/images/{shared}", other)[0] == 200
    assert listing(other, everything) == []   # not accepted yet
    assert listing(other, everything + "&member_status=pending") == ["page-1"]
    mine = f"{members}/AUTH_other"
    assert images.api("PUT", mine, owner, {"status": "accepted"})[0] == 403
    assert images.api("PUT", mine, other, {"status": "accepted"})[0] == 200
    assert listing(other, everything) == ["page-1"]
    status, _, body = images.api("GET", members, other)
    assert [m["member_id"] for m in json.loads(body)["members"]] == ["AUTH_other"]
    assert images.api("DELETE", mine, owner)[0] == 204
    assert images.api("GET", f"/v2/images/{shared}", other)[0] == 404

    publish = json.dumps([{"op": "replace", "path": "/visibility", "value": "public"}]).encode()
    kind = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
    assert images.api("PATCH", f"/v2/images/{private}", owner, publish, kind)[0] == 403
    assert images.api("PATCH", f"/v2/images/{private}", admin, publish, kind)[0] == 200
    assert listing(other, everything) == ["page-0"]
    assert images.api("GET", "/v2/images?marker=nonsense", owner)[0] == 400


def test_an_upload_that_breaks_off_kills_the_image_and_its_data_goes(
        images: ImageCluster) -> None:
    token = images.token()
    image = create(images, token, name="cut", **RAW)
    with socket.create_connection(("127.0.0.1", images.image_port), timeout=30) as sock:
        sock.sendall((f"PUT /v2/images/{image['id']}/file HTTP/1.1\r\nHost: x\r\n"
                      f"X-Auth-Token: {token}\r\nContent-Type: application/octet-stream\r\n"
                      f"Content-Length: {8 * SEGMENT}\r\n\r\n").encode())
        # past the head the service holds back (4 MiB): segments are in the cluster
        sock.sendall(os.urandom(6 * SEGMENT))
        deadline = time.monotonic() + 20
        while show(images, token, image["id"])["status"] != "saving":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    deadline = time.monotonic() + 30
    while show(images, token, image["id"])["status"] != "killed":
        assert time.monotonic() < deadline, show(images, token, image["id"])
        time.sleep(0.1)
    assert stored(images, image["id"]) == []
    assert images.api("GET", f"/v2/images/{image['id']}/file", token)[0] == 204
    assert images.api("DELETE", f"/v2/images/{image['id']}", token)[0] == 204


def test_the_operator_cli(images: ImageCluster, tmp_path: Path) -> None:
    def run(*args: str, login: str | None = "test:tester") -> tuple[int, bytes, str]:
        done = images.objstore_image(*args, login=login)
        return done.returncode, done.stdout, done.stderr.decode()

    data = os.urandom(5 * SEGMENT + 3)
    (tmp_path / "disk.raw").write_bytes(data)
    code, out, err = run("upload", str(tmp_path / "disk.raw"), "--name", "cli image",
                         "--disk-format", "raw", "--property", "os_distro=cirros", "--json")
    assert code == 0, err
    assert "uploading 5.0 MiB of 5.0 MiB (100%" in err   # progress, a line when not a tty
    image = json.loads(out)
    assert (image["status"], image["size"], image["os_distro"]) == ("active", len(data),
                                                                    "cirros")
    assert (image["checksum"], image["os_hash_value"]) == digests(data)
    code, out, err = run("list", "--filter", "name=cli image")
    assert code == 0, err
    header, *rows = out.decode().splitlines()
    assert header.split() == ["ID", "STATUS", "SIZE", "DISK_FORMAT", "NAME"]
    assert [row.split()[:4] for row in rows] == [[image["id"], "active", str(len(data)),
                                                  "raw"]]
    code, out, _ = run("show", image["id"])
    shown = dict(line.split(None, 1) for line in out.decode().splitlines())
    assert (shown["checksum"], shown["name"], shown["tags"]) == (image["checksum"],
                                                                 "cli image", "[]")
    code, _, err = run("download", image["id"], "-o", str(tmp_path / "back.raw"))
    assert code == 0 and "verified" in err, err
    assert (tmp_path / "back.raw").read_bytes() == data
    code, out, err = run("--token", images.token(), "download", image["id"], login=None)
    assert code == 0 and out == data, err   # a token instead of credentials; stdout

    # refusals: the server's status and reason, exit code 1
    (tmp_path / "lie.raw").write_bytes(disk_images.qcow2(1 << 30) + os.urandom(SEGMENT))
    code, _, err = run("upload", str(tmp_path / "lie.raw"), "--name", "cli liar",
                       "--disk-format", "raw")
    assert code == 1 and "415" in err and "qcow2" in err and "was deleted" in err, err
    assert run("list", "--filter", "name=cli liar")[1].decode().count("\n") == 1
    assert run("upload", str(tmp_path / "disk.raw"), "--id", image["id"])[0] == 1
    assert run("list", login=None)[2].startswith("objstore-image: no credentials")
    code, out, err = run("delete", image["id"])
    assert (code, out.decode()) == (0, f"deleted image {image['id']}\n"), err
    code, _, err = run("show", image["id"])
    assert code == 1 and f"404 Not Found: No image found with ID {image['id']}" in err, err
    assert images.objstore_image("upload").returncode == 2   # a bad command line


def test_an_upload_whose_server_died_is_taken_over_once_it_stalls(
        images: ImageCluster) -> None:
    token = images.token()
    port, stall = free_port(), 3.0
    options = f"upload_stall_timeout = {stall}\n"
    dying = images.start_image_server(port, "stalling-image", options)
    image = create(images, token, name="stalled", **RAW)
    path = f"/v2/images/{image['id']}"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall((f"PUT {path}/file HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {token}\r\n"
                          f"Content-Type: application/octet-stream\r\n"
                          f"Content-Length: {8 * SEGMENT}\r\n\r\n").encode())
            sock.sendall(os.urandom(6 * SEGMENT))
            deadline = time.monotonic() + 20
            while not stored(images, image["id"]):   # past the head: segments stored
                assert time.monotonic() < deadline
                time.sleep(0.05)
            os.killpg(dying.pid, signal.SIGKILL)
            dying.wait()
        died = time.monotonic()
    finally:
        stop_process(dying)
    assert show(images, token, image["id"])["status"] == "saving"
    # it showed progress a moment ago: perhaps it is alive, so it keeps the image
    # (asked of the module's image server, which waits the default 600 s)
    status, _, body = images.api("PUT", path + "/file", token, b"too soon", OCTETS)
    assert status == 409 and b"taken as abandoned" in body, body
    restarted = images.start_image_server(port, "stalling-image", options)
    try:
        def upload(data: bytes) -> tuple[int, bytes]:
            status, _, body = exchange(port, "PUT", path + "/file", data,
                                       {"X-Auth-Token": token, **OCTETS}, timeout=60)
            return status, body
        time.sleep(max(0.0, died + stall + 0.5 - time.monotonic()))
        data = os.urandom(3 * SEGMENT + 7)
        assert upload(data)[0] == 204
        assert upload(b"again")[0] == 409   # the new data is never replaced
    finally:
        stop_process(restarted)
    image = show(images, token, image["id"])
    assert (image["status"], image["checksum"]) == ("active", hashlib.md5(data).hexdigest())
    assert images.api("GET", path + "/file", token)[2] == data
    names = stored(images, image["id"])   # the abandoned upload's segments went
    assert len(names) == 4 + 1 and len({name.split("/")[1] for name in names}) == 1, names
    assert images.api("DELETE", path, token)[0] == 204
    assert stored(images, image["id"]) == []
    status, _, body = exchange(images.ports["proxy"], "GET",
                               f"/v1/AUTH_images/glance_claims?prefix={image['id']}",
                               headers={"X-Auth-Token": images.token("images:glance")})
    assert status == 204 or body == b"", body   # no claim, beat or takeover left


def test_every_image_server_sees_the_same_registry(images: ImageCluster) -> None:
    token = images.token()
    port = free_port()
    second = images.start_image_server(port, "second-image")
    try:
        image = create(images, token, name="shared registry", **RAW)
        path = f"/v2/images/{image['id']}"
        status, _, body = exchange(port, "GET", path, headers={"X-Auth-Token": token})
        assert status == 200 and json.loads(body)["name"] == "shared registry"
        data = os.urandom(6 * SEGMENT)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall((f"PUT {path}/file HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {token}\r\n"
                          f"Content-Type: application/octet-stream\r\n"
                          f"Content-Length: {len(data)}\r\n\r\n").encode())
            sock.sendall(data[:SEGMENT])
            deadline = time.monotonic() + 20
            while show(images, token, image["id"])["status"] != "saving":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            # one upload at a time, whichever server it comes through
            assert images.api("PUT", path + "/file", token, b"other", OCTETS)[0] == 409
            sock.sendall(data[SEGMENT:])
            assert sock.recv(100).startswith(b"HTTP/1.1 204")
        assert images.api("GET", path + "/file", token)[2] == data
        status, _, body = exchange(port, "GET", "/v2/images?name=shared%20registry",
                                   headers={"X-Auth-Token": token})
        assert [i["status"] for i in json.loads(body)["images"]] == ["active"]
    finally:
        stop_process(second)
