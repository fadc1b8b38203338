"""Claims on directories being made: counted, kept until the write is over."""
from __future__ import annotations

import pytest

from objstore.obj import young_dirs


def test_a_claim_lasts_while_its_maker_runs_and_no_longer() -> None:
    with young_dirs.claimed() as maker, young_dirs.claimed() as loser, \
            young_dirs.claimed() as reader:
        for write in (maker, loser):  # both try to make it; one does
            write.claim("/dev/objects/7")
        maker.keep("/dev/objects/7")
        loser.drop("/dev/objects/7")
        assert young_dirs.others_young("/dev/objects/7/abc/hash", "/dev", reader) == [
            "/dev/objects/7"]
        assert young_dirs.others_young("/dev/objects/7/abc/hash", "/dev", maker) == []
    with young_dirs.claimed() as later:
        assert young_dirs.others_young("/dev/objects/7/abc/hash", "/dev", later) == []


def test_a_failed_write_gives_its_claims_up() -> None:
    with pytest.raises(OSError):
        with young_dirs.claimed() as write:
            write.claim("/dev/objects/8")
            write.keep("/dev/objects/8")
            raise OSError("the disk went away")
    with young_dirs.claimed() as later:
        assert young_dirs.others_young("/dev/objects/8/abc/hash", "/dev", later) == []
