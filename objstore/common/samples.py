"""The servers' sample configs (etc/*.conf-sample), made from their schemas.

    python3 -m objstore.common.samples [etc]

writes every sample; a test checks each file matches, so a sample can
never miss or misstate an option.
"""
from __future__ import annotations

import os
import sys
from typing import Any

from objstore.common.config import describe

# Sections that come before a server's own (the proxy's pipeline).
PREAMBLES: dict[str, str] = {
    "proxy-server.conf-sample": """[pipeline:main]
# The filters a request passes, left to right, then the app.
pipeline = catch_errors healthcheck proxy_logging bulk tempurl formpost ratelimit tempauth staticweb copy container_quotas account_quotas slo dlo versioned_writes object_versioning symlink proxy-server

[filter:catch_errors]
# A transaction id on every response; a 500 with it, never a traceback.

[filter:healthcheck]
# GET /healthcheck; while this file exists it answers 503 (out of rotation).
# disable_path =

[filter:proxy_logging]
# One access-log line per client request: Swift's 21 fields, each quoted
# (their order: objstore/proxy/middleware/proxy_logging.py).
# The access logger's name, shown in each line.
# access_log_name = proxy-access
# A file of its own for the lines; empty writes them into the proxy's log.
# access_log_file =
# How many characters of an auth token are logged (0: none).
# reveal_sensitive_prefix = 16
# Log the request headers in one field (credentials masked).
# access_log_headers = false
# The headers to log when access_log_headers is on; empty for all.
# access_log_headers_only =

[filter:bulk]
# ?extract-archive=tar|tar.gz|tar.bz2 makes objects of an archive's files;
# ?bulk-delete deletes a list of paths. Each item is a request as the client.
# Containers one archive may create or write into.
# max_containers_per_extraction = 10000
# Failed members that end an extraction (413).
# max_failed_extractions = 1000
# Paths one bulk delete may list.
# max_deletes_per_request = 10000
# Failed deletes that end a bulk delete (413).
# max_failed_deletes = 1000
# Seconds between the spaces sent while a bulk request works.
# yield_frequency = 10.0
# Objects deleted at once by one bulk delete.
# delete_concurrency = 2
# Times a container delete refused as not empty (409) is tried again.
# delete_container_retry_count = 0

[filter:staticweb]
# Containers as web sites (X-Container-Meta-Web-Index, -Web-Listings, -Web-Error)
# for requests without a token or with X-Web-Mode: true (no options).

[filter:copy]
# Server-side copies: COPY with Destination, PUT with X-Copy-From (no options).

[filter:container_quotas]
# 413 for uploads past X-Container-Meta-Quota-Bytes or -Quota-Count (no options).

[filter:account_quotas]
# 413 for uploads past X-Account-Meta-Quota-Bytes, which only reseller admins set
# (no options).

[filter:slo]
# Static large objects: manifests of segments (?multipart-manifest=put|get|delete).
# Segments one manifest may list.
# max_manifest_segments = 1000
# Bytes of a manifest a client may send.
# max_manifest_size = 8388608
# Bytes every segment but the last must have.
# min_segment_size = 1
# Segments checked (manifest PUT) or deleted at once.
# concurrency = 2

[filter:dlo]
# Dynamic large objects: X-Object-Manifest: <container>/<prefix> (no options).

[filter:versioned_writes]
# Legacy versioning: X-Versions-Location (stack) and X-History-Location (history)
# archive old versions in a container of the client's (no options).

[filter:object_versioning]
# Versioning by X-Versions-Enabled: every version kept, ?versions listings,
# ?version-id reads, deletes and restores (no options).

[filter:symlink]
# Symlinks: X-Symlink-Target on a zero-byte PUT; GET and HEAD follow the link.
# Links a GET or HEAD may pass through in a row (more: 409).
# symloop_max = 2

[filter:tempurl]
# Temp URLs: temp_url_sig/temp_url_expires give time-limited access to objects.
# Methods temp URLs may be used for.
# methods = GET HEAD PUT POST DELETE
# HMAC digests a signature may use (sha1 is deprecated).
# allowed_digests = sha1 sha256 sha512
# Request headers a temp URL may not send (a trailing * matches a prefix).
# incoming_remove_headers = x-timestamp x-open-expired
# Exceptions to incoming_remove_headers.
# incoming_allow_headers =
# Response headers a temp URL does not see.
# outgoing_remove_headers = x-object-meta-*
# Exceptions to outgoing_remove_headers.
# outgoing_allow_headers = x-object-meta-public-*
# Seconds account and container keys are cached.
# key_cache_time = 60.0

[filter:formpost]
# Form POST: browser uploads with a signed multipart/form-data form.
# HMAC digests a signature may use (sha1 is deprecated).
# allowed_digests = sha1 sha256 sha512
# Seconds account and container keys are cached.
# key_cache_time = 60.0

[filter:ratelimit]
# Writes per second per account and per container; 498 past the longest wait.
# Each proxy worker counts alone: the cluster's rate is this x workers x proxies.
# Container PUTs and DELETEs per second in one account (0: no limit).
# account_ratelimit = 0.0
# Object PUTs, POSTs and DELETEs per second in a container of <size> objects
# or more (interpolated between sizes; none below the smallest).
# container_ratelimit_<size> = <rate>
# Container listings (GET) per second, by the container's size likewise.
# container_listing_ratelimit_<size> = <rate>
# The longest a request is held; one that would wait longer gets 498.
# max_sleep_time_seconds = 60.0
# Log every wait longer than this (0: none).
# log_sleep_time_seconds = 0.0
# Seconds a rate may fall behind and catch up faster than the rate.
# rate_buffer_seconds = 5.0
# Accounts never limited.
# account_whitelist =
# Accounts refused every request (497).
# account_blacklist =

[filter:tempauth]
# Signs tokens: at least 16 random bytes, the same on every proxy. Required.
token_secret = CHANGE-ME-to-16-or-more-random-bytes
# Account prefixes this auth owns (the first is the one users get).
# reseller_prefix = AUTH
# auth_prefix = /auth/
# Seconds a token lasts.
# token_life = 86400
# storage_url_scheme = default
# A prefix whose requests need a token of this group (X-Service-Token).
# SERVICE_require_group = service
# user_<account>_<user> = <key> [.admin] [.reseller_admin] [groups]
user_admin_admin = admin .admin .reseller_admin
user_test_tester = testing .admin

""",
}

