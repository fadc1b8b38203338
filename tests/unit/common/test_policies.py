"""The cluster file: hash secret and storage policies."""
from __future__ import annotations

from pathlib import Path

import pytest

from objstore.common.config import ConfigError
from objstore.common.policies import load_cluster_config

SECRET = "[swift-hash]\nswift_hash_path_suffix = changeme\n"


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "objstore.conf"
    path.write_text(text)
    return load_cluster_config(str(path))


def test_a_swift_conf_works_as_it_is(tmp_path: Path) -> None:
    cluster, warnings = load(tmp_path, SECRET + """
[storage-policy:0]
name = gold
aliases = yellow, orange
default = yes

[storage-policy:1]
name = silver
deprecated = no
""")
    assert (cluster.hash_path_prefix, cluster.hash_path_suffix) == ("", "changeme")
    gold, silver = list(cluster.policies)
    assert cluster.policies.default is gold
    assert gold.aliases == ("yellow", "orange")
    assert cluster.policies.by_name("ORANGE") is gold
    assert cluster.policies.by_index(1) is silver
    assert (silver.ring_name, silver.data_dir) == ("object-1", "objects-1")
    assert (gold.ring_name, gold.data_dir) == ("object", "objects")
    assert warnings == []


def test_no_policies_means_policy_0(tmp_path: Path) -> None:
    cluster, _ = load(tmp_path, SECRET)
    (only,) = list(cluster.policies)
    assert (only.index, only.name, only.is_default) == (0, "Policy-0", True)


def test_a_lone_policy_is_the_default(tmp_path: Path) -> None:
    cluster, _ = load(tmp_path, SECRET + "[storage-policy:3]\nname = only\n")
    assert cluster.policies.default.index == 3


@pytest.mark.parametrize(("text", "message"), [
    ("[swift-hash]\n", "set swift_hash_path_prefix or swift_hash_path_suffix"),
    ("", r"no \[swift-hash\] section"),
    (SECRET + "[storage-policy:x]\nname = a\n", "a policy index must be a whole number"),
    (SECRET + "[storage-policy:0]\nname = a b\n", "may hold only letters, digits and dashes"),
    (SECRET + "[storage-policy:0]\nname = a\n[storage-policy:1]\nname = A\n",
     "'A' is used more than once"),
    (SECRET + "[storage-policy:0]\nname = a\naliases = b\n[storage-policy:1]\nname = b\n",
     "'b' is used more than once"),
    (SECRET + "[storage-policy:0]\nname = a\n[storage-policy:1]\nname = b\n",
     "exactly one storage policy must be the default"),
    (SECRET + "[storage-policy:0]\nname = a\ndefault = yes\n[storage-policy:1]\nname = b\n"
     "default = yes\n", r"exactly one .* \(found 2\)"),
    (SECRET + "[storage-policy:0]\nname = a\ndefault = yes\ndeprecated = yes\n",
     "cannot be deprecated"),
    (SECRET + "[storage-policy:0]\nname = a\npolicy_type = erasure_coding\n",
     "must be one of replication"),
])
def test_bad_cluster_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, text)


def test_unknown_policy_options_are_reported(tmp_path: Path) -> None:
    _, warnings = load(tmp_path, SECRET + "[storage-policy:0]\nname = a\ncolour = blue\n")
    assert warnings == [f"{tmp_path / 'objstore.conf'} [storage-policy:0]: "
                        "unknown option 'colour' is ignored"]


def test_the_sample_cluster_file_loads_without_warnings() -> None:
    sample = Path(__file__).resolve().parents[3] / "etc" / "objstore.conf-sample"
    cluster, warnings = load_cluster_config(str(sample))
    assert warnings == []
    assert [p.name for p in cluster.policies] == ["gold", "silver"]
