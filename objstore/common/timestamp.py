"""Timestamps: the only clock of the cluster.

Every write carries an ``X-Timestamp`` chosen by the proxy, and every
conflict (two PUTs, a PUT and a DELETE, two rows of a listing) resolves by
it, never by arrival order. So a timestamp must compare the same way on
every node and in every form it is written in.

Invariants, enforced in ``Timestamp``:

- The time is an integer count of 10 µs units (``raw``), never a float,
  so equality, ordering and hashing are exact. ``0 <= raw < 10**15``:
  the normal form always has 10 digits before the point.
- Input with more precision is rounded to the nearest 10 µs exactly as
  OpenStack Swift rounds it (``round(float(value) / 1e-5)``), so one
  string names the same timestamp on our nodes and on Swift's.
- ``offset`` (``0 <= offset < 2**64``) orders writes made at the same
  time: same time, bigger offset is newer. A later time always wins over
  any offset.
- The normal form ``"1700000000.12345"`` is what clients see; the internal
  form adds ``"_%016x"`` of the offset when there is one. Both are fixed
  width, so sorting the strings sorts the timestamps.
"""
from __future__ import annotations

import calendar
import datetime
import email.utils
import functools
import math
import re
import time
from typing import Final

_UNITS_PER_SECOND: Final = 100_000
_PRECISION: Final = 1e-5  # Swift divides by this float; see _raw_from_float
_MAX_RAW: Final = 10**10 * _UNITS_PER_SECOND  # exclusive: 10 whole-second digits
_MAX_OFFSET: Final = 2**64 - 1
_BEYOND: Final = 10**309  # more 10 µs units than any finite float holds
_EPOCH: Final = datetime.datetime(1970, 1, 1)

# A plain decimal number, optionally signed or in exponent form (which float
# parsing and so Swift accept); not "nan", "inf" or digit-group underscores.
_NUMBER: Final = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_HEX_OFFSET: Final = re.compile(r"[0-9a-fA-F]{1,16}")
_NORMAL: Final = re.compile(r"[0-9]{10}\.[0-9]{5}")  # exact in 10 us units, no float needed


class InvalidTimestamp(ValueError):
    """A value that is not a timestamp; servers answer it with 400."""


def _show(value: object) -> str:
    """The bad value for a one-line message, cut short if it is long."""
    text = repr(value)
    return text if len(text) <= 64 else text[:60] + "...'"


def _raw_from_float(value: float, shown: str) -> int:
    if math.isnan(value):
        raise InvalidTimestamp(f"timestamp {shown} is not a number")
    # Dividing by the float 1e-5 (not multiplying by 100000) rounds the
    # 6th decimal the way Swift does, ties included.
    scaled = value / _PRECISION
    if math.isinf(scaled):
        # Beyond any timestamp; keep the side so that comparisons still work.
        return _BEYOND if value > 0 else -_BEYOND
    raw = int(round(scaled))
    # A tiny negative time must stay negative to be refused, as Swift does.
    return min(raw, -1) if value < 0 else raw


def _parse_text(text: str) -> tuple[int, int]:
    """(raw, offset) of the normal, integer or internal string form."""
    if _NORMAL.fullmatch(text):  # the form every request carries: digits only
        return int(text[:10]) * _UNITS_PER_SECOND + int(text[11:16]), 0
    base, underscore, hex_offset = text.strip().partition("_")
    if not _NUMBER.fullmatch(base):
        raise InvalidTimestamp(f"timestamp {_show(text)} is not a number")
    offset = 0
    if underscore:
        if not _HEX_OFFSET.fullmatch(hex_offset):
            raise InvalidTimestamp(
                f"timestamp {_show(text)} has a malformed offset {_show(hex_offset)}")
        offset = int(hex_offset, 16)
    return _raw_from_float(float(base), _show(text)), offset


