"""Image properties on create, JSON patches, who sees what, and the schemas."""
from __future__ import annotations

import json
from typing import Any

import pytest

from objstore.common.http import HTTPError
from objstore.image import patch
from objstore.image.access import Caller, can_see, is_listed
from objstore.image.properties import api_view, new_image
from objstore.image.records import Record
from objstore.image.schemas import SCHEMAS, image_schema

OWNER = Caller("AUTH_test", "tester", False)
OTHER = Caller("AUTH_other", "user", False)
ADMIN = Caller("AUTH_admin", "admin", True)


def status_of(call: Any, *args: Any, **kwargs: Any) -> int:
    with pytest.raises(HTTPError) as caught:
        call(*args, **kwargs)
    return caught.value.status


# -- create ------------------------------------------------------------------------

def test_a_new_image_is_queued_with_glance_defaults() -> None:
    image = new_image({"name": "cirros", "disk_format": "qcow2", "container_format": "bare",
                       "tags": ["a", "b", "a"], "os_distro": "cirros"}, "AUTH_test", False)
    assert image["status"] == "queued" and image["visibility"] == "shared"
    assert image["owner"] == "AUTH_test" and image["tags"] == ["a", "b"]
    assert (image["protected"], image["min_disk"], image["size"]) == (False, 0, None)
    assert image["os_distro"] == "cirros" and len(image["id"]) == 36
    assert image["created_at"] == image["updated_at"] and image["created_at"].endswith("Z")
    chosen = new_image({"id": "3D8A1C16-0C4F-4F45-A2A5-6F1D5C9A0B7E"}, "AUTH_test", False)
    assert chosen["id"] == "3d8a1c16-0c4f-4f45-a2a5-6f1d5c9a0b7e"


@pytest.mark.parametrize("body, status", [
    ([], 400),
    ({"disk_format": "floppy"}, 400),
    ({"container_format": "zip"}, 400),
    ({"visibility": "everyone"}, 400),
    ({"protected": "yes"}, 400),
    ({"min_ram": -1}, 400),
    ({"min_disk": True}, 400),
    ({"min_disk": 2 ** 31}, 400),
    ({"name": "x" * 256}, 400),
    ({"tags": "a"}, 400),
    ({"tags": [""]}, 400),
    ({"id": "not-a-uuid"}, 400),
    ({"custom": 5}, 400),
    ({"status": "active"}, 403),
    ({"size": 5}, 403),
    ({"checksum": "x"}, 403),
    ({"os_glance_import_task": "x"}, 403),
    ({"visibility": "public"}, 403),      # only administrators publish
    ({"owner": "AUTH_other"}, 403),       # nor give images away
])
def test_bad_create_bodies_are_refused(body: Any, status: int) -> None:
    assert status_of(new_image, body, "AUTH_test", False) == status


def test_administrators_may_publish_and_set_owners() -> None:
    image = new_image({"visibility": "public", "owner": "AUTH_other"}, "AUTH_admin", True)
    assert (image["visibility"], image["owner"]) == ("public", "AUTH_other")


def test_the_api_view_adds_links_and_validates_against_the_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    image = new_image({"name": None, "disk_format": "raw", "extra": "x"}, "AUTH_test", False)
    view = api_view(image)
    assert view["self"] == f"/v2/images/{image['id']}"
    assert view["file"] == view["self"] + "/file" and "stores" not in view
    jsonschema.validate(view, image_schema())
    active = api_view({**image, "status": "active", "size": 3, "virtual_size": 3,
                       "checksum": "0" * 32, "os_hash_algo": "sha512",
                       "os_hash_value": "0" * 128})
    assert active["stores"] == "cluster"
    jsonschema.validate(active, image_schema())


def test_every_schema_is_json_and_names_itself() -> None:
    for name, make in SCHEMAS.items():
        document = json.loads(json.dumps(make()))
        assert document["name"] == name
    properties = image_schema()["properties"]
    writable = {name for name, spec in properties.items() if not spec.get("readOnly")}
    assert {"name", "disk_format", "container_format", "visibility", "protected", "min_ram",
            "min_disk", "tags"} <= writable
    assert {"status", "size", "checksum", "os_hash_value", "virtual_size"}.isdisjoint(writable)
    assert None in properties["disk_format"]["enum"] and "qcow2" in properties["disk_format"]["enum"]


# -- patch --------------------------------------------------------------------------

def patched(image: dict[str, Any], changes: list[dict[str, Any]], caller: Caller = OWNER,
            media: str = patch.MEDIA_TYPE) -> dict[str, Any]:
    parsed = patch.parse(media, json.dumps(changes).encode())
    return patch.apply(image, parsed, is_admin=caller.is_admin, caller=caller.account,
                       property_quota=3, tag_quota=2)


def queued() -> dict[str, Any]:
    return new_image({"name": "a", "disk_format": "raw", "container_format": "bare",
                      "color": "red"}, "AUTH_test", False)


