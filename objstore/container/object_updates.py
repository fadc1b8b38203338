"""Object updates, as object servers send them, checked and made listing rows.

One update comes as ``PUT|DELETE /<dev>/<part>/<account>/<container>/<obj>``
with its facts in headers; several for one container come as one
``UPDATE /<dev>/<part>/<account>/<container>`` whose body is a msgpack list
of ``[op, object, headers]`` (``objstore.obj.update_batches``). Both are
checked here by the same rules, so a batch takes exactly what single
updates would: ``X-Timestamp``; for a PUT ``X-Size``, ``X-Content-Type``
and ``X-Etag``; ``X-Backend-Storage-Policy-Index`` if given. A bad update
is a 400 with a reason (for a batch, that record's status).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type hints

from objstore.common import constraints
from objstore.common.http import HTTPError
from objstore.common.timestamp import InvalidTimestamp, Timestamp

# Field names as the single request's headers spell them.
FIELDS = ("X-Timestamp", "X-Size", "X-Content-Type", "X-Etag", "X-Backend-Storage-Policy-Index")
OPS = ("PUT", "DELETE")
MAX_BATCH_RECORDS = 1024
MAX_BATCH_BYTES = 4 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class ObjectUpdate:
    """One listing row to record."""

    obj: str
    timestamp: Timestamp
    policy_index: int
    deleted: bool
    size: int = 0
    content_type: str = ""
    etag: str = ""

    def record(self) -> dict[str, Any]:
        """The row as the container broker's pending file takes it."""
        return {"name": self.obj, "created_at": self.timestamp, "size": self.size,
                "content_type": self.content_type, "etag": self.etag,
                "deleted": int(self.deleted), "storage_policy_index": self.policy_index}


def parse_update(op: str, obj: str, fields: Mapping[str, str | None],
                 known_policy: Callable[[int], bool]) -> ObjectUpdate:
    """An update from its fields (text, None when absent); HTTPError 400."""
    if op not in OPS:
        raise HTTPError(400, f"an object update is PUT or DELETE, not {op[:20]!r}")
    try:
        constraints.check_object_name(obj)
    except constraints.ConstraintError as err:
        raise HTTPError(err.status, err.reason) from None
    value = fields.get("X-Timestamp")
    if value is None:
        raise HTTPError(400, "missing X-Timestamp")
    try:
        timestamp = Timestamp(value)
    except InvalidTimestamp as err:
        raise HTTPError(400, f"invalid X-Timestamp: {err}") from None
    policy = _whole_number(fields, "X-Backend-Storage-Policy-Index", 0)
    if not known_policy(policy):
        raise HTTPError(400, f"X-Backend-Storage-Policy-Index {policy} is no storage policy "
                             "of this cluster")
    if op == "DELETE":
        return ObjectUpdate(obj, timestamp, policy, deleted=True)
    size = _whole_number(fields, "X-Size", -1)
    if size < 0:
        raise HTTPError(400, "X-Size (the object's size in bytes) is required")
    content_type, etag = fields.get("X-Content-Type"), fields.get("X-Etag")
    if content_type is None or etag is None:
        raise HTTPError(400, "X-Content-Type and X-Etag are required")
    return ObjectUpdate(obj, timestamp, policy, False, size, content_type, etag)


def _whole_number(fields: Mapping[str, str | None], name: str, default: int) -> int:
    value = fields.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise HTTPError(400, f"invalid {name} {value[:20]!r}: not a whole number") from None


def parse_batch(body: bytes) -> list[tuple[str, str, dict[str, str | None]]]:
    """``(op, object, fields)`` of each record of an UPDATE body; HTTPError
    400 if the body is not a list of such records. A record's own values
    are checked later, by ``parse_update``, so one bad record costs only
    itself."""
    if len(body) > MAX_BATCH_BYTES:
        raise HTTPError(413, f"an UPDATE body may hold {MAX_BATCH_BYTES} bytes at most")
    try:
        records = msgpack.unpackb(body, raw=False)
    except (ValueError, msgpack.UnpackException) as err:
        raise HTTPError(400, f"UPDATE body is not msgpack: {err}") from None
    if not isinstance(records, list):
        raise HTTPError(400, "UPDATE body must be a list of [op, object, headers]")
    if len(records) > MAX_BATCH_RECORDS:
        raise HTTPError(413, f"an UPDATE may carry {MAX_BATCH_RECORDS} records at most")
    parsed = []
    for number, record in enumerate(records):
        if not (isinstance(record, list) and len(record) == 3 and isinstance(record[0], str)
                and isinstance(record[1], str) and isinstance(record[2], dict)):
            raise HTTPError(400, f"UPDATE record {number} is not [op, object, headers]")
        op, obj, headers = record
        parsed.append((op, obj, {name: _text(headers.get(name)) for name in FIELDS}))
    return parsed


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


__all__ = ["FIELDS", "MAX_BATCH_BYTES", "MAX_BATCH_RECORDS", "ObjectUpdate", "parse_batch",
           "parse_update"]
