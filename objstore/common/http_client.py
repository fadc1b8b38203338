"""The backend HTTP client: how proxies and storage servers talk to each other.

    with BackendConnection("10.0.0.5", 6200, connect_timeout=0.5, read_timeout=3) as conn:
        conn.send_request("PUT", "/sda/17/AUTH_a/c/o", headers, chunked=True,
                          expect_continue=True)
        if conn.wait_for_continue(3) == 100:
            for chunk in body:
                conn.send(chunk)
            conn.finish()
        response = conn.getresponse()
        data = response.read()

    status, headers, data = request("10.0.0.7", 6201, "PUT", "/sdb/3/AUTH_a/c/o",
                                    update_headers, connect_timeout=0.5, read_timeout=3)

A small HTTP/1.1 client of our own over a plain socket (green when the
process is patched by ``concurrency.patch_process``), so that every wait
has a bound we chose and 100-continue is ours to handle:

* One request per ``BackendConnection``. Without a pool the response
  closes the socket when its body ends (``Connection: close`` is sent
  unless the caller sets it). With a ``ConnectionPool`` the socket is kept
  alive: a response read to its end, after a request sent in full, gives
  its socket back to the pool for the next request to the same server,
  which saves a connect (and the server an accept) per request. A pooled
  socket the server has closed meanwhile is noticed when the response
  head does not come (end of stream or reset, not a timeout); the request
  is then sent again once on a new connection, which is safe because no
  body byte had been sent (requests with a body use 100-continue, or are
  replayed whole by ``request``).
* Every wait is bounded: connecting by ``connect_timeout``; sending the
  head, each ``send`` and each socket read of the response by
  ``read_timeout``, so a stalled peer costs at most that much before the
  caller moves on to another node. (Under eventlet a ``send`` that keeps
  making some progress may take longer; the bound is on a stall.)
  ``getresponse(timeout)`` and ``wait_for_continue(timeout)`` may wait
  longer (or shorter) for the response head.
* Any failure closes the connection: a node that failed once is not used
  again by this connection.
* Paths are given unquoted and quoted here (``quote_path``); queries are
  given already encoded. Framing headers (Content-Length,
  Transfer-Encoding, Expect) come from ``body_length``, ``chunked`` and
  ``expect_continue`` only, so the body sent always matches them.

Header values are ``str``, sent as latin-1 when they fit, else as UTF-8.
Why: servers hold header values as WSGI strings (PEP 3333: the bytes,
decoded as latin-1), so metadata a client sent as UTF-8 is such a string
and goes on as exactly the bytes that came in, as Swift passes it
through; a value beyond latin-1 cannot be one, so it is real text, and
UTF-8 is what the far side decodes. Text that happens to fit latin-1
("café") goes as latin-1: to send it as UTF-8, pass
``value.encode().decode("latin-1")``. Response headers are decoded as
latin-1 too, so ``value.encode("latin-1")`` is what the peer sent. CR, LF
and NUL are refused in names and values (``ValueError``) before anything
is sent, so no header can be injected.

Exceptions (each message is one line and starts with ``host:port``)::

    OSError
     └── BackendError        anything that went wrong talking to a backend;
          │                  the connection is closed, try another node
          ├── ConnectError   could not connect: refused, unreachable, bad address
          │    └── ConnectTimeout   no connection within connect_timeout
          ├── ReadTimeout    the peer sent nothing for the timeout
          ├── WriteTimeout   the peer took nothing for read_timeout
          └── ProtocolError  the peer does not speak HTTP/1.x: a bad status
                             line, header line or chunk

The three timeouts are also ``TimeoutError``. ``BackendError`` itself
covers a connection reset or closed before the response (or its body) was
complete. Misuse by the caller (a bad header, sending more than
``body_length``) raises ``ValueError``, ``TypeError`` or ``RuntimeError``.
"""
from __future__ import annotations

import os
import re
import socket
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Final, TypeVar

