"""Who uploads an image's data: the claim, progress beats, and taking over
an upload whose server died.

    <claims_container>/<image id>                        the claim: {"upload_id", "at"}
    <claims_container>/<image id>/progress/<upload id>   that upload's last beat:
                                                         {"upload_id", "bytes", "at"}
    <claims_container>/<image id>/after/<upload id>      made by the one upload that
                                                         took over from that upload

The design, and the invariants it keeps:

* One upload at a time. An upload first creates the claim with
  ``If-None-Match: *``; of two racing uploads (on any image server) one
  gets 412 and is refused (409). The claim stays while the image has
  data, so data once stored is never replaced; it is given back when the
  image returns to ``queued`` and deleted with the image.
* An upload beats while its bytes arrive: at most every quarter of
  ``upload_stall_timeout`` it rewrites its own progress object (nobody
  else writes it) after reading the claim; if the claim names another
  upload, this one was taken over and stops (``TakenOver``).
* An upload is *abandoned* when its image still waits for data (queued,
  or saving or uploading with nothing staged) and neither its claim nor
  its progress has moved for ``upload_stall_timeout`` seconds: its server
  died (a live server's clients and proxy time out long before, at
  ``client_timeout`` and ``node_timeout``, and kill the image). A new
  upload then takes over: it creates ``after/<abandoned id>`` with
  ``If-None-Match: *``, which only one of racing takers can, and only
  then names itself in the claim. The caller deletes what the abandoned
  upload wrote.
* Judging uses the servers' clocks (``time.time()`` in the beats), so
  keep the image servers' clocks in step (NTP) and the timeout far above
  their skew. A live upload wrongly judged abandoned loses nothing
  stored: it stops at its next beat, or finds at its end that the record
  names another upload and deletes its own data (``upload.py``).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import time
from typing import Any, Final, Protocol

from objstore.common.http import HTTPError
from objstore.image.cluster import ClusterClient, ClusterError
from objstore.image.config import ImageConfig
from objstore.image.datastore import delete_prefixed
from objstore.image.records import Record

BEATS_PER_TIMEOUT: Final = 4
JSON: Final = {"Content-Type": "application/json"}


class RecordReader(Protocol):   # records.RecordStore, as far as claims need it
    def get(self, image_id: str) -> Record | None: ...


class TakenOver(Exception):
    """Another upload took the image over: this one was judged abandoned."""


@dataclasses.dataclass(frozen=True)
class Holder:
    upload_id: str     # "" for a claim written before claims named their upload
    last_seen: float   # the claim's or its progress's time, whichever is later


def waits_for_data(record: Record) -> bool:
    """True while an upload may still bring the image's data."""
    status = record.image["status"]
    return status == "queued" or (status in ("saving", "uploading") and not record.staged)


