"""The limits of the API, and the checks that enforce them.

The defaults are OpenStack Swift's, because clients discover and rely on
them (``GET /info`` publishes them): a client that fits Swift's limits must
fit ours. Every length is counted in UTF-8 bytes, as Swift counts it, not
in characters: a 256-character name of accented letters is too long.

Each check is a pure function of its arguments that returns quietly or
raises ``ConstraintError`` carrying the HTTP status a server should answer
and a one-line reason fit for the response body. Which status goes with
which limit follows Swift, so clients see the same codes:

- 400 a bad name, metadata item, header, length or expiry time
- 411 a PUT with neither a Content-Length nor chunked transfer encoding
- 412 a path that is not valid UTF-8, or a listing limit above the maximum
- 413 an object larger than ``max_file_size``
"""
from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

_MAX_DELETE_AT: Final = 9_999_999_999  # the last whole second a Timestamp can hold
_INTEGER: Final = re.compile(r"(?P<sign>[+-]?)(?P<digits>[0-9]+)")
_DIGITS: Final = re.compile(r"[0-9]+")
_HUGE: Final = 10**30  # stands for any number of more than 30 digits

Target = Literal["account", "container", "object"]


class ConstraintError(Exception):
    """A request that breaks a limit; ``status`` is the HTTP answer to give."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Constraints:
    """The API's limits; every field defaults to Swift's value."""

    #: 5 GiB and 2 bytes: the largest single object (bigger ones are segmented).
    max_file_size: int = 5_368_709_122
    max_meta_name_length: int = 128
    max_meta_value_length: int = 256
    max_meta_count: int = 90
    #: Sum over one request of every metadata name (without prefix) and value.
    max_meta_overall_size: int = 4096
    #: The longest header value; eventlet refuses longer header lines anyway.
    max_header_size: int = 8192
    #: Headers a request or backend response may carry. Swift allows
    #: max_meta_count + 36 + extra_header_count (default 0): a full set of
    #: metadata plus room for the standard and backend headers. Less would
    #: refuse objects that Swift accepts, or fail reading them back.
    max_header_count: int = 126
    max_object_name_length: int = 1024
    container_listing_limit: int = 10_000
    account_listing_limit: int = 10_000
    max_account_name_length: int = 256
    max_container_name_length: int = 256
    valid_api_versions: tuple[str, ...] = ("v1", "v1.0")

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if isinstance(value, int) and value < 1:
                raise ValueError(f"constraint {name} must be positive, not {value}")
        if self.max_header_count <= self.max_meta_count:
            raise ValueError(
                f"max_header_count {self.max_header_count} leaves no room beyond "
                f"max_meta_count {self.max_meta_count}")
        if not self.valid_api_versions:
            raise ValueError("valid_api_versions cannot be empty")


DEFAULT_CONSTRAINTS: Final = Constraints()


def _show(value: object) -> str:
    """A value for a one-line reason, cut short if it is long."""
    text = repr(value)
    return text if len(text) <= 64 else text[:60] + "...'"


def _by_lower_name(fields: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Header fields under lower-case names, the first of a name winning:
    one pass, however many lookups follow (iterating a WSGI request's
    headers costs far more than a dict lookup)."""
    lowered: dict[str, str] = {}
    for key, value in fields:
        lowered.setdefault(key.lower(), value)
    return lowered


