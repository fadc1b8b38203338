"""proxy_logging: one access-log line per client request, in Swift's field order.

The line is written when the response body has been sent, or when the
client went away (status 499, with the bytes it did get), so the byte
counts and the time are those of the whole exchange. A request the app
failed is logged as 500. Twenty-one fields, space-separated, each
percent-quoted so a line always splits into 21 fields; "-" for empty:

     1 client_ip      X-Forwarded-For's first address, else remote_addr
     2 remote_addr    the other end of the TCP connection
     3 datetime       when the response ended, UTC, sortable: 2024-05-01T12:34:56Z
     4 method
     5 path           the path, quoted, and ?query
     6 protocol       e.g. HTTP/1.1
     7 status         499 when the client went away mid-response
     8 referer
     9 user_agent
    10 auth_token     X-Auth-Token cut to reveal_sensitive_prefix characters + "..."
    11 bytes_recvd    request body bytes the app read
    12 bytes_sent     response body bytes handed to the server
    13 client_etag    the request's ETag
    14 transaction_id X-Trans-Id (set by catch_errors)
    15 headers        the request headers, "Name: value" lines (access_log_headers)
    16 request_time   seconds, 4 decimals
    17 source         environ["objstore.source"]: the filter behind a subrequest
    18 log_info       environ["objstore.log_info"]: notes filters add, comma-joined
    19 start_time     epoch seconds
    20 end_time       epoch seconds
    21 policy_index   X-Backend-Storage-Policy-Index or environ["objstore.policy_index"]

Options of ``[filter:proxy_logging]`` (Swift's names; its other ``access_*``
options are reported as ignored):

* ``access_log_name`` (proxy-access): the logger's name, shown in each line.
* ``access_log_file`` (empty): a file of its own for the lines; empty
  writes them into the proxy's log, at its level.
* ``reveal_sensitive_prefix`` (16): how many characters of a token are logged.
* ``access_log_headers`` (false): fill field 15 ("-" while off).
* ``access_log_headers_only`` (empty: all): the header names field 15 shows.

Credentials never reach the log whole: tokens are cut as in field 10
(in field 15 too), keys and passwords are shown as "...". An error while
logging is reported once to the proxy's logger and never reaches the client.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from objstore.common.access_log import CountedBody, outcome, quote_field, quoted_path
from objstore.common.config import ConfigError, build, option
from objstore.common.logs import InfoLines, get_logger
from objstore.common.request_body import read_into
from objstore.proxy.middleware.catch_errors import TRANS_ID
from objstore.proxy.pipeline import split_options
from objstore.common.http import WSGIApp

SECTION = "filter:proxy_logging"
TOKENS = frozenset({"x-auth-token", "x-storage-token", "x-service-token"})
SECRETS = frozenset({"x-auth-key", "x-storage-pass", "authorization"})
_NAME = re.compile(r"[A-Za-z0-9_-]+")


@dataclasses.dataclass(frozen=True)
class ProxyLoggingConfig:
    access_log_name: str = option("proxy-access", "the access logger's name, in each line")
    access_log_file: str = option("", "file for the access lines; empty: the proxy's log")
    reveal_sensitive_prefix: int = option(16, "characters of a token that are logged",
                                          minimum=0)
    access_log_headers: bool = option(False, "log the request headers in one field")
    access_log_headers_only: list[str] = option([], "headers to log; empty: all")

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.access_log_name):
            raise ValueError("access_log_name must be letters, digits, '-' or '_'")


def load_config(options: Mapping[str, str], source: str = "proxy config"
                ) -> tuple[ProxyLoggingConfig, list[str]]:
    """The typed options and warnings; a bad value is a ValueError."""
    own, shared, section = split_options(options, SECTION)
    try:
        return build(ProxyLoggingConfig, own, shared=shared, source=source, section=section)
    except ConfigError as err:
        # The pipeline names the file and the section; keep what is wrong.
        raise ValueError(str(err).removeprefix(f"{source} [{section}]").lstrip(": ")) from None


def access_logger(conf: ProxyLoggingConfig, logger: logging.Logger) -> logging.Logger:
    if not conf.access_log_file:
        # A child writes through the proxy's handler, at its level, under its own name.
        return logger.getChild(conf.access_log_name)
    if logging.getLogger(f"objstore.{conf.access_log_name}") is logger:
        raise ValueError("access_log_name must differ from the proxy's own log name "
                         "when access_log_file is set")
    try:
        return get_logger(conf.access_log_name, "INFO", conf.access_log_file)
    except OSError as err:
        raise ValueError(f"access_log_file = {conf.access_log_file!r}: {err.strerror}") from None


class CountingInput:
    """wsgi.input, counting the body bytes the app reads."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.received = 0

    def read(self, *args: Any) -> bytes:
        return self._count(self.raw.read(*args))

    def readinto(self, buffer: Any) -> int:
        count = read_into(self.raw, buffer)
        self.received += count
        return count

    def readline(self, *args: Any) -> bytes:
        return self._count(self.raw.readline(*args))

    def readlines(self, *args: Any) -> list[bytes]:
        lines = self.raw.readlines(*args)
        self.received += sum(len(line) for line in lines)
        return list(lines)

    def __iter__(self) -> Any:
        return iter(self.readline, b"")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)  # the server's extras, e.g. 100-continue

    def _count(self, data: bytes) -> bytes:
        self.received += len(data)
        return data


