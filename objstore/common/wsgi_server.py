"""The HTTP/1.1 server every objstore server runs its WSGI app in.

    serve(listener, app, logger, pool_size=1024, client_timeout=60.0)

One green thread accepts; each connection gets a green thread of its own
(at most ``pool_size``; past that, accepting waits) that reads requests
one after another (keep-alive), each head with request_head.py and each
body through request_body.py, and writes each answer.

It does the job of eventlet.wsgi, which cost some 100 us of CPU on every
request (environ, a response state of closures, several writes and
flushes a response; measured on this project's 2-core machine) where the
object server's own work on a small PUT is about the same. Differences
that an app sees: ``CONTENT_TYPE`` is absent when the request had none
(eventlet made up "text/plain"), and ``SERVER_PROTOCOL`` is the request's
version.

Answers: the status line and headers go out with the first body bytes,
in one send; bodies are written in pieces of at least 4 KiB (smaller ones
are gathered); a response without Content-Length is sent chunked to
HTTP/1.1 clients and ends the connection for HTTP/1.0 ones; HEAD, 1xx,
204 and 304 answers have no body. A request whose body the app did not
read is drained so the connection can go on, except when the client
still waits for a ``100 Continue`` (then it is closed: it may or may not
send the body). A body that does not parse, a client that stops short
or times out (``client_timeout`` on every read and write), a body
shorter or longer than its Content-Length: the connection is closed.
An app that raises before it answers gets a 500 (and the traceback goes
to the log, never to the client).

Headers whose names contain "_" are dropped (they would be taken for the
ones with "-" in the environ); repeated ones are joined with ",".

Stopping (SIGTERM raises SystemExit in the accepting thread): the
listener closes, kept-alive connections waiting for their next request
are shut, requests in progress finish (their connection closes after),
and ``serve`` returns once all are done. A connection accepted just
before the stop still has its first request served (if it comes within
``STOPPING_WAIT`` seconds): its client has not yet been answered at all.
"""
from __future__ import annotations

import errno
import logging
import socket
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any, Final

from objstore.common import concurrency
from objstore.common.http import WSGIApp
from objstore.common.request_body import RequestBody
from objstore.common.request_head import BadHead, RequestHead, read_head
from objstore.common.timestamp import format_http_date

URL_LIMIT: Final = 16384
MIN_WRITE: Final = 4096      # body pieces smaller than this are gathered
JOIN_LIMIT: Final = 65536    # past this, the head is sent apart from the body
READ_BUFFER: Final = 65536
STOPPING_WAIT: Final = 5.0   # for the first request of a connection accepted as we stop
_NO_BODY_STATUS: Final = frozenset((204, 304))
_BASE_ENVIRON: Final = {
    "SCRIPT_NAME": "", "GATEWAY_INTERFACE": "CGI/1.1", "wsgi.version": (1, 0),
    "wsgi.url_scheme": "http", "wsgi.multithread": True, "wsgi.multiprocess": False,
    "wsgi.run_once": False,
}
# accept() failures that concern one connection, or pass: not the listener
_ACCEPT_AGAIN: Final = frozenset((errno.ECONNABORTED, errno.EPROTO, errno.EMFILE,
                                  errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.EAGAIN))

class ClientGone(Exception):
    """A send to the client failed: it went away or stopped reading."""


def serve(listener: socket.socket, app: WSGIApp, logger: logging.Logger, *,
          pool_size: int, client_timeout: float, url_limit: int = URL_LIMIT) -> None:
    """Serve until SystemExit or KeyboardInterrupt, then finish what runs."""
    server = _Server(app, logger, client_timeout, url_limit)
    pool = concurrency.GreenPool(pool_size)
    try:
        while True:
            try:
                sock, address = listener.accept()
            except OSError as err:
                if err.errno not in _ACCEPT_AGAIN:
                    raise
                logger.warning("accept failed: %s", err)
                concurrency.sleep(0.05)
                continue
            pool.spawn(server.serve_connection, sock, address)
    except (SystemExit, KeyboardInterrupt):
        pass
    finally:
        listener.close()
        server.stop()
        pool.waitall()


