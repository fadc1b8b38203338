"""Errors of the ring package.

    RingError                      anything the ring refuses
    ├── RingFileError              a ring file that cannot be read or is corrupt
    ├── BuilderFileError           a builder file that cannot be read or is corrupt
    ├── DeviceStringError          an unparseable device string, search value or weight
    └── BuilderError               a builder operation that makes no sense
        └── RebalanceError         a rebalance that cannot produce a valid ring

Every message names what is wrong in one line, fit to show an operator.
"""
from __future__ import annotations


class RingError(Exception):
    """Anything the ring package refuses."""


class RingFileError(RingError):
    """A ring file that cannot be read or is corrupt."""


class BuilderFileError(RingError):
    """A builder file that cannot be read or is corrupt."""


class DeviceStringError(RingError):
    """An unparseable device string, search value or weight."""


class BuilderError(RingError):
    """A builder operation that makes no sense (duplicate device, bad count)."""


class RebalanceError(BuilderError):
    """A rebalance that cannot produce a valid ring."""
