"""What the two versioning filters share: internal subrequests, a
container's facts, authorization against the client's container, and
copying an object's bytes and metadata to another path.

* ``internal`` builds a subrequest to the app below the filter in the
  client's environ (transaction id, identity) but without its headers
  or its auth callback: a filter first decides itself, with
  ``authorize``, whether the client may do what it asked on the
  container it named, and then reads and writes versions as the
  cluster, as Swift's pre-authorized requests do. A version's path is
  derived only from the path the client was authorized for.
* ``container_facts`` HEADs a container once per client request (the
  answer is kept in the environ, which the subrequests of the request
  share), without auth, so it sees the ACLs it must judge by.
* ``copy_object`` streams an object to another path with its settings,
  user metadata, and what a filter stored that no client may set
  (``X-Static-Large-Object``, sysmeta when the proxy shows it in
  ``environ["objstore.object_sysmeta"]``). A copy keeps no X-Delete-At:
  a version must not expire with the object it was.
"""
from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final

from objstore.common.http import HTTPError, WSGIApp, text_to_wsgi, wsgi_to_text
from objstore.proxy import acl
from objstore.proxy.middleware.copy import (
    Answer, Path, SourceBody, call, destination_headers, environ_key, source_length, subrequest,
)
from objstore.proxy.pipeline import CACHED_FACTS

DELETE_MARKER: Final = "application/x-deleted;swift_versions_deleted=1"
BACKEND_HEADERS: Final = "objstore.backend_headers"
OBJECT_SYSMETA: Final = "objstore.object_sysmeta"   # set by the proxy on GET/HEAD, if it does
FACTS: Final = "objstore.versioning.containers"      # the per-request memo of container HEADs
AUTH_KEYS: Final = ("objstore.authorize", "objstore.authorize_override")
# Of the client's headers an internal request keeps only these: the rest
# (metadata, ACLs, conditions) are the client's request's, not this one's.
KEPT_HEADERS: Final = ("HTTP_X_TRANS_ID", "HTTP_HOST", "HTTP_USER_AGENT")


