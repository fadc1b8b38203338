"""InfoLines: the access logs' fast way to logger.info, same lines."""
from __future__ import annotations

import logging
import re
from pathlib import Path

from objstore.common.logs import InfoLines, get_logger

LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (\S+)\[\d+\] (\w+): (.*)$")


def lines(path: Path) -> list[tuple[str, str, str]]:
    found = []
    for text in path.read_text().splitlines():
        match = LINE.match(text)
        assert match, text
        found.append(match.groups())
    return found


def test_lines_read_as_logger_info_writes_them(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    logger = get_logger("lines-a", log_file=str(log))
    logger.info("by logging %s", "one")
    InfoLines(logger)('127.0.0.1 "GET /a%20b" 200 5 0.0010')
    assert lines(log) == [("objstore.lines-a", "INFO", "by logging one"),
                          ("objstore.lines-a", "INFO", '127.0.0.1 "GET /a%20b" 200 5 0.0010')]


def test_a_child_writes_through_its_parent_under_its_own_name(tmp_path: Path) -> None:
    log = tmp_path / "proxy.log"
    parent = get_logger("lines-b", log_file=str(log))
    InfoLines(parent.getChild("proxy-access"))("a request")
    assert lines(log) == [("objstore.lines-b.proxy-access", "INFO", "a request")]


def test_a_level_above_info_writes_nothing(tmp_path: Path) -> None:
    log = tmp_path / "quiet.log"
    logger = get_logger("lines-c", level="WARNING", log_file=str(log))
    write = InfoLines(logger)
    write("not wanted")
    logger.setLevel("INFO")
    write("wanted")
    assert lines(log) == [("objstore.lines-c", "INFO", "wanted")]


def test_any_other_set_up_goes_through_logging(tmp_path: Path) -> None:
    log = tmp_path / "other.log"
    logger = get_logger("lines-d", log_file=str(log))
    write = InfoLines(logger)
    write("plain")
    logger.handlers[0].setFormatter(logging.Formatter("custom %(levelname)s %(message)s"))
    write("formatted")
    logger.addFilter(lambda record: "secret" not in record.getMessage())
    write("a secret")
    assert log.read_text().splitlines()[1:] == ["custom INFO formatted"]
    assert LINE.match(log.read_text().splitlines()[0])


def test_a_new_handler_is_followed(tmp_path: Path) -> None:
    first, second = tmp_path / "first.log", tmp_path / "second.log"
    logger = get_logger("lines-e", log_file=str(first))
    write = InfoLines(logger)
    write("one")
    get_logger("lines-e", log_file=str(second))  # a reload opens the file again
    write("two")
    assert [m for _, _, m in lines(first)] == ["one"]
    assert [m for _, _, m in lines(second)] == ["two"]
