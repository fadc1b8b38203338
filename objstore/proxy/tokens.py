"""Auth tokens that every worker of every proxy can check alone.

A token is its own record, signed: ``AUTH_tk`` + base64url(HMAC-SHA256(
secret, payload)) + ``.`` + base64url(payload). The signature comes first
so the few characters an access log shows tell tokens apart. The payload (msgpack)
holds a format version, the user's account and name, their groups and
the expiry time. Any proxy holding the cluster's token secret verifies a
token without a shared store; nobody without the secret can make or
alter one. Signatures are compared in constant time. A token cannot be
revoked before it expires: keep ``token_life`` short (a day, as Swift's
tempauth).
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import time
from typing import Final

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type hints

PREFIX: Final = "AUTH_tk"
_VERSION: Final = 1
VERIFIED_KEPT: Final = 1024  # valid tokens remembered, so each is checked once


@dataclasses.dataclass(frozen=True)
class Identity:
    """Who a valid token speaks for."""

    account: str             # the user's account, e.g. "test"
    user: str                # e.g. "tester"
    groups: tuple[str, ...]  # e.g. ("test", "test:tester", ".admin")
    expires: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Issues and verifies tokens with one secret."""

    def __init__(self, secret: str | bytes) -> None:
        key = secret.encode("utf-8") if isinstance(secret, str) else secret
        if len(key) < 16:
            raise ValueError("the token secret must be at least 16 bytes")
        self._key = key
        self._verified: dict[str, Identity] = {}

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def issue(self, account: str, user: str, groups: tuple[str, ...], lifetime: float,
              now: float | None = None) -> tuple[str, Identity]:
        expires = (time.time() if now is None else now) + lifetime
        identity = Identity(account, user, tuple(groups), expires)
        payload = msgpack.packb([_VERSION, account, user, list(groups), expires],
                                use_bin_type=True)
        return f"{PREFIX}{_b64(self._sign(payload))}.{_b64(payload)}", identity

    def verify(self, token: str, now: float | None = None) -> Identity | None:
        """The identity of a valid, unexpired token; None for anything else.
        Valid tokens are remembered (only those: nobody can fill the memory
        with tokens we did not sign); the HMAC, base64 and msgpack of a
        check are most of what auth costs a request."""
        now = time.time() if now is None else now
        known = self._verified.get(token)
        if known is not None:
            return known if known.expires > now else None
        identity = self._check(token, now)
        if identity is not None:
            if len(self._verified) >= VERIFIED_KEPT:
                self._verified.clear()
            self._verified[token] = identity
        return identity

    def _check(self, token: str, now: float) -> Identity | None:
        if not token.startswith(PREFIX) or token.count(".") != 1:
            return None
        signature, body = token[len(PREFIX):].split(".")
        try:
            payload, sent = _unb64(body), _unb64(signature)
        except (binascii.Error, ValueError):
            return None
        if not hmac.compare_digest(self._sign(payload), sent):
            return None
        try:
            version, account, user, groups, expires = msgpack.unpackb(payload, raw=False)
        except (ValueError, TypeError, msgpack.UnpackException):
            return None  # signed by us, so only a future format gets here
        if version != _VERSION or expires <= now:
            return None
        return Identity(account, user, tuple(groups), float(expires))
