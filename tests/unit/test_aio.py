"""objstore-aio without processes: ports, the files it writes, its rings, its checks."""
from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from objstore.account.server import AccountServerConfig
from objstore.aio import cli, files, processes
from objstore.aio.layout import (
    DAEMONS, DataDir, Server, check_port, plan_servers, storage_port,
)
from objstore.common.config import ConfigFile, build
from objstore.common.policies import load_cluster_config
from objstore.common.server import ServerConfig
from objstore.container.server import ContainerServerConfig
from objstore.obj.server import ObjectServerConfig
from ring import builderfile
from ring.ringfile import load_ring_data

PORT = 18080
SCHEMAS: dict[str, Any] = {"object": ObjectServerConfig, "container": ContainerServerConfig,
                           "account": AccountServerConfig}
NO_SUCH_PID = 4194304 + 7  # above Linux's highest pid_max


@pytest.fixture
def cluster(tmp_path: Path) -> tuple[DataDir, list[Server]]:
    data = DataDir(tmp_path / "aio")
    servers = plan_servers(PORT)
    files.prepare(data, servers)
    return data, servers


def storage(servers: list[Server]) -> list[Server]:
    return [server for server in servers if server.is_storage]


# -- ports -------------------------------------------------------------------------

def test_the_port_scheme() -> None:
    servers = plan_servers(8080)
    ports = {server.name: server.port for server in servers}
    assert ports["proxy-server"] == 8080
    assert (ports["object-server-1"], ports["container-server-1"],
            ports["account-server-1"]) == (9080, 9081, 9082)
    assert (ports["object-server-4"], ports["container-server-4"],
            ports["account-server-4"]) == (9110, 9111, 9112)
    assert ports["image-server"] == 9292   # Glance's port
    assert len(set(ports.values())) == len(servers) == 14
    assert {s.node for s in storage(servers)} == {1, 2, 3, 4}
    assert storage_port(8080, 2, "container") == 9091


def test_clusters_on_ports_33_apart_share_no_port() -> None:
    def ports(port: int) -> set[int]:
        return {server.port for server in plan_servers(port)}
    assert not ports(8080) & ports(8113)
    assert ports(8080) & ports(8112)
    assert not ports(8080) & ports(7047) and ports(8080) & ports(9080)


def test_the_proxy_port_must_leave_room_for_the_storage_ports() -> None:
    assert check_port(65535 - 1212) == 64323   # the image server's port fits too
    for bad in (0, 64324, 70000):
        with pytest.raises(ValueError):
            check_port(bad)


