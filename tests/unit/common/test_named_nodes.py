"""The replicas a request names: written by node(s)_headers, read back by named_nodes."""
from __future__ import annotations

import pytest

from objstore.common.named_nodes import NamedNode, named_nodes, node_headers, nodes_headers


def test_several_replicas_round_trip_ipv4_and_ipv6() -> None:
    headers = nodes_headers("Container", [("10.0.0.1", 6201, "sdb"), ("fe80::1", 6202, "sdc")],
                            17)
    assert headers == {"X-Container-Host": "10.0.0.1:6201,[fe80::1]:6202",
                       "X-Container-Device": "sdb,sdc", "X-Container-Partition": "17"}
    assert named_nodes(headers, "Container") == [NamedNode("10.0.0.1", 6201, "sdb", "17"),
                                                 NamedNode("fe80::1", 6202, "sdc", "17")]


def test_one_replica_is_a_list_of_one() -> None:
    assert node_headers("Account", "10.0.0.1", 6202, "sda", 3) == \
        nodes_headers("Account", [("10.0.0.1", 6202, "sda")], 3)


def test_contradicting_lists_are_refused() -> None:
    with pytest.raises(ValueError):
        named_nodes({"X-Container-Host": "10.0.0.1:1,10.0.0.2:2", "X-Container-Device": "a",
                     "X-Container-Partition": "1"}, "Container")
