"""The image records API: create, list, show, update (JSON patch), delete,
tags, and deactivate/reactivate.

Deleting removes the record first (the image is gone for every reader
at once), then its data, a staged upload, whatever uploads that broke
off or were abandoned left, and the upload claims; data that cannot be
deleted is logged and left, never pointed at again.
"""
from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING, Any

from objstore.common.http import HTTPError, Request, Response
from objstore.image import listing, patch
from objstore.image.access import Caller, can_see, check_owner, is_listed
from objstore.image.datastore import delete_data, delete_upload
from objstore.image.jsonio import json_response, read_json, small_body
from objstore.image.properties import api_view, check_base, check_quotas, new_image, now_text
from objstore.image.records import Record

if TYPE_CHECKING:
    from objstore.image.app import ImageApp


def create(app: ImageApp, request: Request, caller: Caller) -> Response:
    image = new_image(read_json(request), caller.account, caller.is_admin)
    check_quotas(image, app.conf.image_property_quota, app.conf.image_tag_quota)
    if not app.records.create(Record(image=image)):
        raise HTTPError(409, f"Image with identifier {image['id']} already exists!")
    response = json_response(api_view(image), 201)
    response.headers["Location"] = f"{request.host_url}/v2/images/{image['id']}"
    return response


def show(app: ImageApp, request: Request, caller: Caller, image_id: str) -> Response:
    return json_response(api_view(app.visible(image_id, caller).image))


def list_images(app: ImageApp, request: Request, caller: Caller) -> Response:
    try:
        pairs = urllib.parse.parse_qsl(request.query_string, keep_blank_values=True,
                                       encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise HTTPError(400, "The query string is not valid UTF-8") from None
    query = listing.parse(pairs, app.conf.limit_param_default, app.conf.api_limit_max)
    records = app.records.all()
    chosen = [record.image for record in records
              if is_listed(record.image, record.members, caller, query.visibility,
                           query.member_status) and listing.matches(record.image, query)]
    marker = None
    if query.marker is not None:
        marker = next((record.image for record in records if record.id == query.marker
                       and can_see(record.image, record.members, caller)), None)
        if marker is None:
            raise HTTPError(400, f"marker {query.marker!r} not found")
    shown, next_marker = listing.page(listing.ordered(chosen, query.order), query, marker)
    document: dict[str, Any] = {"images": [api_view(image) for image in shown],
                                "first": "/v2/images", "schema": "/v2/schemas/images"}
    if next_marker is not None:
        document["next"] = listing.next_link(pairs, next_marker, query.limit)
    return json_response(document)


def update(app: ImageApp, request: Request, caller: Caller, image_id: str) -> Response:
    changes = patch.parse(request.headers.get("Content-Type"), small_body(request))
    record = app.visible(image_id, caller)
    check_owner(record.image, caller, "modify")
    changed = patch.apply(record.image, changes, is_admin=caller.is_admin,
                          caller=caller.account,
                          property_quota=app.conf.image_property_quota,
                          tag_quota=app.conf.image_tag_quota)
    if changed != record.image:
        record.image = changed
        app.records.save(record)
    return json_response(api_view(record.image))


def delete(app: ImageApp, request: Request, caller: Caller, image_id: str) -> Response:
    record = app.visible(image_id, caller)
    check_owner(record.image, caller, "delete")
    if record.image.get("protected"):
        raise HTTPError(403, f"Image {image_id} is protected and cannot be deleted.")
    app.records.delete(image_id)
    delete_data(app.client, app.conf, record.location, app.logger)
    if record.staged:
        delete_data(app.client, app.conf, record.staged.get("location"), app.logger)
    delete_upload(app.client, app.conf, image_id, None, app.logger)
    app.claims.delete_all(image_id)
    return Response(status=204)


# -- tags ---------------------------------------------------------------------------

def put_tag(app: ImageApp, request: Request, caller: Caller, image_id: str, tag: str
            ) -> Response:
    record = app.visible(image_id, caller)
    check_owner(record.image, caller, "modify")
    tags = check_base("tags", [*record.image.get("tags", []), tag])
    if tags != record.image.get("tags"):
        check_quotas({**record.image, "tags": tags}, app.conf.image_property_quota,
                     app.conf.image_tag_quota)
        record.image.update(tags=tags, updated_at=now_text())
        app.records.save(record)
    return Response(status=204)


def delete_tag(app: ImageApp, request: Request, caller: Caller, image_id: str, tag: str
               ) -> Response:
    record = app.visible(image_id, caller)
    check_owner(record.image, caller, "modify")
    if tag not in record.image.get("tags", []):
        raise HTTPError(404, f"Tag {tag} not found on image {image_id}")
    record.image.update(tags=[t for t in record.image["tags"] if t != tag],
                        updated_at=now_text())
    app.records.save(record)
    return Response(status=204)


# -- actions ------------------------------------------------------------------------

def action(app: ImageApp, request: Request, caller: Caller, image_id: str, name: str
           ) -> Response:
    record = app.visible(image_id, caller)
    check_owner(record.image, caller, name)
    status = record.image["status"]
    start, end = ("active", "deactivated") if name == "deactivate" \
        else ("deactivated", "active")
    if status == start:
        record.image.update(status=end, updated_at=now_text())
        app.records.save(record)
    elif status != end:
        raise HTTPError(400, f"Not allowed to {name} image in status '{status}'")
    return Response(status=204)


__all__ = ["action", "create", "delete", "delete_tag", "list_images", "put_tag", "show",
           "update"]
