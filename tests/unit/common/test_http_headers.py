"""header_fields: a request's headers in one pass over the environ."""
from __future__ import annotations

from objstore.common.http import Request, header_fields


def test_header_fields_are_what_webob_gives_in_one_pass() -> None:
    request = Request.blank("/d/1/a/c/o", method="PUT", body=b"abc", headers={
        "content-type": "text/plain", "X-Object-Meta-Two_Words": "v", "x-timestamp": "1.0",
        "ETAG": "e", "X-Backend-Storage-Policy-Index": "1"})
    fields = header_fields(request)
    assert fields == dict(request.headers.items())
    assert fields["Content-Type"] == "text/plain" and fields["Content-Length"] == "3"
    assert fields["X-Object-Meta-Two-Words"] == "v" and fields["Etag"] == "e"
    assert "REQUEST_METHOD" not in fields and "Request-Method" not in fields


def test_header_fields_of_a_request_without_a_body() -> None:
    request = Request.blank("/d/1/a/c/o", method="GET", headers={"Range": "bytes=0-1"})
    assert header_fields(request) == dict(request.headers.items())
    assert "Content-Type" not in header_fields(request)
