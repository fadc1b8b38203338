"""proxy_logging: placeholder, being written (issue #4)."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def filter_factory(options: Mapping[str, str], logger: logging.Logger,
                   source: str = "") -> Callable[[WSGIApp], WSGIApp]:
    return lambda app: app
