"""JSON in and out: request bodies read whole (but bounded), JSON responses."""
from __future__ import annotations

import json
from typing import Any, Final

from objstore.common.http import HTTPError, Request, Response

# Enough for an image with every custom property its quota allows, and long values.
MAX_JSON_BODY: Final = 2 * 1024 * 1024


def json_response(document: Any, status: int = 200) -> Response:
    return Response(status=status, body=json.dumps(document).encode("utf-8"),
                    content_type="application/json", charset=None)


def small_body(request: Request) -> bytes:
    """A request body of JSON, read whole: 413 past ``MAX_JSON_BODY``."""
    length = request.content_length
    if length is not None and length > MAX_JSON_BODY:
        raise HTTPError(413, f"The request body is larger than {MAX_JSON_BODY} bytes")
    body = request.body_file.read(MAX_JSON_BODY + 1)
    if len(body) > MAX_JSON_BODY:
        raise HTTPError(413, f"The request body is larger than {MAX_JSON_BODY} bytes")
    return bytes(body)


def read_json(request: Request, empty: bytes = b"") -> Any:
    try:
        return json.loads(small_body(request) or empty)
    except (ValueError, UnicodeDecodeError) as err:
        raise HTTPError(400, f"Malformed JSON in request body: {err}") from None


__all__ = ["MAX_JSON_BODY", "json_response", "read_json", "small_body"]