class Exchange:
    """What one request's line needs, gathered while it runs."""

    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ
        self.start = time.time()
        self.clock = time.monotonic()
        self.status = "-"
        self.policy = ""  # from a backend header, else what the proxy noted (at log time)
        self.input = CountingInput(environ["wsgi.input"]) if "wsgi.input" in environ else None
        if self.input is not None:
            environ["wsgi.input"] = self.input

    def responded(self, status: str, headers: list[tuple[str, str]]) -> None:
        self.status = status.split(" ", 1)[0]
        for name, value in headers:
            if name.lower() == "x-backend-storage-policy-index":
                self.policy = value

    @property
    def received(self) -> int:
        return self.input.received if self.input is not None else 0


def reveal(value: str, prefix: int) -> str:
    """A credential cut short: enough to tell tokens apart, not to use one."""
    return value if len(value) <= prefix else value[:prefix] + "..."


def client_ip(environ: dict[str, Any]) -> str:
    forwarded = environ.get("HTTP_X_FORWARDED_FOR", "").split(",")[0].strip()
    return str(forwarded or environ.get("REMOTE_ADDR", ""))


def header_name(key: str) -> str | None:
    """``HTTP_X_AUTH_TOKEN`` -> ``X-Auth-Token``; None for non-headers."""
    if key.startswith("HTTP_"):
        key = key[5:]
    elif key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        return None
    return "-".join(part.capitalize() for part in key.split("_"))


class ProxyLogging:
    """The WSGI filter (see the module docstring)."""

    def __init__(self, app: WSGIApp, conf: ProxyLoggingConfig, access: logging.Logger,
                 logger: logging.Logger) -> None:
        self.app = app
        self.conf = conf
        self.access_line = InfoLines(access)
        self.logger = logger
        self.only = frozenset(name.lower() for name in conf.access_log_headers_only)
        self.failures = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        exchange = Exchange(environ)

        def capture(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            exchange.responded(status, headers)
            return start_response(status, headers, *exc)

        try:
            body = self.app(environ, capture)
        except Exception:
            self._log(exchange, "500", 0)
            raise
        return CountedBody(body, lambda sent: self._log(
            exchange, exchange.status if sent.finished else outcome(sent), sent.sent))

    def _log(self, exchange: Exchange, status: str, sent: int) -> None:
        try:
            self.access_line(" ".join(self.fields(exchange, status, sent)))
        except Exception:
            self.failures += 1
            if self.failures == 1:  # a broken log must not flood the proxy's own log
                self.logger.exception("proxy_logging cannot log requests; "
                                      "later failures are not reported")

    def fields(self, exchange: Exchange, status: str, sent: int) -> list[str]:
        env = exchange.environ
        elapsed = time.monotonic() - exchange.clock
        end = exchange.start + elapsed
        token = env.get("HTTP_X_AUTH_TOKEN") or env.get("HTTP_X_STORAGE_TOKEN", "")
        return [
            quote_field(client_ip(env)), quote_field(env.get("REMOTE_ADDR", "")),
            _utc_time(int(end)),
            quote_field(env.get("REQUEST_METHOD", "")), quoted_path(env),
            quote_field(env.get("SERVER_PROTOCOL", "")), quote_field(status),
            quote_field(env.get("HTTP_REFERER", "")), quote_field(env.get("HTTP_USER_AGENT", "")),
            quote_field(reveal(token, self.conf.reveal_sensitive_prefix)),
            str(exchange.received), str(sent), quote_field(env.get("HTTP_ETAG", "")),
            quote_field(env.get(TRANS_ID, "")), quote_field(self.headers(env)),
            f"{elapsed:.4f}", quote_field(env.get("objstore.source", "")),
            quote_field(",".join(env.get("objstore.log_info", ()))),
            f"{exchange.start:.6f}", f"{end:.6f}", quote_field(
                exchange.policy or str(env.get("objstore.policy_index", ""))),
        ]

    def headers(self, environ: dict[str, Any]) -> str:
        if not self.conf.access_log_headers:
            return ""
        lines = []
        for key, value in environ.items():
            name = header_name(key)
            if name is None or (self.only and name.lower() not in self.only):
                continue
            lines.append(f"{name}: {self.masked(name.lower(), value)}")
        return "\n".join(lines)

    def masked(self, name: str, value: str) -> str:
        if name in TOKENS:
            return reveal(value, self.conf.reveal_sensitive_prefix)
        return reveal(value, 0) if name in SECRETS else value


@functools.lru_cache(maxsize=4)
def _utc_time(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def filter_factory(options: Mapping[str, str], logger: logging.Logger,
                   source: str = "proxy config") -> Callable[[WSGIApp], ProxyLogging]:
    """The pipeline's way in: options of ``[filter:proxy_logging]`` from ``source``."""
    conf, warnings = load_config(options, source or "proxy config")
    for warning in warnings:
        logger.warning(warning)
    access = access_logger(conf, logger)
    return lambda app: ProxyLogging(app, conf, access, logger)