def test_arguments(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OBJSTORE_AIO_DIR", str(tmp_path / "env"))
    args = cli.parse_args([])
    assert (args.command, args.data_dir, args.port, args.detach) == (
        "start", str(tmp_path / "env"), None, False)
    args = cli.parse_args(["--port", "9000", "--detach"])
    assert (args.command, args.port, args.detach) == ("start", 9000, True)
    assert cli.parse_args(["status", "--data-dir", "x"]).data_dir == "x"
    for bad in (["--port", "65000"], ["--port", "http"], ["stop", "--port", "80"]):
        with pytest.raises(SystemExit) as exit_info:
            cli.parse_args(bad)
        assert exit_info.value.code == 2
    monkeypatch.delenv("OBJSTORE_AIO_DIR")
    assert cli.parse_args([]).data_dir == str(Path("objstore-data").absolute())


# -- the files -----------------------------------------------------------------------

def test_storage_configs_parse_without_warnings(cluster: tuple[DataDir, list[Server]]) -> None:
    data, servers = cluster
    for server in storage(servers):
        assert server.node is not None
        conf, warnings = ConfigFile(str(data.conf(server))).load(server.section,
                                                                   SCHEMAS[server.kind])
        assert warnings == []
        assert (conf.bind_ip, conf.bind_port, conf.workers) == ("127.0.0.1", server.port, 1)
        assert conf.devices == str(data.devices(server.node))
        assert conf.mount_check is False
        assert conf.cluster_conf == str(data.cluster_conf)
        assert conf.log_file == str(data.log_file(server))
        if server.kind == "container":
            assert (conf.ring_dir, conf.account_update_interval) == (str(data.rings), 1.0)


def test_the_cluster_file(cluster: tuple[DataDir, list[Server]]) -> None:
    data, _ = cluster
    conf, warnings = load_cluster_config(str(data.cluster_conf))
    assert warnings == []
    assert len(conf.hash_path_suffix) == 32 and conf.hash_path_prefix == ""
    assert [(p.index, p.name, p.is_default) for p in conf.policies] == [
        (0, "gold", True), (1, "silver", False)]


def test_the_proxy_config(cluster: tuple[DataDir, list[Server]]) -> None:
    data, servers = cluster
    proxy = cli.proxy_of(servers)
    conf = ConfigFile(str(data.conf(proxy)))
    assert conf.pipeline() == ["catch_errors", "healthcheck", "proxy_logging", "bulk",
                               "tempurl", "formpost", "ratelimit", "tempauth", "staticweb", "copy", "container_quotas",
                               "account_quotas", "slo", "dlo", "versioned_writes",
                               "object_versioning", "symlink", "proxy-server"]
    app, warnings = build(ServerConfig, conf.sections["app:proxy-server"],
                          source="proxy", section="app:proxy-server")
    assert (app.bind_port, app.workers, app.log_file) == (PORT, 1, str(data.log_file(proxy)))
    assert sorted(w.split("'")[1] for w in warnings) == [
        "account_autocreate", "allow_account_management", "cluster_conf", "ring_dir"]
    raw = conf.sections["app:proxy-server"]
    assert (raw["ring_dir"], raw["cluster_conf"], raw["account_autocreate"]) == (
        str(data.rings), str(data.cluster_conf), "true")
    auth = conf.sections["filter:tempauth"]
    assert len(auth["token_secret"]) == 64
    assert auth["reseller_prefix"] == "AUTH, SERVICE"
    assert auth["SERVICE_require_group"] == "service"  # option names keep their case


def test_the_users_of_a_swift_all_in_one(cluster: tuple[DataDir, list[Server]]) -> None:
    from objstore.proxy.users import parse_users

    data, servers = cluster
    options = ConfigFile(str(data.conf(cli.proxy_of(servers)))).sections["filter:tempauth"]
    users = {f"{a}:{u}": (user.key, set(user.groups) - {a, f"{a}:{u}"})
             for (a, u), user in parse_users(options).items()}
    assert users == {
        "test:tester": ("testing", {".admin"}),
        "test2:tester2": ("testing2", {".admin"}),
        "test:tester3": ("testing3", set()),
        "test:tester6": ("testing6", {".reseller_admin"}),
        "test5:tester5": ("testing5", {"service"}),
        "admin:admin": ("admin", {".admin", ".reseller_admin"}),
        "images:glance": ("glance", {".admin"}),
    }


def test_the_image_server_config(cluster: tuple[DataDir, list[Server]]) -> None:
    from objstore.image.config import ImageConfig
    from objstore.proxy.users import authenticate, parse_users

    data, servers = cluster
    image = next(server for server in servers if server.kind == "image")
    conf, warnings = ConfigFile(str(data.conf(image))).load(image.section, ImageConfig)
    assert warnings == []
    assert (conf.bind_port, conf.proxy_url) == (PORT + 1212, f"http://127.0.0.1:{PORT}")
    options = ConfigFile(str(data.conf(cli.proxy_of(servers)))).sections["filter:tempauth"]
    assert authenticate(parse_users(options), conf.service_user, conf.service_key)


def test_an_old_proxy_config_gets_the_image_service_user(
        cluster: tuple[DataDir, list[Server]]) -> None:
    data, servers = cluster
    proxy = data.conf(cli.proxy_of(servers))
    proxy.write_text("".join(line for line in proxy.read_text().splitlines(keepends=True)
                             if not line.startswith("user_images_glance")))
    files.prepare(data, servers)
    assert ConfigFile(str(proxy)).sections["filter:tempauth"]["user_images_glance"] == \
        "glance .admin"
    assert files.add_image_service_user(data) is False   # once is enough


def test_the_proxy_config_passes_the_proxys_own_schema(
        cluster: tuple[DataDir, list[Server]]) -> None:
    schema = getattr(pytest.importorskip("objstore.proxy.server"), "ProxyConfig", None)
    if schema is None:
        pytest.skip("the proxy has no ProxyConfig yet")
    data, servers = cluster
    _, warnings = ConfigFile(str(data.conf(cli.proxy_of(servers)))).load(
        "app:proxy-server", schema)
    assert warnings == []


def test_secrets_are_random_and_files_private(tmp_path: Path,
                                              cluster: tuple[DataDir, list[Server]]) -> None:
    data, servers = cluster
    other = DataDir(tmp_path / "other")
    files.prepare(other, servers)
    assert data.cluster_conf.read_text() != other.cluster_conf.read_text()
    assert data.cluster_conf.stat().st_mode & 0o777 == 0o600
    proxy = cli.proxy_of(servers)
    assert data.conf(proxy).stat().st_mode & 0o777 == 0o600


def test_the_rings(cluster: tuple[DataDir, list[Server]]) -> None:
    data, servers = cluster
    names = {"account": "account", "container": "container", "object": "object",
             "object-1": "object"}
    for name, kind in names.items():
        ring = load_ring_data(str(data.rings / f"{name}.ring.gz"))
        assert (ring.part_power, ring.replica_count) == (10, 3.0)
        devs = [dev for dev in ring.devs if dev is not None]
        assert sorted(dev.zone for dev in devs) == [1, 2, 3, 4]
        assert {(dev.zone, dev.ip, dev.port, dev.device) for dev in devs} == {
            (s.node, "127.0.0.1", s.port, f"sdb{s.node}") for s in servers if s.kind == kind}
        for dev in devs:
            assert (data.devices(dev.zone) / dev.device).is_dir()
        zones = {dev.id: dev.zone for dev in devs}
        for part in range(1 << ring.part_power):
            assert len({zones[row[part]] for row in ring.replica2part2dev}) == 3
        builder = builderfile.load(str(data.rings / f"{name}.builder"))
        assert (builder.part_power, builder.replicas, builder.min_part_hours) == (10, 3, 0)


def snapshot(data: DataDir) -> dict[str, bytes]:
    return {str(path.relative_to(data.root)): path.read_bytes()
            for top in (data.etc, data.rings) for path in sorted(top.iterdir())}


def test_a_second_start_keeps_everything(cluster: tuple[DataDir, list[Server]]) -> None:
    data, servers = cluster
    before = snapshot(data)
    files.prepare(data, servers)
    assert snapshot(data) == before


def test_lost_files_are_made_again(cluster: tuple[DataDir, list[Server]]) -> None:
    data, servers = cluster
    before = snapshot(data)
    (data.rings / "object-1.ring.gz").unlink()
    data.device(3).rmdir()
    assert files.build_rings(data, servers) == ["object-1"]
    assert snapshot(data) == before  # from its builder, byte for byte
    files.prepare(data, servers)
    assert data.device(3).is_dir()


def test_a_policy_added_later_gets_its_ring(cluster: tuple[DataDir, list[Server]]) -> None:
    data, servers = cluster
    with open(data.cluster_conf, "a", encoding="utf-8") as handle:
        handle.write("\n[storage-policy:2]\nname = bronze\n")
    files.prepare(data, servers)
    assert load_ring_data(str(data.rings / "object-2.ring.gz")).replica_count == 3.0


def test_configured_servers_come_from_the_configs(
        tmp_path: Path, cluster: tuple[DataDir, list[Server]]) -> None:
    data, servers = cluster
    assert files.configured_servers(DataDir(tmp_path / "none")) is None
    assert files.configured_servers(data) == servers
    conf = data.conf(servers[0])
    conf.write_text(conf.read_text().replace(f"bind_port = {servers[0].port}",
                                             "bind_port = 19999"))
    assert files.configured_servers(data)[0].port == 19999  # type: ignore[index]


# -- processes and commands, without starting any ------------------------------------

def test_a_missing_console_script_runs_the_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(processes.shutil, "which", lambda name: None)
    server = Server("object", 1, 9080)
    assert processes.command(server) == [sys.executable, "-c",
                                         "from objstore.obj.server import main; main()"]
    assert processes.available(server)  # importable, script or not


def test_pid_files_name_only_live_servers(cluster: tuple[DataDir, list[Server]]) -> None:
    data, servers = cluster
    server = servers[0]
    for text in ("", "x", "1", f"{NO_SUCH_PID}"):
        data.pid_file(server).write_text(text)
        assert processes.running_pid(data, server) is None
    data.pid_file(server).write_text(f"{processes.os.getpid()}\n")
    assert processes.read_pid(data.pid_file(server)) == processes.os.getpid()
    assert processes.running_pid(data, server) is None  # alive, but not that server
    assert not processes.group_alive(NO_SUCH_PID)


def test_start_refuses_another_port_for_a_set_up_directory(
        cluster: tuple[DataDir, list[Server]], capsys: pytest.CaptureFixture[str]) -> None:
    data, _ = cluster
    assert cli.run(["start", "--data-dir", str(data.root), "--port", str(PORT + 1)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"set up with --port {PORT}" in err


def test_stop_and_status_of_a_stopped_cluster(
        tmp_path: Path, cluster: tuple[DataDir, list[Server]],
        capsys: pytest.CaptureFixture[str]) -> None:
    data, servers = cluster
    data.pid_file(servers[0]).write_text(f"{processes.os.getpid()}\n")  # a stale pid file
    assert cli.run(["status", "--data-dir", str(data.root)]) == 1
    out = capsys.readouterr().out
    daemons = 4 * len(DAEMONS)  # each daemon on each of the 4 nodes
    assert out.count(" stopped") == 13 + daemons and out.count(" dead (see ") == 1
    assert cli.run(["stop", "--data-dir", str(data.root)]) == 0  # and we are still here
    assert "nothing runs" in capsys.readouterr().out
    assert not data.pid_file(servers[0]).exists()
    for command in ("stop", "status"):
        assert cli.run([command, "--data-dir", str(tmp_path / "none")]) == 2
        assert "no cluster under" in capsys.readouterr().err


class FakeChild:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode = None

    def poll(self) -> None:
        return None


@pytest.fixture
def handlers() -> Iterator[None]:
    saved = {signum: signal.getsignal(signum)
             for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_without_a_proxy_the_storage_servers_still_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, handlers: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    started = []

    def spawn(data: DataDir, server: Server) -> FakeChild:
        started.append(server.name)
        return FakeChild(NO_SUCH_PID)

    monkeypatch.setattr(processes, "available", lambda server: server.is_storage)
    monkeypatch.setattr(processes, "port_in_use", lambda port: False)
    monkeypatch.setattr(processes, "spawn", spawn)
    monkeypatch.setattr(processes, "answers", lambda server: True)
    data_dir = tmp_path / "aio"
    assert cli.run(["--data-dir", str(data_dir), "--port", str(PORT), "--detach"]) == 1
    assert len(started) == 12 + 4 * len(DAEMONS) and "proxy-server" not in started
    assert started[12:] == [f"{daemon}-{node}" for daemon in DAEMONS
                            for node in (1, 2, 3, 4)]  # once the servers are up
    out = capsys.readouterr().out
    assert "no proxy: objstore.proxy.server is not installed yet" in out
    assert (data_dir / "etc" / "proxy-server.conf").exists()


def test_a_port_in_use_is_one_line_and_exit_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(processes, "port_in_use", lambda port: port == PORT + 1011)
    monkeypatch.setattr(processes, "spawn", None)  # must not be reached
    assert cli.run(["--data-dir", str(tmp_path / "aio"), "--port", str(PORT)]) == 2
    assert capsys.readouterr().err == (
        f"objstore-aio: port {PORT + 1011} (container-server-2) is already in use\n")
    assert not (tmp_path / "aio").exists()  # nothing made for a cluster that cannot start
