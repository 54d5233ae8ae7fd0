"""Rendered files, parsed as the programs that read them would parse them (never grepped)."""

from __future__ import annotations

import configparser
import filecmp
import shutil
import stat
import subprocess
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import libconf
import pytest
import yaml

from lab.render import SECRET_NAMES, render
from lab.spec import load_spec
from tests.conftest import make_plan
from tests.parsers import parse_haproxy, parse_keepalived


def block(tree: list[Any], keyword: str) -> list[Any]:
    return next(item[-1] for item in tree if item[0] == keyword)


def test_compose_services_and_networks(rendered: tuple[Any, Path]) -> None:
    plan, stack = rendered
    doc = yaml.safe_load((stack / "compose.yaml").read_text())
    spec = plan.spec
    assert doc["name"] == spec.project
    services = doc["services"]
    assert set(services) == {"node1", "node2", "node3", "proxy1", "proxy2", "keepalived1", "keepalived2", "app"}
    for i, node in enumerate(spec.node_names, 1):
        s = services[node]
        assert s["networks"]["backend"]["ipv4_address"] == f"198.18.0.{10 + i}"
        assert s["environment"]["GALERA_NODE_NAME"] == node
        assert f"{node}-data:/var/lib/mysql" in s["volumes"]
    k = services["keepalived1"]
    assert k["network_mode"] == "service:proxy1"
    assert {"NET_ADMIN", "NET_BROADCAST", "NET_RAW"} <= set(k["cap_add"])
    fe = doc["networks"]["frontend"]
    assert fe["driver"] == "macvlan" and fe["driver_opts"]["parent"] == spec.parent_bridge
    assert doc["networks"]["backend"]["ipam"]["config"][0]["subnet"] == "198.18.0.0/24"
    assert services["app"]["ports"] == ["127.0.0.1:8080:80"]
    # no admin or stats port is published
    assert all("ports" not in s for name, s in services.items() if name != "app")


def test_galera_config_per_node(rendered: tuple[Any, Path]) -> None:
    plan, stack = rendered
    for node in plan.spec.node_names:
        cp = configparser.ConfigParser(allow_no_value=True, strict=True)
        text = (stack / "galera" / f"{node}.cnf").read_text()
        cp.read_string("\n".join(ln for ln in text.splitlines() if not ln.startswith("!")))
        m = cp["mysqld"]
        assert m["wsrep_node_name"] == node
        assert m["wsrep_node_address"] == str(plan.spec.node_address(node))
        assert m["wsrep_cluster_address"] == "gcomm://198.18.0.11,198.18.0.12,198.18.0.13"
        assert m["innodb_autoinc_lock_mode"] == "2" and m["binlog_format"] == "ROW"
        donors = {"node1": "node3,node2,", "node2": "node3,", "node3": "node2,"}[node]
        assert m["wsrep_sst_donor"] == donors, "readers donate first, the writer (node1) last"
        opts = dict(kv.split("=") for kv in m["wsrep_provider_options"].strip('"').split(";"))
        assert opts == {"gcache.size": "64M", "evs.suspect_timeout": "PT5S"}


def test_haproxy_writer_and_readers(tmp_path: Path) -> None:
    plan = make_plan(load_spec(), "haproxy")
    render(plan, tmp_path)
    cfg = parse_haproxy((tmp_path / "haproxy" / "haproxy.cfg").read_text())
    writer = cfg["listen galera-writer"]
    servers = [d for d in writer if d[0] == "server"]
    assert [s[1] for s in servers] == ["node1", "node2", "node3"]
    assert "backup" not in servers[0] and all("backup" in s for s in servers[1:])
    assert ["bind", "*:6033"] in writer
    assert ["option", "httpchk", "GET", "/"] in writer and ["http-check", "expect", "status", "200"] in writer
    defaults = next(d for d in writer if d[0] == "default-server")
    assert defaults[defaults.index("port") + 1] == "9200"
    reader = cfg["listen galera-reader"]
    rservers = {d[1]: d for d in reader if d[0] == "server"}
    assert "backup" in rservers["node1"] and "backup" not in rservers["node2"]
    assert ["bind", "*:6034"] in reader
    # one health check per node: the reader listener follows the writer listener's checks
    for node, server in rservers.items():
        assert server[server.index("track") + 1] == f"galera-writer/{node}" and "check" not in server


