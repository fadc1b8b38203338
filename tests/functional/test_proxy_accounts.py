"""Who may manage accounts and see their secrets, and X-Newest, on a real cluster."""
from __future__ import annotations

from .cluster import Cluster, raw, token


def test_only_reseller_admins_manage_accounts(cluster: Cluster) -> None:
    admin, _ = token(cluster, "admin:admin", "admin")
    owner, _ = token(cluster, "test:tester", "testing")
    assert raw(cluster, "PUT", "/v1/AUTH_made", headers={"X-Auth-Token": owner})[0] == 403
    assert raw(cluster, "PUT", "/v1/AUTH_made", headers={
        "X-Auth-Token": admin, "X-Account-Meta-Team": "blue"})[0] == 201
    status, headers, _ = raw(cluster, "HEAD", "/v1/AUTH_made", headers={"X-Auth-Token": admin})
    assert status == 204 and headers["X-Account-Meta-Team"] == "blue"
    assert raw(cluster, "DELETE", "/v1/AUTH_test", headers={"X-Auth-Token": owner})[0] == 403
    assert raw(cluster, "DELETE", "/v1/AUTH_made", headers={"X-Auth-Token": admin})[0] == 204
    # deleted, not merely missing: no empty listing, and no container in it
    status, headers, _ = raw(cluster, "GET", "/v1/AUTH_made", headers={"X-Auth-Token": admin})
    assert (status, headers.get("X-Account-Status")) == (410, "Deleted")  # Gone, as Swift
    status, _, body = raw(cluster, "PUT", "/v1/AUTH_made/c", headers={"X-Auth-Token": admin})
    assert status == 403 and b"deleted" in body


def test_acls_and_keys_are_for_owners_only(cluster: Cluster) -> None:
    owner, url = token(cluster)
    path = "/" + url.split("/", 3)[3]
    other, _ = token(cluster, "test:tester3", "testing3")
    acl = '{"read-write": ["test:tester3"]}'
    assert raw(cluster, "POST", path, headers={"X-Auth-Token": owner,
                                               "X-Account-Access-Control": acl})[0] == 204
    # read-write may make containers, but its ACL headers are ignored
    assert raw(cluster, "PUT", f"{path}/team", headers={
        "X-Auth-Token": other, "X-Container-Read": ".r:*",
        "X-Container-Meta-Color": "red"})[0] == 201
    seen_by_other = raw(cluster, "HEAD", f"{path}/team", headers={"X-Auth-Token": other})[1]
    assert seen_by_other["X-Container-Meta-Color"] == "red"
    assert "X-Container-Read" not in seen_by_other
    assert raw(cluster, "GET", f"{path}/team")[0] == 401  # still private
    assert raw(cluster, "POST", f"{path}/team", headers={
        "X-Auth-Token": owner, "X-Container-Read": ".r:*,.rlistings"})[0] == 204
    assert raw(cluster, "HEAD", f"{path}/team", headers={"X-Auth-Token": owner}
               )[1]["X-Container-Read"] == ".r:*,.rlistings"
    assert "X-Container-Read" not in raw(cluster, "HEAD", f"{path}/team",
                                         headers={"X-Auth-Token": other})[1]
    assert "X-Account-Access-Control" not in raw(cluster, "HEAD", path,
                                                 headers={"X-Auth-Token": other})[1]
    assert raw(cluster, "HEAD", path, headers={"X-Auth-Token": owner}
               )[1]["X-Account-Access-Control"] == acl
    # the account's ACL reaches objects too: read-write writes and reads them
    assert raw(cluster, "PUT", f"{path}/team/o", b"by tester3", {"X-Auth-Token": other})[0] == 201
    assert raw(cluster, "GET", f"{path}/team/o", headers={"X-Auth-Token": other}
               )[2] == b"by tester3"
    # and read-write may not change the account's own ACL
    assert raw(cluster, "POST", path, headers={
        "X-Auth-Token": other, "X-Account-Access-Control": "{}"})[0] == 403


def test_x_newest_finds_the_write_a_replica_missed(cluster: Cluster) -> None:
    auth, url = token(cluster)
    path = "/" + url.split("/", 3)[3]
    headers = {"X-Auth-Token": auth}
    assert raw(cluster, "PUT", f"{path}/c", headers=headers)[0] == 201
    assert raw(cluster, "PUT", f"{path}/c/o", b"version one", headers)[0] == 201
    first = cluster.object_servers_of("AUTH_test", "c", "o", read_order=True)[0]
    cluster.stop_server(first)
    assert raw(cluster, "PUT", f"{path}/c/o", b"version two, longer", headers)[0] == 201
    cluster.restart_server(first)
    # the replica read first is stale until replication runs
    assert raw(cluster, "GET", f"{path}/c/o", headers=headers)[2] == b"version one"
    newest = {**headers, "X-Newest": "true"}
    assert raw(cluster, "GET", f"{path}/c/o", headers=newest)[2] == b"version two, longer"
    assert raw(cluster, "HEAD", f"{path}/c/o", headers=newest)[1]["Content-Length"] == "19"
    cluster.stop_server(first)
    assert raw(cluster, "DELETE", f"{path}/c/o", headers=headers)[0] == 204
    cluster.restart_server(first)
    assert raw(cluster, "GET", f"{path}/c/o", headers=headers)[0] == 200
    assert raw(cluster, "GET", f"{path}/c/o", headers=newest)[0] == 404
    assert raw(cluster, "HEAD", f"{path}/c/o", headers=newest)[0] == 404
