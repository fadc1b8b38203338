"""Listings over HTTP: what a GET asks for, and the body it gets back.

A GET of an account lists its containers, a GET of a container its
objects; both take the same query parameters and formats as Swift's:

* ``limit``: how many entries (``constraints.check_listing_limit``: a
  missing or non-numeric one is the maximum, 10,000; more is 412);
* ``marker``, ``end_marker``, ``prefix``, ``delimiter``, ``path``: text
  (400 if not UTF-8, see ``http.query_params``), each at most as long
  as the names it is compared with (400); the delimiter may be any text,
  several characters too, as Swift takes it;
* ``reverse``: true, yes, on, 1, t or y;
* ``format``: ``json``, ``xml`` or ``plain`` (anything else is plain);
  without it, the Accept header chooses among text/plain,
  application/json, application/xml and text/xml. A header that
  accepts none of them is 406, one that does not parse 400.

The bodies have Swift's shapes (keys, elements, escaping, newlines):

* json: a list of ``{"name", "hash", "bytes", "content_type",
  "last_modified"}`` (objects) or ``{"name", "count", "bytes",
  "last_modified"}`` (containers), and ``{"subdir"}`` for a rolled-up
  prefix; ASCII, non-ASCII escaped;
* xml: ``<?xml version="1.0" encoding="UTF-8"?>`` and a newline, then
  ``<container name="...">`` holding ``<object>`` elements and
  ``<subdir name="..."><name>...</name></subdir>``, all on one line; or
  ``<account name="...">`` holding ``<container>`` elements and
  ``<subdir name="..." />``, each followed by a newline;
* plain: one name (or subdir) per line. An empty plain listing has no
  body at all, so it is answered 204; json and xml are 200 even empty.

An object whose content type carries ``;swift_bytes=N`` (the size of
what a manifest stands for) is listed with ``bytes`` N and without the
parameter, as Swift lists it.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal
from xml.etree import ElementTree

from objstore.common import constraints
from objstore.common.config import parse_bool
from objstore.common.http import HTTPError, Request, Response, best_offer, query_params

FORMATS: Final = {"json": "application/json", "xml": "application/xml", "plain": "text/plain"}
OFFERS: Final = ("text/plain", "application/json", "application/xml", "text/xml")
_TEXT_PARAMS: Final = ("marker", "end_marker", "prefix", "delimiter", "path")
_XML_DECLARATION: Final = '<?xml version="1.0" encoding="UTF-8"?>\n'
_OBJECT_FIELDS: Final = ("name", "hash", "bytes", "content_type", "last_modified")
_CONTAINER_FIELDS: Final = ("name", "count", "bytes", "last_modified", "storage_policy")

Target = Literal["account", "container"]


@dataclasses.dataclass(frozen=True)
class ListingParams:
    """What a listing GET asks for; the broker's ``list_*`` arguments."""

    limit: int
    marker: str = ""
    end_marker: str = ""
    prefix: str = ""
    delimiter: str = ""
    reverse: bool = False
    path: str | None = None  # None: no path given ("" lists the top level)


def listing_params(request: Request, target: Target, *,
                   limits: constraints.Constraints = constraints.DEFAULT_CONSTRAINTS
                   ) -> ListingParams:
    """The request's listing parameters, checked (see the module doc)."""
    found = query_params(request, "limit", "reverse", *_TEXT_PARAMS)
    longest = (limits.max_container_name_length if target == "account"
               else limits.max_object_name_length)
    for name in _TEXT_PARAMS:
        size = len(found.get(name, "").encode("utf-8"))
        if size > longest:
            raise HTTPError(400, f"{name} of {size} bytes is longer than the longest "
                                 f"{'container' if target == 'account' else 'object'} "
                                 f"name ({longest})")
        if "\x00" in found.get(name, ""):
            raise HTTPError(400, f"{name} holds a NUL byte")
    delimiter = found.get("delimiter", "")  # any text, as Swift takes now ("/", "-", "ab")
    try:
        limit = constraints.check_listing_limit(found.get("limit"), target, limits=limits)
    except constraints.ConstraintError as err:
        raise HTTPError(err.status, err.reason) from None
    return ListingParams(limit=limit, marker=found.get("marker", ""),
                         end_marker=found.get("end_marker", ""), prefix=found.get("prefix", ""),
                         delimiter=delimiter, reverse=_true(found.get("reverse", "")),
                         path=found.get("path"))


