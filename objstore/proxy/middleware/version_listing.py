"""Listings for object versioning: ``GET <container>?versions`` and
account listings without the hidden containers.

``?versions`` lists every version of every object, by name, newest first
within a name, each with ``version_id`` and ``is_latest``, in JSON only
(406 for another format). It merges two listings a page at a time: the
container's own (its unversioned ``null`` objects, and the links that
say which version is current) and its versions container's. A link is
recognised in a listing by its timestamp: it is written at its version's
timestamp, so a row of the container whose ``last_modified`` is the id
of one of the name's versions is that version, current; any other row is
the ``null`` version. With no current object, a name's newest version is
latest if it is a delete marker.

Paging is Swift's: ``marker`` (a name) with ``version_marker`` (a version
id or ``null``) continues after that version; ``version_marker`` needs
``marker`` (400). ``prefix``, ``end_marker``, ``delimiter`` (not a digit
nor U+0001, 400: those would cut version names) and ``reverse`` work as
on a plain listing; ``path`` is 400.
"""
from __future__ import annotations

import heapq
import itertools
import json
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from objstore.common import constraints
from objstore.common.http import HTTPError, Request, WSGIApp, best_offer, query_params
from objstore.common.listing import (
    ListingParams, account_body, listing_content_type, listing_params, listing_response,
)
from objstore.common.timestamp import Timestamp
from objstore.proxy.middleware.copy import Answer, call
from objstore.proxy.middleware.version_names import (
    RESERVED, SEPARATOR, hidden_container, inverted, listed_timestamp, parse_version_id,
    split_version_object,
)
from objstore.proxy.middleware.versioning import DELETE_MARKER, drain, internal, pages, read_json

SOURCE: Final = "OV"
AFTER_VERSIONS: Final = SEPARATOR + "~"   # above every version object of a name
Fetch = Callable[[str], list[dict[str, Any]]]


@dataclass(frozen=True)
class Item:
    """One row of either listing, with its place in the merged order."""

    name: str                      # the object's name, or a subdir
    rank: str                      # "" for a current row or subdir; else the inverted version
    row: dict[str, Any]
    version: Timestamp | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.name, self.rank

    @property
    def is_subdir(self) -> bool:
        return "subdir" in self.row

    @property
    def is_marker(self) -> bool:
        return str(self.row.get("content_type", "")).replace(" ", "") == DELETE_MARKER


def current_items(rows: Iterable[dict[str, Any]]) -> Iterator[Item]:
    for row in rows:
        yield Item(row.get("subdir") or row["name"], "", row)


def version_items(rows: Iterable[dict[str, Any]]) -> Iterator[Item]:
    for row in rows:
        if "subdir" in row:
            yield Item(row["subdir"], "", row)
            continue
        split = split_version_object(row["name"])
        if split is not None:  # anything else there is not ours to list
            yield Item(split[0], inverted(split[1]), row, split[1])


def group_entries(items: list[Item], *, reverse: bool, skip_null: bool = False,
                  complete: bool = True, null_after: Timestamp | None = None
                  ) -> list[dict[str, Any]]:
    """The listing entries of one name (or subdir), in listing order.

    A page that ended within this name leaves the rest: going forward,
    the null version was listed already (``skip_null``) and the newest
    versions too (not ``complete``); going backward, versions up to
    ``null_after`` were, so the container's row is the null version only
    if it is newer (else it links to one of those)."""
    if any(item.is_subdir for item in items):
        return [{"subdir": items[0].name}]
    current = next((item for item in items if not item.rank), None)
    versions = sorted((item for item in items if item.rank), key=lambda item: item.rank)
    latest: Item | None = None
    entries: list[dict[str, Any]] = []
    if current is not None:
        linked = listed_timestamp(str(current.row.get("last_modified", "")))
        latest = next((v for v in versions if v.version == linked and not v.is_marker), None)
        is_null = null_after is None or (linked is not None and linked > null_after)
        if latest is None and is_null and not skip_null:
            entries.append({**current.row, "version_id": "null", "is_latest": True})
    elif complete and versions and versions[0].is_marker:
        latest = versions[0]
    for item in versions:
        assert item.version is not None
        entries.append({**item.row, "name": item.name, "version_id": item.version.normal,
                        "is_latest": item is latest})
    return entries[::-1] if reverse else entries


@dataclass(frozen=True)
class Start:
    """Where a page of the versions listing starts in each listing."""

    current_marker: str
    versions_marker: str
    continued: str | None = None       # a name the last page ended within
    lookup: bool = False               # its container row is fetched on its own
    skip_null: bool = False
    complete: bool = True
    null_after: Timestamp | None = None


