"""Temp URLs on a real cluster: no token, account and container keys, each
digest, the refusals, prefixes, downloads' names, and the swift CLI's URLs."""
from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from swiftclient.utils import generate_temp_url

from .cluster import Cluster, ok, raw, token

KEY = "account-key-1"
KEY2 = "account-key-2"
CONTAINER_KEY = "container-key-2"


class SignedCluster(Cluster):
    """The test cluster with tempurl and formpost where Swift has them:
    after proxy_logging, before tempauth."""

    def _proxy_conf(self) -> Path:
        conf = super()._proxy_conf()
        text = conf.read_text()
        if " tempurl " not in text:
            text = text.replace("proxy_logging tempauth", "proxy_logging tempurl formpost "
                                "tempauth", 1) + "[filter:tempurl]\n[filter:formpost]\n"
            conf.write_text(text)
        return conf


def signed_cluster(root: Path) -> Iterator[SignedCluster]:
    running = SignedCluster(root)
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SignedCluster]:
    yield from signed_cluster(tmp_path_factory.mktemp("tempurl"))


class Owner:
    """The account's owner (test:tester) with a token."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.token, url = token(cluster)
        self.account = url.rsplit("/", 1)[-1]

    def __call__(self, method: str, path: str, body: bytes = b"",
                 **headers: str) -> tuple[int, dict[str, str], bytes]:
        full = f"/v1/{self.account}" + (f"/{path}" if path else "")
        return raw(self.cluster, method, urllib.parse.quote(full),
                   body, {"X-Auth-Token": self.token,
                          **{k.replace("_", "-"): v for k, v in headers.items()}})


@pytest.fixture(scope="module")
def owner(cluster: Cluster) -> Owner:
    owner = Owner(cluster)
    assert owner("POST", "", X_Account_Meta_Temp_URL_Key=KEY,
                 X_Account_Meta_Temp_URL_Key_2=KEY2)[0] == 204
    for container in ("c", "keyed", "other"):
        assert owner("PUT", container)[0] in (201, 202)
    assert owner("POST", "keyed", X_Container_Meta_Temp_URL_Key_2=CONTAINER_KEY)[0] == 204
    assert owner("PUT", "c/o", b"hello", Content_Type="text/plain",
                 X_Object_Meta_Secret="s", X_Object_Meta_Public_Title="t")[0] == 201
    return owner


def signed(owner: Owner, path: str, method: str = "GET", key: str = KEY, seconds: int = 300,
           **options: object) -> str:
    """A temp URL (path and query, quoted) as swiftclient makes them."""
    full = f"/v1/{owner.account}/{path}"
    url = generate_temp_url(full, int(time.time()) + seconds, key, method, absolute=True,
                            **options)
    quoted, _, query = url.partition("?")
    return urllib.parse.quote(quoted) + "?" + query


def anonymous(owner: Owner, method: str, url: str, body: bytes = b"",
              **headers: str) -> tuple[int, dict[str, str], bytes]:
    return raw(owner.cluster, method, url, body,
               {k.replace("_", "-"): v for k, v in headers.items()})


@pytest.mark.parametrize("digest", ["sha1", "sha256", "sha512"])
def test_get_put_head_without_a_token(owner: Owner, digest: str) -> None:
    status, headers, body = anonymous(owner, "GET", signed(owner, "c/o", digest=digest))
    assert (status, body) == (200, b"hello")
    assert "X-Object-Meta-Secret" not in headers  # private metadata stays private
    assert headers["X-Object-Meta-Public-Title"] == "t"
    assert headers["Content-Disposition"] == "attachment; filename=\"o\"; filename*=UTF-8''o"
    assert anonymous(owner, "HEAD", signed(owner, "c/o", digest=digest))[0] == 200
    name = f"c/put-{digest}"
    assert anonymous(owner, "PUT", signed(owner, name, "PUT", digest=digest), b"via url")[0] \
        == 201
    assert anonymous(owner, "HEAD", signed(owner, name, "PUT", digest=digest))[0] == 200
    assert owner("GET", name)[2] == b"via url"
    # without the URL the object is not public
    assert anonymous(owner, "GET", urllib.parse.quote(f"/v1/{owner.account}/c/o"))[0] == 401


def test_second_keys_and_container_keys(owner: Owner) -> None:
    assert anonymous(owner, "GET", signed(owner, "c/o", key=KEY2))[0] == 200
    owner("PUT", "keyed/k", b"keyed")
    status, _, body = anonymous(owner, "GET", signed(owner, "keyed/k", key=CONTAINER_KEY))
    assert (status, body) == (200, b"keyed")
    # a container's key opens that container only
    status, _, body = anonymous(owner, "GET", signed(owner, "c/o", key=CONTAINER_KEY))
    assert status == 401 and b"does not match" in body
    # POST and DELETE through URLs signed for them
    assert anonymous(owner, "POST", signed(owner, "keyed/k", "POST", key=CONTAINER_KEY),
                     X_Object_Meta_Via="url")[0] == 202
    assert owner("HEAD", "keyed/k")[1]["X-Object-Meta-Via"] == "url"
    assert anonymous(owner, "DELETE", signed(owner, "keyed/k", "DELETE"))[0] == 204
    assert owner("HEAD", "keyed/k")[0] == 404


def test_bad_urls_are_401_and_change_nothing(owner: Owner) -> None:
    owner("PUT", "c/keep", b"original")
    expired = signed(owner, "c/keep", seconds=-5)
    tampered = signed(owner, "c/keep").replace("/c/keep", "/other/keep")
    refusals = [
        ("GET", expired, b"expired"),
        ("GET", tampered, b"does not match"),
        ("GET", signed(owner, "c/keep", key="not-the-key"), b"does not match"),
        ("PUT", signed(owner, "c/keep", "GET"), b"does not match"),
        ("DELETE", signed(owner, "c/keep", "PUT"), b"does not match"),
        ("HEAD", signed(owner, "c/keep", "DELETE"), b""),
        ("GET", signed(owner, "c/keep").replace("temp_url_sig=", "temp_url_sig=f"),
         b"invalid signature"),
    ]
    for method, url, reason in refusals:
        status, _, body = anonymous(owner, method, url, b"changed" if method == "PUT" else b"")
        assert status == 401 and reason in body, (method, url, body)
    assert owner("GET", "c/keep")[2] == b"original"
    status, _, body = anonymous(owner, "PUT", signed(owner, "c/m", "PUT"),
                                X_Object_Manifest="other/")
    assert status == 400 and b"X-Object-Manifest" in body
    status, _, body = anonymous(owner, "PUT", signed(owner, "c/m", "PUT"),
                                X_Copy_From="c/keep")
    assert status == 400 and owner("HEAD", "c/m")[0] == 404


def test_prefix_urls_and_download_names(owner: Owner) -> None:
    owner("PUT", "c/shared/a.txt", b"a")
    owner("PUT", "c/private/b.txt", b"b")
    url = signed(owner, "c/shared/", prefix=True)
    status, _, body = anonymous(owner, "GET", url.replace("/c/shared/?", "/c/shared/a.txt?"))
    assert (status, body) == (200, b"a")
    status, _, body = anonymous(owner, "GET", url.replace("/c/shared/?", "/c/private/b.txt?"))
    assert status == 401 and b"prefix" in body
    named = signed(owner, "c/shared/a.txt", iso8601=True) + "&filename=" + \
        urllib.parse.quote("r\u00e9sum\u00e9.txt")
    headers = anonymous(owner, "GET", named)[1]
    assert headers["Content-Disposition"] == (
        "attachment; filename=\"r%C3%A9sum%C3%A9.txt\"; "
        "filename*=UTF-8''r%C3%A9sum%C3%A9.txt")
    headers = anonymous(owner, "GET", signed(owner, "c/shared/a.txt") + "&inline")[1]
    assert headers["Content-Disposition"] == "inline"


def test_swift_tempurl_cli_urls_work(cluster: Cluster, owner: Owner) -> None:
    path = f"/v1/{owner.account}/c/o"
    for extra in ([], ["--digest", "sha1"], ["--digest", "sha512", "--iso8601"]):
        url = ok(cluster.swift("tempurl", *extra, "GET", "3600", path, KEY)).strip()
        status, _, body = anonymous(owner, "GET", url)
        assert (status, body) == (200, b"hello"), (extra, url)
    url = ok(cluster.swift("tempurl", "--prefix-based", "GET", "1h",
                           f"/v1/{owner.account}/c/", KEY)).strip()
    assert anonymous(owner, "GET", url.replace("/c/?", "/c/o?"))[2] == b"hello"


def test_removing_a_key_closes_its_urls_and_info_advertises(owner: Owner) -> None:
    info = json.loads(anonymous(owner, "GET", "/info")[2])
    assert info["tempurl"]["methods"] == ["DELETE", "GET", "HEAD", "POST", "PUT"]
    assert info["tempurl"]["allowed_digests"] == ["sha1", "sha256", "sha512"]
    assert info["formpost"]["allowed_digests"] == ["sha1", "sha256", "sha512"]
    url = signed(owner, "c/o", key=KEY2)
    assert anonymous(owner, "GET", url)[0] == 200
    assert owner("POST", "", X_Remove_Account_Meta_Temp_URL_Key_2="x")[0] == 204
    assert anonymous(owner, "GET", url)[0] == 401
    # temp URLs are for objects: an account's keys cannot be read through one
    status, headers, body = anonymous(owner, "GET", f"/v1/{owner.account}?temp_url_sig="
                                      f"{'0' * 40}&temp_url_expires={int(time.time()) + 60}")
    assert status == 401 and b"for objects" in body
    assert not any(name.lower().startswith("x-account-meta") for name in headers)
