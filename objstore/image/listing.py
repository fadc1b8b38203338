"""``GET /v2/images``: filters, sort order and pages, as Glance reads them.

* Filters: ``name``, ``id``, ``status``, ``disk_format`` and
  ``container_format`` (a value, or ``in:a,b,...``), ``visibility``
  (public, private, shared, community or all), ``member_status``
  (accepted by default, pending, rejected or all), ``owner``, ``tag``
  (repeated: every tag must be on the image), ``size_min``/``size_max``,
  ``checksum``, ``os_hash_value``, ``os_hidden`` (hidden images are left
  out unless ``os_hidden=true``, which shows only them); any other
  parameter is a custom property that must equal the value.
* Order: ``sort_key`` (repeated) with one ``sort_dir`` or one per key,
  or ``sort=key[:dir],...`` (not both); ``created_at`` then ``id`` end
  every order so that pages never overlap. The default is newest first.
  Missing values (null) sort before any value.
* Pages: ``limit`` (default and ceiling from the config) and ``marker``,
  the id of the last image of the previous page (400 if the caller cannot
  see it). A page that is followed by more images carries a ``next`` link.
"""
from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from objstore.common.http import HTTPError
from objstore.image.properties import STATUSES, VISIBILITIES

SORT_KEYS: Final = ("name", "status", "container_format", "disk_format", "size", "id",
                    "created_at", "updated_at", "visibility", "owner", "min_disk", "min_ram",
                    "virtual_size", "protected", "os_hidden")
MULTI_VALUED: Final = ("id", "name", "status", "disk_format", "container_format")
EXACT: Final = ("owner", "checksum", "os_hash_value")
MEMBER_STATUSES: Final = ("accepted", "pending", "rejected", "all")
CONTROL: Final = ("limit", "marker", "sort_key", "sort_dir", "sort", "visibility",
                  "member_status", "tag", "size_min", "size_max", "os_hidden")


@dataclasses.dataclass(frozen=True)
class ListQuery:
    limit: int
    marker: str | None = None
    order: tuple[tuple[str, str], ...] = (("created_at", "desc"), ("id", "desc"))
    visibility: str | None = None
    member_status: str = "accepted"
    hidden: bool = False
    tags: tuple[str, ...] = ()
    size_min: int | None = None
    size_max: int | None = None
    one_of: tuple[tuple[str, frozenset[str]], ...] = ()     # name -> allowed values
    equal: tuple[tuple[str, str], ...] = ()                 # exact and custom filters


def _whole(name: str, text: str) -> int:
    if not text.isdigit():
        raise HTTPError(400, f"{name} must be a whole number of 0 or more, not {text!r}")
    return int(text)


def parse(pairs: Sequence[tuple[str, str]], default_limit: int, max_limit: int) -> ListQuery:
    """The query of a list request from its (name, value) pairs, in order."""
    single: dict[str, str] = {}
    tags: list[str] = []
    keys: list[str] = []
    dirs: list[str] = []
    one_of: list[tuple[str, frozenset[str]]] = []
    equal: list[tuple[str, str]] = []
    for name, value in pairs:
        if name == "tag":
            tags.append(value)
        elif name == "sort_key":
            keys.append(value)
        elif name == "sort_dir":
            dirs.append(value)
        elif name in CONTROL:
            single[name] = value
        elif name in MULTI_VALUED:
            one_of.append((name, frozenset(value[3:].split(",") if value.startswith("in:")
                                           else [value])))
        else:
            equal.append((name, value))
    limit = min(_whole("limit", single["limit"]), max_limit) if "limit" in single \
        else default_limit
    visibility = single.get("visibility")
    if visibility is not None and visibility not in (*VISIBILITIES, "all"):
        raise HTTPError(400, f"Invalid visibility value: {visibility}")
    member_status = single.get("member_status", "accepted")
    if member_status not in MEMBER_STATUSES:
        raise HTTPError(400, f"Invalid status value: {member_status}")
    for name, allowed in one_of:
        if name == "status" and not allowed <= set(STATUSES):
            raise HTTPError(400, f"Invalid status value: {','.join(sorted(allowed))}")
    hidden = single.get("os_hidden", "false").lower()
    if hidden not in ("true", "false"):
        raise HTTPError(400, f"os_hidden must be true or false, not {hidden!r}")
    return ListQuery(
        limit=limit, marker=single.get("marker"),
        order=_order(keys, dirs, single.get("sort")), visibility=visibility,
        member_status=member_status, hidden=hidden == "true", tags=tuple(tags),
        size_min=_whole("size_min", single["size_min"]) if "size_min" in single else None,
        size_max=_whole("size_max", single["size_max"]) if "size_max" in single else None,
        one_of=tuple(one_of), equal=tuple(equal))


