"""An upload's body, streamed into the cluster and inspected on the way.

``receive`` reads the request body (``Content-Length`` or chunked, as
the glance CLI sends it: 1 MiB chunks, no length, an
``x-openstack-image-size`` hint) in pieces of ``READ_SIZE``; computes its
MD5 and SHA-512; feeds the inspector; and writes it to the cluster as
segments (``datastore.SegmentWriter``). The first ``HEAD_BYTES`` are
held back until the inspector has judged them, so content refused by
its head never reaches the cluster; anything refused or failing later
has its segments deleted before ``receive`` raises. Memory use is the
head, one read and one segment's connection, whatever the image's size.

What can go wrong, and how it is told:

* ``Refused(status, reason)``: the content or its size is not allowed
  (415 not its disk_format or unsafe, 413 over the cap, 400 not the
  size announced). Nothing of it stays in the cluster.
* ``ClientGone``: the body ended early or broke off.
* ``ClusterError``: the cluster failed to store it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable, Iterator
from typing import Any, Final

from objstore.image.cluster import ClusterClient
from objstore.image.config import ImageConfig
from objstore.image.datastore import SegmentWriter, TooManySegments
from objstore.image.formats import Detection
from objstore.image.inspection import Inspector
from objstore.image.properties import HASH_ALGO

READ_SIZE: Final = 65536


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class ClientGone(Exception):
    """The client's body ended before it was whole, or broke off."""


@dataclasses.dataclass(frozen=True)
class Received:
    location: str | None
    size: int
    checksum: str
    hash_value: str
    head: Detection
    whole: Detection


def body_chunks(environ: dict[str, Any]) -> Iterator[bytes]:
    """The request body as it arrives; ClientGone if it breaks off or is
    shorter than its Content-Length."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    expected = int(length) if length and length.isdigit() else None
    got = 0
    while True:
        try:
            data = stream.read(READ_SIZE)
        except (OSError, ValueError) as err:
            raise ClientGone(f"the upload broke off after {got} bytes: {err}") from err
        if not data:
            break
        got += len(data)
        yield data
    if expected is not None and got < expected:
        raise ClientGone(f"the upload ended after {got} of {expected} bytes")


def drain(environ: dict[str, Any], limit: int) -> None:
    """Read and drop the rest of a refused body (up to ``limit`` bytes), so
    the client, which sends it all before reading, gets the answer."""
    seen = 0
    try:
        for chunk in body_chunks(environ):
            seen += len(chunk)
            if seen > limit:
                return
    except ClientGone:
        return


def receive(client: ClusterClient, conf: ImageConfig, environ: dict[str, Any], image_id: str,
            upload_id: str, declared: str | None, announced: int | None,
            logger: logging.Logger, on_progress: Callable[[int], None] | None = None
            ) -> Received:
    """Store the body as ``image_id``'s data (see the module docstring);
    ``on_progress`` is told the bytes received after each chunk, and may
    raise to stop the upload (its segments are deleted)."""
    inspector = Inspector(declared)
    md5, sha = hashlib.md5(), hashlib.new(HASH_ALGO)
    writer = SegmentWriter(client, conf, image_id, upload_id, logger, total=announced)
    held: list[bytes] | None = []   # the head, until judged; None once written
    try:
        for chunk in body_chunks(environ):
            if inspector.size + len(chunk) > conf.image_size_cap:
                raise Refused(413, f"Image exceeds the storage quota: the largest image "
                                   f"accepted is {conf.image_size_cap} bytes")
            md5.update(chunk)
            sha.update(chunk)
            inspector.feed(chunk)
            if held is None:
                writer.write(chunk)
            else:
                held.append(chunk)
                if inspector.head_complete:
                    _judge_head(inspector, held, writer)
                    held = None
            if on_progress is not None:
                on_progress(inspector.size)
        if held is not None:
            _judge_head(inspector, held, writer)
        reason = inspector.final_verdict()
        if reason:
            raise Refused(415, reason)
        if announced is not None and announced != inspector.size:
            raise Refused(400, f"Image size {inspector.size} does not match the announced "
                               f"size {announced} (x-openstack-image-size)")
        location = writer.commit()
    except TooManySegments as err:
        writer.discard()
        raise Refused(413, f"Image is too large: {err}") from None
    except BaseException:
        writer.discard()
        raise
    head, whole = inspector.results()
    return Received(location, inspector.size, md5.hexdigest(), sha.hexdigest(), head, whole)


def _judge_head(inspector: Inspector, held: list[bytes], writer: SegmentWriter) -> None:
    reason = inspector.head_verdict()
    if reason:
        raise Refused(415, reason)
    for chunk in held:
        writer.write(chunk)
    held.clear()


__all__ = ["ClientGone", "Received", "Refused", "body_chunks", "drain", "receive"]