MAX_LINE: Final = 65536     # the longest status, header or chunk-size line we read
MAX_HEADERS: Final = 1000   # header lines in one response head
CHUNK_SIZE: Final = 65536   # what iterating over a response yields at most
_NO_BODY_METHODS: Final = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})
_FRAMING: Final = frozenset({"content-length", "transfer-encoding", "expect"})
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token
_TOKEN_BYTES: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_IN_VALUE: Final = re.compile(r"[\r\n\x00]")
_BAD_IN_QUERY: Final = re.compile(r"[^!-~]|#")  # controls, spaces, non-ASCII, fragment
_STATUS_LINE: Final = re.compile(rb"HTTP/(1\.[01]) ([0-9]{3})(?: ([^\r\n]*))?\r?\n")
_CHUNK_LINE: Final = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?\r?\n")
_DIGITS: Final = re.compile(r"[0-9]{1,20}")
R = TypeVar("R")


class BackendError(OSError):
    """Talking to a backend failed; the connection is closed."""


class ConnectError(BackendError):
    """No connection could be made."""


class ConnectTimeout(ConnectError, TimeoutError):
    """No connection within ``connect_timeout``."""


class ReadTimeout(BackendError, TimeoutError):
    """The peer sent nothing for the read timeout."""


class WriteTimeout(BackendError, TimeoutError):
    """The peer took nothing for ``read_timeout``."""


class ProtocolError(BackendError):
    """The peer's answer is not well-formed HTTP/1.x."""


def quote_path(path: str) -> str:
    """Percent-encode the UTF-8 bytes of ``path``, keeping only ``/`` and
    the characters that never need quoting (letters, digits, ``-._~``)."""
    return urllib.parse.quote(path, safe="/", encoding="utf-8", errors="strict")


def _why(err: Exception) -> str:
    """The reason in an error, on one line, the same with or without eventlet."""
    code = getattr(err, "errno", None)
    if isinstance(code, int) and code > 0 and not isinstance(err, socket.gaierror):
        return os.strerror(code)
    return " ".join(str(err).split()) or type(err).__name__


class Headers(Mapping[str, str]):
    """Response headers: case-insensitive, every value kept in order.

    ``headers[name]`` joins repeated values with ", " (as HTTP allows);
    ``get_all(name)`` gives them one by one; ``raw`` is every line as sent.
    """

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self.raw: list[tuple[str, str]] = list(pairs)
        self._values: dict[str, list[str]] = {}
        self._names: dict[str, str] = {}
        for name, value in self.raw:
            self._values.setdefault(name.lower(), []).append(value)
            self._names.setdefault(name.lower(), name)

    def __getitem__(self, name: str) -> str:
        return ", ".join(self._values[name.lower()])

    def __iter__(self) -> Iterator[str]:
        return iter(self._names.values())

    def __len__(self) -> int:
        return len(self._names)

    def get_all(self, name: str) -> list[str]:
        return list(self._values.get(name.lower(), ()))

    def __repr__(self) -> str:
        return f"Headers({self.raw!r})"


