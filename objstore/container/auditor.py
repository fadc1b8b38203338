"""The container auditor: every container database checked, the bad quarantined.

    objstore-container-auditor CONF [--once] [--devices LIST]

CONF is the container server's config file; the options are its
``[container-auditor]`` section (``DatabaseAuditorConfig``), the node's
address, port and devices its ``[app:container-server]``. What a pass
checks and records: ``objstore.common.db_auditor``.
"""
from __future__ import annotations

import dataclasses

from objstore.common.config import option
from objstore.common.db_auditor import DatabaseAuditor, DatabaseAuditorConfig
from objstore.container.broker import ContainerBroker
from objstore.daemons.runner import daemon_main


@dataclasses.dataclass(frozen=True)
class ContainerAuditorConfig(DatabaseAuditorConfig):
    bind_port: int = option(6201, "the node's port, to find its devices in the ring "
                                  "(default: the server's)", minimum=1, maximum=65535)


class ContainerAuditor(DatabaseAuditor):
    """Checks every container database on this node; quarantines the bad."""

    name = "container-auditor"
    server_type = "container"
    server_section = "app:container-server"
    config_schema = ContainerAuditorConfig
    broker_class = ContainerBroker
    db_dir = "containers"


def main() -> None:
    daemon_main(ContainerAuditor)
