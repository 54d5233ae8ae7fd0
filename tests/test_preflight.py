"""Bad input and unfit machines get one clear line, exit code 2, and nothing is created."""

from __future__ import annotations

import inspect
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from lab import preflight
from lab.errors import PreflightError
from lab.spec import load_spec
from tests.docker_check import docker_skip_reason


def run_cli(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "LAB_HOME": str(tmp_path / "labs"), "COLUMNS": "200", **env}
    return subprocess.run([sys.executable, "-m", "lab.cli", *args], capture_output=True, text=True,
                          env=full_env, timeout=120, cwd=tmp_path)


def assert_refused(proc: subprocess.CompletedProcess[str], *fragments: str, tmp_path: Path) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    assert not (tmp_path / "labs").exists(), "nothing may be written for a refused `up`"


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--vip", "198.18.7.7"], ["outside networks.frontend.subnet"]),
        (["--set", "networks.backend.subnet=198.18.1.0/24"], ["overlaps"]),
        (["--nodes", "2"], ["galera.nodes", "3 or more"]),
        (["--set", "galera.wsrep_sync_wiat=1"], ["unknown key", "wsrep_sync_wait"]),
        (["--set", "proxy.stats_port=6033"], ["port clash"]),
    ],
)
def test_bad_spec_refused_before_anything(args: list[str], fragments: list[str], tmp_path: Path) -> None:
    assert_refused(run_cli("up", "--project", "refused", *args, tmp_path=tmp_path), *fragments, tmp_path=tmp_path)


def test_unknown_key_in_lab_yaml(tmp_path: Path) -> None:
    (tmp_path / "lab.yaml").write_text("keepalived:\n  advert_intervall: 2\n")
    proc = run_cli("up", tmp_path=tmp_path)
    assert_refused(proc, "lab.yaml", "did you mean 'advert_interval'", tmp_path=tmp_path)


def test_engine_not_running(tmp_path: Path) -> None:
    proc = run_cli("up", "--project", "noengine", tmp_path=tmp_path, DOCKER_HOST=f"unix://{tmp_path}/no.sock")
    assert_refused(proc, "Docker engine is not running", tmp_path=tmp_path)


def test_docker_desktop_refuses_macvlan(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight, "engine_info", lambda: {"OperatingSystem": "Docker Desktop"})
    with pytest.raises(PreflightError, match="Docker Desktop"):
        preflight.check(load_spec(None, [("networks.frontend.driver", "macvlan")]))


def test_without_net_admin_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight, "engine_info", lambda: {"OperatingSystem": "Debian GNU/Linux 12"})
    monkeypatch.setattr(preflight, "has_net_admin", lambda: False)
    with pytest.raises(PreflightError, match="CAP_NET_ADMIN"):
        preflight.check(load_spec())


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv to run a check as an unprivileged user")
def test_capability_is_read_from_the_process() -> None:
    # the function's own source, run by itself: the unprivileged user may not be able to read the
    # checkout or its virtualenv (a clone in a mode-0700 temporary folder, say)
    code = (f"import os\nfrom pathlib import Path\nCAP_NET_ADMIN = {preflight.CAP_NET_ADMIN}\n"
            + inspect.getsource(preflight.has_net_admin) + "print(has_net_admin())\n")
    unprivileged = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                                   "/usr/bin/python3", "-c", code], capture_output=True, text=True, cwd="/")
    assert unprivileged.stdout.strip() == "False", unprivileged.stderr
    assert preflight.has_net_admin() is True


def test_port_in_use_is_found() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert preflight.port_free("127.0.0.1", port) is False
    assert preflight.port_free("127.0.0.1", port) is True


@pytest.mark.skipif(bool(docker_skip_reason()), reason=docker_skip_reason() or "-")
def test_subnet_taken_by_another_docker_network() -> None:
    import docker

    cli = docker.from_env()
    pool = docker.types.IPAMPool(subnet="198.18.60.0/24")
    net = cli.networks.create("preflight-clash-test", ipam=docker.types.IPAMConfig(pool_configs=[pool]))
    try:
        spec = load_spec(None, [("project", "clash"), ("networks.backend.subnet", "198.18.60.0/24"),
                                ("networks.frontend.subnet", "198.18.61.0/24"), ("keepalived.vip", "198.18.61.100")])
        with pytest.raises(PreflightError, match="overlaps Docker network 'preflight-clash-test'"):
            preflight.check_subnets(spec, cli)
    finally:
        net.remove()