def _parse(value: object) -> tuple[int, int]:
    """(raw, offset) of any accepted value, before delta and bounds."""
    if isinstance(value, Timestamp):
        return value.raw, value.offset
    if isinstance(value, str):
        return _parse_text(value)
    # bool is an int, but True is far likelier a bug than 1970-01-01T00:00:01.
    if isinstance(value, int) and not isinstance(value, bool):
        return value * _UNITS_PER_SECOND, 0
    if isinstance(value, float):
        return _raw_from_float(value, _show(value)), 0
    raise TypeError(f"a timestamp is made from a number or a string, not {type(value).__name__}")


class Timestamp:
    """A point in cluster time: 10 µs units since the epoch plus an offset.

    ``Timestamp(value, offset=0, delta=0)`` takes a float, an int, a string
    in normal, integer or internal form, or another Timestamp (whose offset
    is kept). ``offset`` is added to any offset the value carries; ``delta``
    is a number of 10 µs units added to the time.

    Comparison with a str, float or int converts the other side first, so
    ``Timestamp(1) == "0000000001.00000" == 1.0``; hashes agree only between
    Timestamps. A value that is not a timestamp is never equal, and
    ordering against one raises TypeError.
    """

    __slots__ = ("_raw", "_offset")

    def __init__(self, value: Timestamp | float | str, offset: int = 0, delta: int = 0) -> None:
        raw, base_offset = _parse(value)
        raw += delta
        if raw < 0 or raw >= _MAX_RAW:  # the message only when needed: this is a hot path
            shown = _show(value) + (f" with delta {delta}" if delta else "")
            raise InvalidTimestamp(f"timestamp {shown} is negative" if raw < 0 else
                                   f"timestamp {shown} is too large (must be below 10000000000)")
        if offset < 0 or base_offset + offset > _MAX_OFFSET:
            raise InvalidTimestamp(
                f"timestamp offset {base_offset + offset} is out of range 0..{_MAX_OFFSET}")
        self._raw = raw
        self._offset = base_offset + offset

    @classmethod
    def now(cls, offset: int = 0, delta: int = 0) -> Timestamp:
        """This node's clock, as a timestamp."""
        return cls(time.time(), offset=offset, delta=delta)

    @property
    def raw(self) -> int:
        """The time in 10 µs units since the epoch."""
        return self._raw

    @property
    def offset(self) -> int:
        """The tie-breaker between writes made at the same time."""
        return self._offset

    @property
    def normal(self) -> str:
        """``"1700000000.12345"``: the form clients send and see."""
        seconds, units = divmod(self._raw, _UNITS_PER_SECOND)
        return f"{seconds:010d}.{units:05d}"

    @property
    def internal(self) -> str:
        """The normal form, plus ``_`` and 16 hex digits of a nonzero offset."""
        if self._offset:
            return f"{self.normal}_{self._offset:016x}"
        return self.normal

    @property
    def isoformat(self) -> str:
        """``"2023-11-14T22:13:20.123450"``: UTC, always with microseconds."""
        seconds, units = divmod(self._raw, _UNITS_PER_SECOND)
        moment = _EPOCH + datetime.timedelta(seconds=seconds, microseconds=units * 10)
        return moment.isoformat(timespec="microseconds")

    @property
    def http_date(self) -> str:
        """Last-Modified as an IMF-fixdate, rounded up to the whole second.

        Rounding up (as Swift does) means a client that sends back the date
        it was shown in If-Modified-Since gets a 304, not the object again.
        """
        return format_http_date(int(self.ceil()))

    def ceil(self) -> float:
        """The time rounded up to a whole second (unchanged if it is one)."""
        return float(-(-self._raw // _UNITS_PER_SECOND))

    def __float__(self) -> float:
        return self._raw / _UNITS_PER_SECOND

    def __str__(self) -> str:
        return self.internal

    def __repr__(self) -> str:
        return f"Timestamp({self.internal!r})"

    def _key(self) -> tuple[int, int]:
        return self._raw, self._offset

    @staticmethod
    def _other_key(other: object) -> tuple[int, int] | None:
        # No bounds here: any number compares, even one that is no timestamp.
        try:
            return _parse(other)
        except (InvalidTimestamp, TypeError):
            return None

    def __hash__(self) -> int:
        return hash(self._key())

    def __eq__(self, other: object) -> bool:
        key = self._other_key(other)
        if key is None:
            return NotImplemented
        return self._key() == key

    def __lt__(self, other: object) -> bool:
        key = self._other_key(other)
        if key is None:
            return NotImplemented
        return self._key() < key

    def __le__(self, other: object) -> bool:
        key = self._other_key(other)
        if key is None:
            return NotImplemented
        return self._key() <= key

    def __gt__(self, other: object) -> bool:
        key = self._other_key(other)
        if key is None:
            return NotImplemented
        return self._key() > key

    def __ge__(self, other: object) -> bool:
        key = self._other_key(other)
        if key is None:
            return NotImplemented
        return self._key() >= key


# HTTP dates (RFC 7231 section 7.1.1.1): one preferred form, two obsolete
# ones that a recipient must still accept.
_MONTHS: Final = ("jan", "feb", "mar", "apr", "may", "jun",
                  "jul", "aug", "sep", "oct", "nov", "dec")
_DAY: Final = r"(?:mon|tue|wed|thu|fri|sat|sun)"
_LONG_DAY: Final = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_MONTH: Final = r"(?P<month>" + "|".join(_MONTHS) + ")"
_TIME: Final = r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
_HTTP_DATE_FORMS: Final = tuple(re.compile(form, re.IGNORECASE) for form in (
    # IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
    _DAY + r", (?P<day>[0-9]{1,2}) " + _MONTH + r" (?P<year>[0-9]{4}) " + _TIME + " GMT",
    # RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
    _LONG_DAY + r", (?P<day>[0-9]{2})-" + _MONTH + r"-(?P<year>[0-9]{2}) " + _TIME + " GMT",
    # asctime: Sun Nov  6 08:49:37 1994
    _DAY + " " + _MONTH + r" (?P<day> ?[0-9]{1,2}) " + _TIME + r" (?P<year>[0-9]{4})",
))


def _full_year(two_digits: int, this_year: int) -> int:
    # RFC 7231: a two-digit year more than 50 years ahead is in the past.
    year = this_year - this_year % 100 + two_digits
    return year - 100 if year > this_year + 50 else year


def _match_http_date(text: str) -> re.Match[str] | None:
    for form in _HTTP_DATE_FORMS:
        match = form.fullmatch(text)
        if match:
            return match
    return None


def parse_http_date(text: str) -> Timestamp | None:
    """The whole-second Timestamp of an HTTP date, or None if it is not one.

    Accepts IMF-fixdate, RFC 850 and asctime forms. HTTP says to ignore an
    invalid date in If-Modified-Since and its kin, so a date that does not
    parse, does not exist (30 Feb) or lies outside the timestamp range
    (before 1970, from 2286 on) gives None rather than an error.
    """
    if not text:  # no such header: the usual case, no pattern to try
        return None
    match = _match_http_date(text.strip())
    if match is None:
        return None
    year = int(match["year"])
    if len(match["year"]) == 2:
        year = _full_year(year, time.gmtime().tm_year)
    try:
        moment = datetime.datetime(
            year, _MONTHS.index(match["month"].lower()) + 1, int(match["day"]),
            int(match["hour"]), int(match["minute"]), int(match["second"]))
        return Timestamp(calendar.timegm(moment.timetuple()))
    except ValueError:  # no such day or time, or an InvalidTimestamp
        return None


@functools.lru_cache(maxsize=1024)
def format_http_date(seconds: int) -> str:
    """An IMF-fixdate (``Tue, 24 Nov 2026 21:17:00 GMT``); remembered, since
    formatting costs ~10 us and a busy second asks for the same one often."""
    return email.utils.formatdate(seconds, usegmt=True)
