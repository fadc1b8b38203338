"""Image data in the cluster: a static large object per upload.

    <segments_container>/<image id>/<upload id>/<00000001 ...>   the bytes, in segments
    <data_container>/<image id>/<upload id>                      the SLO manifest

A ``SegmentWriter`` streams an upload into segments of ``segment_size``
bytes, each a PUT of its own (with its length when the client announced
the image's size, else chunked) whose ETag the proxy returns and
the writer checks against the MD5 it computed; at the end one manifest
PUT (``?multipart-manifest=put``) ties them together, and the manifest's
name is the image's location. Only one chunk of the client's body is in
memory at a time, so a 100 GB image costs what a small one does.

Every upload has its own names (the upload id), so two uploads never
write over each other's segments. ``discard`` deletes what an upload
wrote (segments and manifest) when it is refused or fails; ``delete``
removes an image's data (manifest and segments in one request).
An empty image has no data object at all (its location is None).
``delete_prefixed`` removes whatever a listing shows under a prefix: the
segments an upload left when its server died, or all of a deleted
image's objects.
"""
from __future__ import annotations

import hashlib
import json
import logging
import urllib.parse
from typing import Final

from objstore.common.concurrency import GreenPool
from objstore.common.http_client import BackendConnection
from objstore.image.cluster import ClusterClient, ClusterError, finish_put, send_body
from objstore.image.config import ImageConfig

DELETERS: Final = 8          # objects deleted at once by delete_prefixed
LISTING_LIMIT: Final = 1000


class TooManySegments(Exception):
    """The upload needs more than ``max_segments`` segments."""


class SegmentWriter:
    def __init__(self, client: ClusterClient, conf: ImageConfig, image_id: str,
                 upload_id: str, logger: logging.Logger, total: int | None = None) -> None:
        self.client = client
        self.conf = conf
        self.logger = logger
        # the size the client announced: segments go with their length, so
        # the proxy hashes them once (put_footer) instead of every replica;
        # bytes past it go chunked (the upload is refused for them anyway)
        self.total = total
        self._length: int | None = None  # of the open segment, when sized
        self._stored = 0                 # bytes in the segments closed so far
        self.prefix = f"{image_id}/{upload_id}"
        self.segments: list[dict[str, object]] = []   # the manifest's entries so far
        self._conn: BackendConnection | None = None
        self._md5 = hashlib.md5()
        self._written = 0          # bytes in the open segment
        self._started = False      # something may exist in the cluster

    @property
    def location(self) -> str:
        return self.prefix

    def _segment_name(self, number: int) -> str:
        return f"{self.conf.segments_container}/{self.prefix}/{number:08d}"

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._conn is None:
                self._open()
            full = self.conf.segment_size if self._length is None else self._length
            piece = bytes(view[:full - self._written])
            assert self._conn is not None
            send_body(self._conn, piece)
            self._md5.update(piece)
            self._written += len(piece)
            view = view[len(piece):]
            if self._written == full:
                self._close_segment()

    def _open(self) -> None:
        if len(self.segments) >= self.conf.max_segments:
            raise TooManySegments(f"more than {self.conf.max_segments} segments")
        self._started = True
        name = self._segment_name(len(self.segments) + 1)
        left = None if self.total is None else self.total - self._stored
        self._length = min(self.conf.segment_size, left) if left is not None and left > 0 else None
        try:
            self._conn = self.client.start_put(name, length=self._length)
        except ClusterError:
            if self.segments:
                raise
            # the first segment of this server: perhaps no containers yet
            self.client.ensure_containers([self.conf.segments_container,
                                           self.conf.data_container])
            self._conn = self.client.start_put(name, length=self._length)
        self._md5 = hashlib.md5()
        self._written = 0

    def _close_segment(self) -> None:
        conn, self._conn = self._conn, None
        assert conn is not None
        name = self._segment_name(len(self.segments) + 1)
        status, headers = finish_put(conn)
        etag = headers.get("etag", "").strip('"')
        if status != 201:
            raise ClusterError(f"storing segment {name} failed ({status})")
        if etag != self._md5.hexdigest():
            raise ClusterError(f"segment {name} was stored with ETag {etag}, "
                               f"not {self._md5.hexdigest()}")
        self.segments.append({"path": "/" + name, "etag": etag, "size_bytes": self._written})
        self._stored += self._written

    def commit(self) -> str | None:
        """Close the last segment and store the manifest; the location (None
        for an empty image)."""
        if self._conn is not None:
            self._close_segment()
        if not self.segments:
            return None
        body = json.dumps(self.segments).encode("utf-8")
        path = f"{self.conf.data_container}/{self.prefix}"
        status, _, data = self.client.call("PUT", path, {
            "Content-Type": "application/octet-stream"}, body, query="multipart-manifest=put")
        if status != 201:
            raise ClusterError(f"storing the manifest {path} failed ({status}: "
                               f"{data[:200].decode('utf-8', 'replace')})")
        return self.location

    def discard(self) -> None:
        """Remove whatever this upload stored; problems are logged, not raised."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if not self._started:
            return
        names = [str(entry["path"]).lstrip("/") for entry in self.segments]
        names.append(self._segment_name(len(self.segments) + 1))  # one left half-written
        names.append(f"{self.conf.data_container}/{self.prefix}")
        for name in names:
            try:
                status, _, _ = self.client.call("DELETE", name)
            except ClusterError as err:
                self.logger.warning("could not delete %s of a failed upload: %s", name, err)
                continue
            if status not in (204, 404):
                self.logger.warning("could not delete %s of a failed upload (%d)",
                                    name, status)


def delete_data(client: ClusterClient, conf: ImageConfig, location: str | None,
                logger: logging.Logger) -> None:
    """Delete an image's manifest and segments; problems are logged."""
    if not location:
        return
    path = f"{conf.data_container}/{location}"
    try:
        status, _, body = client.call("DELETE", path, {"Accept": "application/json"},
                                      query="multipart-manifest=delete")
    except ClusterError as err:
        logger.warning("could not delete the data of %s: %s", location, err)
        return
    if status not in (200, 204, 404):
        logger.warning("could not delete the data of %s (%d): %s", location, status,
                       body[:200].decode("utf-8", "replace"))


