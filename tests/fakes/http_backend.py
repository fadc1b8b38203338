"""A scripted HTTP/1.1 backend on a real socket, for the backend client's tests.

    with FakeBackend() as backend:          # or FakeBackend("::1")
        ... connect to backend.host, backend.port ...
        backend.seen                         # every request, as received

It serves in plain threads (not eventlet), one per connection, and keeps
objects in memory: PUT/POST store the body (Content-Length or chunked),
GET/HEAD return it (``?chunked`` answers GET in 3-byte chunks), DELETE
removes it. Some paths misbehave on purpose:

    /early/<status>   with Expect: 100-continue, answers <status> at once
    /no-read/...      never reads the request body
    /stall/<n>        200 with a 2n-byte Content-Length, sends n bytes, stalls
    /slow-head/<s>    waits s seconds before answering
    /garbage          an invalid status line
    /bad-chunk        a chunked body with a bad chunk size
    /short            Content-Length 10, 5 bytes, then closes
    /drop/...         answers normally (keep-alive), then closes the socket as
                      a server that ends an idle connection does

``backend.connections`` counts the connections accepted.

Stalls end when the server stops, so stopping never waits long.
"""
from __future__ import annotations

import http.server
import socket
import socketserver
import sys
import threading
from dataclasses import dataclass
from types import TracebackType


@dataclass(frozen=True)
class Seen:
    method: str
    path: str                             # as sent: still percent-quoted
    headers: list[tuple[str, bytes]]      # values as the bytes on the wire
    body: bytes


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = False  # server_close() joins every handler thread
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int]) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.stopping = threading.Event()
        self.objects: dict[str, bytes] = {}
        self.seen: list[Seen] = []
        self.errors: list[BaseException] = []
        self.connections = 0
        super().__init__(address, _Handler)

    def process_request(self, request: object, client_address: object) -> None:
        self.connections += 1
        super().process_request(request, client_address)  # type: ignore[arg-type]

    def server_bind(self) -> None:  # HTTPServer's looks the name up; not needed here
        socketserver.TCPServer.server_bind(self)

    def handle_error(self, request: object, client_address: object) -> None:
        err = sys.exc_info()[1]
        if not isinstance(err, (ConnectionError, TimeoutError)) and err is not None:
            self.errors.append(err)  # a client hanging up early is expected


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5.0
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def handle_expect_100(self) -> bool:
        if self.path.startswith("/early/"):
            self._record(b"")
            self._answer(int(self.path.split("/")[2]), b"no room")
            return False
        if self.path.startswith("/no-read/"):
            return True  # no 100 either: the client sends regardless
        return super().handle_expect_100()

    def _record(self, body: bytes) -> None:
        raw = [(name, value.encode("latin-1")) for name, value in self.headers.items()]
        self.server.seen.append(Seen(self.command, self.path, raw, body))

    def _answer(self, status: int, body: bytes = b"", *, head_only: bool = False,
                extra: list[tuple[str, str]] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra or []:
            self.send_header(name, value)
        self.end_headers()
        if not head_only:
            self.wfile.write(body)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(parts)
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def _key(self) -> str:
        return self.path.split("?")[0]

    def do_PUT(self) -> None:
        if self.path.startswith("/no-read/"):
            self._record(b"")
            self.server.stopping.wait(10)
            return
        body = self._read_body()
        self._record(body)
        self.server.objects[self._key()] = body
        self._answer(201, extra=[("X-Received", str(len(body)))])
        self.close_connection = self.close_connection or self.path.startswith("/drop/")

    do_POST = do_PUT

    def do_HEAD(self) -> None:
        self._record(b"")
        body = self.server.objects.get(self._key())
        self._answer(404 if body is None else 200, body or b"", head_only=True)

    def do_DELETE(self) -> None:
        self._record(self._read_body())
        found = self.server.objects.pop(self._key(), None) is not None
        self.send_response(204 if found else 404)
        self.end_headers()

    def do_GET(self) -> None:
        self._record(b"")
        path = self._key()
        if path.startswith("/stall/"):
            size = int(path.split("/")[2])
            self.send_response(200)
            self.send_header("Content-Length", str(2 * size))
            self.end_headers()
            self.wfile.write(b"a" * size)
            self.wfile.flush()
            self.server.stopping.wait(10)
        elif path.startswith("/slow-head/"):
            if not self.server.stopping.wait(float(path.split("/")[2])):
                self._answer(200, b"late")
        elif path == "/garbage":
            self.wfile.write(b"HTP/1.1 2OO OK\r\n\r\n")
        elif path == "/bad-chunk":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             b"3\r\nabc\r\nzz\r\n")
        elif path == "/short":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345")
            self.close_connection = True
        elif path.startswith("/drop/"):
            self._answer(200, b"dropped")
            self.close_connection = True
        elif path not in self.server.objects:
            self._answer(404, b"not found")
        elif "?chunked" in self.path:
            body = self.server.objects[path]
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("X-Multi", "one")
            self.send_header("x-multi", "two")
            self.end_headers()
            for start in range(0, len(body), 3):
                piece = body[start:start + 3]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\nX-Trailer: ignored\r\n\r\n")
        else:
            self._answer(200, self.server.objects[path], extra=[("X-Object", "yes")])


class FakeBackend:
    """The server above on ``host`` and a free port, served by a thread."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._server = _Server((host, 0))
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def seen(self) -> list[Seen]:
        return self._server.seen

    @property
    def objects(self) -> dict[str, bytes]:
        return self._server.objects

    @property
    def connections(self) -> int:
        return self._server.connections

    @property
    def errors(self) -> list[BaseException]:
        return self._server.errors

    def start(self) -> FakeBackend:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.stopping.set()
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()

    def __enter__(self) -> FakeBackend:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
