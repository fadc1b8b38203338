"""Send the same requests to objstore-aio and to a real OpenStack Swift; print where they differ.

Not a test: it needs Swift in a throwaway virtualenv, which the project
never imports (see bench/side_by_side.py for setting one up):

    python3 bench/swift_api_diff.py [--swift-bin /tmp/swiftvenv/bin] [--all]

Both clusters start fresh (objstore-aio with ``--no-daemons``; Swift with
the filters objstore's pipeline has, where Swift has them), each request
of ``CASES`` goes to both as ``test:tester``, in order, and every answer
is compared: the status, whether each header of ``HEADERS`` is there, the
value of those in ``VALUES``, and a 2xx GET's body (a json body without
its ``last_modified`` and ``hash``, which differ by nature). Without
``--all``, differences nobody depends on are left out: the media type
and text of error and empty bodies (Swift's are HTML), and
``Accept-Ranges`` on listings. What its first runs found, and what
changed for it, is in doc/api.md ("Compared with Swift").
"""
from __future__ import annotations

import argparse
import http.client
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clusters import (  # noqa: E402
    IP, KEY, NODES, USER, ObjstoreCluster, SwiftCluster, free_base, say,
)

HEADERS = ("content-type", "content-length", "etag", "accept-ranges", "content-range",
           "x-container-object-count", "x-container-bytes-used", "x-account-container-count",
           "x-account-object-count", "x-account-bytes-used", "x-object-meta-color",
           "x-object-meta-empty", "x-container-meta-color", "x-copied-from", "x-delete-at",
           "last-modified", "x-timestamp", "location", "allow", "vary",
           "x-static-large-object", "x-object-manifest", "x-storage-policy",
           "content-disposition", "content-encoding", "cache-control")
VALUES = frozenset({"content-length", "accept-ranges", "content-range",
                    "x-container-object-count", "x-container-bytes-used",
                    "x-account-container-count", "x-account-object-count",
                    "x-object-meta-color", "x-object-meta-empty", "x-container-meta-color",
                    "x-copied-from", "allow", "vary", "x-static-large-object",
                    "x-object-manifest", "content-disposition", "content-encoding",
                    "cache-control"})
FILTERS = ("catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk "
           "tempurl formpost tempauth staticweb copy container-quotas account-quotas slo "
           "dlo versioned_writes symlink proxy-logging proxy-server")
EGGS = {"catch_errors": "catch_errors", "gatekeeper": "gatekeeper",
        "healthcheck": "healthcheck", "proxy-logging": "proxy_logging", "cache": "memcache",
        "listing_formats": "listing_formats", "bulk": "bulk", "tempurl": "tempurl",
        "formpost": "formpost", "tempauth": "tempauth", "staticweb": "staticweb",
        "copy": "copy", "container-quotas": "container_quotas",
        "account-quotas": "account_quotas", "slo": "slo", "dlo": "dlo",
        "versioned_writes": "versioned_writes", "symlink": "symlink"}

