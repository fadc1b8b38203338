"""formpost: browser uploads into a container with a signed HTML form, as in Swift.

    <form action="https://proxy/v1/AUTH_a/container/prefix/" method="POST"
          enctype="multipart/form-data">
      <input type="hidden" name="redirect" value="https://example.com/done">
      <input type="hidden" name="max_file_size" value="104857600">
      <input type="hidden" name="max_file_count" value="10">
      <input type="hidden" name="expires" value="1700000000">
      <input type="hidden" name="signature" value="<hmac>">
      [<input type="hidden" name="x_delete_at" value="<unix time>">]
      [<input type="hidden" name="x_delete_after" value="<seconds>">]
      <input type="file" name="file1"> ...
    </form>

The signature is an HMAC (``allowed_digests``; hex or ``<digest>:<base64>``,
see ``signed_urls``) with one of the account's or the container's temp
URL keys of ``<path>\\n<redirect>\\n<max_file_size>\\n<max_file_count>\\n<expires>``,
``<path>`` being the form's unquoted URL path. Each file becomes the
object ``<path>`` + its file name (``/`` added after a bare container),
stored by a PUT through the rest of the pipeline as the file streams in,
with the file part's Content-Type. The fields must come before the files;
fields after the first file are ignored.

* A form that cannot be trusted is refused before anything is stored and
  never redirected: 400 for a malformed body or field, 401 for an expired
  form or a signature that does not match.
* Then the files are stored in order until one fails: one over
  ``max_file_size`` (it is cut off and not stored), one past
  ``max_file_count``, or a PUT that fails (its status). The files stored
  before it stay. The outcome is a 303 to ``redirect`` with ``status``
  and ``message`` query parameters, or, without a redirect, that status
  (201 when all went well) with the message as the body. A form with no
  file is 400 ("no files to process").
* Only a POST with a multipart/form-data body is a form; any other request
  (an empty POST changing an object's Content-Type included) passes by.
* ``GET /info`` shows the digests under ``formpost``.
"""
from __future__ import annotations

import dataclasses
import html
import logging
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from objstore.common.config import ConfigError, build, option
from objstore.common.http import error_response, HTTPError, Response, WSGIApp
from objstore.proxy.middleware.copy import call
from objstore.proxy.middleware.form_parts import form_boundary, FormError, FormReader, Part
from objstore.proxy.middleware.signed_urls import (
    check_digests, check_signature, digests_info, Grant, info_with, is_info, KeyStore, split_v1,
    subrequest_environ,
)
from objstore.proxy.pipeline import split_options

SECTION = "filter:formpost"
FIELDS: Final = ("redirect", "max_file_size", "max_file_count", "expires", "signature",
                 "x_delete_at", "x_delete_after")
MAX_VALUE_LENGTH: Final = 4096


@dataclasses.dataclass(frozen=True)
class FormPostConfig:
    allowed_digests: list[str] = option(["sha1", "sha256", "sha512"],
                                        "HMAC digests a signature may use")
    key_cache_time: float = option(60.0, "seconds account and container keys are cached",
                                   minimum=0)

    def __post_init__(self) -> None:
        check_digests(self.allowed_digests)


def load_config(options: Mapping[str, str], source: str = "proxy config"
                ) -> tuple[FormPostConfig, list[str]]:
    """The typed options and warnings; a bad value is a ValueError."""
    own, shared, section = split_options(options, SECTION)
    try:
        return build(FormPostConfig, own, shared=shared, source=source, section=section)
    except ConfigError as err:
        raise ValueError(str(err).removeprefix(f"{source} [{section}]").lstrip(": ")) from None


# -- the form ---------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Form:
    """A form's fields once checked (see ``check_fields``)."""

    redirect: str
    max_file_size: int
    max_file_count: int
    expires: int
    signature: str
    delete_at: int | None = None
    delete_after: int | None = None


def signed_message(path: str, fields: Mapping[str, str]) -> str:
    """What a form's signature is the HMAC of: its path and fields as sent."""
    return "\n".join([path, *(fields.get(name, "") for name in
                              ("redirect", "max_file_size", "max_file_count", "expires"))])


