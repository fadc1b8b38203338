"""The database replicator's decisions, on real databases of four in-process
nodes (tests/unit/common/db_replication_cluster.py)."""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from objstore.common.config import describe
from objstore.common.db_replicator import newer_info
from objstore.common.timestamp import Timestamp
from objstore.daemons.base import NODE_OPTIONS
from objstore.daemons.runner import run_daemon

from .db_replication_cluster import PORTS, Cluster, stamp


@pytest.fixture
def cluster(tmp_path: Path) -> Cluster:
    return Cluster(tmp_path)


def put(broker: Any, names: list[str], ago: float = 50.0, size: int = 3) -> None:
    for number, name in enumerate(names):
        broker.put_object(name, stamp(ago - number * 0.01), size, "text/plain", "etag")


def names(cluster: Cluster, node: int, container: str = "c") -> list[str]:
    return [row["name"] for row in cluster.broker(node, container).list_objects()]


def infos(cluster: Cluster, nodes: list[int], container: str = "c") -> list[dict[str, Any]]:
    return [cluster.broker(node, container).get_replication_info() for node in nodes]


def counts(stats: dict[str, int]) -> dict[str, int]:
    """The non-zero counts of a pass."""
    return {name: value for name, value in stats.items() if value}


# -- a peer without the database ----------------------------------------------------------

def test_a_peer_without_the_database_gets_the_whole_file(cluster: Cluster) -> None:
    _, (first, second, third), _ = cluster.placement("c")
    broker = cluster.create(first, "c")
    put(broker, [f"o{n}" for n in range(5)])
    broker.update_metadata({"X-Container-Meta-Color": ("blue", stamp(10).internal)})

    assert counts(cluster.run(first)) == {"dbs": 1, "pushed_db": 2}
    mine, *copies = infos(cluster, [first, second, third])
    for copy in copies:
        assert names(cluster, second) == [f"o{n}" for n in range(5)]
        assert (copy["hash"], copy["max_row"], copy["metadata"], copy["put_timestamp"]) == \
            (mine["hash"], mine["max_row"], mine["metadata"], mine["put_timestamp"])
        assert copy["id"] != mine["id"]  # each replica its own id
    assert copies[0]["id"] != copies[1]["id"]
    for node in (second, third):  # each knows it has all of the sender's rows
        assert cluster.broker(node, "c").get_sync(mine["id"]) == mine["max_row"]
    for copy in copies:  # and the sender knows it has all of theirs
        assert cluster.broker(first, "c").get_sync(copy["id"]) == mine["max_row"]
    assert not os.listdir(cluster.root / f"node{first}" / f"sd{first}" / "tmp")  # no copy left

    # Nothing to do any more, from any of them: no row is sent back.
    assert [counts(cluster.run(node)) for node in (first, second, third)] == \
        [{"dbs": 1, "hashmatch": 2}] * 3


def test_an_empty_new_container_reaches_every_primary(cluster: Cluster) -> None:
    _, (first, second, third), _ = cluster.placement("empty")
    cluster.create(second, "empty")
    assert counts(cluster.run(second)) == {"dbs": 1, "pushed_db": 2}
    assert all(cluster.path(node, "empty").exists() for node in (first, third))


# -- rows --------------------------------------------------------------------------------

def test_rows_written_on_one_replica_reach_the_others(cluster: Cluster) -> None:
    _, (first, second, third), _ = cluster.placement("c")
    cluster.create(first, "c")
    cluster.run(first)
    put(cluster.broker(first, "c"), ["a", "b"])
    put(cluster.broker(second, "c"), ["c"], ago=40)
    cluster.broker(third, "c").delete_object("a", stamp(1))  # newer than a's PUT

    assert counts(cluster.run(first)) == {"dbs": 1, "diff": 2, "rows_pushed": 4}
    # c, and a and b back again: merged here they got new row ids (harmless)
    assert counts(cluster.run(second)) == {"dbs": 1, "diff": 2, "rows_pushed": 6}
    cluster.run(third)
    assert [names(cluster, node) for node in (first, second, third)] == [["b", "c"]] * 3
    hashes = {info["hash"] for info in infos(cluster, [first, second, third])}
    assert len(hashes) == 1
    stats = [cluster.broker(node, "c").get_info() for node in (first, second, third)]
    assert {(s["object_count"], s["bytes_used"]) for s in stats} == {(2, 6)}
    assert [counts(cluster.run(node)) for node in (first, second, third)] == \
        [{"dbs": 1, "hashmatch": 2}] * 3


