"""Members of a shared image: the accounts its owner shares it with.

    POST   /v2/images/{id}/members            {"member": "AUTH_other"}   owner: 200, pending
    GET    /v2/images/{id}/members            owner: all; a member: itself only
    GET    /v2/images/{id}/members/{member}   the owner or that member
    PUT    /v2/images/{id}/members/{member}   {"status": "accepted"}     that member only
    DELETE /v2/images/{id}/members/{member}   owner: 204

Only ``shared`` images have members (403 otherwise); adding one twice
is 409, past ``image_member_quota`` 413. Members live in the image's
record, so they are read and written with it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from objstore.common.http import HTTPError, Request, Response
from objstore.image.access import Caller, check_owner
from objstore.image.errors import not_found
from objstore.image.jsonio import json_response, read_json
from objstore.image.properties import MAX_NAME, now_text
from objstore.image.records import Record
from objstore.image.schemas import MEMBER_STATUSES

if TYPE_CHECKING:
    from objstore.image.app import ImageApp


def _view(image_id: str, member: str, entry: dict[str, Any]) -> dict[str, Any]:
    return {"image_id": image_id, "member_id": member, "status": entry["status"],
            "created_at": entry["created_at"], "updated_at": entry["updated_at"],
            "schema": "/v2/schemas/member"}


def _entry(record: Record, member: str, caller: Caller) -> dict[str, Any]:
    """A membership the caller may see (its owner's, or its own)."""
    entry = record.members.get(member)
    owner = caller.is_admin or record.image.get("owner") == caller.account
    if entry is None or not (owner or member == caller.account):
        raise not_found("member", member)
    return entry


def create(app: ImageApp, request: Request, caller: Caller, image_id: str) -> Response:
    body = read_json(request)
    member = body.get("member") if isinstance(body, dict) else None
    if not isinstance(member, str) or not 0 < len(member) <= MAX_NAME:
        raise HTTPError(400, 'The body is {"member": "<account>"}')
    record = app.visible(image_id, caller)
    check_owner(record.image, caller, "share")
    if record.image.get("visibility") != "shared":
        raise HTTPError(403, "Only shared images have members.")
    if member in record.members:
        raise HTTPError(409, f"Member {member} already has membership on image {image_id}")
    if len(record.members) >= app.conf.image_member_quota:
        raise HTTPError(413, f"Maximum number of members exceeded "
                             f"({app.conf.image_member_quota})")
    stamp = now_text()
    record.members[member] = {"status": "pending", "created_at": stamp, "updated_at": stamp}
    app.records.save(record)
    return json_response(_view(image_id, member, record.members[member]))


def list_members(app: ImageApp, request: Request, caller: Caller, image_id: str) -> Response:
    record = app.visible(image_id, caller)
    if record.image.get("visibility") != "shared":
        raise HTTPError(403, "Only shared images have members.")
    owner = caller.is_admin or record.image.get("owner") == caller.account
    shown = [_view(image_id, member, entry) for member, entry in sorted(record.members.items())
             if owner or member == caller.account]
    return json_response({"members": shown, "schema": "/v2/schemas/members"})


def show(app: ImageApp, request: Request, caller: Caller, image_id: str, member: str
         ) -> Response:
    record = app.visible(image_id, caller)
    return json_response(_view(image_id, member, _entry(record, member, caller)))


def update(app: ImageApp, request: Request, caller: Caller, image_id: str, member: str
           ) -> Response:
    body = read_json(request)
    status = body.get("status") if isinstance(body, dict) else None
    if status not in MEMBER_STATUSES:
        raise HTTPError(400, f"Status must be one of {', '.join(MEMBER_STATUSES)}")
    record = app.visible(image_id, caller)
    entry = _entry(record, member, caller)
    if member != caller.account:
        raise HTTPError(403, "Only the member itself may accept or reject an image")
    entry.update(status=status, updated_at=now_text())
    app.records.save(record)
    return json_response(_view(image_id, member, entry))


def delete(app: ImageApp, request: Request, caller: Caller, image_id: str, member: str
           ) -> Response:
    record = app.visible(image_id, caller)
    _entry(record, member, caller)
    check_owner(record.image, caller, "unshare")
    del record.members[member]
    app.records.save(record)
    return Response(status=204)


__all__ = ["create", "delete", "list_members", "show", "update"]
