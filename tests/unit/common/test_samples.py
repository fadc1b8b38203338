"""etc/*.conf-sample are exactly what the servers' schemas say, and parse."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from objstore.common.config import ConfigFile
from objstore.common.samples import PREAMBLES, SAMPLES, render, schema_of

ETC = Path(__file__).resolve().parents[3] / "etc"


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_sample_matches_its_schema(sample: str) -> None:
    title, section, dotted = SAMPLES[sample]
    assert (ETC / sample).read_text() == render(title, section, schema_of(dotted),
                                                PREAMBLES.get(sample, "")), \
        "regenerate with: python3 -m objstore.common.samples etc"


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_every_default_in_a_sample_parses(sample: str, tmp_path: Path) -> None:
    _, section, dotted = SAMPLES[sample]
    schema = schema_of(dotted)
    uncommented = tmp_path / sample
    uncommented.write_text(re.sub(r"^# (\w+ = )", r"\1", (ETC / sample).read_text(),
                                  flags=re.MULTILINE))
    conf, warnings = ConfigFile(str(uncommented)).load(section, schema)
    assert warnings == []
    assert conf == schema()


def test_every_sample_is_known() -> None:
    samples = {p.name for p in ETC.glob("*.conf-sample")} - {"objstore.conf-sample"}
    assert samples == set(SAMPLES)