class _Server:
    def __init__(self, app: WSGIApp, logger: logging.Logger, client_timeout: float,
                 url_limit: int) -> None:
        self.app = app
        self.logger = logger
        self.client_timeout = client_timeout
        self.url_limit = url_limit
        self.idle: set[socket.socket] = set()  # kept alive, between requests
        self.stopping = False

    def stop(self) -> None:
        self.stopping = True
        for sock in list(self.idle):
            _shut(sock)

    def serve_connection(self, sock: socket.socket, address: Any) -> None:
        sock.settimeout(self.client_timeout)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rfile = sock.makefile("rb", READ_BUFFER)
        local = _host_port(sock.getsockname())
        remote = _host_port(address)
        we_close = True
        served = 0
        try:
            while not (served and self.stopping):
                hurried = not served and self.stopping
                if served:
                    self.idle.add(sock)
                elif hurried:  # accepted as we stop: its first request, briefly
                    sock.settimeout(min(self.client_timeout, STOPPING_WAIT))
                try:
                    head = read_head(rfile, self.url_limit)
                finally:
                    self.idle.discard(sock)
                if hurried:
                    sock.settimeout(self.client_timeout)
                if head is None:
                    we_close = False
                    break
                served += 1
                if not _Exchange(self, sock, rfile, head, local, remote).run():
                    break
        except BadHead as bad:
            _refuse(sock, bad.status, bad.reason, bad.detail)
        except (OSError, ClientGone):
            we_close = False  # the client went away or timed out
        finally:
            rfile.close()
            if we_close:
                _linger(sock)
            sock.close()


class _Exchange:
    """One request and its answer."""

    def __init__(self, server: _Server, sock: socket.socket, rfile: Any, head: RequestHead,
                 local: tuple[str, str], remote: tuple[str, str]) -> None:
        self.server = server
        self.sock = sock
        self.head = head
        self.keep_alive = head.keep_alive and not server.stopping
        self.environ, self.body = _environ(head, rfile, sock, local, remote)
        self.status = ""
        self.headers: list[tuple[str, str]] = []
        self.head_sent = False
        self.bodyless = head.method == "HEAD"
        self.chunked = False
        self.declared: int | None = None  # the Content-Length answered
        self.sent = 0

    def run(self) -> bool:
        """Serve the request; whether the connection can carry another."""
        result = None
        try:
            result = self.server.app(self.environ, self.start_response)
            self._send_all(result)
        except ClientGone:
            self.keep_alive = False
        except Exception:
            self.keep_alive = False
            self.server.logger.exception("%s %s: the app failed", self.head.method,
                                         self.head.target)
            if not self.head_sent:
                _refuse(self.sock, 500, "Internal Server Error",
                        "The server could not answer; the log says why.")
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    self.keep_alive = False
                    self.server.logger.exception("closing the answer to %s %s",
                                                 self.head.method, self.head.target)
        return self.keep_alive and self._body_done()

    def start_response(self, status: str, headers: list[tuple[str, str]],
                       exc_info: Any = None) -> Callable[[bytes], None]:
        if exc_info is not None and self.head_sent:
            raise exc_info[1].with_traceback(exc_info[2])
        self.status = status
        self.headers = headers
        code = status[:3]
        self.bodyless = (self.head.method == "HEAD" or code[0] == "1"
                         or (code.isdigit() and int(code) in _NO_BODY_STATUS))
        return self.write

    def write(self, data: bytes) -> None:
        """The WSGI ``write`` callable: sent at once."""
        if data:
            self._send([data])

    def _send_all(self, result: Iterable[bytes]) -> None:
        if (self.status and not self.head_sent and not self.bodyless
                and isinstance(result, (list, tuple))
                and not any(name.lower() == "content-length" for name, _ in self.headers)):
            self.headers.append(("Content-Length", str(sum(map(len, result)))))
        gathered: list[bytes] = []
        size = 0
        for data in result:
            if not data:
                continue
            gathered.append(data)
            size += len(data)
            if size >= MIN_WRITE:
                self._send(gathered)
                gathered, size = [], 0
        if gathered or not self.head_sent:
            self._send(gathered)
        if self.chunked:
            self._write([b"0\r\n\r\n"])
        if self.declared is not None and self.sent != self.declared and not self.bodyless:
            self.keep_alive = False  # the framing is off: nothing after can be read
            self.server.logger.error("%s %s: answered %d body bytes of a Content-Length %d",
                                     self.head.method, self.head.target, self.sent,
                                     self.declared)

    def _send(self, pieces: list[bytes]) -> None:
        if not self.status:
            raise AssertionError("the app sent a body before start_response")
        head = b"" if self.head_sent else self._head()  # decides self.chunked
        if self.bodyless:
            pieces = []
        size = sum(map(len, pieces))
        self.sent += size
        if self.chunked and size:
            pieces = [b"%x\r\n" % size, *pieces, b"\r\n"]
        if head:
            pieces.insert(0, head)
        if pieces:
            self._write(pieces)

    def _head(self) -> bytes:
        self.head_sent = True
        self.body.response_started = True
        lines = [f"HTTP/1.1 {self.status}\r\n"]
        dated = False
        for name, value in self.headers:
            lowered = name.lower()
            if lowered == "content-length":
                self.declared = _length(value)
            elif lowered == "date":
                dated = True
            lines.append(f"{name}: {value}\r\n")
        if not dated:
            lines.append(_date_line())
        if self.declared is None and not self.bodyless:
            if self.head.version == "HTTP/1.1":
                self.chunked = True
                lines.append("Transfer-Encoding: chunked\r\n")
            else:
                self.keep_alive = False  # the end of the body is the end of the connection
        if not self.keep_alive:
            lines.append("Connection: close\r\n")
        elif self.head.version != "HTTP/1.1":
            lines.append("Connection: keep-alive\r\n")
        lines.append("\r\n")
        text = "".join(lines)
        try:
            return text.encode("latin-1")
        except UnicodeEncodeError:  # an app's header value beyond latin-1
            return text.encode("utf-8")

    def _write(self, pieces: list[bytes]) -> None:
        try:
            if len(pieces) == 1:
                self.sock.sendall(pieces[0])
            elif sum(map(len, pieces)) <= JOIN_LIMIT:
                self.sock.sendall(b"".join(pieces))
            else:
                for piece in pieces:
                    self.sock.sendall(piece)
        except OSError as err:
            raise ClientGone(str(err)) from err

    def _body_done(self) -> bool:
        """Whether the request's body is read through (drained if need be)."""
        body = self.body
        if body.broken or body.continue_pending:
            return False  # the client never heard "go on": it may or may not send
        if body.finished:
            return True
        try:
            body.discard()
        except (OSError, ValueError):
            return False
        return not body.broken


