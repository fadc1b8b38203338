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
A filter factory takes its section's options (``SectionOptions``: over
``[DEFAULT]``'s, knowing which are the section's own, so a filter warns
only of its own unknown options), a logger and the config file's path
(for its error messages); an app factory the options and the logger. An unknown filter is a ConfigError naming it.
"""
from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping

from objstore.common.config import ConfigError, ConfigFile
from objstore.common.http import WSGIApp

AppFactory = Callable[[Mapping[str, str], logging.Logger], WSGIApp]

FILTERS: dict[str, str] = {
    "account_quotas": "objstore.proxy.middleware.account_quotas",
    "bulk": "objstore.proxy.middleware.bulk",
    "catch_errors": "objstore.proxy.middleware.catch_errors",
    "container_quotas": "objstore.proxy.middleware.container_quotas",
    "copy": "objstore.proxy.middleware.copy",
    "dlo": "objstore.proxy.middleware.dlo",
    "formpost": "objstore.proxy.middleware.formpost",
    "healthcheck": "objstore.proxy.middleware.healthcheck",
    "object_versioning": "objstore.proxy.middleware.object_versioning",
    "proxy_logging": "objstore.proxy.middleware.proxy_logging",
    "ratelimit": "objstore.proxy.middleware.ratelimit",
    "slo": "objstore.proxy.middleware.slo",
    "staticweb": "objstore.proxy.middleware.staticweb",
    "symlink": "objstore.proxy.middleware.symlink",
    "tempauth": "objstore.proxy.middleware.tempauth",
    "tempurl": "objstore.proxy.middleware.tempurl",
    "versioned_writes": "objstore.proxy.middleware.versioned_writes",
}


# environ key: ``cached_facts(environ, "/v1/<account>[/<container>]")``, the
# proxy's cached HEAD headers of an account or container (lower-case names;
# None when it does not exist), for filters that must not ask the storage
# nodes on every request.
CACHED_FACTS = "objstore.cached_facts"


class SectionOptions(dict[str, str]):
    """A section's options over [DEFAULT]'s, names as written; ``own`` are
    the section's, ``shared`` the defaults it did not override."""

    def __init__(self, own: Mapping[str, str], shared: Mapping[str, str], section: str) -> None:
        mine = {k.lower() for k in own}
        self.own = dict(own)
        self.shared = {k: v for k, v in shared.items() if k.lower() not in mine}
        self.section = section
        super().__init__({**self.shared, **self.own})

    def pop_use(self, default: str) -> str:
        for key in [k for k in self if k.lower() == "use"]:
            self.own.pop(key, None)
            self.shared.pop(key, None)
            return self.pop(key).strip()
        return default


def split_options(options: Mapping[str, str], section: str
                  ) -> tuple[dict[str, str], dict[str, str], str]:
    """(own, shared, section name) of a filter's options; a plain mapping
    (a test's) is all its own."""
    if isinstance(options, SectionOptions):
        return options.own, options.shared, options.section
    return dict(options), {}, section


def options_of(conf: ConfigFile, section: str) -> SectionOptions:
    return SectionOptions(conf.sections[section], conf.defaults, section)


def build_pipeline(conf: ConfigFile, apps: Mapping[str, AppFactory], logger: logging.Logger,
                   name: str = "main") -> WSGIApp:
    """The composed WSGI app of ``[pipeline:<name>]``."""
    names = conf.pipeline(name)
    app_section = f"app:{names[-1]}"
    app_options = options_of(conf, app_section)
    app_kind = app_options.pop_use(names[-1])
    if app_kind not in apps:
        raise ConfigError(f"{conf.path} [{app_section}]: unknown app {app_kind!r}; known: "
                          + ", ".join(sorted(apps)))
    app = apps[app_kind](app_options, logger)
    for filter_name in reversed(names[:-1]):
        section = f"filter:{filter_name}"
        options = options_of(conf, section)
        kind = options.pop_use(filter_name)
        if kind not in FILTERS:
            raise ConfigError(f"{conf.path} [{section}]: unknown filter {kind!r}; known: "
                              + ", ".join(sorted(FILTERS)))
        factory = importlib.import_module(FILTERS[kind]).filter_factory
        try:
            app = factory(options, logger, conf.path)(app)
        except ValueError as err:
            raise ConfigError(f"{conf.path} [{section}]: {err}") from None
    return app
