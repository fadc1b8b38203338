"""The proxy's pipeline: ``[pipeline:main]`` composed from its sections.

    [pipeline:main]
    pipeline = catch_errors healthcheck proxy_logging tempauth copy proxy-server

    [filter:catch_errors]
    [filter:healthcheck]
    disable_path = /etc/objstore/disabled
    [filter:tempauth]
    use = tempauth
    ...
    [app:proxy-server]

Each filter section names its filter with ``use`` (its section name
otherwise), one of ``FILTERS``; the last name is the app. The first
name wraps everything, so a request passes the filters left to right.
A filter factory takes its section's options (``[DEFAULT]`` first), a
logger and the config file's path (for its error messages); an app
factory the options and the logger. An unknown filter is a ConfigError naming it.
"""
from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from objstore.common.config import ConfigError, ConfigFile

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
AppFactory = Callable[[Mapping[str, str], logging.Logger], WSGIApp]

FILTERS: dict[str, str] = {
    "catch_errors": "objstore.proxy.middleware.catch_errors",
    "copy": "objstore.proxy.middleware.copy",
    "healthcheck": "objstore.proxy.middleware.healthcheck",
    "proxy_logging": "objstore.proxy.middleware.proxy_logging",
    "tempauth": "objstore.proxy.middleware.tempauth",
}


def options_of(conf: ConfigFile, section: str) -> dict[str, str]:
    """A section's options over [DEFAULT]'s, names as written."""
    return {**conf.defaults, **conf.sections[section]}


def _pop_use(options: dict[str, str], default: str) -> str:
    for key in [k for k in options if k.lower() == "use"]:
        return options.pop(key).strip()
    return default


def build_pipeline(conf: ConfigFile, apps: Mapping[str, AppFactory], logger: logging.Logger,
                   name: str = "main") -> WSGIApp:
    """The composed WSGI app of ``[pipeline:<name>]``."""
    names = conf.pipeline(name)
    app_section = f"app:{names[-1]}"
    app_options = options_of(conf, app_section)
    app_kind = _pop_use(app_options, names[-1])
    if app_kind not in apps:
        raise ConfigError(f"{conf.path} [{app_section}]: unknown app {app_kind!r}; known: "
                          + ", ".join(sorted(apps)))
    app = apps[app_kind](app_options, logger)
    for filter_name in reversed(names[:-1]):
        section = f"filter:{filter_name}"
        options = options_of(conf, section)
        kind = _pop_use(options, filter_name)
        if kind not in FILTERS:
            raise ConfigError(f"{conf.path} [{section}]: unknown filter {kind!r}; known: "
                              + ", ".join(sorted(FILTERS)))
        factory = importlib.import_module(FILTERS[kind]).filter_factory
        try:
            app = factory(options, logger, conf.path)(app)
        except ValueError as err:
            raise ConfigError(f"{conf.path} [{section}]: {err}") from None
    return app
