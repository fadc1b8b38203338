"""Timestamp reads, writes, rounds and orders times as Swift clients and servers do."""
from __future__ import annotations

import time
from typing import Any

import pytest

from objstore.common.timestamp import InvalidTimestamp, Timestamp, parse_http_date

NOV_14_2023 = 1700000000  # Tue, 14 Nov 2023 22:13:20 GMT


# --- forms -----------------------------------------------------------------


@pytest.mark.parametrize(("value", "normal"), [
    (0, "0000000000.00000"),
    (1, "0000000001.00000"),
    (1.5, "0000000001.50000"),
    ("1", "0000000001.00000"),
    ("0000000001.00000", "0000000001.00000"),
    ("1700000000.12345", "1700000000.12345"),
    ("1700000000.1", "1700000000.10000"),
    (".5", "0000000000.50000"),
    ("1.7e9", "1700000000.00000"),
    (9999999999.99999, "9999999999.99999"),
])
def test_normal_form_is_ten_digits_point_five(value: Any, normal: str) -> None:
    assert Timestamp(value).normal == normal


def test_internal_form_adds_the_offset_only_when_there_is_one() -> None:
    assert Timestamp(1).internal == "0000000001.00000"
    assert Timestamp(1, offset=10).internal == "0000000001.00000_000000000000000a"
    assert Timestamp(1, offset=2**64 - 1).internal == "0000000001.00000_ffffffffffffffff"
    assert Timestamp(1, offset=10).normal == "0000000001.00000"


def test_internal_string_is_read_back() -> None:
    stamp = Timestamp("1700000000.12345_000000000000000a")
    assert (stamp.raw, stamp.offset) == (170000000012345, 10)
    assert Timestamp("1.0_FF").offset == 255  # Swift reads any 1..16 hex digits
    # So, as in Swift, digit grouping is no thousands separator here:
    assert Timestamp("1_000") == Timestamp(1)


def test_str_is_internal_and_repr_rebuilds_it() -> None:
    stamp = Timestamp(NOV_14_2023, offset=3)
    assert str(stamp) == stamp.internal == "1700000000.00000_0000000000000003"
    assert repr(stamp) == "Timestamp('1700000000.00000_0000000000000003')"
    assert eval(repr(stamp), {"Timestamp": Timestamp}) == stamp


def test_raw_counts_ten_microsecond_units_and_float_is_seconds() -> None:
    stamp = Timestamp("1700000000.12345")
    assert stamp.raw == 170000000012345
    assert isinstance(stamp.raw, int)
    assert float(stamp) == 1700000000.12345
    assert stamp.offset == 0


@pytest.mark.parametrize("form", ["normal", "internal"])
@pytest.mark.parametrize("offset", [0, 1, 0xABC])
def test_string_forms_round_trip(form: str, offset: int) -> None:
    stamp = Timestamp("1700000000.12345", offset=offset)
    again = Timestamp(getattr(stamp, form))
    assert again.raw == stamp.raw
    assert again.offset == (offset if form == "internal" else 0)
    assert getattr(again, form) == getattr(stamp, form)


def test_a_timestamp_keeps_its_offset_and_adds_more() -> None:
    base = Timestamp(NOV_14_2023, offset=2)
    assert Timestamp(base) == base
    assert Timestamp(base, offset=3).offset == 5
    assert Timestamp("1.0_0000000000000002", offset=3).offset == 5


def test_delta_moves_the_time_in_ten_microsecond_units() -> None:
    assert Timestamp(1, delta=1).normal == "0000000001.00001"
    assert Timestamp(1, delta=-1).normal == "0000000000.99999"
    assert Timestamp(Timestamp(1, offset=4), delta=100000).internal == (
        "0000000002.00000_0000000000000004")


@pytest.mark.parametrize(("value", "iso"), [
    (0, "1970-01-01T00:00:00.000000"),
    (NOV_14_2023, "2023-11-14T22:13:20.000000"),
    ("1700000000.12345", "2023-11-14T22:13:20.123450"),
    ("1700000000.00001", "2023-11-14T22:13:20.000010"),
    ("9999999999.99999", "2286-11-20T17:46:39.999990"),
])
def test_isoformat_is_utc_with_microseconds(value: Any, iso: str) -> None:
    assert Timestamp(value).isoformat == iso


def test_now_reads_this_nodes_clock() -> None:
    before = time.time()
    stamp = Timestamp.now(offset=7)
    after = time.time()
    assert before - 0.00001 <= float(stamp) <= after + 0.00001
    assert stamp.offset == 7


# --- precision -------------------------------------------------------------


