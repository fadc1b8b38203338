"""Upload claims: one uploader at a time, and the takeover of an abandoned
upload, against an in-memory stand-in for the cluster's objects."""
from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import pytest

from objstore.common.http import HTTPError
from objstore.image.claims import Claims, TakenOver, waits_for_data
from objstore.image.config import ImageConfig
from objstore.image.records import Record

IMAGE = "0b5c7c2e-64c1-4f8e-9a43-1f4d8f7b2a10"
STALL = 600.0


class Objects:
    """The part of ClusterClient that claims use: whole requests on the
    service account's objects, If-None-Match: * included."""

    def __init__(self) -> None:
        self.stored: dict[str, bytes] = {}

    def call(self, method: str, path: str, headers: Mapping[str, str] | None = None,
             body: bytes = b"", query: str | None = None) -> tuple[int, dict[str, str], bytes]:
        if method == "PUT":
            if (headers or {}).get("If-None-Match") == "*" and path in self.stored:
                return 412, {}, b""
            self.stored[path] = body
            return 201, {}, b""
        if method == "GET" and query is None:
            return (200, {}, self.stored[path]) if path in self.stored else (404, {}, b"")
        if method == "GET":   # a listing: nothing listed in these tests
            return 204, {}, b""
        if method == "DELETE":
            return (204, {}, b"") if self.stored.pop(path, None) is not None \
                else (404, {}, b"")
        raise AssertionError(method)

    def ensure_containers(self, names: list[str]) -> None:
        pass

    def age(self, path: str, seconds: float) -> None:
        """Make the object's time ``seconds`` older, as if that long passed."""
        document = json.loads(self.stored[path])
        document["at"] -= seconds
        self.stored[path] = json.dumps(document).encode()


class Records:
    def __init__(self, status: str, staged: dict[str, Any] | None = None) -> None:
        self.record = Record(image={"id": IMAGE, "status": status}, staged=staged)

    def get(self, image_id: str) -> Record | None:
        return self.record


@pytest.fixture
def objects() -> Objects:
    return Objects()


@pytest.fixture
def claims(objects: Objects) -> Claims:
    conf = ImageConfig(service_key="k", upload_stall_timeout=STALL)
    return Claims(objects, conf, logging.getLogger("test"))  # type: ignore[arg-type]


def refusal(call: Any, *args: Any) -> str:
    with pytest.raises(HTTPError) as caught:
        call(*args)
    assert caught.value.status == 409
    return caught.value.reason


def test_one_upload_at_a_time_until_the_holder_stalls(claims: Claims, objects: Objects
                                                      ) -> None:
    saving = Records("saving")
    assert claims.acquire(IMAGE, "first", saving) is None
    assert "being uploaded" in refusal(claims.acquire, IMAGE, "second", saving)
    # its beats keep it alive, however old the claim itself is
    objects.age(f"glance_claims/{IMAGE}", STALL + 1)
    claims.beat(IMAGE, "first", 1000)
    assert "being uploaded" in refusal(claims.acquire, IMAGE, "second", saving)

    objects.age(f"glance_claims/{IMAGE}/progress/first", STALL + 1)
    assert claims.acquire(IMAGE, "second", saving) == "first"
    holder = claims.holder(IMAGE)
    assert holder is not None and holder.upload_id == "second"
    # the abandoned upload learns at its next beat that it lost the image
    with pytest.raises(TakenOver):
        claims.beat(IMAGE, "first", 2000)
    claims.beat(IMAGE, "second", 10)


def test_only_one_of_racing_retries_takes_over(claims: Claims, objects: Objects) -> None:
    saving = Records("saving")
    claims.acquire(IMAGE, "first", saving)
    objects.age(f"glance_claims/{IMAGE}", STALL + 1)
    stale_claim = objects.stored[f"glance_claims/{IMAGE}"]
    assert claims.acquire(IMAGE, "second", saving) == "first"
    # a racing retry that read the claim before the winner rewrote it
    objects.stored[f"glance_claims/{IMAGE}"] = stale_claim
    assert "Another upload took over" in refusal(claims.acquire, IMAGE, "third", saving)


def test_an_image_with_data_is_never_taken_over(claims: Claims, objects: Objects) -> None:
    claims.acquire(IMAGE, "first", Records("saving"))
    objects.age(f"glance_claims/{IMAGE}", STALL + 1)
    for done in (Records("active"), Records("killed"),
                 Records("uploading", staged={"location": "x"})):
        assert not waits_for_data(done.record)
        assert "uploaded already" in refusal(claims.acquire, IMAGE, "second", done)


def test_a_claim_from_before_claims_named_their_upload(claims: Claims, objects: Objects
                                                       ) -> None:
    objects.stored[f"glance_claims/{IMAGE}"] = b"claimed"   # no time in it: long ago
    assert claims.acquire(IMAGE, "second", Records("saving")) == ""
    claims.release(IMAGE, "second")
    assert claims.holder(IMAGE) is None
    claims.delete_all(IMAGE)
    assert claims.acquire(IMAGE, "third", Records("queued")) is None
