"""bulk_report: the report's three forms, the Accept that picks one, and
the heartbeats sent while a bulk request works."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator

import pytest

from objstore.common.http import HTTPError
from objstore.proxy.middleware.bulk_report import (
    Report, report_format, status_line, stream,
)


def sample() -> Report:
    report = Report({"Number Deleted": 2, "Number Not Found": 1}, status_line(200))
    report.errors += [("/c/a%20b", "409 Conflict"), ("/c/%3Cx%3E&", "403 Forbidden")]
    report.fail(400, "one <bad> & one worse")
    return report


def test_plain_text_is_sorted_lines_then_errors() -> None:
    assert sample().render("text/plain", "delete").decode() == (
        "Number Deleted: 2\nNumber Not Found: 1\nResponse Body: one <bad> & one worse\n"
        "Response Status: 400 Bad Request\nErrors:\n/c/a%20b, 409 Conflict\n"
        "/c/%3Cx%3E&, 403 Forbidden\n")


def test_json_has_every_field_and_errors_as_pairs() -> None:
    assert json.loads(sample().render("application/json", "delete")) == {
        "Number Deleted": 2, "Number Not Found": 1, "Response Status": "400 Bad Request",
        "Response Body": "one <bad> & one worse",
        "Errors": [["/c/a%20b", "409 Conflict"], ["/c/%3Cx%3E&", "403 Forbidden"]]}


@pytest.mark.parametrize("kind", ["application/xml", "text/xml"])
def test_xml_parses_and_escapes(kind: str) -> None:
    body = sample().whole(kind, "extract")
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<extract>')
    root = ElementTree.fromstring(body)
    assert root.tag == "extract"
    assert root.findtext("number_deleted") == "2"
    assert root.findtext("response_status") == "400 Bad Request"
    assert root.findtext("response_body") == "one <bad> & one worse"
    assert [(o.findtext("name"), o.findtext("status")) for o in root.iter("object")] == [
        ("/c/a%20b", "409 Conflict"), ("/c/%3Cx%3E&", "403 Forbidden")]


@pytest.mark.parametrize("accept, kind", [
    (None, "text/plain"), ("", "text/plain"), ("*/*", "text/plain"),
    ("application/json", "application/json"), ("text/xml", "text/xml"),
    ("application/xml;q=0.5, application/json", "application/json"),
    ("application/*", "application/json"),
])
def test_accept_picks_the_form(accept: str | None, kind: str) -> None:
    assert report_format(accept) == kind


def test_an_accept_of_no_form_is_406() -> None:
    with pytest.raises(HTTPError) as caught:
        report_format("image/png")
    assert caught.value.status == 406 and "text/plain" in caught.value.reason


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def work(clock: Clock, steps: list[float], report: Report) -> Iterator[None]:
    """Items that take ``steps`` seconds each, then the outcome."""
    for seconds in steps:
        clock.now += seconds
        yield
    report.counts["Number Deleted"] = len(steps)


def test_no_heartbeat_for_quick_work() -> None:
    clock, report = Clock(), Report({"Number Deleted": 0}, status_line(200))
    chunks = list(stream(report, work(clock, [1, 1, 1], report), "application/json",
                         "delete", 10, clock))
    assert len(chunks) == 1
    assert json.loads(chunks[0])["Number Deleted"] == 3


def test_heartbeats_then_a_separated_report() -> None:
    clock, report = Clock(), Report({"Number Deleted": 0}, status_line(200))
    chunks = list(stream(report, work(clock, [4, 4, 4, 12, 1], report), "text/plain",
                         "delete", 10, clock))
    # a beat once 10 s have passed since the last one (at 12 and 24 s)
    assert chunks[:-1] == [b" ", b" "]
    assert chunks[-1].startswith(b"\r\n\r\nNumber Deleted: 5\n")
    body = b"".join(chunks)
    assert body.split(b"\r\n\r\n", 1)[1] == report.render("text/plain", "delete")


def test_xml_heartbeats_follow_the_declaration() -> None:
    clock, report = Clock(), Report({"Number Deleted": 0}, status_line(200))
    body = b"".join(stream(report, work(clock, [11, 11], report), "application/xml",
                           "delete", 10, clock))
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n  \r\n\r\n<delete>')
    assert body.count(b"<?xml") == 1
    assert ElementTree.fromstring(body).findtext("number_deleted") == "2"
