"""Image records: one JSON object per image in the cluster, no database server.

    <records_container>/<image id>   {"format": 1, "image": {...}, "location": ...,
                                      "upload_id": ..., "members": {...}, "staged": ...}

``image`` is what the API shows; the rest is the service's own: where
the data is (``location``, an object of the data container), which
upload holds the image (``upload_id``), the members of a shared image,
and a staged upload waiting for its import. Every image-server process
reads the same objects, so every instance sees the same registry.

Reads ask for the newest replica (``X-Newest``), so a change another
server made a moment ago is seen. A listing reads the container listing
and then only the records whose ETag differs from the one this worker
last read (up to ``READERS`` at once): a listed record is as fresh as the
container listing, which the object servers update on every write. The
cache keeps the stored JSON, never a ``Record``, which callers change.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import urllib.parse
from typing import Any, Final

from objstore.common.concurrency import GreenPool
from objstore.image.cluster import ClusterClient, ClusterError

FORMAT: Final = 1
LISTING_LIMIT: Final = 10000
READERS: Final = 16   # records read at once when a listing shows many changed


@dataclasses.dataclass
class Record:
    image: dict[str, Any]
    location: str | None = None          # the data's object in the data container
    upload_id: str | None = None         # the upload (or stage) that claimed the image
    members: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    staged: dict[str, Any] | None = None  # a staged upload's facts, until its import
    etag: str = ""                       # of the stored JSON, as the cluster has it

    @property
    def id(self) -> str:
        return str(self.image["id"])

    def to_json(self) -> bytes:
        return json.dumps({"format": FORMAT, "image": self.image, "location": self.location,
                           "upload_id": self.upload_id, "members": self.members,
                           "staged": self.staged}, sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes, etag: str) -> Record:
        document = json.loads(data)
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise ValueError("not an image record of a known format")
        return cls(image=document["image"], location=document.get("location"),
                   upload_id=document.get("upload_id"), members=document.get("members") or {},
                   staged=document.get("staged"), etag=etag)


class RecordStore:
    def __init__(self, client: ClusterClient, container: str, logger: logging.Logger) -> None:
        self.client = client
        self.container = container
        self.logger = logger
        # image id -> (ETag, stored JSON): never a Record, which callers change
        self._cache: dict[str, tuple[str, bytes]] = {}

    def _path(self, image_id: str) -> str:
        return f"{self.container}/{image_id}"

    def get(self, image_id: str) -> Record | None:
        status, headers, data = self.client.call("GET", self._path(image_id),
                                                 {"X-Newest": "true"})
        if status == 404:
            self._cache.pop(image_id, None)
            return None
        if status != 200:
            raise ClusterError(f"reading image record {image_id} failed ({status})")
        etag = headers.get("etag", "").strip('"')
        record = self._parse(image_id, data, etag)
        self._cache[image_id] = (etag, data)
        return record

    @staticmethod
    def _parse(image_id: str, data: bytes, etag: str) -> Record:
        try:
            return Record.from_json(data, etag)
        except (ValueError, KeyError, TypeError) as err:
            raise ClusterError(f"image record {image_id} is damaged: {err}") from None

    def create(self, record: Record) -> bool:
        """Store a new record; False when one with its id exists already."""
        return self._put(record, {"If-None-Match": "*"})

    def save(self, record: Record) -> None:
        self._put(record, {})

    def _put(self, record: Record, headers: dict[str, str]) -> bool:
        body = record.to_json()
        status, got, _ = self.client.call("PUT", self._path(record.id), {
            **headers, "Content-Type": "application/json"}, body)
        if status == 404:   # the first write of this server: no container yet
            self.client.ensure_containers([self.container])
            status, got, _ = self.client.call("PUT", self._path(record.id), {
                **headers, "Content-Type": "application/json"}, body)
        if status == 412 and headers:
            return False
        if status != 201:
            raise ClusterError(f"storing image record {record.id} failed ({status})")
        record.etag = got.get("etag", "").strip('"')
        self._cache[record.id] = (record.etag, body)
        return True

    def delete(self, image_id: str) -> None:
        status, _, _ = self.client.call("DELETE", self._path(image_id))
        self._cache.pop(image_id, None)
        if status not in (204, 404):
            raise ClusterError(f"deleting image record {image_id} failed ({status})")

    def all(self) -> list[Record]:
        """Every record, read again only where the listing shows a change."""
        listed: dict[str, str] = {}
        marker = ""
        while True:
            query = f"format=json&limit={LISTING_LIMIT}" + (
                f"&marker={urllib.parse.quote(marker)}" if marker else "")
            status, _, data = self.client.call("GET", self.container, query=query)
            if status == 404:
                return []
            if status not in (200, 204):
                raise ClusterError(f"listing image records failed ({status})")
            rows = json.loads(data) if status == 200 else []
            listed.update((row["name"], row["hash"]) for row in rows)
            if len(rows) < LISTING_LIMIT:
                break
            marker = rows[-1]["name"]
        for gone in set(self._cache) - set(listed):
            del self._cache[gone]
        stale = [image_id for image_id, etag in listed.items()
                 if image_id not in self._cache or self._cache[image_id][0] != etag]
        for _ in GreenPool(READERS).imap(self.get, stale):
            pass   # each read lands in the cache (or drops a record gone meanwhile)
        records = []
        for image_id in listed:
            if image_id in self._cache:
                etag, data = self._cache[image_id]
                records.append(self._parse(image_id, data, etag))
        return records


__all__ = ["Record", "RecordStore"]
