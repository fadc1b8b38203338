"""objstore-aio's daemons without processes: their config sections, their nodes' devices."""
from __future__ import annotations

from pathlib import Path

import pytest

from objstore.aio import cli, files
from objstore.aio.layout import (
    DAEMONS, DataDir, DaemonProcess, Server, plan_daemons, plan_servers,
)
from objstore.daemons.local_devices import local_devices
from objstore.daemons.runner import load_daemon_config
from objstore.obj.auditor import ObjectAuditor
from ring.ring import Ring

PORT = 18180


@pytest.fixture
def cluster(tmp_path: Path) -> tuple[DataDir, list[Server]]:
    data = DataDir(tmp_path / "aio")
    servers = plan_servers(PORT)
    files.prepare(data, servers)
    return data, servers


def test_every_node_runs_each_daemon_on_its_own_device(
        cluster: tuple[DataDir, list[Server]]) -> None:
    data, servers = cluster
    daemons = plan_daemons(servers)
    assert sorted(daemon.name for daemon in daemons) == sorted(
        f"{name}-{n}" for name in DAEMONS for n in (1, 2, 3, 4))
    rings = [Ring(str(data.rings / f"{name}.ring.gz")) for name in ("object", "object-1")]
    for daemon in daemons:
        if daemon.daemon != "object-auditor":
            continue
        conf_path = data.conf(daemon)
        assert conf_path == data.etc / f"object-server-{daemon.node}.conf"
        conf, warnings = load_daemon_config(str(conf_path), ObjectAuditor)
        assert warnings == []
        assert (conf.ring_dir, conf.recon_cache_path) == (str(data.rings),
                                                         str(data.recon(daemon.node)))
        assert (conf.interval, conf.files_per_second) == (60.0, 100.0)
        assert conf.devices == str(data.devices(daemon.node)) and conf.mount_check is False
        assert local_devices(rings, conf.bind_ip, conf.bind_port) == [f"sdb{daemon.node}"]


def test_a_directory_set_up_before_the_daemons_gets_their_sections(
        cluster: tuple[DataDir, list[Server]]) -> None:
    data, servers = cluster
    server = servers[0]
    conf_path = data.conf(server)
    text = conf_path.read_text()
    old = text[:text.index("\n[object-auditor]")] + "\n"
    conf_path.write_text(old)
    assert files.add_daemon_sections(data, server) == [
        name for name, (kind, _) in DAEMONS.items() if kind == server.kind]
    assert conf_path.read_text() == text and conf_path.stat().st_mode & 0o777 == 0o600
    assert files.add_daemon_sections(data, server) == []
    files.prepare(data, servers)
    assert conf_path.read_text() == text
    container = next(s for s in servers if s.kind == "container")
    assert files.add_daemon_sections(data, container) == []


def test_once_names_known_daemons(cluster: tuple[DataDir, list[Server]],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    data, _ = cluster
    args = cli.parse_args(["once", "--data-dir", str(data.root), "object-auditor"])
    assert (args.command, args.daemons) == ("once", ["object-auditor"])
    assert cli.parse_args(["once"]).daemons == []
    assert cli.run(["once", "--data-dir", str(data.root), "object-reaper"]) == 2
    assert capsys.readouterr().err == \
        f"objstore-aio: no daemon 'object-reaper' (there are: {', '.join(DAEMONS)})\n"


def test_a_pass_summary_comes_from_the_recon(cluster: tuple[DataDir, list[Server]]) -> None:
    from objstore.daemons.recon import ReconCache

    data, _ = cluster
    daemon = DaemonProcess("object-auditor", 2)
    assert cli.pass_summary(data, daemon, 2) == (
        f"objstore-aio: object-auditor-2: exit status 2 (see {data.log_file(daemon)})")
    ReconCache(str(data.recon(2)), "object").record_pass(
        "object-auditor", 5.0, 6.5, True, {"files": 3, "quarantined": 1}, ["sdb2"])
    assert cli.pass_summary(data, daemon, 0) == (
        "objstore-aio: object-auditor-2: 3 files, 1 quarantined in 1.50 s")
