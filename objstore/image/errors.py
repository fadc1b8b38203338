"""Errors in Glance's shape.

Glance answers errors with webob's error pages: HTML (``<h1>404 Not
Found</h1>`` and the reason) for browsers and for clients that accept
anything (``glanceclient`` sends ``Accept: */*`` and strips the tags),
JSON or plain text when the client asks for those. Handlers raise the
project's ``HTTPError(status, reason)``; ``error_response`` renders it
the way Glance would, with the reason as the page's explanation.
"""
from __future__ import annotations

from typing import Any

from objstore.common.http import HTTPError, Request, Response, webob


def error_response(request: Request, status: int, reason: str,
                   headers: dict[str, str] | None = None) -> Response:
    """The response a Glance server gives for ``status`` with ``reason``."""
    kind = webob.exc.status_map.get(status, webob.exc.HTTPInternalServerError)
    # webob's pages put the explanation in an HTML template, escaped: a reason
    # stays text. Its 415 page has a fixed sentence instead, and the detail.
    page: Any = kind(explanation=reason, detail=reason if status == 415 else None,
                     headers=headers or {})
    return request.get_response(page)  # type: ignore[no-any-return]


def from_error(request: Request, err: HTTPError) -> Response:
    return error_response(request, err.status, err.reason, err.headers)


def not_found(what: str = "image", ident: str = "") -> HTTPError:
    return HTTPError(404, f"No {what} found with ID {ident}" if ident else f"No {what} found")


__all__ = ["error_response", "from_error", "not_found"]
