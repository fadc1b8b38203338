"""The account auditor: every account database checked, the bad quarantined.

    objstore-account-auditor CONF [--once] [--devices LIST]

CONF is the account server's config file; the options are its
``[account-auditor]`` section (``DatabaseAuditorConfig``), the node's
address, port and devices its ``[app:account-server]``. What a pass
checks and records: ``objstore.common.db_auditor``.
"""
from __future__ import annotations

import dataclasses

from objstore.common.config import option
from objstore.common.db_auditor import DatabaseAuditor, DatabaseAuditorConfig
from objstore.account.broker import AccountBroker
from objstore.daemons.runner import daemon_main


@dataclasses.dataclass(frozen=True)
class AccountAuditorConfig(DatabaseAuditorConfig):
    bind_port: int = option(6202, "the node's port, to find its devices in the ring "
                                  "(default: the server's)", minimum=1, maximum=65535)


class AccountAuditor(DatabaseAuditor):
    """Checks every account database on this node; quarantines the bad."""

    name = "account-auditor"
    server_type = "account"
    server_section = "app:account-server"
    config_schema = AccountAuditorConfig
    broker_class = AccountBroker
    db_dir = "accounts"


def main() -> None:
    daemon_main(AccountAuditor)
