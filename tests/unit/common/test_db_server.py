"""What the account and container servers share."""
from __future__ import annotations

import pytest

from objstore.common.db_server import canonical, check_device, check_partition
from objstore.common.http import HTTPError


@pytest.mark.parametrize(("device", "valid"), [
    ("sda", True), ("sd-b_1.x", True), ("d1", True), (".", False), ("..", False),
    (".hidden", False), ("a/b", False), ("", False), ("s\u00e9", False), ("-x", False),
    ("a b", False),
])
def test_device_names_cannot_leave_the_devices_directory(device: str, valid: bool) -> None:
    if valid:
        assert check_device(device) == device
    else:
        with pytest.raises(HTTPError) as caught:
            check_device(device)
        assert caught.value.status == 400


@pytest.mark.parametrize(("partition", "value"), [("0", 0), ("1023", 1023),
                                                  ("4294967295", 4294967295)])
def test_partitions(partition: str, value: int) -> None:
    assert check_partition(partition) == value


@pytest.mark.parametrize("partition", ["", "-1", "x", "12345678901", "\u00b2"])
def test_bad_partitions(partition: str) -> None:
    with pytest.raises(HTTPError):
        check_partition(partition)


def test_canonical() -> None:
    assert canonical("x-container-meta-color") == "X-Container-Meta-Color"
