"""Legacy versioning's pure parts: archive names and the container headers."""
from __future__ import annotations

from typing import Any

import pytest

from objstore.common.http import HTTPError
from objstore.common.timestamp import Timestamp
from objstore.proxy.middleware.versioned_writes import archive_name, location_settings

V, H = "HTTP_X_VERSIONS_LOCATION", "HTTP_X_HISTORY_LOCATION"
RV, RH = "HTTP_X_REMOVE_VERSIONS_LOCATION", "HTTP_X_REMOVE_HISTORY_LOCATION"


def test_archive_names_count_utf8_bytes_in_hex() -> None:
    written = Timestamp("1700000000.12345")
    assert archive_name("o", written) == "001o/1700000000.12345"
    assert archive_name("caf\u00e9/x", written) == "007caf\u00e9/x/1700000000.12345"
    assert archive_name("x" * 300, Timestamp(written, offset=1)).startswith("12c" + "x" * 300)
    assert archive_name("o", Timestamp(written, offset=1)).endswith("_0000000000000001")


@pytest.mark.parametrize("given, expected", [
    ({}, None),
    ({"HTTP_X_OTHER": "x"}, None),
    ({V: "archive"}, {V: "archive", H: ""}),
    ({H: "archive"}, {H: "archive", V: ""}),
    ({V: "caf%C3%A9"}, {V: "caf%C3%A9", H: ""}),
    ({V: "archive", H: ""}, {V: "archive", H: ""}),
    ({V: "", H: "archive"}, {H: "archive", V: ""}),
    ({V: ""}, {V: "", H: ""}),
    ({RV: "x"}, {V: "", H: ""}),
    ({RH: "1", V: "archive"}, {V: "archive", H: ""}),   # setting wins over removing
    ({RV: ""}, {}),
])
def test_what_a_container_request_sets(given: dict[str, Any],
                                       expected: dict[str, str] | None) -> None:
    assert location_settings(given, "c") == expected


@pytest.mark.parametrize("given", [
    {V: "a", H: "b"}, {V: "a/b"}, {H: "c"}, {V: "%01versions%01c"}, {V: "x" * 257},
    {V: "%FF"}, {V: ".."},
])
def test_bad_locations_are_400(given: dict[str, str]) -> None:
    with pytest.raises(HTTPError) as err:
        location_settings(given, "c")
    assert err.value.status == 400