def test_proxysql_config(tmp_path: Path) -> None:
    plan = make_plan(load_spec(), "proxysql")
    render(plan, tmp_path)
    cfg = libconf.loads((tmp_path / "secrets" / "proxysql.cnf").read_text())
    secrets = dict(ln.split("=", 1) for ln in (tmp_path / "secrets.env").read_text().splitlines() if "=" in ln)
    hg = cfg["mysql_galera_hostgroups"][0]
    assert (hg["writer_hostgroup"], hg["backup_writer_hostgroup"], hg["reader_hostgroup"], hg["offline_hostgroup"]) == (10, 20, 30, 9999)
    assert hg["max_writers"] == 1 and hg["writer_is_also_reader"] == 2
    servers = cfg["mysql_servers"]
    assert [s["address"] for s in servers] == ["198.18.0.11", "198.18.0.12", "198.18.0.13"]
    assert servers[0]["weight"] > servers[1]["weight"] > servers[2]["weight"]
    rules = sorted(cfg["mysql_query_rules"], key=lambda r: r["rule_id"])
    assert rules[0]["match_digest"] == "^SELECT.*FOR UPDATE" and rules[0]["destination_hostgroup"] == 10
    assert rules[1]["match_digest"] == "^SELECT" and rules[1]["destination_hostgroup"] == 30
    users = {u["username"]: u for u in cfg["mysql_users"]}
    assert users["chamilo"]["password"] == secrets["APP_PASSWORD"] and users["chamilo"]["default_hostgroup"] == 10
    admin = cfg["admin_variables"]
    creds = dict(c.split(":") for c in admin["admin_credentials"].split(";"))
    assert creds["radmin"] == secrets["PROXYSQL_ADMIN_PASSWORD"]
    assert creds[admin["cluster_username"]] == admin["cluster_password"] == secrets["PROXYSQL_CLUSTER_PASSWORD"]
    assert cfg["mysql_variables"]["monitor_username"] == "monitor"
    assert [s["hostname"] for s in cfg["proxysql_servers"]] == ["198.18.0.21", "198.18.0.22"]


def test_keepalived_per_proxy(rendered: tuple[Any, Path]) -> None:
    plan, stack = rendered
    priorities = []
    for proxy in plan.spec.proxy_names:
        tree = parse_keepalived((stack / "keepalived" / f"{proxy}.conf").read_text())
        inst = next(item[-1] for item in tree if item[0] == "vrrp_instance")
        kv = {item[0]: item[1:] for item in inst if not isinstance(item[-1], list)}
        assert kv["virtual_router_id"] == ["51"] and kv["advert_int"] == ["1"]
        assert kv["unicast_src_ip"] == [str(plan.spec.proxy_frontend_address(proxy))]
        peers = [p[0] for p in block(inst, "unicast_peer")]
        assert peers == [str(plan.spec.proxy_frontend_address(p)) for p in plan.spec.proxy_names if p != proxy]
        vip = block(inst, "virtual_ipaddress")[0]
        assert IPv4Address(vip[0].split("/")[0]) == plan.spec.keepalived.vip
        assert block(inst, "track_script") == [["check_proxy"]]
        script = next(item[-1] for item in tree if item[0] == "vrrp_script")
        assert ["script", '"/usr/local/bin/check-proxy', '6033"'] in script
        priorities.append(int(kv["priority"][0]))
    assert priorities == sorted(priorities, reverse=True) and len(set(priorities)) == len(priorities)


def test_vrrp3_centisecond_adverts(tmp_path: Path) -> None:
    spec = load_spec(None, [("keepalived.vrrp_version", 3), ("keepalived.advert_interval", 0.25)])
    render(make_plan(spec), tmp_path)
    tree = parse_keepalived((tmp_path / "keepalived" / "proxy1.conf").read_text())
    assert ["vrrp_version", "3"] in block(tree, "global_defs")
    inst = next(item[-1] for item in tree if item[0] == "vrrp_instance")
    assert ["advert_int", "0.25"] in inst


def test_secrets_are_private_and_reused(rendered: tuple[Any, Path]) -> None:
    plan, stack = rendered
    env = (stack / "secrets.env").read_text()
    values = dict(ln.split("=", 1) for ln in env.splitlines() if "=" in ln)
    assert set(values) == set(SECRET_NAMES) and len(set(values.values())) == len(SECRET_NAMES)
    assert all(len(v) >= 20 for v in values.values())
    for path in [stack / "secrets.env", *(stack / "secrets").iterdir()]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    init = (stack / "secrets" / "init.sql").read_text()
    assert f"IDENTIFIED BY '{values['LAB_ADMIN_PASSWORD']}'" in init
    assert render(plan, stack) == [], "a second render of the same plan changes nothing"


def test_same_spec_renders_byte_identical(tmp_path: Path) -> None:
    plan = make_plan(load_spec(), "haproxy")
    render(plan, tmp_path / "a")
    shutil.copy(tmp_path / "a" / "secrets.env", tmp_path / "secrets.env")
    (tmp_path / "b").mkdir()
    shutil.copy(tmp_path / "secrets.env", tmp_path / "b" / "secrets.env")
    render(plan, tmp_path / "b")
    cmp = filecmp.dircmp(tmp_path / "a", tmp_path / "b")
    assert not cmp.diff_files and not cmp.left_only and not cmp.right_only
    for sub in ("galera", "keepalived", "haproxy", "secrets"):
        assert not filecmp.dircmp(tmp_path / "a" / sub, tmp_path / "b" / sub).diff_files


