"""What a disk image really is, from its first bytes (and its last 512).

Each reader looks at the image's *head* (its first ``HEAD_BYTES``, or the
whole image when smaller) and says whether the format is its own; if so
it gives a ``Detection``: the format, the virtual (guest-visible) size
when the header gives one, and ``unsafe``, the reason when the image
must not be used at all because a hypervisor would open other files on
its behalf (the attack where an uploaded qcow2 names the host's
``/etc/shadow`` as its backing file):

* qcow2: magic ``QFI\\xfb``; size at byte 24; a backing file (offset at
  byte 8) or an external data file (incompatible feature bit 2, v3) is
  unsafe, as is a version other than 2 or 3.
* vhd: the footer (cookie ``conectix``): at byte 0 for dynamic disks, in
  the last 512 bytes for fixed ones; current size at footer byte 48;
  a differencing disk (type 4) names a parent file: unsafe.
* vhdx: signature ``vhdxfile``; the region table at 192 KiB locates the
  metadata region, whose table holds the virtual disk size; a parent
  locator item (a differencing disk) is unsafe.
* vmdk: a sparse extent (``KDMV``) with its capacity in sectors and an
  embedded text descriptor; only ``monolithicSparse`` and
  ``streamOptimized`` images whose extents are all SPARSE are safe (a
  FLAT extent or a descriptor-only file points at other files). A
  descriptor out of reach of the head is unsafe: it cannot be checked.
* vdi: signature ``0xbeda107f`` at byte 64; size at byte 368.
* iso: ``CD001`` at 32 KiB + 1 (the primary volume descriptor): volume
  blocks times block size.
* qed and luks are recognised (so they are never taken for raw) without
  a size. Anything else is raw: its virtual size is its size.

All offsets and layouts come from the formats' public specifications.
"""
from __future__ import annotations

import dataclasses
import re
import struct
import uuid
from collections.abc import Callable
from typing import Final

HEAD_BYTES: Final = 4 * 1024 * 1024   # what inspection keeps of an image's start
TAIL_BYTES: Final = 512               # and of its end (a fixed VHD's footer)
SECTOR: Final = 512


@dataclasses.dataclass(frozen=True)
class Detection:
    format: str
    virtual_size: int | None = None
    unsafe: str | None = None


def _u16le(data: bytes, at: int) -> int:
    return int(struct.unpack_from("<H", data, at)[0])


def _u32le(data: bytes, at: int) -> int:
    return int(struct.unpack_from("<I", data, at)[0])


def _u64le(data: bytes, at: int) -> int:
    return int(struct.unpack_from("<Q", data, at)[0])


def _u32be(data: bytes, at: int) -> int:
    return int(struct.unpack_from(">I", data, at)[0])


def _u64be(data: bytes, at: int) -> int:
    return int(struct.unpack_from(">Q", data, at)[0])


# -- qcow2 ---------------------------------------------------------------------

QCOW2_MAGIC: Final = b"QFI\xfb"
QCOW2_DATA_FILE: Final = 1 << 2   # incompatible feature: guest data in another file


def qcow2(head: bytes) -> Detection | None:
    if not head.startswith(QCOW2_MAGIC):
        return None
    if len(head) < 32:
        return Detection("qcow2", None, "qcow2 header is truncated")
    version = _u32be(head, 4)
    size = _u64be(head, 24)
    if version not in (2, 3):
        return Detection("qcow2", size, f"qcow2 version {version} is not supported")
    if _u64be(head, 8) != 0:
        return Detection("qcow2", size, "qcow2 image has a backing file")
    if version == 3:
        if len(head) < 80:
            return Detection("qcow2", size, "qcow2 header is truncated")
        if _u64be(head, 72) & QCOW2_DATA_FILE:
            return Detection("qcow2", size, "qcow2 image has an external data file")
    return Detection("qcow2", size)


# -- vhd -----------------------------------------------------------------------

VHD_COOKIE: Final = b"conectix"
VHD_DIFFERENCING: Final = 4


def _vhd_footer(footer: bytes) -> Detection:
    if len(footer) < 64:
        return Detection("vhd", None, "VHD footer is truncated")
    size = _u64be(footer, 48)
    if _u32be(footer, 60) == VHD_DIFFERENCING:
        return Detection("vhd", size, "VHD is a differencing disk (it has a parent)")
    return Detection("vhd", size)


def vhd(head: bytes) -> Detection | None:
    """A dynamic (or differencing) VHD, whose footer copy starts the file."""
    return _vhd_footer(head[:512]) if head.startswith(VHD_COOKIE) else None


def vhd_tail(tail: bytes) -> Detection | None:
    """A fixed VHD: raw data, then the footer in the last 512 bytes."""
    footer = tail[-512:]
    return _vhd_footer(footer) if len(footer) == 512 and footer.startswith(VHD_COOKIE) \
        else None


# -- vhdx ----------------------------------------------------------------------

VHDX_SIGNATURE: Final = b"vhdxfile"
VHDX_REGION_TABLE: Final = 192 * 1024
VHDX_METADATA_REGION: Final = uuid.UUID("8b7ca206-4790-4b9a-b8fe-575f050f886e").bytes_le
VHDX_VIRTUAL_SIZE: Final = uuid.UUID("2fa54224-cd1b-4876-b211-5dbed83bf4b8").bytes_le
VHDX_PARENT_LOCATOR: Final = uuid.UUID("a8d35f2d-b30b-454d-abf7-d3d84834ab0c").bytes_le
VHDX_MAX_ENTRIES: Final = 2047   # the specification's limit, for both tables


