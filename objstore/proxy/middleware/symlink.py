"""symlink: objects that stand for another object (``X-Symlink-Target``).

    PUT /v1/a/c/link   X-Symlink-Target: <container>/<object>   (no body)
                       [X-Symlink-Target-Account: <account>]
                       [X-Symlink-Target-Etag: <etag>  [X-Symlink-Target-Bytes: <n>]]
    GET|HEAD /v1/a/c/link               the target's answer, Content-Location naming it
    GET|HEAD /v1/a/c/link?symlink=get   the link itself, with its X-Symlink-Target* headers
    POST /v1/a/c/link                   applied to the link; 307 with Location: the target
    COPY (or PUT X-Copy-From) of a link the target's bytes; with ?symlink=get the link

* A link is a zero-byte object (a body is 400) whose target is stored as
  object sysmeta (``X-Object-Sysmeta-Symlink-Target[-Account|-Etag|-Bytes]``,
  URL-quoted), through ``environ["objstore.backend_headers"]``, so no
  client can forge one. The target need not exist. A target not of the
  form ``container/object`` (URL-quoted UTF-8, no leading ``/``) is 412,
  a link to itself 400. Its Content-Type is the client's, else
  ``application/symlink`` (a static link: its target's).
* A static link (``X-Symlink-Target-Etag``) pins the object at the target
  path as stored: at PUT the target is HEADed as the client and must
  exist with that ETag (and ``X-Symlink-Target-Bytes`` as its length, if
  given), else 409; a GET whose target's ETag has changed since is 409.
  The object at a path that holds a link is that zero-byte link, so a
  static link to a link carries the empty body's ETag.
* GET and HEAD follow a link as the client (its token and ACLs decide at
  the target), chains of at most ``symloop_max`` links (409 past that).
  The proxy tells this filter of an object's sysmeta in
  ``environ["objstore.object_sysmeta"]`` (``objects.show_sysmeta``); a
  link answers a GET with 200 and an empty body, or, when the client's
  Range or conditional headers were judged against the link itself
  (304, 412, 416), with that; a 416 shows no sysmeta, so then a plain
  HEAD finds out whether the object is a link. A link into
  another account is followed only when an auth filter took the request
  (403 otherwise): the subrequests pass no auth filter of their own.
* POST may not set ``X-Symlink-Target`` (400). A POST to a link changes
  the link's metadata (as Swift's object servers cannot tell), and its
  answer is 307 with the target's path as ``Location``.
* Container listings: a link's row carries its target in its ``hash``
  (``<etag>; symlink_target=...; symlink_target_account=...``, through
  ``X-Object-Sysmeta-Container-Update-Override-Etag``); JSON listings show
  it as ``symlink_path`` (and ``symlink_etag``, ``symlink_bytes`` for
  static links) with the plain hash, XML listings the plain hash.
* ``/info`` has ``symlink``: ``symloop_max`` and ``static_links``.
"""
from __future__ import annotations

import dataclasses
import io
import json
import logging
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from objstore.common import constraints
from objstore.common.config import ConfigError, build, option
from objstore.common.http import HTTPError, WSGIApp, error_response, text_to_wsgi
from objstore.proxy.middleware.copy import Answer, Path, call, client_content_type, object_path
from objstore.proxy.middleware.signed_urls import info_with, is_info
from objstore.proxy.middleware.tempauth import AUTHORIZE, AUTHORIZE_OVERRIDE
from objstore.proxy.objects import OBJECT_SYSMETA
from objstore.proxy.pipeline import split_options

SECTION: Final = "filter:symlink"
BACKEND_HEADERS: Final = "objstore.backend_headers"
SYSMETA: Final = "X-Object-Sysmeta-Symlink-Target"
LISTING_ETAG: Final = "X-Object-Sysmeta-Container-Update-Override-Etag"
EMPTY_ETAG: Final = "d41d8cd98f00b204e9800998ecf8427e"  # MD5 of no bytes: a link's own
DEFAULT_TYPE: Final = "application/symlink"
# The parts of a link: (client header, sysmeta suffix, listing parameter)
FIELDS: Final = (("X-Symlink-Target", "", "symlink_target"),
                 ("X-Symlink-Target-Account", "-Account", "symlink_target_account"),
                 ("X-Symlink-Target-Etag", "-Etag", "symlink_target_etag"),
                 ("X-Symlink-Target-Bytes", "-Bytes", "symlink_target_bytes"))