@pytest.mark.parametrize(("value", "normal"), [
    ("1.000004", "0000000001.00000"),
    ("1.000006", "0000000001.00001"),
    ("1.0000149", "0000000001.00001"),
    ("1.0000151", "0000000001.00002"),
    (1.000004, "0000000001.00000"),
    (1.000006, "0000000001.00001"),
    ("1700000000.1234549", "1700000000.12345"),
    ("1700000000.1234551", "1700000000.12346"),
    ("9999999999.999994", "9999999999.99999"),
])
def test_the_sixth_decimal_rounds_to_the_nearest_ten_microseconds(
        value: Any, normal: str) -> None:
    assert Timestamp(value).normal == normal


# An exact tie at the 6th decimal is decided by the binary float nearest
# the input, as in Swift (which computes round(float(value) / 1e-5)), not by
# the decimal digits: "1.000005" rounds down but "1.000015" rounds up. One
# string must name the same timestamp on our nodes and on Swift's.
@pytest.mark.parametrize("text", [
    "1.000005", "1.000015", "1.000025", "1700000000.123455", "1700000000.000005",
    "0.000005", "123.456785", "9999999999.999985",
])
def test_ties_at_the_sixth_decimal_round_as_swift_does(text: str) -> None:
    assert Timestamp(text).raw == round(float(text) / 1e-5)


def test_ties_examples() -> None:
    assert Timestamp("1.000005").normal == "0000000001.00000"
    assert Timestamp("1.000015").normal == "0000000001.00002"


def test_equal_times_are_equal_however_they_were_computed() -> None:
    assert Timestamp(0.1 + 0.2) == Timestamp(0.3)
    assert Timestamp(0.1 + 0.2).normal == "0000000000.30000"
    assert hash(Timestamp(0.1 + 0.2)) == hash(Timestamp("0.3"))


# --- equality, hashing, ordering -------------------------------------------


def test_equal_values_in_any_form_are_equal_and_hash_alike() -> None:
    forms = [Timestamp(1), Timestamp(1.0), Timestamp("1"), Timestamp("0000000001.00000"),
             Timestamp("1.000001"), Timestamp("1.0_0")]
    assert all(stamp == forms[0] for stamp in forms)
    assert len({hash(stamp) for stamp in forms}) == 1
    assert len(set(forms)) == 1


def test_offset_makes_a_different_timestamp() -> None:
    assert Timestamp(1) != Timestamp(1, offset=1)
    assert len({Timestamp(1), Timestamp(1, offset=1)}) == 2


def test_compares_with_str_float_and_int_by_converting_them() -> None:
    stamp = Timestamp(1)
    assert stamp == 1
    assert stamp == 1.0
    assert stamp == 1.000001  # rounds to the same 10 µs
    assert stamp == "1"
    assert stamp == "0000000001.00000"
    assert stamp != "0000000001.00000_0000000000000001"
    assert stamp < "0000000001.00000_0000000000000001"
    assert stamp < 1.00001
    assert stamp > "0.99999"
    assert stamp <= 1 and stamp >= 1
    assert Timestamp(1, offset=1) == "0000000001.00000_0000000000000001"


def test_compares_with_numbers_outside_the_timestamp_range() -> None:
    stamp = Timestamp(9999999999.99999)
    assert stamp < 10**10
    assert stamp < float("inf")
    assert Timestamp(0) > -1
    assert Timestamp(0) > -0.000001
    assert Timestamp(0) > float("-inf")


def test_a_later_time_beats_any_offset() -> None:
    assert Timestamp(1, delta=1) > Timestamp(1, offset=2**64 - 1)


def test_same_time_bigger_offset_is_newer() -> None:
    assert Timestamp(1, offset=2) > Timestamp(1, offset=1) > Timestamp(1)
    assert Timestamp(1) < Timestamp(1, offset=1)
    assert Timestamp(1, offset=1) >= Timestamp(1, offset=1)
    assert Timestamp(1, offset=1) <= Timestamp(1, offset=1)


def test_sorting_internal_strings_sorts_timestamps() -> None:
    stamps = [Timestamp(2), Timestamp(1, offset=16), Timestamp(10), Timestamp(1, offset=2),
              Timestamp(1), Timestamp("1.00001"), Timestamp(0)]
    assert sorted(s.internal for s in stamps) == [s.internal for s in sorted(stamps)]
    assert sorted(stamps)[:4] == [Timestamp(0), Timestamp(1), Timestamp(1, offset=2),
                                  Timestamp(1, offset=16)]


@pytest.mark.parametrize("other", ["garbage", None, [1], b"1", True])
def test_what_is_no_timestamp_is_never_equal(other: Any) -> None:
    assert Timestamp(1) != other
    assert not Timestamp(1) == other


