"""Who a request speaks for: its ``X-Auth-Token``, checked by the cluster's own auth.

There is no Keystone: users get tokens from the proxy's tempauth
(``/auth/v1.0``) and hand them to the image API. The proxy's tokens are
signed, not encrypted, and carry their account, user and groups in the
clear (base64url msgpack after the signature), the way a JWT does. The
service reads the account from the token, then asks the proxy to accept
the token by a ``HEAD /v1/<prefix><account>`` with it: a 401 means the
token is forged, altered or expired (the proxy checks the signature);
any other answer (2xx, 403 for a user without ``.admin``, 404 for an
account with no container yet) proves it good, so its claims are true.

The caller's owner id is ``<reseller_prefix><account>`` (``AUTH_test``);
a member of the cluster's ``.reseller_admin`` group is an administrator
of the image service. A checked token is trusted for
``token_cache_time`` seconds (never past its expiry), so a busy client
does not cost a proxy request per API call.
"""
from __future__ import annotations

import base64
import binascii
import time
from typing import Any, Final

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type hints

from objstore.common.http import HTTPError, Request
from objstore.image.access import Caller
from objstore.image.cluster import ClusterClient, ClusterError

TOKEN_PREFIX: Final = "AUTH_tk"
CACHE_LIMIT: Final = 10000
ADMIN_GROUP: Final = ".reseller_admin"


def read_claims(token: str) -> tuple[str, str, tuple[str, ...], float] | None:
    """(account, user, groups, expiry) a proxy token states; None for
    anything that is not one. Unchecked: the proxy checks the signature."""
    if not token.startswith(TOKEN_PREFIX) or token.count(".") != 1:
        return None
    payload = token.split(".")[1]
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        fields: Any = msgpack.unpackb(raw, raw=False)
        _, account, user, groups, expires = fields
    except (binascii.Error, ValueError, TypeError, msgpack.UnpackException):
        return None
    if not isinstance(account, str) or not isinstance(user, str) or \
            not isinstance(groups, list) or not isinstance(expires, (int, float)):
        return None
    return account, user, tuple(str(group) for group in groups), float(expires)


class TokenChecker:
    def __init__(self, client: ClusterClient, reseller_prefix: str, cache_time: float) -> None:
        self.client = client
        self.prefix = reseller_prefix
        self.cache_time = cache_time
        self._trusted: dict[str, tuple[Caller, float]] = {}

    def caller(self, request: Request) -> Caller:
        """The request's caller; 401 without a good token."""
        token = request.headers.get("X-Auth-Token", "").strip()
        if not token:
            raise HTTPError(401, "Authentication required: send an X-Auth-Token from the "
                                 "cluster's auth (/auth/v1.0)")
        now = time.time()
        known = self._trusted.get(token)
        if known is not None and known[1] > now:
            return known[0]
        claims = read_claims(token)
        if claims is None or claims[3] <= now:
            raise HTTPError(401, "The token is not valid or has expired")
        account, user, groups, expires = claims
        status = self.client.head_account_as(token, self.prefix + account)
        if status >= 500:
            raise ClusterError(f"the proxy could not check a token ({status})")
        if not (200 <= status < 300 or status in (403, 404)):
            raise HTTPError(401, "The token is not valid or has expired")
        caller = Caller(self.prefix + account, user, ADMIN_GROUP in groups)
        if len(self._trusted) >= CACHE_LIMIT:
            self._trusted = {key: value for key, value in self._trusted.items()
                             if value[1] > now}
            if len(self._trusted) >= CACHE_LIMIT:
                self._trusted.clear()
        self._trusted[token] = (caller, min(now + self.cache_time, expires))
        return caller


__all__ = ["TokenChecker", "read_claims"]
