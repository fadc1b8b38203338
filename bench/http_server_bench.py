"""The HTTP layer's own cost: a do-nothing app behind our server and behind
eventlet.wsgi, side by side.

    python3 bench/http_server_bench.py [--count 20000] [--clients 8]

For each server, starts a process that serves an app which reads the
request body and answers 201 with 100 bytes, then drives it from
``--clients`` threads, each on one keep-alive connection, with PUTs
shaped like the proxy's to an object server (ten header fields, a 4 KiB
body). Prints requests per second and the server process's CPU time per
request (user + system, from /proc): what every request to every
objstore server pays before the app does any work.
"""
from __future__ import annotations

import argparse
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")
REQUEST = (b"PUT /sda/1/a/c/o HTTP/1.1\r\nHost: 127.0.0.1:6000\r\nContent-Length: 4096\r\n"
           b"X-Timestamp: 1700000000.12345\r\nContent-Type: application/octet-stream\r\n"
           b"X-Trans-Id: tx0123456789abcdef\r\nUser-Agent: proxy-server\r\n"
           b"X-Backend-Storage-Policy-Index: 0\r\nX-Container-Host: 127.0.0.1:6001\r\n"
           b"X-Container-Device: sdb\r\nX-Container-Partition: 12\r\n"
           b"Etag: 0123456789abcdef0123456789abcdef\r\n\r\n" + b"y" * 4096)


def serve(port: int, which: str) -> None:
    """The server process: our wsgi_server or eventlet.wsgi, same app."""
    sys.path.insert(0, str(ROOT))
    from objstore.common import concurrency

    concurrency.patch_process()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    body = b"x" * 100

    def app(environ, start_response):  # type: ignore[no-untyped-def]
        environ["wsgi.input"].read()
        start_response("201 Created", [("Content-Length", "100"),
                                       ("Content-Type", "text/plain"), ("X-Trans-Id", "tx")])
        return [body]

    listener = concurrency.green_socket(sock)
    if which == "eventlet":
        import eventlet.wsgi  # the comparison only; objstore itself never serves with it

        eventlet.wsgi.server(listener, app, log_output=False, keepalive=True)
    else:
        from objstore.common import wsgi_server

        wsgi_server.serve(listener, app, logging.getLogger("bench"), pool_size=1024,
                          client_timeout=60.0)


def drive(port: int, count: int, clients: int) -> float:
    """Send ``count`` requests from ``clients`` connections; seconds taken."""
    def one_client() -> None:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            reader = sock.makefile("rb")
            for _ in range(count // clients):
                sock.sendall(REQUEST)
                length = 0
                while (line := reader.readline()) != b"\r\n":
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                assert reader.read(length) == b"x" * 100

    threads = [threading.Thread(target=one_client) for _ in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - started


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def measure(which: str, port: int, count: int, clients: int) -> tuple[float, float]:
    proc = subprocess.Popen([sys.executable, __file__, "--serve", which, "--port", str(port)],
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        drive(port, min(count, 2000), clients)  # warm up
        before = cpu_seconds(proc.pid)
        seconds = drive(port, count, clients)
        return count / seconds, (cpu_seconds(proc.pid) - before) / count * 1e6
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--serve", choices=("objstore", "eventlet"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.port, args.serve)
        return
    for which in ("eventlet", "objstore"):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        rate, cpu = measure(which, port, args.count, args.clients)
        print(f"{which:9} {rate:8.0f} requests/s  {cpu:6.1f} us of server CPU a request")


if __name__ == "__main__":
    main()
