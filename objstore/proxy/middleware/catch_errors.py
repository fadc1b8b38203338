"""catch_errors: a transaction id on every response, and no tracebacks.

The first filter of the pipeline. It gives each request a transaction id
(``X-Trans-Id``, also ``X-Openstack-Request-Id``; a client's
``X-Trans-Id-Extra`` is appended, quoted, so a client can find its own
requests in the logs), passes it down in ``environ["objstore.trans_id"]``
and the ``X-Trans-Id`` header, and returns it on every response. Anything
a later filter or the app raises is logged with the id and answered 500
with the id and no traceback.
"""
from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from objstore.common.http import error_response, new_trans_id, WSGIApp

TRANS_ID = "objstore.trans_id"


class CatchErrors:
    def __init__(self, app: WSGIApp, logger: logging.Logger) -> None:
        self.app = app
        self.logger = logger

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        trans_id = new_trans_id()
        extra = environ.get("HTTP_X_TRANS_ID_EXTRA")
        if extra:
            trans_id += "-" + urllib.parse.quote(extra[:32], safe="")
        environ[TRANS_ID] = environ["HTTP_X_TRANS_ID"] = trans_id
        started = []

        def start(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            headers = [(k, v) for k, v in headers
                       if k.lower() not in ("x-trans-id", "x-openstack-request-id")]
            headers += [("X-Trans-Id", trans_id), ("X-Openstack-Request-Id", trans_id)]
            started.append(status)
            return start_response(status, headers, *exc)

        try:
            return self.app(environ, start)
        except Exception:
            self.logger.exception("%s %s failed (txn %s)", environ.get("REQUEST_METHOD"),
                                  environ.get("PATH_INFO"), trans_id)
            if started:
                raise  # the response has begun; the server closes the connection
            return error_response(500, f"internal error, transaction {trans_id}")(
                environ, start)


def filter_factory(options: Mapping[str, str], logger: logging.Logger,
                   source: str = "") -> Callable[[WSGIApp], CatchErrors]:
    return lambda app: CatchErrors(app, logger)
