"""copy: server-side copies, ``COPY`` with ``Destination`` and ``PUT`` with ``X-Copy-From``.

    COPY /v1/AUTH_a/c/o    Destination: c2/o2     [Destination-Account: AUTH_b]
    PUT /v1/AUTH_a/c2/o2   X-Copy-From: c/o       [X-Copy-From-Account: AUTH_b]

Both are two subrequests to the app below, in the client's own environ
(its identity, ``objstore.authorize`` and transaction id), so the proxy
authorizes each as the client: a GET of the source (``X-Newest``, no
Range, no preconditions), then a PUT of the destination whose body is the
source's, streamed through chunk by chunk, with the source's length and
ETag, so the object servers refuse a body that does not match it.

* The copy gets the source's Content-Type, object settings
  (Content-Encoding ...), X-Delete-At and user metadata; the request's own
  headers win (an empty value or ``X-Remove-Object-Meta-*`` removes one),
  and ``X-Fresh-Metadata: true`` keeps none of the source's metadata
  (nor its X-Delete-At).
  Copying an object onto itself is how a client changes its Content-Type.
* A symlink's copy is its target's bytes; with ``?symlink=get`` it is the
  link itself (the source GET asks for the link and its X-Symlink-Target*).
* A large object (SLO or DLO) is copied as one plain object of all its
  bytes, checked by their length only: its ETag is not their MD5.
* The answer is the PUT's (201), with ``X-Copied-From`` (quoted
  container/object), ``X-Copied-From-Account`` and
  ``X-Copied-From-Last-Modified``. A failed GET or PUT is answered with
  its own status, its reason prefixed by which side failed.
* Bad input is 4xx: a header not of the form ``container/object`` (URL
  quoted, a leading ``/`` allowed) is 412; a copy with a body 400; a
  source over ``max_file_size`` 413. Names are the app's to check.
* A copy to or from another account is refused (403) unless an auth
  filter took the request: the subrequests skip the auth filters, so an
  account no filter claims must not open a door into one that a filter does.
"""
from __future__ import annotations

import io
import itertools
import logging
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from objstore.common import constraints
from objstore.common.config import is_true
from objstore.common.constraints import DEFAULT_CONSTRAINTS
from objstore.common.http import error_response, HTTPError, new_trans_id, text_to_wsgi, WSGIApp

Path = tuple[str, str, str]  # account, container, object (text)

# What the copy takes from the source besides the body: the settings
# always, the metadata and expiry unless X-Fresh-Metadata says otherwise.
SETTINGS = ("content-type", "content-encoding", "content-disposition", "content-language",
            "cache-control", "expires", "etag")
META = "x-object-meta-"
REMOVE_META = "x-remove-object-meta-"
REQUEST_ONLY = ("x-delete-at", "x-delete-after")
LARGE_OBJECT = ("x-static-large-object", "x-object-manifest")
# A link's target, which a source GET with ?symlink=get shows: the copy is a link too.
LINK = ("x-symlink-target", "x-symlink-target-account", "x-symlink-target-etag",
        "x-symlink-target-bytes")
# Client headers that describe the client's own (empty) body, preconditions
# or the copy itself: meaningless to the source's GET, replaced on the PUT.
DROPPED = ("HTTP_RANGE", "HTTP_IF_", "HTTP_ETAG", "HTTP_EXPECT", "HTTP_TRANSFER_ENCODING",
           "HTTP_CONTENT_", "HTTP_X_COPY_FROM", "HTTP_DESTINATION", "HTTP_X_FRESH_METADATA",
           "HTTP_X_OBJECT_META_", "HTTP_X_REMOVE_OBJECT_META_", "HTTP_X_DELETE_",
           "HTTP_X_NEWEST", "HTTP_CACHE_CONTROL", "HTTP_EXPIRES", "CONTENT_TYPE",
           "CONTENT_LENGTH", "RAW_PATH_INFO", "REQUEST_URI", "headers_raw", "webob.")
ERROR_BODY_LIMIT = 65536


# -- parsing the request ------------------------------------------------------