def test_patch_adds_replaces_and_removes() -> None:
    image = queued()
    after = patched(image, [{"op": "replace", "path": "/name", "value": "b"},
                            {"op": "add", "path": "/size~1shape", "value": "big"},
                            {"op": "add", "path": "/color", "value": "blue"},
                            {"op": "remove", "path": "/color"},
                            {"op": "replace", "path": "/tags", "value": ["x", "x", "y"]},
                            {"op": "replace", "path": "/min_ram", "value": 512}])
    assert after["name"] == "b" and after["size/shape"] == "big" and "color" not in after
    assert after["tags"] == ["x", "y"] and after["min_ram"] == 512
    assert image["name"] == "a" and image["color"] == "red"   # the original is untouched
    assert patched(image, []) == image                        # nothing changed: same dates


@pytest.mark.parametrize("changes, status", [
    ([{"op": "move", "path": "/name", "from": "/x"}], 400),
    ([{"op": "add", "path": "name", "value": "x"}], 400),
    ([{"op": "add", "path": "/a/b", "value": "x"}], 400),
    ([{"op": "add", "path": "/locations/-", "value": {}}], 400),
    ([{"op": "add", "path": "/name"}], 400),
    ([{"op": "replace", "path": "/disk_format", "value": "floppy"}], 400),
    ([{"op": "add", "path": "/custom", "value": 3}], 400),
    (["replace"], 400),
    ({"op": "add"}, 400),
    ([{"op": "replace", "path": "/status", "value": "active"}], 403),
    ([{"op": "replace", "path": "/id", "value": "x"}], 403),
    ([{"op": "remove", "path": "/name"}], 403),
    ([{"op": "add", "path": "/os_glance_x", "value": "y"}], 403),
    ([{"op": "replace", "path": "/visibility", "value": "public"}], 403),
    ([{"op": "replace", "path": "/owner", "value": "AUTH_x"}], 403),
    ([{"op": "replace", "path": "/missing", "value": "x"}], 409),
    ([{"op": "remove", "path": "/missing"}], 409),
    ([{"op": "add", "path": f"/p{n}", "value": "x"} for n in range(3)], 413),
    ([{"op": "replace", "path": "/tags", "value": ["a", "b", "c"]}], 413),
])
def test_bad_patches_change_nothing(changes: Any, status: int) -> None:
    image = queued()
    before = dict(image)
    assert status_of(patched, image, changes) == status
    assert image == before


def test_patches_need_their_media_type_and_json() -> None:
    assert status_of(patch.parse, "application/json", b"[]") == 415
    assert status_of(patch.parse, None, b"[]") == 415
    assert status_of(patch.parse, patch.MEDIA_TYPE, b"[{") == 400
    assert patch.parse(patch.MEDIA_TYPE + "; charset=UTF-8", b"[]") == []


def test_formats_change_only_while_queued() -> None:
    active = {**queued(), "status": "active"}
    assert status_of(patched, active, [{"op": "replace", "path": "/disk_format",
                                        "value": "qcow2"}]) == 403
    assert patched(queued(), [{"op": "replace", "path": "/disk_format",
                               "value": "qcow2"}])["disk_format"] == "qcow2"
    public = patched(active, [{"op": "replace", "path": "/visibility", "value": "public"}],
                     caller=ADMIN)
    assert public["visibility"] == "public"


# -- visibility -----------------------------------------------------------------------

@pytest.mark.parametrize("visibility, owner_sees, other_sees, other_lists", [
    ("public", True, True, True),
    ("community", True, True, False),   # seen by anyone, listed only when asked for
    ("shared", True, False, False),
    ("private", True, False, False),
])
def test_who_sees_an_image(visibility: str, owner_sees: bool, other_sees: bool,
                           other_lists: bool) -> None:
    image = {**queued(), "visibility": visibility}
    assert can_see(image, {}, OWNER) is owner_sees
    assert can_see(image, {}, OTHER) is other_sees
    assert is_listed(image, {}, OTHER, None, "accepted") is other_lists
    assert can_see(image, {}, ADMIN) and is_listed(image, {}, OWNER, None, "accepted")
    assert is_listed(image, {}, OTHER, "community", "accepted") is (visibility == "community")


def test_members_see_shared_images_and_list_them_once_accepted() -> None:
    image = {**queued(), "visibility": "shared"}
    pending = {"AUTH_other": {"status": "pending"}}
    accepted = {"AUTH_other": {"status": "accepted"}}
    assert can_see(image, pending, OTHER)
    assert not is_listed(image, pending, OTHER, None, "accepted")
    assert is_listed(image, pending, OTHER, None, "pending")
    assert is_listed(image, pending, OTHER, "shared", "all")
    assert is_listed(image, accepted, OTHER, None, "accepted")
    assert not is_listed(image, accepted, OTHER, "private", "accepted")


def test_a_record_round_trips_through_json() -> None:
    record = Record(image=queued(), location="a/b", upload_id="u",
                    members={"AUTH_x": {"status": "pending"}}, staged=None)
    again = Record.from_json(record.to_json(), "etag")
    assert (again.image, again.location, again.upload_id, again.members, again.etag) == (
        record.image, "a/b", "u", record.members, "etag")
    with pytest.raises(ValueError):
        Record.from_json(b'{"format": 99}', "")