def delete_prefixed(client: ClusterClient, container: str, prefix: str,
                    logger: logging.Logger) -> None:
    """Delete every object the container lists under ``prefix``; problems
    are logged (a listing a moment behind may leave one for later)."""
    names: list[str] = []
    marker = ""
    while True:
        query = f"format=json&limit={LISTING_LIMIT}&prefix={urllib.parse.quote(prefix)}" + (
            f"&marker={urllib.parse.quote(marker)}" if marker else "")
        try:
            status, _, data = client.call("GET", container, query=query)
        except ClusterError as err:
            logger.warning("could not list %s/%s*: %s", container, prefix, err)
            break
        if status != 200:
            if status not in (204, 404):
                logger.warning("could not list %s/%s* (%d)", container, prefix, status)
            break
        rows = json.loads(data)
        names += [f"{container}/{row['name']}" for row in rows]
        if len(rows) < LISTING_LIMIT:
            break
        marker = rows[-1]["name"]
    for _ in GreenPool(DELETERS).imap(lambda name: _delete_one(client, name, logger), names):
        pass


def _delete_one(client: ClusterClient, name: str, logger: logging.Logger) -> None:
    try:
        status, _, _ = client.call("DELETE", name)
    except ClusterError as err:
        logger.warning("could not delete %s: %s", name, err)
        return
    if status not in (204, 404):
        logger.warning("could not delete %s (%d)", name, status)


def delete_upload(client: ClusterClient, conf: ImageConfig, image_id: str,
                  upload_id: str | None, logger: logging.Logger) -> None:
    """Delete what one upload (or, with None, every upload) of the image
    stored: segments and manifests, found by listing."""
    prefix = f"{image_id}/{upload_id}/" if upload_id else f"{image_id}/"
    delete_prefixed(client, conf.segments_container, prefix, logger)
    if upload_id:
        _delete_one(client, f"{conf.data_container}/{image_id}/{upload_id}", logger)
    else:
        delete_prefixed(client, conf.data_container, prefix, logger)


__all__ = ["SegmentWriter", "TooManySegments", "delete_data", "delete_prefixed",
           "delete_upload"]
