"""Tokens, users and ACL decisions of the built-in auth (tempauth-compatible)."""
from __future__ import annotations

import base64

import pytest

from objstore.proxy.acl import (
    ContainerACL, Request, decide, is_owner, is_owner_header, parse_account_acl,
    parse_container_acl, referrer_allowed,
)
from objstore.proxy.tokens import TokenSigner
from objstore.proxy.users import authenticate, identity_groups, parse_users

SECRET = "a-cluster-secret-of-some-length"


# -- tokens -------------------------------------------------------------------

def test_a_token_verifies_on_any_proxy_with_the_secret_until_it_expires() -> None:
    token, identity = TokenSigner(SECRET).issue("test", "tester", ("test", ".admin"), 60,
                                                now=1000)
    other_proxy = TokenSigner(SECRET)
    assert other_proxy.verify(token, now=1059) == identity
    assert other_proxy.verify(token, now=1060) is None
    assert TokenSigner("another-secret-entirely!").verify(token, now=1000) is None


def test_verified_tokens_are_remembered_but_still_expire_and_stay_few() -> None:
    from objstore.proxy.tokens import VERIFIED_KEPT

    signer = TokenSigner(SECRET)
    tokens = [signer.issue("test", f"user{n}", ("test",), 60, now=1000)[0]
              for n in range(VERIFIED_KEPT + 5)]
    for token in tokens:
        assert signer.verify(token, now=1010) is not None
        assert signer.verify(token, now=1011) is not None  # the remembered answer
    assert signer.verify(tokens[-1], now=1060) is None  # remembered, and expired
    assert len(signer._verified) <= VERIFIED_KEPT
    forged = tokens[0][:-2] + ("A" if tokens[0][-2] != "A" else "B") + tokens[0][-1]
    assert signer.verify(forged, now=1010) is None and forged not in signer._verified


def test_the_start_of_a_token_tells_tokens_apart() -> None:
    """An access log shows the first 16 characters of a token."""
    signer = TokenSigner(SECRET)
    first, _ = signer.issue("test", "tester", ("test",), 60, now=1000)
    second, _ = signer.issue("test", "tester", ("test",), 60, now=1001)
    assert first[:16] != second[:16]


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-2] + ("A" if t[-2] != "A" else "B") + t[-1],   # signature altered
    lambda t: "AUTH_tk" + "x" + t[len("AUTH_tk") + 1:],          # payload altered
    lambda t: t.replace(".", ""),
    lambda t: t.replace("AUTH_tk", "AUTH_xx"),
    lambda t: t + ".extra",
    lambda t: "AUTH_tk!!!.###",
    lambda t: "",
])
def test_altered_tokens_are_refused(mangle) -> None:  # type: ignore[no-untyped-def]
    token, _ = TokenSigner(SECRET).issue("test", "tester", ("test",), 60, now=1000)
    assert TokenSigner(SECRET).verify(mangle(token), now=1000) is None


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        TokenSigner("short")


# -- users ----------------------------------------------------------------------

CONFIG = {
    "user_admin_admin": "admin .admin .reseller_admin",
    "user_test_tester": "testing .admin",
    "user_test_tester3": "testing3",
    "user64_" + base64.urlsafe_b64encode(b"my_account").decode().rstrip("=") + "_"
    + base64.urlsafe_b64encode(b"me").decode().rstrip("="): "secret",
    "token_life": "86400",
}


def test_users_from_config() -> None:
    users = parse_users(CONFIG)
    assert set(users) == {("admin", "admin"), ("test", "tester"), ("test", "tester3"),
                          ("my_account", "me")}
    tester = users[("test", "tester")]
    assert tester.groups == ("test", "test:tester", ".admin") and tester.is_admin
    assert users[("admin", "admin")].is_reseller_admin
    assert not users[("test", "tester3")].is_admin
    assert authenticate(users, "test:tester", "testing") is tester
    assert authenticate(users, "my_account:me", "secret") is not None
    assert authenticate(users, "test:tester", "wrong") is None
    assert authenticate(users, "test:nobody", "testing") is None
    assert authenticate(users, "tester", "testing") is None


@pytest.mark.parametrize("line", [{"user_test": "key"}, {"user_test_x": ""},
                                  {"user64_%%_x": "key"}])