def _unquote(value: str, header: str) -> str:
    """A header value (WSGI latin-1) URL-unquoted as UTF-8 text; 412 otherwise."""
    try:
        text = urllib.parse.unquote_to_bytes(value.encode("latin-1")).decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        raise HTTPError(412, f"{header} is not valid UTF-8") from None
    if "\x00" in text:
        raise HTTPError(412, f"{header} holds a NUL byte")
    return text


def parse_object_header(value: str | None, header: str) -> tuple[str, str]:
    """(container, object) of a ``Destination`` or ``X-Copy-From`` value."""
    form = f"{header} must be of the form <container name>/<object name>"
    if value is None:
        raise HTTPError(412, f"{header} header is required: {form[len(header) + 1:]}")
    container, _, obj = _unquote(value.strip(), header).removeprefix("/").partition("/")
    if not container or not obj:
        raise HTTPError(412, form)
    return container, obj


def parse_account_header(value: str | None, header: str, default: str) -> str:
    if value is None:
        return default
    account = _unquote(value.strip(), header)
    if not account or "/" in account:
        raise HTTPError(412, f"{header} must be an account name")
    return account


def object_path(environ: Mapping[str, Any]) -> Path | None:
    """The account, container and object of an object request, else None
    (the app answers anything else, bad paths included)."""
    try:
        path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return None
    parts = path.split("/", 4)
    if len(parts) != 5 or parts[0] or not all(parts[1:]) \
            or parts[1] not in DEFAULT_CONSTRAINTS.valid_api_versions:
        return None
    return parts[2], parts[3], parts[4]


def copy_paths(environ: Mapping[str, Any], path: Path) -> tuple[Path, Path]:
    """(source, destination) of a COPY or of a PUT with X-Copy-From."""
    if environ["REQUEST_METHOD"] == "COPY":
        container, obj = parse_object_header(environ.get("HTTP_DESTINATION"), "Destination")
        account = parse_account_header(environ.get("HTTP_DESTINATION_ACCOUNT"),
                                       "Destination-Account", path[0])
        return path, (account, container, obj)
    container, obj = parse_object_header(environ.get("HTTP_X_COPY_FROM"), "X-Copy-From")
    account = parse_account_header(environ.get("HTTP_X_COPY_FROM_ACCOUNT"),
                                   "X-Copy-From-Account", path[0])
    return (account, container, obj), path


def source_query(environ: Mapping[str, Any]) -> str:
    """The source GET's query: ``symlink=get`` when the client copies a link
    itself rather than its target (objstore.proxy.middleware.symlink), and
    ``version-id`` when it copies one version (object_versioning)."""
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    kept = []
    if (query.get("symlink") or [""])[-1] == "get":
        kept.append(("symlink", "get"))
    if query.get("version-id"):
        kept.append(("version-id", query["version-id"][-1]))
    return urllib.parse.urlencode(kept)


def refuse_a_body(environ: dict[str, Any]) -> None:
    """400 for a copy that comes with a body of its own."""
    length = environ.get("CONTENT_LENGTH") or "0"
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    if length.strip() not in ("0", "") or (chunked and environ["wsgi.input"].read(1)):
        raise HTTPError(400, "a copy takes its body from the source: send none")


def client_content_type(environ: Mapping[str, Any]) -> str | None:
    """The Content-Type the client sent, None if it sent none or an empty one."""
    return environ.get("CONTENT_TYPE") or None


