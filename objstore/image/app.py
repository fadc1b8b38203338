"""The image API (Glance v2): routing, the caller, and answers in Glance's shape.

Each route is a method and a path pattern; a handler gets the app, the
request, the caller (every ``/v2`` path needs a good token: 401
otherwise) and the pattern's parts, and returns a response or raises
``HTTPError``, which is answered as Glance would (``errors.py``). A
cluster that fails is 503 (the request may be tried again); anything
else unexpected is logged with the request id and answered 500 without
a traceback. Every response carries ``x-openstack-request-id``.
"""
from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Final

from objstore.common.http import HTTPError, Request, Response, wsgi_to_text
from objstore.image import discovery, download, images, members, upload
from objstore.image.access import Caller, can_see
from objstore.image.auth import TokenChecker
from objstore.image.claims import Claims
from objstore.image.cluster import ClusterClient, ClusterError
from objstore.image.config import ImageConfig
from objstore.image.errors import error_response, from_error, not_found
from objstore.image.properties import STORE_ID, is_uuid
from objstore.image.records import Record, RecordStore

Handler = Callable[..., Response]
_ID: Final = r"(?P<image_id>[^/]+)"
# (pattern, {method: handler}); public routes take no caller
PUBLIC: Final[list[tuple[str, dict[str, Handler]]]] = [
    (r"/", {"GET": discovery.root}),
    (r"/versions", {"GET": discovery.versions}),
    (r"/healthcheck", {"GET": discovery.healthcheck, "HEAD": discovery.healthcheck}),
]
ROUTES: Final[list[tuple[str, dict[str, Handler]]]] = [
    (r"/v2/schemas/(?P<name>[^/]+)", {"GET": discovery.schema}),
    (r"/v2/info/import", {"GET": discovery.import_info}),
    (r"/v2/info/stores", {"GET": discovery.stores_info}),
    (r"/v2/images", {"GET": images.list_images, "POST": images.create}),
    (rf"/v2/images/{_ID}", {"GET": images.show, "PATCH": images.update,
                            "DELETE": images.delete}),
    (rf"/v2/images/{_ID}/file", {"GET": download.get_file, "PUT": upload.put_file}),
    (rf"/v2/images/{_ID}/stage", {"PUT": upload.put_stage}),
    (rf"/v2/images/{_ID}/import", {"POST": upload.post_import}),
    (rf"/v2/images/{_ID}/tags/(?P<tag>.+)", {"PUT": images.put_tag,
                                             "DELETE": images.delete_tag}),
    (rf"/v2/images/{_ID}/actions/(?P<name>deactivate|reactivate)", {"POST": images.action}),
    (rf"/v2/images/{_ID}/members", {"GET": members.list_members, "POST": members.create}),
    (rf"/v2/images/{_ID}/members/(?P<member>[^/]+)", {
        "GET": members.show, "PUT": members.update, "DELETE": members.delete}),
]


class ImageApp:
    """One worker's image service: its cluster client, records, upload
    claims and token cache."""

    def __init__(self, conf: ImageConfig, logger: logging.Logger) -> None:
        self.conf = conf
        self.logger = logger
        self.client = ClusterClient(conf, logger)
        self.records = RecordStore(self.client, conf.records_container, logger)
        self.claims = Claims(self.client, conf, logger)
        self.tokens = TokenChecker(self.client, conf.reseller_prefix, conf.token_cache_time)
        self.public = [(re.compile(pattern), methods) for pattern, methods in PUBLIC]
        self.routes = [(re.compile(pattern), methods) for pattern, methods in ROUTES]

    def visible(self, image_id: str, caller: Caller) -> Record:
        """The image's record, if the caller may see it; 404 otherwise."""
        record = self.records.get(image_id) if is_uuid(image_id) else None
        if record is None or not can_see(record.image, record.members, caller):
            raise not_found("image", image_id)
        return record

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        request = Request(environ)
        request_id = f"req-{uuid.uuid4()}"
        try:
            response = self.handle(request)
        except HTTPError as err:
            response = from_error(request, err)
        except ClusterError as err:
            self.logger.error("%s %s: the cluster failed (%s): %s", request.method,
                              environ.get("PATH_INFO", ""), request_id, err)
            response = error_response(request, 503, "The image store is unavailable; try "
                                                    f"again later ({request_id})")
        except Exception:
            self.logger.exception("%s %s failed (%s)", request.method,
                                  environ.get("PATH_INFO", ""), request_id)
            response = error_response(request, 500, f"Internal error ({request_id})")
        response.headers["x-openstack-request-id"] = request_id
        return response(environ, start_response)  # type: ignore[no-any-return]

    def handle(self, request: Request) -> Response:
        path = wsgi_to_text(request.environ.get("PATH_INFO", "") or "/")
        if len(path) > 1:
            path = path.rstrip("/")
        for table, needs_caller in ((self.public, False), (self.routes, True)):
            for pattern, methods in table:
                match = pattern.fullmatch(path)
                if match is None:
                    continue
                handler = methods.get(request.method)
                if handler is None:
                    raise HTTPError(405, f"{request.method} is not allowed here",
                                    {"Allow": ", ".join(methods)})
                if not needs_caller:
                    return handler(self, request)
                caller = self.tokens.caller(request)
                store = request.headers.get("x-image-meta-store")
                if store is not None and store != STORE_ID:
                    raise HTTPError(400, f"Unknown store {store!r} (there is {STORE_ID!r})")
                return handler(self, request, caller, **match.groupdict())
        raise HTTPError(404, f"The resource {path} could not be found.")


def make_app(conf: ImageConfig, logger: logging.Logger) -> ImageApp:
    return ImageApp(conf, logger)


__all__ = ["ImageApp", "make_app"]
