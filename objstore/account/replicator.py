"""The account replicator: every account database on every primary.

    objstore-account-replicator CONF [--once] [--devices LIST]

CONF is the account server's config file; the options are its
``[account-replicator]`` section (``DatabaseReplicatorConfig``), the
node's address, port and devices its ``[app:account-server]``. What a
pass does and records: ``objstore.common.db_replicator``.
"""
from __future__ import annotations

import dataclasses

from objstore.common.config import option
from objstore.common.db_replicator import DatabaseReplicator, DatabaseReplicatorConfig
from objstore.account.broker import AccountBroker
from objstore.daemons.runner import daemon_main


@dataclasses.dataclass(frozen=True)
class AccountReplicatorConfig(DatabaseReplicatorConfig):
    bind_port: int = option(6202, "the node's port, to find its devices in the ring "
                                  "(default: the server's)", minimum=1, maximum=65535)


class AccountReplicator(DatabaseReplicator):
    """Keeps every replica of each account database alike."""

    name = "account-replicator"
    server_type = "account"
    server_section = "app:account-server"
    config_schema = AccountReplicatorConfig
    broker_class = AccountBroker
    db_dir = "accounts"


def main() -> None:
    daemon_main(AccountReplicator)