Case = tuple[str, str, bytes, dict[str, str]]
Answer = tuple[int, dict[str, str], bytes]
A = "{account}"
CASES: list[Case] = [
    ("PUT", f"{A}/c1", b"", {}),
    ("PUT", f"{A}/c1/o1", b"hello world", {"Content-Type": "text/x-test",
                                            "X-Object-Meta-Color": "red"}),
    ("PUT", f"{A}/c1/photo.jpg", b"jpeg", {}),
    ("PUT", f"{A}/c1/bad-etag", b"abc", {"ETag": "0" * 32}),
    ("HEAD", f"{A}/c1/o1", b"", {}),
    ("GET", f"{A}/c1/o1", b"", {"Range": "bytes=0-4"}),
    ("GET", f"{A}/c1/o1", b"", {"Range": "bytes=-5"}),
    ("GET", f"{A}/c1/o1", b"", {"Range": "bytes=50-60"}),
    ("GET", f"{A}/c1/o1", b"", {"Range": "bytes=0-1,4-5"}),
    ("GET", f"{A}/c1/o1", b"", {"If-None-Match": '"5eb63bbbe01eeed093cb22bb8f5acdc3"'}),
    ("GET", f"{A}/c1/o1", b"", {"If-Match": '"nope"'}),
    ("POST", f"{A}/c1/o1", b"", {"X-Object-Meta-Color": "blue", "Content-Type": "text/y"}),
    ("COPY", f"{A}/c1/o1", b"", {"Destination": "c1/o1copy"}),
    ("PUT", f"{A}/c1/o4", b"", {"X-Copy-From": "c1/o1"}),
    ("PUT", f"{A}/c1/d/e/f", b"x", {}),
    ("PUT", f"{A}/c1/d/g", b"x", {}),
    ("GET", f"{A}/c1?format=json", b"", {}),
    ("GET", f"{A}/c1?delimiter=/&format=json", b"", {}),
    ("GET", f"{A}/c1?delimiter=d/", b"", {}),
    ("GET", f"{A}/c1?path=d", b"", {}),
    ("GET", f"{A}/c1?limit=2&marker=d", b"", {}),
    ("GET", f"{A}/c1?reverse=true&format=json", b"", {}),
    ("GET", f"{A}/c1", b"", {"Accept": "application/json"}),
    ("GET", f"{A}/c1", b"", {"Accept": "text/xml"}),
    ("GET", f"{A}/c1", b"", {"Accept": "image/png"}),
    ("GET", f"{A}?format=json", b"", {}),
    ("POST", f"{A}/c1", b"", {"X-Container-Meta-Color": "green"}),
    ("HEAD", f"{A}/c1", b"", {}),
    ("PUT", f"{A}/c1/m", b"x", {"X-Object-Meta-Color": "1", "X-Object-Meta-Empty": ""}),
    ("POST", f"{A}/c1/m", b"", {"X-Remove-Object-Meta-Color": "x", "X-Object-Meta-Empty": ""}),
    ("HEAD", f"{A}/c1/m", b"", {}),
    ("PUT", f"{A}/c%FF", b"", {}),
    ("PUT", f"{A}/c1/o%FF", b"x", {}),
    ("PUT", f"{A}/c1/sb", b"x", {"Content-Type": "a/b;swift_bytes=5"}),
    ("PUT", f"{A}/segs", b"", {}),
    ("PUT", f"{A}/segs/a", b"a" * 40000, {}),
    ("PUT", f"{A}/segs/b", b"b" * 30000, {}),
    ("PUT", f"{A}/man", b"", {}),
    ("PUT", f"{A}/man/whole?multipart-manifest=put",
     json.dumps([{"path": "segs/a"}, {"path": "segs/b"}]).encode(), {}),
    ("HEAD", f"{A}/man/whole", b"", {}),
    ("GET", f"{A}/man/whole", b"", {"Range": "bytes=39998-40001"}),
    ("HEAD", f"{A}/man", b"", {}),
    ("PUT", f"{A}/man/dlo", b"", {"X-Object-Manifest": "segs/"}),
    ("HEAD", f"{A}/man/dlo", b"", {}),
    ("PUT", f"{A}/man/sym", b"", {"X-Symlink-Target": "segs/a"}),
    ("HEAD", f"{A}/man/sym", b"", {}),
    ("DELETE", f"{A}/c1/missing", b"", {}),
    ("DELETE", f"{A}/c1", b"", {}),
]
# differences nobody depends on (left out without --all)
COSMETIC = ("content-type: objstore 'text/html' swift 'text/html; charset=UTF-8'",
            "content-type: objstore 'text/plain; charset=utf-8' swift 'text/html; charset=UTF-8'",
            "content-type: objstore 'text/plain; charset=UTF-8' swift 'text/html; charset=UTF-8'",
            "content-type: objstore None swift 'text/html; charset=UTF-8'",
            "content-length: objstore None swift '0'",
            "content-length: objstore '0' swift '76'",
            "accept-ranges: objstore None swift 'bytes'")


class FullSwift(SwiftCluster):
    """Swift with the filters objstore's sample pipeline has, where Swift has them."""

    def _write_proxy_conf(self, socket_path: Path) -> Path:
        user = USER.split(":")
        extra = {"cache": [f"memcache_servers = {IP}:{self.memcached_port}"],
                 "tempauth": [f"user_{user[0]}_{user[1]} = {KEY} .admin"],
                 "versioned_writes": ["allow_versioned_writes = true"]}
        lines = self._common(self.proxy_port, "proxy-server", socket_path)
        lines += ["", "[pipeline:main]", f"pipeline = {FILTERS}", "",
                  "[app:proxy-server]", "use = egg:swift#proxy", "account_autocreate = true"]
        for name, egg in EGGS.items():
            lines += ["", f"[filter:{name}]", f"use = egg:swift#{egg}", *extra.get(name, [])]
        path = self.etc / "proxy-server.conf"
        path.write_text("\n".join(lines) + "\n")
        return path


