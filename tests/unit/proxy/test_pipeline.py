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


def test_tempauth_from_a_real_config_file_keeps_case_sensitive_names(tmp_path: Path) -> None:
    import base64

    from objstore.proxy import acl
    from objstore.proxy.middleware.tempauth import AUTHORIZE

    user64 = "user64_" + base64.urlsafe_b64encode(b"Mixed_Case").decode().rstrip("=") + "_" + \
        base64.urlsafe_b64encode(b"Me").decode().rstrip("=")
    path = tmp_path / "proxy.conf"
    path.write_text(f"""[pipeline:main]
pipeline = tempauth app
[filter:tempauth]
token_secret = a-secret-of-enough-length
reseller_prefix = AUTH, SERVICE
SERVICE_require_group = service
user_test_tester = testing .admin
{user64} = secret .admin
[app:app]
use = echo
""")
    seen: list[Any] = []

    def app_factory(options: Mapping[str, str], logger: logging.Logger) -> Any:
        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            seen.append(environ.get(AUTHORIZE))
            start_response("200 OK", [("Content-Length", "0")])
            return [b""]
        return app

    pipe = build_pipeline(ConfigFile(str(path)), {"echo": app_factory}, LOG)
    response = Request.blank("/auth/v1.0", headers={"X-Auth-User": "Mixed_Case:Me",
                                                     "X-Auth-Key": "secret"}).get_response(pipe)
    assert response.status_int == 200
    assert response.headers["X-Storage-Url"].endswith("/v1/AUTH_Mixed_Case")
    owner = Request.blank("/auth/v1.0", headers={"X-Auth-User": "test:tester",
                                                  "X-Auth-Key": "testing"}).get_response(pipe)
    token = owner.headers["X-Auth-Token"]
    Request.blank("/v1/SERVICE_test/c/o", headers={"X-Auth-Token": token}).get_response(pipe)
    decision = seen[-1](acl.Request("GET", "SERVICE_test", "c", "o"))
    assert decision == 403  # the service prefix demands a service token


def test_filters_warn_only_of_their_own_unknown_options(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    from objstore.common.config import ConfigFile
    from objstore.proxy.pipeline import build_pipeline

    conf = tmp_path / "proxy.conf"
    conf.write_text("[DEFAULT]\nlog_level = INFO\nbind_port = 8080\n"
                    "[pipeline:main]\npipeline = logs auth proxy-server\n"
                    "[filter:logs]\nuse = proxy_logging\naccess_log_nmae = typo\n"
                    "[filter:auth]\nuse = tempauth\ntoken_secret = 0123456789abcdef-x\n"
                    "user_test_tester = testing .admin\n"
                    "[app:proxy-server]\n")
    logger = logging.getLogger("test.pipeline.warnings")
    with caplog.at_level(logging.WARNING, logger=logger.name):
        build_pipeline(ConfigFile(str(conf)),
                       {"proxy-server": lambda options, log: lambda env, start: []}, logger)
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1, warned
    assert "[filter:logs]" in warned[0] and "access_log_nmae" in warned[0]