class _Wire:
    """A connected socket with a read buffer. Socket errors leave it as
    BackendErrors that name the peer and what was going on."""

    def __init__(self, sock: socket.socket, where: str) -> None:
        self.sock = sock
        self.where = where
        self.buf = bytearray()
        self.timeout: float | None = None

    def _set_timeout(self, timeout: float) -> None:
        if timeout != self.timeout:
            self.sock.settimeout(timeout)
            self.timeout = timeout

    def sendall(self, data: bytes | memoryview, timeout: float, doing: str) -> None:
        self._set_timeout(timeout)
        try:
            self.sock.sendall(data)
        except TimeoutError as err:
            raise WriteTimeout(f"{self.where}: could not send for {timeout:g}s "
                               f"while {doing}") from err
        except OSError as err:
            raise BackendError(f"{self.where}: connection lost while {doing}: "
                               f"{_why(err)}") from err

    def recv(self, limit: int, timeout: float, doing: str) -> bytes:
        """Up to ``limit`` bytes, buffered ones first; b"" at the end."""
        if self.buf:
            data = bytes(self.buf[:limit])
            del self.buf[:limit]
            return data
        return self._recv(limit, timeout, doing)

    def _recv(self, limit: int, timeout: float, doing: str) -> bytes:
        self._set_timeout(timeout)
        try:
            return self.sock.recv(min(limit, CHUNK_SIZE))
        except TimeoutError as err:
            raise ReadTimeout(f"{self.where}: nothing received for {timeout:g}s "
                              f"while {doing}") from err
        except OSError as err:
            raise BackendError(f"{self.where}: connection lost while {doing}: "
                               f"{_why(err)}") from err

    def readline(self, timeout: float, doing: str) -> bytes:
        """One line with its ending; at the end, what is left (maybe b"")."""
        start = 0
        while (end := self.buf.find(b"\n", start)) < 0:
            if len(self.buf) > MAX_LINE:
                raise ProtocolError(f"{self.where}: a line longer than {MAX_LINE} bytes "
                                    f"while {doing}")
            start = len(self.buf)
            data = self._recv(CHUNK_SIZE, timeout, doing)
            if not data:
                line = bytes(self.buf)
                self.buf.clear()
                return line
            self.buf += data
        line = bytes(self.buf[:end + 1])
        del self.buf[:end + 1]
        return line

    def closed_by_peer(self) -> bool:
        """Whether an idle socket was closed or reset from the other end: a
        peek that does not wait finds the end of the stream, an error, or
        bytes nobody asked for. The peek goes to the real socket under a
        green one (a green recv would wait for data), and a plain one is
        made non-blocking for it (the next use sets its timeout again)."""
        raw = getattr(self.sock, "fd", None)
        if raw is None:  # a plain socket would wait out its timeout first
            raw = self.sock
            self._set_timeout(0.0)
        try:
            raw.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True
        return True

    def close(self) -> None:
        self.sock.close()


@dataclass(frozen=True)
class _Head:
    status: int
    reason: str
    headers: Headers
    version: bytes = b"1.1"


def _read_head(wire: _Wire, timeout: float, reused: bool = False) -> _Head:
    try:
        line = wire.readline(timeout, "waiting for the response")
    except BackendError as err:
        if reused and not isinstance(err, TimeoutError):
            raise _StaleConnection(str(err)) from err
        raise
    if not line.endswith(b"\n"):
        if reused and not line:
            raise _StaleConnection(f"{wire.where}: pooled connection closed by the server")
        raise BackendError(f"{wire.where}: connection closed before a response")
    match = _STATUS_LINE.fullmatch(line)
    if not match:
        raise ProtocolError(f"{wire.where}: bad status line {line[:80]!r}")
    pairs = _buffered_fields(wire)
    if pairs is None:
        pairs = _read_fields(wire, timeout)
    return _Head(int(match.group(2)), (match.group(3) or b"").decode("latin-1").strip(),
                 Headers(pairs), match.group(1))


def _read_fields(wire: _Wire, timeout: float) -> list[tuple[str, str]]:
    """The header fields, line by line as they come."""
    pairs: list[tuple[str, str]] = []
    while (line := wire.readline(timeout, "reading the response headers")) not in (
            b"\r\n", b"\n"):
        if not line.endswith(b"\n"):
            raise BackendError(f"{wire.where}: connection closed inside the response headers")
        if len(pairs) >= MAX_HEADERS:
            raise ProtocolError(f"{wire.where}: more than {MAX_HEADERS} response headers")
        pairs.append(_field(wire, line))
    return pairs


def _field(wire: _Wire, line: bytes) -> tuple[str, str]:
    """One header line (with or without its line end) as (name, value)."""
    name, colon, value = line.partition(b":")
    if not colon or not _TOKEN_BYTES.fullmatch(name):
        raise ProtocolError(f"{wire.where}: bad header line {line[:80]!r}")
    return name.decode("ascii"), value.strip(b" \t\r\n").decode("latin-1")


