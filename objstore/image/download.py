"""``GET /v2/images/{id}/file``: an image's data, streamed from the cluster.

* An active image: 200 with ``Content-Type: application/octet-stream``
  (the glance CLI streams only that type), its length and, as Glance
  sends it, ``Content-MD5`` with the hex MD5 (``checksum``), which the
  CLI checks the download against. A ``Range`` of one span gives 206
  with ``Content-Range`` (several spans: 416, as Glance).
* An image without data (queued, saving, killed, ...): 204.
* A deactivated image: 403, except for administrators.

The bytes come from the image's manifest through the proxy, which reads
the segments in turn and checks each one against its ETag; if the
cluster fails midway the body stops short of its Content-Length, so
the client knows the download is incomplete.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from objstore.common.http import HTTPError, Request, Response, parse_ranges
from objstore.common.http_client import BackendError, BackendResponse
from objstore.image.access import Caller
from objstore.image.cluster import ClusterError

if TYPE_CHECKING:
    from objstore.image.app import ImageApp

OCTETS = "application/octet-stream"


def get_file(app: ImageApp, request: Request, caller: Caller, image_id: str) -> Response:
    record = app.visible(image_id, caller)
    image = record.image
    if image["status"] == "deactivated" and not caller.is_admin:
        raise HTTPError(403, "The requested image has been deactivated. Image data download "
                             "is forbidden.")
    if image["status"] not in ("active", "deactivated"):
        return Response(status=204)
    size = int(image.get("size") or 0)
    header = request.headers.get("Range")
    ranges = parse_ranges(header, size) if header and size else None
    if ranges is not None and len(ranges) > 1:
        raise HTTPError(416, "Multiple ranges are not supported")
    if record.location is None:   # an empty image
        return Response(status=200, body=b"", content_type=OCTETS,
                        headers={"Content-MD5": image.get("checksum") or ""})
    headers = {}
    if ranges:
        start, end = ranges[0]
        headers["Range"] = f"bytes={start}-{end - 1}"
    upstream = app.client.open_get(f"{app.conf.data_container}/{record.location}", headers)
    if upstream.status not in (200, 206):
        upstream.close()
        raise ClusterError(f"reading the data of image {image_id} failed "
                           f"({upstream.status})")
    response = Response(status=upstream.status, content_type=OCTETS,
                        app_iter=_relay(upstream, app, image_id))
    response.content_length = int(upstream.headers.get("content-length", "0"))
    if upstream.status == 206:
        response.headers["Content-Range"] = upstream.headers.get("content-range", "")
    else:
        response.headers["Content-MD5"] = image.get("checksum") or ""
    return response


class _relay:
    """The upstream body, closed when the client's response is."""

    def __init__(self, upstream: BackendResponse, app: ImageApp, image_id: str) -> None:
        self.upstream = upstream
        self.app = app
        self.image_id = image_id

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self.upstream.iter_chunks()
        except BackendError as err:
            self.app.logger.error("the data of image %s broke off: %s", self.image_id, err)

    def close(self) -> None:
        self.upstream.close()


__all__ = ["get_file"]
