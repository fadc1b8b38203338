"""What extract-archive and bulk-delete share: the options, one item's
subrequest, and how an item is named in the report.

Each object or container a bulk request creates or deletes is its own
request to the rest of the pipeline, made as the client: its tokens
(the auth filter after bulk checks them, for every item), whatever an
auth filter before bulk decided, its transaction id. Nothing else of the
client's request comes along (no body, preconditions or metadata).
"""
from __future__ import annotations

import dataclasses
import io
import urllib.parse
from collections.abc import Mapping
from typing import Any, Final

from objstore.common.config import option
from objstore.common.constraints import DEFAULT_CONSTRAINTS
from objstore.common.http import HTTPError, new_trans_id, text_to_wsgi
from objstore.proxy.middleware.tempauth import AUTHORIZE, AUTHORIZE_OVERRIDE, IDENTITY
from objstore.proxy.pipeline import CACHED_FACTS

# The longest "container/object" there can be; longer names are cut to
# this in reports (Swift's bound).
MAX_PATH_LENGTH: Final = (DEFAULT_CONSTRAINTS.max_object_name_length
                          + DEFAULT_CONSTRAINTS.max_container_name_length + 2)
# The server's facts and the client's credentials (and the proxy's cached
# facts, which filters below read); never the client's body or headers.
_CARRIED: Final = ("SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR",
                   "REMOTE_PORT", "HTTP_HOST", "wsgi.version", "wsgi.url_scheme",
                   "wsgi.errors", "wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once",
                   "HTTP_X_AUTH_TOKEN", "HTTP_X_STORAGE_TOKEN", "HTTP_X_SERVICE_TOKEN",
                   "HTTP_REFERER", AUTHORIZE, AUTHORIZE_OVERRIDE, IDENTITY, CACHED_FACTS)


@dataclasses.dataclass(frozen=True)
class BulkConfig:
    max_containers_per_extraction: int = option(
        10000, "containers one archive may create or write into", minimum=1)
    max_failed_extractions: int = option(
        1000, "failed members that end an extraction (413)", minimum=1)
    max_deletes_per_request: int = option(10000, "paths one bulk delete may list", minimum=1)
    max_failed_deletes: int = option(1000, "failed deletes that end a bulk delete (413)",
                                     minimum=1)
    yield_frequency: float = option(
        10.0, "seconds between the spaces sent while a bulk request works", minimum=0.1)
    delete_concurrency: int = option(2, "objects deleted at once by one bulk delete",
                                     minimum=1, maximum=1000)
    delete_container_retry_count: int = option(
        0, "times a container delete that is refused as not empty (409) is tried again",
        minimum=0, maximum=10)


def item_environ(environ: Mapping[str, Any], method: str, path: str, source: str,
                 agent: str) -> dict[str, Any]:
    """A bodiless ``method`` on ``path`` (text, ``/v1/...``) as the client.
    ``source`` is Swift's name for whose subrequest it is (the access log's
    field), ``agent`` what is added to the client's User-Agent."""
    sub = {key: environ[key] for key in _CARRIED if key in environ}
    trans_id = environ.get("objstore.trans_id") or environ.get("HTTP_X_TRANS_ID") \
        or new_trans_id()
    user_agent = environ.get("HTTP_USER_AGENT")
    sub.update({"REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": text_to_wsgi(path),
                "QUERY_STRING": "", "CONTENT_LENGTH": "0", "wsgi.input": io.BytesIO(b""),
                "objstore.trans_id": trans_id, "HTTP_X_TRANS_ID": trans_id,
                "objstore.source": source,
                "HTTP_USER_AGENT": f"{user_agent} {agent}" if user_agent else agent})
    return sub


def body_length(environ: Mapping[str, Any]) -> int | None:
    """The request body's length (None: chunked); 411 without either."""
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return None
    text = (environ.get("CONTENT_LENGTH") or "").strip()
    if not text.isdigit():
        raise HTTPError(411, "a bulk request needs a Content-Length or a chunked body")
    return int(text)


def report_name(path: str | bytes) -> str:
    """An item as a report names it: URL-quoted, cut to MAX_PATH_LENGTH."""
    raw = path if isinstance(path, bytes) else path.encode("utf-8", "surrogateescape")
    return urllib.parse.quote(raw[:MAX_PATH_LENGTH])
