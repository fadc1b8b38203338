"""extract-archive: the regular files of a tar archive become objects.

    PUT /v1/<account>[/<container>[/<prefix>]]?extract-archive=tar|tar.gz|tar.bz2

* The archive is read as it arrives (``bulk_archive``: plain, gzip or
  bzip2, found from the bytes), one member at a time: each regular
  file is PUT to ``[<container>/[<prefix>/]]<member path>`` through the
  rest of the pipeline as the client, its body streamed from the archive.
  Into an account, a member's first directory is its container, made if
  missing (HEAD, then PUT). Directories, links and devices are skipped.
* A member is refused, and nothing of it written, when its path is
  absolute, has a ``..`` part, or is not UTF-8 (412), when it is at the
  top of an archive extracted into an account (it has no container), or
  when it is over ``max_file_size`` (413). A member whose PUT fails is
  listed with the PUT's status. The extraction goes on after any of these.
* It ends early, keeping what it wrote: when the archive turns out to be
  broken or stops short (400 ``Invalid Tar File``; a member cut short by
  it is listed and not stored), when the client goes away (499), on a 401 (the token no
  longer works), after ``max_failed_extractions`` failed members, or past
  ``max_containers_per_extraction`` containers (413).
* A pax header ``SCHILY.xattr.user.meta.<name>`` (or ``LIBARCHIVE.``)
  becomes ``X-Object-Meta-<name>``, ``...user.mime_type`` the
  Content-Type; a value holding a control character refuses the member.
"""
from __future__ import annotations

import re
import tarfile
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final, TypeVar

from objstore.common.constraints import DEFAULT_CONSTRAINTS
from objstore.common.http import HTTPError, WSGIApp
from objstore.proxy.middleware.bulk_archive import ARCHIVE_ERRORS, Archive, ClientGone
from objstore.proxy.middleware.bulk_items import BulkConfig, item_environ, report_name
from objstore.proxy.middleware.bulk_report import Report, status_line
from objstore.proxy.middleware.copy import call

ARCHIVE_TYPES: Final = ("tar", "tar.gz", "tar.bz2")
SOURCE: Final = "EA"  # Swift's name for these subrequests, which log tools know
AGENT: Final = "BulkExpand"
META_PREFIXES: Final = ("SCHILY.xattr.user.meta.", "LIBARCHIVE.xattr.user.meta.")
MIME_TYPES: Final = ("SCHILY.xattr.user.mime_type", "LIBARCHIVE.xattr.user.mime_type")
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
MAX_REASONS: Final = 10  # distinct problems the Response Body names
R = TypeVar("R")


def archive_type(value: str) -> str:
    """The archive type of an ``extract-archive`` value; 400 if unknown."""
    kind = value.strip().lower().strip(".")
    if kind not in ARCHIVE_TYPES:
        raise HTTPError(400, f"Unsupported archive format {value[:40]!r}: use one of "
                             + ", ".join(ARCHIVE_TYPES))
    return kind


class ItemError(Exception):
    """One member refused: its status and why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


# -- where a member goes ---------------------------------------------------------

def upload_base(container: str | None, prefix: str | None) -> str:
    """``<container>[/<prefix>]`` of the request's path, no trailing ``/``."""
    if container is None:
        return ""
    return f"{container}/{prefix}".rstrip("/") if prefix else container


def member_path(base: str, name: str) -> str:
    """A member as the report names it: where it was meant to go."""
    return f"{base}/{name}" if base else name


def destination(base: str, name: str) -> tuple[str, str]:
    """(container, object) of the member ``name`` extracted under ``base``;
    ItemError when its path is not one to write."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise ItemError(412, "member names must be UTF-8") from None
    while name.startswith("./"):
        name = name[2:]
    if name.startswith("/"):
        raise ItemError(400, "absolute member paths are refused")
    if ".." in name.split("/"):
        raise ItemError(400, "member paths with a '..' part are refused")
    if "\x00" in name:
        raise ItemError(400, "member names may not hold a NUL byte")
    container, _, obj = member_path(base, name).partition("/")
    if not obj:
        raise ItemError(400, "a file at the top of an archive extracted into an account "
                             "has no container to go into")
    return container, obj


def _wsgi_value(value: str, what: str) -> str:
    if _CONTROL.search(value):
        raise ItemError(400, f"{what} holds a control character")
    return value.encode("utf-8", "surrogateescape").decode("latin-1")


def member_headers(pax: Mapping[str, str]) -> dict[str, str]:
    """Environ entries for a member's metadata from its pax headers."""
    found = {}
    for key, value in pax.items():
        if key in MIME_TYPES:
            found["CONTENT_TYPE"] = _wsgi_value(value, "a mime_type pax header")
            continue
        prefix = next((p for p in META_PREFIXES if key.startswith(p)), None)
        if prefix is None:
            continue
        name = key[len(prefix):]
        if not _TOKEN.fullmatch(name):
            raise ItemError(400, f"metadata name {name[:60]!r} is not a header name")
        found["HTTP_X_OBJECT_META_" + name.upper().replace("-", "_")] = \
            _wsgi_value(value, f"metadata {name[:60]!r}")
    return found


