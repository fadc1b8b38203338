"""The cluster file (``objstore.conf``): the hash path secret and storage policies.

It uses OpenStack Swift's ``swift.conf`` names, so an existing cluster's
file works as it is::

    [swift-hash]
    swift_hash_path_prefix = <secret>
    swift_hash_path_suffix = <secret>

    [storage-policy:0]
    name = gold
    aliases = yellow, orange
    default = yes

    [storage-policy:1]
    name = silver

Rules, each refused with one line naming what is wrong:

* a prefix or a suffix (or both) is set: the secret that places paths;
* policy indexes are whole numbers >= 0, names and aliases are letters,
  digits and dashes, unique without regard to case;
* exactly one policy is the default (a lone policy is); a deprecated
  policy (kept for existing data, no new containers) cannot be it;
* with no policy sections there is one: ``Policy-0``, index 0, default;
* only replicated policies exist so far (``policy_type = replication``).

Policy N keeps its objects on ring ``object.ring.gz`` (N = 0) or
``object-N.ring.gz`` and under ``objects`` or ``objects-N`` on each device.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Final

from objstore.common.config import ConfigError, ConfigFile, build, option

_NAME: Final = re.compile(r"[A-Za-z0-9-]+")
_SECTION: Final = re.compile(r"storage-policy:(.*)")


@dataclasses.dataclass(frozen=True)
class HashSection:
    swift_hash_path_prefix: str = option("", "secret mixed in before every path's hash")
    swift_hash_path_suffix: str = option("", "secret mixed in after every path's hash")


@dataclasses.dataclass(frozen=True)
class PolicySection:
    name: str = option("", "the policy's name, as clients give it in X-Storage-Policy")
    aliases: list[str] = option([], "other names clients may use")
    default: bool = option(False, "containers created without X-Storage-Policy use it")
    deprecated: bool = option(False, "existing data stays; no new containers may use it")
    policy_type: str = option("replication", "how objects are stored",
                              choices=("replication",))


@dataclasses.dataclass(frozen=True)
class StoragePolicy:
    index: int
    name: str
    aliases: tuple[str, ...] = ()
    is_default: bool = False
    deprecated: bool = False
    policy_type: str = "replication"

    @property
    def ring_name(self) -> str:
        """``object`` for policy 0, ``object-N`` for policy N."""
        return "object" if self.index == 0 else f"object-{self.index}"

    @property
    def data_dir(self) -> str:
        """The directory on each device: ``objects`` or ``objects-N``."""
        return "objects" if self.index == 0 else f"objects-{self.index}"

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


class StoragePolicies:
    """The cluster's policies, found by index or by (any) name."""

    def __init__(self, policies: list[StoragePolicy]) -> None:
        self._by_index = {p.index: p for p in sorted(policies, key=lambda p: p.index)}
        self._by_name = {name.lower(): p for p in policies for name in p.names}
        self.default = next(p for p in policies if p.is_default)

    def __iter__(self) -> Iterator[StoragePolicy]:
        return iter(self._by_index.values())

    def __len__(self) -> int:
        return len(self._by_index)

    def by_index(self, index: int) -> StoragePolicy | None:
        return self._by_index.get(index)

    def by_name(self, name: str) -> StoragePolicy | None:
        return self._by_name.get(name.lower())


@dataclasses.dataclass(frozen=True)
class ClusterConfig:
    hash_path_prefix: str
    hash_path_suffix: str
    policies: StoragePolicies


def load_cluster_config(path: str) -> tuple[ClusterConfig, list[str]]:
    """The cluster file's secret and policies, and warnings."""
    conf = ConfigFile(path)
    secret, warnings = conf.load("swift-hash", HashSection)
    if not secret.swift_hash_path_prefix and not secret.swift_hash_path_suffix:
        raise ConfigError(
            f"{path} [swift-hash]: set swift_hash_path_prefix or swift_hash_path_suffix "
            "(a secret that stays the same for the life of the cluster)")
    policies: list[StoragePolicy] = []
    for section, values in conf.sections.items():
        match = _SECTION.fullmatch(section)
        if match is None:
            continue
        index = _policy_index(path, section, match.group(1))
        raw, more = build(PolicySection, values, source=path, section=section)
        warnings += more
        policies.append(_policy(path, section, index, raw))
    policy_set = _checked(path, policies or [StoragePolicy(0, "Policy-0", is_default=True)])
    return ClusterConfig(secret.swift_hash_path_prefix, secret.swift_hash_path_suffix,
                         policy_set), warnings


def _policy_index(path: str, section: str, text: str) -> int:
    if not text.isdigit():
        raise ConfigError(f"{path} [{section}]: a policy index must be a whole number >= 0")
    return int(text)


def _policy(path: str, section: str, index: int, raw: PolicySection) -> StoragePolicy:
    name = raw.name or f"Policy-{index}"
    for candidate in (name, *raw.aliases):
        if not _NAME.fullmatch(candidate):
            raise ConfigError(f"{path} [{section}]: policy name {candidate!r} may hold only "
                              "letters, digits and dashes")
    return StoragePolicy(index, name, tuple(raw.aliases), raw.default, raw.deprecated,
                         raw.policy_type)


def _checked(path: str, policies: list[StoragePolicy]) -> StoragePolicies:
    seen: dict[str, int] = {}
    for policy in policies:
        for name in policy.names:
            other = seen.setdefault(name.lower(), policy.index)
            if other != policy.index or policy.names.count(name) > 1:
                raise ConfigError(f"{path}: policy name {name!r} is used more than once")
    defaults = [p for p in policies if p.is_default]
    if len(policies) == 1 and not defaults:
        policies = [dataclasses.replace(policies[0], is_default=True)]
        defaults = policies
    if len(defaults) != 1:
        raise ConfigError(f"{path}: exactly one storage policy must be the default "
                          f"(found {len(defaults)})")
    if defaults[0].deprecated:
        raise ConfigError(f"{path}: the default policy {defaults[0].name!r} cannot be deprecated")
    return StoragePolicies(policies)


__all__ = ["ClusterConfig", "StoragePolicies", "StoragePolicy", "load_cluster_config"]
