"""Access-log lines: one per request, unforgeable, 499 when the client leaves."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from objstore.common.access_log import AccessLog


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("201 Created", [("X-Trans-Id", "tx123")])
    return [b"abc", b"defg"]


def environ(path: str = "/v1/a/c/o", query: str = "") -> dict[str, Any]:
    return {"REQUEST_METHOD": "PUT", "PATH_INFO": path, "QUERY_STRING": query,
            "REMOTE_ADDR": "10.0.0.9", "HTTP_USER_AGENT": "curl/8"}


def run(env: dict[str, Any], caplog: pytest.LogCaptureFixture, read_all: bool = True) -> str:
    logger = logging.getLogger("objstore.test-access")
    caplog.set_level(logging.INFO, logger="objstore.test-access")
    body = AccessLog(app, logger)(env, lambda status, headers, *exc: None)
    chunks = iter(body)
    if read_all:
        list(chunks)
    else:
        next(chunks)
    body.close()  # type: ignore[attr-defined]
    (record,) = caplog.records
    return record.getMessage()


def test_a_whole_response(caplog: pytest.LogCaptureFixture) -> None:
    line = run(environ(query="multipart-manifest=put"), caplog)
    assert line.startswith('10.0.0.9 "PUT /v1/a/c/o?multipart-manifest=put" 201 7 ')
    assert line.endswith('txn:tx123 agent:"curl/8"')


def test_a_client_that_leaves_is_499_with_what_it_got(caplog: pytest.LogCaptureFixture) -> None:
    line = run(environ(), caplog, read_all=False)
    assert '"PUT /v1/a/c/o" 499 3 ' in line


def test_names_cannot_break_or_forge_lines(caplog: pytest.LogCaptureFixture) -> None:
    line = run(environ(path='/v1/a/c/x" 200 0\nforged "GET /'), caplog)
    assert "\n" not in line
    assert line.startswith('10.0.0.9 "PUT /v1/a/c/x%22%20200%200%0Aforged%20%22GET%20/" 201 7')