# file name -> (what the server does, section, schema's module:class)
SAMPLES: dict[str, tuple[str, str, str]] = {
    "object-server.conf-sample": (
        "objstore-object-server: objects on this node's devices.",
        "app:object-server", "objstore.obj.server:ObjectServerConfig"),
    "container-server.conf-sample": (
        "objstore-container-server: container listings on this node's devices.",
        "app:container-server", "objstore.container.server:ContainerServerConfig"),
    "account-server.conf-sample": (
        "objstore-account-server: account listings on this node's devices.",
        "app:account-server", "objstore.account.server:AccountServerConfig"),
    "proxy-server.conf-sample": (
        "objstore-proxy-server: the Swift API in front of the storage nodes.",
        "app:proxy-server", "objstore.proxy.server:ProxyConfig"),
    "image-server.conf-sample": (
        "objstore-image-server: the image API (Glance v2), images kept in the cluster.",
        "app:image-server", "objstore.image.config:ImageConfig"),
}


# a server's section -> the daemons that read the same file, each with its
# section, what it does and its schema (rendered after the server's section)
DAEMON_SECTIONS: dict[str, list[tuple[str, str, str]]] = {
    "app:object-server": [
        ("object-auditor",
         "objstore-object-auditor CONF [--once]: checks every object's bytes and quarantines rot.",
         "objstore.obj.auditor:ObjectAuditorConfig"),
        ("object-replicator",
         "objstore-object-replicator CONF [--once]: every object on every primary; "
         "handoffs moved home.",
         "objstore.obj.replicator:ObjectReplicatorConfig"),
        ("object-updater",
         "objstore-object-updater CONF [--once]: container updates that failed, sent again.",
         "objstore.obj.updater:ObjectUpdaterConfig"),
        ("object-expirer",
         "objstore-object-expirer CONF [--once]: objects past their X-Delete-At deleted "
         "everywhere.",
         "objstore.obj.expirer:ObjectExpirerConfig"),
    ],
    "app:container-server": [
        ("container-replicator",
         "objstore-container-replicator CONF [--once]: every container DB alike on every "
         "primary; handoffs moved home.",
         "objstore.container.replicator:ContainerReplicatorConfig"),
        ("container-auditor",
         "objstore-container-auditor CONF [--once]: every container DB checked; the damaged "
         "quarantined.",
         "objstore.container.auditor:ContainerAuditorConfig"),
        ("container-updater",
         "objstore-container-updater CONF [--once]: account statistics kept in step with "
         "each container.",
         "objstore.container.updater:ContainerUpdaterConfig"),
    ],
    "app:account-server": [
        ("account-replicator",
         "objstore-account-replicator CONF [--once]: every account DB alike on every "
         "primary; handoffs moved home.",
         "objstore.account.replicator:AccountReplicatorConfig"),
        ("account-auditor",
         "objstore-account-auditor CONF [--once]: every account DB checked; the damaged "
         "quarantined.",
         "objstore.account.auditor:AccountAuditorConfig"),
        ("account-reaper",
         "objstore-account-reaper CONF [--once]: the containers and objects of deleted "
         "accounts deleted.",
         "objstore.account.reaper:AccountReaperConfig"),
    ],
}


def schema_of(dotted: str) -> Any:
    module, _, name = dotted.partition(":")
    return getattr(__import__(module, fromlist=[name]), name)


def render(title: str, section: str, schema: Any, preamble: str = "") -> str:
    lines = [f"# {title}", "# Every option is shown at its default; uncomment to change.", "",
             *preamble.splitlines(), f"[{section}]", *_options(schema)]
    for daemon, title, dotted in DAEMON_SECTIONS.get(section, []):
        lines += ["", f"# {title}", f"[{daemon}]"] + _options(schema_of(dotted))
    return "\n".join(lines) + "\n"


def _options(schema: Any) -> list[str]:
    lines = []
    for name, default, text in describe(schema):
        if isinstance(default, bool):
            default = "true" if default else "false"
        elif isinstance(default, list):
            default = ", ".join(default)
        lines += [f"# {text}", f"# {name} = {default}"]
    return lines


def main() -> None:
    directory = sys.argv[1] if len(sys.argv) > 1 else "etc"
    for file_name, (title, section, dotted) in SAMPLES.items():
        with open(os.path.join(directory, file_name), "w", encoding="utf-8") as handle:
            handle.write(render(title, section, schema_of(dotted),
                                PREAMBLES.get(file_name, "")))


if __name__ == "__main__":
    main()