def start_of(params: ListingParams, version_marker: str | None) -> Start:
    marker, delimiter = params.marker, params.delimiter
    if not marker:
        return Start("", "")
    is_subdir = bool(delimiter) and marker.endswith(delimiter) \
        and len(marker) > len(params.prefix)
    if version_marker is None or is_subdir:
        if params.reverse or is_subdir:
            return Start(marker, marker)
        return Start(marker, marker + AFTER_VERSIONS)
    if version_marker == "null":
        if params.reverse:  # the null version is a name's last: nothing of it is left
            return Start(marker, marker + SEPARATOR)
        return Start(marker, marker + SEPARATOR, marker, lookup=True, skip_null=True)
    version = parse_version_id(version_marker, "version_marker")
    after = marker + SEPARATOR + inverted(version)
    if params.reverse:  # newer versions of the name, then its null version, come next
        return Start(marker + SEPARATOR, after, marker, null_after=version)
    return Start(marker, after, marker, lookup=True, skip_null=True, complete=False)


def merged_entries(params: ListingParams, start: Start, current: Iterator[dict[str, Any]],
                   versions: Iterator[dict[str, Any]]) -> list[dict[str, Any]]:
    """Up to ``params.limit`` entries of the two listings, merged."""
    merged = heapq.merge(current_items(current), version_items(versions),
                         key=lambda item: item.key, reverse=params.reverse)
    entries: list[dict[str, Any]] = []
    for name, group in itertools.groupby(merged, key=lambda item: item.name):
        if name == start.continued:
            entries.extend(group_entries(list(group), reverse=params.reverse,
                                         skip_null=start.skip_null, complete=start.complete,
                                         null_after=start.null_after))
        else:
            entries.extend(group_entries(list(group), reverse=params.reverse))
        if len(entries) >= params.limit:
            break
    return entries[:params.limit]


def check_request(request: Request) -> tuple[ListingParams, str | None]:
    """The listing's parameters; 400/406/412 for what it cannot do."""
    wanted = query_params(request, "format").get("format")
    if wanted is not None and wanted.lower() != "json":
        raise HTTPError(406, "a ?versions listing is JSON only")
    accept = request.headers.get("Accept")
    if wanted is None and accept and best_offer(accept, ["application/json"]) is None:
        raise HTTPError(406, "a ?versions listing is JSON only")
    params = listing_params(request, "container")
    if params.path is not None:
        raise HTTPError(400, "path cannot be used with ?versions")
    if params.delimiter and (params.delimiter.isdigit() or params.delimiter == RESERVED):
        raise HTTPError(400, "a ?versions listing cannot use a digit or U+0001 as delimiter")
    version_marker = query_params(request, "version_marker").get("version_marker") or None
    if version_marker is not None and not params.marker:
        raise HTTPError(400, "version_marker needs marker")
    if version_marker not in (None, "null"):
        parse_version_id(version_marker, "version_marker")
    return params, version_marker


def listing_query(params: ListingParams, marker: str, prefix: str | None = None,
                  end_marker: str | None = None, limit: int | None = None) -> str:
    fields = {"format": "json", "limit": str(limit or params.limit), "marker": marker,
              "prefix": params.prefix if prefix is None else prefix,
              "end_marker": params.end_marker if end_marker is None else end_marker,
              "delimiter": params.delimiter, "reverse": "true" if params.reverse else ""}
    return urllib.parse.urlencode({k: v for k, v in fields.items() if v}, encoding="utf-8")


CurrentFetch = Callable[[str, str | None, str | None, int | None], list[dict[str, Any]]]


def versions_listing(params: ListingParams, version_marker: str | None, current: CurrentFetch,
                     versions: Fetch) -> list[dict[str, Any]]:
    """One page of the versions listing, from the container's listing
    (``current(marker, prefix, end_marker, limit)``, None for the
    client's) and its versions container's (``versions(marker)``)."""
    start = start_of(params, version_marker)
    head: list[dict[str, Any]] = []
    if start.lookup and start.continued is not None:  # which of its versions is current
        head = [row for row in current("", start.continued, "", 1)
                if row.get("name") == start.continued]
    rows = itertools.chain(head, pages(lambda marker: current(marker, None, None, None),
                                       start.current_marker, params.limit))
    return merged_entries(params, start, rows,
                          pages(versions, start.versions_marker, params.limit))


