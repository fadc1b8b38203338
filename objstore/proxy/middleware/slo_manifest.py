"""Static large object manifests: what clients send, what is stored, and their checks.

A client's manifest (``PUT ...?multipart-manifest=put``) is a JSON list;
each item is a segment object or inline bytes::

    {"path": "container/object", "etag": "<md5>" | null, "size_bytes": 123 | null,
     "range": "0-99"}                        (etag, size_bytes and range optional)
    {"data": "<base64>"}

The stored manifest (``?multipart-manifest=get``) is Swift's::

    {"name": "/container/object", "hash": "<etag>", "bytes": 123,
     "content_type": "...", "last_modified": "2024-01-01T00:00:00.000000",
     "range": "0-99", "sub_slo": true}       (range and sub_slo only when so)
    {"data": "<base64>"}

``bytes`` and ``hash`` are the whole segment's (for a nested manifest,
its whole object's size and SLO ETag); ``range`` picks bytes of it.

The whole's ETag is Swift's: the MD5 of the segments' ETags, one after
another (``hash:first-last;`` for a segment with a range, the MD5 of the
bytes for inline data), so a client can compute it from what it uploaded.

Everything here is pure: a bad client manifest is ``ManifestError``
(answered 400 with its reason), a stored one that does not parse too
(the filter answers that 409: it cannot be served).
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any, Final

PUT_KEYS: Final = frozenset({"path", "etag", "size_bytes", "range"})
_RANGE: Final = re.compile(r"\s*(\d*)\s*-\s*(\d*)\s*")


class ManifestError(ValueError):
    """A manifest that is not one; the message is the reason a client sees."""


@dataclasses.dataclass(frozen=True)
class Requested:
    """One item of a client's manifest, its fields checked for form only."""
    index: int
    container: str = ""
    obj: str = ""
    etag: str | None = None
    size: int | None = None
    range_spec: str | None = None
    data: bytes | None = None

    @property
    def path(self) -> str:
        return f"/{self.container}/{self.obj}"


@dataclasses.dataclass(frozen=True)
class Entry:
    """One stored item: a segment (or part of one), or inline bytes."""
    container: str = ""
    obj: str = ""
    etag: str = ""
    size: int = 0
    content_type: str = ""
    last_modified: str = ""
    first: int = 0
    end: int | None = None   # with ``first``: the range, None for the whole segment
    sub_slo: bool = False
    data: bytes | None = None

    @property
    def path(self) -> str:
        return f"/{self.container}/{self.obj}"

    @property
    def start(self) -> int:
        """The first byte of the segment this entry serves."""
        return self.first if self.end is not None else 0

    @property
    def stop(self) -> int:
        """One past the last byte of the segment this entry serves."""
        if self.data is not None:
            return len(self.data)
        return self.end if self.end is not None else self.size

    @property
    def length(self) -> int:
        return self.stop - self.start

    def stored(self) -> dict[str, Any]:
        if self.data is not None:
            return {"data": base64.b64encode(self.data).decode("ascii")}
        item: dict[str, Any] = {"name": self.path, "hash": self.etag, "bytes": self.size,
                                "content_type": self.content_type,
                                "last_modified": self.last_modified}
        if self.end is not None:
            item["range"] = f"{self.first}-{self.end - 1}"
        if self.sub_slo:
            item["sub_slo"] = True
        return item

    def requested(self) -> dict[str, Any]:
        """The item in the PUT form (``?multipart-manifest=get&format=raw``)."""
        if self.data is not None:
            return self.stored()
        item: dict[str, Any] = {"path": self.path, "etag": self.etag, "size_bytes": self.size}
        if self.end is not None:
            item["range"] = f"{self.first}-{self.end - 1}"
        return item


# -- a client's manifest --------------------------------------------------------

def parse_put(body: bytes, max_segments: int) -> list[Requested]:
    """The items of a client's manifest, each checked for form."""
    try:
        items = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ManifestError("Manifest must be valid JSON.") from None
    if not isinstance(items, list):
        raise ManifestError("Manifest must be a list.")
    if not items:
        raise ManifestError("Manifest must have at least one segment.")
    if len(items) > max_segments:
        raise ManifestError(f"Number of segments must be <= {max_segments}.")
    return [parse_item(index, item) for index, item in enumerate(items)]


