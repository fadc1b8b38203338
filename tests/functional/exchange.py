"""One HTTP request to a server under test, answered whole."""
from __future__ import annotations

import http.client


def exchange(port: int, method: str, path: str, body: bytes = b"",
             headers: dict[str, str] | None = None, timeout: float = 10
             ) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of ``method path`` on 127.0.0.1:``port``;
    ``path`` goes out as given (already quoted)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()
