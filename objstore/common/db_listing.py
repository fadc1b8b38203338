"""Swift's listing walk over a table ordered by name: the rules for
``marker``, ``end_marker``, ``prefix``, ``delimiter``, ``path``, ``reverse``
and ``limit``, kept apart from SQL so that both brokers share them.

Semantics (those of Swift's container and account listings):

- ``marker`` and ``end_marker`` are exclusive bounds: names above
  ``marker`` and below ``end_marker``. With ``reverse`` the listing runs
  downwards and the two swap roles: names below ``marker``, above
  ``end_marker``.
- ``prefix`` keeps names that start with it.
- ``delimiter`` rolls every name with the delimiter somewhere after the
  prefix up into one ``Subdir``: the name up to and including that
  delimiter, listed once. A subdir equal to the lower marker (``marker``,
  or ``end_marker`` when reversed) is not listed: the previous page ended
  on it.
- ``path`` is ``prefix = path.rstrip("/") + "/"`` with delimiter ``"/"``,
  except that deeper names are left out instead of rolled up, and the
  directory marker object named exactly ``path`` is left out. (Swift
  drops a direct child named ``<path>sub/`` from reverse path listings
  only; here it is listed both ways.)
- Names order as their UTF-8 bytes. SQLite's default (BINARY) collation
  compares UTF-8 text with memcmp, and Python compares str by code point,
  which is the same order.

Invariant: the walk never reads the rows it does not return. After a
rolled-up subdir it asks ``fetch`` for a new indexed range starting past
everything under the subdir, so a page costs one index seek per subdir
plus the rows returned, however many names each subdir holds.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Final

Row = tuple[Any, ...]
_LAST_CHAR: Final = 0x10FFFF
_SURROGATES: Final = (0xD800, 0xDFFF)  # not encodable in UTF-8: jump over them


@dataclass(frozen=True)
class Bounds:
    """The names still to list: above ``low``, below ``high``; either
    end may be open (None) or inclusive."""

    low: str | None = None
    low_inclusive: bool = False
    high: str | None = None
    high_inclusive: bool = False


@dataclass(frozen=True)
class Subdir:
    """A rolled-up pseudo-directory in a delimited listing."""

    name: str


Fetch = Callable[[Bounds, bool, int], Iterable[Row]]
"""``fetch(bounds, reverse, limit)``: live rows within ``bounds``, name
first, in name order (descending if ``reverse``), at most ``limit``; read
lazily, since the walk may stop early."""


def prefix_end(prefix: str) -> str | None:
    """The smallest string above every string that starts with ``prefix``;
    None if there is none (the prefix is all U+10FFFF, or empty)."""
    stem = prefix.rstrip(chr(_LAST_CHAR))
    if not stem:
        return None
    code = ord(stem[-1]) + 1
    if _SURROGATES[0] <= code <= _SURROGATES[1]:
        code = _SURROGATES[1] + 1
    return stem[:-1] + chr(code)


def _tighter_low(bounds: Bounds, value: str, inclusive: bool) -> Bounds:
    if bounds.low is None or value > bounds.low or (value == bounds.low and not inclusive):
        return replace(bounds, low=value, low_inclusive=inclusive)
    return bounds


def _tighter_high(bounds: Bounds, value: str, inclusive: bool) -> Bounds:
    if bounds.high is None or value < bounds.high or (value == bounds.high and not inclusive):
        return replace(bounds, high=value, high_inclusive=inclusive)
    return bounds


def initial_bounds(marker: str, end_marker: str, prefix: str, reverse: bool) -> Bounds:
    """The range a listing starts from."""
    lower, upper = (end_marker, marker) if reverse else (marker, end_marker)
    bounds = Bounds()
    if lower:
        bounds = _tighter_low(bounds, lower, inclusive=False)
    if upper:
        bounds = _tighter_high(bounds, upper, inclusive=False)
    if prefix:
        bounds = _tighter_low(bounds, prefix, inclusive=True)
        end = prefix_end(prefix)
        if end is not None:
            bounds = _tighter_high(bounds, end, inclusive=False)
    return bounds


def _past_group(bounds: Bounds, group: str, reverse: bool,
                keep_group_name: bool) -> Bounds | None:
    """``bounds`` moved past every name that starts with ``group``; None
    if nothing is left. Going down, the name ``group`` itself is the last
    one under it; ``keep_group_name`` leaves it in range (path listings
    list it)."""
    if reverse:
        return replace(bounds, high=group, high_inclusive=keep_group_name)
    end = prefix_end(group)
    return None if end is None else replace(bounds, low=end, low_inclusive=True)


def _is_empty(bounds: Bounds) -> bool:
    if bounds.low is None or bounds.high is None or bounds.low < bounds.high:
        return False
    return not (bounds.low == bounds.high and bounds.low_inclusive and bounds.high_inclusive)


def walk(fetch: Fetch, *, limit: int, marker: str = "", end_marker: str = "",
         prefix: str = "", delimiter: str = "", reverse: bool = False,
         path: str | None = None) -> list[Row | Subdir]:
    """One page of a listing: rows as ``fetch`` gives them, and subdirs."""
    if path is not None:
        prefix = path.rstrip("/") + "/" if path else ""
        delimiter = "/"
    lower_marker = end_marker if reverse else marker
    bounds = initial_bounds(marker, end_marker, prefix, reverse)
    results: list[Row | Subdir] = []
    while len(results) < limit and not _is_empty(bounds):
        moved_to = _walk_range(fetch, bounds, results, limit, prefix, delimiter, reverse,
                               path is not None, lower_marker)
        if moved_to is None:
            break
        bounds = moved_to
    return results


def _walk_range(fetch: Fetch, bounds: Bounds, results: list[Row | Subdir], limit: int,
                prefix: str, delimiter: str, reverse: bool, by_path: bool,
                lower_marker: str) -> Bounds | None:
    """Append from one fetched range; the next range to read after a
    subdir, or None when the range ran out or the page is full."""
    rows = fetch(bounds, reverse, limit - len(results))
    if not delimiter:  # nothing to roll up: the range is the page
        results.extend(rows)
        return None
    for row in rows:
        name: str = row[0]
        if by_path and name == prefix:
            continue  # the directory marker of the path itself
        cut = name.find(delimiter, len(prefix))
        if cut >= 0:
            group = name[:cut + len(delimiter)]
            if not by_path:
                if group != lower_marker:
                    results.append(Subdir(group))
                return _past_group(bounds, group, reverse, keep_group_name=False)
            if len(name) > len(group):
                return _past_group(bounds, group, reverse, keep_group_name=True)
        results.append(row)
        if len(results) >= limit:
            return None
    return None
