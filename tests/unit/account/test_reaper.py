"""The account reaper's choices, on real account databases in temp devices:
which accounts it works on, when, and what it reports. (Deleting objects
and containers over HTTP: tests/functional/test_account_reaper.py.)"""
from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from objstore.account.broker import AccountBroker
from objstore.account.reaper import AccountReaper, AccountReaperConfig, reaping_state
from objstore.common.timestamp import Timestamp
from objstore.daemons.base import LocalDevice
from ring.builder import RingBuilder
from ring.hashing import hash_path

PORT = 6202        # this node's account server
OTHER_PORT = 6302  # another node on the same address
DELETED_AT = 1_000_000.0


def closed_port() -> int:
    """A port nothing listens on: a connection there is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def node(tmp_path: Path) -> Path:
    for device in ("sda", "sdb"):
        (tmp_path / "devices" / device).mkdir(parents=True)
    (tmp_path / "objstore.conf").write_text(
        "[swift-hash]\nswift_hash_path_suffix = reaper-tests\n"
        "[storage-policy:0]\nname = gold\ndefault = yes\n")
    rings = tmp_path / "rings"
    rings.mkdir()
    builder = RingBuilder(4, 3, 0)
    for zone, (port, device) in enumerate(((PORT, "sda"), (OTHER_PORT, "sdc"), (PORT, "sdb"),
                                           (OTHER_PORT, "sdd")), start=1):
        builder.add_dev(1, zone, "127.0.0.1", port, device, 1.0)
    builder.rebalance(seed=1)
    builder.get_ring().save(str(rings / "account.ring.gz"))
    containers = RingBuilder(4, 1, 0)  # its one server is down
    containers.add_dev(1, 1, "127.0.0.1", closed_port(), "sda", 1.0)
    containers.rebalance(seed=1)
    containers.get_ring().save(str(rings / "container.ring.gz"))
    return tmp_path


def make_reaper(node: Path, clock: Callable[[], float] = lambda: DELETED_AT + 1,
                delay_reaping: float = 0, reap_warn_after: float = 2592000) -> AccountReaper:
    conf = AccountReaperConfig(devices=str(node / "devices"), mount_check=False,
                               bind_port=PORT, cluster_conf=str(node / "objstore.conf"),
                               ring_dir=str(node / "rings"), conn_timeout=0.5,
                               node_timeout=0.5, delay_reaping=delay_reaping,
                               reap_warn_after=reap_warn_after)
    return AccountReaper(conf, logging.getLogger("test-account-reaper"), clock=clock)


def find_account(reaper: AccountReaper, port: int, device: str | None,
                 also_local: bool) -> str:
    """An account whose first primary is on ``port`` (and ``device``); with
    ``also_local``, one of its other primaries is a device of this node."""
    for number in range(10_000):
        account = f"AUTH_{number}"
        nodes = reaper.account_ring.get_nodes(account)[1]
        if nodes[0].port == port and device in (None, nodes[0].device) and \
                (not also_local or any(n.port == PORT for n in nodes[1:])):
            return account
    raise AssertionError("no such account in the ring")


def make_account(node: Path, reaper: AccountReaper, account: str, deleted: bool,
                 containers: tuple[str, ...] = ()) -> None:
    """The account's database on each of its primaries that is on this node."""
    part, nodes = reaper.account_ring.get_nodes(account)
    name_hash = hash_path(account)  # the reaper installed the cluster's secret
    for device in {n.device for n in nodes if n.port == PORT}:
        path = (node / "devices" / device / "accounts" / str(part) / name_hash[-3:]
                / name_hash / f"{name_hash}.db")
        path.parent.mkdir(parents=True)
        broker = AccountBroker(str(path))
        broker.initialize(Timestamp(DELETED_AT - 100), account=account)
        for container in containers:
            broker.put_container(container, Timestamp(DELETED_AT - 50), Timestamp(0), 3, 30)
        if deleted:
            broker.mark_deleted(Timestamp(DELETED_AT))
        broker.close()


def one_pass(node: Path, reaper: AccountReaper) -> dict[str, int]:
    reaper.begin_pass()
    reaper.run_once([LocalDevice(device, str(node / "devices" / device))
                     for device in ("sda", "sdb")])
    return {name: value for name, value in reaper.statistics().items() if value}


def test_the_first_primary_alone_reaps_and_only_deleted_accounts(node: Path) -> None:
    reaper = make_reaper(node)
    # its database is on sda and sdb: reaped once, from sda
    mine = find_account(reaper, PORT, "sda", also_local=True)
    live = next(account for account in (f"AUTH_live{n}" for n in range(10_000))
                if reaper.account_ring.get_nodes(account)[1][0].port == PORT)
    elsewhere = find_account(reaper, OTHER_PORT, None, also_local=True)
    for account in (mine, elsewhere):
        make_account(node, reaper, account, deleted=True)
    make_account(node, reaper, live, deleted=False, containers=("c",))
    # deleted and without containers: nothing to send, emptied at once
    assert one_pass(node, reaper) == {"accounts": 1, "accounts_emptied": 1}


def test_delay_reaping_then_an_overdue_account_is_warned_about(
        node: Path, caplog: pytest.LogCaptureFixture) -> None:
    now = DELETED_AT + 50
    reaper = make_reaper(node, lambda: now, delay_reaping=100, reap_warn_after=60)
    account = find_account(reaper, PORT, "sda", also_local=False)
    make_account(node, reaper, account, deleted=True, containers=("c1", "c2"))
    assert one_pass(node, reaper) == {"accounts_delayed": 1}

    # due; the container server is down: both containers stay, for the next pass
    now = DELETED_AT + 150
    expected = {"accounts": 1, "containers_remaining": 2, "container_failures": 2,
                "errors": 2}
    with caplog.at_level(logging.WARNING):
        assert one_pass(node, reaper) == expected
    assert "not emptied yet" not in caplog.text

    now = DELETED_AT + 161
    with caplog.at_level(logging.WARNING):
        assert one_pass(node, reaper) == expected
    assert f"account {account}, deleted at" in caplog.text
    assert "not emptied yet" in caplog.text


def test_reaping_state_boundaries() -> None:
    assert reaping_state(100.0, 100.0, 0, 30) == "wait"
    assert reaping_state(100.0, 100.5, 0, 30) == "reap"
    assert reaping_state(100.0, 130.0, 0, 30) == "reap"
    assert reaping_state(100.0, 130.5, 0, 30) == "reap_late"
    assert reaping_state(100.0, 200.0, 100, 30) == "wait"
    assert reaping_state(100.0, 200.5, 100, 30) == "reap"
    assert reaping_state(100.0, 230.5, 100, 30) == "reap_late"


def test_node_options_default_as_the_account_servers_do() -> None:
    from objstore.account.server import AccountServerConfig
    from objstore.common.config import describe
    from objstore.daemons.base import NODE_OPTIONS

    server = {name: default for name, default, _ in describe(AccountServerConfig)}
    daemon = {name: default for name, default, _ in describe(AccountReaperConfig)}
    shared = [name for name in NODE_OPTIONS if name in server]
    assert {"bind_port", "devices", "cluster_conf"} <= set(shared)
    assert {name: daemon[name] for name in shared} == {name: server[name] for name in shared}