# What a Range or a conditional judged against the link itself may answer
JUDGED_ON_LINK: Final = (304, 412, 416)
NOT_FOR_A_PROBE: Final = ("HTTP_RANGE", "HTTP_IF_", "webob.")
LISTING_LIMIT: Final = 64 << 20
_XML_HASH: Final = re.compile(rb"<hash>([^<;]*);[^<]*</hash>")
PARAMS: Final = frozenset(param for _, _, param in FIELDS)


@dataclasses.dataclass(frozen=True)
class SymlinkConfig:
    symloop_max: int = option(2, "links a GET or HEAD may pass through in a row", minimum=1)


@dataclasses.dataclass(frozen=True)
class Link:
    """Where a link points (names as text); ``etag`` set for a static link."""

    account: str
    container: str
    obj: str
    etag: str | None = None
    size: int | None = None

    @property
    def path(self) -> Path:
        return self.account, self.container, self.obj

    @property
    def location(self) -> str:
        """The target's path, URL-quoted (Content-Location, Location, symlink_path)."""
        target, account = self.quoted()
        return f"/v1/{account}/{target}"

    def quoted(self) -> tuple[str, str]:
        """(container/object, account), URL-quoted as the headers carry them."""
        return (urllib.parse.quote(f"{self.container}/{self.obj}"),
                urllib.parse.quote(self.account, safe=""))

    def values(self) -> list[str | None]:
        """The four parts in FIELDS order, as stored and shown."""
        target, account = self.quoted()
        return [target, account, self.etag, None if self.size is None else str(self.size)]

    def sysmeta(self) -> dict[str, str]:
        return {SYSMETA + suffix: value
                for (_, suffix, _), value in zip(FIELDS, self.values()) if value is not None}

    def client_headers(self) -> list[tuple[str, str]]:
        return [(header, value)
                for (header, _, _), value in zip(FIELDS, self.values()) if value is not None]

    def listing_etag(self) -> str:
        """The link's own ETag with its target as parameters, for its listing row."""
        return "; ".join([EMPTY_ETAG] + [
            f"{param}={value}"
            for (_, _, param), value in zip(FIELDS, self.values()) if value is not None])


# -- parsing ------------------------------------------------------------------------

def _unquoted(value: str, header: str) -> str:
    """A header value (WSGI latin-1), URL-unquoted as UTF-8 text; 412 otherwise."""
    try:
        text = urllib.parse.unquote_to_bytes(value.strip().encode("latin-1")).decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        raise HTTPError(412, f"{header} is not URL-quoted UTF-8") from None
    if "\x00" in text:
        raise HTTPError(412, f"{header} holds a NUL byte")
    return text


def _checked(check: Callable[[str], str], name: str, header: str) -> str:
    try:
        return check(name)
    except constraints.ConstraintError as err:
        raise HTTPError(err.status, f"{header}: {err.reason}") from None


def parse_link(environ: Mapping[str, Any], path: Path) -> Link:
    """The link a PUT asks for (it has ``X-Symlink-Target``); 400/412 if malformed."""
    form = "X-Symlink-Target must be of the form <container name>/<object name>"
    target = _unquoted(environ["HTTP_X_SYMLINK_TARGET"], "X-Symlink-Target")
    container, _, obj = target.partition("/")
    if not container or not obj:
        raise HTTPError(412, form)
    _checked(constraints.check_container_name, container, "X-Symlink-Target")
    _checked(constraints.check_object_name, obj, "X-Symlink-Target")
    account = path[0]
    given = environ.get("HTTP_X_SYMLINK_TARGET_ACCOUNT")
    if given is not None:
        account = _unquoted(given, "X-Symlink-Target-Account")
        if not account or "/" in account:
            raise HTTPError(412, "X-Symlink-Target-Account must be an account name")
        _checked(constraints.check_account_name, account, "X-Symlink-Target-Account")
    if (account, container, obj) == path:
        raise HTTPError(400, "a symlink cannot target itself")
    etag = (environ.get("HTTP_X_SYMLINK_TARGET_ETAG") or "").strip().strip('"') or None
    if etag is not None and any(c in etag for c in ';"\\'):
        raise HTTPError(400, "bad X-Symlink-Target-Etag: it may not hold ; \" or \\")
    size = environ.get("HTTP_X_SYMLINK_TARGET_BYTES")
    if size is not None and etag is None:
        raise HTTPError(400, "X-Symlink-Target-Bytes needs X-Symlink-Target-Etag")
    if size is not None and not size.strip().isdigit():
        raise HTTPError(400, f"X-Symlink-Target-Bytes must be a whole number, not {size[:40]!r}")
    return Link(account, container, obj, etag, None if size is None else int(size))