def _true(value: str) -> bool:
    try:
        return parse_bool(value)
    except ValueError:
        return False


def listing_content_type(request: Request) -> str:
    """The media type of the listing's body: ``format`` first, else Accept."""
    wanted = query_params(request, "format").get("format")
    if wanted is not None:
        return FORMATS.get(wanted.lower(), FORMATS["plain"])
    chosen = best_offer(request.headers.get("Accept"), OFFERS)
    if chosen is None:
        raise HTTPError(406, "the Accept header accepts none of " + ", ".join(OFFERS))
    return chosen


def container_body(entries: Sequence[Mapping[str, Any]], container: str,
                   content_type: str) -> bytes:
    """A container's listing (``ContainerBroker.list_objects``) as bytes."""
    listed = [_with_swift_bytes(entry) for entry in entries]
    if content_type.endswith("/json"):
        return json.dumps(listed).encode("ascii")
    if content_type.endswith("/xml"):
        return _xml("container", container, "object", _OBJECT_FIELDS, listed,
                    subdir_names=True, newlines=False)
    return _plain(listed)


def account_body(entries: Sequence[Mapping[str, Any]], account: str,
                 content_type: str) -> bytes:
    """An account's listing (``AccountBroker.list_containers``) as bytes."""
    if content_type.endswith("/json"):
        return json.dumps(list(entries)).encode("ascii")
    if content_type.endswith("/xml"):
        return _xml("account", account, "container", _CONTAINER_FIELDS, entries,
                    subdir_names=False, newlines=True)
    return _plain(entries)


def listing_response(body: bytes, content_type: str, headers: Mapping[str, str]) -> Response:
    """200 with the body, or 204 when there is none (an empty plain listing)."""
    response = Response(status=200 if body else 204,
                        headers={**headers, "Content-Type": f"{content_type}; charset=utf-8"})
    if body:
        response.body = body  # after the headers, which would drop its Content-Length
    return response


def _with_swift_bytes(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    content_type = entry.get("content_type")
    if not content_type or "swift_bytes" not in content_type:
        return entry
    kept: list[str] = []
    size: int | None = None
    for part in content_type.split(";"):
        key, equals, value = part.strip().partition("=")
        if equals and key.strip().lower() == "swift_bytes" and kept:
            try:
                size = int(value.strip())
            except ValueError:
                pass  # not a size: leave the parameter where it is
            else:
                continue
        kept.append(part)
    if size is None:
        return entry
    return {**entry, "bytes": size, "content_type": ";".join(kept)}


def _plain(entries: Sequence[Mapping[str, Any]]) -> bytes:
    return "".join(str(entry.get("subdir", entry.get("name"))) + "\n"
                   for entry in entries).encode("utf-8")


def _xml(root_tag: str, name: str, item_tag: str, fields: Sequence[str],
         entries: Sequence[Mapping[str, Any]], *, subdir_names: bool,
         newlines: bool) -> bytes:
    """ElementTree escapes text and attributes. A container's subdirs
    repeat their name in a child element; an account's listing has a
    newline after its opening tag and after each entry."""
    root = ElementTree.Element(root_tag, name=name)
    if newlines:
        root.text = "\n"
    for entry in entries:
        if "subdir" in entry:
            item = ElementTree.SubElement(root, "subdir", name=entry["subdir"])
            if subdir_names:
                ElementTree.SubElement(item, "name").text = entry["subdir"]
        else:
            item = ElementTree.SubElement(root, item_tag)
            for field in fields:
                if field in entry:  # a container's policy may have no name any more
                    ElementTree.SubElement(item, field).text = str(entry[field])
        if newlines:
            item.tail = "\n"
    return (_XML_DECLARATION + ElementTree.tostring(root, encoding="unicode")).encode("utf-8")


__all__ = ["FORMATS", "ListingParams", "OFFERS", "account_body", "container_body",
           "listing_content_type", "listing_params", "listing_response"]
