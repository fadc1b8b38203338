"""Image data in: ``PUT /file``, and the import workflow (``PUT /stage``, ``POST /import``).

Statuses, as in Glance:

    PUT /file:   queued -> saving -> active
                 saving -> queued   content refused (415), too big (413), wrong size (400)
                 saving -> killed   the client or the cluster failed midway
    PUT /stage:  queued -> uploading          (refusals: back to queued)
    POST /import (glance-direct): uploading -> importing -> active
                 importing -> queued          the content is not the disk_format (415)

One upload at a time: an upload first *claims* the image (``claims.py``);
a second one gets 409, unless the holder made no progress for
``upload_stall_timeout`` (its server died and left the image ``saving``):
then the new upload takes the image over and deletes what the abandoned
one wrote. Each upload writes under its own upload id, and before it
marks the image active it reads the record again: if the image was
deleted or taken over meanwhile, its data is deleted and the client told
(410 or 409).
"""
from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from objstore.common.http import HTTPError, Request, Response, header_int
from objstore.image.access import Caller, check_owner
from objstore.image.claims import TakenOver, waits_for_data
from objstore.image.cluster import ClusterError
from objstore.image.datastore import delete_data, delete_upload
from objstore.image.errors import not_found
from objstore.image.formats import Detection
from objstore.image.inspection import judged, refusal
from objstore.image.jsonio import read_json
from objstore.image.properties import HASH_ALGO, now_text
from objstore.image.receive import ClientGone, Received, Refused, drain, receive
from objstore.image.records import Record

if TYPE_CHECKING:
    from objstore.image.app import ImageApp


def put_file(app: ImageApp, request: Request, caller: Caller, image_id: str) -> Response:
    record = app.visible(image_id, caller)
    check_owner(record.image, caller, "upload data to")
    image = record.image
    if not waits_for_data(record):
        raise HTTPError(409, f"Image status transition from {image['status']} to saving is "
                             "not allowed")
    if not image.get("disk_format") or not image.get("container_format"):
        raise HTTPError(400, "Properties disk_format, container_format must be set prior to "
                             "saving data.")
    received, upload_id = _take_upload(app, request, record, "saving")
    record = _ours_still(app, image_id, upload_id, received)
    record.image.update(status="active", size=received.size, checksum=received.checksum,
                        os_hash_algo=HASH_ALGO, os_hash_value=received.hash_value,
                        virtual_size=judged(image["disk_format"], received.head,
                                            received.whole).virtual_size,
                        updated_at=now_text())
    record.location = received.location
    app.records.save(record)
    return Response(status=204)


def put_stage(app: ImageApp, request: Request, caller: Caller, image_id: str) -> Response:
    record = app.visible(image_id, caller)
    check_owner(record.image, caller, "stage data for")
    if not waits_for_data(record):
        raise HTTPError(409, f"Image status transition from {record.image['status']} to "
                             "uploading is not allowed")
    received, upload_id = _take_upload(app, request, record, "uploading")
    record = _ours_still(app, image_id, upload_id, received, expected="uploading")
    record.staged = {"location": received.location, "size": received.size,
                     "checksum": received.checksum, "hash_value": received.hash_value,
                     "head": _detection(received.head), "whole": _detection(received.whole)}
    record.image["updated_at"] = now_text()
    app.records.save(record)
    return Response(status=204)


def post_import(app: ImageApp, request: Request, caller: Caller, image_id: str) -> Response:
    try:
        method = read_json(request, b"{}")["method"]["name"]
    except (HTTPError, KeyError, TypeError) as err:
        if isinstance(err, HTTPError) and err.status != 400:
            raise
        raise HTTPError(400, 'The import body is {"method": {"name": "glance-direct"}}') \
            from None
    if method != "glance-direct":
        raise HTTPError(400, f"Import method {method!r} is not supported (only glance-direct)")
    record = app.visible(image_id, caller)
    check_owner(record.image, caller, "import")
    image = record.image
    if image["status"] != "uploading" or not record.staged:
        raise HTTPError(409, "Image needs to be staged before 'glance-direct' method can be "
                             "used")
    if not image.get("disk_format") or not image.get("container_format"):
        raise HTTPError(400, "Properties disk_format, container_format must be set prior to "
                             "importing data.")
    staged = record.staged
    found = judged(image["disk_format"], Detection(**staged["head"]),
                   Detection(**staged["whole"]))
    image.update(status="importing", updated_at=now_text())
    app.records.save(record)
    reason = refusal(image["disk_format"], found)
    if reason:
        delete_data(app.client, app.conf, staged["location"], app.logger)
        _back_to_queued(app, image_id)
        raise HTTPError(415, reason)
    image.update(status="active", size=staged["size"], checksum=staged["checksum"],
                 os_hash_algo=HASH_ALGO, os_hash_value=staged["hash_value"],
                 virtual_size=found.virtual_size, updated_at=now_text())
    record.location, record.staged = staged["location"], None
    app.records.save(record)
    return Response(status=202)


