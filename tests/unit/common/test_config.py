"""Config files: typed sections, DEFAULT, unknown options, one-line errors."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from objstore.common.config import ConfigError, ConfigFile, build, describe, option


@dataclasses.dataclass(frozen=True)
class ServerConf:
    bind_port: int = option(6200, "port to listen on", minimum=1, maximum=65535)
    workers: int = option(2, "pre-forked worker processes", minimum=0)
    node_timeout: float = option(3.0, "seconds to wait for a backend node")
    mount_check: bool = option(True, "refuse devices that are not mount points")
    log_level: str = option("INFO", "how much to log", choices=("DEBUG", "INFO", "WARNING"))
    devices: str = option("/srv/node", "where devices are mounted")
    allowed_methods: list[str] = option(["GET", "PUT"], "what the server accepts")
    user: str | None = option(None, "user to run as")


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "server.conf"
    path.write_text(text)
    return str(path)


def test_defaults_apply_when_nothing_is_set(tmp_path: Path) -> None:
    conf, warnings = ConfigFile(write(tmp_path, "[app:object-server]\n")).load(
        "app:object-server", ServerConf)
    assert conf == ServerConf()
    assert conf.allowed_methods == ["GET", "PUT"] and warnings == []


def test_values_are_typed_and_default_section_applies(tmp_path: Path) -> None:
    path = write(tmp_path, """
[DEFAULT]
workers = 8
swift_dir = /etc/objstore

[app:object-server]
bind_port = 6210
node_timeout = 0.5
mount_check = off
log_level = DEBUG
allowed_methods = GET, PUT HEAD
user = objstore
""")
    conf, warnings = ConfigFile(path).load("app:object-server", ServerConf)
    assert conf == ServerConf(bind_port=6210, workers=8, node_timeout=0.5, mount_check=False,
                              log_level="DEBUG", allowed_methods=["GET", "PUT", "HEAD"],
                              user="objstore")
    assert warnings == []  # swift_dir in DEFAULT belongs to other servers


def test_a_section_overrides_default(tmp_path: Path) -> None:
    path = write(tmp_path, "[DEFAULT]\nworkers = 8\n[app:x]\nworkers = 1\n")
    assert ConfigFile(path).load("app:x", ServerConf)[0].workers == 1


def test_unknown_options_are_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "[app:x]\nbind_prot = 6200\n")
    conf, warnings = ConfigFile(path).load("app:x", ServerConf)
    assert conf.bind_port == 6200
    assert warnings == [f"{path} [app:x]: unknown option 'bind_prot' is ignored"]


@pytest.mark.parametrize(("line", "message"), [
    ("bind_port = six", "bind_port = 'six': not a whole number"),
    ("bind_port = 70000", "bind_port = '70000': must be at most 65535"),
    ("workers = -1", "workers = '-1': must be at least 0"),
    ("node_timeout = fast", "node_timeout = 'fast': not a number"),
    ("node_timeout = nan", "node_timeout = 'nan': not a finite number"),
    ("mount_check = maybe",
     "mount_check = 'maybe': not a boolean (true/false, yes/no, on/off, 1/0)"),
    ("log_level = LOUD", "log_level = 'LOUD': must be one of DEBUG, INFO, WARNING"),
])
def test_bad_values_are_one_line_errors_naming_everything(tmp_path: Path, line: str,
                                                          message: str) -> None:
    path = write(tmp_path, f"[app:object-server]\n{line}\n")
    with pytest.raises(ConfigError) as caught:
        ConfigFile(path).load("app:object-server", ServerConf)
    assert str(caught.value) == f"{path} [app:object-server] {message}"


def test_a_bad_value_in_default_names_the_section_using_it(tmp_path: Path) -> None:
    path = write(tmp_path, "[DEFAULT]\nworkers = many\n[app:x]\n")
    with pytest.raises(ConfigError, match=r"\[app:x\] workers = 'many'"):
        ConfigFile(path).load("app:x", ServerConf)


@pytest.mark.parametrize(("text", "message"), [
    ("no section header\n", "File contains no section headers"),
    ("[a]\nx = 1\n[a]\n", "section 'a' already exists"),
    ("[a]\nx = 1\nx = 2\n", "option 'x' in section 'a' already exists"),
])
def test_malformed_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ConfigFile(write(tmp_path, text))


def test_missing_file_and_missing_section(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        ConfigFile(str(tmp_path / "none.conf"))
    with pytest.raises(ConfigError, match=r"has no \[app:x\] section"):
        ConfigFile(write(tmp_path, "[app:y]\n")).load("app:x", ServerConf)


def test_percent_signs_are_plain_text(tmp_path: Path) -> None:
    path = write(tmp_path, "[app:x]\ndevices = /srv/%(here)s/100%\n")
    assert ConfigFile(path).load("app:x", ServerConf)[0].devices == "/srv/%(here)s/100%"


def test_pipeline_names_its_filters_and_app(tmp_path: Path) -> None:
    path = write(tmp_path, """
[pipeline:main]
pipeline = catch_errors healthcheck proxy-server
[filter:catch_errors]
[filter:healthcheck]
[app:proxy-server]
""")
    assert ConfigFile(path).pipeline() == ["catch_errors", "healthcheck", "proxy-server"]


def test_pipeline_with_a_missing_section(tmp_path: Path) -> None:
    path = write(tmp_path, "[pipeline:main]\npipeline = auth proxy-server\n[app:proxy-server]\n")
    with pytest.raises(ConfigError, match=r"no \[filter:auth\] section"):
        ConfigFile(path).pipeline()


def test_schema_cross_checks_become_config_errors() -> None:
    @dataclasses.dataclass(frozen=True)
    class Window:
        low: int = option(1, "lower bound")
        high: int = option(2, "upper bound")

        def __post_init__(self) -> None:
            if self.low > self.high:
                raise ValueError("low must not exceed high")

    with pytest.raises(ConfigError, match=r"f \[s\]: low must not exceed high"):
        build(Window, {"low": "5"}, source="f", section="s")


def test_describe_lists_options_with_defaults_and_help() -> None:
    rows = {name: (default, text) for name, default, text in describe(ServerConf)}
    assert rows["bind_port"] == (6200, "port to listen on")
    assert rows["allowed_methods"] == (["GET", "PUT"], "what the server accepts")
