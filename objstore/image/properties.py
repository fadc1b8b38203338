"""What an image is made of: its properties, their rules, and its API view.

An image is a flat JSON object. Its *base* properties are Glance's (name,
disk_format, visibility, ...), each with a type and, for some, a set of
allowed values; the service alone sets the *read-only* ones (status,
size, checksums, dates). Any other key is a *custom* property, whose
value must be a string (Glance's ``additionalProperties``). Names under
``os_glance_`` are reserved to the service.

Status codes follow Glance: a value of the wrong type or outside its
set is 400, touching a read-only or reserved property 403, going past a
quota 413.
"""
from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping
from typing import Any, Final

from objstore.common.http import HTTPError

DISK_FORMATS: Final = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi",
                       "iso", "ploop")
CONTAINER_FORMATS: Final = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
VISIBILITIES: Final = ("public", "private", "shared", "community")
STATUSES: Final = ("queued", "saving", "active", "killed", "deleted", "pending_delete",
                   "deactivated", "uploading", "importing")
HASH_ALGO: Final = "sha512"
STORE_ID: Final = "cluster"   # the one store (Glance's multi-store id) images live in
MAX_INT: Final = 2 ** 31 - 1  # min_disk and min_ram are 32-bit in Glance
MAX_NAME: Final = 255
MAX_PROPERTY_VALUE: Final = 65535
RESERVED_PREFIX: Final = "os_glance_"

# Set by the service only; a client that sends one is refused (403).
READ_ONLY: Final = frozenset({
    "status", "checksum", "os_hash_algo", "os_hash_value", "size", "virtual_size",
    "created_at", "updated_at", "self", "file", "schema", "direct_url", "locations", "stores",
})
# Base properties a client may set, with their defaults on a new image.
WRITABLE_DEFAULTS: Final[Mapping[str, Any]] = {
    "name": None, "visibility": "shared", "protected": False, "os_hidden": False,
    "owner": None, "min_disk": 0, "min_ram": 0, "container_format": None,
    "disk_format": None, "tags": [],
}
BASE: Final = frozenset(WRITABLE_DEFAULTS) | READ_ONLY | {"id"}


