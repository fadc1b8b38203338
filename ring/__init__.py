"""The consistent-hashing ring: where every account, container and object lives.

Standard library and msgpack only; imports nothing from ``objstore``.
"""
from ring.builder import RebalanceResult, RingBuilder
from ring.devices import Device
from ring.exceptions import (
    BuilderError, BuilderFileError, DeviceStringError, RebalanceError, RingError, RingFileError,
)
from ring.hashing import PathHasher, hash_path, partition_of, set_hash_path_secret
from ring.ring import Ring
from ring.ringfile import RingData, load_ring_data

__all__ = [
    "BuilderError", "BuilderFileError", "Device", "DeviceStringError", "PathHasher",
    "RebalanceError", "RebalanceResult", "Ring", "RingBuilder", "RingData", "RingError",
    "RingFileError", "hash_path", "load_ring_data", "partition_of", "set_hash_path_secret",
]
