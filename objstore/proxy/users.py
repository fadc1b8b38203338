"""Users of the built-in (tempauth-compatible) auth, from the proxy's config.

    user_<account>_<user> = <key> [.admin] [.reseller_admin] [<group> ...]
    user64_<base64url account>_<base64url user> = ...   (names with '_' in them)

``.admin`` owns its account; ``.reseller_admin`` may manage any account
of the reseller prefixes. A user's groups are always its account and
``account:user``, then what the line lists. Keys are compared in
constant time.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import hmac
from collections.abc import Mapping

from objstore.proxy.tokens import Identity


@dataclasses.dataclass(frozen=True)
class User:
    account: str
    user: str
    key: str
    groups: tuple[str, ...]

    @property
    def is_admin(self) -> bool:
        return ".admin" in self.groups

    @property
    def is_reseller_admin(self) -> bool:
        return ".reseller_admin" in self.groups


def _decode64(text: str) -> str:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError(f"{text!r} is not base64url of UTF-8 text") from None


def parse_users(options: Mapping[str, str]) -> dict[tuple[str, str], User]:
    """Users from a config section's options; ValueError names a bad line."""
    users = {}
    for option, value in options.items():
        if option.startswith("user64_"):
            encoded_account, sep, encoded_user = option[len("user64_"):].partition("_")
            account, user = _decode64(encoded_account), _decode64(encoded_user)
        elif option.startswith("user_"):
            account, sep, user = option[len("user_"):].partition("_")
        else:
            continue
        words = value.split()
        if not sep or not account or not user or not words:
            raise ValueError(f"{option} = {value!r}: expected user_<account>_<user> = "
                             "<key> [.admin] [.reseller_admin] [groups]")
        users[(account, user)] = User(account, user, words[0],
                                      (account, f"{account}:{user}", *words[1:]))
    return users


def authenticate(users: Mapping[tuple[str, str], User], login: str, key: str) -> User | None:
    """The user ``account:user`` if ``key`` is theirs."""
    account, sep, user = login.partition(":")
    found = users.get((account, user)) if sep else None
    # compare even when the user is unknown, so timing tells nothing
    expected = found.key if found else "\0" * len(key)
    if hmac.compare_digest(expected.encode("utf-8"), key.encode("utf-8")) and found:
        return found
    return None


def identity_groups(identity: Identity, reseller_prefix: str) -> set[str]:
    """The groups ACLs are matched against; an account owner's include its
    storage account (``AUTH_test``)."""
    groups = set(identity.groups)
    if ".admin" in groups:
        groups.add(reseller_prefix + identity.account)
    return groups