def test_bad_user_lines(line: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        parse_users(line)


# -- ACLs -----------------------------------------------------------------------

def test_container_acl_parsing() -> None:
    acl = parse_container_acl(".r:*, .rlistings, test:tester3, other")
    assert acl == ContainerACL(("*",), frozenset({"test:tester3", "other"}), True)
    for bad in (".r:", ".bogus", ".r:-"):
        with pytest.raises(ValueError):
            parse_container_acl(bad)
    with pytest.raises(ValueError, match="write ACL"):
        parse_container_acl(".r:*", allow_referrers=False)


@pytest.mark.parametrize(("rules", "referrer", "allowed"), [
    (("*",), None, True),
    ((".example.com",), "http://www.example.com/page", True),
    ((".example.com",), "https://evil.com/?x=.example.com", False),
    (("www.example.com",), "http://user@WWW.example.com:8080/", True),
    (("*", "-bad.example.com"), "http://bad.example.com/", False),
    (("*", "-bad.example.com"), "http://good.example.com/", True),
    ((".example.com",), None, False),
])
def test_referrers(rules: tuple[str, ...], referrer: str | None, allowed: bool) -> None:
    assert referrer_allowed(rules, referrer) is allowed


def test_account_acl_parsing() -> None:
    assert parse_account_acl('{"read-only": ["test:tester3"]}') == {
        "read-only": frozenset({"test:tester3"})}
    for bad in ("[]", "{", '{"root": ["x"]}', '{"admin": "x"}', '{"admin": [1]}'):
        with pytest.raises(ValueError):
            parse_account_acl(bad)


OWNER = identity_groups(
    TokenSigner(SECRET).issue("test", "tester", ("test", "test:tester", ".admin"), 60)[1],
    "AUTH_")
TESTER3 = {"test", "test:tester3"}
STRANGER = {"other", "other:user"}


@pytest.mark.parametrize(("request_", "groups", "kwargs", "expected"), [
    (Request("PUT", "AUTH_test", "c", "o"), OWNER, {}, None),          # the owner
    (Request("DELETE", "AUTH_test"), OWNER, {}, None),
    (Request("GET", "AUTH_test", "c", "o"), TESTER3, {}, 403),         # same account, no admin
    (Request("GET", "AUTH_test", "c", "o"), None, {}, 401),            # no token
    (Request("GET", "AUTH_test", "c", "o"), STRANGER, {"reseller_admin": True}, None),
    (Request("GET", "AUTH_test", "c", "o"), None,
     {"container_read": parse_container_acl(".r:*")}, None),           # public object
    (Request("GET", "AUTH_test", "c"), None,
     {"container_read": parse_container_acl(".r:*")}, 401),            # listing needs .rlistings
    (Request("GET", "AUTH_test", "c"), None,
     {"container_read": parse_container_acl(".r:*,.rlistings")}, None),
    (Request("GET", "AUTH_test", "c", "o"), TESTER3,
     {"container_read": parse_container_acl("test:tester3")}, None),
    (Request("PUT", "AUTH_test", "c", "o"), TESTER3,
     {"container_read": parse_container_acl("test:tester3")}, 403),    # read is not write
    (Request("PUT", "AUTH_test", "c", "o"), TESTER3,
     {"container_write": parse_container_acl("test:tester3", False)}, None),
    (Request("DELETE", "AUTH_test", "c"), TESTER3,
     {"container_write": parse_container_acl("test:tester3", False)}, 403),  # not the container
    (Request("PUT", "AUTH_test", "c"), TESTER3,
     {"account_acl": parse_account_acl('{"read-write": ["test:tester3"]}')}, None),
    (Request("POST", "AUTH_test"), TESTER3,
     {"account_acl": parse_account_acl('{"read-write": ["test:tester3"]}')}, 403),
    (Request("POST", "AUTH_test"), TESTER3,
     {"account_acl": parse_account_acl('{"admin": ["test:tester3"]}')}, None),
    (Request("HEAD", "AUTH_test"), TESTER3,
     {"account_acl": parse_account_acl('{"read-only": ["test:tester3"]}')}, None),
    (Request("PUT", "AUTH_test", "c", "o"), TESTER3,
     {"account_acl": parse_account_acl('{"read-only": ["test:tester3"]}')}, 403),
    (Request("GET", "AUTH_other", "c", "o"), OWNER, {}, 403),         # not their account
])
def test_decisions(request_: Request, groups: set[str] | None, kwargs: dict[str, object],
                   expected: int | None) -> None:
    assert decide(request_, groups, **kwargs) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "owners_only"), [
    ("X-Container-Read", True), ("x-remove-container-write", True),
    ("X-Account-Access-Control", True), ("X-Container-Meta-Temp-URL-Key-2", True),
    ("X-Container-Meta-Color", False), ("X-Remove-Container-Meta-Color", False),
    ("X-Object-Meta-Read", False),
])
def test_owner_only_headers(name: str, owners_only: bool) -> None:
    assert is_owner_header(name) is owners_only


def test_who_owns_an_account() -> None:
    assert is_owner("AUTH_test", {"AUTH_test", "test", "test:tester"})
    assert is_owner("AUTH_test", {"other"}, reseller_admin=True)
    assert is_owner("AUTH_test", {"test:tester3"},
                    account_acl={"admin": frozenset({"test:tester3"})})
    assert not is_owner("AUTH_test", {"test:tester3"},
                        account_acl={"read-write": frozenset({"test:tester3"})})
    assert not is_owner("AUTH_test", None, reseller_admin=True)
