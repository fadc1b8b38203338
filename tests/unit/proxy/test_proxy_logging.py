"""proxy_logging: Swift's 21 fields, quoted, written when the response is done."""
from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from objstore.common.config import ConfigError, ConfigFile
from objstore.common.http import Request
from objstore.proxy.middleware import proxy_logging
from objstore.proxy.pipeline import build_pipeline

LOGGER = "test.proxy_logging"
TOKEN = "AUTH_tk0123456789abcdefSECRETPART"


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Reads the whole request body, answers 7 bytes in two chunks."""
    environ["wsgi.input"].read()
    start_response("201 Created", [("X-Backend-Storage-Policy-Index", "1")])
    return [b"abc", b"defg"]


def environ(path: str = "/v1/AUTH_test/c/o", body: bytes = b"", **extra: Any
            ) -> dict[str, Any]:
    env = {"REQUEST_METHOD": "PUT", "PATH_INFO": path, "QUERY_STRING": "",
           "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "10.0.0.9",
           "wsgi.input": io.BytesIO(body), "objstore.trans_id": "tx42-abc"}
    env.update(extra)
    return env


def make(options: dict[str, str] | None = None, inner: Any = app) -> Any:
    return proxy_logging.filter_factory(options or {}, logging.getLogger(LOGGER))(inner)


def lines(caplog: pytest.LogCaptureFixture) -> list[list[str]]:
    return [r.getMessage().split(" ") for r in caplog.records if r.name.startswith(LOGGER + ".")]


def run(env: dict[str, Any], caplog: pytest.LogCaptureFixture,
        options: dict[str, str] | None = None, inner: Any = app) -> list[str]:
    caplog.set_level(logging.INFO, logger=LOGGER)
    body = make(options, inner)(env, lambda status, headers, *exc: None)
    for _ in body:
        pass
    body.close()
    (line,) = lines(caplog)
    assert len(line) == 21, line
    return line


def test_the_fields_and_their_order(caplog: pytest.LogCaptureFixture) -> None:
    env = environ(body=b"0123456789", QUERY_STRING="multipart-manifest=put",
                  HTTP_REFERER="http://example.com/x", HTTP_USER_AGENT="curl/8",
                  HTTP_X_AUTH_TOKEN="AUTH_tkshort", HTTP_ETAG="d41d8cd9")
    line = run(env, caplog)
    assert line[:15] == ["10.0.0.9", "10.0.0.9", line[2], "PUT",
                         "/v1/AUTH_test/c/o?multipart-manifest=put", "HTTP/1.1", "201",
                         "http://example.com/x", "curl/8", "AUTH_tkshort", "10", "7",
                         "d41d8cd9", "tx42-abc", "-"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", line[2])
    assert re.fullmatch(r"\d+\.\d{4}", line[15])
    assert line[16:18] == ["-", "-"]
    start, end = float(line[18]), float(line[19])
    assert start <= end and abs(end - start - float(line[15])) < 0.001
    assert line[20] == "1"


def test_empty_values_are_a_dash(caplog: pytest.LogCaptureFixture) -> None:
    def bare(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [])
        return [b"{}"]

    line = run({"REQUEST_METHOD": "GET", "PATH_INFO": "/info"}, caplog, inner=bare)
    assert line[0:2] == ["-", "-"] and line[5:7] == ["-", "200"]
    assert line[7:10] == ["-", "-", "-"] and line[10:15] == ["0", "2", "-", "-", "-"]
    assert line[16:18] == ["-", "-"] and line[20] == "-"


def test_spaces_newlines_and_non_ascii_stay_in_their_field(
        caplog: pytest.LogCaptureFixture) -> None:
    forged = '/v1/AUTH_test/c/my obj\n1.2.3.4 - "é%?'
    env = environ(path=forged.encode("utf-8").decode("latin-1"),
                  QUERY_STRING="prefix=a b&x=%20",
                  HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux)\nforged é".encode(
                      "utf-8").decode("latin-1"))
    line = run(env, caplog)
    assert line[4] == ("/v1/AUTH_test/c/my%20obj%0A1.2.3.4%20-%20%22%C3%A9%25%3F"
                       "?prefix=a%20b&x=%20")
    assert line[8] == "Mozilla/5.0%20(X11;%20Linux)%0Aforged%20%C3%A9"


def test_the_raw_path_is_logged_as_the_client_sent_it(caplog: pytest.LogCaptureFixture) -> None:
    line = run(environ(path="/v1/a/c/é", RAW_PATH_INFO="/v1/a/c/%C3%A9"), caplog)
    assert line[4] == "/v1/a/c/%C3%A9"


def test_bytes_in_count_what_the_app_reads_however_it_reads(
        caplog: pytest.LogCaptureFixture) -> None:
    def reader(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = environ["wsgi.input"]
        body.read(3)
        body.readline()
        body.readlines()
        start_response("200 OK", [])
        return [b"x" * 5]

    line = run(environ(body=b"abcdef\nghi\njkl\n"), caplog, inner=reader)
    assert line[10:12] == ["15", "5"]


def test_bytes_in_stop_where_the_app_stopped_reading(caplog: pytest.LogCaptureFixture) -> None:
    def partial(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        lines = iter(environ["wsgi.input"])
        next(lines)
        start_response("413 Request Entity Too Large", [])
        return []

    line = run(environ(body=b"line one\nline two\n"), caplog, inner=partial)
    assert line[6] == "413" and line[10:12] == ["9", "0"]


def test_a_client_that_leaves_mid_body_is_499_with_what_it_got(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    body = make()(environ(), lambda *args: None)
    assert next(iter(body)) == b"abc"
    assert lines(caplog) == []  # nothing until the server closes the body
    body.close()
    body.close()  # servers may close twice; still one line
    (line,) = lines(caplog)
    assert line[6] == "499" and line[11] == "3"


def test_the_inner_body_is_closed(caplog: pytest.LogCaptureFixture) -> None:
    closed = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield b"data"

        def close(self) -> None:
            closed.append(True)

    def inner(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        start_response("200 OK", [])
        return Body()

    assert run(environ(), caplog, inner=inner)[6] == "200" and closed == [True]


def test_an_app_that_fails_is_logged_as_500_and_the_error_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    def broken(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        raise RuntimeError("bug")

    caplog.set_level(logging.INFO, logger=LOGGER)
    with pytest.raises(RuntimeError):
        make(inner=broken)(environ(), lambda *args: None)
    (line,) = lines(caplog)
    assert line[6] == "500" and line[11] == "0"


def test_a_body_that_fails_mid_way_is_500(caplog: pytest.LogCaptureFixture) -> None:
    def failing(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        start_response("200 OK", [])
        yield b"abc"
        raise OSError("disk")

    caplog.set_level(logging.INFO, logger=LOGGER)
    body = make(inner=failing)(environ(), lambda *args: None)
    with pytest.raises(OSError):
        list(body)
    body.close()
    (line,) = lines(caplog)
    assert line[6] == "500" and line[11] == "3"


@pytest.mark.parametrize(("reveal", "logged"), [
    (None, "AUTH_tk012345678..."), ("4", "AUTH..."), ("0", "..."), ("100", TOKEN)])
def test_tokens_are_cut_short(caplog: pytest.LogCaptureFixture, reveal: str | None,
                              logged: str) -> None:
    options = {} if reveal is None else {"reveal_sensitive_prefix": reveal}
    line = run(environ(HTTP_X_AUTH_TOKEN=TOKEN), caplog, options)
    assert line[9] == logged


def test_a_storage_token_counts_as_the_token(caplog: pytest.LogCaptureFixture) -> None:
    assert run(environ(HTTP_X_STORAGE_TOKEN=TOKEN), caplog)[9] == "AUTH_tk012345678..."


def test_request_headers_with_credentials_masked(caplog: pytest.LogCaptureFixture) -> None:
    env = environ(HTTP_USER_AGENT="curl/8", HTTP_X_AUTH_TOKEN=TOKEN, HTTP_X_AUTH_KEY="testing",
                  CONTENT_LENGTH="0", HTTP_X_OBJECT_META_COLOR="blue")
    line = run(env, caplog, {"access_log_headers": "yes"})
    assert line[14] == ("User-Agent:%20curl/8%0AX-Auth-Token:%20AUTH_tk012345678...%0A"
                        "X-Auth-Key:%20...%0AContent-Length:%200%0A"
                        "X-Object-Meta-Color:%20blue")
    assert "SECRET" not in " ".join(line) and "testing" not in " ".join(line)


def test_only_the_named_headers(caplog: pytest.LogCaptureFixture) -> None:
    env = environ(HTTP_USER_AGENT="curl/8", HTTP_X_OBJECT_META_COLOR="blue")
    options = {"access_log_headers": "true", "access_log_headers_only": "x-object-meta-color"}
    assert run(env, caplog, options)[14] == "X-Object-Meta-Color:%20blue"


def test_headers_are_not_logged_unless_asked(caplog: pytest.LogCaptureFixture) -> None:
    options = {"access_log_headers_only": "User-Agent"}
    assert run(environ(HTTP_USER_AGENT="curl/8"), caplog, options)[14] == "-"


def test_the_client_is_the_first_forwarded_address(caplog: pytest.LogCaptureFixture) -> None:
    env = environ(HTTP_X_FORWARDED_FOR="203.0.113.7, 10.1.1.1")
    assert run(env, caplog)[:2] == ["203.0.113.7", "10.0.0.9"]


@pytest.mark.parametrize(("options", "message"), [
    ({"reveal_sensitive_prefix": "many"}, "reveal_sensitive_prefix = 'many': not a whole"),
    ({"reveal_sensitive_prefix": "-1"}, "must be at least 0"),
    ({"access_log_headers": "maybe"}, "access_log_headers = 'maybe': not a boolean"),
    ({"access_log_name": "proxy access"}, "access_log_name must be letters"),
    ({"access_log_file": "/nonexistent/dir/access.log"}, "access_log_file = "),
])
def test_bad_options_are_a_value_error(options: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        make(options)
    assert "[filter:" not in str(caught.value)  # the pipeline adds the section


def test_a_log_name_that_would_take_over_the_proxy_log(tmp_path: Path) -> None:
    logger = logging.getLogger("objstore.test-proxy-logging")
    options = {"access_log_name": "test-proxy-logging",
               "access_log_file": str(tmp_path / "access.log")}
    with pytest.raises(ValueError, match="must differ"):
        proxy_logging.filter_factory(options, logger)


def test_unknown_access_options_are_reported_default_ones_are_not(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    from objstore.proxy.pipeline import SectionOptions

    make(SectionOptions({"access_log_facility": "LOG_LOCAL0"},
                        {"log_level": "INFO", "bind_port": "8080"}, "filter:proxy_logging"))
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "unknown option 'access_log_facility'" in messages[0]


def test_a_file_of_its_own(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "access.log"
    filtered = make({"access_log_file": str(path), "access_log_name": "my-access"})
    body = filtered(environ(), lambda *args: None)
    list(body)
    body.close()
    logging.getLogger("objstore.my-access").handlers[0].flush()
    (text,) = path.read_text().splitlines()
    assert " objstore.my-access[" in text
    assert len(text.split(" INFO: ", 1)[1].split(" ")) == 21
    assert lines(caplog) == []


def test_a_logging_failure_never_fails_the_request(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(logging.Logger):
        def info(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError("disk full")

    caplog.set_level(logging.INFO, logger=LOGGER)
    conf, _ = proxy_logging.load_config({})
    filtered = proxy_logging.ProxyLogging(app, conf, Broken("broken"), logging.getLogger(LOGGER))
    for _ in range(3):
        response = Request.blank("/v1/a/c/o", method="PUT", body=b"x").get_response(filtered)
        assert response.status_int == 201 and response.body == b"abcdefg"
    reports = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(reports) == 1 and "cannot log requests" in reports[0].getMessage()
    assert filtered.failures == 3


def pipeline(tmp_path: Path, section: str) -> Any:
    path = tmp_path / "proxy.conf"
    path.write_text(f"""
[DEFAULT]
log_level = INFO
[pipeline:main]
pipeline = catch_errors proxy_logging app
[filter:catch_errors]
[filter:proxy_logging]
{section}
[app:app]
""")

    def factory(options: Any, logger: logging.Logger) -> Any:
        return app
    return build_pipeline(ConfigFile(str(path)), {"app": factory}, logging.getLogger(LOGGER))


def test_in_the_pipeline_the_line_carries_the_transaction_id(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    response = Request.blank("/v1/a/c/o", method="PUT", body=b"12345").get_response(
        pipeline(tmp_path, "reveal_sensitive_prefix = 8"))
    assert response.body == b"abcdefg"  # reading it closes it: the line is written
    (line,) = lines(caplog)
    assert line[13] == response.headers["X-Trans-Id"]
    assert line[3:7] == ["PUT", "/v1/a/c/o", "HTTP/1.0", "201"] and line[10:12] == ["5", "7"]


def test_in_the_pipeline_a_bad_value_names_the_section(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[filter:proxy_logging\]: reveal_sensitive_prefix"):
        pipeline(tmp_path, "reveal_sensitive_prefix = lots")
