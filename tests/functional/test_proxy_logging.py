"""proxy_logging in a real cluster: the proxy's log has one line per request."""
from __future__ import annotations

import http.client
import os
import socket
from pathlib import Path

from .cluster import Cluster, raw, token
from .test_server_runtime import free_port, wait_until

ACCESS = " objstore.proxy-server.proxy-access["


def access_lines(cluster: Cluster, trans_id: str) -> list[list[str]]:
    """The access lines of one transaction, split into their fields."""
    text = (cluster.root / "log" / "proxy.log").read_text(encoding="utf-8")
    found = [line.split(" INFO: ", 1)[1].split(" ") for line in text.splitlines()
             if ACCESS in line]
    return [fields for fields in found if fields[13] == trans_id]


def logged(cluster: Cluster, trans_id: str) -> list[str]:
    found: list[list[str]] = wait_until(lambda: access_lines(cluster, trans_id))
    (fields,) = found
    assert len(fields) == 21
    return fields


def leave_mid_body(cluster: Cluster, path: str, auth: str) -> str:
    """GET ``path``, read a little, hang up; the response's transaction id."""
    conn = http.client.HTTPConnection("127.0.0.1", cluster.ports["proxy"], timeout=30)
    conn.request("GET", path, headers={"X-Auth-Token": auth})
    response = conn.getresponse()
    response.read(1024)
    trans_id = response.getheader("X-Trans-Id") or ""
    assert conn.sock is not None
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
    conn.close()  # with unread data and no linger: a reset, as a client that died
    return trans_id


def test_put_get_and_a_client_that_leaves_are_logged(cluster: Cluster) -> None:
    auth, url = token(cluster)
    account = "/" + url.split("/", 3)[3]
    headers = {"X-Auth-Token": auth, "User-Agent": "functional test"}
    assert raw(cluster, "PUT", f"{account}/logs", headers=headers)[0] == 201
    data = os.urandom(24 * 1024 * 1024)  # more than the socket buffers hold
    path = f"{account}/logs/my%20obj"
    put_status, put_headers, _ = raw(cluster, "PUT", path, data, headers)
    get_status, get_headers, body = raw(cluster, "GET", path, headers=headers)
    assert (put_status, get_status, body == data) == (201, 200, True)

    put = logged(cluster, put_headers["X-Trans-Id"])
    assert put[3:7] == ["PUT", path, "HTTP/1.1", "201"]  # the version the client spoke
    assert put[0:2] == ["127.0.0.1", "127.0.0.1"] and put[8] == "functional%20test"
    assert put[9] == auth[:16] + "..." and put[10:12] == [str(len(data)), "0"]
    assert put[20] == "0"  # the gold policy's index
    text = (cluster.root / "log" / "proxy.log").read_text(encoding="utf-8")
    assert text.count(put_headers["X-Trans-Id"]) == 1  # one line, not one per layer
    get = logged(cluster, get_headers["X-Trans-Id"])
    assert get[3:7] == ["GET", path, "HTTP/1.1", "200"] and get[10:12] == ["0", str(len(data))]

    gone = logged(cluster, leave_mid_body(cluster, path, auth))
    assert gone[3:7] == ["GET", path, "HTTP/1.1", "499"]
    assert 1024 <= int(gone[11]) < len(data)


def test_a_bad_filter_option_stops_start_up(tmp_path: Path) -> None:
    import subprocess

    from .cluster import command

    conf = tmp_path / "proxy.conf"
    conf.write_text("[pipeline:main]\npipeline = proxy_logging proxy-server\n"
                    "[filter:proxy_logging]\nreveal_sensitive_prefix = lots\n"
                    f"[app:proxy-server]\nbind_port = {free_port()}\nworkers = 1\n"
                    f"ring_dir = {tmp_path}\ncluster_conf = {tmp_path / 'none.conf'}\n")
    result = subprocess.run([*command("proxy-server"), str(conf)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "filter:proxy_logging" in result.stderr and "reveal_sensitive_prefix" in \
        result.stderr
