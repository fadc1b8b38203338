"""One access-log line per request, written when the response is done.

    <client> "<METHOD> <path?query>" <status> <bytes sent> <seconds> txn:<id> agent:"<ua>"

The path is percent-quoted, so a name cannot break the line or forge
another. A client that goes away before the whole body is sent is logged
as status 499, with the bytes it did get; one whose body failed on our
side mid-way, as 500.

``CountedBody`` and ``quote_field`` are shared with the proxy's
``proxy_logging`` filter, which logs Swift's longer line.
"""
from __future__ import annotations

import logging
import re
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final

from objstore.common.http import WSGIApp
from objstore.common.logs import InfoLines

# Characters a quoted field keeps as they are: none of them is a space,
# a quote, a control character or non-ASCII, so a field stays one field.
FIELD_SAFE = "/:@!$&'()*+,;=-._~%?"
# A path quoted from PATH_INFO (already decoded) must escape "%" and "?"
# so the logged form reads back to exactly one path.
PATH_SAFE = "/:@!$&'()*+,;=-._~"


def _plain(safe: str) -> re.Pattern[str]:
    """Text that quoting with ``safe`` leaves as it is."""
    return re.compile(r"[A-Za-z0-9_.~\-" + re.escape(safe) + "]+")


_PLAIN: Final = {FIELD_SAFE: _plain(FIELD_SAFE), PATH_SAFE: _plain(PATH_SAFE)}


def quote_field(value: str, safe: str = FIELD_SAFE) -> str:
    """A WSGI string (latin-1 code points of the bytes) percent-quoted; "-" if empty."""
    if not value:
        return "-"
    plain = _PLAIN.get(safe)
    if plain is not None and plain.fullmatch(value):
        return value  # most fields: nothing to quote, and quote() is ~2 us
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:  # real text, not a WSGI string (a test, a filter)
        raw = value.encode("utf-8")
    return urllib.parse.quote(raw, safe=safe)


def quoted_path(environ: dict[str, Any]) -> str:
    """The request's path and query, as one quoted field."""
    raw_path = environ.get("RAW_PATH_INFO")
    path = (quote_field(raw_path) if raw_path
            else quote_field(environ.get("PATH_INFO", ""), PATH_SAFE))
    query = environ.get("QUERY_STRING")
    return f"{path}?{quote_field(query)}" if query else path


def request_line(environ: dict[str, Any]) -> str:
    return f"{environ.get('REQUEST_METHOD', '-')} {quoted_path(environ)}"


class CountedBody:
    """A response body, counted as it goes out; ``on_close(self)`` runs once,
    when the server closes it.

    ``finished``: every chunk was handed over. ``failed``: the app's own
    iterator raised. Neither: the client went away (Swift's 499).
    """

    def __init__(self, body: Iterable[bytes], on_close: Callable[[CountedBody], None]) -> None:
        self.body = body
        self.on_close = on_close
        self.sent = 0
        self.finished = False
        self.failed = False
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self.body:
                self.sent += len(chunk)
                yield chunk
        except Exception:
            self.failed = True
            raise
        self.finished = True

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.on_close(self)


def outcome(body: CountedBody) -> str:
    """The status to log for a body that was not sent whole."""
    return "500" if body.failed else "499"


class AccessLog:
    """WSGI middleware: wraps an app, logs each request at INFO."""

    def __init__(self, app: WSGIApp, logger: logging.Logger) -> None:
        self.app = app
        self.logger = logger
        self.info = InfoLines(logger)

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

        def log(body: CountedBody) -> None:
            self._log(environ, seen, body, time.monotonic() - started)

        return CountedBody(self.app(environ, capture), log)

    def _log(self, env: dict[str, Any], seen: dict[str, str], body: CountedBody,
             seconds: float) -> None:
        status = seen.get("status", "-") if body.finished else outcome(body)
        txn = seen.get("txn") or env.get("HTTP_X_TRANS_ID") or "-"
        agent = urllib.parse.quote(env.get("HTTP_USER_AGENT", "-"), safe=" /;:.()-_,=+")
        self.info('%s "%s" %s %d %.4f txn:%s agent:"%s"' % (
            env.get("REMOTE_ADDR", "-"), request_line(env), status, body.sent,
            seconds, urllib.parse.quote(txn, safe="-_.:"), agent))