def _environ(head: RequestHead, rfile: Any, sock: socket.socket, local: tuple[str, str],
             remote: tuple[str, str]) -> tuple[dict[str, Any], RequestBody]:
    path, mark, query = head.target.partition("?")
    environ = dict(_BASE_ENVIRON)
    environ.update({
        "REQUEST_METHOD": head.method, "RAW_PATH_INFO": path,
        "PATH_INFO": urllib.parse.unquote(path, encoding="latin-1") if "%" in path else path,
        "SERVER_PROTOCOL": head.version, "SERVER_NAME": local[0], "SERVER_PORT": local[1],
        "REMOTE_ADDR": remote[0], "REMOTE_PORT": remote[1], "wsgi.errors": sys.stderr,
        "headers_raw": tuple(head.fields),
    })
    if mark:
        environ["QUERY_STRING"] = query
    for name, value in head.fields:
        if "_" in name:
            continue  # would pass for the same name with "-"
        key = name.upper().replace("-", "_")
        if key == "CONTENT_TYPE" or key == "CONTENT_LENGTH":
            environ.setdefault(key, value)
            continue
        key = "HTTP_" + key
        if key in environ:
            environ[key] += "," + value
        else:
            environ[key] = value
    body = _body(head, environ, rfile, sock)
    environ["wsgi.input"] = body
    return environ, body


def _body(head: RequestHead, environ: dict[str, Any], rfile: Any, sock: socket.socket
          ) -> RequestBody:
    coding = environ.get("HTTP_TRANSFER_ENCODING")
    length_text = environ.get("CONTENT_LENGTH")
    if coding is not None:
        if coding.strip().lower() != "chunked":
            raise BadHead(501, "Not Implemented",
                          f"Transfer-Encoding {coding[:40]!r} is not supported; "
                          f"send chunked or a Content-Length")
        if length_text is not None:
            raise BadHead(400, "Bad Request",
                          "Content-Length and Transfer-Encoding are not allowed together")
    length = 0
    if length_text is not None:
        length = _length(length_text)
        if length is None:
            raise BadHead(400, "Bad Request", f"Invalid Content-Length {length_text[:40]!r}")
        if not length_text:
            del environ["CONTENT_LENGTH"]
    expects = environ.get("HTTP_EXPECT", "").lower() == "100-continue"
    return RequestBody(rfile, length, coding is not None, sock.sendall, expects)


def _length(text: str) -> int | None:
    text = text.strip()
    if not text:
        return 0
    return int(text) if text.isdigit() and text.isascii() else None


def _refuse(sock: socket.socket, status: int, reason: str, detail: str) -> None:
    """Answer an error and end the connection (the caller closes it)."""
    body = (detail or reason).encode("latin-1", "replace") + b"\n"
    try:
        sock.sendall(b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                     b"%sConnection: close\r\n\r\n%s"
                     % (status, reason.encode("latin-1"), len(body),
                        _date_line().encode("latin-1"), body))
    except OSError:
        pass


def _linger(sock: socket.socket) -> None:
    """End our side, then read what the client still sends until it
    closes too (at most a second): closing a socket with unread input
    resets the connection, and the client could lose the answer."""
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(1.0)
        for _ in range(64):
            if not sock.recv(65536):
                break
    except OSError:
        pass


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _host_port(address: Any) -> tuple[str, str]:
    if isinstance(address, tuple) and len(address) >= 2:
        return str(address[0]), str(address[1])
    return str(address or ""), ""


def _date_line() -> str:
    return f"Date: {format_http_date(int(time.time()))}\r\n"
