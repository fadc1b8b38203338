"""The image service's way into the cluster: the Swift API, through the proxy.

The service is an ordinary client of the proxy (``proxy_url``): it gets a
token for its service user from tempauth (``auth_path``), keeps it until
shortly before it expires, and gets a new one when the proxy answers
401 (then sends the request again, once). Every path is relative to the
service account the token's storage URL names (``AUTH_images``).

Connections come from one keep-alive pool per worker. Any failure to
talk to the proxy (refused, timed out, cut off) is a ``ClusterError``,
which the API answers 503: the request may be retried.
"""
from __future__ import annotations

import logging
import time
import urllib.parse
from collections.abc import Mapping
from typing import Final

from objstore.common.http_client import (
    BackendConnection, BackendError, BackendResponse, ConnectionPool, Headers, request,
)
from objstore.image.config import ImageConfig

TOKEN_MARGIN: Final = 60.0   # seconds before expiry a token is renewed


class ClusterError(Exception):
    """The cluster could not be reached or did not do what was asked."""


class ClusterClient:
    def __init__(self, conf: ImageConfig, logger: logging.Logger) -> None:
        self.conf = conf
        self.logger = logger
        self.host, self.port = conf.proxy_address
        self.pool = ConnectionPool()
        self._token = ""
        self._account = ""
        self._expires = 0.0

    # -- the service's token ---------------------------------------------------

    def _credentials(self, renew: bool = False) -> tuple[str, str]:
        """(token, account) of the service user, fetched when needed."""
        if renew or not self._token or time.time() > self._expires - TOKEN_MARGIN:
            status, headers, _ = self._send("GET", self.conf.auth_path, {
                "X-Auth-User": self.conf.service_user, "X-Auth-Key": self.conf.service_key})
            if status != 200 or "x-auth-token" not in headers:
                raise ClusterError(f"the proxy refused the service user "
                                   f"{self.conf.service_user!r} a token ({status})")
            url = urllib.parse.urlsplit(headers.get("x-storage-url", ""))
            self._account = url.path.rstrip("/").rsplit("/", 1)[-1]
            self._token = headers["x-auth-token"]
            life = headers.get("x-auth-token-expires", "")
            self._expires = time.time() + (float(life) if life.isdigit() else 3600.0)
        return self._token, self._account

    @property
    def account(self) -> str:
        return self._credentials()[1]

    def _send(self, method: str, path: str, headers: Mapping[str, str], body: bytes = b"",
              query: str | None = None) -> tuple[int, Headers, bytes]:
        try:
            return request(self.host, self.port, method, path, headers, body,
                           connect_timeout=self.conf.conn_timeout,
                           read_timeout=self.conf.node_timeout, query=query, pool=self.pool)
        except BackendError as err:
            raise ClusterError(str(err)) from err

    # -- whole requests ----------------------------------------------------------

    def call(self, method: str, path: str, headers: Mapping[str, str] | None = None,
             body: bytes = b"", query: str | None = None) -> tuple[int, Headers, bytes]:
        """One request for ``<container>[/<object>]`` of the service
        account, answered whole."""
        for renew in (False, True):
            token, account = self._credentials(renew)
            status, got, data = self._send(method, f"/v1/{account}/{path}",
                                           {**(headers or {}), "X-Auth-Token": token}, body,
                                           query)
            if status != 401:
                break
        return status, got, data

    def ensure_containers(self, names: list[str]) -> None:
        for name in names:
            status, _, _ = self.call("PUT", name)
            if status not in (201, 202):
                raise ClusterError(f"cannot create container {name!r} ({status})")

    def head_account_as(self, token: str, account: str) -> int:
        """The status of ``HEAD /v1/<account>`` with a user's token."""
        return self._send("HEAD", f"/v1/{account}", {"X-Auth-Token": token})[0]

    # -- streams -----------------------------------------------------------------

    def _connection(self) -> BackendConnection:
        return BackendConnection(self.host, self.port, connect_timeout=self.conf.conn_timeout,
                                 read_timeout=self.conf.node_timeout, pool=self.pool)

    def start_put(self, path: str, headers: Mapping[str, str] | None = None,
                  length: int | None = None) -> BackendConnection:
        """A PUT of ``length`` bytes (chunked without) whose body the caller
        sends (``send``, ``finish``, then ``getresponse``); the proxy has
        said 100 Continue."""
        for renew in (False, True):
            token, account = self._credentials(renew)
            conn = self._connection()
            try:
                conn.send_request("PUT", f"/v1/{account}/{path}",
                                  {**(headers or {}), "X-Auth-Token": token},
                                  chunked=length is None, body_length=length,
                                  expect_continue=True)
                status = conn.wait_for_continue(self.conf.node_timeout)
                if status == 100:
                    return conn
                conn.getresponse().read()
            except BackendError as err:
                conn.close()
                raise ClusterError(str(err)) from err
            conn.close()
            if status != 401:
                break
        raise ClusterError(f"the proxy refused to store {path} ({status})")

    def open_get(self, path: str, headers: Mapping[str, str] | None = None
                 ) -> BackendResponse:
        """A GET whose body the caller reads (and closes)."""
        for renew in (False, True):
            token, account = self._credentials(renew)
            conn = self._connection()
            try:
                conn.send_request("GET", f"/v1/{account}/{path}",
                                  {**(headers or {}), "X-Auth-Token": token})
                response = conn.getresponse()
            except BackendError as err:
                conn.close()
                raise ClusterError(str(err)) from err
            if response.status != 401 or renew:
                return response
            response.close()
        raise AssertionError("unreachable")


def send_body(conn: BackendConnection, chunk: bytes) -> None:
    try:
        conn.send(chunk)
    except BackendError as err:
        raise ClusterError(str(err)) from err


def finish_put(conn: BackendConnection) -> tuple[int, Headers]:
    """End a streamed PUT: its status and headers."""
    try:
        conn.finish()
        response = conn.getresponse()
        response.read()
    except BackendError as err:
        conn.close()
        raise ClusterError(str(err)) from err
    return response.status, response.headers


__all__ = ["ClusterClient", "ClusterError", "finish_put", "send_body"]
