"""The account reaper on a real cluster: a reseller admin deletes an account
with containers in two storage policies; the reaper leaves it alone while
``delay_reaping`` lasts, then leaves a tombstone of every object on every
primary, deletes the containers, and touches no other account."""
from __future__ import annotations

import json
import subprocess
import urllib.parse

from ring.hashing import PathHasher
from ring.ring import Ring

from .cluster import HASH_SUFFIX, Cluster, raw, token
from .exchange import exchange
from .test_server_runtime import ROOT

ACCOUNT = "AUTH_doomed"
# container -> (policy index, its objects); names that need quoting on purpose
CONTENTS = {
    "gold box": (0, {"a": b"alpha", "dir/b c": b"bravo charlie", "\u00fcber": b"umlaut"}),
    "silver": (1, {"x": b"x-ray", "y": b"yankee"}),
}


def ring(cluster: Cluster, name: str) -> Ring:
    return Ring(str(cluster.root / "rings" / f"{name}.ring.gz"),
                hasher=PathHasher("", HASH_SUFFIX))


def reap(cluster: Cluster, delay_reaping: float) -> dict[str, int]:
    """One pass of objstore-account-reaper on the account node: its counts."""
    conf = cluster.root / "account-reaper.conf"
    conf.write_text(f"""[app:account-server]
bind_port = {cluster.ports['account']}
devices = {cluster.root / 'srv' / 'account'}
mount_check = false
cluster_conf = {cluster.cluster_conf}
[account-reaper]
ring_dir = {cluster.root / 'rings'}
recon_cache_path = {cluster.root / 'recon'}
delay_reaping = {delay_reaping}
""")
    done = subprocess.run(["objstore-account-reaper", str(conf), "--once"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    recon = json.loads((cluster.root / "recon" / "account.recon").read_text())
    counts: dict[str, int] = recon["account-reaper"]["last_pass"]["counts"]
    return counts


def replicas(cluster: Cluster, container: str, name: str) -> list[tuple[int, dict[str, str]]]:
    """(status, headers) of a HEAD of the object on each of its primaries."""
    policy = CONTENTS[container][0]
    part, nodes = ring(cluster, "object" if policy == 0 else f"object-{policy}").get_nodes(
        ACCOUNT, container, name)
    path = urllib.parse.quote(f"/{nodes[0].device}/{part}/{ACCOUNT}/{container}/{name}")
    return [exchange(node.port, "HEAD", path, headers={
        "X-Backend-Storage-Policy-Index": str(policy)})[:2] for node in nodes]


def files_on_disk(cluster: Cluster, container: str, name: str) -> list[str]:
    """The suffixes of the object's files on every object server."""
    policy = CONTENTS[container][0]
    name_hash = PathHasher("", HASH_SUFFIX).hash_path(ACCOUNT, container, name)
    objects = "objects" if policy == 0 else f"objects-{policy}"
    return sorted(path.suffix for server in ("object1", "object2", "object3")
                  for path in (cluster.root / "srv" / server / "sda" / objects).rglob("*.*")
                  if path.parent.name == name_hash)


def assert_deleted(cluster: Cluster, path: str, headers: dict[str, str]) -> None:
    """The account answers as deleted, not merely missing: 410 Gone, as
    Swift, until the replicator reclaims the database."""
    status, answer, _ = raw(cluster, "GET", path, headers=headers)
    assert (status, answer.get("X-Account-Status")) == (410, "Deleted"), (status, answer)


def test_the_reaper_empties_a_deleted_account_once_its_delay_is_over(
        cluster: Cluster) -> None:
    admin = {"X-Auth-Token": token(cluster, "admin:admin", "admin")[0]}
    base = f"/v1/{ACCOUNT}"
    assert raw(cluster, "PUT", base, headers=admin)[0] == 201
    for container, (policy, objects) in CONTENTS.items():
        quoted = f"{base}/{urllib.parse.quote(container)}"
        assert raw(cluster, "PUT", quoted, headers={
            **admin, "X-Storage-Policy": ["gold", "silver"][policy]})[0] == 201
        for name, body in objects.items():
            assert raw(cluster, "PUT", f"{quoted}/{urllib.parse.quote(name)}", body,
                       admin)[0] == 201
    assert raw(cluster, "HEAD", f"{base}/silver", headers=admin)[1]["X-Storage-Policy"] == \
        "silver"
    owner, url = token(cluster)
    kept = "/" + url.split("/", 3)[3] + "/kept"
    assert raw(cluster, "PUT", kept, headers={"X-Auth-Token": owner})[0] == 201
    assert raw(cluster, "PUT", f"{kept}/o", b"mine", {"X-Auth-Token": owner})[0] == 201

    assert raw(cluster, "DELETE", base, headers=admin)[0] == 204
    assert_deleted(cluster, base, admin)

    # within delay_reaping: nothing is touched
    counts = reap(cluster, delay_reaping=3600)
    assert (counts["accounts_delayed"], counts["accounts"], counts["objects_deleted"],
            counts["errors"]) == (1, 0, 0, 0)
    for container, (_, objects) in CONTENTS.items():
        for name in objects:
            assert [status for status, _ in replicas(cluster, container, name)] == [200] * 3

    counts = reap(cluster, delay_reaping=0)
    assert {name: counts[name] for name in (
        "accounts", "accounts_delayed", "accounts_emptied", "containers_deleted",
        "containers_remaining", "objects_deleted", "objects_remaining", "container_failures",
        "object_failures", "errors")} == {
        "accounts": 1, "accounts_delayed": 0, "accounts_emptied": 1, "containers_deleted": 2,
        "containers_remaining": 0, "objects_deleted": 5, "objects_remaining": 0,
        "container_failures": 0, "object_failures": 0, "errors": 0}
    for container, (_, objects) in CONTENTS.items():
        for name in objects:
            # a tombstone on every primary, and nothing else left on any disk
            answers = replicas(cluster, container, name)
            assert [status for status, _ in answers] == [404] * 3, (container, name)
            assert all(headers.get("X-Backend-Timestamp") for _, headers in answers)
            assert files_on_disk(cluster, container, name) == [".ts"] * 3, (container, name)
        part, nodes = ring(cluster, "container").get_nodes(ACCOUNT, container)
        for node in nodes:  # deleted (its DELETE timestamp after its PUT), not missing
            status, headers, _ = exchange(node.port, "HEAD", urllib.parse.quote(
                f"/{node.device}/{part}/{ACCOUNT}/{container}"))
            assert status == 404, (container, node.device)
            assert headers["X-Backend-DELETE-Timestamp"] > headers["X-Backend-PUT-Timestamp"]
    assert_deleted(cluster, base, admin)
    assert raw(cluster, "GET", f"{base}/silver", headers=admin)[0] == 404
    assert raw(cluster, "GET", f"{kept}/o", headers={"X-Auth-Token": owner})[2] == b"mine"

    # a pass over an emptied account finds nothing more to do
    counts = reap(cluster, delay_reaping=0)
    assert (counts["accounts"], counts["accounts_emptied"], counts["containers_deleted"],
            counts["objects_deleted"], counts["errors"]) == (1, 1, 0, 0, 0)

