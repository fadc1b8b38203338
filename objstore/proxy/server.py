"""The proxy server: the public Swift API in front of the storage nodes.

    objstore-proxy-server <conf>       ([pipeline:main] ending in [app:proxy-server])

``ProxyApp`` routes ``/v1/<account>[/<container>[/<object>]]`` to the
controllers (``objstore.proxy.controllers`` for accounts and containers,
``objstore.proxy.objects`` for objects) and answers ``/info``. It holds
what a worker shares across requests: the rings (reloaded when their
files change), the error limiter, and a short cache of account and
container facts (existence, policy, ACLs), so a busy container is not
asked about on every object request.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from objstore.common import constraints
from objstore.common.config import ConfigFile, option
from objstore.common.http import HTTPError, Request, Response, WSGIApp, split_path, wsgi_app
from objstore.common.policies import ClusterConfig, StoragePolicy
from objstore.common.server import Hooks, ServerConfig, install_cluster, run_wsgi_server
from objstore.proxy import acl
from objstore.proxy.backend import Backend, Timeouts
from objstore.proxy.nodes import ErrorLimiter
from objstore.proxy.pipeline import CACHED_FACTS, FILTERS, build_pipeline
from ring.ring import Ring

VERSION = "objstore 0.1.0"


@dataclasses.dataclass(frozen=True)
class ProxyConfig(ServerConfig):
    bind_port: int = option(8080, "port to listen on", minimum=1, maximum=65535)
    ring_dir: str = option("/etc/objstore", "where the *.ring.gz files are")
    cluster_conf: str = option("/etc/objstore/objstore.conf",
                               "the cluster file: hash path secret and storage policies")
    conn_timeout: float = option(0.5, "seconds to connect to a storage node", minimum=0.01)
    node_timeout: float = option(10.0, "seconds a storage node may stay silent", minimum=0.01)
    error_suppression_limit: int = option(10, "errors that put a node aside", minimum=1)
    error_suppression_interval: float = option(60.0, "seconds a node stays aside", minimum=0)
    account_autocreate: bool = option(True, "make an account on its first container PUT")
    allow_account_management: bool = option(
        False, "let reseller admins PUT and DELETE accounts directly")
    recheck_existence: float = option(60.0, "seconds account and container facts are cached",
                                      minimum=0)
    cors_allow_origin: list[str] = option(
        [], "origins (scheme://host[:port]) every container allows for CORS, besides its own")
    strict_cors_mode: bool = option(
        True, "CORS headers only for allowed origins (off: for any Origin)")
    cors_expose_headers: list[str] = option(
        [], "headers every CORS answer exposes, besides Swift's and the container's")


class Rings:
    """The account, container and per-policy object rings."""

    def __init__(self, ring_dir: str, policies: list[StoragePolicy]) -> None:
        def load(name: str) -> Ring:
            path = os.path.join(ring_dir, f"{name}.ring.gz")
            return Ring(path)
        self.account = load("account")
        self.container = load("container")
        self.objects = {policy.index: load(policy.ring_name) for policy in policies}


class InfoCache:
    """Account and container facts for ``ttl`` seconds (one worker's)."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, Any]] = {}

    def get(self, key: str) -> Any:
        entry = self._entries.get(key)
        if entry is None or time.monotonic() - entry[0] > self.ttl:
            return None
        return entry[1]

    def put(self, key: str, value: Any) -> None:
        if len(self._entries) > 100_000:
            self._entries.clear()  # a crude bound; entries are cheap to refetch
        self._entries[key] = (time.monotonic(), value)

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)