def _order(keys: list[str], dirs: list[str], sort: str | None
           ) -> tuple[tuple[str, str], ...]:
    if sort is not None:
        if keys or dirs:
            raise HTTPError(400, "The 'sort' parameter cannot be used with 'sort_key' or "
                                 "'sort_dir'")
        pairs = []
        for item in sort.split(","):
            key, _, direction = item.strip().partition(":")
            pairs.append((key.strip(), direction.strip() or "desc"))
    else:
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise HTTPError(400, "Give one sort_dir, or one per sort_key")
        if not keys:
            keys = ["created_at"]
        pairs = [(key, dirs[i] if len(dirs) > 1 else (dirs[0] if dirs else "desc"))
                 for i, key in enumerate(keys)]
    for key, direction in pairs:
        if key not in SORT_KEYS:
            raise HTTPError(400, f"Invalid sort key: {key}. It must be one of: "
                                 + ", ".join(SORT_KEYS))
        if direction not in ("asc", "desc"):
            raise HTTPError(400, f"Invalid sort direction: {direction}. It must be asc or desc")
    names = [key for key, _ in pairs]
    last = pairs[-1][1]
    pairs += [(key, last) for key in ("created_at", "id") if key not in names]
    return tuple(pairs)


def matches(image: Mapping[str, Any], query: ListQuery) -> bool:
    """Whether the image passes every filter (visibility aside: see access)."""
    if bool(image.get("os_hidden")) != query.hidden:
        return False
    tags = image.get("tags") or ()
    if any(tag not in tags for tag in query.tags):
        return False
    size = image.get("size")
    if query.size_min is not None and (size is None or size < query.size_min):
        return False
    if query.size_max is not None and (size is None or size > query.size_max):
        return False
    for name, allowed in query.one_of:
        if image.get(name) not in allowed:
            return False
    for name, value in query.equal:
        if _text(image.get(name)) != value:
            return False
    return True


def _text(value: Any) -> str | None:
    """A property as a query parameter would spell it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def ordered(images: list[dict[str, Any]], order: Sequence[tuple[str, str]]
            ) -> list[dict[str, Any]]:
    """Sorted by each key in turn (a stable sort per key, last key first)."""
    result = list(images)
    for key, direction in reversed(order):
        result.sort(key=_sort_value(key), reverse=direction == "desc")
    return result


def _sort_value(key: str) -> Callable[[Mapping[str, Any]], tuple[bool, Any]]:
    return lambda image: (image.get(key) is not None, image.get(key) if
                          image.get(key) is not None else 0)


def page(images: list[dict[str, Any]], query: ListQuery,
         marker_image: Mapping[str, Any] | None = None
         ) -> tuple[list[dict[str, Any]], str | None]:
    """The page the query asks for out of ``images`` (filtered and
    ordered), and the marker of the next page (None for the last page).
    The page starts after ``marker_image`` in the order, whether or not
    the marker itself passes the filters (it may have changed since)."""
    start = 0
    if marker_image is not None:
        if all(image["id"] != marker_image["id"] for image in images):
            images = ordered([*images, dict(marker_image)], query.order)
        start = [image["id"] for image in images].index(marker_image["id"]) + 1
    chosen = images[start:start + query.limit]
    more = start + query.limit < len(images)
    return chosen, (chosen[-1]["id"] if more and chosen else None)


def next_link(pairs: Sequence[tuple[str, str]], marker: str, limit: int) -> str:
    """``/v2/images?...`` for the next page: the same query, a new marker."""
    kept = [(name, value) for name, value in pairs if name not in ("marker", "limit")]
    kept += [("limit", str(limit)), ("marker", marker)]
    return "/v2/images?" + urllib.parse.urlencode(kept)


__all__ = ["ListQuery", "SORT_KEYS", "matches", "next_link", "ordered", "page", "parse"]
