"""The sending side: what a partition offers, the frames it pushes, and peers
that are down, slow or strange (never a hang)."""
from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from objstore.obj.exceptions import DiskFileQuarantined
from objstore.obj.integrity import ChecksumWriter
from objstore.obj.sync_protocol import STORED, FrameReader, State
from objstore.obj.sync_sender import HttpTransport, LocalPartition, Peer, PeerError, SyncClient
from tests.fakes.http_backend import FakeBackend
from tests.unit.obj.replication_cluster import PORTS, Cluster, stamp


@pytest.fixture
def cluster(tmp_path: Path) -> Cluster:
    return Cluster(tmp_path)


def local(cluster: Cluster, node: int, name: str, policy: int = 0) -> LocalPartition:
    part, _, _ = cluster.placement(name)
    return LocalPartition(cluster.manager(node), f"sd{node}", str(cluster.device_path(node)),
                          policy, part)


def test_a_partition_lists_what_counts_and_nothing_foreign(cluster: Cluster) -> None:
    old, new, post = stamp(300), stamp(200), stamp(100)
    cluster.put([1], "cat", b"old", old)
    cluster.put([1], "cat", b"new", new)
    cluster.post([1], "cat", post)
    partition = local(cluster, 1, "cat")
    suffix = cluster.diskfile(1, "cat").name_hash[-3:]
    os.makedirs(os.path.join(partition.path, suffix, "not-a-hash"))
    os.makedirs(os.path.join(partition.path, "zzz"))
    assert partition.suffixes() == [suffix]
    name_hash = cluster.diskfile(1, "cat").name_hash
    assert partition.objects([suffix]) == {name_hash: State(data=new, meta=post)}
    assert partition.objects(["fff"]) == {}


def frames_of(partition: LocalPartition, name_hash: str, state: State,
              kinds: list[str]) -> list[object]:
    stream = b"".join(frame.data for frame in partition.frames(name_hash, state, kinds))
    reader = FrameReader(_reader(stream))
    found = []
    while not reader.at_end():
        found.append(reader.next())
    return found


def _reader(data: bytes):  # type: ignore[no-untyped-def]
    view = memoryview(data)
    position = 0

    def read(size: int) -> bytes:
        nonlocal position
        piece = bytes(view[position:position + size])
        position += len(piece)
        return piece
    return read


def test_frames_carry_each_files_own_metadata_and_verified_bytes(cluster: Cluster) -> None:
    body = os.urandom(1024 * 1024 + 5)
    put, post = stamp(300), stamp(200)
    cluster.put([1], "cat", body, put, **{"X-Object-Meta-Color": "red"})
    cluster.post([1], "cat", post, **{"X-Object-Meta-Color": "blue"})
    partition = local(cluster, 1, "cat")
    name_hash = cluster.diskfile(1, "cat").name_hash
    data, piece1, piece2, meta = frames_of(partition, name_hash, State(data=put, meta=post),
                                           ["data", "meta"])
    assert (data["kind"], data["timestamp"]) == ("data", put.internal)  # type: ignore[index]
    assert data["metadata"]["X-Object-Meta-Color"] == "red"  # type: ignore[index]
    assert piece1 + piece2 == body  # type: ignore[operator]
    assert meta["metadata"]["X-Object-Meta-Color"] == "blue"  # type: ignore[index]
    # A file replaced since the listing is left out whole, never begun.
    newer = stamp(100)
    cluster.put([1], "cat", b"newer", newer)
    assert frames_of(partition, name_hash, State(data=put, meta=post), ["data", "meta"]) == []


def test_a_rotten_file_ends_the_push_and_is_quarantined(cluster: Cluster) -> None:
    cluster.put([1], "cat", os.urandom(200_000), stamp(300))
    diskfile = cluster.diskfile(1, "cat")
    path = diskfile.open().data_path
    with open(path, "r+b") as handle:
        handle.seek(150_000)
        handle.write(b"\xff\xfe")
    partition = local(cluster, 1, "cat")
    state = partition.objects(partition.suffixes())[diskfile.name_hash]
    client = SyncClient(cluster.transport)
    with pytest.raises(DiskFileQuarantined):
        client.push(Peer("sd2", "127.0.0.1", PORTS[2]), partition,
                    [(diskfile.name_hash, state, ["data"])])
    assert not os.path.exists(path) and not cluster.files(2, "cat")


