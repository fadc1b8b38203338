"""A big PUT's MD5 computed once, by the proxy, instead of once per replica.

MD5 costs about 1.4 ms of CPU per MB; three object servers hashing the
same bytes spend three times that, on a machine where a big PUT is
CPU-bound. So the proxy hashes the body as it streams it and sends,
right after the body, a footer: the MD5 (32 hex digits) and the crc32
table of the body's 64 KiB chunks (integrity.py). Each object server
computes that table anyway (it is stored in the data file, at a fifth of
MD5's cost); an equal table proves it received the very bytes the proxy
hashed, and the footer's MD5 becomes its ETag. A table that differs is a
422 and nothing is stored.

On the wire: ``X-Backend-Object-Length: L`` (the object's size) and
``Content-Length: L + footer_length(L)``. The object server confirms it
will read a footer with a header on its ``100 Continue``; the proxy
sends a footer body only to a server that confirmed (one that did not
would store the footer as object bytes), so a server without this
feature simply drops out of the write.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from objstore.obj.integrity import ChecksumWriter, table_length

LENGTH_HEADER: Final = "X-Backend-Object-Length"
CONFIRM_HEADER: Final = "X-Backend-Footer"
CONFIRM_VALUE: Final = "md5-crc32"
# below this the object server hashes a body in the same disk trip as it
# writes it, for a few microseconds: a footer would save nothing
MIN_LENGTH: Final = 1 << 20
_MD5_HEX = re.compile(rb"[0-9a-f]{32}")


class FooterError(ValueError):
    """A footer that is malformed or does not match the body received."""


def footer_length(size: int) -> int:
    return 32 + table_length(size)


def build(sums: ChecksumWriter) -> bytes:
    assert sums.md5 is not None, "the proxy's checksums include the MD5"
    return sums.md5.hexdigest().encode("ascii") + sums.table()


def object_length(headers: Mapping[str, str], wire_length: int | None) -> int | None:
    """The object's size when the request carries a footer (None when
    not); FooterError when the lengths cannot be those of a body and its
    footer."""
    value = headers.get(LENGTH_HEADER)
    if value is None:
        return None
    if wire_length is None or not value.isdigit():
        raise FooterError(f"{LENGTH_HEADER} needs a number and a Content-Length")
    size = int(value)
    if size + footer_length(size) != wire_length:
        raise FooterError(f"Content-Length {wire_length} is not {LENGTH_HEADER} {size} "
                          f"plus its footer ({footer_length(size)} bytes)")
    return size


def verified_md5(footer: bytes, sums: ChecksumWriter) -> str:
    """The footer's MD5, once its crc32 table matches the bytes received."""
    if not _MD5_HEX.fullmatch(footer[:32]):
        raise FooterError("the footer does not start with an MD5 in hex")
    if footer[32:] != sums.table():
        raise FooterError("the body received does not match the checksums the proxy sent")
    return footer[:32].decode("ascii")
