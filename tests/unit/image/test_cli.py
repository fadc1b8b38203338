"""objstore-image's pure parts: what it makes of error pages, its
progress lines, and its command line (the CLI against a real service:
tests/functional/test_image_service.py)."""
from __future__ import annotations

import io
import json

import pytest

from objstore.image import cli
from objstore.image.cli_http import server_reason
from objstore.image.cli_progress import Progress


def test_the_servers_reason_is_one_line_of_text() -> None:
    page = {"message": "The request media type application/octet-stream is not supported "
                       "by this server.\n<br /><br />\nImage content is a qcow2 image",
            "code": "415 Unsupported Media Type", "title": "Unsupported Media Type"}
    assert server_reason(json.dumps(page).encode()) == "Image content is a qcow2 image"
    html = b"<html><body><h1>404 Not Found</h1>\n No image found<br /><br />\n</body></html>"
    assert server_reason(html) == "404 Not Found No image found"
    assert server_reason(b"") == ""


def test_progress_off_a_terminal_is_a_line_now_and_then() -> None:
    out = io.StringIO()
    progress = Progress("uploading", 3 << 20, stream=out)
    for _ in range(3):
        progress.advance(1 << 20)   # faster than a line every 10 s
    assert out.getvalue() == ""
    progress.finish()
    assert out.getvalue().startswith("uploading 3.0 MiB of 3.0 MiB (100%, ")
    quiet = io.StringIO()
    silent = Progress("uploading", 10, quiet=True, stream=quiet)
    silent.advance(10)
    silent.finish()
    assert quiet.getvalue() == ""


def test_bad_command_lines(capsys: pytest.CaptureFixture[str],
                           monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OS_AUTH_TOKEN", "ST_AUTH", "ST_USER", "ST_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit) as caught:
        cli.run(["upload"])   # no file
    assert caught.value.code == 2
    assert cli.run(["list"]) == 1
    assert "no credentials" in capsys.readouterr().err
    code = cli.run(["--token", "t", "upload", "/nonexistent/disk.img", "--name", "x",
                    "--disk-format", "raw"])
    assert code == 1 and "cannot read /nonexistent/disk.img" in capsys.readouterr().err