def test_a_peer_with_every_row_and_more_needs_nothing(cluster: Cluster) -> None:
    _, (first, second, third), _ = cluster.placement("c")
    put(cluster.create(first, "c"), ["a"])
    cluster.run(first)
    put(cluster.broker(second, "c"), ["b"])
    put(cluster.broker(third, "c"), ["b"])
    before = len(cluster.transport.seen)
    assert counts(cluster.run(first)) == {"dbs": 1, "no_change": 2}
    assert cluster.transport.ops()[before:] == ["sync", "sync"]


def test_rows_go_per_diff_at_a_time_and_max_diffs_a_pass(cluster: Cluster) -> None:
    _, (first, second, third), _ = cluster.placement("c")
    put(cluster.create(first, "c"), ["base"])
    cluster.run(first)
    put(cluster.broker(second, "c"), [f"theirs{n}" for n in range(10)])
    put(cluster.broker(third, "c"), [f"theirs{n}" for n in range(10)])
    put(cluster.broker(first, "c"), [f"o{n:02d}" for n in range(7)])

    stats = cluster.run(first, per_diff=2, max_diffs=3)  # 6 of the 7 rows
    assert counts(stats) == {"dbs": 1, "diff": 2, "rows_pushed": 12, "diff_capped": 2}
    assert len(names(cluster, second)) == 11 + 6
    assert cluster.transport.ops().count("merge_syncs") == 0  # not all there yet
    stats = cluster.run(first, per_diff=2, max_diffs=3)
    assert counts(stats) == {"dbs": 1, "diff": 2, "rows_pushed": 2}
    assert len(names(cluster, second)) == len(names(cluster, third)) == 18


def test_a_peer_far_behind_gets_the_whole_file_merged(cluster: Cluster) -> None:
    _, (first, second, third), _ = cluster.placement("c")
    put(cluster.create(first, "c"), ["base"])
    cluster.run(first)
    put(cluster.broker(second, "c"), ["only-on-second"], ago=30)
    put(cluster.broker(first, "c"), [f"o{n:02d}" for n in range(20)])
    cluster.broker(first, "c").update_metadata({"X-Container-Meta-A": ("1", stamp(5).internal)})

    stats = cluster.run(first, per_diff=2, max_diffs=3)
    assert counts(stats) == {"dbs": 1, "pushed_db": 2, "remote_merge": 2}
    for node in (second, third):
        assert len(names(cluster, node)) == 21 + (node == second)
        assert cluster.broker(node, "c").metadata["X-Container-Meta-A"][0] == "1"
    assert "only-on-second" in names(cluster, second)  # merged, never overwritten
    mine = cluster.broker(first, "c").get_replication_info()
    assert cluster.broker(second, "c").get_sync(mine["id"]) == mine["max_row"]
    assert counts(cluster.run(first, per_diff=2, max_diffs=3)) == \
        {"dbs": 1, "no_change": 1, "hashmatch": 1}


def test_sync_points_of_third_replicas_travel_with_the_rows(cluster: Cluster) -> None:
    _, (first, second, third), _ = cluster.placement("c")
    cluster.create(first, "c")
    cluster.run(first)
    put(cluster.broker(third, "c"), ["from-third"])
    cluster.transport.down.add(PORTS[second])
    cluster.run(third)  # reaches first only
    cluster.transport.down.clear()
    third_id = cluster.broker(third, "c").get_replication_info()["id"]
    assert cluster.broker(second, "c").get_sync(third_id) == -1
    cluster.run(first)  # sends third's row to second, and says so
    assert "from-third" in names(cluster, second)
    assert cluster.broker(second, "c").get_sync(third_id) == \
        cluster.broker(first, "c").get_sync(third_id) >= 0
    assert counts(cluster.run(third)) == {"dbs": 1, "hashmatch": 2}


# -- timestamps and metadata ------------------------------------------------------------

def test_timestamps_and_metadata_merge_newest_wins(cluster: Cluster) -> None:
    _, (first, second, third), _ = cluster.placement("c")
    cluster.create(first, "c", put=stamp(1000))
    cluster.run(first)
    old, new = stamp(500).internal, stamp(400).internal
    cluster.broker(first, "c").update_metadata({"X-Container-Meta-A": ("mine", new),
                                                "X-Container-Meta-B": ("old", old)})
    cluster.broker(second, "c").update_metadata({"X-Container-Meta-B": ("theirs", new)})
    cluster.broker(third, "c").update_put_timestamp(stamp(300))
    cluster.broker(first, "c").mark_deleted(stamp(200))  # deleted, and empty

    cluster.run(first)
    cluster.run(second)
    cluster.run(third)
    for node in (first, second, third):
        broker = cluster.broker(node, "c")
        meta = {name: value for name, (value, _) in broker.metadata.items()}
        assert meta == {"X-Container-Meta-A": "mine", "X-Container-Meta-B": "theirs"}
        assert broker.is_deleted()
        assert broker.get_info()["put_timestamp"] > stamp(301)