def test_switching_tier_removes_the_other_tiers_files(tmp_path: Path) -> None:
    spec = load_spec()
    render(make_plan(spec, "proxysql"), tmp_path)
    changed = render(make_plan(spec, "haproxy"), tmp_path)
    assert "secrets/proxysql.cnf" in changed and not (tmp_path / "secrets" / "proxysql.cnf").exists()


@pytest.mark.skipif(subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0
                    if shutil.which("docker") else True,
                    reason="needs the Docker Compose CLI plugin (`docker compose`) to validate compose.yaml")
def test_docker_compose_accepts_the_file(rendered: tuple[Any, Path]) -> None:
    _, stack = rendered
    proc = subprocess.run(["docker", "compose", "-f", str(stack / "compose.yaml"), "config", "-q"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_chamilo_app_mounts_its_configuration(tmp_path: Path) -> None:
    render(make_plan(load_spec(), "haproxy", "chamilo"), tmp_path)
    app = yaml.safe_load((tmp_path / "compose.yaml").read_text())["services"]["app"]
    assert "./secrets/chamilo-configuration.php:/etc/lab-app/configuration.php.in:ro" in app["volumes"]
    assert "./secrets/chamilo-install.json:/etc/lab-app/chamilo-install.json:ro" in app["volumes"]
    assert not (tmp_path / "secrets" / "app-config.php").exists()
    assert stat.S_IMODE((tmp_path / "secrets" / "chamilo-configuration.php").stat().st_mode) == 0o600


def test_datadir_tmpfs_mounts_a_size_limited_tmpfs_for_that_node_only(tmp_path: Path) -> None:
    """galera.datadir_tmpfs (the full-disk scenario's node): a tmpfs volume of that size instead
    of the named volume, which stays declared so that the node gets its own data back after."""
    plan = make_plan(load_spec(None, [("galera.datadir_tmpfs", {"node3": "256M"})]))
    render(plan, tmp_path)
    doc = yaml.safe_load((tmp_path / "compose.yaml").read_text())
    assert "node3-tmpfs:/var/lib/mysql" in doc["services"]["node3"]["volumes"]
    assert "node2-data:/var/lib/mysql" in doc["services"]["node2"]["volumes"]
    volume = doc["volumes"]["node3-tmpfs"]
    assert volume["name"] == "galera-lab-node3-tmpfs" and volume["labels"] == {"galera-lab.project": "galera-lab"}
    assert volume["driver_opts"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=256M"}
    assert "node3-data" in doc["volumes"]


def _mysqld(stack: Path, node: str = "node1") -> configparser.SectionProxy:
    cp = configparser.ConfigParser(allow_no_value=True, strict=True)
    text = (stack / "galera" / f"{node}.cnf").read_text()
    cp.read_string("\n".join(ln for ln in text.splitlines() if not ln.startswith("!")))
    return cp["mysqld"]


@pytest.mark.parametrize("version", ["10.11", "11.8"])
def test_galera_config_per_version(tmp_path: Path, version: str) -> None:
    """The same options on both series (each series' mariadbd accepts them: tests/test_versions.py),
    the provider where Debian's galera-4 puts it on both releases; the image is the version's."""
    plan = make_plan(load_spec(None, [("galera.version", version)]), "proxysql")
    render(plan, tmp_path)
    m = _mysqld(tmp_path)
    assert m["wsrep_provider"] == "/usr/lib/galera/libgalera_smm.so" and m["wsrep_sst_method"] == "rsync"
    assert "innodb_snapshot_isolation" not in m, "unset: the server's own default"
    debian = {"10.11": "bookworm", "11.8": "trixie"}[version]
    assert plan.images["mariadb"].endswith(f"/mariadb:{version}-{debian}")
    proxysql = libconf.loads((tmp_path / "secrets" / "proxysql.cnf").read_text())
    assert proxysql["mysql_variables"]["server_version"] == f"{version}.0-MariaDB"


@pytest.mark.parametrize(("value", "rendered_as"), [(True, "ON"), (False, "OFF")])
def test_snapshot_isolation_rendered_when_set(tmp_path: Path, value: bool, rendered_as: str) -> None:
    spec = load_spec(None, [("galera.version", "11.8"), ("galera.innodb_snapshot_isolation", value)])
    render(make_plan(spec), tmp_path)
    assert all(_mysqld(tmp_path, node)["innodb_snapshot_isolation"] == rendered_as for node in spec.node_names)
