"""One HTTP request to a server under test, answered whole."""
from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable


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


def put_broken_off(port: int, path: str, headers: dict[str, str], body: bytes,
                   meanwhile: Callable[[], None], first: int = 1_000_000,
                   pause: float = 1.5) -> tuple[bytes, float]:
    """A PUT (with ``Expect: 100-continue``) whose body stops after
    ``first`` bytes for ``pause`` seconds (past a proxy's PIECE_WAIT, so
    those bytes reach the object servers), during which ``meanwhile()``
    runs; then the rest. The answer's head, and the seconds it took after
    the rest was sent."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        sock.sendall(f"PUT {path} HTTP/1.1\r\nHost: x\r\n{head}Content-Length: {len(body)}\r\n"
                     "Expect: 100-continue\r\n\r\n".encode())
        interim = sock.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 Continue"), interim
        sock.sendall(body[:first])
        time.sleep(pause)
        meanwhile()
        began = time.monotonic()
        sock.sendall(body[first:])
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536) or b"!"  # a closed socket ends it too
        return answer, time.monotonic() - began
    finally:
        sock.close()
