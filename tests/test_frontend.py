"""The frontend's two modes without Docker: the driver setting and its checks, `auto`'s choice
from the engine's OperatingSystem, and what a bridge plan renders (parsed as Compose reads it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from lab import frontend
from lab.errors import SpecError
from lab.plan import Plan, choose_frontend, resolve
from lab.render import render
from lab.spec import load_spec
from tests.conftest import make_plan
from tests.docker_check import docker_skip_reason

DESKTOP_OS = "Docker Desktop"
LINUX_OS = "Debian GNU/Linux 12 (bookworm)"
BRIDGE = [("networks.frontend.driver", "bridge")]


# ---- the setting and its checks ----

def test_bad_driver_value_is_one_clear_line() -> None:
    with pytest.raises(SpecError) as err:
        load_spec(None, [("networks.frontend.driver", "ipvlan")])
    msg = str(err.value)
    assert msg == ("command line: networks.frontend.driver: 'ipvlan' refused: input should be 'auto', "
                   "'macvlan' or 'bridge'")


def test_default_is_auto_and_bridge_needs_no_parent() -> None:
    assert load_spec().networks.frontend.driver == "auto"
    spec = load_spec(None, BRIDGE)
    assert spec.networks.frontend.parent is None and spec.networks.frontend.driver == "bridge"


@pytest.mark.parametrize("key, value, words", [
    ("networks.frontend.parent", "eth1", "networks.frontend.parent is set, but a bridge frontend has no host parent link"),
    ("networks.frontend.shim_address", "198.18.1.250", "networks.frontend.shim_address is set, but a bridge frontend "
                                                       "has no host shim link"),
])
def test_macvlan_only_settings_are_refused_with_a_bridge(key: str, value: str, words: str) -> None:
    with pytest.raises(SpecError, match=words):
        load_spec(None, BRIDGE + [(key, value)])
    assert getattr(load_spec(None, [("networks.frontend.driver", "macvlan"), (key, value)]).networks.frontend,
                   key.rsplit(".", 1)[1]) is not None, "the same setting is fine with macvlan"


def test_auto_picking_bridge_refuses_a_parent_too() -> None:
    spec = load_spec(None, [("networks.frontend.parent", "eth1")])
    with pytest.raises(SpecError, match=r"driver auto picked bridge \(the engine is Docker Desktop.*parent is set"):
        choose_frontend(spec, lambda: DESKTOP_OS)
    assert choose_frontend(spec, lambda: LINUX_OS).kind == "macvlan"


def test_vip_on_the_forwarder_address_is_refused_only_with_a_bridge() -> None:
    with pytest.raises(SpecError, match="is the VIP forwarder's address"):
        load_spec(None, BRIDGE + [("keepalived.vip", "198.18.1.40")])
    assert str(load_spec(None, [("keepalived.vip", "198.18.1.40")]).keepalived.vip) == "198.18.1.40"


@pytest.mark.parametrize("changes, words", [
    ([("networks.frontend.forward_port", 8080)], "networks.frontend.forward_port and app.http_port are both 8080"),
    ([("networks.frontend.forward_reader_port", 16033)], "forward_port and forward_reader_port are both 16033"),
    ([("networks.frontend.forward_port", 70000)], "70000 refused: input should be less than or equal to 65535"),
    ([("networks.frontend.forward_port", "x")], "'x' refused: input should be a valid integer"),
])
def test_forward_ports_are_validated(changes: list[tuple[str, object]], words: str) -> None:
    with pytest.raises(SpecError, match=words):
        load_spec(None, changes)


# ---- auto ----

@pytest.mark.parametrize("os_name, driver, words", [
    (DESKTOP_OS, "bridge", "the engine is Docker Desktop"),
    (LINUX_OS, "macvlan", f"the engine runs on {LINUX_OS}"),
    (None, "macvlan", "no Docker engine answered"),
])
def test_auto_decides_from_the_engine(os_name: str | None, driver: str, words: str) -> None:
    choice = choose_frontend(load_spec(), lambda: os_name)
    assert choice.kind == driver and words in choice.reason


def test_a_set_driver_wins_over_the_engine() -> None:
    assert choose_frontend(load_spec(None, BRIDGE), lambda: LINUX_OS).kind == "bridge"
    assert choose_frontend(load_spec(None, [("networks.frontend.driver", "macvlan")]), lambda: DESKTOP_OS).kind == "macvlan"


def test_plan_keeps_the_driver_and_reads_old_plans_as_macvlan() -> None:
    plan, choices = resolve(load_spec(None, BRIDGE), present=lambda tag: False, os_name=lambda: LINUX_OS)
    assert [c.kind for c in choices][2:] == ["bridge", "direct"]
    again = Plan.from_json(plan.to_json())
    assert again == plan and again.bridge
    old = plan.to_json().replace('"frontend_driver": "bridge",', "")
    assert '"frontend_driver"' not in old and Plan.from_json(old).frontend_driver == "macvlan"


# ---- what a bridge plan renders ----

@pytest.mark.parametrize("proxy_kind, published", [
    ("haproxy", ["127.0.0.1:16033:6033", "127.0.0.1:16034:6034"]),
    ("proxysql", ["127.0.0.1:16033:6033"]),
])
def test_bridge_renders_a_bridge_network_and_a_loopback_forwarder(tmp_path: Path, proxy_kind: str,
                                                                  published: list[str]) -> None:
    plan = make_plan(load_spec(None, BRIDGE), proxy_kind)
    render(plan, tmp_path)
    doc = yaml.safe_load((tmp_path / "compose.yaml").read_text())
    fe = doc["networks"]["frontend"]
    assert fe["driver"] == "bridge" and "driver_opts" not in fe
    assert fe["ipam"]["config"] == [{"subnet": "198.18.1.0/24", "gateway": "198.18.1.254"}]
    assert "macvlan" not in (tmp_path / "compose.yaml").read_text()
    fwd = doc["services"][frontend.FORWARDER]
    assert fwd["ports"] == published
    assert fwd["networks"] == {"frontend": {"ipv4_address": "198.18.1.40"}}
    assert fwd["entrypoint"][:2] == ["sh", "-c"]
    socats = [part.strip().removeprefix("exec ") for part in fwd["entrypoint"][2].split("&")]
    assert socats == [f"socat TCP-LISTEN:{p},fork,reuseaddr TCP:198.18.1.100:{p},connect-timeout=2"
                      for p in (6033, 6034)[:len(published)]]
    # nothing else is published: the app's HTTP port, and the forwarder on loopback only
    ports = [p for s in doc["services"].values() for p in s.get("ports", [])]
    assert sorted(ports) == sorted(published + ["127.0.0.1:8080:80"])


def test_macvlan_renders_no_forwarder(tmp_path: Path) -> None:
    render(make_plan(load_spec()), tmp_path)
    doc = yaml.safe_load((tmp_path / "compose.yaml").read_text())
    assert frontend.FORWARDER not in doc["services"]
    assert doc["networks"]["frontend"]["driver"] == "macvlan"


@pytest.mark.skipif(subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0
                    if shutil.which("docker") else True,
                    reason="needs the Docker Compose CLI plugin (`docker compose`) to validate compose.yaml")
@pytest.mark.parametrize("proxy_kind", ["haproxy", "proxysql"])
def test_docker_compose_accepts_the_bridge_file(tmp_path: Path, proxy_kind: str) -> None:
    render(make_plan(load_spec(None, BRIDGE), proxy_kind), tmp_path)
    proc = subprocess.run(["docker", "compose", "-f", str(tmp_path / "compose.yaml"), "config", "--format", "json"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    config = yaml.safe_load(proc.stdout)
    assert config["networks"]["frontend"]["driver"] == "bridge"
    published = [(p["host_ip"], p["published"]) for p in config["services"][frontend.FORWARDER]["ports"]]
    assert all(ip == "127.0.0.1" for ip, _ in published) and published


# ---- what `up` and `status` say ----

def test_mode_line_says_what_differs() -> None:
    bridge = make_plan(load_spec(None, BRIDGE))
    line = frontend.mode_line(bridge, DESKTOP_OS)
    assert line.startswith("frontend: Docker bridge network")
    assert "127.0.0.1:16033 → 198.18.1.100:6033, 127.0.0.1:16034 → 198.18.1.100:6034" in line
    assert "also includes its reconnect" in line and "routes to the bridge" not in line
    assert "this Linux host also routes to the bridge (gateway 198.18.1.254)" in frontend.mode_line(bridge, LINUX_OS)
    mac = frontend.mode_line(make_plan(load_spec()), LINUX_OS)
    assert mac.startswith("frontend: macvlan on host bridge glb-galera-lab") and "gls-galera-lab" in mac
    assert "\n" not in line + mac


# ---- preflight on Docker Desktop (its `docker info` stood in for: no Docker Desktop here) ----

def test_up_on_docker_desktop_refuses_macvlan_and_direct_reach(monkeypatch: pytest.MonkeyPatch) -> None:
    from lab import preflight
    from lab.errors import PreflightError

    monkeypatch.setattr(preflight, "engine_info", lambda: {"OperatingSystem": DESKTOP_OS})
    for sets, words in (([("networks.frontend.driver", "macvlan")], "a macvlan frontend there can't reach this host"),
                        ([("networks.frontend.driver", "bridge"), ("networks.frontend.host_reach", "direct")],
                         "host_reach: direct, but Docker Desktop")):
        with pytest.raises(PreflightError) as err:
            preflight.check(load_spec(None, sets))
        assert words in str(err.value) and "\n" not in str(err.value)


@pytest.mark.skipif(bool(docker_skip_reason()), reason=docker_skip_reason() or "-")
@pytest.mark.parametrize("driver", ["auto", "bridge"])
def test_up_on_docker_desktop_passes_preflight_with_published_reach(monkeypatch: pytest.MonkeyPatch, driver: str) -> None:
    """The engine here is Linux; its `docker info` says Docker Desktop, and the real subnet and
    port checks run against it (with the bridge suite's ranges, so no other lab's clash)."""
    from lab import preflight
    from lab.isolation import SUITES

    monkeypatch.setattr(preflight, "engine_info", lambda: {"OperatingSystem": DESKTOP_OS})
    spec = load_spec(None, SUITES["bridge"].overrides() + [("project", "reach-preflight"),
                                                          ("networks.frontend.driver", driver),
                                                          ("networks.frontend.reach_port_base", 48120)])
    preflight.check(spec)
