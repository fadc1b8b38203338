"""Disk image headers built by hand from the formats' specifications, for tests."""
from __future__ import annotations

import struct
import uuid

SECTOR = 512


def qcow2(size: int, version: int = 3, backing: str = "", data_file: bool = False) -> bytes:
    """A qcow2 header (and a backing file name after it when given)."""
    header_length = 104 if version == 3 else 72
    backing_offset = header_length if backing else 0
    head = struct.pack(">4sIQIIQI", b"QFI\xfb", version, backing_offset, len(backing),
                       16, size, 0)
    head += b"\0" * (72 - len(head))
    if version == 3:
        incompatible = 1 << 2 if data_file else 0
        head += struct.pack(">QQQII", incompatible, 0, 0, 4, header_length)
    return head + backing.encode() + b"\0" * 4096


def vhd_footer(size: int, disk_type: int = 2) -> bytes:
    """A VHD footer: type 2 fixed, 3 dynamic, 4 differencing."""
    footer = b"conectix" + struct.pack(">IIQI4sI4sQQI", 2, 0x10000, 0xFFFFFFFFFFFFFFFF, 0,
                                       b"qemu", 0x50000, b"Wi2k", size, size, 0)
    footer += struct.pack(">I", disk_type)
    return footer + b"\0" * (512 - len(footer))


def vhdx(size: int, parent: bool = False) -> bytes:
    """A VHDX head: signature, region table at 192 KiB, metadata at 256 KiB."""
    image = bytearray(320 * 1024)
    image[:8] = b"vhdxfile"
    table = 192 * 1024
    metadata = 256 * 1024
    region_guid = uuid.UUID("8b7ca206-4790-4b9a-b8fe-575f050f886e").bytes_le
    image[table:table + 16] = b"regi" + struct.pack("<III", 0, 1, 0)
    image[table + 16:table + 48] = region_guid + struct.pack("<QII", metadata, 64 * 1024, 1)
    items = [(uuid.UUID("2fa54224-cd1b-4876-b211-5dbed83bf4b8").bytes_le, 8)]
    if parent:
        items.append((uuid.UUID("a8d35f2d-b30b-454d-abf7-d3d84834ab0c").bytes_le, 8))
    image[metadata:metadata + 32] = b"metadata" + struct.pack("<HH", 0, len(items)) + \
        b"\0" * 20
    offset = 4096
    for index, (guid, length) in enumerate(items):
        entry = metadata + 32 + 32 * index
        image[entry:entry + 32] = guid + struct.pack("<IIII", offset, length, 0, 0)
        image[metadata + offset:metadata + offset + 8] = struct.pack("<Q", size)
        offset += 8
    return bytes(image)


def vmdk(size: int, create_type: str = "monolithicSparse", extent: str = "SPARSE") -> bytes:
    """A sparse extent header with its descriptor at sector 1."""
    descriptor = (f'# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n'
                  f'createType="{create_type}"\n\n# Extent description\n'
                  f'RW {size // SECTOR} {extent} "disk.vmdk"\n').encode()
    sectors = (len(descriptor) + SECTOR - 1) // SECTOR
    head = struct.pack("<4sIIQQQQ", b"KDMV", 1, 3, size // SECTOR, 128, 1, sectors)
    head += b"\0" * (SECTOR - len(head))
    return head + descriptor + b"\0" * (sectors * SECTOR - len(descriptor))


def iso(blocks: int, block_size: int = 2048) -> bytes:
    """16 system sectors, then a primary volume descriptor."""
    pvd = bytearray(2048)
    pvd[0] = 1
    pvd[1:6] = b"CD001"
    pvd[80:88] = struct.pack("<I", blocks) + struct.pack(">I", blocks)
    pvd[128:132] = struct.pack("<H", block_size) + struct.pack(">H", block_size)
    return b"\0" * (16 * 2048) + bytes(pvd)


def vdi(size: int) -> bytes:
    head = bytearray(0x200)
    head[:40] = b"<<< Oracle VM VirtualBox Disk Image >>>\n"
    head[0x40:0x48] = struct.pack("<II", 0xBEDA107F, 0x00010001)
    head[0x170:0x178] = struct.pack("<Q", size)
    return bytes(head)
