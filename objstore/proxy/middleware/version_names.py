"""Where object versioning keeps versions: the names of its hidden
containers and version objects, and the link a current object holds.

* A versioned container ``c`` keeps its versions in the hidden container
  ``"\\x01versions\\x01" + c`` of the same account. Clients may name a
  container anything but NUL and ``/`` (``objstore.common.constraints``),
  so the filter reserves every container name that starts with U+0001:
  a client request for one is refused (400) and account listings leave
  them out. U+0001 is the smallest character a name may hold, so these
  names sort first and cannot collide with anything a client made
  through the filter.
* A version of object ``o`` written at timestamp ``t`` is the object
  ``o + "\\x01" + inverted(t)`` there, ``inverted(t)`` being the 15
  digits of ``10**15 - 1 - t.raw``: the listing of the hidden container
  is in object-name order, and within one name newest first. A client's
  object name holding U+0001 cannot be versioned (400), so the split at
  the last U+0001 is unambiguous, and the version id (``t.normal``) is
  in the name itself.
* The current object of a versioned write is a zero-byte *link* in ``c``
  whose transient sysmeta (``LINK``, which no client can set) holds the
  version id; its Content-Type is the version's with ``swift_bytes`` of
  the version's size, and its listing ETag the version's (through the
  container-update override), so ``c``'s listing reads as if the
  version were there while the account's byte count holds it once.
"""
from __future__ import annotations

import datetime
from typing import Final

from objstore.common import constraints
from objstore.common.http import HTTPError
from objstore.common.timestamp import InvalidTimestamp, Timestamp
from objstore.obj.updates import with_swift_bytes

RESERVED: Final = "\x01"
HIDDEN_PREFIX: Final = RESERVED + "versions" + RESERVED
SEPARATOR: Final = RESERVED
LINK: Final = "X-Object-Transient-Sysmeta-Versions-Link"
LISTING_ETAG: Final = "X-Object-Sysmeta-Container-Update-Override-Etag"
LISTING_SIZE: Final = "X-Object-Sysmeta-Container-Update-Override-Size"
_INVERT: Final = 10**15 - 1
_DIGITS: Final = 15
_EPOCH: Final = datetime.datetime(1970, 1, 1)


def hidden_container(container: str) -> str:
    return HIDDEN_PREFIX + container


def check_versionable_container(container: str) -> None:
    size = len(hidden_container(container).encode("utf-8"))
    limit = constraints.DEFAULT_CONSTRAINTS.max_container_name_length
    if size > limit:
        raise HTTPError(400, f"container name too long to keep versions: its versions "
                             f"container's name would be {size} bytes, over {limit}")


def check_versionable_object(obj: str) -> None:
    if RESERVED in obj:
        raise HTTPError(400, "an object name holding U+0001 cannot be versioned")
    size = len(obj.encode("utf-8")) + 1 + _DIGITS
    limit = constraints.DEFAULT_CONSTRAINTS.max_object_name_length
    if size > limit:
        raise HTTPError(400, f"object name too long to be versioned: {limit - 1 - _DIGITS} "
                             "bytes at most")


def inverted(version: Timestamp) -> str:
    return f"{_INVERT - version.raw:0{_DIGITS}d}"


def version_object(obj: str, version: Timestamp) -> str:
    return obj + SEPARATOR + inverted(version)


def split_version_object(name: str) -> tuple[str, Timestamp] | None:
    """(object name, version) of a version object's name; None if not one."""
    obj, separator, digits = name.rpartition(SEPARATOR)
    if not separator or len(digits) != _DIGITS or not digits.isdigit():
        return None
    return obj, Timestamp(0, delta=_INVERT - int(digits))


def parse_version_id(text: str, what: str = "version-id") -> Timestamp:
    """A version id a client sent (not ``null``); 400 if not a timestamp."""
    try:
        return Timestamp(text)
    except (InvalidTimestamp, TypeError):
        raise HTTPError(400, f"invalid {what} {text[:40]!r}: a version id is a timestamp "
                             "like 1700000000.12345, or null") from None


def listed_timestamp(last_modified: str) -> Timestamp | None:
    """The timestamp of a listing row from its ``last_modified``
    (``2023-11-14T22:13:20.123450``, exact to the 10 µs of a timestamp)."""
    try:
        moment = datetime.datetime.fromisoformat(last_modified)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is not None:
        moment = moment.replace(tzinfo=None) - (moment.utcoffset() or datetime.timedelta())
    micros = (moment - _EPOCH) // datetime.timedelta(microseconds=1)
    try:
        return Timestamp(0, delta=micros // 10)
    except InvalidTimestamp:
        return None


def link_content_type(content_type: str, size: int) -> str:
    """The link's Content-Type: the version's, with ``swift_bytes`` its size."""
    return with_swift_bytes(content_type, size)


def link_of(headers: dict[str, str]) -> Timestamp | None:
    """The version a current object links to (lower-cased headers), if it is a link."""
    value = headers.get(LINK.lower())
    if value is None:
        return None
    try:
        return Timestamp(value)
    except InvalidTimestamp:
        return None
