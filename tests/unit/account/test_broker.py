"""AccountBroker: container reports merged, totals per account and per policy, listing."""
from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from objstore.account.broker import AccountBroker
from objstore.common.timestamp import Timestamp

ZERO = Timestamp(0)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[AccountBroker]:
    made = AccountBroker(str(tmp_path / "a.db"))
    made.initialize(Timestamp(1), account="AUTH_a")
    yield made
    made.close()


def totals(broker: AccountBroker) -> tuple[int, int, int]:
    info = broker.get_info()
    return info["container_count"], info["object_count"], info["bytes_used"]


def names_of(listing: list[dict[str, Any]]) -> list[str]:
    return [entry["name"] if "name" in entry else entry["subdir"] for entry in listing]


# --- reports and totals --------------------------------------------------------------


def test_a_listed_container_says_what_swift_says(broker: AccountBroker) -> None:
    broker.put_container("photos", Timestamp("1700000000.5"), ZERO, 3, 300)
    assert broker.list_containers() == [{
        "name": "photos", "count": 3, "bytes": 300,
        "last_modified": "2023-11-14T22:13:20.500000", "storage_policy_index": 0}]
    assert broker.get_info()["account"] == "AUTH_a"


def test_totals_count_live_containers_overall_and_per_policy(broker: AccountBroker) -> None:
    broker.put_container("a", Timestamp(10), ZERO, 1, 10, storage_policy_index=0)
    broker.put_container("b", Timestamp(10), ZERO, 2, 20, storage_policy_index=1)
    broker.put_container("c", Timestamp(10), ZERO, 4, 40, storage_policy_index=1)
    assert totals(broker) == (3, 7, 70)
    assert broker.get_policy_stats() == {
        0: {"container_count": 1, "object_count": 1, "bytes_used": 10},
        1: {"container_count": 2, "object_count": 6, "bytes_used": 60}}
    broker.put_container("c", Timestamp(10), Timestamp(20), 0, 0, storage_policy_index=1)
    assert totals(broker) == (2, 3, 30)
    assert broker.get_policy_stats()[1] == \
        {"container_count": 1, "object_count": 2, "bytes_used": 20}
    assert names_of(broker.list_containers()) == ["a", "b"]


def test_the_newer_of_put_and_delete_decides(broker: AccountBroker) -> None:
    broker.put_container("c", Timestamp(10), Timestamp(20), 0, 0)
    broker.put_container("c", Timestamp(15), ZERO, 5, 50)  # older than the delete
    assert broker.list_containers() == [] and totals(broker) == (0, 0, 0)
    broker.put_container("c", Timestamp(30), ZERO, 1, 1)  # made again
    assert names_of(broker.list_containers()) == ["c"] and totals(broker) == (1, 1, 1)
    row = broker.get_items_since(-1, 10)[0]
    assert (row["put_timestamp"], row["delete_timestamp"]) == \
        (Timestamp(30).internal, Timestamp(20).internal)


def test_a_newer_report_replaces_the_statistics(broker: AccountBroker) -> None:
    broker.put_container("c", Timestamp(10), ZERO, 1, 10)
    broker.put_container("c", Timestamp(10), ZERO, 5, 50)  # same container, later report
    assert totals(broker) == (1, 5, 50)
    broker.put_container("c", Timestamp(10), ZERO, 7, 70, stats_timestamp=Timestamp(40))
    broker.put_container("c", Timestamp(10), ZERO, 6, 60, stats_timestamp=Timestamp(30))
    assert totals(broker) == (1, 7, 70)


def test_reports_with_stats_timestamps_merge_in_any_order(tmp_path: Path) -> None:
    reports = [("c", 10, 0, 1, 11, 12, 0), ("c", 10, 0, 3, 33, 14, 1), ("c", 10, 25, 0, 0, 25, 1),
               ("c", 30, 0, 2, 22, 31, 0), ("d", 5, 0, 9, 99, 6, 2)]
    outcomes = set()
    for number, order in enumerate(itertools.permutations(reports)):
        with AccountBroker(str(tmp_path / f"{number}.db")) as made:
            made.initialize(Timestamp(1))
            for name, put, delete, count, used, stats_at, policy in order:
                made.put_container(name, Timestamp(put), Timestamp(delete), count, used,
                                   policy, stats_timestamp=Timestamp(stats_at))
            info = made.get_replication_info()
            outcomes.add((tuple(map(tuple, (e.values() for e in made.list_containers()))),
                          info["hash"], totals(made),
                          tuple(sorted((k, tuple(v.values()))
                                       for k, v in made.get_policy_stats().items()))))
    assert len(outcomes) == 1
    listing, _, account_totals, policies = outcomes.pop()
    assert [entry[:3] for entry in listing] == [("c", 2, 22), ("d", 9, 99)]
    assert account_totals == (2, 11, 121)
    assert dict(policies)[0] == (1, 2, 22)