def _buffered_fields(wire: _Wire) -> list[tuple[str, str]] | None:
    """The header fields, when the rest of the head is in the buffer
    already (a head usually comes in one segment): split at once instead
    of line by line. None when it is not, or has lines ending in a bare
    LF; then nothing is consumed."""
    buf = wire.buf
    if buf[:2] == b"\r\n":
        del buf[:2]
        return []
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    block = bytes(buf[:end])
    lines = block.split(b"\r\n")
    if block.count(b"\n") != len(lines) - 1:
        return None
    if len(lines) > MAX_HEADERS:
        raise ProtocolError(f"{wire.where}: more than {MAX_HEADERS} response headers")
    pairs = [_field(wire, line) for line in lines]
    del buf[:end + 4]
    return pairs


_GOOD_NAMES: set[str] = set()  # header names already found to be tokens
_GOOD_NAMES_KEPT: Final = 1024


def _encode_headers(headers: Mapping[str, str]) -> bytes:
    """Every header line: checked and encoded all at once when all is
    plain (str names seen before, latin-1 values without CR, LF or NUL),
    else one by one, which says what is wrong or encodes UTF-8."""
    names, values = list(headers), list(headers.values())
    plain = all(type(v) is str for v in values) and all(
        name in _GOOD_NAMES or (type(name) is str and _TOKEN.fullmatch(name)) for name in names)
    if plain and not _BAD_IN_VALUE.search("".join(values)):
        try:
            encoded = "".join([f"{n}: {v}\r\n" for n, v in zip(names, values)]).encode("latin-1")
        except UnicodeEncodeError:
            pass
        else:
            if len(_GOOD_NAMES) < _GOOD_NAMES_KEPT:
                _GOOD_NAMES.update(names)
            return encoded
    return b"".join([_encode_header(name, value) for name, value in headers.items()])


def _encode_header(name: str, value: str) -> bytes:
    if not isinstance(name, str) or not isinstance(value, str):
        raise TypeError(f"header {name!r}: names and values must be str, not "
                        f"{type(name).__name__} and {type(value).__name__}")
    if not _TOKEN.fullmatch(name):
        raise ValueError(f"header name {name!r} is not an HTTP token (CR, LF, spaces, "
                         f"colons are refused)")
    if _BAD_IN_VALUE.search(value):
        raise ValueError(f"header {name!r}: CR, LF and NUL are refused in values")
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        try:
            raw = value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates
            raise ValueError(f"header {name!r}: value is not encodable as UTF-8") from None
    return name.encode("ascii") + b": " + raw + b"\r\n"


