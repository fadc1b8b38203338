"""Checking an upload's content against its declared ``disk_format`` as it streams.

An ``Inspector`` is fed the upload chunk by chunk. It keeps the head
(``formats.HEAD_BYTES``) and the last 512 bytes, nothing more, so its
memory does not grow with the image. The upload holds its first bytes
back until ``head_verdict`` can be given, so content refused there has
never reached the cluster; a fixed VHD (whose footer ends the file) is
confirmed only by ``final_verdict`` at the end, after which a refused
upload's segments are deleted.

The rules (``refusal``), which close the known attack of an image whose
format the hypervisor would take differently than the service did:

* content that is unsafe in any format (a qcow2 backing file or data
  file, a VHD or VHDX with a parent, a VMDK with outside extents) is
  refused whatever was declared;
* ``raw`` (and ``ami``, ``ari``, ``aki``, which are raw too) accept raw
  content and ISO images (an ISO is a valid raw disk; so is a fixed VHD,
  which hypervisors read as raw), nothing a hypervisor would probe as
  another format;
* ``qcow2``, ``vhd``, ``vhdx``, ``vmdk``, ``vdi`` and ``iso`` need that
  very format; ``ploop`` (not inspected) needs raw-looking content.

A declared format of None (an image staged before its formats were set)
checks safety only; the import checks the rest.
"""
from __future__ import annotations

from typing import Final

from objstore.image import formats
from objstore.image.formats import Detection

RAW_LIKE: Final = ("raw", "ami", "ari", "aki")
INSPECTED: Final = ("qcow2", "vhd", "vhdx", "vmdk", "vdi", "iso")


def refusal(declared: str | None, found: Detection) -> str | None:
    """Why content ``found`` may not be stored as ``declared``; None if it may."""
    if found.unsafe:
        return f"Image content is refused: {found.unsafe}"
    if declared is None:
        return None
    if declared in RAW_LIKE:
        fits = found.format in ("raw", "iso")
    elif declared in INSPECTED:
        fits = found.format == declared
    else:
        fits = found.format == "raw"
    if fits:
        return None
    return (f"Image content does not match its disk_format {declared!r}: the data is "
            f"{_kind(found.format)}")


def _kind(name: str) -> str:
    return "raw data" if name == "raw" else f"a {name} image"


def judged(declared: str | None, head: Detection, whole: Detection) -> Detection:
    """The detection that counts for ``declared``: the whole file's for a
    VHD (a fixed one is known by its last bytes), else the head's."""
    return whole if declared == "vhd" else head


class Inspector:
    """The head and tail of one upload, and what they show."""

    def __init__(self, declared: str | None, head_bytes: int = formats.HEAD_BYTES) -> None:
        self.declared = declared
        self.head_limit = head_bytes
        self._head = bytearray()
        self._tail = b""
        self.size = 0

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        room = self.head_limit - len(self._head)
        if room > 0:
            self._head += chunk[:room]
        self._tail = (self._tail + chunk[-formats.TAIL_BYTES:])[-formats.TAIL_BYTES:]

    @property
    def head_complete(self) -> bool:
        return len(self._head) >= self.head_limit

    def head_verdict(self) -> str | None:
        """Why the upload must be refused, judging by its head (call once
        the head is complete or the upload has ended)."""
        found = formats.detect_head(bytes(self._head))
        if self.declared == "vhd" and found.format == "raw":
            return None   # perhaps a fixed VHD: its footer comes last
        return refusal(self.declared, found)

    def results(self) -> tuple[Detection, Detection]:
        """Once the upload has ended: what its head shows (sizes filled in
        for raw and ISO content), and what the whole file is (a fixed VHD
        too)."""
        head = formats.detect_head(bytes(self._head))
        if head.format == "raw" or (head.format == "iso" and head.virtual_size is None):
            head = Detection(head.format, self.size, head.unsafe)
        whole = head
        if head.format == "raw" and self.size >= 512:
            whole = formats.vhd_tail(self._tail) or head
        return head, whole

    def final_verdict(self) -> str | None:
        return refusal(self.declared, judged(self.declared, *self.results()))

    def virtual_size(self) -> int | None:
        return judged(self.declared, *self.results()).virtual_size


__all__ = ["Inspector", "judged", "refusal"]
