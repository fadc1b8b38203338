"""A small HTTP/1.1 client for the load generator's timed requests.

The load generator shares the machine with the cluster it measures, so
every microsecond it spends is taken from the servers: ``http.client``
costs ~0.2 ms of CPU per small request (email-style header parsing,
several sends per request, a buffered reader), which on two cores is a
tenth of what a fast cluster gets per GET. This client does only what
``load.py`` needs: one keep-alive connection, a request's head and a
small body sent in one call, the answer's head parsed from one buffer,
bodies framed by Content-Length or chunked encoding, or by the close.

Not ``objstore.common.http_client``: that is the cluster's own backend
client (its limits and errors are for talking to our servers), and the
load generator stays a client of any Swift endpoint that imports nothing
of the system it measures.
"""
from __future__ import annotations

import socket
from collections.abc import Iterable

READ_SIZE = 65536
MAX_HEAD = 65536
ONE_SEND = 65536  # bodies up to this size go out with the head in one call


class ProtocolError(Exception):
    """The server's answer is not HTTP/1.x as this client reads it."""


class Response:
    """An answer's status and headers; its body is read through the connection."""

    __slots__ = ("status", "reason", "headers", "_conn", "_left", "_chunked", "_to_close")

    def __init__(self, conn: Connection, status: int, reason: str,
                 headers: dict[str, str], bodiless: bool) -> None:
        self.status, self.reason, self.headers, self._conn = status, reason, headers, conn
        self._chunked = False
        self._to_close = headers.get("connection", "").lower() == "close"
        if bodiless:
            self._left = 0
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            self._chunked, self._left = True, 0
        elif "content-length" in headers:
            try:
                self._left = int(headers["content-length"])
            except ValueError:
                raise conn._fail(f"bad Content-Length {headers['content-length']!r}") from None
        else:
            self._left, self._to_close = -1, True  # until the server closes

    def getheader(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def readinto(self, view: memoryview) -> int:
        """Up to len(view) body bytes into ``view``; 0 at the body's end."""
        if self._chunked and self._left == 0:
            self._left = self._conn._chunk_size()
            if self._left == 0:
                self._chunked = False
                self._finish()
                return 0
        if self._left == 0:
            self._finish()
            return 0
        want = len(view) if self._left < 0 else min(len(view), self._left)
        got = self._conn._read_into(view[:want])
        if got == 0:
            if self._left > 0 or self._chunked:
                raise self._conn._fail("the connection closed in the middle of a body")
            self._left = 0
            self._finish()
            return 0
        if self._left > 0:
            self._left -= got
            if self._left == 0 and self._chunked:
                self._conn._expect_crlf()
        return got

    def read(self) -> bytes:
        """The rest of the body."""
        parts, scratch = [], bytearray(READ_SIZE)
        view = memoryview(scratch)
        while True:
            got = self.readinto(view)
            if not got:
                return b"".join(parts)
            parts.append(bytes(view[:got]))

    def _finish(self) -> None:
        if self._to_close:
            self._conn.close()


class Connection:
    """One keep-alive connection; reopened by the next request after close()."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._sock: socket.socket | None = None
        self._buffer = bytearray()

    def connect(self) -> None:
        if self._sock is None:
            sock = socket.create_connection((self.host, self.port), self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock, self._buffer = sock, bytearray()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._buffer = bytearray()

    def request(self, method: str, path: str, headers: dict[str, str],
                body: bytes | Iterable[bytes | memoryview] | None = None) -> Response:
        """Send a request and read its answer's head."""
        self.connect()
        assert self._sock is not None
        lines = [f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"]
        lines += [f"{name}: {value}\r\n" for name, value in headers.items()]
        if body is None and method in ("PUT", "POST") \
                and not any(name.lower() == "content-length" for name in headers):
            lines.append("Content-Length: 0\r\n")
        lines.append("\r\n")
        head = "".join(lines).encode("latin-1")
        if isinstance(body, bytes) and len(body) <= ONE_SEND:
            self._sock.sendall(head + body)
        else:
            self._sock.sendall(head)
            for piece in ([body] if isinstance(body, bytes) else body or ()):
                self._sock.sendall(piece)
        return self._read_head(method)

    def _read_head(self, method: str) -> Response:
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(self._buffer) > MAX_HEAD:
                raise self._fail("an answer's head longer than 64 KiB")
            if not self._fill():
                raise self._fail("the server closed the connection before answering")
        raw = bytes(self._buffer[:end])
        del self._buffer[:end + 4]
        status_line, *fields = raw.decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise self._fail(f"bad status line {status_line!r}")
        status = int(parts[1])
        if status == 100:
            return self._read_head(method)
        headers: dict[str, str] = {}
        for field in fields:
            name, sep, value = field.partition(":")
            if not sep:
                raise self._fail(f"bad header line {field!r}")
            headers[name.strip().lower()] = value.strip()
        bodiless = method == "HEAD" or status in (204, 304)
        return Response(self, status, parts[2] if len(parts) > 2 else "", headers, bodiless)

    def _fail(self, message: str) -> ProtocolError:
        """The error to raise; the connection is out of step, so it goes."""
        self.close()
        return ProtocolError(message)

    def _fill(self) -> int:
        assert self._sock is not None
        data = self._sock.recv(READ_SIZE)
        self._buffer += data
        return len(data)

    def _read_into(self, view: memoryview) -> int:
        if self._buffer:
            got = min(len(view), len(self._buffer))
            view[:got] = self._buffer[:got]
            del self._buffer[:got]
            return got
        if self._sock is None:
            return 0
        return self._sock.recv_into(view)

    def _line(self) -> bytes:
        while True:
            end = self._buffer.find(b"\r\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[:end + 2]
                return line
            if len(self._buffer) > MAX_HEAD or not self._fill():
                raise self._fail("a chunked body ended in the middle of a line")

    def _chunk_size(self) -> int:
        text = self._line().split(b";", 1)[0].strip()
        try:
            size = int(text, 16)
        except ValueError:
            raise self._fail(f"bad chunk size {text!r}") from None
        if size == 0:
            while self._line():  # trailers, up to the empty line
                pass
        return size

    def _expect_crlf(self) -> None:
        if self._line():
            raise self._fail("a chunk longer than its size line said")
