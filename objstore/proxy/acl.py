"""Who may do what: Swift's ACLs and the one decision that applies them.

Container ACLs (``X-Container-Read``, ``X-Container-Write``) are comma
separated: ``.r:*`` (any referrer, so anyone), ``.r:.example.com`` (that
domain and its subdomains), ``.r:-bad.example.com`` (never that one),
``.rlistings`` (referrer access may list the container too), and groups:
``account``, ``account:user``, or any group a user has. Write ACLs hold
groups only.

Account ACLs (``X-Account-Access-Control``) are JSON:
``{"admin": [...], "read-write": [...], "read-only": [...]}``, lists of
groups. ``read-only`` may read everything in the account, ``read-write``
may also write objects and containers, ``admin`` may do anything the
owner may, short of managing the account itself. Only owners (``is_owner``)
may set or see the ``OWNER_HEADERS``: container ACLs, the account ACL, and
sync and temp URL keys; what others send of them is ignored, as in Swift.

``decide`` is the rule, in order: a reseller admin may do anything; the
account's owner (a ``.admin`` user of it) may do anything; account ACLs;
container ACLs; otherwise 401 for a request without a valid token and 403
for one with a token that lacks the right.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Set
from typing import Final

READS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
# What only an account's owners may set or see: who else may read and
# write, and the secrets (sync and temp URL keys).
OWNER_HEADERS: Final = (
    "x-container-read", "x-container-write", "x-container-sync-key", "x-container-sync-to",
    "x-account-access-control", "x-account-meta-temp-url-key",
    "x-account-meta-temp-url-key-2", "x-container-meta-temp-url-key",
    "x-container-meta-temp-url-key-2")
_ACCOUNT_ACL_KEYS: Final = ("admin", "read-write", "read-only")


@dataclasses.dataclass(frozen=True)
class ContainerACL:
    referrers: tuple[str, ...] = ()   # ".r:" entries, without the prefix
    groups: frozenset[str] = frozenset()
    listings: bool = False            # ".rlistings"


def parse_container_acl(text: str | None, allow_referrers: bool = True) -> ContainerACL:
    """A container ACL header; ValueError with a reason if it is malformed."""
    if not text:
        return ContainerACL()
    referrers, groups, listings = [], set(), False
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if item.startswith(".r:") or item.startswith(".ref:") or item.startswith(".referrer:"):
            if not allow_referrers:
                raise ValueError(f"referrer {item!r} is not allowed in a write ACL")
            value = item.split(":", 1)[1].strip()
            if not value or value == "-":
                raise ValueError(f"referrer {item!r} names no host")
            referrers.append(value)
        elif item in (".rlistings", ".rlisting"):
            listings = True
        elif item.startswith("."):
            raise ValueError(f"unknown ACL element {item!r}")
        else:
            groups.add(item)
    return ContainerACL(tuple(referrers), frozenset(groups), listings)


def referrer_allowed(referrers: tuple[str, ...], referrer: str | None) -> bool:
    """Whether a request with this Referer header passes the .r: rules
    (evaluated in order; a later rule overrides an earlier one)."""
    host = _referrer_host(referrer)
    allowed = False
    for rule in referrers:
        deny = rule.startswith("-")
        pattern = rule[1:] if deny else rule
        if pattern == "*" or (host and (host == pattern or
                                        (pattern.startswith(".") and host.endswith(pattern)))):
            allowed = not deny
    return allowed


def _referrer_host(referrer: str | None) -> str:
    if not referrer or "//" not in referrer:
        return ""
    host = referrer.split("//", 1)[1].split("/", 1)[0]
    return host.rsplit("@", 1)[-1].split(":", 1)[0].lower()


def parse_account_acl(text: str | None) -> dict[str, frozenset[str]]:
    """An X-Account-Access-Control value; ValueError with a reason if bad."""
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        raise ValueError("X-Account-Access-Control is not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("X-Account-Access-Control must be a JSON object")
    unknown = set(data) - set(_ACCOUNT_ACL_KEYS)
    if unknown:
        raise ValueError(f"X-Account-Access-Control has unknown keys {sorted(unknown)}")
    acl = {}
    for key, members in data.items():
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise ValueError(f"X-Account-Access-Control {key!r} must be a list of strings")
        acl[key] = frozenset(members)
    return acl


@dataclasses.dataclass(frozen=True)
class Request:
    """What the decision needs to know of a request."""

    method: str
    account: str                  # the storage account, e.g. "AUTH_test"
    container: str | None = None
    obj: str | None = None
    referrer: str | None = None


def is_owner(account: str, groups: Set[str] | None, reseller_admin: bool = False,
             account_acl: dict[str, frozenset[str]] | None = None) -> bool:
    """Whether a token owns ``account``: its .admin users, reseller admins,
    and the groups the account ACL makes "admin"."""
    if groups is None:
        return False
    return reseller_admin or account in groups or \
        bool(groups & (account_acl or {}).get("admin", frozenset()))


def is_owner_header(name: str) -> bool:
    lowered = name.lower()
    if lowered.startswith("x-remove-"):
        lowered = "x-" + lowered[len("x-remove-"):]
    return lowered in OWNER_HEADERS


def decide(request: Request, groups: Set[str] | None, *, reseller_admin: bool = False,
           container_read: ContainerACL = ContainerACL(),
           container_write: ContainerACL = ContainerACL(),
           account_acl: dict[str, frozenset[str]] | None = None) -> int | None:
    """None to allow, else 401 (no valid token) or 403 (not allowed).

    ``groups`` is None for a request without a valid token; for an account
    owner it includes the storage account name (see users.identity_groups)."""
    if groups is not None and (reseller_admin or request.account in groups):
        return None
    method = request.method.upper()
    if groups is not None and account_acl:
        if groups & account_acl.get("admin", frozenset()):
            return None
        if groups & account_acl.get("read-write", frozenset()) and (
                request.container is not None or method in READS):
            return None
        if groups & account_acl.get("read-only", frozenset()) and method in READS:
            return None
    if request.container is not None:
        if method in READS:
            if groups is not None and groups & container_read.groups:
                return None
            listing = request.obj is None
            if (not listing or container_read.listings) and referrer_allowed(
                    container_read.referrers, request.referrer):
                return None
        elif request.obj is not None and groups is not None and \
                groups & container_write.groups:
            return None
    return 401 if groups is None else 403