def _whole(fields: Mapping[str, str], name: str, minimum: int = 0) -> int:
    text = fields.get(name, "").strip()
    if not text.isdigit() or int(text) < minimum:
        raise HTTPError(400, f"FormPost: {name} must be a whole number"
                        + (f" of at least {minimum}" if minimum else ""))
    return int(text)


def _optional(fields: Mapping[str, str], name: str) -> int | None:
    return _whole(fields, name) if fields.get(name, "").strip() else None


def check_fields(fields: Mapping[str, str], now: float) -> Form:
    """The form's fields as numbers; 400 for a malformed one, 401 expired."""
    form = Form(redirect=fields.get("redirect", ""),
                max_file_size=_whole(fields, "max_file_size"),
                max_file_count=_whole(fields, "max_file_count", 1),
                expires=_whole(fields, "expires"),
                signature=fields.get("signature", ""),
                delete_at=_optional(fields, "x_delete_at"),
                delete_after=_optional(fields, "x_delete_after"))
    if not form.signature:
        raise HTTPError(401, "FormPost: the form has no signature")
    if form.expires < now:
        raise HTTPError(401, "FormPost: the form expired")
    return form


def redirect_to(redirect: str, status: int, message: str) -> str:
    """``redirect`` with ``status`` and ``message`` query parameters added."""
    # the URL is the signer's; only what a header cannot carry is escaped
    base = urllib.parse.quote(redirect, safe="!#$%&'()*+,/:;=?@[]~")
    query = urllib.parse.urlencode({"status": status, "message": message})
    return base + ("&" if "?" in base else "?") + query


def outcome_response(redirect: str, status: int, message: str) -> Response:
    if not redirect:
        return Response(status=status, body=f"FormPost: {message}\n".encode(),
                        content_type="text/plain", charset="utf-8")
    location = redirect_to(redirect, status, message)
    body = (f'<html><body><p><a href="{html.escape(location)}">'
            "Click to continue...</a></p></body></html>\n").encode()
    response = Response(status=303, body=body, content_type="text/html", charset="utf-8")
    response.headers["Location"] = location
    return response


class FileBody:
    """One file part as a PUT's ``wsgi.input``: cut off (ValueError, so the
    PUT stores nothing) past ``limit`` bytes or where the form breaks."""

    def __init__(self, reader: FormReader, limit: int) -> None:
        self.reader = reader
        self.limit = limit
        self.received = 0
        self.failure: str | None = None

    def read(self, size: int = -1) -> bytes:
        if self.failure is not None:
            raise ValueError(self.failure)
        try:
            data = self.reader.read(65536 if size is None or size < 0 else size)
        except FormError as err:
            self.failure = str(err)
            raise
        self.received += len(data)
        if self.received > self.limit:
            self.failure = "max_file_size exceeded"
            raise ValueError(self.failure)
        return data


# -- the filter ----------------------------------------------------------------------