def test_newer_info_sends_only_what_is_newer() -> None:
    mine = {"put_timestamp": "0000000002.00000", "delete_timestamp": "0000000000.00000",
            "metadata": {"A": ["1", "0000000005.00000"], "B": ["", "0000000003.00000"]}}
    theirs = {"put_timestamp": "0000000001.00000", "delete_timestamp": "0000000004.00000",
              "metadata": {"A": ["2", "0000000006.00000"]}}
    assert newer_info(mine, theirs) == {"put_timestamp": "0000000002.00000",
                                        "metadata": {"B": ["", "0000000003.00000"]}}
    assert newer_info(mine, mine) == {}


# -- handoffs ----------------------------------------------------------------------------

def test_a_handoff_database_goes_home_and_is_removed(cluster: Cluster) -> None:
    _, primaries, handoff = cluster.placement("c")
    cluster.create(primaries[0], "c")
    cluster.run(primaries[0])
    put(cluster.create(handoff, "c"), ["made-while-down"])
    cluster.transport.down.add(PORTS[primaries[2]])

    stats = cluster.run(handoff)  # one primary down: the handoff stays
    assert counts(stats) == {"dbs": 1, "diff": 2, "rows_pushed": 2, "failures": 1}
    assert cluster.path(handoff, "c").exists()

    cluster.transport.down.clear()
    stats = cluster.run(handoff)
    assert counts(stats) == {"dbs": 1, "hashmatch": 2, "diff": 1, "rows_pushed": 1,
                             "handoffs_removed": 1}
    assert not cluster.path(handoff, "c").parent.exists()
    part_dir = cluster.path(handoff, "c").parents[2]
    assert not part_dir.exists()  # the empty suffix and partition directories too
    assert [names(cluster, node) for node in primaries] == [["made-while-down"]] * 3


