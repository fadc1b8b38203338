"""Requests to a WSGI app as a server hands them over, for controller tests."""
from __future__ import annotations

from typing import Any

from objstore.common.http import Request
from objstore.common.timestamp import Timestamp


def call(app: Any, method: str, path: str, **headers: str) -> Any:
    """``headers`` as keywords (``X_Timestamp`` for ``X-Timestamp``); the path
    set raw, as a server hands it over: latin-1 code points of the bytes."""
    request = Request.blank("/", method=method,
                            headers={k.replace("_", "-"): v for k, v in headers.items()})
    request.environ["PATH_INFO"], _, query = path.partition("?")
    request.environ["QUERY_STRING"] = query
    return request.get_response(app)


def wsgi(text: str) -> str:
    """Text as a server hands it over: its UTF-8 bytes as latin-1 code points."""
    return text.encode("utf-8").decode("latin-1")


def stamp(delta: float = 0) -> str:
    """An internal timestamp ``delta`` seconds from now."""
    return Timestamp(float(Timestamp.now()) + delta).internal
