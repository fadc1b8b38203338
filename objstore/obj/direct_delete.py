"""An object's DELETE sent straight to its replicas, as a proxy sends it.

The daemons that delete objects on their own (the expirer, the account
reaper) send each primary the request a proxy would: the headers given
(``X-Timestamp`` and the policy at least) and the container replica that
primary is to update, spread over the container's replicas by index as
the proxy spreads them, so the row leaves every listing.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from objstore.common.http_client import BackendError, request
from objstore.common.named_nodes import node_headers


def delete_everywhere(nodes: Sequence[Any], part: int, path: str, headers: Mapping[str, str],
                      container_nodes: Sequence[Any], container_part: int, *,
                      connect_timeout: float, read_timeout: float
                      ) -> Iterator[tuple[Any, int | None, str]]:
    """For each of ``nodes`` (an object ring's primaries for ``path``,
    ``/account/container/object``): the node, its status (None when it
    could not be asked) and what went wrong, if anything."""
    for index, node in enumerate(nodes):
        listing = container_nodes[index % len(container_nodes)]
        sent = {**headers, **node_headers("Container", listing.ip, listing.port,
                                          listing.device, container_part)}
        try:
            status, _, _ = request(node.ip, node.port, "DELETE",
                                   f"/{node.device}/{part}{path}", sent,
                                   connect_timeout=connect_timeout, read_timeout=read_timeout)
        except (BackendError, ValueError) as err:
            yield node, None, str(err)
            continue
        yield node, status, "" if 200 <= status < 300 else f"status {status}"