# -- the extraction ----------------------------------------------------------------

class Stop(Exception):
    """The extraction ends here: ``status`` and ``reason`` for the report."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class Extraction:
    """One archive's extraction into ``account`` under ``base``."""

    def __init__(self, app: WSGIApp, environ: Mapping[str, Any], account: str, base: str,
                 conf: BulkConfig) -> None:
        self.app, self.environ, self.account, self.base = app, environ, account, base
        self.conf = conf
        self.report = Report({"Number Files Created": 0}, status_line(201))
        self.reasons: list[str] = []
        self.server_errors = False
        self.containers: dict[str, tuple[str, str] | None] = {}  # None: ready
        self.reported: set[str] = set()  # containers whose failure the report lists

    def run(self, archive: Archive) -> Iterator[None]:
        """Extract member after member, yielding after each (see ``bulk_report.stream``)."""
        try:
            while True:
                member = self._read(archive.next)
                if member is None:
                    self._read(archive.finish)
                    break
                if member.isfile():
                    self.extract(archive, member)
                yield
        except Stop as stop:
            self.report.fail(stop.status, stop.reason)
            return
        self.finish()

    def finish(self) -> None:
        report = self.report
        if report.errors:
            report.fail(502 if self.server_errors else 400, "; ".join(self.reasons))
        elif not report.counts["Number Files Created"]:
            report.fail(400, "Invalid Tar File: No Valid Files")

    @staticmethod
    def _read(step: Callable[[], R]) -> R:
        """One step through the archive; Stop if it is broken or the client left."""
        try:
            return step()
        except ClientGone as err:
            raise Stop(499, str(err)) from None
        except ARCHIVE_ERRORS as err:
            raise Stop(400, f"Invalid Tar File: {err}") from None

    def failed(self, name: str, status: str, reason: str) -> None:
        self.report.errors.append((report_name(name), status))
        if status.startswith("5"):
            self.server_errors = True
        if reason and len(self.reasons) < MAX_REASONS and reason not in self.reasons:
            self.reasons.append(reason)
        if len(self.report.errors) >= self.conf.max_failed_extractions:
            raise Stop(413, f"Max extraction failures exceeded: {len(self.report.errors)}")

    def extract(self, archive: Archive, member: tarfile.TarInfo) -> None:
        name = member_path(self.base, member.name)
        try:
            container, obj = destination(self.base, member.name)
            headers = member_headers(member.pax_headers)
            if member.size > DEFAULT_CONSTRAINTS.max_file_size:
                raise ItemError(413, f"members over {DEFAULT_CONSTRAINTS.max_file_size} bytes "
                                     "are refused")
        except ItemError as err:
            self.failed(name, status_line(err.status), err.reason)
            return
        container_problem = self.container_ready(container)
        body = archive.member_body(member)
        sub = item_environ(self.environ, "PUT", f"/v1/{self.account}/{container}/{obj}",
                           SOURCE, AGENT)
        sub.update({**headers, "CONTENT_LENGTH": str(member.size), "wsgi.input": body})
        answer = call(self.app, sub)
        reason = answer.read_error().decode("utf-8", "replace").strip().splitlines()
        if body.failure is not None:
            self.failed(name, status_line(400), "")
            if isinstance(body.failure, ClientGone):
                raise Stop(499, str(body.failure))
            raise Stop(400, f"Invalid Tar File: {body.failure}")
        if 200 <= answer.code < 300:
            self.report.counts["Number Files Created"] += 1
            return
        if container_problem is not None and container not in self.reported:
            self.reported.add(container)
            self.failed(container, *container_problem)
        self.failed(name, answer.status, f"{answer.status}: {reason[0]}" if reason else "")
        if answer.code == 401:
            raise Stop(401, "the token was refused")

    def container_ready(self, container: str) -> tuple[str, str] | None:
        """Make the container if it is missing, once per extraction; what
        went wrong (status, reason) if that failed. The member's PUT is
        tried anyway (a client may write where it may not look)."""
        if container in self.containers:
            return self.containers[container]
        if len(self.containers) >= self.conf.max_containers_per_extraction:
            raise Stop(413, "More than {} containers to create from one archive".format(
                self.conf.max_containers_per_extraction))
        path = f"/v1/{self.account}/{container}"
        answer = call(self.app, item_environ(self.environ, "HEAD", path, SOURCE, AGENT))
        answer.read_error()
        if answer.code == 404:
            answer = call(self.app, item_environ(self.environ, "PUT", path, SOURCE, AGENT))
            text = answer.read_error().decode("utf-8", "replace").strip().splitlines()
            problem = None if 200 <= answer.code < 300 else (
                answer.status, f"container {answer.status}: {text[0]}" if text else "")
        else:
            problem = None if 200 <= answer.code < 300 else (answer.status, "")
        self.containers[container] = problem
        return problem