def test_offer_and_push_through_the_client(cluster: Cluster) -> None:
    cluster.put([1], "cat", b"meow", stamp(300))
    partition = local(cluster, 1, "cat")
    objects = partition.objects(partition.suffixes())
    peer = Peer("sd2", "127.0.0.1", PORTS[2])
    client = SyncClient(cluster.transport)
    wants = client.offer(peer, 0, partition.partition, objects)
    assert wants == {name_hash: ["data"] for name_hash in objects}
    results = client.push(peer, partition, [(h, objects[h], k) for h, k in wants.items()])
    assert [(r.status, r.size) for r in results] == [(STORED, 4)]
    assert client.offer(peer, 0, partition.partition, objects) == {}
    assert client.suffix_hashes(peer, 0, partition.partition) == \
        client.suffix_hashes(Peer("sd1", "127.0.0.1", PORTS[1]), 0, partition.partition)
    with pytest.raises(PeerError) as caught:
        client.suffix_hashes(Peer("sd9", "127.0.0.1", PORTS[2]), 0, 1)
    assert caught.value.device_gone and not caught.value.server_down


class BodiesSeen:
    """A transport that keeps each request body it passes on."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.bodies: list[bytes] = []

    def request(self, peer: Peer, method: str, path: str, headers: Mapping[str, str],
                body: Iterable[bytes] | None = None) -> tuple[int, bytes]:
        data = b"".join(body) if body is not None else b""
        self.bodies.append(data)
        answer: tuple[int, bytes] = self.inner.request(peer, method, path, headers, [data])
        return answer


def item_frames(body: bytes) -> list[dict[str, Any]]:
    reader = FrameReader(_reader(body))
    found = []
    while not reader.at_end():
        frame = reader.next()
        if isinstance(frame, dict) and "kind" in frame:
            found.append(frame)
    return found


def test_a_data_goes_with_its_checksum_table_to_a_peer_that_takes_them(
        cluster: Cluster) -> None:
    body = os.urandom(300_000)
    cluster.put([1], "cat", body, stamp(300))
    partition = local(cluster, 1, "cat")
    objects = partition.objects(partition.suffixes())
    peer = Peer("sd2", "127.0.0.1", PORTS[2])
    transport = BodiesSeen(cluster.transport)
    client = SyncClient(transport)
    items = [(name_hash, state, ["data"]) for name_hash, state in objects.items()]
    client.push(peer, partition, items)  # no offer yet: the peer may be an older server
    assert "table" not in item_frames(transport.bodies[-1])[0]
    shutil.rmtree(cluster.diskfile(2, "cat").hash_dir)  # a lost disk: it wants it again
    wants = client.offer(peer, 0, partition.partition, objects)
    assert wants == {name_hash: ["data"] for name_hash in objects}
    results = client.push(peer, partition, items)
    assert [result.status for result in results] == [STORED]
    sums = ChecksumWriter(with_md5=False)
    sums.update(body)
    assert item_frames(transport.bodies[-1])[0]["table"] == sums.table()
    info = cluster.diskfile(2, "cat").open()
    assert b"".join(cluster.diskfile(2, "cat").read(info)) == body


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that takes connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def test_peers_that_are_down_slow_or_strange_fail_fast(silent_port: int) -> None:
    client = SyncClient(HttpTransport(conn_timeout=0.5, node_timeout=0.3))
    started = time.monotonic()
    with pytest.raises(PeerError) as caught:
        client.suffix_hashes(Peer("sda", "127.0.0.1", silent_port), 0, 1)
    assert caught.value.server_down and time.monotonic() - started < 2
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]
    with pytest.raises(PeerError) as caught:
        client.offer(Peer("sda", "127.0.0.1", closed_port), 0, 1, {})
    assert caught.value.server_down and "cannot connect" in str(caught.value)
    with FakeBackend() as backend:  # speaks HTTP, but not our verbs
        with pytest.raises(PeerError) as caught:
            client.suffix_hashes(Peer("sda", backend.host, backend.port), 0, 1)
        assert caught.value.status == 501 and not caught.value.server_down


def test_peers_are_reached_at_their_replication_address() -> None:
    from ring.devices import Device

    device = Device(id=3, region=1, zone=2, ip="10.0.0.5", port=6200,
                    replication_ip="10.1.0.5", replication_port=6400, device="sdb", weight=1.0)
    peer = Peer.of(device)
    assert (peer.ip, peer.port, peer.device, peer.server) == ("10.1.0.5", 6400, "sdb",
                                                              ("10.1.0.5", 6400))
    assert str(peer) == "10.1.0.5:6400/sdb"
    assert str(Peer("sdb", "::1", 6400)) == "[::1]:6400/sdb"