def request_headers(environ: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The client's headers as (lower-case name, value), for the merge."""
    found = [(key[5:].replace("_", "-").lower(), value) for key, value in environ.items()
             if key.startswith("HTTP_")]
    content_type = client_content_type(environ)
    return found if content_type is None else [*found, ("content-type", content_type)]


# -- the destination's headers -----------------------------------------------

def destination_headers(source: Iterable[tuple[str, str]], request: Iterable[tuple[str, str]]
                        ) -> dict[str, str]:
    """What the destination's PUT carries besides its body (see the module doc).

    ``source``: the source GET's response headers; ``request``: the client's."""
    request, source = list(request), list(source)
    fresh = any(name.lower() == "x-fresh-metadata" and is_true(value) for name, value in request)
    # a large object's ETag is not its bytes' MD5: the copy is checked by length only
    large = any(name.lower() in LARGE_OBJECT for name, _ in source)
    merged: dict[str, tuple[str, str]] = {}
    for name, value in source:
        lowered = name.lower()
        if lowered == "etag" and large:
            continue
        if lowered in SETTINGS or lowered in LINK \
                or not fresh and (lowered.startswith(META) or lowered == "x-delete-at"):
            merged[lowered] = (name, value)
    for name, value in request:
        lowered = name.lower()
        if lowered.startswith(REMOVE_META):
            merged.pop(META + lowered[len(REMOVE_META):], None)
        elif lowered == "content-type" and not value:
            continue  # no Content-Type given: the source's stays
        elif lowered in SETTINGS or lowered in REQUEST_ONLY or lowered.startswith(META):
            merged[lowered] = (name, value)
    if "x-delete-after" in merged:
        merged.pop("x-delete-at", None)
    if "etag" in merged:
        merged["etag"] = ("ETag", merged["etag"][1].strip().strip('"'))
    return {name: value for name, value in merged.values() if value}


# -- subrequests ----------------------------------------------------------------

class SourceBody:
    """The source GET's body as the ``wsgi.input`` of the destination PUT:
    pulled a chunk at a time as the PUT reads, never held whole."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""
        self.received = 0
        self.ended = False

    def read(self, size: int = -1) -> bytes:
        while not self.ended and (size < 0 or len(self._buffer) < size):
            chunk = next(self._chunks, None)
            if chunk is None:
                self.ended = True
            else:
                self.received += len(chunk)
                self._buffer += chunk
        cut = len(self._buffer) if size < 0 else size
        data, self._buffer = self._buffer[:cut], self._buffer[cut:]
        return data


class Answer:
    """A subrequest's status, headers and (not yet read) body."""

    def __init__(self, status: str, headers: list[tuple[str, str]], body: Iterator[bytes],
                 closer: Callable[[], None] | None) -> None:
        self.status, self.headers, self.body = status, headers, body
        self.code = int(status.split(" ", 1)[0])
        self._closer = closer

    def __iter__(self) -> Iterator[bytes]:
        return self.body

    def header(self, name: str) -> str | None:
        # asked several times of every answer by the filters it passes through
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def close(self) -> None:
        if self._closer is not None:
            self._closer()
            self._closer = None

    def read_error(self) -> bytes:
        """The start of an error body (those are short); the rest is dropped."""
        data = b""
        for chunk in self.body:
            data += chunk
            if len(data) >= ERROR_BODY_LIMIT:
                break
        self.close()
        return data[:ERROR_BODY_LIMIT]


def call(app: WSGIApp, environ: dict[str, Any]) -> Answer:
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None
                       ) -> Callable[[bytes], None]:
        started[:] = [status, list(headers)]
        return write

    def write(data: bytes) -> None:
        # Old apps' way to send a body; ours return it, so losing one would be silent.
        raise NotImplementedError("the copy filter needs the app's body returned, not written")

    result = app(environ, start_response)
    chunks = iter(result)
    first: list[bytes] = []
    if not started:  # an app may answer only once its body is pulled
        first = [next(chunks, b"")]
    if not started:
        raise RuntimeError(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}: the app "
                           "below gave no status")
    closer = getattr(result, "close", None)
    return Answer(started[0], started[1], itertools.chain(first, chunks), closer)


def subrequest(environ: Mapping[str, Any], method: str, path: Path) -> dict[str, Any]:
    """The client's environ for ``method`` on ``path``, without its body,
    preconditions or copy headers, with its transaction id."""
    sub = {k: v for k, v in environ.items() if not k.startswith(DROPPED)}
    trans_id = environ.get("objstore.trans_id") or environ.get("HTTP_X_TRANS_ID") \
        or new_trans_id()
    sub.update({
        "REQUEST_METHOD": method, "QUERY_STRING": "", "CONTENT_LENGTH": "0",
        "PATH_INFO": text_to_wsgi("/v1/" + "/".join(path)), "wsgi.input": io.BytesIO(b""),
        "objstore.trans_id": trans_id, "HTTP_X_TRANS_ID": trans_id,
        # Swift's name for server-side copy, which its log tools know
        "objstore.source": "SSC",
    })
    return sub


