"""bulk-delete: many objects and containers deleted by one request.

    POST|DELETE /v1/<account>?bulk-delete       body (text/plain), one path a line:
        /<container>/<object>                   URL-quoted, the leading / optional
        /<container>

* The list is read whole before anything is deleted; a list of more than
  ``max_deletes_per_request`` paths, or with a path longer than any valid
  one, is refused (413), and an empty one (400): nothing is deleted.
* Each path is a DELETE through the rest of the pipeline as the client,
  objects ``delete_concurrency`` at a time, then the containers (after
  the objects, so a container listed with its objects is empty by then;
  a 409 is tried again ``delete_container_retry_count`` times). A deleted
  path counts in ``Number Deleted``, a missing one in ``Number Not
  Found``; anything else is listed in ``Errors`` with its status (a path
  that is not UTF-8: 412), and the rest go on.
* It ends early on a 401 (the token no longer works) and after
  ``max_failed_deletes`` failures (413); what was deleted stays deleted.
"""
from __future__ import annotations

import collections
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final, TypeVar

from objstore.common.concurrency import sleep, spawn
from objstore.common.http import HTTPError, WSGIApp
from objstore.proxy.middleware.bulk_items import (
    MAX_PATH_LENGTH, BulkConfig, item_environ, report_name,
)
from objstore.proxy.middleware.bulk_report import Report, status_line
from objstore.proxy.middleware.copy import call

SOURCE: Final = "BD"  # Swift's name for these subrequests, which log tools know
AGENT: Final = "BulkDelete"
READ_CHUNK: Final = 65536
# A line longer than this cannot be a path, however it is quoted.
MAX_LINE: Final = 3 * MAX_PATH_LENGTH + 1
RETRY_WAIT: Final = 1.0  # seconds before a container delete is tried again

Item = tuple[str, str | None]  # container, object (None: the container itself)
T = TypeVar("T")
R = TypeVar("R")


def read_lines(source: Any, max_paths: int) -> list[bytes]:
    """The list's non-blank lines, stripped; 413 past ``max_paths`` lines
    or for a line too long to be a path, 499 if the client goes away."""
    lines: list[bytes] = []

    def add(line: bytes) -> None:
        line = line.strip()
        if len(line) > MAX_LINE:
            raise HTTPError(413, f"a line of {len(line)} bytes is longer than any path")
        if line:
            lines.append(line)
        if len(lines) > max_paths:
            raise HTTPError(413, f"Maximum Bulk Deletes: {max_paths} per request")

    pending = b""
    while True:
        try:
            chunk = source.read(READ_CHUNK)
        except (OSError, ValueError):
            raise HTTPError(499, "the client went away while sending the list") from None
        if not chunk:
            break
        *complete, pending = (pending + chunk).split(b"\n")
        for line in complete:
            add(line)
        if len(pending) > MAX_LINE:
            add(pending)  # too long: refused
    add(pending)
    return lines


def parse_path(line: bytes) -> Item:
    """(container, object) of one line; ValueError (412) if it is not
    UTF-8 or holds a NUL; HTTPError 413 if it is too long to be a path."""
    raw = urllib.parse.unquote_to_bytes(line).lstrip(b"/")
    if len(raw) > MAX_PATH_LENGTH:
        raise HTTPError(413, f"a path of {len(raw)} bytes is longer than any valid one "
                             f"({MAX_PATH_LENGTH})")
    text = raw.decode("utf-8")  # UnicodeDecodeError is a ValueError
    if "\x00" in text:
        raise ValueError("NUL in a path")
    container, _, obj = text.partition("/")
    return container, obj or None


def parse_list(lines: list[bytes]) -> tuple[list[Item], list[tuple[str, str]]]:
    """The items to delete and the lines refused as read (412)."""
    items: list[Item] = []
    refused: list[tuple[str, str]] = []
    for line in lines:
        try:
            item = parse_path(line)
        except ValueError:
            refused.append((report_name(urllib.parse.unquote_to_bytes(line)), status_line(412)))
            continue
        if item[0]:
            items.append(item)
    if not items and not refused:
        raise HTTPError(400, "Invalid bulk delete: the list names no paths")
    return items, refused


def in_order(func: Callable[[T], R], items: list[T], width: int) -> Iterator[R]:
    """``func`` of each item, ``width`` at a time, results in the items'
    order. A consumer that stops early leaves at most ``width`` calls to
    finish on their own (no feeder left waiting, as with GreenPool.imap)."""
    running: collections.deque[Any] = collections.deque()
    for item in items:
        running.append(spawn(func, item))
        if len(running) >= width:
            yield running.popleft().wait()
    while running:
        yield running.popleft().wait()


class Stop(Exception):
    """The deletes end here: ``status`` and ``reason`` for the report."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class Deletion:
    """One bulk delete's items in ``account``."""

    def __init__(self, app: WSGIApp, environ: Mapping[str, Any], account: str,
                 items: list[Item], refused: list[tuple[str, str]], conf: BulkConfig
                 ) -> None:
        self.app, self.environ, self.account = app, environ, account
        self.items, self.conf = items, conf
        self.report = Report({"Number Deleted": 0, "Number Not Found": 0}, status_line(200),
                             errors=list(refused))
        self.server_errors = False

    def run(self) -> Iterator[None]:
        """Delete item after item, yielding after each (``bulk_report.stream``)."""
        try:
            self.check_failures()
            objects = [item for item in self.items if item[1] is not None]
            containers = list(dict.fromkeys(item for item in self.items if item[1] is None))
            for item, status in in_order(self.delete, objects, self.conf.delete_concurrency):
                self.record(item, status)
                yield
            for item in containers:
                self.record(item, self.delete_container(item))
                yield
        except Stop as stop:
            self.report.fail(stop.status, stop.reason)
            return
        report = self.report
        if report.errors:
            report.fail(502 if self.server_errors else 400, "")

    def delete(self, item: Item) -> tuple[Item, str]:
        container, obj = item
        path = f"/v1/{self.account}/{container}" + ("" if obj is None else f"/{obj}")
        answer = call(self.app, item_environ(self.environ, "DELETE", path, SOURCE, AGENT))
        answer.read_error()
        return item, answer.status

    def delete_container(self, item: Item) -> str:
        status = self.delete(item)[1]
        for _ in range(self.conf.delete_container_retry_count):
            if not status.startswith("409"):
                break
            sleep(RETRY_WAIT)
            status = self.delete(item)[1]
        return status

    def record(self, item: Item, status: str) -> None:
        report = self.report
        if status.startswith("2"):
            report.counts["Number Deleted"] += 1
            return
        if status.startswith("404"):
            report.counts["Number Not Found"] += 1
            return
        container, obj = item
        report.errors.append((report_name(f"/{container}" + ("" if obj is None else f"/{obj}")),
                              status))
        if status.startswith("5"):
            self.server_errors = True
        if status.startswith("401"):
            raise Stop(401, "the token was refused")
        self.check_failures()

    def check_failures(self) -> None:
        if len(self.report.errors) >= self.conf.max_failed_deletes:
            raise Stop(413, f"Max delete failures exceeded: {len(self.report.errors)}")