def parse_item(index: int, item: Any) -> Requested:
    where = f"Index {index}"
    if not isinstance(item, dict):
        raise ManifestError(f"{where}: not a JSON object")
    if "data" in item:
        if len(item) != 1:
            raise ManifestError(f"{where}: a data segment holds only \"data\"")
        return Requested(index, data=parse_data(where, item["data"]))
    extra = sorted(set(item) - PUT_KEYS)
    if extra:
        raise ManifestError(f"{where}: extraneous keys " + ", ".join(f'"{k}"' for k in extra))
    path = item.get("path")
    if not isinstance(path, str):
        raise ManifestError(f"{where}: \"path\" must be a string")
    container, _, obj = path.removeprefix("/").partition("/")
    if not container or not obj:
        raise ManifestError(f"{where}: path does not refer to an object. Path must be of "
                            "the form /container/object.")
    etag = item.get("etag")
    if etag is not None and not isinstance(etag, str):
        raise ManifestError(f"{where}: \"etag\" must be a string or null (if provided)")
    size = item.get("size_bytes")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise ManifestError(f"{where}: \"size_bytes\" must be an integer >= 0 or null "
                            "(if provided)")
    range_spec = item.get("range")
    if range_spec is not None:
        check_range_form(where, range_spec)
    return Requested(index, container, obj, None if etag is None else etag.strip('"').lower(),
                     size, range_spec)


def parse_data(where: str, value: Any) -> bytes:
    if not isinstance(value, str):
        raise ManifestError(f"{where}: \"data\" must be base64 text")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ManifestError(f"{where}: \"data\" is not valid base64") from None
    if not data:
        raise ManifestError(f"{where}: too small; each segment must be at least 1 byte.")
    return data


def check_range_form(where: str, spec: Any) -> None:
    if not isinstance(spec, str):
        raise ManifestError(f"{where}: invalid range")
    if "," in spec:
        raise ManifestError(f"{where}: multiple ranges (only one allowed)")
    match = _RANGE.fullmatch(spec)
    if not match or match.groups() == ("", "") or (
            match[1] and match[2] and int(match[2]) < int(match[1])):
        raise ManifestError(f"{where}: invalid range")


def resolve_range(spec: str, size: int) -> tuple[int, int] | None:
    """Bytes [first, end) of a segment of ``size`` that a (well-formed)
    range names, clipped to it; None if it names none of them."""
    match = _RANGE.fullmatch(spec)
    assert match is not None, spec
    first, last = match.groups()
    if first == "":
        start, end = max(0, size - int(last)), size
    else:
        start, end = int(first), size if last == "" else min(int(last) + 1, size)
    return (start, end) if start < end else None


# -- the stored manifest ------------------------------------------------------

def parse_stored(body: bytes) -> list[Entry]:
    """A stored manifest's entries; ManifestError if it is not one."""
    try:
        items = json.loads(body)
        if not isinstance(items, list):
            raise ValueError("not a list")
        return [stored_entry(item) for item in items]
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as err:
        raise ManifestError(f"the stored manifest is not valid: {err}") from None


def stored_entry(item: dict[str, Any]) -> Entry:
    if "data" in item:
        return Entry(data=base64.b64decode(item["data"], validate=True))
    container, _, obj = str(item["name"]).removeprefix("/").partition("/")
    size = int(item["bytes"])
    first, end = 0, None
    if item.get("range") is not None:
        span = resolve_range(str(item["range"]), size)
        if span is None:
            raise ValueError(f"range {item['range']!r} is outside {size} bytes")
        first, end = span
    return Entry(container, obj, str(item["hash"]), size, str(item.get("content_type", "")),
                 str(item.get("last_modified", "")), first, end, bool(item.get("sub_slo")))


def dumps(entries: Iterable[Entry]) -> bytes:
    return json.dumps([entry.stored() for entry in entries]).encode()


def slo_etag(entries: Iterable[Entry]) -> str:
    digest = hashlib.md5()
    for entry in entries:
        if entry.data is not None:
            digest.update(hashlib.md5(entry.data).hexdigest().encode())
        elif entry.end is not None:
            digest.update(f"{entry.etag}:{entry.first}-{entry.end - 1};".encode())
        else:
            digest.update(entry.etag.encode())
    return digest.hexdigest()


def total_length(entries: Iterable[Entry]) -> int:
    return sum(entry.length for entry in entries)