def environ_key(header: str) -> str:
    if header.lower() in ("content-type", "content-length"):
        return header.upper().replace("-", "_")
    return "HTTP_" + header.upper().replace("-", "_")


# -- the filter -----------------------------------------------------------------

class Copy:
    def __init__(self, app: WSGIApp, logger: logging.Logger) -> None:
        self.app = app
        self.logger = logger

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        path = object_path(environ)
        if path is None or not (method == "COPY" or method == "PUT"
                                and "HTTP_X_COPY_FROM" in environ):
            return self.app(environ, start_response)
        try:
            if "objstore.source" not in environ:  # the client's own (see ObjectController)
                constraints.check_client_content_type(environ.get("CONTENT_TYPE", ""))
            return self.copy(environ, path, start_response)
        except constraints.ConstraintError as err:
            return error_response(err.status, err.reason)(environ, start_response)
        except HTTPError as err:
            return error_response(err.status, err.reason, err.headers)(environ, start_response)

    def copy(self, environ: dict[str, Any], path: Path, start_response: Callable[..., Any]
             ) -> Iterable[bytes]:
        source, destination = copy_paths(environ, path)
        refuse_a_body(environ)
        if (source[0] != path[0] or destination[0] != path[0]) \
                and "objstore.authorize" not in environ:
            raise HTTPError(403, "a copy to or from another account needs a token "
                                 "an auth filter accepts")
        got = call(self.app, {**subrequest(environ, "GET", source), "HTTP_X_NEWEST": "true",
                              "QUERY_STRING": source_query(environ)})
        if not 200 <= got.code < 300:
            return self.failed(environ, got, "copy source", start_response)
        try:
            put = self.put(environ, destination, got)
        finally:
            got.close()
        if not 200 <= put.code < 300:
            return self.failed(environ, put, "copy destination", start_response)
        start_response(put.status, [*put.headers, *copied_from(source, got)])
        return put

    def put(self, environ: dict[str, Any], destination: Path, got: Answer) -> Answer:
        length = source_length(got)
        body = SourceBody(got.body)
        sub = subrequest(environ, "PUT", destination)
        sub["wsgi.input"] = body
        if length is None:
            sub.update({"CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked"})
        else:
            sub["CONTENT_LENGTH"] = str(length)
        for name, value in destination_headers(got.headers, request_headers(environ)).items():
            sub[environ_key(name)] = value
        put = call(self.app, sub)
        if length is not None and body.ended and body.received < length and put.code >= 400:
            put.close()
            self.logger.warning("copy to %s failed: the source ended after %d of %d bytes",
                                sub["PATH_INFO"], body.received, length)
            raise HTTPError(503, f"the source ended after {body.received} of {length} "
                                 "bytes; nothing was stored")
        return put

    @staticmethod
    def failed(environ: dict[str, Any], answer: Answer, side: str,
               start_response: Callable[..., Any]) -> Iterable[bytes]:
        reason = answer.read_error().decode("utf-8", "replace").strip()
        kept = {k: v for k, v in answer.headers
                if k.lower() not in ("content-length", "content-type")}
        return error_response(answer.code, f"{side}: {reason or answer.status}", kept)(
            environ, start_response)


def source_length(got: Answer) -> int | None:
    """The source's length (None: unknown, the PUT is chunked); 413 when
    it is over what one object may hold."""
    value = got.header("Content-Length")
    length = int(value) if value is not None and value.strip().isdigit() else None
    if length is not None and length > DEFAULT_CONSTRAINTS.max_file_size:
        raise HTTPError(413, f"the source's {length} bytes are over the limit of "
                             f"{DEFAULT_CONSTRAINTS.max_file_size} for one object")
    return length


def copied_from(source: Path, got: Answer) -> list[tuple[str, str]]:
    account, container, obj = source
    headers = [("X-Copied-From", urllib.parse.quote(f"{container}/{obj}")),
               ("X-Copied-From-Account", urllib.parse.quote(account))]
    last_modified = got.header("Last-Modified")
    return headers if last_modified is None else \
        [*headers, ("X-Copied-From-Last-Modified", last_modified)]


def filter_factory(options: Mapping[str, str], logger: logging.Logger,
                   source: str = "") -> Callable[[WSGIApp], Copy]:
    return lambda app: Copy(app, logger)
