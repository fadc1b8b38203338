"""A stand-in for the proxy app below a filter: objects and listings in a dict.

Enough of the proxy for the large-object filters' unit tests: PUT (what
``objstore.backend_headers`` adds is stored, as the proxy does), GET with
one range, HEAD, DELETE, ``If-Match``, container listings in JSON (prefix,
marker, ``page`` names at a time), ``/info``. Every request is recorded.
"""
from __future__ import annotations

import hashlib
import json
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

from objstore.common.timestamp import Timestamp

KEPT = ("content-type", "x-object-manifest", "x-object-meta-")


class FakeStore:
    def __init__(self, page: int = 10000) -> None:
        self.objects: dict[str, tuple[dict[str, str], bytes]] = {}
        self.requests: list[tuple[str, str, str]] = []   # method, path, query
        self.page = page
        self.forbidden: set[str] = set()
        self.containers: set[str] = set()   # listed even when empty
        self.clock = 1_700_000_000.0

    def put(self, path: str, body: bytes, **headers: str) -> str:
        self.clock += 1
        etag = hashlib.md5(body).hexdigest()
        self.objects[path] = ({"Content-Type": "application/octet-stream", "ETag": etag,
                               "X-Timestamp": Timestamp(self.clock).normal,
                               "Last-Modified": Timestamp(self.clock).http_date,
                               **{k.replace("_", "-"): v for k, v in headers.items()}}, body)
        return etag

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        query = environ.get("QUERY_STRING", "")
        self.requests.append((method, path, query))
        if path == "/info":
            return self.answer(start_response, "200 OK", json.dumps(
                {"swift": {"version": "fake"}, "slo": {}, "dlo": {}}).encode())
        if path in self.forbidden:
            return self.answer(start_response, "403 Forbidden", b"not for you\n")
        if path.count("/") == 3:
            return self.listing(path, query, start_response)
        handler = getattr(self, "do_" + method)
        return handler(environ, path, start_response)  # type: ignore[no-any-return]

    @staticmethod
    def answer(start_response: Callable[..., Any], status: str, body: bytes = b"",
               headers: dict[str, str] | None = None) -> list[bytes]:
        start_response(status, [*(headers or {}).items(), ("Content-Length", str(len(body)))])
        return [body]

    def do_PUT(self, environ: dict[str, Any], path: str, start_response: Callable[..., Any]
               ) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items()
                   if k.startswith("HTTP_") and k[5:].replace("_", "-").lower().startswith(KEPT)}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        headers.update(environ.get("objstore.backend_headers") or {})
        etag = self.put(path, body, **{k.replace("-", "_"): v for k, v in headers.items()})
        return self.answer(start_response, "201 Created", headers={"ETag": etag})

    def do_DELETE(self, environ: dict[str, Any], path: str, start_response: Callable[..., Any]
                  ) -> list[bytes]:
        if self.objects.pop(path, None) is None:
            return self.answer(start_response, "404 Not Found", b"not found\n")
        return self.answer(start_response, "204 No Content")

    def do_HEAD(self, environ: dict[str, Any], path: str, start_response: Callable[..., Any]
                ) -> list[bytes]:
        return self.do_GET(environ, path, start_response, head=True)

    def do_GET(self, environ: dict[str, Any], path: str, start_response: Callable[..., Any],
               head: bool = False) -> list[bytes]:
        if path not in self.objects:
            return self.answer(start_response, "404 Not Found", b"" if head else b"not found\n")
        headers, body = self.objects[path]
        shown = {k: v for k, v in headers.items() if not k.lower().startswith("x-object-sysmeta")}
        if_match = environ.get("HTTP_IF_MATCH")
        if if_match is not None and if_match.strip('"') not in (headers["ETag"], "*"):
            return self.answer(start_response, "412 Precondition Failed", headers=shown)
        status, span = "200 OK", body
        wanted = environ.get("HTTP_RANGE", "")
        if wanted.startswith("bytes=") and "," not in wanted:
            first, _, last = wanted[6:].partition("-")
            start = int(first) if first else max(0, len(body) - int(last))
            end = min(int(last) + 1, len(body)) if first and last else len(body)
            if start >= len(body):
                return self.answer(start_response, "416 Requested Range Not Satisfiable",
                                   headers={"Content-Range": f"bytes */{len(body)}"})
            status, span = "206 Partial Content", body[start:end]
            shown["Content-Range"] = f"bytes {start}-{end - 1}/{len(body)}"
        start_response(status, [*shown.items(), ("Content-Length", str(len(span)))])
        return [] if head else [span[i:i + 7] for i in range(0, len(span), 7)]

    def listing(self, path: str, query: str, start_response: Callable[..., Any]) -> list[bytes]:
        params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        prefix, marker = params.get("prefix", ""), params.get("marker", "")
        if not any(name.startswith(path + "/") for name in self.objects) and \
                path not in self.containers:
            return self.answer(start_response, "404 Not Found", b"no such container\n")
        names = sorted(name[len(path) + 1:] for name in self.objects
                       if name.startswith(path + "/"))
        chosen = [n for n in names if n.startswith(prefix) and n > marker][:self.page]
        items = [{"name": n, "hash": self.objects[f"{path}/{n}"][0]["ETag"],
                  "bytes": len(self.objects[f"{path}/{n}"][1]),
                  "content_type": "application/octet-stream",
                  "last_modified": "2024-01-01T00:00:00.000000"} for n in chosen]
        return self.answer(start_response, "200 OK", json.dumps(items).encode(),
                           {"Content-Type": "application/json; charset=utf-8"})
