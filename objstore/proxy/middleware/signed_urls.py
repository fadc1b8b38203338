"""What tempurl and formpost share: signatures, the keys, and the grant.

* Signatures are HMACs of a message with one of the account's or the
  container's temp URL keys (``X-Account-Meta-Temp-URL-Key``, ``-Key-2``,
  ``X-Container-Meta-Temp-URL-Key``, ``-Key-2``), sent as hex (its length
  says the digest: 40 sha1, 64 sha256, 128 sha512) or as
  ``<digest>:<base64>`` (either base64 alphabet, padding optional).
  Every key is tried and every comparison is ``hmac.compare_digest``, so
  the time taken says nothing about how close a guess came.
* Keys are read through the app below (HEAD of the account and of the
  container, as an owner would) and kept ``key_cache_time`` seconds. A
  write to an account or container that passes the filter forgets its
  entry, and a signature that matches no cached key is checked once more
  against freshly read keys, so a new key works at once; a removed key
  may keep working until its entry expires (other workers' caches), as
  in Swift.
* A request a signature allows is handed to the app below with
  ``objstore.authorize`` set to a grant (``Grant.authorize``): requests
  inside the key's scope (its account, or its container for a container
  key) are allowed, never as the owner, so owner-only headers (ACLs,
  keys) are neither set nor shown. ``objstore.authorize_override`` tells
  the auth filter below to leave that decision alone.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import hashlib
import hmac
import io
import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from objstore.common.constraints import DEFAULT_CONSTRAINTS
from objstore.common.http import HTTPError, new_trans_id, text_to_wsgi, WSGIApp
from objstore.proxy import acl
from objstore.proxy.middleware.copy import call
from objstore.proxy.middleware.tempauth import AUTHORIZE, AUTHORIZE_OVERRIDE, OWNER

DIGESTS: Final = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}
DEPRECATED_DIGESTS: Final = ("sha1",)
_HEX_LENGTHS: Final = {40: "sha1", 64: "sha256", 128: "sha512"}
ACCOUNT_KEYS: Final = ("x-account-meta-temp-url-key", "x-account-meta-temp-url-key-2")
CONTAINER_KEYS: Final = ("x-container-meta-temp-url-key", "x-container-meta-temp-url-key-2")
# What a subrequest keeps of the client's environ: the server's facts, not the request's.
_SERVER_KEYS: Final = ("SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR",
                       "REMOTE_PORT", "HTTP_HOST", "HTTP_USER_AGENT", "wsgi.version",
                       "wsgi.url_scheme", "wsgi.errors", "wsgi.multithread",
                       "wsgi.multiprocess", "wsgi.run_once")

Path = tuple[str, str | None, str | None]  # account, container, object (text)


def check_digests(names: Iterable[str]) -> list[str]:
    """The ``allowed_digests`` option, lower case; ValueError if any is unknown."""
    allowed = [name.lower() for name in names]
    unknown = [name for name in allowed if name not in DIGESTS]
    if unknown or not allowed:
        raise ValueError("allowed_digests must name some of " + ", ".join(DIGESTS)
                         + (f", not {', '.join(unknown)}" if unknown else ""))
    return allowed


def digests_info(allowed: Iterable[str]) -> dict[str, list[str]]:
    allowed = sorted(allowed)
    return {"allowed_digests": allowed,
            "deprecated_digests": [name for name in DEPRECATED_DIGESTS if name in allowed]}


# -- signatures ---------------------------------------------------------------

def parse_signature(text: str) -> tuple[str, bytes]:
    """(digest name, raw MAC) of a signature; ValueError saying why not."""
    text = text.strip()
    if ":" in text:
        name, _, encoded = text.partition(":")
        name = name.lower()
        if name not in DIGESTS:
            raise ValueError(f"unknown digest {name!r}")
        encoded = encoded.replace("-", "+").replace("_", "/")
        try:
            raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("the signature is not base64") from None
        if len(raw) != DIGESTS[name]().digest_size:
            raise ValueError(f"the signature is not the length of a {name} MAC")
        return name, raw
    by_length = _HEX_LENGTHS.get(len(text))
    if by_length is None:
        raise ValueError("the signature is neither hex of a sha1, sha256 or sha512 MAC "
                         "nor <digest>:<base64>")
    try:
        return by_length, bytes.fromhex(text)
    except ValueError:
        raise ValueError("the signature is not hex") from None


def sign(key: bytes, message: str, digest: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), DIGESTS[digest]).digest()


def matching_keys(keys: Iterable[bytes], messages: Iterable[str], digest: str,
                  given: bytes) -> list[bytes]:
    """The keys whose MAC of one of ``messages`` is ``given``. Every pair is
    computed and compared in constant time; none is skipped on a match."""
    messages = list(messages)
    return [key for key in keys
            if sum(hmac.compare_digest(sign(key, message, digest), given)
                   for message in messages)]


# -- paths ----------------------------------------------------------------------

@functools.lru_cache(maxsize=1024)
def split_v1(path_info: str) -> Path | None:
    """(account, container, object) of a ``/v1/...`` path as text, missing
    parts None; None for any other path (the app answers those). Remembered:
    eight filters ask it of every request."""
    try:
        path = path_info.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return None
    parts = path.split("/", 4)
    if len(parts) < 3 or parts[0] or parts[1] not in DEFAULT_CONSTRAINTS.valid_api_versions \
            or not parts[2] or "\x00" in path:
        return None
    container = parts[3] if len(parts) > 3 and parts[3] else None
    obj = parts[4] if len(parts) > 4 and parts[4] and container else None
    return parts[2], container, obj


# -- the keys ---------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Keys:
    account: tuple[bytes, ...] = ()
    container: tuple[bytes, ...] = ()


def _key_bytes(value: str) -> bytes:
    # header values arrive as latin-1 code points of the stored bytes
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def subrequest_environ(environ: Mapping[str, Any], method: str, path: str,
                       source: str) -> dict[str, Any]:
    """A bodiless request for ``path`` (text) on behalf of ``environ``'s,
    with its transaction id and nothing of its credentials."""
    sub = {key: environ[key] for key in _SERVER_KEYS if key in environ}
    trans_id = environ.get("objstore.trans_id") or environ.get("HTTP_X_TRANS_ID") \
        or new_trans_id()
    sub.update({"REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": text_to_wsgi(path),
                "QUERY_STRING": "", "CONTENT_LENGTH": "0", "wsgi.input": io.BytesIO(b""),
                "objstore.trans_id": trans_id, "HTTP_X_TRANS_ID": trans_id,
                "objstore.source": source, AUTHORIZE_OVERRIDE: True})
    return sub


class KeyStore:
    """Temp URL keys of accounts and containers (see the module doc)."""

    def __init__(self, app: WSGIApp, cache_time: float, source: str) -> None:
        self.app = app
        self.cache_time = cache_time
        self.source = source  # Swift's name for whose subrequests these are
        self._cache: dict[tuple[str, str | None], tuple[float, tuple[bytes, ...]]] = {}

    def observe(self, environ: Mapping[str, Any], start_response: Callable[..., Any]
                ) -> Callable[..., Any]:
        """Forget what a write passing by may change, before it and again
        once it is answered (a read meanwhile may have cached the old keys)."""
        path = split_v1(environ.get("PATH_INFO", ""))
        if environ.get("REQUEST_METHOD") not in ("PUT", "POST", "DELETE") or path is None \
                or path[2] is not None:
            return start_response
        entry = (path[0], path[1])
        self._cache.pop(entry, None)

        def forget_then_start(*args: Any) -> Any:
            self._cache.pop(entry, None)
            return start_response(*args)
        return forget_then_start

    def keys(self, environ: Mapping[str, Any], account: str, container: str | None,
             fresh: bool = False) -> Keys:
        return Keys(self._read(environ, account, None, fresh),
                    () if container is None else self._read(environ, account, container, fresh))

    def _read(self, environ: Mapping[str, Any], account: str, container: str | None,
              fresh: bool) -> tuple[bytes, ...]:
        entry = self._cache.get((account, container))
        now = time.monotonic()
        if entry is not None and not fresh and now - entry[0] < self.cache_time:
            return entry[1]
        path = f"/v1/{account}" + ("" if container is None else f"/{container}")
        answer = call(self.app, subrequest_environ(environ, "HEAD", path, self.source))
        answer.close()
        if answer.code == 404:
            found: tuple[bytes, ...] = ()
        elif 200 <= answer.code < 300:
            names = CONTAINER_KEYS if container else ACCOUNT_KEYS
            found = tuple(_key_bytes(value) for name, value in answer.headers
                          if name.lower() in names and value)
        else:
            raise HTTPError(503, f"the temp URL keys could not be read ({answer.status})")
        if len(self._cache) > 10_000:
            self._cache.clear()  # a crude bound; keys are cheap to read again
        self._cache[(account, container)] = (now, found)
        return found


def check_signature(store: KeyStore, environ: Mapping[str, Any], account: str,
                    container: str, messages: list[str], signature: str,
                    allowed: Iterable[str]) -> str | None:
    """Which scope a valid signature grants: ``container`` for a container
    key (the narrower wins when both match), ``account`` for an account
    key; 401 with a reason otherwise."""
    try:
        digest, given = parse_signature(signature)
    except ValueError as err:
        raise HTTPError(401, f"invalid signature: {err}") from None
    if digest not in allowed:
        raise HTTPError(401, f"signatures with {digest} are not allowed here")
    for fresh in (False, True):
        keys = store.keys(environ, account, container, fresh)
        if matching_keys(keys.container, messages, digest, given):
            return container
        if matching_keys(keys.account, messages, digest, given):
            return None
    raise HTTPError(401, "the signature does not match")


# -- the grant ------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Grant:
    """What a valid signature allows: requests in one account, or in one
    container of it, and (for formpost) only some methods under a prefix."""

    account: str
    container: str | None = None
    prefix: str | None = None
    methods: frozenset[str] | None = None

    def allows(self, target: acl.Request) -> bool:
        if target.account != self.account:
            return False
        if self.container is not None and target.container != self.container:
            return False
        if self.prefix is not None and not (target.obj or "").startswith(self.prefix):
            return False
        return self.methods is None or target.method.upper() in self.methods

    def authorize(self, environ: dict[str, Any]) -> Callable[..., int | None]:
        def decide(target: acl.Request, request_environ: dict[str, Any] | None = None,
                   **acls: Any) -> int | None:
            (environ if request_environ is None else request_environ)[OWNER] = False
            return None if self.allows(target) else 401
        return decide

    def hand_over(self, environ: dict[str, Any]) -> None:
        """Make ``environ`` a request this grant authorizes."""
        environ[AUTHORIZE] = self.authorize(environ)
        environ[AUTHORIZE_OVERRIDE] = True


# -- /info --------------------------------------------------------------------------

def info_with(app: WSGIApp, environ: dict[str, Any], start_response: Callable[..., Any],
              name: str, details: Mapping[str, Any]) -> Iterable[bytes]:
    """The app's ``GET /info`` (or HEAD) with ``details`` as the ``name`` section."""
    head = environ.get("REQUEST_METHOD") == "HEAD"
    answer = call(app, {**environ, "REQUEST_METHOD": "GET"})
    try:
        body = b"".join(answer.body)
    finally:
        answer.close()
    content_type = answer.header("Content-Type") or ""
    try:
        info = json.loads(body) if answer.code == 200 and "json" in content_type else None
    except ValueError:
        info = None
    if isinstance(info, dict):
        info[name] = dict(details)
        body = json.dumps(info).encode()
    headers = [(k, v) for k, v in answer.headers if k.lower() != "content-length"]
    start_response(answer.status, [*headers, ("Content-Length", str(len(body)))])
    return [b"" if head else body]


def is_info(environ: Mapping[str, Any]) -> bool:
    return environ.get("PATH_INFO") == "/info" and environ.get("REQUEST_METHOD") in ("GET",
                                                                                      "HEAD")
