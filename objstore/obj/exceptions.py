"""Errors of the object storage layer, each with the HTTP status a server answers.

    DiskFileError                    (500 unless a subclass says otherwise)
    ├── DiskFileNotFound             404: no such object on this device
    │   ├── DiskFileDeleted          404: a tombstone; carries its timestamp
    │   └── DiskFileExpired          404: X-Delete-At has passed
    ├── DiskFileQuarantined          the file was corrupt and moved aside; the
    │                                caller stops and another replica serves
    ├── DiskFileDeviceUnavailable    507: device missing or not mounted
    ├── DiskFileNoSpace              507: the device is full
    └── DiskFileBadRequest           400: a name or partition that would leave
                                     its device directory
"""
from __future__ import annotations

from objstore.common.timestamp import Timestamp


class DiskFileError(Exception):
    status = 500


class DiskFileNotFound(DiskFileError):
    status = 404


class DiskFileDeleted(DiskFileNotFound):
    def __init__(self, timestamp: Timestamp) -> None:
        super().__init__(f"deleted at {timestamp.internal}")
        self.timestamp = timestamp


class DiskFileExpired(DiskFileNotFound):
    def __init__(self, delete_at: int) -> None:
        super().__init__(f"expired at {delete_at}")
        self.delete_at = delete_at


class DiskFileQuarantined(DiskFileError):
    status = 500
    # only the damaged file went, an older state of the object is left
    # (DiskFile.quarantine): opening it again finds that state
    set_aside = False


class DiskFileDeviceUnavailable(DiskFileError):
    status = 507


class DiskFileNoSpace(DiskFileError):
    status = 507


class DiskFileBadRequest(DiskFileError):
    status = 400