def now_text() -> str:
    """The time in Glance's form: ``2024-05-01T12:00:00Z``."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_uuid(text: Any) -> bool:
    if not isinstance(text, str):
        return False
    try:
        return str(uuid.UUID(text)) == text.lower() and len(text) == 36
    except ValueError:
        return False


_TYPES: Final = {
    "name": "a string or null", "visibility": "one of " + ", ".join(VISIBILITIES),
    "protected": "true or false", "os_hidden": "true or false", "owner": "a string or null",
    "min_disk": f"a whole number from 0 to {MAX_INT}",
    "min_ram": f"a whole number from 0 to {MAX_INT}",
    "container_format": "null or one of " + ", ".join(CONTAINER_FORMATS),
    "disk_format": "null or one of " + ", ".join(DISK_FORMATS),
    "tags": f"a list of strings of 1 to {MAX_NAME} characters",
}


def _valid(name: str, value: Any) -> bool:
    if name in ("name", "owner"):
        return value is None or (isinstance(value, str) and len(value) <= MAX_NAME)
    if name == "visibility":
        return value in VISIBILITIES
    if name in ("protected", "os_hidden"):
        return isinstance(value, bool)
    if name in ("min_disk", "min_ram"):
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_INT
    if name == "container_format":
        return value is None or value in CONTAINER_FORMATS
    if name == "disk_format":
        return value is None or value in DISK_FORMATS
    if name == "tags":
        return isinstance(value, list) and all(
            isinstance(tag, str) and 0 < len(tag) <= MAX_NAME for tag in value)
    raise AssertionError(f"{name} is not a writable base property")


def check_base(name: str, value: Any) -> Any:
    """``value`` for the writable base property ``name``, normalised (tags
    unique, in order); 400 when it is not allowed."""
    if not _valid(name, value):
        raise HTTPError(400, f"Invalid value {_show(value)} for {name}: it must be "
                             f"{_TYPES[name]}")
    if name == "tags":
        return list(dict.fromkeys(value))
    return value


def check_custom(name: str, value: Any) -> str:
    """A custom property: a name that is not reserved and a string value."""
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
        raise HTTPError(400, f"Property names must be 1 to {MAX_NAME} characters")
    if name.startswith(RESERVED_PREFIX):
        raise HTTPError(403, f"Attribute '{name}' is reserved.")
    if not isinstance(value, str):
        raise HTTPError(400, f"Invalid value {_show(value)} for property {name}: custom "
                             "properties are strings")
    if len(value) > MAX_PROPERTY_VALUE:
        raise HTTPError(400, f"Property {name} is longer than {MAX_PROPERTY_VALUE} characters")
    return value


def check_quotas(image: Mapping[str, Any], property_quota: int, tag_quota: int) -> None:
    custom = sum(1 for name in image if name not in BASE)
    if custom > property_quota:
        raise HTTPError(413, f"Maximum number of properties exceeded ({property_quota})")
    if len(image.get("tags") or ()) > tag_quota:
        raise HTTPError(413, f"Maximum number of tags exceeded ({tag_quota})")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def new_image(body: Any, owner: str, is_admin: bool) -> dict[str, Any]:
    """A queued image from the JSON body of ``POST /v2/images``."""
    if not isinstance(body, dict):
        raise HTTPError(400, "The request body must be a JSON object")
    stamp = now_text()
    image: dict[str, Any] = {**WRITABLE_DEFAULTS, "tags": [], "owner": owner}
    for name, value in body.items():
        if name in READ_ONLY:
            raise HTTPError(403, f"Attribute '{name}' is read-only.")
        if name == "id":
            if not is_uuid(value):
                raise HTTPError(400, f"Invalid value {_show(value)} for id: it must be a "
                                     "UUID such as 3d8a1c16-0c4f-4f45-a2a5-6f1d5c9a0b7e")
            image["id"] = value.lower()
        elif name in WRITABLE_DEFAULTS:
            image[name] = check_base(name, value)
        else:
            image[name] = check_custom(name, value)
    check_changes_allowed({}, image, is_admin, owner)
    image.setdefault("id", str(uuid.uuid4()))
    image.update(status="queued", checksum=None, os_hash_algo=None, os_hash_value=None,
                 size=None, virtual_size=None, created_at=stamp, updated_at=stamp)
    return image


def check_changes_allowed(before: Mapping[str, Any], after: Mapping[str, Any], is_admin: bool,
                          caller: str) -> None:
    """The rules about who may set what (Glance's default policies)."""
    if after.get("visibility") == "public" and before.get("visibility") != "public" \
            and not is_admin:
        raise HTTPError(403, "Only administrators may make an image public")
    if after.get("owner") != before.get("owner", caller) and not is_admin:
        raise HTTPError(403, "Only administrators may set an image's owner")
    if before and before.get("status") != "queued":
        for name in ("disk_format", "container_format"):
            if after.get(name) != before.get(name):
                raise HTTPError(403, f"Attribute {name} can be only replaced for a queued "
                                     "image.")


def api_view(image: Mapping[str, Any]) -> dict[str, Any]:
    """The image as the API shows it, with its links."""
    view = dict(image)
    ident = image["id"]
    view.update({"self": f"/v2/images/{ident}", "file": f"/v2/images/{ident}/file",
                 "schema": "/v2/schemas/image"})
    if image.get("status") in ("active", "deactivated"):
        view["stores"] = STORE_ID
    return view


__all__ = ["BASE", "CONTAINER_FORMATS", "DISK_FORMATS", "HASH_ALGO", "READ_ONLY",
           "STATUSES", "STORE_ID", "VISIBILITIES", "WRITABLE_DEFAULTS", "api_view",
           "check_base", "check_changes_allowed", "check_custom", "check_quotas",
           "is_uuid", "new_image", "now_text"]
