"""Loggers for servers and daemons: one format, to a file or standard error."""
from __future__ import annotations

import logging
import sys

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