def login(port: int) -> tuple[str, str]:
    """(token, the account's path) as test:tester."""
    conn = http.client.HTTPConnection(IP, port, timeout=30)
    conn.request("GET", "/auth/v1.0", headers={"X-Auth-User": USER, "X-Auth-Key": KEY})
    answer = conn.getresponse()
    answer.read()
    url = answer.getheader("X-Storage-Url") or ""
    return answer.getheader("X-Auth-Token") or "", "/" + url.split("/", 3)[3]


def ask(port: int, token: str, account: str, case: Case) -> Answer:
    method, path, body, headers = case
    conn = http.client.HTTPConnection(IP, port, timeout=60)
    conn.request(method, path.replace(A, account), body=body,
                 headers={"X-Auth-Token": token, **headers})
    answer = conn.getresponse()
    data = answer.read()
    return answer.status, {k.lower(): v for k, v in answer.getheaders()}, data


def comparable(body: bytes, content_type: str | None) -> Any:
    """A body as compared: json without the fields that differ by nature."""
    if content_type and "json" in content_type:
        try:
            parsed = json.loads(body)
        except ValueError:
            return body
        if isinstance(parsed, list):
            return [{k: v for k, v in item.items() if k not in ("last_modified", "hash")}
                    if isinstance(item, dict) else item for item in parsed]
        return parsed
    return body


def differences(ours: Answer, theirs: Answer, method: str, everything: bool) -> list[str]:
    (status, headers, body), (swift_status, swift_headers, swift_body) = ours, theirs
    found = [] if status == swift_status else [f"status objstore {status} swift {swift_status}"]
    # two error bodies differ in length by their wording alone
    wording = status >= 300 and swift_status >= 300 and not everything
    for name in HEADERS:
        if name == "content-length" and wording:
            continue
        if (name in headers) != (name in swift_headers) or (
                name in VALUES and headers.get(name) != swift_headers.get(name)):
            found.append(f"{name}: objstore {headers.get(name)!r} swift "
                         f"{swift_headers.get(name)!r}")
    if method == "GET" and status == swift_status and 200 <= status < 300:
        mine = comparable(body, headers.get("content-type"))
        if mine != comparable(swift_body, swift_headers.get("content-type")):
            found.append(f"body: objstore {str(mine)[:300]} swift "
                         f"{str(comparable(swift_body, swift_headers.get('content-type')))[:300]}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--swift-bin", default="/tmp/swiftvenv/bin",
                        help="where Swift's swift-*-server scripts are")
    parser.add_argument("--all", action="store_true", help="show cosmetic differences too")
    args = parser.parse_args(argv)
    if not (Path(args.swift_bin) / "swift-proxy-server").exists():
        parser.error(f"no swift-proxy-server in {args.swift_bin}: install Swift in a "
                     "throwaway virtualenv first (see the docstring)")
    root = Path(tempfile.mkdtemp(prefix="swift-api-diff-"))
    taken: set[int] = set()
    objstore = ObjstoreCluster(root, free_base(21000, [0, *range(1000, 1033)], taken))
    swift = FullSwift(root, free_base(27000, list(range(0, 10 * NODES + 10)), taken),
                      Path(args.swift_bin))
    shown = 0
    try:
        objstore.start()
        swift.start()
        (token, account), (swift_token, swift_account) = login(objstore.port), \
            login(swift.proxy_port)
        for case in CASES:
            found = differences(ask(objstore.port, token, account, case),
                                ask(swift.proxy_port, swift_token, swift_account, case),
                                case[0], args.all)
            found = [line for line in found if args.all or line not in COSMETIC]
            if found:
                shown += 1
                print(f"== {case[0]} {case[1]} {case[3] or ''}")
                for line in found:
                    print("   ", line)
    finally:
        objstore.stop()
        swift.stop()
        shutil.rmtree(root, ignore_errors=True)
    say(f"{len(CASES)} requests, {shown} answered differently")
    return 0


if __name__ == "__main__":
    sys.exit(main())
