"""Who sees and who may change an image (Glance's default rules).

* ``public`` images: everyone sees them; ``community`` ones too, but
  they are listed only for their owner or when asked for
  (``visibility=community`` or ``all``).
* ``shared`` images: their owner and their members (accounts the owner
  added; a member lists the image once it has accepted it, or with
  ``member_status``).
* ``private`` images: their owner only.
* Administrators (tokens of the cluster's reseller admins) see and may
  change every image.
* Only the owner (or an administrator) changes an image, uploads its
  data, deletes it or manages its members; a member only sets its own
  membership's status.

An image a caller may not see is answered 404, as if it did not exist.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from objstore.common.http import HTTPError


@dataclasses.dataclass(frozen=True)
class Caller:
    """Who a request speaks for."""

    account: str      # the owner id of what they create: AUTH_<account>
    user: str
    is_admin: bool


Members = Mapping[str, Mapping[str, Any]]   # member account -> {"status", dates}


def can_see(image: Mapping[str, Any], members: Members, caller: Caller) -> bool:
    if caller.is_admin or image.get("owner") == caller.account:
        return True
    visibility = image.get("visibility")
    if visibility in ("public", "community"):
        return True
    return visibility == "shared" and caller.account in members


def is_listed(image: Mapping[str, Any], members: Members, caller: Caller,
              visibility: str | None, member_status: str) -> bool:
    """Whether a listing with these filters shows the image to the caller."""
    if not can_see(image, members, caller):
        return False
    kind = image.get("visibility")
    if visibility not in (None, "all") and kind != visibility:
        return False
    mine = image.get("owner") == caller.account
    if kind == "community" and visibility is None and not mine:
        return False
    if kind == "shared" and not mine and caller.account in members:
        status = members[caller.account].get("status")
        return member_status == "all" or status == member_status
    return True


def check_owner(image: Mapping[str, Any], caller: Caller, doing: str) -> None:
    """403 unless the caller owns the image (or is an administrator)."""
    if not (caller.is_admin or image.get("owner") == caller.account):
        raise HTTPError(403, f"You are not permitted to {doing} this image.")


__all__ = ["Caller", "Members", "can_see", "check_owner", "is_listed"]