def vhdx(head: bytes) -> Detection | None:
    if not head.startswith(VHDX_SIGNATURE):
        return None
    region = _vhdx_metadata_region(head)
    if region is None:
        return Detection("vhdx")
    start = region
    if head[start:start + 8] != b"metadata":
        return Detection("vhdx")
    count = _u16le(head, start + 10)
    size = None
    for index in range(min(count, VHDX_MAX_ENTRIES)):
        entry = start + 32 + 32 * index
        if entry + 32 > len(head):
            return Detection("vhdx", size)
        item = head[entry:entry + 16]
        if item == VHDX_PARENT_LOCATOR:
            return Detection("vhdx", size, "VHDX is a differencing disk (it has a parent)")
        if item == VHDX_VIRTUAL_SIZE:
            at = start + _u32le(head, entry + 16)
            if at + 8 <= len(head):
                size = _u64le(head, at)
    return Detection("vhdx", size)


def _vhdx_metadata_region(head: bytes) -> int | None:
    table = VHDX_REGION_TABLE
    if head[table:table + 4] != b"regi" or len(head) < table + 16:
        return None
    for index in range(min(_u32le(head, table + 8), VHDX_MAX_ENTRIES)):
        entry = table + 16 + 32 * index
        if entry + 32 > len(head):
            return None
        if head[entry:entry + 16] == VHDX_METADATA_REGION:
            return _u64le(head, entry + 16)
    return None


# -- vmdk ----------------------------------------------------------------------

VMDK_MAGIC: Final = b"KDMV"
VMDK_DESCRIPTOR_FILE: Final = b"# Disk DescriptorFile"
VMDK_SAFE_TYPES: Final = ("monolithicSparse", "streamOptimized")
_CREATE_TYPE: Final = re.compile(r'^\s*createType\s*=\s*"([^"]*)"', re.MULTILINE)
_EXTENT: Final = re.compile(r"^\s*(RW|RDONLY|NOACCESS)\s+(\d+)\s+(\S+)", re.MULTILINE)


def vmdk(head: bytes) -> Detection | None:
    if head.startswith(VMDK_DESCRIPTOR_FILE):
        return Detection("vmdk", None, "a VMDK descriptor file refers to other files")
    if not head.startswith(VMDK_MAGIC):
        return None
    if len(head) < 44:
        return Detection("vmdk", None, "VMDK header is truncated")
    size = _u64le(head, 12) * SECTOR
    start, length = _u64le(head, 28) * SECTOR, _u64le(head, 36) * SECTOR
    if start == 0 or length == 0 or start + length > len(head):
        return Detection("vmdk", size, "VMDK descriptor cannot be checked (missing or too "
                                       "far into the image)")
    text = head[start:start + length].split(b"\0", 1)[0].decode("latin-1")
    create = _CREATE_TYPE.search(text)
    kind = create.group(1) if create else ""
    if kind not in VMDK_SAFE_TYPES:
        return Detection("vmdk", size, f"VMDK create type {kind or '(none)'!r} is not "
                                       f"allowed (only {', '.join(VMDK_SAFE_TYPES)})")
    extents = _EXTENT.findall(text)
    if not extents or any(extent[2] != "SPARSE" for extent in extents):
        return Detection("vmdk", size, "VMDK has an extent that is not part of this file")
    return Detection("vmdk", size)


# -- vdi, iso, qed, luks ---------------------------------------------------------

VDI_SIGNATURE: Final = 0xBEDA107F


def vdi(head: bytes) -> Detection | None:
    if len(head) < 0x48 or _u32le(head, 0x40) != VDI_SIGNATURE:
        return None
    return Detection("vdi", _u64le(head, 0x170) if len(head) >= 0x178 else None)


ISO_DESCRIPTOR: Final = 16 * 2048   # sector 16 of 2048-byte sectors


def iso(head: bytes) -> Detection | None:
    at = ISO_DESCRIPTOR
    if head[at + 1:at + 6] != b"CD001" or len(head) < at + 132:
        return None
    if head[at] != 1:   # not the primary volume descriptor: no size here
        return Detection("iso")
    return Detection("iso", _u32le(head, at + 80) * _u16le(head, at + 128))


def qed(head: bytes) -> Detection | None:
    return Detection("qed") if head.startswith(b"QED\0") else None


def luks(head: bytes) -> Detection | None:
    return Detection("luks") if head.startswith(b"LUKS\xba\xbe") else None


READERS: Final[tuple[Callable[[bytes], Detection | None], ...]] = (
    qcow2, vhdx, vmdk, vdi, qed, luks, vhd, iso)


def detect_head(head: bytes) -> Detection:
    """The format the head shows; ``raw`` (size unknown here) when none."""
    for reader in READERS:
        found = reader(head)
        if found is not None:
            return found
    return Detection("raw")


__all__ = ["Detection", "HEAD_BYTES", "TAIL_BYTES", "detect_head", "vhd_tail"]