class FormPost:
    def __init__(self, app: WSGIApp, conf: FormPostConfig, logger: logging.Logger) -> None:
        self.app = app
        self.conf = conf
        self.logger = logger
        self.keys = KeyStore(app, conf.key_cache_time, "FP")
        self.info = digests_info(check_digests(conf.allowed_digests))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        if is_info(environ):
            return info_with(self.app, environ, start_response, "formpost", self.info)
        start_response = self.keys.observe(environ, start_response)
        try:
            boundary = form_boundary(environ.get("CONTENT_TYPE")) \
                if environ.get("REQUEST_METHOD") == "POST" and has_body(environ) else None
            path = split_v1(environ.get("PATH_INFO", ""))
            if boundary is None or path is None or path[1] is None:
                return self.app(environ, start_response)
            response = self.handle(environ, path[0], path[1], path[2] or "", boundary)
        except FormError as err:
            response = error_response(400, f"FormPost: {err}")
        except HTTPError as err:
            response = error_response(err.status, err.reason, err.headers)
        except OSError:
            response = error_response(499, "FormPost: the client went away mid-form")
        return response(environ, start_response)  # type: ignore[no-any-return]

    def handle(self, environ: dict[str, Any], account: str, container: str, prefix: str,
               boundary: bytes) -> Response:
        reader = FormReader(environ["wsgi.input"], boundary)
        fields: dict[str, str] = {}
        form: Form | None = None
        stored, outcome = 0, None
        while (part := reader.next_part()) is not None:
            if part.filename is None:
                value = read_value(reader, part)
                if form is None and part.name in FIELDS:
                    fields[part.name] = value
                continue
            if form is None:
                form = self.check(environ, account, container, fields)
            if not part.filename:
                continue  # a file input left empty
            if stored >= form.max_file_count:
                outcome = (400, "max_file_count exceeded")
                break
            outcome = self.store(environ, (account, container, prefix), form, part, reader)
            if outcome is not None:
                break
            stored += 1
        if form is None:
            form = self.check(environ, account, container, fields)
        if outcome is None:
            outcome = (201, f"{stored} file(s) stored") if stored else \
                (400, "no files to process")
        elif stored:
            outcome = (outcome[0], f"{outcome[1]} ({stored} file(s) stored before)")
        return outcome_response(form.redirect, *outcome)

    def check(self, environ: dict[str, Any], account: str, container: str,
              fields: Mapping[str, str]) -> Form:
        form = check_fields(fields, time.time())
        path = environ["PATH_INFO"].encode("latin-1").decode("utf-8")
        try:
            check_signature(self.keys, environ, account, container,
                            [signed_message(path, fields)], form.signature,
                            self.conf.allowed_digests)
        except HTTPError as err:
            raise HTTPError(err.status, f"FormPost: {err.reason}") from None
        return form

    def store(self, environ: dict[str, Any], where: tuple[str, str, str], form: Form,
              part: Part, reader: FormReader) -> tuple[int, str] | None:
        """PUT one file; None once it is stored, else (status, why not)."""
        account, container, prefix = where
        obj = prefix + (part.filename or "")
        body = FileBody(reader, form.max_file_size)
        sub = subrequest_environ(environ, "PUT", f"/v1/{account}/{container}/{obj}", "FP")
        sub.update({"wsgi.input": body, "CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked"})
        if part.content_type:
            sub["CONTENT_TYPE"] = part.content_type
        if form.delete_at is not None:
            sub["HTTP_X_DELETE_AT"] = str(form.delete_at)
        if form.delete_after is not None:
            sub["HTTP_X_DELETE_AFTER"] = str(form.delete_after)
        Grant(account, container, prefix, frozenset({"PUT"})).hand_over(sub)
        answer = call(self.app, sub)
        if body.failure is not None:
            answer.close()
            return 400, body.failure
        if not 200 <= answer.code < 300:
            reason = answer.read_error().decode("utf-8", "replace").strip()
            return answer.code, f"{obj}: {reason or answer.status}"
        answer.close()
        return None


def has_body(environ: Mapping[str, Any]) -> bool:
    return (environ.get("CONTENT_LENGTH") or "0").strip() not in ("0", "") or \
        "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()


def read_value(reader: FormReader, part: Part) -> str:
    """A plain field's value, at most MAX_VALUE_LENGTH bytes."""
    value = b""
    while chunk := reader.read(MAX_VALUE_LENGTH + 1):
        value += chunk
        if len(value) > MAX_VALUE_LENGTH:
            raise FormError(f"field {part.name[:40]!r} is over {MAX_VALUE_LENGTH} bytes")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise FormError(f"field {part.name[:40]!r} is not UTF-8") from None


def filter_factory(options: Mapping[str, str], logger: logging.Logger,
                   source: str = "proxy config") -> Callable[[WSGIApp], FormPost]:
    """The pipeline's way in: options of ``[filter:formpost]`` from ``source``."""
    conf, warnings = load_config(options, source or "proxy config")
    for warning in warnings:
        logger.warning(warning)
    return lambda app: FormPost(app, conf, logger)
