"""The proxy pipeline from config, and the catch_errors and healthcheck filters."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from objstore.common.config import ConfigError, ConfigFile
from objstore.common.http import Request
from objstore.proxy.pipeline import build_pipeline

LOG = logging.getLogger("test.pipeline")


def make_app(options: Mapping[str, str], logger: logging.Logger) -> Any:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/boom":
            raise RuntimeError("a bug in the app")
        body = f"{options.get('greeting', 'hi')} {environ.get('HTTP_X_TRANS_ID')}".encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]
    return app


def pipeline(tmp_path: Path, extra: str = "", names: str = "catch_errors healthcheck app"
             ) -> Any:
    path = tmp_path / "proxy.conf"
    path.write_text(f"""
[DEFAULT]
greeting = hello
[pipeline:main]
pipeline = {names}
[filter:catch_errors]
[filter:healthcheck]
disable_path = {tmp_path / 'disabled'}
[app:app]
use = echo
{extra}
""")
    return build_pipeline(ConfigFile(str(path)), {"echo": make_app}, LOG)


def test_requests_pass_every_filter_and_carry_a_transaction_id(tmp_path: Path) -> None:
    app = pipeline(tmp_path)
    response = Request.blank("/x", headers={"X-Trans-Id-Extra": "my job"}).get_response(app)
    trans_id = response.headers["X-Trans-Id"]
    assert trans_id.startswith("tx") and trans_id.endswith("-my%20job")
    assert response.headers["X-Openstack-Request-Id"] == trans_id
    assert response.body == f"hello {trans_id}".encode()  # DEFAULT reached the app


def test_a_crash_is_a_500_with_the_id_and_no_traceback(tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    response = Request.blank("/boom").get_response(pipeline(tmp_path))
    trans_id = response.headers["X-Trans-Id"]
    assert response.status_int == 500
    assert trans_id.encode() in response.body and b"Traceback" not in response.body
    assert trans_id in caplog.text and "a bug in the app" in caplog.text


def test_healthcheck_and_disabling_it_by_file(tmp_path: Path) -> None:
    app = pipeline(tmp_path)
    response = Request.blank("/healthcheck").get_response(app)
    assert (response.status_int, response.body) == (200, b"OK")
    (tmp_path / "disabled").touch()
    response = Request.blank("/healthcheck").get_response(app)
    assert (response.status_int, response.body) == (503, b"DISABLED BY FILE")
    assert "X-Trans-Id" in response.headers  # catch_errors wraps healthcheck


@pytest.mark.parametrize(("names", "extra", "message"), [
    ("nosuch app", "[filter:nosuch]\n", "unknown filter 'nosuch'"),
    ("catch_errors app", "[filter:other]\nuse = mystery\n", None),
    ("catch_errors missing", "", r"no \[app:missing\] section"),
])
def test_config_mistakes_name_what_is_wrong(tmp_path: Path, names: str, extra: str,
                                            message: str | None) -> None:
    if message is None:  # an unused section is not an error
        pipeline(tmp_path, extra, names)
        return
    with pytest.raises(ConfigError, match=message):
        pipeline(tmp_path, extra, names)


def test_an_unknown_app_is_named(tmp_path: Path) -> None:
    path = tmp_path / "p.conf"
    path.write_text("[pipeline:main]\npipeline = app\n[app:app]\nuse = nothing\n")
    with pytest.raises(ConfigError, match="unknown app 'nothing'"):
        build_pipeline(ConfigFile(str(path)), {"echo": make_app}, LOG)


def test_a_bad_filter_option_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"proxy.conf \[filter:tempauth\]: token_secret must be set"):
        pipeline(tmp_path, "[filter:tempauth]\ntoken_secret = short\n",
                 "catch_errors tempauth app")