# -- the steps -------------------------------------------------------------------

def _announced(request: Request, cap: int) -> int | None:
    """The size the client announced (x-openstack-image-size, else
    Content-Length): 413 at once when it is over the cap."""
    size = header_int(request, "x-openstack-image-size")
    if size is None:
        size = header_int(request, "Content-Length")
    if size is not None and size > cap:
        raise HTTPError(413, f"Image exceeds the storage quota: the largest image accepted "
                             f"is {cap} bytes")
    if size is not None and size < 0:
        raise HTTPError(400, "The image size cannot be negative")
    return header_int(request, "x-openstack-image-size")


def _take_upload(app: ImageApp, request: Request, record: Record, status: str
                 ) -> tuple[Received, str]:
    """Claim the image (taking it over from an abandoned upload), mark it
    ``status`` and receive the body; on a refusal the image is queued
    again, on a failure killed."""
    announced = _announced(request, app.conf.image_size_cap)
    image_id = record.id
    upload_id = uuid.uuid4().hex
    abandoned = app.claims.acquire(image_id, upload_id, app.records)
    current = app.records.get(image_id)
    if current is None or not waits_for_data(current) or \
            (abandoned is None and current.image["status"] != "queued"):
        if abandoned is None or current is None:   # ours, for an image gone or moved on
            app.claims.release(image_id, upload_id)
        if current is None:
            raise not_found("image", image_id)
        raise HTTPError(409, "The image is not waiting for data any more")
    current.image.update(status=status, updated_at=now_text())
    current.upload_id = upload_id
    app.records.save(current)
    if abandoned is not None:
        # nothing of the image is worth keeping before this upload writes
        delete_upload(app.client, app.conf, image_id, None, app.logger)
    try:
        received = receive(app.client, app.conf, request.environ, image_id, upload_id,
                           current.image.get("disk_format"), announced, app.logger,
                           app.claims.heartbeat(image_id, upload_id))
    except TakenOver as err:
        app.logger.warning("upload %s of image %s stopped: %s", upload_id, image_id, err)
        raise HTTPError(409, "Another upload took this image over: this one made no "
                             "progress for longer than the service waits") from None
    except Refused as err:
        if err.status == 415:
            drain(request.environ, app.conf.image_size_cap)
        _back_to_queued(app, image_id, upload_id)
        raise HTTPError(err.status, err.reason) from None
    except ClientGone as err:
        app.logger.warning("upload of image %s broke off: %s; the image is killed",
                           image_id, err)
        _kill(app, image_id, upload_id)
        raise HTTPError(400, f"Image upload failed: {err}") from None
    except ClusterError:
        _kill(app, image_id, upload_id)
        raise
    return received, upload_id


def _ours_still(app: ImageApp, image_id: str, upload_id: str, received: Received,
                expected: str = "saving") -> Record:
    """The record, if this upload still holds the image; else its data is
    deleted and the client told why."""
    record = app.records.get(image_id)
    if record is None or record.upload_id != upload_id or \
            record.image["status"] != expected:
        delete_data(app.client, app.conf, received.location, app.logger)
        if record is None:
            raise HTTPError(410, "Image was deleted while its data was being uploaded")
        raise HTTPError(409, "Image was changed while its data was being uploaded")
    return record


def _back_to_queued(app: ImageApp, image_id: str, upload_id: str | None = None) -> None:
    """The image waits for data again and its claim is free; with
    ``upload_id``, only if that upload still holds it."""
    record = app.records.get(image_id)
    if record is not None and upload_id is not None and record.upload_id != upload_id:
        return   # taken over meanwhile: the image is another upload's now
    holder = upload_id
    if record is not None:
        holder = holder or record.upload_id
        record.image.update(status="queued", updated_at=now_text())
        record.upload_id = None
        record.staged = None
        app.records.save(record)
    app.claims.release(image_id, holder)


def _kill(app: ImageApp, image_id: str, upload_id: str) -> None:
    try:
        record = app.records.get(image_id)
        if record is not None and record.upload_id == upload_id:
            record.image.update(status="killed", updated_at=now_text())
            app.records.save(record)
    except ClusterError as err:
        app.logger.error("could not mark image %s killed: %s", image_id, err)


def _detection(found: Detection) -> dict[str, Any]:
    return {"format": found.format, "virtual_size": found.virtual_size,
            "unsafe": found.unsafe}


__all__ = ["post_import", "put_file", "put_stage"]
