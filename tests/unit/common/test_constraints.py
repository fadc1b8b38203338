"""Every API limit holds exactly at Swift's boundary and answers Swift's status."""
from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from objstore.common.constraints import (
    DEFAULT_CONSTRAINTS,
    ConstraintError,
    Constraints,
    ObjectCreation,
    check_account_name,
    check_api_version,
    check_client_content_type,
    check_container_name,
    check_delete_headers,
    check_listing_limit,
    check_metadata,
    check_object_creation,
    check_object_name,
    check_path_segment,
    check_utf8,
)

NOW = 1700000000.5
TWO_BYTES = "\u00e9"  # é: one character, two bytes of UTF-8
ESCAPED_BYTE = "\udcff"  # an undecodable byte carried by surrogateescape


def status_of(call: Any, *args: Any, **kwargs: Any) -> int:
    """The status of the ConstraintError that ``call`` must raise."""
    with pytest.raises(ConstraintError) as caught:
        call(*args, **kwargs)
    return caught.value.status


# --- the limits ------------------------------------------------------------


def test_defaults_are_swifts() -> None:
    assert dataclasses.asdict(DEFAULT_CONSTRAINTS) == {
        "max_file_size": 5 * 2**30 + 2,
        "max_meta_name_length": 128,
        "max_meta_value_length": 256,
        "max_meta_count": 90,
        "max_meta_overall_size": 4096,
        "max_header_size": 8192,
        "max_header_count": 90 + 36,
        "max_object_name_length": 1024,
        "container_listing_limit": 10000,
        "account_listing_limit": 10000,
        "max_account_name_length": 256,
        "max_container_name_length": 256,
        "valid_api_versions": ("v1", "v1.0"),
    }


def test_limits_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_CONSTRAINTS.max_file_size = 1  # type: ignore[misc]


@pytest.mark.parametrize(("changes", "message"), [
    ({"max_file_size": 0}, "max_file_size must be positive, not 0"),
    ({"max_meta_count": -1}, "max_meta_count must be positive"),
    ({"max_header_count": 90}, "max_header_count 90 leaves no room beyond max_meta_count 90"),
    ({"valid_api_versions": ()}, "valid_api_versions cannot be empty"),
])
def test_nonsense_limits_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Constraints(**changes)


def test_constraint_error_carries_status_and_reason() -> None:
    error = ConstraintError(413, "too big")
    assert (error.status, error.reason, str(error)) == (413, "too big", "too big")


# --- UTF-8 -----------------------------------------------------------------


@pytest.mark.parametrize(("name", "text"), [
    (b"plain", "plain"),
    ("plain", "plain"),
    ("\u00fcn\u00efcode \U0001f954".encode(), "\u00fcn\u00efcode \U0001f954"),
    ("\u00fcn\u00efcode \U0001f954", "\u00fcn\u00efcode \U0001f954"),
    (b"", ""),
])
def test_valid_utf8_becomes_str(name: bytes | str, text: str) -> None:
    assert check_utf8(name) == text


@pytest.mark.parametrize("name", [
    b"\xff",
    b"caf\xe9",              # Latin-1, not UTF-8
    b"\xc0\xaf",             # overlong "/"
    b"\xed\xa0\x80",         # an encoded surrogate
    b"a\x00b",
    "a\x00b",
    "\ud800",                # a lone surrogate
    ESCAPED_BYTE,
])
def test_invalid_utf8_or_nul_is_412(name: bytes | str) -> None:
    with pytest.raises(ConstraintError, match="^path is not valid UTF-8") as caught:
        check_utf8(name)
    assert caught.value.status == 412


def test_utf8_reason_names_what_was_checked() -> None:
    with pytest.raises(ConstraintError, match="^object name is not valid UTF-8"):
        check_utf8(b"\xff", "object name")


# --- names -----------------------------------------------------------------


NAME_CHECKS = [
    (check_account_name, "account", 256),
    (check_container_name, "container", 256),
    (check_object_name, "object", 1024),
]