def stored_link(sysmeta: Mapping[str, str] | None) -> Link | None:
    """The link an object's sysmeta describes; None for any other object."""
    if not sysmeta:
        return None
    found = {name.lower(): value for name, value in sysmeta.items()}
    values = [found.get((SYSMETA + suffix).lower()) for _, suffix, _ in FIELDS]
    target, account, etag, size = values
    if not target or not account:
        return None
    container, _, obj = urllib.parse.unquote(target).partition("/")
    return Link(urllib.parse.unquote(account), container, obj, etag,
                int(size) if size and size.isdigit() else None)


def refuse_a_body(environ: dict[str, Any]) -> None:
    """400 unless the PUT's body is empty; a chunked empty one becomes Content-Length 0."""
    length = (environ.get("CONTENT_LENGTH") or "").strip()
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    if chunked and not environ["wsgi.input"].read(1):
        environ.pop("HTTP_TRANSFER_ENCODING")
        environ.update({"CONTENT_LENGTH": "0", "wsgi.input": io.BytesIO(b"")})
    elif chunked or not length.isdigit() or int(length) != 0:
        raise HTTPError(400, "a symlink is a zero-byte object: send no body "
                             "(Content-Length: 0)")


def wants_the_link(environ: Mapping[str, Any]) -> bool:
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    return (query.get("symlink") or [""])[-1] == "get"


def container_listing(environ: Mapping[str, Any]) -> bool:
    """Whether this is a GET of ``/<version>/<account>/<container>``."""
    if environ.get("REQUEST_METHOD") != "GET":
        return False
    parts = environ.get("PATH_INFO", "").split("/")
    if parts[-1:] == [""] and len(parts) == 5:
        parts = parts[:-1]
    return len(parts) == 4 and not parts[0] and all(parts[1:]) \
        and parts[1] in constraints.DEFAULT_CONSTRAINTS.valid_api_versions


# -- listings -------------------------------------------------------------------------

def listing_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A JSON listing row with its link (if any) out of its hash."""
    value = entry.get("hash")
    if not isinstance(value, str) or ";" not in value:
        return entry
    etag, *params = (part.strip() for part in value.split(";"))
    found: dict[str, str] = {}
    kept = [etag]
    for param in params:
        name, _, text = param.partition("=")
        if name in PARAMS:
            found[name] = text
        else:
            kept.append(param)
    if "symlink_target" not in found:
        return entry
    entry["hash"] = "; ".join(kept)
    account = found.get("symlink_target_account", "")
    entry["symlink_path"] = f"/v1/{account}/{found['symlink_target']}"
    if "symlink_target_etag" in found:
        entry["symlink_etag"] = found["symlink_target_etag"]
    if found.get("symlink_target_bytes", "").isdigit():
        entry["symlink_bytes"] = int(found["symlink_target_bytes"])
    return entry


def rewrite_listing(body: bytes, content_type: str) -> bytes:
    """A container listing's links shown as Swift shows them (module doc)."""
    if b"symlink_target=" not in body:
        return body
    if "json" in content_type:
        try:
            rows = json.loads(body)
        except ValueError:
            return body
        if not isinstance(rows, list):
            return body
        return json.dumps([listing_entry(row) if isinstance(row, dict) else row
                           for row in rows]).encode("ascii")
    return _XML_HASH.sub(rb"<hash>\1</hash>", body)


# -- the filter -----------------------------------------------------------------------

def passthrough(answer: Answer, start_response: Callable[..., Any],
                extra: Iterable[tuple[str, str]] = ()) -> Iterable[bytes]:
    start_response(answer.status, [*answer.headers, *extra])
    return answer


def redirected(environ: Mapping[str, Any], path: Path, method: str | None = None,
               probe: bool = False) -> dict[str, Any]:
    """The client's request for another path (a probe: a plain HEAD)."""
    dropped = NOT_FOR_A_PROBE + ("RAW_PATH_INFO", "REQUEST_URI") if probe \
        else ("webob.", "RAW_PATH_INFO", "REQUEST_URI")
    sub = {k: v for k, v in environ.items() if not k.startswith(dropped)}
    sub.pop(OBJECT_SYSMETA, None)
    sub["PATH_INFO"] = text_to_wsgi("/v1/" + "/".join(path))
    if method is not None:
        sub.update({"REQUEST_METHOD": method, "CONTENT_LENGTH": "0",
                    "wsgi.input": io.BytesIO(b"")})
    if probe:
        sub["QUERY_STRING"] = ""
    return sub


