"""etc/*.conf-sample list every option of their server, at values that parse."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from objstore.account.server import AccountServerConfig
from objstore.common.config import ConfigFile
from objstore.container.server import ContainerServerConfig
from objstore.obj.server import ObjectServerConfig

ETC = Path(__file__).resolve().parents[3] / "etc"
SAMPLES = {
    "object-server.conf-sample": ("app:object-server", ObjectServerConfig),
    "container-server.conf-sample": ("app:container-server", ContainerServerConfig),
    "account-server.conf-sample": ("app:account-server", AccountServerConfig),
}


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_sample_lists_every_option_and_each_parses(sample: str, tmp_path: Path) -> None:
    section, schema = SAMPLES[sample]
    text = (ETC / sample).read_text()
    listed = re.findall(r"^# (\w+) = .*$", text, flags=re.MULTILINE)
    assert sorted(listed) == sorted(f.name for f in dataclasses.fields(schema))
    uncommented = tmp_path / sample
    uncommented.write_text(re.sub(r"^# (\w+ = )", r"\1", text, flags=re.MULTILINE))
    conf, warnings = ConfigFile(str(uncommented)).load(section, schema)
    assert warnings == []
    assert conf == schema()


def test_every_sample_is_checked() -> None:
    samples = {p.name for p in ETC.glob("*.conf-sample")} - {"objstore.conf-sample"}
    assert samples == set(SAMPLES)