def test_a_handoff_database_written_meanwhile_stays(cluster: Cluster,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _, primaries, handoff = cluster.placement("c")
    put(cluster.create(handoff, "c"), ["first"])
    replicator = cluster.replicator(handoff)
    pushed = replicator.replicate_to

    def push_then_write(*args: Any) -> bool:
        result = pushed(*args)
        put(cluster.broker(handoff, "c"), [f"late{len(cluster.transport.seen)}"], ago=1)
        return result
    monkeypatch.setattr(replicator, "replicate_to", push_then_write)
    replicator.begin_pass()
    replicator.run_once([replicator_device(cluster, handoff)])
    assert cluster.path(handoff, "c").exists()
    assert counts(cluster.run(handoff)) == {"dbs": 1, "diff": 3, "rows_pushed": 9,
                                            "handoffs_removed": 1}
    assert len(names(cluster, primaries[0])) == 4


def replicator_device(cluster: Cluster, node: int) -> Any:
    from objstore.daemons.base import LocalDevice

    return LocalDevice(f"sd{node}", str(cluster.root / f"node{node}" / f"sd{node}"))


# -- reclaiming --------------------------------------------------------------------------

def test_deleted_databases_and_rows_are_reclaimed(cluster: Cluster) -> None:
    _, (first, second, third), _ = cluster.placement("c")
    broker = cluster.create(first, "c", put=stamp(5000))
    put(broker, ["old", "kept"], ago=4000)
    broker.delete_object("old", stamp(3000))
    _, (other_first, *_), _ = cluster.placement("gone")
    gone = cluster.create(other_first, "gone", put=stamp(5000))
    gone.mark_deleted(stamp(3000))
    recent = cluster.create(cluster.placement("recent")[1][0], "recent", put=stamp(5000))
    recent.mark_deleted(stamp(10))

    for node in PORTS:
        cluster.run(node, reclaim_age=1000)
    assert not cluster.path(other_first, "gone").exists()
    assert all(cluster.path(node, "recent").exists() for node in cluster.placement("recent")[1])
    rows = cluster.broker(first, "c").get_items_since(-1, 10)
    assert [row["name"] for row in rows] == ["kept"]
    assert not any(cluster.path(node, "gone").exists() for node in PORTS)


# -- failures ----------------------------------------------------------------------------

def test_a_server_that_is_down_is_asked_once_a_pass(cluster: Cluster) -> None:
    _, (first, second, third), _ = cluster.placement("c")
    for number in range(6):
        cluster.create(first, f"c{number}")
    down = PORTS[second]
    cluster.transport.down.add(down)
    stats = cluster.run(first, workers_per_device=1)
    assert stats["failures"] == 1 and stats["errors"] == 0
    assert len([port for port, _, _ in cluster.transport.seen if port == down]) == 1


def test_a_corrupt_database_is_quarantined(cluster: Cluster) -> None:
    _, (first, *_), _ = cluster.placement("c")
    cluster.create(first, "c")
    path = cluster.path(first, "c")
    path.write_bytes(b"this is not a database" * 100)
    stats = cluster.run(first)
    assert counts(stats) == {"dbs": 1, "quarantined": 1}
    quarantined = cluster.root / f"node{first}" / f"sd{first}" / "quarantined" / "containers"
    assert [p.name for p in quarantined.iterdir()] == [path.parent.name]
    assert not path.exists()


def test_a_peer_answer_that_is_not_msgpack_is_a_failure(cluster: Cluster) -> None:
    _, (first, second, _), _ = cluster.placement("c")
    cluster.create(first, "c")
    cluster.transport.apps[PORTS[second]] = lambda environ, start: (
        start("200 OK", [("Content-Length", "4")]) and [b"\xc1\xc1\xc1\xc1"])
    stats = cluster.run(first)
    assert (stats["failures"], stats["pushed_db"]) == (1, 1)


# -- accounts ------------------------------------------------------------------------------

def test_account_databases_replicate_with_their_policy_totals(tmp_path: Path) -> None:
    accounts = Cluster(tmp_path, kind="account")
    _, (first, second, third), handoff = accounts.placement(None)
    accounts.create(first, None)
    accounts.run(first)
    put_ts, none = stamp(20), Timestamp(0)
    accounts.broker(second, None).put_container("photos", put_ts, none, 3, 30, 1)
    accounts.broker(third, None).put_container("docs", put_ts, none, 1, 5, 0)
    for node in (first, second, third):
        accounts.run(node)
    for node in (first, second, third):
        broker = accounts.broker(node, None)
        assert [row["name"] for row in broker.list_containers()] == ["docs", "photos"]
        assert broker.get_policy_stats() == {
            0: {"container_count": 1, "object_count": 1, "bytes_used": 5},
            1: {"container_count": 1, "object_count": 3, "bytes_used": 30}}
    assert counts(accounts.run(handoff)) == {}


# -- as a process ---------------------------------------------------------------------------

def test_node_options_default_as_the_servers_do() -> None:
    from objstore.account.replicator import AccountReplicatorConfig
    from objstore.account.server import AccountServerConfig
    from objstore.container.replicator import ContainerReplicatorConfig
    from objstore.container.server import ContainerServerConfig

    for server_schema, daemon_schema in ((ContainerServerConfig, ContainerReplicatorConfig),
                                         (AccountServerConfig, AccountReplicatorConfig)):
        server = {name: default for name, default, _ in describe(server_schema)}
        daemon = {name: default for name, default, _ in describe(daemon_schema)}
        shared = [name for name in NODE_OPTIONS if name in server]
        assert {"bind_port", "devices", "reclaim_age"} <= set(shared)
        assert {name: daemon[name] for name in shared} == {name: server[name] for name in shared}


def test_once_from_the_command_line_records_the_pass(cluster: Cluster, tmp_path: Path) -> None:
    _, (first, *_), _ = cluster.placement("c")
    cluster.create(first, "c")
    conf = tmp_path / "container-server.conf"
    (tmp_path / "objstore.conf").write_text("[swift-hash]\nswift_hash_path_suffix = x\n"
                                            "[storage-policy:0]\nname = gold\ndefault = yes\n")
    conf.write_text(f"[app:container-server]\nbind_port = {PORTS[first]}\n"
                    f"devices = {tmp_path / f'node{first}'}\nmount_check = false\n"
                    f"cluster_conf = {tmp_path / 'objstore.conf'}\n"
                    f"[container-replicator]\nring_dir = {tmp_path / 'rings'}\n"
                    f"recon_cache_path = {tmp_path / 'recon'}\nconn_timeout = 0.1\n"
                    "node_timeout = 0.5\n")
    logging.getLogger("container-replicator").propagate = False
    assert run_daemon(cluster.daemon_class, [str(conf), "--once"]) == 0  # failures: no error
    recon = json.loads((tmp_path / "recon" / "container.recon").read_text())
    last = recon["container-replicator"]["last_pass"]
    assert last["devices"] == [f"sd{first}"] and last["completed"]
    assert last["counts"]["dbs"] == 1 and last["counts"]["failures"] == 2  # nobody listens
    assert last["duration"] >= 0