class PassOn(Exception):
    """The container's own listing failed: its answer is the client's."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.status)
        self.answer = answer


class VersionsListing:
    """``GET <container>?versions`` (see the module doc)."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any],
                 account: str, container: str,
                 headers_of: Callable[[Answer], list[tuple[str, str]]]) -> Iterable[bytes]:
        params, version_marker = check_request(Request(environ))
        answered: list[Answer] = []

        def current(marker: str, prefix: str | None, end_marker: str | None,
                    limit: int | None) -> list[dict[str, Any]]:
            answer = call(self.app, {**environ, "QUERY_STRING": listing_query(
                params, marker, prefix, end_marker, limit)})
            if not 200 <= answer.code < 300:
                if not answered:
                    raise PassOn(answer)
                drain(answer)
                raise HTTPError(503, f"could not list the container: {answer.status}")
            answered.append(answer)
            return list(read_json(answer))

        try:
            entries = versions_listing(params, version_marker, current,
                                       self.versions_fetch(environ, params, account, container))
        except PassOn as failed:
            return passed_on(failed.answer, start_response)
        body = json.dumps(entries).encode("ascii")
        headers = [(k, v) for k, v in (headers_of(answered[0]) if answered else [])
                   if k.lower() not in ("content-type", "content-length")]
        start_response("200 OK", [*headers, ("Content-Type", "application/json; charset=utf-8"),
                                  ("Content-Length", str(len(body)))])
        return [body]

    def versions_fetch(self, environ: dict[str, Any], params: ListingParams, account: str,
                       container: str) -> Fetch:
        hidden = hidden_container(container)
        end_marker = params.end_marker + AFTER_VERSIONS \
            if params.reverse and params.end_marker else None

        def fetch(marker: str) -> list[dict[str, Any]]:
            answer = call(self.app, internal(environ, "GET", (account, hidden), SOURCE,
                                             listing_query(params, fitted(marker),
                                                           end_marker=end_marker)))
            if answer.code == 404:
                drain(answer)
                return []
            if not 200 <= answer.code < 300:
                raise HTTPError(503, f"could not list the versions: {answer.status}")
            return list(read_json(answer))
        return fetch


def fitted(marker: str) -> str:
    """A marker no longer than a name may be: past a name too long to be
    versioned, the versions listing holds nothing between the two."""
    limit = constraints.DEFAULT_CONSTRAINTS.max_object_name_length
    data = marker.encode("utf-8")
    return marker if len(data) <= limit else data[:limit].decode("utf-8", "ignore")


def passed_on(answer: Answer, start_response: Callable[..., Any]) -> list[bytes]:
    """An error answer, as it came."""
    body = drain(answer)
    start_response(answer.status, answer.headers)
    return [body]


# -- account listings -------------------------------------------------------------

def is_hidden(row: Mapping[str, Any]) -> bool:
    return str(row.get("subdir") or row.get("name", "")).startswith(RESERVED)


def account_listing(app: WSGIApp, environ: dict[str, Any], start_response: Callable[..., Any],
                    account: str) -> Iterable[bytes]:
    """An account's listing without the versions containers: fetched in
    JSON, refilled past the hidden ones, answered in the client's format."""
    request = Request(environ)
    content_type = listing_content_type(request)
    params = listing_params(request, "account")
    kept_query = [(k, v) for k, v in urllib.parse.parse_qsl(
        environ.get("QUERY_STRING", ""), keep_blank_values=True, encoding="latin-1")
        if k not in ("format", "marker", "limit")]

    def fetch(marker: str) -> Answer:
        query = urllib.parse.urlencode([*kept_query, ("format", "json"), ("limit", params.limit),
                                        ("marker", marker.encode("utf-8").decode("latin-1"))],
                                       encoding="latin-1")
        return call(app, {**environ, "QUERY_STRING": query})

    first = fetch(params.marker)
    if not 200 <= first.code < 300:
        return passed_on(first, start_response)
    page = list(read_json(first))
    kept = [row for row in page if not is_hidden(row)]
    while len(kept) < params.limit and len(page) >= params.limit and page:
        answer = fetch(page[-1].get("subdir") or page[-1]["name"])
        if not 200 <= answer.code < 300:
            raise HTTPError(503, f"could not list the account: {answer.status}")
        page = list(read_json(answer))
        kept += [row for row in page if not is_hidden(row)]
    headers = {k: v for k, v in first.headers if k.lower() not in ("content-type",
                                                                   "content-length")}
    body = account_body(kept[:params.limit], account, content_type)
    return listing_response(body, content_type, headers)(environ, start_response)
