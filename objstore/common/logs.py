"""Loggers for servers and daemons: one format, to a file or standard error."""
from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

FORMAT = "%(asctime)s %(name)s[%(process)d] %(levelname)s: %(message)s"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def get_logger(name: str, level: str = "INFO", log_file: str = "") -> logging.Logger:
    """A logger named for the server, writing to ``log_file`` (appending)
    or to standard error; calling again replaces its handler."""
    logger = logging.getLogger(f"objstore.{name}")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    handler: logging.Handler = (
        logging.FileHandler(log_file, encoding="utf-8") if log_file
        else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(logging.Formatter(FORMAT))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return logger


class InfoLines:
    """``logger.info(line)`` for lines written at a high rate (one per
    request: the access logs), at a quarter of the cost. The logging
    module builds a LogRecord, looks up the caller, formats the time
    with strftime and takes the handler's lock for every line: some 16 us
    under eventlet, a tenth of a small GET's CPU in a server. When the
    logger (or, for a child without handlers of its own, its parent) has
    just the handler ``get_logger`` gives, the line goes to that
    handler's stream, in the same format, with each second's time text
    made once; any other set-up (a handler or filter added, another
    format) goes through ``logger.info``."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._second = -1
        self._stamp = self._prefix = ""

    def __call__(self, line: str) -> None:
        handler = self._standard_handler()
        if handler is None or not self.logger.isEnabledFor(logging.INFO):
            self.logger.info("%s", line)
            return
        now = time.time()
        second = int(now)
        if second != self._second:
            # the format's asctime: local time, then milliseconds
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
            self._prefix = f"{self.logger.name}[{os.getpid()}] INFO: "
            self._second = second
        text = f"{self._stamp},{int((now - second) * 1000):03d} {self._prefix}{line}\n"
        handler.acquire()
        try:
            handler.stream.write(text)
            handler.stream.flush()
        except Exception:  # noqa: BLE001 -- as logging: a failed line is reported, never raised
            handler.handleError(logging.makeLogRecord({"msg": line}))
        finally:
            handler.release()

    def _standard_handler(self) -> logging.StreamHandler[Any] | None:
        """The one handler that writes this logger's lines (its own, or
        its parent's for a child without any) if it is as ``get_logger``
        made it and nothing filters; checked every line, since handlers
        and formats can change at any time (a few attribute reads)."""
        logger = self.logger
        writer = logger
        if not logger.handlers and logger.propagate and isinstance(logger.parent, logging.Logger):
            writer = logger.parent
        handlers = writer.handlers
        if len(handlers) != 1 or writer.propagate or logger.disabled:
            return None
        handler = handlers[0]
        if type(handler) not in (logging.FileHandler, logging.StreamHandler) \
                or handler.filters or logger.filters or writer.filters \
                or handler.level > logging.INFO or handler.formatter is None \
                or getattr(handler.formatter, "_fmt", None) != FORMAT \
                or getattr(handler, "stream", None) is None:
            return None
        return handler  # type: ignore[return-value]
