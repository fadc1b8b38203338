"""What bulk requests answer: Swift's per-item report, and how it is sent.

A report holds counts (``Number Files Created``, or ``Number Deleted`` and
``Number Not Found``), the outcome (``Response Status``, ``Response
Body``) and ``Errors``: one (URL-quoted path, status) pair per item that
failed. The client's ``Accept`` picks its form, as Swift's clients parse
it: plain text (the default), JSON, or XML (``application/xml`` or
``text/xml``); anything else is 406.

The answer begins before the work ends: a bulk request may outlast a
client's read timeout, so while items are worked through, a space goes
out every ``yield_frequency`` seconds (after the XML declaration for
XML, which may not follow whitespace), then ``\\r\\n\\r\\n`` and the report.
Whitespace before JSON or between the XML declaration and its root is
allowed; a plain-text reader sees blank lines before the first count.
"""
from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from xml.sax.saxutils import escape

from objstore.common.http import HTTPError, best_offer

FORMATS = ("text/plain", "application/json", "application/xml", "text/xml")
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
HEARTBEAT = b" "
SEPARATOR = b"\r\n\r\n"  # after heartbeats: the report starts on a line of its own

# Reason phrases of the statuses a report states itself (an item's come
# from its subrequest's answer). Swift's words, which its clients show.
STATUSES = {200: "200 OK", 201: "201 Created", 400: "400 Bad Request",
            401: "401 Unauthorized", 406: "406 Not Acceptable", 411: "411 Length Required",
            412: "412 Precondition Failed", 413: "413 Request Entity Too Large",
            499: "499 Client Disconnect", 500: "500 Internal Error", 502: "502 Bad Gateway"}


def status_line(code: int) -> str:
    return STATUSES.get(code, f"{code} Error")


def report_format(accept: str | None) -> str:
    """The report's media type for an ``Accept`` header; 406 if it accepts
    none of them, 400 if it does not parse."""
    chosen = best_offer(accept, FORMATS)
    if chosen is None:
        raise HTTPError(406, "bulk requests answer in one of: " + ", ".join(FORMATS))
    return chosen


@dataclasses.dataclass
class Report:
    """One bulk request's outcome; ``counts`` in the order they are shown."""

    counts: dict[str, int]
    status: str
    body: str = ""
    errors: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def fail(self, code: int, reason: str) -> None:
        """The request as a whole ended with ``code`` (items done stay done)."""
        self.status, self.body = status_line(code), reason

    def fields(self) -> dict[str, object]:
        return {**self.counts, "Response Status": self.status, "Response Body": self.body}

    def render(self, kind: str, root: str) -> bytes:
        """The report as ``kind``; ``root`` is the XML element's name
        (``extract`` or ``delete``)."""
        fields = self.fields()
        if kind == "application/json":
            return json.dumps({**fields, "Errors": [list(e) for e in self.errors]}).encode()
        if kind.endswith("/xml"):
            lines = [f"<{root}>"]
            for name in sorted(fields):
                tag = name.lower().replace(" ", "_")
                lines.append(f"<{tag}>{escape(str(fields[name]))}</{tag}>")
            lines.append("<errors>")
            lines += [f"<object><name>{escape(path)}</name><status>{escape(status)}</status>"
                      "</object>" for path, status in self.errors]
            lines += ["</errors>", f"</{root}>"]
            return ("\n".join(lines) + "\n").encode("utf-8")
        lines = [f"{name}: {fields[name]}" for name in sorted(fields)]
        lines += ["Errors:", *(f"{path}, {status}" for path, status in self.errors)]
        return ("\n".join(lines) + "\n").encode("utf-8")

    def whole(self, kind: str, root: str) -> bytes:
        """The report alone, as a body of its own (nothing sent before it)."""
        head = XML_DECLARATION if kind.endswith("/xml") else b""
        return head + self.render(kind, root)


def headers(kind: str, length: int | None = None) -> list[tuple[str, str]]:
    found = [("Content-Type", f"{kind}; charset=utf-8")]
    return found if length is None else [*found, ("Content-Length", str(length))]


def stream(report: Report, work: Iterator[None], kind: str, root: str,
           yield_frequency: float, clock: Callable[[], float] = time.monotonic
           ) -> Iterator[bytes]:
    """The answer's body: heartbeats while ``work`` (which yields after
    each item) goes on, then the report. ``work`` sets the report's fields."""
    xml = kind.endswith("/xml")
    last = clock()
    beating = False
    for _ in work:
        if clock() - last >= yield_frequency:
            last = clock()
            yield (XML_DECLARATION if xml and not beating else b"") + HEARTBEAT
            beating = True
    if beating:
        yield SEPARATOR + report.render(kind, root)
    else:
        yield report.whole(kind, root)