def test_a_container_moving_policy_moves_its_statistics(broker: AccountBroker) -> None:
    broker.put_container("c", Timestamp(10), ZERO, 4, 40, storage_policy_index=0)
    assert broker.get_policy_stats() == {
        0: {"container_count": 1, "object_count": 4, "bytes_used": 40}}
    broker.put_container("c", Timestamp(20), ZERO, 0, 0, storage_policy_index=1)
    assert broker.get_policy_stats() == {
        1: {"container_count": 1, "object_count": 0, "bytes_used": 0}}


# --- account status -----------------------------------------------------------------


def test_a_deleted_account_is_status_deleted_until_the_reaper_empties_it(
        broker: AccountBroker) -> None:
    broker.put_container("c", Timestamp(10), ZERO, 1, 1)
    broker.mark_deleted(Timestamp(50))
    assert broker.is_status_deleted()
    assert not broker.is_deleted()  # containers remain for the reaper
    assert names_of(broker.list_containers()) == ["c"]
    broker.put_container("c", Timestamp(10), Timestamp(60), 0, 0)  # the reaper's work
    assert broker.is_deleted()


def test_a_newer_put_revives_a_deleted_account(broker: AccountBroker) -> None:
    broker.mark_deleted(Timestamp(50))
    broker.update_put_timestamp(Timestamp(60))
    assert not broker.is_status_deleted() and not broker.is_deleted()


# --- listing -----------------------------------------------------------------------


@pytest.fixture
def listed(broker: AccountBroker) -> AccountBroker:
    for offset, name in enumerate(["a", "b", "backup-2024", "backup-2025", "logs_1", "logs_2",
                                   "logs_2_old", "z", "\u00e9t\u00e9", "\U0001f600"]):
        broker.put_container(name, Timestamp(100, delta=offset), ZERO, offset, offset * 10)
    broker.put_container("gone", Timestamp(10), Timestamp(20), 0, 0)
    return broker


def test_listing_markers_prefix_and_limit(listed: AccountBroker) -> None:
    assert names_of(listed.list_containers(marker="b", end_marker="logs_2")) == \
        ["backup-2024", "backup-2025", "logs_1"]
    assert names_of(listed.list_containers(prefix="backup")) == ["backup-2024", "backup-2025"]
    assert names_of(listed.list_containers(marker="backup-2024", prefix="backup")) == \
        ["backup-2025"]
    assert names_of(listed.list_containers(limit=2, marker="z")) == ["\u00e9t\u00e9", "\U0001f600"]
    assert listed.list_containers(limit=0) == []


def test_listing_delimiter_rolls_up(listed: AccountBroker) -> None:
    assert names_of(listed.list_containers(delimiter="-")) == \
        ["a", "b", "backup-", "logs_1", "logs_2", "logs_2_old", "z", "\u00e9t\u00e9",
         "\U0001f600"]
    assert names_of(listed.list_containers(prefix="logs_", delimiter="_")) == \
        ["logs_1", "logs_2", "logs_2_"]
    assert names_of(listed.list_containers(marker="backup-", delimiter="-")) == \
        ["logs_1", "logs_2", "logs_2_old", "z", "\u00e9t\u00e9", "\U0001f600"]


def test_listing_in_reverse(listed: AccountBroker) -> None:
    assert names_of(listed.list_containers(reverse=True, limit=3)) == \
        ["\U0001f600", "\u00e9t\u00e9", "z"]
    assert names_of(listed.list_containers(reverse=True, marker="logs_1", end_marker="b")) == \
        ["backup-2025", "backup-2024"]
    assert names_of(listed.list_containers(reverse=True, prefix="logs_", delimiter="_")) == \
        ["logs_2_", "logs_2", "logs_1"]


# --- replication and reclaim --------------------------------------------------------


def test_replication_round_trip_gives_equal_accounts(listed: AccountBroker,
                                                     tmp_path: Path) -> None:
    replica = AccountBroker(str(tmp_path / "replica.db"))
    replica.initialize(Timestamp(1), account="AUTH_a")
    replica.put_container("a", Timestamp(500), ZERO, 99, 990, storage_policy_index=1)
    source = listed.get_info()["id"]
    while items := listed.get_items_since(replica.get_sync(source), 4):
        replica.merge_items(items, source_id=source)
    listed.merge_items(replica.get_items_since(-1, 100))
    assert replica.list_containers() == listed.list_containers()
    assert totals(replica) == totals(listed)
    assert replica.get_policy_stats() == listed.get_policy_stats()
    assert replica.get_replication_info()["hash"] == listed.get_replication_info()["hash"]
    assert listed.list_containers(prefix="a")[0]["count"] == 99
    replica.close()


def test_reclaim_drops_containers_deleted_before_the_cutoff(listed: AccountBroker) -> None:
    before = totals(listed)
    listed.put_container("later", Timestamp(10), Timestamp(5000), 0, 0)
    assert listed.reclaim(Timestamp(1000)) == 1
    names = [item["name"] for item in listed.get_items_since(-1, 100)]
    assert "gone" not in names and "later" in names
    assert totals(listed) == before