@pytest.mark.parametrize("other", ["garbage", None, [1]])
def test_ordering_against_what_is_no_timestamp_is_a_type_error(other: Any) -> None:
    with pytest.raises(TypeError):
        Timestamp(1) < other  # noqa: B015
    with pytest.raises(TypeError):
        Timestamp(1) >= other  # noqa: B015


# --- ceil and http_date ----------------------------------------------------


@pytest.mark.parametrize(("value", "ceiling"), [
    (0, 0.0),
    (1, 1.0),
    ("1.00001", 2.0),
    ("1699999999.99999", 1700000000.0),
    ("1700000000.12345", 1700000001.0),
    ("9999999999.99999", 10000000000.0),
])
def test_ceil_rounds_up_to_a_whole_second(value: Any, ceiling: float) -> None:
    result = Timestamp(value).ceil()
    assert isinstance(result, float)
    assert result == ceiling


@pytest.mark.parametrize(("value", "date"), [
    (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
    (NOV_14_2023, "Tue, 14 Nov 2023 22:13:20 GMT"),
    ("1700000000.00001", "Tue, 14 Nov 2023 22:13:21 GMT"),
    ("1700000000.12345", "Tue, 14 Nov 2023 22:13:21 GMT"),
    ("1700000000.99999", "Tue, 14 Nov 2023 22:13:21 GMT"),
])
def test_http_date_is_imf_fixdate_rounded_up(value: Any, date: str) -> None:
    assert Timestamp(value).http_date == date


def test_the_http_date_shown_is_never_before_the_change() -> None:
    # A client echoing Last-Modified in If-Modified-Since must get a 304.
    stamp = Timestamp("1700000000.12345", offset=5)
    shown = parse_http_date(stamp.http_date)
    assert shown is not None
    assert float(shown) >= float(stamp)
    assert float(shown) == stamp.ceil()


# --- bad input -------------------------------------------------------------


@pytest.mark.parametrize(("value", "kwargs", "message"), [
    (-1, {}, "timestamp -1 is negative"),
    (-0.000001, {}, "timestamp -1e-06 is negative"),
    ("-0.000001", {}, "timestamp '-0.000001' is negative"),
    ("-5", {}, "timestamp '-5' is negative"),
    (1, {"delta": -100001}, "timestamp 1 with delta -100001 is negative"),
    (10**10, {}, "timestamp 10000000000 is too large"),
    (1e10, {}, "timestamp 10000000000.0 is too large"),
    ("10000000000", {}, "timestamp '10000000000' is too large"),
    ("9999999999.999995", {"delta": 1}, "is too large"),
    (9999999999.99999, {"delta": 1}, "with delta 1 is too large"),
    ("1" * 400, {}, "is too large"),
    (float("inf"), {}, "timestamp inf is too large"),
    (float("-inf"), {}, "timestamp -inf is negative"),
    (float("nan"), {}, "timestamp nan is not a number"),
    ("nan", {}, "timestamp 'nan' is not a number"),
    ("inf", {}, "timestamp 'inf' is not a number"),
    ("", {}, "timestamp '' is not a number"),
    ("abc", {}, "timestamp 'abc' is not a number"),
    ("1.2.3", {}, "timestamp '1.2.3' is not a number"),
    ("0x10", {}, "timestamp '0x10' is not a number"),
    ("1.0_", {}, "timestamp '1.0_' has a malformed offset ''"),
    ("1.0_zz", {}, "timestamp '1.0_zz' has a malformed offset 'zz'"),
    ("1.0_1_2", {}, "has a malformed offset '1_2'"),
    ("1.0_-1", {}, "has a malformed offset '-1'"),
    ("1.0_00000000000000001", {}, "has a malformed offset '00000000000000001'"),
    ("x_0000000000000001", {}, "timestamp 'x_0000000000000001' is not a number"),
    (1, {"offset": -1}, "timestamp offset -1 is out of range 0..18446744073709551615"),
    (1, {"offset": 2**64}, "timestamp offset 18446744073709551616 is out of range"),
    ("1.0_ffffffffffffffff", {"offset": 1}, "timestamp offset 18446744073709551616 is out"),
])
def test_bad_input_is_refused_with_a_message_naming_it(
        value: Any, kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(InvalidTimestamp) as caught:
        Timestamp(value, **kwargs)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)  # servers turn it into 400


def test_messages_stay_on_one_line_and_short() -> None:
    with pytest.raises(InvalidTimestamp) as caught:
        Timestamp("12\nX-Injected: yes" + "z" * 1000)
    message = str(caught.value)
    assert "\n" not in message
    assert len(message) < 120


def test_the_edges_of_the_range_are_timestamps() -> None:
    assert Timestamp(0).raw == 0
    assert Timestamp("9999999999.99999").raw == 10**15 - 1
    assert Timestamp(-0.0).raw == 0
    assert Timestamp(1, delta=-100000).raw == 0
    assert Timestamp(1, offset=2**64 - 1).offset == 2**64 - 1


@pytest.mark.parametrize("value", [None, True, [1], b"1", object()])
def test_values_of_other_types_are_a_type_error(value: Any) -> None:
    with pytest.raises(TypeError, match="from a number or a string"):
        Timestamp(value)


def test_surrounding_whitespace_is_ignored() -> None:
    assert Timestamp(" 1700000000.12345 ") == Timestamp("1700000000.12345")


def test_timestamps_are_read_only() -> None:
    stamp = Timestamp(1)
    with pytest.raises(AttributeError):
        stamp.raw = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        stamp.extra = 5  # type: ignore[attr-defined]


# --- parse_http_date -------------------------------------------------------


@pytest.mark.parametrize("text", [
    "Tue, 14 Nov 2023 22:13:20 GMT",       # IMF-fixdate
    "Tuesday, 14-Nov-23 22:13:20 GMT",     # RFC 850
    "Tue Nov 14 22:13:20 2023",            # asctime
    "  Tue, 14 Nov 2023 22:13:20 GMT  ",
    "tue, 14 nov 2023 22:13:20 gmt",
])
def test_parse_http_date_reads_the_three_forms(text: str) -> None:
    assert parse_http_date(text) == Timestamp(NOV_14_2023)


def test_parse_http_date_asctime_pads_the_day_with_a_space() -> None:
    assert parse_http_date("Sun Nov  6 08:49:37 1994") == Timestamp(784111777)
    assert parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == Timestamp(784111777)
    assert parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == Timestamp(784111777)


def test_two_digit_years_more_than_fifty_years_ahead_are_in_the_past(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "gmtime",
                        lambda *_: time.struct_time((2030, 6, 1, 0, 0, 0, 5, 152, 0)))
    assert parse_http_date("Monday, 01-Jan-80 00:00:00 GMT") == parse_http_date(
        "Mon, 01 Jan 2080 00:00:00 GMT")
    assert parse_http_date("Wednesday, 01-Jan-81 00:00:00 GMT") == parse_http_date(
        "Thu, 01 Jan 1981 00:00:00 GMT")
    assert parse_http_date("Saturday, 01-Jan-00 00:00:00 GMT") == Timestamp(946684800)


def test_parse_http_date_gives_whole_seconds() -> None:
    parsed = parse_http_date("Thu, 01 Jan 1970 00:00:01 GMT")
    assert parsed is not None
    assert parsed.raw == 100000
    assert parsed.offset == 0


@pytest.mark.parametrize("text", [
    "",
    "garbage",
    "1700000000",
    "Tue, 14 Nov 2023 22:13:20",           # no zone
    "Tue, 14 Nov 2023 22:13:20 +0100",     # HTTP dates are GMT
    "Tue, 14 Nov 2023 22:13 GMT",
    "Tue, 14 Foo 2023 22:13:20 GMT",
    "Tue, 30 Feb 2023 22:13:20 GMT",       # no such day
    "Tue, 14 Nov 2023 24:00:00 GMT",       # no such hour
    "Tue, 14 Nov 2023 22:60:00 GMT",
    "Tue, 14 Nov 2023 22:13:61 GMT",
    "Tue, 14 Nov 1969 22:13:20 GMT",       # before the epoch
    "Sun, 01 Jan 2290 00:00:00 GMT",       # beyond any timestamp
    "Tue 14 Nov 2023 22:13:20 GMT",
    "2023-11-14T22:13:20Z",
])
def test_parse_http_date_ignores_what_is_not_a_valid_date(text: str) -> None:
    assert parse_http_date(text) is None


def test_the_normal_form_reads_exactly_as_its_float_would() -> None:
    """Normal-form strings skip float parsing; the result must not differ."""
    import random

    from objstore.common.timestamp import _raw_from_float

    rng = random.Random(4)
    texts = ["0000000000.00000", "9999999999.99999", "1700000000.12345", "0000000001.00001"]
    texts += ["%010d.%05d" % (rng.randrange(10**10), rng.randrange(10**5)) for _ in range(2000)]
    for text in texts:
        assert Timestamp(text).raw == _raw_from_float(float(text), text), text
        assert Timestamp(text).normal == text
