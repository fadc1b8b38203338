"""What a client asks before it works: versions, schemas, import methods, stores.

``GET /`` (300 Multiple Choices) and ``GET /versions`` (200) list the API
versions; the glance CLI looks there for a ``v2...`` version before every
command and falls back to the removed v1 API without one. Version 2.9
(import, hidden images, secure hashes, store discovery) is CURRENT; the
older 2.x versions are listed as SUPPORTED since every 2.x client works.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from objstore.common.http import Request, Response
from objstore.image.access import Caller
from objstore.image.errors import not_found
from objstore.image.jsonio import json_response
from objstore.image.properties import STORE_ID
from objstore.image.schemas import SCHEMAS

if TYPE_CHECKING:
    from objstore.image.app import ImageApp

CURRENT: Final = 9      # v2.9
OLDEST: Final = 0       # v2.0


def _versions(request: Request) -> dict[str, Any]:
    href = f"{request.host_url}/v2/"
    return {"versions": [
        {"id": f"v2.{minor}", "status": "CURRENT" if minor == CURRENT else "SUPPORTED",
         "links": [{"rel": "self", "href": href}]}
        for minor in range(CURRENT, OLDEST - 1, -1)]}


def root(app: ImageApp, request: Request) -> Response:
    return json_response(_versions(request), 300)


def versions(app: ImageApp, request: Request) -> Response:
    return json_response(_versions(request))


def schema(app: ImageApp, request: Request, caller: Caller, name: str) -> Response:
    make = SCHEMAS.get(name)
    if make is None:
        raise not_found("schema", name)
    return json_response(make())


def import_info(app: ImageApp, request: Request, caller: Caller) -> Response:
    return json_response({"import-methods": {
        "description": "Import methods available.", "type": "array",
        "value": ["glance-direct"]}})


def stores_info(app: ImageApp, request: Request, caller: Caller) -> Response:
    return json_response({"stores": [
        {"id": STORE_ID, "description": "The object cluster this service runs on",
         "default": True}]})


def healthcheck(app: ImageApp, request: Request) -> Response:
    return Response(status=200, body=b"OK", content_type="text/plain", charset=None)


__all__ = ["healthcheck", "import_info", "root", "schema", "stores_info", "versions"]
