"""The ``objstore-image`` CLI's HTTP: a token from the cluster's auth, and
requests to the image API, with the standard library only (``http.client``).

A request is whole (``call``: the answer read into memory, for records
and listings) or streamed (``put_stream`` sends an image chunked, the
way the glance CLI does; ``open_get`` hands back the response to read
piece by piece). Every failure becomes a ``CommandError`` whose text is
what the user reads: for an error answer, its status and the server's
own reason (Glance's error pages, asked for as JSON).
"""
from __future__ import annotations

import http.client
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

Answer = tuple[int, dict[str, str], bytes]


class CommandError(Exception):
    """The command failed; the text says why."""


def _connection(url: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    """A connection to ``url``'s host and the URL's path (its prefix)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CommandError(f"{url!r} is not an http:// or https:// URL")
    kind = http.client.HTTPSConnection if parts.scheme == "https" \
        else http.client.HTTPConnection
    try:
        return kind(parts.hostname, parts.port, timeout=timeout), parts.path.rstrip("/")
    except ValueError as err:   # a port that is not a number
        raise CommandError(f"{url!r}: {err}") from None


def server_reason(body: bytes) -> str:
    """The reason an error answer gives, as one line of text."""
    text = body.decode("utf-8", "replace")
    try:
        document = json.loads(text)
        if isinstance(document, dict) and isinstance(document.get("message"), str):
            text = document["message"]
    except ValueError:
        pass
    text = re.sub(r"<br\s*/?>", "\n", text)
    text = re.sub(r"<[^>]+>", " ", text)   # an HTML page from something in between
    text = " ".join(line.strip() for line in text.splitlines() if line.strip())
    # webob's 415 page opens with a fixed sentence before the service's reason
    return re.sub(r"^The request media type \S* is not supported by this server\. *", "",
                  text)[:1000]


def refusal(what: str, status: int, body: bytes) -> CommandError:
    reason = server_reason(body)
    return CommandError(f"{what}: {status} {http.client.responses.get(status, '')}"
                        f"{': ' + reason if reason else ''}")


def get_token(auth_url: str, user: str, key: str, timeout: float) -> str:
    """A token from the cluster's auth (tempauth's ``/auth/v1.0``)."""
    conn, path = _connection(auth_url, timeout)
    query = urllib.parse.urlsplit(auth_url).query
    try:
        conn.request("GET", path + (f"?{query}" if query else ""),
                     headers={"X-Auth-User": user, "X-Auth-Key": key})
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as err:
        raise CommandError(f"cannot reach the auth service at {auth_url}: {err}") from None
    finally:
        conn.close()
    token = response.getheader("X-Auth-Token")
    if response.status // 100 != 2 or not token:
        raise refusal(f"the auth service refused {user!r}", response.status, body)
    return token


class ImageClient:
    def __init__(self, url: str, token: str, timeout: float) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _headers(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        return {"X-Auth-Token": self.token, "Accept": "application/json", **(extra or {})}

    def call(self, method: str, path: str, document: Any = None,
             headers: Mapping[str, str] | None = None) -> Answer:
        """One request, its answer read whole; ``document`` goes as JSON."""
        conn, prefix = _connection(self.url, self.timeout)
        sent = self._headers(headers)
        body = None
        if document is not None:
            body = json.dumps(document).encode("utf-8")
            sent.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, prefix + path, body=body, headers=sent)
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as err:
            raise CommandError(f"{method} {self.url}{path} failed: {err}") from None
        finally:
            conn.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def json(self, method: str, path: str, what: str, document: Any = None,
             headers: Mapping[str, str] | None = None) -> Any:
        """The JSON answer of a request that must succeed."""
        status, _, data = self.call(method, path, document, headers)
        if status // 100 != 2:
            raise refusal(what, status, data)
        try:
            return json.loads(data) if data else None
        except ValueError:
            raise CommandError(f"{what}: the answer is not JSON") from None

    def put_stream(self, path: str, chunks: Iterable[bytes], headers: Mapping[str, str]
                   ) -> Answer:
        """A chunked PUT of ``chunks`` (no Content-Length). A server that
        answers before reading everything (a refusal) may close the
        connection under the sender: its answer is still read if it came."""
        conn, prefix = _connection(self.url, self.timeout)
        sent = {**self._headers(headers), "Content-Type": "application/octet-stream"}
        broke: Exception | None = None
        try:
            try:
                conn.request("PUT", prefix + path, body=chunks, headers=sent,
                             encode_chunked=True)
            except (OSError, http.client.HTTPException) as err:
                broke = err
            try:
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as err:
                raise CommandError(f"PUT {self.url}{path} failed: {broke or err}") from None
        finally:
            conn.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def open_get(self, path: str) -> tuple[http.client.HTTPConnection,
                                           http.client.HTTPResponse]:
        """A GET whose body the caller reads, then closes the connection."""
        conn, prefix = _connection(self.url, self.timeout)
        try:
            conn.request("GET", prefix + path, headers=self._headers(None))
            return conn, conn.getresponse()
        except (OSError, http.client.HTTPException) as err:
            conn.close()
            raise CommandError(f"GET {self.url}{path} failed: {err}") from None


__all__ = ["CommandError", "ImageClient", "get_token", "refusal", "server_reason"]