def etag_of(answer: Answer) -> str | None:
    value = answer.header("ETag")
    return None if value is None else value.strip().strip('"')


class Symlinks:
    """The WSGI filter (see the module docstring)."""

    def __init__(self, app: WSGIApp, conf: SymlinkConfig, logger: logging.Logger) -> None:
        self.app, self.conf, self.logger = app, conf, logger

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        if is_info(environ):
            return info_with(self.app, environ, start_response, "symlink", {
                "symloop_max": self.conf.symloop_max, "static_links": True})
        method = environ.get("REQUEST_METHOD", "")
        try:
            if container_listing(environ):
                return self.listing(environ, start_response)
            path = object_path(environ)
            if path is None:
                return self.app(environ, start_response)
            if method == "PUT" and "HTTP_X_SYMLINK_TARGET" in environ:
                return self.put(environ, path, start_response)
            if method == "PUT" and any(f"HTTP_{h.upper().replace('-', '_')}" in environ
                                       for h, _, _ in FIELDS[1:]):
                raise HTTPError(400, "X-Symlink-Target-Account, -Etag and -Bytes need "
                                     "X-Symlink-Target")
            if method in ("GET", "HEAD"):
                if wants_the_link(environ):
                    return self.the_link(environ, start_response)
                return self.follow(environ, path, start_response)
            if method == "POST":
                return self.post(environ, path, start_response)
        except HTTPError as err:
            return error_response(err.status, err.reason, err.headers)(environ, start_response)
        return self.app(environ, start_response)

    # -- PUT -------------------------------------------------------------------------

    def put(self, environ: dict[str, Any], path: Path, start_response: Callable[..., Any]
            ) -> Iterable[bytes]:
        link = parse_link(environ, path)
        if environ.get(AUTHORIZE_OVERRIDE):
            raise HTTPError(400, "a temp URL or form POST cannot make a symlink")
        refuse_a_body(environ)
        content_type = DEFAULT_TYPE
        if link.etag is not None:
            link, content_type = self.check_static(environ, path, link)
        if client_content_type(environ) is None:
            environ["CONTENT_TYPE"] = content_type
        environ[BACKEND_HEADERS] = {**(environ.get(BACKEND_HEADERS) or {}), **link.sysmeta(),
                                    LISTING_ETAG: link.listing_etag()}
        return self.app(environ, start_response)

    def check_static(self, environ: dict[str, Any], path: Path, link: Link
                     ) -> tuple[Link, str]:
        """The static link with its target's size, and the target's
        Content-Type; 409 unless the target is there with that ETag (and size)."""
        self.check_reach(environ, path[0], link)
        answer = call(self.app, redirected(environ, link.path, "HEAD", probe=True))
        answer.close()
        if answer.code == 404:
            raise HTTPError(409, f"X-Symlink-Target {link.quoted()[0]} does not exist "
                                 "(a static link needs its target)")
        if not 200 <= answer.code < 300:
            raise HTTPError(answer.code if answer.code < 500 else 503,
                            f"X-Symlink-Target could not be checked: {answer.status}")
        etag = etag_of(answer)
        if etag != link.etag:
            raise HTTPError(409, f"the target's ETag {etag!r} does not match "
                                 f"X-Symlink-Target-Etag {link.etag!r}")
        length = answer.header("Content-Length")
        size = int(length) if length is not None and length.isdigit() else None
        if link.size is not None and size != link.size:
            raise HTTPError(409, f"the target's length {size} does not match "
                                 f"X-Symlink-Target-Bytes {link.size}")
        return (dataclasses.replace(link, size=size),
                answer.header("Content-Type") or "application/octet-stream")

    @staticmethod
    def check_reach(environ: Mapping[str, Any], account: str, link: Link) -> None:
        """403 for a link out of the client's account that no auth filter vouches for."""
        if link.account != account and AUTHORIZE not in environ:
            raise HTTPError(403, "a symlink into another account needs a token an auth "
                                 "filter accepts")

    # -- GET / HEAD ------------------------------------------------------------------

    def the_link(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        environ.pop(OBJECT_SYSMETA, None)
        answer = call(self.app, environ)
        link = stored_link(environ.pop(OBJECT_SYSMETA, None))
        return passthrough(answer, start_response, link.client_headers() if link else [])

    def link_at(self, environ: dict[str, Any], path: Path, answer: Answer) -> Link | None:
        """The link this answer came from, if it did (module doc)."""
        shown = environ.pop(OBJECT_SYSMETA, None)
        link = stored_link(shown)
        # a 304 or 412 shows the object's metadata, a 416 does not
        if link is None and (answer.code == 416 or answer.code in JUDGED_ON_LINK
                             and shown is None):
            probe = redirected(environ, path, "HEAD", probe=True)
            call(self.app, probe).close()
            link = stored_link(probe.get(OBJECT_SYSMETA))
        return link

    def follow(self, environ: dict[str, Any], path: Path, start_response: Callable[..., Any]
               ) -> Iterable[bytes]:
        environ.pop(OBJECT_SYSMETA, None)
        answer = call(self.app, environ)
        link = self.link_at(environ, path, answer)
        account, hops = path[0], 0
        while link is not None:
            answer.close()
            hops += 1
            if hops > self.conf.symloop_max:
                raise HTTPError(409, "too many levels of symlinks: at most "
                                     f"{self.conf.symloop_max} may be followed in a row")
            self.check_reach(environ, account, link)
            sub = redirected(environ, link.path)
            answer = call(self.app, sub)
            self.check_pinned(link, answer)
            path, link, last = link.path, self.link_at(sub, link.path, answer), link
        if hops == 0:
            return passthrough(answer, start_response)
        return passthrough(answer, start_response, [("Content-Location", last.location)])

    @staticmethod
    def check_pinned(link: Link, answer: Answer) -> None:
        """409 when a static link's target is no longer the object it was made for."""
        etag = etag_of(answer)
        if link.etag is None or etag is None or answer.code not in (200, 206, 304, 412):
            return
        if etag != link.etag:
            answer.close()
            raise HTTPError(409, f"the target's ETag {etag!r} no longer matches the "
                                 f"link's X-Symlink-Target-Etag {link.etag!r}")

    # -- POST ------------------------------------------------------------------------

    def post(self, environ: dict[str, Any], path: Path, start_response: Callable[..., Any]
             ) -> Iterable[bytes]:
        if any(f"HTTP_{h.upper().replace('-', '_')}" in environ for h, _, _ in FIELDS):
            raise HTTPError(400, "a POST cannot change a symlink's target: PUT the link again")
        answer = call(self.app, environ)
        if not 200 <= answer.code < 300:
            return passthrough(answer, start_response)
        probe = redirected(environ, path, "HEAD", probe=True)
        call(self.app, probe).close()
        link = stored_link(probe.get(OBJECT_SYSMETA))
        if link is None:
            return passthrough(answer, start_response)
        answer.close()
        body = (f"The metadata was applied to the symlink, not its target; POST to "
                f"{link.location} to change the target's.\n").encode()
        start_response("307 Temporary Redirect", [
            ("Location", link.location), ("Content-Type", "text/plain; charset=UTF-8"),
            ("Content-Length", str(len(body)))])
        return [body]

    # -- listings --------------------------------------------------------------------

    def listing(self, environ: dict[str, Any], start_response: Callable[..., Any]
                ) -> Iterable[bytes]:
        answer = call(self.app, environ)
        content_type = answer.header("Content-Type") or ""
        if answer.code != 200 or not ("json" in content_type or "xml" in content_type):
            return passthrough(answer, start_response)
        try:
            body = b""
            for chunk in answer:
                body += chunk
                if len(body) > LISTING_LIMIT:
                    raise HTTPError(503, "the container listing is too big to read")
        finally:
            answer.close()
        body = rewrite_listing(body, content_type)
        headers = [(k, v) for k, v in answer.headers if k.lower() != "content-length"]
        start_response(answer.status, [*headers, ("Content-Length", str(len(body)))])
        return [body]


def load_config(options: Mapping[str, str], source: str = "proxy config"
                ) -> tuple[SymlinkConfig, list[str]]:
    own, shared, section = split_options(options, SECTION)
    try:
        return build(SymlinkConfig, own, shared=shared, source=source, section=section)
    except ConfigError as err:
        raise ValueError(str(err).removeprefix(f"{source} [{section}]").lstrip(": ")) from None


def filter_factory(options: Mapping[str, str], logger: logging.Logger,
                   source: str = "proxy config") -> Callable[[WSGIApp], Symlinks]:
    """The pipeline's way in: options of ``[filter:symlink]`` from ``source``."""
    conf, warnings = load_config(options, source or "proxy config")
    for warning in warnings:
        logger.warning(warning)
    return lambda app: Symlinks(app, conf, logger)
