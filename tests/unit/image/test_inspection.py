"""Image content inspection: formats read from hand-built headers, and the
rules that refuse content that is not its declared disk_format."""
from __future__ import annotations

import os

import pytest

from objstore.image import formats
from objstore.image.formats import Detection, detect_head
from objstore.image.inspection import Inspector, refusal

from . import disk_images

GIB = 1 << 30


@pytest.mark.parametrize("head, expected", [
    (disk_images.qcow2(10 * GIB), Detection("qcow2", 10 * GIB)),
    (disk_images.qcow2(GIB, version=2), Detection("qcow2", GIB)),
    (disk_images.vhd_footer(3 * GIB, disk_type=3) + b"\0" * 1024, Detection("vhd", 3 * GIB)),
    (disk_images.vhdx(20 * GIB), Detection("vhdx", 20 * GIB)),
    (disk_images.vmdk(GIB), Detection("vmdk", GIB)),
    (disk_images.vmdk(GIB, "streamOptimized"), Detection("vmdk", GIB)),
    (disk_images.iso(1000), Detection("iso", 1000 * 2048)),
    (disk_images.vdi(5 * GIB), Detection("vdi", 5 * GIB)),
    (b"QED\0" + b"\0" * 100, Detection("qed")),
    (b"LUKS\xba\xbe" + b"\0" * 100, Detection("luks")),
    (b"\0" * 65536, Detection("raw")),
    (b"", Detection("raw")),
])
def test_each_format_is_known_by_its_header(head: bytes, expected: Detection) -> None:
    assert detect_head(head) == expected


@pytest.mark.parametrize("head, why", [
    (disk_images.qcow2(GIB, backing="/etc/shadow"), "backing file"),
    (disk_images.qcow2(GIB, data_file=True), "external data file"),
    (disk_images.qcow2(GIB, version=4), "version 4"),
    (disk_images.qcow2(GIB)[:20], "truncated"),
    (disk_images.vhd_footer(GIB, disk_type=4), "differencing"),
    (disk_images.vhdx(GIB, parent=True), "differencing"),
    (disk_images.vmdk(GIB, "monolithicFlat"), "monolithicFlat"),
    (disk_images.vmdk(GIB, extent='FLAT'), "not part of this file"),
    (disk_images.vmdk(GIB)[:512], "cannot be checked"),
    (b'# Disk DescriptorFile\ncreateType="vmfs"\nRW 1 VMFS "/etc/passwd"\n', "other files"),
])
def test_images_that_name_other_files_are_unsafe(head: bytes, why: str) -> None:
    found = detect_head(head)
    assert found.unsafe is not None and why in found.unsafe
    assert refusal(None, found) is not None
    assert refusal(found.format, found) is not None   # whatever is declared


def test_a_vhdx_whose_metadata_is_past_the_head_has_no_size_but_is_known() -> None:
    assert detect_head(disk_images.vhdx(GIB)[:200 * 1024]) == Detection("vhdx")


@pytest.mark.parametrize("declared, content, refused", [
    ("raw", b"\0" * 4096, False),
    ("raw", disk_images.iso(10), False),             # an ISO is a raw disk too
    ("raw", disk_images.qcow2(GIB), True),           # the classic attack
    ("raw", disk_images.vmdk(GIB), True),
    ("raw", disk_images.vhdx(GIB), True),
    ("raw", disk_images.vhd_footer(GIB, 3), True),   # a dynamic VHD would be probed
    ("ami", disk_images.qcow2(GIB), True),
    ("qcow2", disk_images.qcow2(GIB), False),
    ("qcow2", b"\0" * 4096, True),
    ("qcow2", disk_images.vmdk(GIB), True),
    ("vmdk", disk_images.vmdk(GIB), False),
    ("vhdx", disk_images.vhdx(GIB), False),
    ("iso", disk_images.iso(10), False),
    ("iso", b"\0" * 40000, True),
    ("vdi", disk_images.vdi(GIB), False),
    ("ploop", b"\0" * 4096, False),
    ("ploop", disk_images.qcow2(GIB), True),
])
def test_content_must_be_its_disk_format(declared: str, content: bytes, refused: bool) -> None:
    inspector = Inspector(declared)
    inspector.feed(content)
    verdict = inspector.head_verdict() or inspector.final_verdict()
    assert (verdict is not None) is refused, verdict
    if refused and not detect_head(content).unsafe:
        assert f"disk_format {declared!r}" in verdict


def test_a_fixed_vhd_is_known_by_its_last_512_bytes() -> None:
    size = 8 * 4096
    data = os.urandom(size) + disk_images.vhd_footer(size, disk_type=2)
    inspector = Inspector("vhd", head_bytes=4096)
    for start in range(0, len(data), 1000):   # pieces that cut the footer in two
        inspector.feed(data[start:start + 1000])
    assert inspector.head_verdict() is None   # raw-looking so far: the end decides
    assert inspector.final_verdict() is None
    assert inspector.virtual_size() == size
    as_raw = Inspector("raw", head_bytes=4096)
    as_raw.feed(data)
    assert as_raw.final_verdict() is None and as_raw.virtual_size() == len(data)
    not_vhd = Inspector("vhd")
    not_vhd.feed(os.urandom(9000))
    assert "raw data" in (not_vhd.final_verdict() or "")


def test_the_inspector_keeps_only_the_head_and_tail() -> None:
    inspector = Inspector("raw", head_bytes=1024)
    for _ in range(100):
        inspector.feed(os.urandom(10000))
    assert inspector.head_complete and inspector.size == 1_000_000
    assert len(inspector._head) == 1024 and len(inspector._tail) == formats.TAIL_BYTES
    assert inspector.results() == (Detection("raw", 1_000_000), Detection("raw", 1_000_000))


def test_sizes_of_raw_and_iso_content_are_filled_in_at_the_end() -> None:
    inspector = Inspector("iso")
    image = disk_images.iso(3)
    inspector.feed(image)
    assert inspector.virtual_size() == 3 * 2048
    unknown_size = bytearray(image)
    unknown_size[16 * 2048] = 2   # a supplementary descriptor, no size there
    other = Inspector("iso")
    other.feed(bytes(unknown_size))
    assert other.virtual_size() == len(image)
