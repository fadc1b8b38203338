"""One access-log line per request, written when the response is done.

    <client> "<METHOD> <path?query>" <status> <bytes sent> <seconds> txn:<id> agent:"<ua>"

The path is percent-quoted, so a name cannot break the line or forge
another. A client that goes away before the whole body is sent is logged
as status 499, with the bytes it did get.
"""
from __future__ import annotations

import logging
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from typing import Any

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_SAFE = "/:@!$&'()*+,;=-._~%"


def request_line(environ: dict[str, Any]) -> str:
    path = environ.get("RAW_PATH_INFO") or urllib.parse.quote(
        environ.get("PATH_INFO", ""), safe=_SAFE)
    path = urllib.parse.quote(path, safe=_SAFE)
    query = environ.get("QUERY_STRING")
    if query:
        path += "?" + urllib.parse.quote(query, safe=_SAFE + "?")
    return f"{environ.get('REQUEST_METHOD', '-')} {path}"


class AccessLog:
    """WSGI middleware: wraps an app, logs each request at INFO."""

    def __init__(self, app: WSGIApp, logger: logging.Logger) -> None:
        self.app = app
        self.logger = logger

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        started = time.monotonic()
        seen: dict[str, str] = {}

        def capture(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            seen["status"] = status.split(" ", 1)[0]
            for name, value in headers:
                if name.lower() == "x-trans-id":
                    seen["txn"] = value
            return start_response(status, headers, *exc)

        body = self.app(environ, capture)
        return _Logged(body, environ, seen, started, self.logger)


class _Logged:
    """The response body, counted as it goes out, logged when closed."""

    def __init__(self, body: Iterable[bytes], environ: dict[str, Any], seen: dict[str, str],
                 started: float, logger: logging.Logger) -> None:
        self.body = body
        self.environ = environ
        self.seen = seen
        self.started = started
        self.logger = logger
        self.sent = 0
        self.finished = False

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.body:
            self.sent += len(chunk)
            yield chunk
        self.finished = True

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self._log()

    def _log(self) -> None:
        env = self.environ
        status = self.seen.get("status", "-") if self.finished else "499"
        txn = self.seen.get("txn") or env.get("HTTP_X_TRANS_ID") or "-"
        agent = urllib.parse.quote(env.get("HTTP_USER_AGENT", "-"), safe=" /;:.()-_,=+")
        self.logger.info(
            '%s "%s" %s %d %.4f txn:%s agent:"%s"',
            env.get("REMOTE_ADDR", "-"), request_line(env), status, self.sent,
            time.monotonic() - self.started, urllib.parse.quote(txn, safe="-_.:"), agent,
        )
