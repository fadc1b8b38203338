"""Free space an object server keeps back on each device (``fallocate_reserve``).

A filesystem that runs completely full misbehaves: ext4 and XFS slow
down badly in their last percent, and a device with no room left cannot
take even the small files that deletes and replication need. So a new
object that would leave less than the reserve free is refused with 507
before any of it is written; the proxy then writes that replica to a
handoff, and the replicator brings it home once space is freed. Deletes
(tombstones) and metadata updates are never refused: they are what
frees space. A chunked body, of unknown size, is checked as empty when
it starts; the filesystem's own ENOSPC is still a 507 if it runs out.

The reserve is a number of bytes (``fallocate_reserve = 10737418240``)
or a percentage of the device (``1%``, OpenStack Swift's default and
ours), as in Swift's option of the same name.
"""
from __future__ import annotations

import dataclasses
import os


@dataclasses.dataclass(frozen=True)
class Reserve:
    amount: float       # bytes, or percent of the device when ``percent``
    percent: bool = False

    @classmethod
    def parse(cls, text: str) -> Reserve:
        """ValueError with a reason for anything but N or N% (N >= 0)."""
        value = text.strip()
        percent = value.endswith("%")
        number = value[:-1].strip() if percent else value
        try:
            amount = float(number)
        except ValueError:
            raise ValueError(f"fallocate_reserve {text!r} is not a number of bytes or a "
                             f"percentage (10737418240, 1%)") from None
        if not amount >= 0 or (percent and amount > 100):  # "not >=": NaN too
            raise ValueError(f"fallocate_reserve {text!r} is out of range")
        return cls(amount, percent)

    def allows(self, path: str, size: int) -> bool:
        """Whether ``size`` more bytes on the filesystem of ``path`` leave
        the reserve free."""
        if not self.amount:
            return True
        stats = os.statvfs(path)
        free_after = stats.f_bavail * stats.f_frsize - size
        if self.percent:
            return free_after * 100 >= self.amount * stats.f_blocks * stats.f_frsize
        return free_after >= self.amount

    def __str__(self) -> str:
        return f"{self.amount:g}%" if self.percent else f"{self.amount:.0f} bytes"


NONE = Reserve(0)
