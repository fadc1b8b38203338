"""The container replicator: every container database on every primary.

    objstore-container-replicator CONF [--once] [--devices LIST]

CONF is the container server's config file; the options are its
``[container-replicator]`` section (``DatabaseReplicatorConfig``), the
node's address, port and devices its ``[app:container-server]``. What a
pass does and records: ``objstore.common.db_replicator``.
"""
from __future__ import annotations

import dataclasses

from objstore.common.config import option
from objstore.common.db_replicator import DatabaseReplicator, DatabaseReplicatorConfig
from objstore.container.broker import ContainerBroker
from objstore.daemons.runner import daemon_main


@dataclasses.dataclass(frozen=True)
class ContainerReplicatorConfig(DatabaseReplicatorConfig):
    bind_port: int = option(6201, "the node's port, to find its devices in the ring "
                                  "(default: the server's)", minimum=1, maximum=65535)


class ContainerReplicator(DatabaseReplicator):
    """Keeps every replica of each container database alike."""

    name = "container-replicator"
    server_type = "container"
    server_section = "app:container-server"
    config_schema = ContainerReplicatorConfig
    broker_class = ContainerBroker
    db_dir = "containers"


def main() -> None:
    daemon_main(ContainerReplicator)
