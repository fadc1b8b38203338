"""``PATCH /v2/images/{id}``: a JSON patch (RFC 6902) of an image's properties.

The body must come as ``application/openstack-images-v2.1-json-patch``
(415 otherwise): a list of ``{"op", "path", "value"}`` changes, each
path a JSON pointer to one top-level property (``/name``, ``/tags``,
``/os_distro``). As in Glance:

* ``add`` sets a property, new or not; ``replace`` sets one that exists
  (a custom property that does not: 409); ``remove`` deletes a custom
  property (one that does not exist: 409; a base property: 403).
* Other operations, deeper paths and image locations are 400; a
  read-only property (status, size, ...) or a reserved one is 403.
* The changes apply in order to a copy; the whole result is checked
  (types, who may set what, quotas) before anything is stored, so a
  patch applies entirely or not at all.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any, Final

from objstore.common.http import HTTPError
from objstore.image.properties import (
    READ_ONLY, WRITABLE_DEFAULTS, check_base, check_changes_allowed, check_custom,
    check_quotas, now_text,
)

MEDIA_TYPE: Final = "application/openstack-images-v2.1-json-patch"
OPERATIONS: Final = ("add", "replace", "remove")


@dataclasses.dataclass(frozen=True)
class Change:
    op: str
    name: str      # the top-level property the path points at
    value: Any = None


def parse(content_type: str | None, body: bytes) -> list[Change]:
    """The changes of a request body; 415 for another media type, 400 for
    anything malformed."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media != MEDIA_TYPE:
        raise HTTPError(415, f"Unsupported Content-Type {content_type or '(none)'!r}: "
                             f"send the patch as {MEDIA_TYPE}",
                        {"Accept-Patch": MEDIA_TYPE})
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise HTTPError(400, f"Malformed JSON in request body: {err}") from None
    if not isinstance(document, list):
        raise HTTPError(400, "A JSON patch is a list of changes")
    return [_change(item) for item in document]


def _change(item: Any) -> Change:
    if not isinstance(item, dict):
        raise HTTPError(400, "Each change of a JSON patch is an object")
    op = item.get("op")
    if op not in OPERATIONS:
        raise HTTPError(400, f"Operation {op!r} is not supported: use add, replace or "
                             "remove")
    path = item.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise HTTPError(400, f"Invalid JSON pointer {path!r}: it starts with /")
    parts = path[1:].split("/")
    if len(parts) != 1 or not parts[0]:
        raise HTTPError(400, f"Unsupported path {path!r}: changes name one top-level "
                             "property, such as /name")
    if "~" in parts[0].replace("~0", "").replace("~1", ""):
        raise HTTPError(400, f"Invalid JSON pointer {path!r}: ~ must be ~0 or ~1")
    name = parts[0].replace("~1", "/").replace("~0", "~")
    if name == "locations":
        raise HTTPError(400, "Image locations are not exposed by this service")
    if op != "remove" and "value" not in item:
        raise HTTPError(400, f"Operation {op} needs a value")
    return Change(op, name, item.get("value"))


def apply(image: Mapping[str, Any], changes: list[Change], *, is_admin: bool, caller: str,
          property_quota: int, tag_quota: int) -> dict[str, Any]:
    """The image after ``changes`` (see the module docstring)."""
    result = dict(image)
    for change in changes:
        name = change.name
        if name in READ_ONLY or name == "id":
            raise HTTPError(403, f"Attribute '{name}' is read-only.")
        base = name in WRITABLE_DEFAULTS
        if change.op == "remove":
            if base:
                raise HTTPError(403, f"Property '{name}' may not be removed.")
            if name not in result:
                raise HTTPError(409, f"Property {name} does not exist.")
            del result[name]
            continue
        if change.op == "replace" and not base and name not in result:
            raise HTTPError(409, f"Property {name} does not exist.")
        result[name] = check_base(name, change.value) if base \
            else check_custom(name, change.value)
    check_changes_allowed(image, result, is_admin, caller)
    check_quotas(result, property_quota, tag_quota)
    if result != image:
        result["updated_at"] = now_text()
    return result


__all__ = ["Change", "MEDIA_TYPE", "apply", "parse"]