@pytest.mark.parametrize(("check", "kind", "limit"), NAME_CHECKS)
def test_a_name_at_the_limit_passes_and_one_byte_more_is_400(
        check: Any, kind: str, limit: int) -> None:
    assert check("n" * limit) == "n" * limit
    with pytest.raises(ConstraintError) as caught:
        check("n" * (limit + 1))
    assert caught.value.status == 400
    assert caught.value.reason == (
        f"{kind} name length of {limit + 1} bytes is over the limit of {limit}")


@pytest.mark.parametrize(("check", "kind", "limit"), NAME_CHECKS)
def test_names_are_measured_in_utf8_bytes(check: Any, kind: str, limit: int) -> None:
    at_limit = TWO_BYTES * (limit // 2)
    assert check(at_limit) == at_limit
    assert check(at_limit.encode()) == at_limit
    with pytest.raises(ConstraintError, match=f"length of {limit + 1} bytes"):
        check(at_limit + "n")


@pytest.mark.parametrize(("check", "kind", "limit"), NAME_CHECKS)
def test_empty_names_are_400(check: Any, kind: str, limit: int) -> None:
    with pytest.raises(ConstraintError, match=f"^{kind} name is empty$") as caught:
        check("")
    assert caught.value.status == 400


@pytest.mark.parametrize(("check", "kind", "limit"), NAME_CHECKS)
def test_names_that_are_not_utf8_are_412(check: Any, kind: str, limit: int) -> None:
    assert status_of(check, b"\xff") == 412
    assert status_of(check, "a\x00") == 412


@pytest.mark.parametrize("check", [check_account_name, check_container_name])
def test_account_and_container_names_cannot_hold_a_slash(check: Any) -> None:
    with pytest.raises(ConstraintError, match="name 'a/b' contains '/'") as caught:
        check("a/b")
    assert caught.value.status == 400


def test_object_names_can_hold_slashes() -> None:
    assert check_object_name("photos/2023/cat.jpg") == "photos/2023/cat.jpg"
    assert check_object_name("/") == "/"


def test_name_limits_come_from_the_constraints() -> None:
    small = Constraints(max_account_name_length=3, max_container_name_length=4,
                        max_object_name_length=5)
    assert check_account_name("aaa", limits=small) == "aaa"
    assert status_of(check_account_name, "aaaa", limits=small) == 400
    assert check_container_name("cccc", limits=small) == "cccc"
    assert status_of(check_container_name, "ccccc", limits=small) == 400
    assert check_object_name("ooooo", limits=small) == "ooooo"
    assert status_of(check_object_name, "oooooo", limits=small) == 400


@pytest.mark.parametrize("segment", ["a", "...", ".hidden", "a..b", "AUTH_test"])
def test_ordinary_path_segments_pass(segment: str) -> None:
    assert check_path_segment(segment) == segment


@pytest.mark.parametrize("segment", [".", "..", "", "a/b", "../etc", "a\x00"])
def test_path_segments_that_could_escape_are_400(segment: str) -> None:
    with pytest.raises(ConstraintError, match="^path segment .* is not allowed$") as caught:
        check_path_segment(segment)
    assert caught.value.status == 400


# --- metadata --------------------------------------------------------------


def meta(target: str, items: dict[str, str]) -> dict[str, str]:
    return {f"X-{target.title()}-Meta-{name}": value for name, value in items.items()}


TARGETS = ["account", "container", "object"]


@pytest.mark.parametrize("target", TARGETS)
def test_metadata_within_limits_passes(target: Any) -> None:
    check_metadata({"Content-Type": "text/plain", **meta(target, {"Color": "blue"})}, target)


@pytest.mark.parametrize("target", TARGETS)
def test_only_the_targets_own_prefix_counts(target: Any) -> None:
    others = [t for t in TARGETS if t != target]
    too_long = {f"X-{other}-Meta-Name": "v" * 300 for other in others}
    check_metadata({**too_long, "X-Meta-Name": "v" * 300}, target)


@pytest.mark.parametrize("header", ["x-object-meta-", "X-OBJECT-META-", "X-Object-Meta-"])
def test_the_prefix_matches_in_any_case(header: str) -> None:
    with pytest.raises(ConstraintError, match="metadata value longer than 256 bytes"):
        check_metadata({header + "Name": "v" * 257}, "object")


@pytest.mark.parametrize("target", TARGETS)
def test_empty_metadata_name_is_400(target: Any) -> None:
    header = f"X-{target.title()}-Meta-"
    with pytest.raises(ConstraintError, match=f"^metadata name is empty: {header}$") as caught:
        check_metadata({header: "value"}, target)
    assert caught.value.status == 400


@pytest.mark.parametrize("target", TARGETS)
def test_metadata_name_length_boundary(target: Any) -> None:
    check_metadata(meta(target, {"n" * 128: "v"}), target)
    check_metadata(meta(target, {TWO_BYTES * 64: "v"}), target)
    with pytest.raises(ConstraintError, match="^metadata name longer than 128 bytes: X-") as caught:
        check_metadata(meta(target, {"n" * 129: "v"}), target)
    assert caught.value.status == 400
    with pytest.raises(ConstraintError, match="longer than 128 bytes"):
        check_metadata(meta(target, {TWO_BYTES * 64 + "n": "v"}), target)


@pytest.mark.parametrize("target", TARGETS)
def test_metadata_value_length_boundary(target: Any) -> None:
    check_metadata(meta(target, {"Name": "v" * 256}), target)
    check_metadata(meta(target, {"Name": TWO_BYTES * 128}), target)
    check_metadata(meta(target, {"Name": ""}), target)
    with pytest.raises(ConstraintError) as caught:
        check_metadata(meta(target, {"Name": "v" * 257}), target)
    assert caught.value.status == 400
    assert caught.value.reason == (
        f"metadata value longer than 256 bytes: X-{target.title()}-Meta-Name")
    with pytest.raises(ConstraintError, match="value longer than 256 bytes"):
        check_metadata(meta(target, {"Name": TWO_BYTES * 128 + "v"}), target)


@pytest.mark.parametrize("target", TARGETS)
def test_metadata_count_boundary(target: Any) -> None:
    check_metadata(meta(target, {f"N{i}": "v" for i in range(90)}), target)
    with pytest.raises(ConstraintError, match="^more than 90 metadata items$") as caught:
        check_metadata(meta(target, {f"N{i}": "v" for i in range(91)}), target)
    assert caught.value.status == 400


def overall(size: int) -> dict[str, str]:
    """16 items, each within the item limits, of ``size`` bytes in all."""
    items = {f"name{i:012d}": "v" * 240 for i in range(16)}  # 16 * (16 + 240) = 4096
    items["name000000000015"] = "v" * (240 + size - 4096)
    return items


@pytest.mark.parametrize("target", TARGETS)
def test_metadata_overall_size_boundary(target: Any) -> None:
    check_metadata(meta(target, overall(4096)), target)
    with pytest.raises(ConstraintError, match="^metadata over 4096 bytes in total$") as caught:
        check_metadata(meta(target, overall(4097)), target)
    assert caught.value.status == 400


def test_overall_size_counts_names_without_the_prefix_in_utf8_bytes() -> None:
    items = {f"n{i:03d}": TWO_BYTES * 124 for i in range(16)}  # 16 * (4 + 248) = 4032
    items["last"] = "v" * 60  # 4 + 60: exactly 4096
    check_metadata(meta("object", items), "object")
    items["last"] = "v" * 61
    with pytest.raises(ConstraintError, match="over 4096 bytes"):
        check_metadata(meta("object", items), "object")


def test_header_value_size_boundary_applies_to_every_header() -> None:
    check_metadata({"X-Auth-Token": "t" * 8192}, "object")
    with pytest.raises(ConstraintError) as caught:
        check_metadata({"X-Auth-Token": "t" * 8193}, "object")
    assert (caught.value.status, caught.value.reason) == (
        400, "header value longer than 8192 bytes: X-Auth-Token")


@pytest.mark.parametrize("target", ["account", "container"])
@pytest.mark.parametrize("bad", [{"Name": ESCAPED_BYTE}, {ESCAPED_BYTE: "v"}, {"Name": "a\x00b"}])
def test_account_and_container_metadata_must_be_utf8(target: Any, bad: dict[str, str]) -> None:
    with pytest.raises(ConstraintError, match="^metadata must be valid UTF-8: X-") as caught:
        check_metadata(meta(target, bad), target)
    assert caught.value.status == 400


def test_object_metadata_may_hold_any_bytes_each_counted_once() -> None:
    check_metadata(meta("object", {"Name": ESCAPED_BYTE * 256}), "object")
    with pytest.raises(ConstraintError, match="longer than 256 bytes"):
        check_metadata(meta("object", {"Name": ESCAPED_BYTE * 257}), "object")


def test_metadata_limits_come_from_the_constraints() -> None:
    small = Constraints(max_meta_name_length=2, max_meta_value_length=3, max_meta_count=2,
                        max_meta_overall_size=8, max_header_size=10)
    check_metadata(meta("object", {"ab": "cde", "fg": "h"}), "object", limits=small)  # 8 bytes
    assert status_of(check_metadata, meta("object", {"abc": "d"}), "object", limits=small) == 400
    assert status_of(check_metadata, meta("object", {"a": "bcde"}), "object", limits=small) == 400
    assert status_of(check_metadata, meta("object", {"a": "b", "c": "d", "e": "f"}), "object",
                     limits=small) == 400
    assert status_of(check_metadata, meta("object", {"ab": "cde", "fg": "hi"}), "object",
                     limits=small) == 400
    assert status_of(check_metadata, {"X-Other": "v" * 11}, "object", limits=small) == 400


def test_a_header_value_counts_its_utf8_bytes_not_its_characters() -> None:
    check_metadata({"X-Other": "\u00e9" * 4096}, "object")  # 8192 bytes: at the limit
    assert status_of(check_metadata, {"X-Other": "\u00e9" * 4097}, "object") == 400
    assert status_of(check_metadata, {"X-Other": "\u20ac" * 2731}, "object") == 400  # 8193


def test_metadata_target_must_be_known() -> None:
    with pytest.raises(ValueError, match="not 'bucket'"):
        check_metadata({}, "bucket")  # type: ignore[arg-type]


# --- expiry ----------------------------------------------------------------


def test_no_expiry_headers_mean_no_expiry() -> None:
    assert check_delete_headers({"Content-Type": "a/b"}, NOW) is None


def test_delete_after_counts_whole_seconds_from_the_request_time() -> None:
    assert check_delete_headers({"X-Delete-After": "10"}, NOW) == 1700000010
    assert check_delete_headers({"x-delete-after": "1"}, NOW) == 1700000001
    assert check_delete_headers({"X-Delete-After": "1"}, 1700000000.0) == 1700000001


@pytest.mark.parametrize("after", ["0", "-1", "-1700000000"])
def test_delete_after_that_is_not_in_the_future_is_400(after: str) -> None:
    with pytest.raises(ConstraintError, match="^X-Delete-After .* is in the past$") as caught:
        check_delete_headers({"X-Delete-After": after}, NOW)
    assert caught.value.status == 400
    # Replication copies an X-Delete-At; it never sends X-Delete-After.
    assert status_of(check_delete_headers, {"X-Delete-After": after}, NOW, replication=True) == 400


def test_delete_after_wins_over_delete_at() -> None:
    headers = {"X-Delete-At": "not a number", "X-Delete-After": "5"}
    assert check_delete_headers(headers, NOW) == 1700000005


def test_delete_at_boundary_is_the_request_time() -> None:
    assert check_delete_headers({"X-Delete-At": "1700000001"}, NOW) == 1700000001
    assert check_delete_headers({"X-Delete-At": "1700000001"}, 1700000000.99999) == 1700000001
    with pytest.raises(ConstraintError) as caught:
        check_delete_headers({"X-Delete-At": "1700000001"}, 1700000001.0)
    assert (caught.value.status, caught.value.reason) == (
        400, "X-Delete-At '1700000001' is in the past")
    assert status_of(check_delete_headers, {"X-Delete-At": "1700000000"}, NOW) == 400


@pytest.mark.parametrize("at", ["1700000000", "0", "-5"])
def test_replication_may_carry_a_delete_at_in_the_past(at: str) -> None:
    assert check_delete_headers({"X-Delete-At": at}, NOW, replication=True) == max(int(at), 0)


@pytest.mark.parametrize(("header", "value"), [
    ("X-Delete-At", "soon"), ("X-Delete-At", "1700000001.5"), ("X-Delete-At", ""),
    ("X-Delete-At", "1e10"), ("X-Delete-At", "0x10"), ("X-Delete-After", "ten"),
    ("X-Delete-After", "1.5"), ("X-Delete-After", ""), ("X-Delete-After", "1_0"),
])
def test_expiry_headers_must_be_integers(header: str, value: str) -> None:
    with pytest.raises(ConstraintError, match=f"^{header} is not an integer: ") as caught:
        check_delete_headers({header: value}, NOW)
    assert caught.value.status == 400


def test_expiry_is_capped_to_what_a_timestamp_holds() -> None:
    assert check_delete_headers({"X-Delete-At": "99999999999"}, NOW) == 9999999999
    assert check_delete_headers({"X-Delete-At": "9" * 5000}, NOW) == 9999999999
    assert check_delete_headers({"X-Delete-After": "9" * 5000}, NOW) == 9999999999
    assert check_delete_headers({"X-Delete-At": " +1700000100 "}, NOW) == 1700000100


# --- object creation -------------------------------------------------------


PUT_HEADERS = {"Content-Type": "application/octet-stream"}


def test_a_good_put_reports_its_length_and_expiry() -> None:
    headers = {**PUT_HEADERS, "X-Delete-After": "60", "X-Object-Meta-Color": "blue"}
    assert check_object_creation("5", False, headers, "o", now=NOW) == ObjectCreation(
        content_length=5, delete_at=1700000060)
    assert check_object_creation(0, False, PUT_HEADERS, "o") == ObjectCreation(0, None)


@pytest.mark.parametrize("length", [5368709122, "5368709122"])
def test_object_size_boundary(length: int | str) -> None:
    assert check_object_creation(length, False, PUT_HEADERS, "o").content_length == 5368709122
    over = int(length) + 1
    with pytest.raises(ConstraintError) as caught:
        check_object_creation(over if isinstance(length, int) else str(over),
                              False, PUT_HEADERS, "o")
    assert (caught.value.status, caught.value.reason) == (
        413, "object of 5368709123 bytes is over the limit of 5368709122")


def test_an_absurd_length_is_413_too() -> None:
    assert status_of(check_object_creation, "9" * 5000, False, PUT_HEADERS, "o") == 413


@pytest.mark.parametrize("length", ["abc", "-1", "1.5", "", "0x10", "1_000", "+5", -1])
def test_a_malformed_content_length_is_400(length: str | int) -> None:
    with pytest.raises(ConstraintError, match="^invalid Content-Length ") as caught:
        check_object_creation(length, False, PUT_HEADERS, "o")
    assert caught.value.status == 400


def test_neither_length_nor_chunked_is_411() -> None:
    with pytest.raises(ConstraintError, match="Content-Length or chunked") as caught:
        check_object_creation(None, False, PUT_HEADERS, "o")
    assert caught.value.status == 411


def test_chunked_needs_no_length_and_ignores_one() -> None:
    assert check_object_creation(None, True, PUT_HEADERS, "o").content_length is None
    assert check_object_creation("9" * 20, True, PUT_HEADERS, "o").content_length is None


def test_object_name_is_checked_on_creation() -> None:
    assert check_object_creation(1, False, PUT_HEADERS, "o" * 1024).content_length == 1
    assert status_of(check_object_creation, 1, False, PUT_HEADERS, "o" * 1025) == 400
    assert status_of(check_object_creation, 1, False, PUT_HEADERS, "") == 400
    assert status_of(check_object_creation, 1, False, PUT_HEADERS, b"\xff") == 412


def test_content_type_is_required_and_must_be_utf8() -> None:
    with pytest.raises(ConstraintError, match="^no Content-Type$") as caught:
        check_object_creation(1, False, {}, "o")
    assert caught.value.status == 400
    check_object_creation(1, False, {"content-type": "text/plain"}, "o")
    for bad in ["", "text/\x00", "text/" + ESCAPED_BYTE]:
        with pytest.raises(ConstraintError, match="^invalid Content-Type "):
            check_object_creation(1, False, {"Content-Type": bad}, "o")


def test_expiry_and_metadata_are_checked_on_creation() -> None:
    past = {**PUT_HEADERS, "X-Delete-At": "1"}
    assert status_of(check_object_creation, 1, False, past, "o", now=NOW) == 400
    assert check_object_creation(1, False, past, "o", now=NOW, replication=True).delete_at == 1
    bad_meta = {**PUT_HEADERS, "X-Object-Meta-": "v"}
    assert status_of(check_object_creation, 1, False, bad_meta, "o") == 400


def test_expiry_is_against_this_nodes_clock_without_a_request_time() -> None:
    delete_at = check_object_creation(
        1, False, {**PUT_HEADERS, "X-Delete-After": "60"}, "o").delete_at
    assert delete_at is not None
    assert abs(delete_at - (time.time() + 60)) <= 2


def test_size_is_checked_before_the_rest() -> None:
    # As in Swift: a too-large body is 413 even when the name is bad too.
    assert status_of(check_object_creation, 5368709123, False, {}, "o" * 2000) == 413
    assert status_of(check_object_creation, None, False, {}, "o" * 2000) == 411


def test_creation_limits_come_from_the_constraints() -> None:
    small = Constraints(max_file_size=10, max_object_name_length=2)
    assert check_object_creation(10, False, PUT_HEADERS, "oo", limits=small).content_length == 10
    assert status_of(check_object_creation, 11, False, PUT_HEADERS, "o", limits=small) == 413
    assert status_of(check_object_creation, 1, False, PUT_HEADERS, "ooo", limits=small) == 400


# --- listings and versions -------------------------------------------------


@pytest.mark.parametrize("target", ["account", "container"])
def test_listing_limit_boundary(target: Any) -> None:
    assert check_listing_limit("10000", target) == 10000
    assert check_listing_limit("1", target) == 1
    assert check_listing_limit("0", target) == 0
    with pytest.raises(ConstraintError) as caught:
        check_listing_limit("10001", target)
    assert (caught.value.status, caught.value.reason) == (
        412, "listing limit '10001' is over the maximum of 10000")
    assert status_of(check_listing_limit, "9" * 5000, target) == 412


@pytest.mark.parametrize("value", [None, "", "abc", "-1", "1.5", "\u00b2"])
def test_a_missing_or_non_numeric_listing_limit_means_the_maximum(value: str | None) -> None:
    assert check_listing_limit(value, "container") == 10000


def test_account_and_container_listings_have_their_own_limits() -> None:
    limits = Constraints(account_listing_limit=5, container_listing_limit=7)
    assert check_listing_limit(None, "account", limits=limits) == 5
    assert check_listing_limit("7", "container", limits=limits) == 7
    assert status_of(check_listing_limit, "6", "account", limits=limits) == 412


@pytest.mark.parametrize("version", ["v1", "v1.0"])
def test_swift_api_versions_are_served(version: str) -> None:
    assert check_api_version(version) == version


@pytest.mark.parametrize("version", ["v2", "V1", "", "v1.1", "1"])
def test_other_api_versions_are_400(version: str) -> None:
    with pytest.raises(ConstraintError, match="^unsupported API version ") as caught:
        check_api_version(version)
    assert caught.value.status == 400


def test_a_clients_content_type_may_not_carry_the_clusters_own_parameters() -> None:
    for fine in ("", "text/plain", "text/plain; charset=utf-8", "a/b;swiftly=1", "swift_/x"):
        check_client_content_type(fine)
    for forged in ("a/b;swift_bytes=5", "a/b; SWIFT_bytes=5", "a/b;x=1;swift_anything"):
        with pytest.raises(ConstraintError) as caught:
            check_client_content_type(forged)
        assert caught.value.status == 400 and "swift_*" in caught.value.reason