def internal(environ: Mapping[str, Any], method: str, path: Path | tuple[str, str],
             source: str, query: str = "", headers: Mapping[str, str] | None = None,
             backend: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A bodiless subrequest for ``path`` (account, container[, object]
    as text) that skips authorization (see the module doc)."""
    sub = {key: value for key, value in subrequest(environ, method, ("", "", "")).items()
           if key not in (*AUTH_KEYS, OBJECT_SYSMETA)
           and (not key.startswith("HTTP_") or key in KEPT_HEADERS)}
    sub["PATH_INFO"] = text_to_wsgi("/v1/" + "/".join(part for part in path if part))
    sub.update({"QUERY_STRING": query, "objstore.source": source,
                BACKEND_HEADERS: dict(backend or {})})
    for name, value in (headers or {}).items():
        sub[environ_key(name)] = value
    return sub


def request_path(environ: Mapping[str, Any]) -> tuple[str, str | None, str | None] | None:
    """(account, container, object) of a /v1 request, as text; None for
    anything else (the app answers it, bad paths included)."""
    try:
        text = wsgi_to_text(environ.get("PATH_INFO", ""))
    except HTTPError:
        return None
    parts = text.split("/", 4)
    if len(parts) < 3 or parts[0] or parts[1] not in ("v1", "v1.0") or not parts[2]:
        return None
    container = parts[3] if len(parts) > 3 and parts[3] else None
    obj = parts[4] if len(parts) > 4 and parts[4] else None
    if obj is not None and container is None:
        return None
    return parts[2], container, obj


def pages(fetch: Callable[[str], list[dict[str, Any]]], marker: str, page_size: int
          ) -> Iterator[dict[str, Any]]:
    """Every row of a listing from ``marker`` on, ``page_size`` a page."""
    while True:
        page = fetch(marker)
        yield from page
        if len(page) < page_size or not page:
            return
        marker = page[-1].get("subdir") or page[-1]["name"]


def drain(answer: Answer) -> bytes:
    """The (short) body of an answer not passed on; the answer is closed."""
    return answer.read_error()


def reason_of(answer: Answer) -> str:
    return drain(answer).decode("utf-8", "replace").strip() or answer.status


def relay(answer: Answer, start_response: Callable[..., Any],
          extra: Iterable[tuple[str, str]] = ()) -> Answer:
    """Pass a subrequest's answer on to the client, with ``extra`` headers."""
    start_response(answer.status, [*answer.headers, *extra])
    return answer


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header of a lower-cased mapping (``container_facts``)."""
    return headers.get(name.lower())


def lowered(answer: Answer) -> dict[str, str]:
    return {name.lower(): value for name, value in answer.headers}


# -- containers --------------------------------------------------------------

def container_facts(app: WSGIApp, environ: dict[str, Any], account: str, container: str,
                    fresh: bool = False) -> tuple[int, dict[str, str]]:
    """(status, lower-cased headers) of a container HEAD, once per request;
    unless ``fresh``, as the proxy caches them (``CACHED_FACTS``), so a
    write where no versioning is set costs no request of its own."""
    memo = environ.setdefault(FACTS, {})
    key = (account, container)
    cached = None if fresh else environ.get(CACHED_FACTS)
    if key not in memo and cached is not None:
        facts = cached(environ, f"/v1/{account}/{container}")
        if facts is not None:
            memo[key] = (200, facts)
    if fresh or key not in memo:
        answer = call(app, internal(environ, "HEAD", (account, container), "VW"))
        drain(answer)
        if answer.code >= 500:
            raise HTTPError(503, f"could not read container {container}: {answer.status}")
        memo[key] = (answer.code, lowered(answer))
    return memo[key]  # type: ignore[no-any-return]


def forget_facts(environ: dict[str, Any], account: str, container: str) -> None:
    environ.get(FACTS, {}).pop((account, container), None)


def account_acl(app: WSGIApp, environ: dict[str, Any], account: str) -> str | None:
    """The account's X-Account-Access-Control, for container-level decisions."""
    answer = call(app, internal(environ, "HEAD", (account, ""), "VW"))
    answer.close()
    return answer.header("X-Account-Access-Control")


def authorize(environ: Mapping[str, Any], method: str, path: tuple[str, str, str | None],
              container_headers: Mapping[str, str], account_acl_text: str | None = None
              ) -> None:
    """Raise 401/403 unless the client's auth allows ``method`` on ``path``,
    judged as the proxy judges it (the container's ACLs)."""
    decide = environ.get("objstore.authorize")
    if decide is None:
        return
    account, container, obj = path
    try:
        read = acl.parse_container_acl(container_headers.get("x-container-read"))
        write = acl.parse_container_acl(container_headers.get("x-container-write"), False)
        account_rules = acl.parse_account_acl(account_acl_text) if account_acl_text else {}
    except ValueError:
        read, write, account_rules = acl.ContainerACL(), acl.ContainerACL(), {}
    target = acl.Request(method, account, container, obj, environ.get("HTTP_REFERER"))
    # the decision may note ownership in the environ it is given: a scratch one
    status = decide(target, {}, container_read=read, container_write=write,
                    account_acl=account_rules)
    if status:
        raise HTTPError(status, "a valid token is required" if status == 401
                        else "this token may not do that")


def unquoted_container(value: str, header: str) -> str:
    """A container name sent URL-quoted in a header, as text; 400 if bad."""
    try:
        text = urllib.parse.unquote_to_bytes(value.strip().encode("latin-1")).decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        raise HTTPError(400, f"{header} is not valid UTF-8") from None
    if "/" in text or "\x00" in text or text in (".", ".."):
        raise HTTPError(400, f"{header} must name a container: no '/' in it")
    return text


# -- objects -------------------------------------------------------------------

def copy_object(app: WSGIApp, environ: dict[str, Any], source: Path,
                destination: Path | Callable[[Answer], Path], origin: str,
                backend: Mapping[str, str] | None = None,
                source_query: str = "") -> tuple[Answer, Answer | None]:
    """Copy ``source`` to ``destination`` (or where it says, given the
    source's answer) as the cluster: (source GET, destination PUT)
    answers, the PUT None when the GET failed. The caller reads the
    status of the PUT and must close it."""
    get = internal(environ, "GET", source, origin, source_query, {"X-Newest": "true"})
    got = call(app, get)
    if not 200 <= got.code < 300:
        drain(got)
        return got, None
    try:
        length = source_length(got)
        kept = {**copied_backend_headers(got, get.get(OBJECT_SYSMETA)), **(backend or {})}
        target = destination(got) if callable(destination) else destination
        sub = internal(environ, "PUT", target, origin, backend=kept)
        for name, value in destination_headers(got.headers, []).items():
            if name.lower() != "x-delete-at":
                sub[environ_key(name)] = value
        manifest = got.header("X-Object-Manifest")
        if manifest is not None:
            sub["HTTP_X_OBJECT_MANIFEST"] = manifest
        sub["wsgi.input"] = SourceBody(got.body)
        if length is None:
            sub.update({"CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked"})
        else:
            sub["CONTENT_LENGTH"] = str(length)
        put = call(app, sub)
    finally:
        got.close()
    return got, put


def copied_backend_headers(got: Answer, sysmeta: Mapping[str, str] | None) -> dict[str, str]:
    """What only a filter may store, as the source had it: a manifest's
    mark (no client may send it) and, if the proxy showed it, sysmeta."""
    kept = dict(sysmeta or {})
    if (got.header("X-Static-Large-Object") or "").lower() == "true":
        kept["X-Static-Large-Object"] = "True"
    return kept


def read_json(answer: Answer, limit: int = 64 * 1024 * 1024) -> Any:
    """A listing's JSON body (closed after); 503 if it is not JSON."""
    data = bytearray()
    try:
        for chunk in answer.body:
            data += chunk
            if len(data) > limit:
                raise HTTPError(503, "a listing was larger than expected")
    finally:
        answer.close()
    try:
        return json.loads(data or b"[]")
    except ValueError:
        raise HTTPError(503, "a listing was not JSON") from None