def _is_clean_text(text: str) -> bool:
    """Encodes as UTF-8 (no lone surrogates) and holds no NUL."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def _size(text: str) -> int:
    """Length in bytes on the wire.

    An undecodable byte that reached us as a surrogate escape counts as the
    one byte it was; any other lone surrogate as the three UTF-8 would take.
    """
    try:
        return len(text.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:
        return len(text.encode("utf-8", "surrogatepass"))


def check_utf8(name: bytes | str, what: str = "path") -> str:
    """``name`` as str if it is valid UTF-8 without NUL or surrogates (else 412).

    The empty string is valid UTF-8; whether a name may be empty is for the
    name checks to say.
    """
    if isinstance(name, bytes):
        try:
            text = name.decode("utf-8")  # strict: refuses overlong forms and surrogates
        except UnicodeDecodeError:
            raise ConstraintError(412, f"{what} is not valid UTF-8") from None
    else:
        text = name
    if not _is_clean_text(text):
        raise ConstraintError(412, f"{what} is not valid UTF-8 or contains a NUL")
    return text


def _check_name(name: bytes | str, kind: str, limit: int, slash_allowed: bool) -> str:
    text = check_utf8(name, f"{kind} name")
    if not text:
        raise ConstraintError(400, f"{kind} name is empty")
    if not slash_allowed and "/" in text:
        raise ConstraintError(400, f"{kind} name {_show(text)} contains '/'")
    size = _size(text)
    if size > limit:
        raise ConstraintError(400, f"{kind} name length of {size} bytes is over the limit of {limit}")
    return text


def check_account_name(name: bytes | str, *, limits: Constraints = DEFAULT_CONSTRAINTS) -> str:
    """The account name as str: UTF-8 (412), not empty, no '/', not too long (400)."""
    return _check_name(name, "account", limits.max_account_name_length, slash_allowed=False)


def check_container_name(name: bytes | str, *, limits: Constraints = DEFAULT_CONSTRAINTS) -> str:
    """The container name as str: UTF-8 (412), not empty, no '/', not too long (400)."""
    return _check_name(name, "container", limits.max_container_name_length, slash_allowed=False)


def check_object_name(name: bytes | str, *, limits: Constraints = DEFAULT_CONSTRAINTS) -> str:
    """The object name as str: UTF-8 (412), not empty, not too long (400).

    '/' is allowed: pseudo-directories are part of object names.
    """
    return _check_name(name, "object", limits.max_object_name_length, slash_allowed=True)


def check_path_segment(segment: str) -> str:
    """A path segment that cannot climb out of or into another directory (400).

    Refuses '.', '..', the empty segment and anything holding '/' or NUL.
    """
    if segment in ("", ".", "..") or "/" in segment or "\x00" in segment:
        raise ConstraintError(400, f"path segment {_show(segment)} is not allowed")
    return segment


def _named(header: str) -> str:
    return header if len(header) <= 64 else header[:60] + "..."


def check_metadata(
    headers: Mapping[str, str], target: Target, *, limits: Constraints = DEFAULT_CONSTRAINTS
) -> None:
    """Refuse (400) the user metadata of one request if it breaks a limit.

    Looks at ``X-<Target>-Meta-*`` headers, in any case. Each request is
    checked on its own; what the target already stores is for its server.
    Account and container metadata must be valid UTF-8 without NUL; object
    metadata may hold any bytes. Any header value over ``max_header_size``
    is refused too.
    """
    if target not in ("account", "container", "object"):
        raise ValueError(f"metadata target must be account, container or object, not {target!r}")
    _check_metadata_fields(headers.items(), target, limits)


def _check_metadata_fields(fields: Iterable[tuple[str, str]], target: Target,
                           limits: Constraints) -> None:
    prefix = f"x-{target}-meta-"
    count = 0
    total = 0
    # a character takes at most 4 bytes: most values are short enough to pass unmeasured
    short = limits.max_header_size // 4
    for header, value in fields:
        if len(value) > short and _size(value) > limits.max_header_size:
            raise ConstraintError(
                400, f"header value longer than {limits.max_header_size} bytes: {_named(header)}")
        if not header.lower().startswith(prefix):
            continue
        name = header[len(prefix):]
        if not name:
            raise ConstraintError(400, f"metadata name is empty: {header}")
        if target != "object" and not (_is_clean_text(name) and _is_clean_text(value)):
            raise ConstraintError(400, f"metadata must be valid UTF-8: {_named(header)}")
        name_size, value_size = _size(name), _size(value)
        count += 1
        total += name_size + value_size
        if name_size > limits.max_meta_name_length:
            raise ConstraintError(
                400, f"metadata name longer than {limits.max_meta_name_length} bytes: "
                f"{_named(header)}")
        if value_size > limits.max_meta_value_length:
            raise ConstraintError(
                400, f"metadata value longer than {limits.max_meta_value_length} bytes: "
                f"{_named(header)}")
        if count > limits.max_meta_count:
            raise ConstraintError(400, f"more than {limits.max_meta_count} metadata items")
        if total > limits.max_meta_overall_size:
            raise ConstraintError(
                400, f"metadata over {limits.max_meta_overall_size} bytes in total")


def _digits_value(digits: str) -> int:
    # Absurdly long numbers saturate rather than make int() parse thousands
    # of digits: they break every limit all the same.
    significant = digits.lstrip("0") or "0"
    return int(significant) if len(significant) <= 30 else _HUGE


def _whole_number(text: str) -> int | None:
    """The value of a string of ASCII digits, or None if it is not one."""
    return _digits_value(text) if _DIGITS.fullmatch(text) else None


def _parse_integer(value: str, header: str) -> int:
    match = _INTEGER.fullmatch(value.strip())
    if match is None:
        raise ConstraintError(400, f"{header} is not an integer: {_show(value)}")
    number = _digits_value(match["digits"])
    return -number if match["sign"] == "-" else number


def check_delete_headers(
    headers: Mapping[str, str], now: float, *, replication: bool = False
) -> int | None:
    """The absolute expiry time from X-Delete-After or X-Delete-At, or None.

    ``now`` is the request's X-Timestamp. X-Delete-After (seconds from
    ``now``) wins over X-Delete-At. Both must be integers and name a time
    after ``now`` (400); the result is capped to what a timestamp can hold.
    A replication request copies an object as it is, so it may carry an
    X-Delete-At already past.
    """
    return _delete_at(_by_lower_name(headers.items()), now, replication)


def _delete_at(lowered: Mapping[str, str], now: float, replication: bool) -> int | None:
    after = lowered.get("x-delete-after")
    if after is not None:
        delete_at = min(math.floor(now) + _parse_integer(after, "X-Delete-After"), _MAX_DELETE_AT)
        if delete_at <= now:
            raise ConstraintError(400, f"X-Delete-After {_show(after)} is in the past")
        return delete_at
    at = lowered.get("x-delete-at")
    if at is None:
        return None
    delete_at = min(max(_parse_integer(at, "X-Delete-At"), 0), _MAX_DELETE_AT)
    if delete_at <= now and not replication:
        raise ConstraintError(400, f"X-Delete-At {_show(at)} is in the past")
    return delete_at


@dataclass(frozen=True)
class ObjectCreation:
    """What ``check_object_creation`` learnt: the body length and expiry."""

    content_length: int | None  # None: chunked, the length is where the chunks end
    delete_at: int | None


def _parse_content_length(value: str | int | None) -> int | None:
    if value is None:
        return None
    length = value if isinstance(value, int) else _whole_number(value.strip())
    if length is None or length < 0:
        raise ConstraintError(400, f"invalid Content-Length {_show(value)}")
    return length


def check_object_creation(
    content_length: str | int | None,
    chunked: bool,
    headers: Mapping[str, str],
    name: bytes | str,
    *,
    now: float | None = None,
    replication: bool = False,
    limits: Constraints = DEFAULT_CONSTRAINTS,
) -> ObjectCreation:
    """Refuse an object PUT that breaks a limit, in the order Swift checks.

    A malformed length is 400; one over ``max_file_size`` 413; neither a
    length nor chunked encoding 411 (with chunked encoding, the length is
    ignored: the body ends where the chunks do). Then the name, a
    Content-Type (required, as Swift's object server requires it), the
    expiry headers against ``now`` (the request's X-Timestamp, this node's
    clock if None) and the object metadata, all 400.
    """
    length = None if chunked else _parse_content_length(content_length)
    if length is not None and length > limits.max_file_size:
        raise ConstraintError(
            413, f"object of {length} bytes is over the limit of {limits.max_file_size}")
    if length is None and not chunked:
        raise ConstraintError(411, "a Content-Length or chunked Transfer-Encoding is required")
    check_object_name(name, limits=limits)
    fields = list(headers.items())
    lowered = _by_lower_name(fields)
    content_type = lowered.get("content-type")
    if content_type is None:
        raise ConstraintError(400, "no Content-Type")
    if not content_type or not _is_clean_text(content_type):
        raise ConstraintError(400, f"invalid Content-Type {_show(content_type)}")
    delete_at = _delete_at(lowered, time.time() if now is None else now, replication)
    _check_metadata_fields(fields, "object", limits)
    return ObjectCreation(length, delete_at)


def check_client_content_type(content_type: str) -> None:
    """400 for a ``swift_*`` parameter in a client's Content-Type, as in
    Swift: those are the cluster's own (``swift_bytes`` sizes a versioned
    object's link in listings) and a client could otherwise forge them."""
    for parameter in content_type.split(";")[1:]:
        if parameter.strip().lower().startswith("swift_"):
            raise ConstraintError(400, "invalid Content-Type: swift_* is not a valid "
                                       "parameter name")


def check_listing_limit(
    value: str | None, target: Literal["account", "container"],
    *, limits: Constraints = DEFAULT_CONSTRAINTS,
) -> int:
    """How many entries a listing returns for its ``limit`` parameter.

    As in Swift, a missing or non-numeric limit means the maximum, and one
    above the maximum is refused with 412.
    """
    most = limits.account_listing_limit if target == "account" else limits.container_listing_limit
    wanted = None if value is None else _whole_number(value.strip())
    if wanted is None:
        return most
    if wanted > most:
        raise ConstraintError(412, f"listing limit {_show(value)} is over the maximum of {most}")
    return wanted


def check_api_version(version: str, *, limits: Constraints = DEFAULT_CONSTRAINTS) -> str:
    """The path's API version if this cluster serves it (else 400)."""
    if version not in limits.valid_api_versions:
        raise ConstraintError(400, f"unsupported API version {_show(version)}")
    return version