class ConnectionPool:
    """Idle keep-alive sockets per backend server, for one process.

    Safe from green and real threads alike: only list appends and pops,
    which the GIL makes atomic, touch the shared lists. The most recently
    used socket goes out first (least likely to have been closed), and one
    idle longer than ``idle_seconds`` (below the servers' client_timeout,
    60 s by default) is closed rather than used."""

    def __init__(self, max_idle: int = 32, idle_seconds: float = 20.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_idle = max_idle
        self.idle_seconds = idle_seconds
        self.clock = clock
        self._idle: dict[tuple[str, int], list[tuple[float, _Wire]]] = {}

    def take(self, host: str, port: int) -> _Wire | None:
        entries = self._idle.get((host, port))
        now = self.clock()
        while entries:
            try:
                since, wire = entries.pop()
            except IndexError:
                return None
            if now - since < self.idle_seconds:
                return wire
            wire.close()
        return None

    def give(self, host: str, port: int, wire: _Wire) -> None:
        entries = self._idle.setdefault((host, port), [])
        if len(entries) >= self.max_idle:
            wire.close()
            return
        entries.append((self.clock(), wire))

    def has_idle(self, host: str, port: int) -> bool:
        """Whether an idle socket to the server is kept that the server has
        not closed (those it closed are dropped on the way); never blocks."""
        entries = self._idle.get((host, port)) or []
        now = self.clock()
        while entries:
            try:
                since, wire = entries[-1]
            except IndexError:
                break
            if now - since < self.idle_seconds and not wire.closed_by_peer():
                return True
            try:
                entries.remove((since, wire))
            except ValueError:
                continue  # taken meanwhile
            wire.close()
        return False

    def ensure(self, host: str, port: int, connect_timeout: float) -> bool:
        """Whether the server takes connections: an idle socket kept here
        that its server has not closed counts; otherwise a new connection
        is made and kept for the request that follows."""
        if self.has_idle(host, port):
            return True
        probe = BackendConnection(host, port, connect_timeout=connect_timeout,
                                  read_timeout=connect_timeout)
        try:
            wire = probe._connect()
        except BackendError:
            return False
        self.give(host, port, wire)
        return True

    def close_all(self) -> None:
        for entries in list(self._idle.values()):
            while entries:
                try:
                    entries.pop()[1].close()
                except IndexError:
                    break


class _StaleConnection(BackendError):
    """A pooled socket that the server had closed: nothing was answered."""


class BackendConnection:
    """One request to one backend server; see the module docstring."""

    def __init__(self, host: str, port: int, *, connect_timeout: float,
                 read_timeout: float, pool: ConnectionPool | None = None) -> None:
        self.host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        self.pool = pool
        self._reused = False       # the socket came from the pool
        self._head = b""           # the request head, to send again on a new socket
        self._body_sent = False
        self.port = port
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.where = f"[{self.host}]:{port}" if ":" in self.host else f"{self.host}:{port}"
        self.method = ""
        self._wire: _Wire | None = None
        self._closed = False
        self._expecting = False     # sent Expect: 100-continue, no answer read yet
        self._early: _Head | None = None  # a final answer read by wait_for_continue
        self.continue_headers = Headers()  # what came with the 100 Continue
        self._chunked = False
        self._body_left: int | None = None  # Content-Length bytes still to send
        self._finished = True
        self._answered = False

    def send_request(self, method: str, path: str, headers: Mapping[str, str], *,
                     query: str | None = None, body_length: int | None = None,
                     chunked: bool = False, expect_continue: bool = False,
                     body: bytes | None = None) -> None:
        """Connect and send the request head. ``path`` is unquoted (it is
        quoted here); ``query`` is already encoded. A body then follows by
        ``send`` and ``finish``: ``body_length`` bytes, or chunks; or, small
        and whole, as ``body``, in the same write as the head."""
        if body is not None:
            if chunked or expect_continue or body_length not in (None, len(body)):
                raise ValueError("a body sent with the head has its own length, "
                                 "no chunks and no 100-continue")
            body_length = len(body)
        if self._wire is not None or self._closed:
            raise RuntimeError(f"{self.where}: one request per connection")
        if not _TOKEN.fullmatch(method):
            raise ValueError(f"bad method {method!r}")
        if not path.startswith("/"):
            raise ValueError(f"path {path!r} must start with '/'")
        if query is not None and _BAD_IN_QUERY.search(query):
            raise ValueError(f"query {query!r} must be encoded (printable ASCII, no '#')")
        if chunked and body_length is not None:
            raise ValueError("a body has either a length or chunks, not both")
        if body_length is not None and body_length < 0:
            raise ValueError(f"negative body_length {body_length}")
        lowered = {name.lower() for name in headers}
        if lowered & _FRAMING:
            raise ValueError(f"set {', '.join(sorted(lowered & _FRAMING))} through "
                             f"body_length, chunked and expect_continue")
        target = quote_path(path) + (f"?{query}" if query else "")
        head = [f"{method} {target} HTTP/1.1\r\n".encode("ascii")]
        if "host" not in lowered:
            host = f"[{self.host}]" if ":" in self.host else self.host
            head.append(_encode_header("Host", f"{host}:{self.port}"))
        head.append(_encode_headers(headers))
        if body_length is not None:
            head.append(_encode_header("Content-Length", str(body_length)))
        if chunked:
            head.append(b"Transfer-Encoding: chunked\r\n")
        if expect_continue:
            head.append(b"Expect: 100-continue\r\n")
        if "connection" not in lowered and self.pool is None:
            head.append(b"Connection: close\r\n")
        head.append(b"\r\n")
        if body:
            head.append(body)
        self._closed = True  # until connected: a failed connection is not tried again
        pooled = self.pool.take(self.host, self.port) if self.pool is not None else None
        self._reused = pooled is not None
        self._wire = pooled or self._connect()  # only once the request is sendable
        self._closed = False
        self._head = b"".join(head)
        self.method = method
        self._chunked = chunked
        self._body_left = body_length
        self._finished = not chunked and (not body_length or body is not None)
        if body is not None:
            self._body_left = 0
        self._expecting = expect_continue
        try:
            self._guarded(lambda wire: wire.sendall(self._head, self.read_timeout,
                                                    "sending the request head"))
        except BackendError as err:
            if not self._reused or isinstance(err, TimeoutError):
                raise
            self._reconnect()

    def _connect(self) -> _Wire:
        try:
            family, kind, proto, _, address = socket.getaddrinfo(
                self.host, self.port, 0, socket.SOCK_STREAM)[0]
        except (OSError, UnicodeError) as err:
            raise ConnectError(f"{self.where}: bad address: {_why(err)}") from err
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(self.connect_timeout)
            sock.connect(address)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except TimeoutError as err:
            sock.close()
            raise ConnectTimeout(f"{self.where}: no connection within "
                                 f"{self.connect_timeout:g}s") from err
        except OSError as err:
            sock.close()
            raise ConnectError(f"{self.where}: cannot connect: {_why(err)}") from err
        return _Wire(sock, self.where)

    def _guarded(self, action: Callable[[_Wire], R]) -> R:
        """Run ``action`` on the open wire; any failure closes the connection."""
        if self._wire is None or self._closed:
            raise RuntimeError(f"{self.where}: connection not open")
        try:
            return action(self._wire)
        except BaseException:
            self.close()
            raise

    def wait_for_continue(self, timeout: float) -> int:
        """After ``expect_continue``: 100 if the server wants the body, else
        its final status (the response stays readable by getresponse).
        Waits up to ``timeout`` for each read; ReadTimeout when it hears
        nothing."""
        if not self._expecting:
            raise RuntimeError(f"{self.where}: no 100-continue to wait for")
        self._expecting = False
        while True:
            head = self._read_head(timeout)
            if head.status == 100:
                self.continue_headers = head.headers
                return 100
            if head.status >= 200:
                self._early = head
                return head.status

    def send(self, chunk: bytes | memoryview) -> None:
        """Send part of the body (as one chunk when chunked). Bounded by
        read_timeout; WriteTimeout when the peer takes nothing. A
        memoryview is sent as it is, not copied: the caller keeps its
        bytes unchanged until this returns."""
        if not chunk:
            return
        if self._early is not None or self._answered:
            raise RuntimeError(f"{self.where}: the server has already answered")
        if self._finished:
            raise RuntimeError(f"{self.where}: no more body to send")
        if self._body_left is not None:
            if len(chunk) > self._body_left:
                raise ValueError(f"{self.where}: {len(chunk)} bytes is more than the "
                                 f"{self._body_left} left of body_length")
            self._body_left -= len(chunk)
            data = chunk if isinstance(chunk, memoryview) else bytes(chunk)
        else:
            data = b"%x\r\n%s\r\n" % (len(chunk), chunk)
        self._body_sent = True
        self._guarded(lambda wire: wire.sendall(data, self.read_timeout, "sending the body"))

    def finish(self) -> None:
        """End the body: the last chunk, or a check that it was all sent."""
        if self._finished or self._early is not None or self._answered:
            return
        if self._body_left:
            raise ValueError(f"{self.where}: body is {self._body_left} bytes short of "
                             f"body_length")
        self._finished = True
        if self._chunked:
            self._guarded(lambda wire: wire.sendall(b"0\r\n\r\n", self.read_timeout,
                                                    "ending the body"))

    def getresponse(self, timeout: float | None = None) -> BackendResponse:
        """The final response (1xx are skipped); ``timeout`` bounds each read
        of its head (default read_timeout), read_timeout each body read."""
        if self._answered:
            raise RuntimeError(f"{self.where}: the response was already taken")
        wait = self.read_timeout if timeout is None else timeout
        head = self._early
        while head is None or head.status < 200:
            head = self._read_head(wait)
        assert self._wire is not None
        self._answered = True
        self._expecting = False
        reusable = self.pool is not None and self._finished and self._early is None and \
            head.version == b"1.1" and "close" not in head.headers.get("connection", "").lower()
        return BackendResponse(self._wire, head, self.method, self.read_timeout, self.close,
                               self._release if reusable else None)

    def _read_head(self, timeout: float) -> _Head:
        """The next response head; on a pooled socket the server had closed,
        the request goes again on a new socket (no body byte was sent)."""
        try:
            return self._guarded(lambda wire: _read_head(wire, timeout, self._reused))
        except _StaleConnection:
            if self._body_sent:
                raise
        self._reconnect()
        return self._guarded(lambda wire: _read_head(wire, timeout))

    def _reconnect(self) -> None:
        self._reused = False
        self._closed = True
        self._wire = self._connect()
        self._closed = False
        self._guarded(lambda wire: wire.sendall(self._head, self.read_timeout,
                                                "sending the request head"))

    def _release(self) -> None:
        """The exchange ended cleanly: keep the socket for the next request."""
        wire, self._wire = self._wire, None
        self._closed = True
        if wire is None or self.pool is None or wire.buf:
            if wire is not None:
                wire.close()
            return
        self.pool.give(self.host, self.port, wire)

    def close(self) -> None:
        self._closed = True
        if self._wire is not None:
            self._wire.close()

    def __enter__(self) -> BackendConnection:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


class BackendResponse:
    """A backend's response. The body is read by ``read`` or iteration,
    each socket read bounded by read_timeout; the connection closes when
    the body ends, fails, or on ``close``."""

    def __init__(self, wire: _Wire, head: _Head, method: str, read_timeout: float,
                 close: Callable[[], None], release: Callable[[], None] | None = None
                 ) -> None:
        self.status = head.status
        self.reason = head.reason
        self.headers = head.headers
        self.where = wire.where
        self.read_timeout = read_timeout
        self.bytes_read = 0  # body bytes handed to the caller so far
        self._wire = wire
        self._close = close
        self._release = release  # a body read to its end may keep the socket
        self._done = False
        self._failed = False
        self._chunked = False
        self._chunk_left = 0
        self._length: int | None = None  # body bytes to expect; None: chunked or until close
        if method == "HEAD" or self.status in (204, 304):
            self._length = 0
        elif "transfer-encoding" in head.headers:
            codings = head.headers["transfer-encoding"].lower().split(",")
            if codings[-1].strip() != "chunked":
                raise self._fail(ProtocolError(
                    f"{self.where}: unsupported transfer-encoding "
                    f"{head.headers['transfer-encoding']!r}"))
            self._chunked = True
        elif "content-length" in head.headers:
            values = {v.strip() for v in head.headers.get_all("content-length")}
            if len(values) != 1 or not _DIGITS.fullmatch(next(iter(values))):
                raise self._fail(ProtocolError(
                    f"{self.where}: bad content-length {head.headers['content-length']!r}"))
            self._length = int(values.pop())
        if self._length == 0:
            self._end()

    def _fail(self, err: BackendError) -> BackendError:
        self._close()
        return err

    @property
    def _length_known(self) -> bool:
        """Framed by length or chunks: its end is not the socket's end."""
        return self._length is not None or self._chunked

    def _end(self) -> None:
        self._done = True
        if self._release is not None and self._length_known:
            self._release()
        else:
            self._close()

    def _read_some(self, limit: int) -> bytes:
        """Up to ``limit`` body bytes (at least one), b"" at the end."""
        if self._failed:  # b"" would pass a truncated body off as whole
            raise BackendError(f"{self.where}: the response failed earlier, after "
                               f"{self.bytes_read} body bytes")
        if self._done:
            return b""
        try:
            data = self._chunk_data(limit) if self._chunked else self._plain_data(limit)
        except BaseException:
            self._failed = True
            self._close()
            raise
        self.bytes_read += len(data)
        return data

    def _doing(self) -> str:
        return f"reading the response body (after {self.bytes_read} bytes)"

    def _plain_data(self, limit: int) -> bytes:
        if self._length is not None:
            limit = min(limit, self._length - self.bytes_read)
        data = self._wire.recv(limit, self.read_timeout, self._doing())
        if not data and self._length is not None:
            raise BackendError(f"{self.where}: connection closed after {self.bytes_read} "
                               f"of {self._length} body bytes")
        if not data or self.bytes_read + len(data) == self._length:
            self._end()
        return data

    def _chunk_data(self, limit: int) -> bytes:
        if self._chunk_left == 0:
            line = self._line()
            match = _CHUNK_LINE.fullmatch(line)
            if not match:
                raise ProtocolError(f"{self.where}: bad chunk size line {line[:80]!r}")
            self._chunk_left = int(match.group(1), 16)
            if self._chunk_left == 0:
                while self._line() not in (b"\r\n", b"\n"):
                    pass  # trailers: nothing of ours uses them
                self._end()
                return b""
        data = self._wire.recv(min(limit, self._chunk_left), self.read_timeout,
                               self._doing())
        if not data:
            raise BackendError(f"{self.where}: connection closed inside a chunk "
                               f"after {self.bytes_read} body bytes")
        self._chunk_left -= len(data)
        if self._chunk_left == 0 and self._line() not in (b"\r\n", b"\n"):
            raise ProtocolError(f"{self.where}: chunk longer than its size")
        return data

    def _line(self) -> bytes:
        line = self._wire.readline(self.read_timeout, self._doing())
        if not line.endswith(b"\n"):
            raise BackendError(f"{self.where}: connection closed inside the chunked body "
                               f"after {self.bytes_read} bytes")
        return line

    def read(self, n: int = -1) -> bytes:
        """``n`` bytes (fewer only at the end of the body), or all that is left."""
        parts = []
        want = n if n >= 0 else None
        while want is None or want > 0:
            data = self._read_some(CHUNK_SIZE if want is None else want)
            if not data:
                break
            parts.append(data)
            if want is not None:
                want -= len(data)
        return b"".join(parts)

    def iter_chunks(self, size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """The body as it arrives, in pieces of at most ``size`` bytes."""
        while data := self._read_some(size):
            yield data

    def __iter__(self) -> Iterator[bytes]:
        return self.iter_chunks()

    def close(self) -> None:
        self._done = True
        self._close()


def request(host: str, port: int, method: str, path: str, headers: Mapping[str, str],
            body: bytes = b"", *, connect_timeout: float, read_timeout: float,
            query: str | None = None, pool: ConnectionPool | None = None
            ) -> tuple[int, Headers, bytes]:
    """One small request, all at once: (status, headers, body). For
    container updates, REPLICATE and the like, not for streaming. With a
    pool, a request that met a socket the server had closed is sent again,
    whole, on a new connection."""
    try:
        return _request_once(host, port, method, path, headers, body, connect_timeout,
                             read_timeout, query, pool)
    except _StaleConnection:
        return _request_once(host, port, method, path, headers, body, connect_timeout,
                             read_timeout, query, None)


def _request_once(host: str, port: int, method: str, path: str, headers: Mapping[str, str],
                  body: bytes, connect_timeout: float, read_timeout: float,
                  query: str | None, pool: ConnectionPool | None) -> tuple[int, Headers, bytes]:
    with BackendConnection(host, port, connect_timeout=connect_timeout,
                           read_timeout=read_timeout, pool=pool) as conn:
        sized = bool(body) or method not in _NO_BODY_METHODS
        try:
            conn.send_request(method, path, headers, query=query,
                              body=body if sized else None)
            response = conn.getresponse()
        except BackendError as err:
            # a pooled socket closed by the server may fail on the body, too;
            # whoever answered nothing has done nothing: send it all again
            if conn._reused and not isinstance(err, TimeoutError):
                raise _StaleConnection(str(err)) from err
            raise
        return response.status, response.headers, response.read()