class ProxyApp:
    """Request -> Response for the whole cluster (see the module doc)."""

    def __init__(self, conf: ProxyConfig, logger: logging.Logger, cluster: ClusterConfig,
                 rings: Rings | None = None) -> None:
        self.conf = conf
        self.logger = logger
        self.cluster = cluster
        self.policies = cluster.policies
        self.rings = rings or Rings(conf.ring_dir, list(cluster.policies))
        self.limiter = ErrorLimiter(conf.error_suppression_limit, conf.error_suppression_interval)
        self.backend = Backend(self.limiter, Timeouts(conf.conn_timeout, conf.node_timeout),
                               logger)
        self.cache = InfoCache(conf.recheck_existence)

    def __call__(self, request: Request) -> Response:
        # the raw WSGI path: webob's path_info decodes UTF-8 and raises (a
        # 500) on a name that is not; split_path answers that 412
        if request.environ.get("PATH_INFO") == "/info":
            return self.info(request)
        version, account, container, obj = (split_path(request, 2, 4, rest=True) + [None, None])[:4]
        obj = obj or None   # /v1/a/c/ is the container, as in Swift (static sites use it)
        if container == "" and obj is None:
            container = None  # and /v1/a/ the account
        try:
            constraints.check_api_version(version)
            constraints.check_account_name(account)
            if container is not None:
                constraints.check_container_name(container)
            if obj is not None:
                constraints.check_object_name(obj)
        except constraints.ConstraintError as err:
            raise HTTPError(err.status, err.reason) from None
        from objstore.proxy import controllers, cors, objects

        controller: controllers.Controller
        if obj:
            controller = objects.ObjectController(self, account, container, obj)
        elif container:
            controller = controllers.ContainerController(self, account, container)
        else:
            controller = controllers.AccountController(self, account)
        return cors.handle(self, request, controller, account, container or None)

    def authorize(self, request: Request, account: str, container: str | None, obj: str | None,
                  container_info: Mapping[str, Any] | None = None,
                  account_info: Mapping[str, Any] | None = None) -> None:
        """Ask the auth filter (if any) with what the ACLs say; 401/403 raised."""
        decide = request.environ.get("objstore.authorize")
        if decide is None:
            return
        target = acl.Request(request.method, account, container, obj, request.referer)
        try:
            read = acl.parse_container_acl((container_info or {}).get("read"))
            write = acl.parse_container_acl((container_info or {}).get("write"), False)
            account_acl = acl.parse_account_acl((account_info or {}).get("acl"))
        except ValueError:
            read, write, account_acl = acl.ContainerACL(), acl.ContainerACL(), {}
        status = decide(target, request.environ, container_read=read, container_write=write,
                        account_acl=account_acl)
        if status:
            raise HTTPError(status, "a valid token is required" if status == 401
                            else "this token may not do that")

    def cached_facts(self, environ: dict[str, Any], path: str) -> dict[str, str] | None:
        """An account's or container's HEAD headers (lower-case names) as this
        worker caches them (``recheck_existence``), for filters; None if it
        does not exist or its servers did not answer."""
        from objstore.proxy import controllers

        parts = path.split("/")
        if len(parts) not in (3, 4) or parts[0] or parts[1] != "v1" or not parts[2]:
            return None
        request = Request(environ)
        try:
            info = (controllers.account_info(self, request, parts[2]) if len(parts) == 3
                    else controllers.container_info(self, request, parts[2], parts[3]))
        except HTTPError:
            return None
        return None if info is None else dict(info.get("headers") or {})

    def info(self, request: Request) -> Response:
        limits = constraints.DEFAULT_CONSTRAINTS
        swift = {
            "version": VERSION,
            "strict_cors_mode": self.conf.strict_cors_mode,
            "max_file_size": limits.max_file_size,
            "max_meta_name_length": limits.max_meta_name_length,
            "max_meta_value_length": limits.max_meta_value_length,
            "max_meta_count": limits.max_meta_count,
            "max_meta_overall_size": limits.max_meta_overall_size,
            "max_header_size": limits.max_header_size,
            "max_object_name_length": limits.max_object_name_length,
            "container_listing_limit": limits.container_listing_limit,
            "account_listing_limit": limits.account_listing_limit,
            "max_account_name_length": limits.max_account_name_length,
            "max_container_name_length": limits.max_container_name_length,
            "valid_api_versions": list(limits.valid_api_versions),
            "policies": [
                {"name": p.name, **({"aliases": ", ".join(p.names)} if p.aliases else {}),
                 **({"default": True} if p.is_default else {})}
                for p in self.policies if not p.deprecated
            ],
        }
        body = {"swift": swift, **{name: {} for name in request.environ.get(
            "objstore.filters", [])}}
        return Response(json.dumps(body).encode(), content_type="application/json",
                        charset="utf-8")


def make_app(conf_path: str) -> Callable[[ProxyConfig, logging.Logger], WSGIApp]:
    """The worker's pipeline: read the config file again (SIGHUP reloads)."""
    def make(conf: ProxyConfig, logger: logging.Logger) -> WSGIApp:
        cluster = install_cluster(conf.cluster_conf, logger)
        conf_file = ConfigFile(conf_path)
        filters = [name for name in conf_file.pipeline()[:-1]]

        built: list[ProxyApp] = []

        def proxy_factory(options: Mapping[str, str], log: logging.Logger) -> WSGIApp:
            app = ProxyApp(conf, log, cluster)
            built.append(app)
            inner = wsgi_app(app, log)

            def with_filters(environ: dict[str, Any], start_response: Callable[..., Any]
                             ) -> Any:
                environ["objstore.filters"] = [f for f in filters if f in FILTERS]
                return inner(environ, start_response)
            return with_filters

        pipeline = build_pipeline(conf_file, {"proxy": proxy_factory,
                                              "proxy-server": proxy_factory}, logger)
        proxy = built[-1]

        def with_facts(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            # filters (quotas) read the proxy's cached account and container facts
            environ[CACHED_FACTS] = proxy.cached_facts
            return pipeline(environ, start_response)
        return with_facts
    return make


def check_pipeline(conf_path: str) -> Callable[[ProxyConfig, logging.Logger], None]:
    """Build the filters once in the parent around a stand-in app, so a bad
    filter option stops start-up (exit 2) instead of failing every worker."""
    def check(conf: ProxyConfig, logger: logging.Logger) -> None:
        def stand_in(options: Mapping[str, str], log: logging.Logger) -> WSGIApp:
            return lambda environ, start_response: []
        build_pipeline(ConfigFile(conf_path), {"proxy": stand_in, "proxy-server": stand_in},
                       logger)
    return check


def main() -> None:
    """``objstore-proxy-server <conf>``: ``[app:proxy-server]`` and ``[pipeline:main]``."""
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print("usage: objstore-proxy-server <config file>", file=sys.stderr)
        sys.exit(2)
    # proxy_logging writes the access log, with what only the proxy knows
    sys.exit(run_wsgi_server("proxy-server", sys.argv[1], "app:proxy-server", ProxyConfig,
                             make_app(sys.argv[1]),
                             Hooks(check=check_pipeline(sys.argv[1]), access_log=False)))


__all__ = ["ProxyApp", "ProxyConfig", "main"]