class Claims:
    def __init__(self, client: ClusterClient, conf: ImageConfig,
                 logger: logging.Logger) -> None:
        self.client = client
        self.conf = conf
        self.logger = logger

    def _path(self, image_id: str, *rest: str) -> str:
        return "/".join((self.conf.claims_container, image_id, *rest))

    def _put(self, path: str, document: dict[str, Any], headers: dict[str, str]) -> int:
        body = json.dumps(document).encode("utf-8")
        status, _, _ = self.client.call("PUT", path, {**headers, **JSON}, body)
        if status == 404:   # the first claim of this server: perhaps no container yet
            self.client.ensure_containers([self.conf.claims_container])
            status, _, _ = self.client.call("PUT", path, {**headers, **JSON}, body)
        return status

    def _read(self, path: str) -> tuple[dict[str, Any], float] | None:
        """The object's JSON and its time; None when it does not exist."""
        status, headers, body = self.client.call("GET", path, {"X-Newest": "true"})
        if status == 404:
            return None
        if status != 200:
            raise ClusterError(f"reading {path} failed ({status})")
        stamp = headers.get("x-timestamp", "")
        try:
            document = json.loads(body)
            at = float(document["at"])
        except (ValueError, KeyError, TypeError):
            # a claim from before claims said who holds them: its object's time
            document, at = {}, float(stamp) if stamp.replace(".", "", 1).isdigit() else 0.0
        return (document if isinstance(document, dict) else {}), at

    # -- claiming -------------------------------------------------------------------

    def acquire(self, image_id: str, upload_id: str, records: RecordReader) -> str | None:
        """Make ``upload_id`` the image's uploader: None when the claim was
        free, or the id of the abandoned upload it took over (whose data the
        caller deletes). 409 while another upload holds the image."""
        status = self._put(self._path(image_id), {"upload_id": upload_id, "at": time.time()},
                           {"If-None-Match": "*"})
        if status == 201:
            return None
        if status != 412:
            raise ClusterError(f"claiming image {image_id} for an upload failed ({status})")
        record = records.get(image_id)
        if record is None or not waits_for_data(record):
            raise HTTPError(409, "Image data is uploaded already")
        holder = self.holder(image_id)
        if holder is None:   # given back a moment ago
            raise HTTPError(409, "Image data was being uploaded a moment ago; try again")
        idle = time.time() - holder.last_seen
        timeout = self.conf.upload_stall_timeout
        if idle < timeout:
            raise HTTPError(409, f"Image data is being uploaded (last progress {idle:.0f} s "
                                 f"ago; an upload without progress for {timeout:.0f} s is "
                                 "taken as abandoned)")
        marker = self._path(image_id, "after", holder.upload_id or "unnamed")
        status = self._put(marker, {"upload_id": upload_id, "at": time.time()},
                           {"If-None-Match": "*"})
        if status == 412:
            raise HTTPError(409, "Another upload took over the abandoned upload of this image")
        if status != 201:
            raise ClusterError(f"taking over the upload of image {image_id} failed ({status})")
        self._write_claim(image_id, upload_id)
        self.logger.warning("upload %s of image %s made no progress for %.0f s: taken over "
                            "by upload %s", holder.upload_id, image_id, idle, upload_id)
        return holder.upload_id

    def _write_claim(self, image_id: str, upload_id: str) -> None:
        status = self._put(self._path(image_id), {"upload_id": upload_id, "at": time.time()},
                           {})
        if status != 201:
            raise ClusterError(f"claiming image {image_id} for an upload failed ({status})")

    def holder(self, image_id: str) -> Holder | None:
        """The upload that holds the image and when it last showed progress."""
        claim = self._read(self._path(image_id))
        if claim is None:
            return None
        document, claimed_at = claim
        upload_id = str(document.get("upload_id") or "")
        progress = self._read(self._path(image_id, "progress", upload_id)) \
            if upload_id else None
        return Holder(upload_id, max(claimed_at, progress[1] if progress else 0.0))

    def release(self, image_id: str, upload_id: str | None) -> None:
        """Give the claim back (the image is queued again); problems are logged."""
        paths = [self._path(image_id)]
        if upload_id:
            paths.append(self._path(image_id, "progress", upload_id))
        for path in paths:
            try:
                status, _, _ = self.client.call("DELETE", path)
            except ClusterError as err:
                self.logger.warning("could not delete %s: %s", path, err)
                continue
            if status not in (204, 404):
                self.logger.warning("could not delete %s (%d)", path, status)

    def delete_all(self, image_id: str) -> None:
        """Every claim object of a deleted image."""
        self.release(image_id, None)
        delete_prefixed(self.client, self.conf.claims_container, f"{image_id}/", self.logger)

    # -- progress -------------------------------------------------------------------

    def heartbeat(self, image_id: str, upload_id: str) -> Heartbeat:
        return Heartbeat(self, image_id, upload_id,
                         self.conf.upload_stall_timeout / BEATS_PER_TIMEOUT)

    def beat(self, image_id: str, upload_id: str, size: int) -> None:
        """Show ``upload_id``'s progress; TakenOver when the claim names
        another upload. A beat the cluster fails to store is only logged:
        the worst it costs is a takeover, which loses nothing."""
        try:
            claim = self._read(self._path(image_id))
            if claim is not None and claim[0].get("upload_id") not in (upload_id, None):
                raise TakenOver(f"upload {claim[0]['upload_id']} took image {image_id} over")
            status = self._put(self._path(image_id, "progress", upload_id),
                               {"upload_id": upload_id, "bytes": size, "at": time.time()}, {})
        except ClusterError as err:
            self.logger.warning("upload %s of image %s could not show progress: %s",
                                upload_id, image_id, err)
            return
        if status != 201:
            self.logger.warning("upload %s of image %s could not show progress (%d)",
                                upload_id, image_id, status)


class Heartbeat:
    """Called with the bytes received so far as an upload's chunks arrive;
    beats at most every ``interval`` seconds."""

    def __init__(self, claims: Claims, image_id: str, upload_id: str, interval: float) -> None:
        self.claims = claims
        self.image_id = image_id
        self.upload_id = upload_id
        self.interval = interval
        self._due = time.monotonic() + interval

    def __call__(self, size: int) -> None:
        now = time.monotonic()
        if now < self._due:
            return
        self._due = now + self.interval
        self.claims.beat(self.image_id, self.upload_id, size)


__all__ = ["Claims", "Heartbeat", "Holder", "TakenOver", "waits_for_data"]
