"""The image server's options (``[app:image-server]``), parsed once."""
from __future__ import annotations

import dataclasses
import urllib.parse

from objstore.common.config import option
from objstore.common.server import ServerConfig

MIB = 1 << 20
GIB = 1 << 30
# The largest object the cluster stores whole (its max_file_size, 5 GiB).
MAX_SEGMENT = 5 * GIB


@dataclasses.dataclass(frozen=True)
class ImageConfig(ServerConfig):
    bind_port: int = option(9292, "port to listen on", minimum=1, maximum=65535)
    proxy_url: str = option("http://127.0.0.1:8080",
                            "the cluster's proxy, spoken to as any Swift client would")
    auth_path: str = option("/auth/v1.0", "where the proxy hands out tokens (tempauth)")
    service_user: str = option("images:glance",
                               "account:user whose account keeps the images; required")
    service_key: str = option("", "the service user's key; required (the server will not "
                              "start without it)")
    reseller_prefix: str = option("AUTH_", "prefix of the accounts users' tokens belong to: "
                                  "an image's owner is <prefix><account>")
    records_container: str = option("glance_images", "container of the image records (JSON)")
    data_container: str = option("glance_data", "container of the images' manifests")
    segments_container: str = option("glance_segments", "container of the images' segments")
    claims_container: str = option("glance_claims",
                                   "container of upload claims (one uploader per image)")
    segment_size: int = option(GIB, "bytes per segment of an image's data",
                               minimum=64 * 1024, maximum=MAX_SEGMENT)
    max_segments: int = option(1000, "segments per image; at most the proxy's "
                               "max_manifest_segments", minimum=1)
    image_size_cap: int = option(1000 * GIB, "largest image accepted, in bytes (413 beyond); "
                                 "at most segment_size * max_segments", minimum=0)
    upload_stall_timeout: float = option(
        600.0, "seconds an upload may make no progress before another may take the image "
        "over (its server died); well above client_timeout and node_timeout", minimum=1.0)
    conn_timeout: float = option(1.0, "seconds to connect to the proxy", minimum=0.01)
    node_timeout: float = option(60.0, "seconds the proxy may stay silent", minimum=0.1)
    token_cache_time: float = option(60.0, "seconds a user's token stays trusted after the "
                                     "proxy accepted it", minimum=0)
    limit_param_default: int = option(25, "images per page when a list has no limit",
                                      minimum=1)
    api_limit_max: int = option(1000, "most images one page may hold", minimum=1)
    image_property_quota: int = option(128, "custom properties per image (413 beyond)",
                                       minimum=0)
    image_tag_quota: int = option(128, "tags per image (413 beyond)", minimum=0)
    image_member_quota: int = option(128, "members per image (413 beyond)", minimum=0)

    def __post_init__(self) -> None:
        if self.service_user.count(":") != 1 or not all(self.service_user.split(":")):
            raise ValueError(f"service_user {self.service_user!r} must be account:user")
        parsed = urllib.parse.urlsplit(self.proxy_url)
        if parsed.scheme != "http" or not parsed.hostname or parsed.path not in ("", "/"):
            raise ValueError(f"proxy_url {self.proxy_url!r} must be http://host[:port]")
        if self.image_size_cap > self.segment_size * self.max_segments:
            raise ValueError(
                f"image_size_cap {self.image_size_cap} is more than max_segments "
                f"({self.max_segments}) segments of segment_size ({self.segment_size})")
        if self.limit_param_default > self.api_limit_max:
            raise ValueError("limit_param_default must be at most api_limit_max")

    @property
    def proxy_address(self) -> tuple[str, int]:
        parsed = urllib.parse.urlsplit(self.proxy_url)
        return parsed.hostname or "127.0.0.1", parsed.port or 80


__all__ = ["GIB", "ImageConfig", "MIB"]
