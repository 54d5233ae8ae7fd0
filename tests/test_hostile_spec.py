"""Hostile and careless specs (issue 10): refused in one line, or rendered into files that parse
with each file's own reader and hold exactly the values given, nothing else.

Property-based over the whole spec: every leaf key gets either a value from its grammar, a
near miss (a valid value with a newline, quote, `;`, `$` … appended) or arbitrary nested data.
Seeded (`derandomize`) and bounded, so `make test` stays under a minute and repeats itself.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import libconf
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from lab import chamilo
from lab.errors import SpecError
from lab.render import rendered_files
from lab.spec import LabSpec, load_spec
from tests.conftest import make_plan
from tests.parsers import (compose_unescape, galera_provider_options, parse_haproxy, parse_keepalived,
                           read_option_file)

PHP = shutil.which("php")
# passwords as a hand-edited secrets.env could hold them (minus : and ;, which render refuses)
SECRETS = {name: f"pw-{name}'\"\\$#{{}}<?php x\ny" for name in
           ("LAB_ADMIN_PASSWORD", "APP_PASSWORD", "MONITOR_PASSWORD", "SST_PASSWORD",
            "PROXYSQL_ADMIN_PASSWORD", "PROXYSQL_CLUSTER_PASSWORD")}
NASTY = st.sampled_from(["\n", "\nskip-grant-tables", '"', "'", ";", "$HOME", "#", " ", "\\", "\x00", "é", "}", "?>"])
ANYTHING = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6)


def _leaf(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A key's value: mostly valid, else a near miss of a valid one, else anything at all."""
    near = st.tuples(valid.map(str), NASTY, st.text(max_size=4)).map("".join)
    return st.one_of(valid, valid, near, ANYTHING)


def _rx(pattern: str) -> st.SearchStrategy[str]:
    return st.from_regex(pattern, fullmatch=True)


IP = st.integers(0, 255).map(lambda i: f"198.18.{i // 64}.{i}")
LEAVES: dict[str, st.SearchStrategy[Any]] = {
    "project": _rx(r"[a-z0-9][a-z0-9_-]{0,12}"),
    "galera.nodes": st.integers(1, 10),
    "galera.version": st.sampled_from(["10.11", "11.8", 11.8]),
    "galera.source": st.sampled_from(["debian", "official"]),
    "galera.innodb_snapshot_isolation": st.sampled_from([None, True, False]),
    "galera.official_image": _rx(r"[a-z0-9]{1,6}(/[a-z0-9]{1,6})?(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,8})?"),
    "galera.wsrep_sync_wait": st.integers(-1, 16),
    "galera.sst_method": st.sampled_from(["rsync", "mariabackup"]),
    "galera.provider_options": st.dictionaries(_rx(r"[a-z]{1,5}\.[a-z_]{1,8}"),
                                               _leaf(_rx(r"[A-Za-z0-9_.:/,+@-]{1,10}") | st.integers(0, 999)),
                                               max_size=4),
    "galera.innodb_flush_log_at_trx_commit": st.integers(0, 3),
    "galera.innodb_buffer_pool_size": _rx(r"[1-9][0-9]{0,4}[KMG]?") | st.integers(1, 10**9),
    "proxy.count": st.integers(1, 10),
    "proxy.proxysql_source": st.sampled_from(["package", "official", "deb", "image"]),
    "proxy.proxysql_version": _rx(r"[0-9]\.[0-9]\.[0-9]{1,2}"),
    "proxy.proxysql_image": _rx(r"[a-z0-9]{1,6}(/[a-z0-9]{1,6})?(:[a-z0-9.]{1,6})?"),
    "proxy.proxysql_deb": _rx(r"/[a-z]{1,6}/proxysql_[0-9.]{1,6}\.deb"),
    "proxy.proxysql_connection_reset": st.sampled_from(["close", "change-user"]),
    "proxy.sql_port": st.integers(1, 65535),
    "proxy.admin_port": st.integers(1, 65535),
    "proxy.monitor_interval_ms": st.integers(50, 70000),
    "proxy.writer_is_reader": st.booleans(),
    "keepalived.vip": IP,
    "keepalived.virtual_router_id": st.integers(0, 256),
    "keepalived.advert_interval": st.sampled_from([0.25, 1, 2, 1.5]),
    "keepalived.vrrp_version": st.sampled_from([2, 3]),
    "networks.frontend.parent": _rx(r"[a-z0-9_-]{1,15}"),
    "networks.frontend.shim_address": IP,
    "networks.frontend.driver": st.sampled_from(["auto", "macvlan", "bridge"]),
    "networks.frontend.forward_port": st.integers(1, 65535),
    "app.http_port": st.integers(1, 65535),
    "app.bind": st.sampled_from(["127.0.0.1", "0.0.0.0", "198.18.1.1"]),
    "app.chamilo_version": _rx(r"1\.11\.[0-9]{1,2}"),
    "app.chamilo_archive": _rx(r"/[a-z]{1,6}/chamilo\.(tar\.gz|zip)"),
    "app.chamilo_sha256": _rx(r"[0-9a-f]{64}"),
    "slo.evict_s": st.floats(allow_nan=True, allow_infinity=True),
}
VALID_CHANGE = st.sampled_from(sorted(LEAVES)).flatmap(lambda k: st.tuples(st.just(k), LEAVES[k]))
HOSTILE_CHANGE = st.one_of(
    st.sampled_from(sorted(LEAVES)).flatmap(lambda k: st.tuples(st.just(k), _leaf(LEAVES[k]))),
    st.tuples(st.sampled_from(["galera", "proxy", "app", "nope", "galera.provider_options", "networks.frontend"]),
              ANYTHING))
# several plausible changes, then at most two hostile ones: about half the specs pass and render
SPEC_CHANGES = st.tuples(st.lists(VALID_CHANGE, max_size=6), st.lists(HOSTILE_CHANGE, max_size=2)).map(
    lambda t: t[0] + t[1])


def _check_compose(text: str, plan: Any) -> None:
    spec = plan.spec
    doc = yaml.safe_load(text)
    assert set(doc) == {"name", "x-labels", "services", "networks", "volumes"}
    assert compose_unescape(doc["name"]) == spec.project
    expected = {*spec.node_names, *spec.proxy_names, *(f"keepalived{p.removeprefix('proxy')}" for p in spec.proxy_names), "app"}
    assert set(doc["services"]) == expected | ({"vipfwd"} if plan.bridge else set())
    for name, service in doc["services"].items():
        role = "mariadb" if name.startswith("node") or name == "vipfwd" else "proxy" if name.startswith("proxy") else \
            "keepalived" if name.startswith("keepalived") else "app"
        assert compose_unescape(service["image"]) == plan.images[role]
        assert compose_unescape(service["container_name"]) == spec.container(name)
        assert compose_unescape(service["labels"]["galera-lab.project"]) == spec.project
    assert doc["services"]["app"]["ports"] == [f"{spec.app.bind}:{spec.app.http_port}:80"]
    if plan.bridge:
        assert doc["networks"]["frontend"]["driver"] == "bridge" and "driver_opts" not in doc["networks"]["frontend"]
        assert doc["services"]["vipfwd"]["ports"][0] == f"127.0.0.1:{spec.networks.frontend.forward_port}:{spec.proxy.sql_port}"
    else:
        assert compose_unescape(doc["networks"]["frontend"]["driver_opts"]["parent"]) == spec.parent_bridge


GALERA_OPTIONS = {"bind-address", "skip-name-resolve", "log_error", "performance_schema", "max_connections",
                  "binlog_format", "default_storage_engine", "innodb_autoinc_lock_mode",
                  "innodb_flush_log_at_trx_commit", "innodb_buffer_pool_size", "innodb_log_file_size", "wsrep_on",
                  "wsrep_provider", "wsrep_cluster_name", "wsrep_cluster_address", "wsrep_node_name",
                  "wsrep_node_address", "wsrep_sst_method", "wsrep_sst_donor", "wsrep_sync_wait",
                  "wsrep_slave_threads", "wsrep_provider_options"}


def _check_galera(text: str, spec: LabSpec, node: str) -> None:
    groups = read_option_file(text)
    assert set(groups) == {"mysqld"}
    options = dict(groups["mysqld"])
    assert len(options) == len(groups["mysqld"]), "an option set twice"
    snapshot = spec.galera.innodb_snapshot_isolation
    optional = set() if snapshot is None else {"innodb_snapshot_isolation"}
    assert set(options) == GALERA_OPTIONS | optional, "nothing but the lab's own options"
    assert options.get("innodb_snapshot_isolation") == (None if snapshot is None else "ON" if snapshot else "OFF")
    assert options["innodb_buffer_pool_size"] == spec.galera.innodb_buffer_pool_size
    assert options["wsrep_cluster_name"] == spec.project
    assert options["wsrep_node_name"] == node
    assert options["wsrep_sync_wait"] == str(spec.galera.wsrep_sync_wait)
    assert galera_provider_options(options["wsrep_provider_options"] or "") == spec.galera.provider_options


def _check_proxysql(text: str, spec: LabSpec) -> None:
    cfg = libconf.loads(text)
    assert set(cfg) == {"datadir", "admin_variables", "mysql_variables", "mysql_servers", "mysql_galera_hostgroups",
                        "mysql_users", "mysql_query_rules", "proxysql_servers"}
    assert cfg["mysql_galera_hostgroups"][0]["comment"] == spec.project
    assert {u["username"]: u["password"] for u in cfg["mysql_users"]} == {
        "chamilo": SECRETS["APP_PASSWORD"], "lab_admin": SECRETS["LAB_ADMIN_PASSWORD"]}
    assert cfg["mysql_variables"]["monitor_password"] == SECRETS["MONITOR_PASSWORD"]
    assert len(cfg["mysql_servers"]) == spec.galera.nodes and len(cfg["proxysql_servers"]) == spec.proxy.count


def _check_keepalived(text: str, spec: LabSpec, proxy: str) -> None:
    tree = parse_keepalived(text)
    assert [item[0] for item in tree] == ["global_defs", "vrrp_script", "track_file", "vrrp_instance"]  # type: ignore[index]
    global_defs = tree[0][-1]  # type: ignore[index]
    assert ["router_id", f"{spec.project}-{proxy}"] in global_defs
    assert tree[3][1] == spec.project.replace("-", "_") + "_vip"  # type: ignore[index]
    instance = tree[3][-1]  # type: ignore[index]
    assert ["track_file", [["proxy_stopping"]]] in instance and tree[2][1] == "proxy_stopping"  # type: ignore[index]
    assert ["virtual_router_id", str(spec.keepalived.virtual_router_id)] in instance


def _check_php(files: dict[str, tuple[str, bool]], tmp: Path) -> None:
    """php -l and PHP's own reading of the app's configuration, in one php run."""
    if PHP is None:
        return
    if chamilo.CONFIG_FILE in files:
        (tmp / "c.php").write_text(files[chamilo.CONFIG_FILE][0])
        code = f"$_configuration = []; require {json.dumps(str(tmp / 'c.php'))}; echo json_encode($_configuration);"
        key, want = "db_password", SECRETS["APP_PASSWORD"]
    else:
        (tmp / "c.php").write_text(files["secrets/app-config.php"][0])
        code = f"echo json_encode(require {json.dumps(str(tmp / 'c.php'))});"
        key, want = "password", SECRETS["APP_PASSWORD"]
    proc = subprocess.run([PHP, "-r", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)[key] == want


DAEMON_CHECKED = Path(tempfile.mkdtemp(prefix="galera-lab-daemon-check-"))
"""Rendered configs of the property test's examples, for the daemons' own checks below."""
atexit.register(shutil.rmtree, DAEMON_CHECKED, True)


def _keep_for_daemons(files: dict[str, tuple[str, bool]]) -> None:
    n = len(list(DAEMON_CHECKED.glob("*.cnf")))
    for rel, suffix in (("haproxy/haproxy.cfg", "cfg"), ("keepalived/proxy1.conf", "conf"), ("galera/node1.cnf", "cnf")):
        if rel in files:
            # keepalived's entrypoint puts the frontend interface's name in at start
            text = files[rel][0].replace("@FRONTEND_IFACE@", "eth0")  # the check's container's one interface
            (DAEMON_CHECKED / f"{n:03d}.{suffix}").write_text(text)


def check_rendered(files: dict[str, tuple[str, bool]], plan: Any, tmp: Path) -> None:
    """Every rendered file parses with its reader and holds exactly the spec's values."""
    _keep_for_daemons(files)
    spec = plan.spec
    _check_compose(files["compose.yaml"][0], plan)
    for node in spec.node_names:
        _check_galera(files[f"galera/{node}.cnf"][0], spec, node)
    if "secrets/sst.cnf" in files:
        assert read_option_file(files["secrets/sst.cnf"][0]) == {"mysqld": [("wsrep_sst_auth", "sst:" + SECRETS["SST_PASSWORD"])]}
    if plan.proxy_kind == "proxysql":
        _check_proxysql(files["secrets/proxysql.cnf"][0], spec)
    else:
        sections = parse_haproxy(files["haproxy/haproxy.cfg"][0])
        assert set(sections) == {"global", "defaults", "listen stats", "listen galera-writer", "listen galera-reader"}
    for proxy in spec.proxy_names:
        _check_keepalived(files[f"keepalived/{proxy}.conf"][0], spec, proxy)
    literals = re.findall(r"IDENTIFIED BY ('(?:[^'\\]|\\.)*');", files["secrets/init.sql"][0], re.S)
    assert len(literals) == 8
    if chamilo.INSTALL_FILE in files:
        assert json.loads(files[chamilo.INSTALL_FILE][0])["campus_name"] == f"{spec.project} (galera-ha-lab)"
    _check_php(files, tmp)


EXAMPLES = {"refused": 0, "rendered": 0}


@settings(max_examples=150, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(changes=SPEC_CHANGES, proxy_kind=st.sampled_from(["haproxy", "proxysql"]),
       app_kind=st.sampled_from(["probe", "chamilo"]))
def test_any_spec_is_refused_in_one_line_or_renders_intact(tmp_path: Path, changes: list[tuple[str, Any]],
                                                          proxy_kind: str, app_kind: str) -> None:
    try:
        spec = load_spec(None, changes)
    except SpecError as exc:
        msg = str(exc)
        assert "\n" not in msg and msg.isprintable() and len(msg) < 400, msg
        EXAMPLES["refused"] += 1
        event("refused")
        return
    plan = make_plan(spec, proxy_kind, app_kind)
    check_rendered(rendered_files(plan, SECRETS), plan, tmp_path)
    EXAMPLES["rendered"] += 1
    event(f"rendered {proxy_kind}+{app_kind}")


DAEMON_CHECKS = {
    # image (built by `make lab-up`), file suffix, the daemon's own configuration check
    "haproxy": ("galera-lab/haproxy:2.6-bookworm", "cfg", 'haproxy -c -q -f "$f"'),
    "keepalived": ("galera-lab/keepalived:2.2-bookworm", "conf", 'keepalived -t -f "$f"'),
    "mariadb": ("galera-lab/mariadb:10.11-bookworm", "cnf", 'my_print_defaults --defaults-file="$f" mysqld galera'),
}


@pytest.mark.parametrize("daemon", sorted(DAEMON_CHECKS))
def test_the_daemons_accept_every_rendered_config(daemon: str) -> None:
    """HAProxy's `-c`, keepalived's `-t` and MariaDB's option-file reader on the configs the
    property test above rendered (all of its examples; run alone, the defaults), in their
    own images: one container per daemon, every file checked."""
    from lab.images import image_present

    image, suffix, command = DAEMON_CHECKS[daemon]
    try:
        present = image_present(image)
    except Exception as exc:  # noqa: BLE001 - no engine answers: the check can't run
        pytest.skip(f"{daemon}'s check runs in {image}: the Docker engine is not reachable ({exc})")
    if not present:
        pytest.skip(f"{daemon}'s check runs in {image}, not on this machine: `make lab-up` builds it")
    if not list(DAEMON_CHECKED.glob(f"*.{suffix}")):
        plan = make_plan(load_spec(None, []), "haproxy")
        _keep_for_daemons(rendered_files(plan, SECRETS))
    files = sorted(DAEMON_CHECKED.glob(f"*.{suffix}"))
    os.chmod(DAEMON_CHECKED, 0o755)
    for f in files:
        f.chmod(0o644)
    script = f'for f in /cfg/*.{suffix}; do {command} >/dev/null 2>/tmp/err || ' \
             '{ echo "$f:"; cat /tmp/err; }; done'
    # Docker's default bridge: keepalived -t wants a real interface (eth0); a check sends nothing
    proc = subprocess.run(["docker", "run", "--rm", "-v", f"{DAEMON_CHECKED}:/cfg:ro", image,
                           "sh", "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and not proc.stdout.strip(), f"{daemon} refused:\n{proc.stdout}{proc.stderr}"
    print(f"{daemon}: {len(files)} rendered configs accepted")


@pytest.mark.parametrize("key, value, expected", [
    ("galera.innodb_buffer_pool_size", "64M\nskip-grant-tables",
     r"galera.innodb_buffer_pool_size: '64M\nskip-grant-tables' refused: expected a size"),
    ("galera.provider_options", {"gcache.size": '64M"; pc.ignore_sb=true; x="'},
     "galera.provider_options.gcache.size: '64M\"; pc.ignore_sb=true; x=\"' refused: expected a Galera option value"),
    ("proxy.proxysql_version", "2.7.3; rm -rf /", "proxy.proxysql_version: '2.7.3; rm -rf /' refused: expected a release"),
    ("app.chamilo_version", "1.11.26' OR '1'='1", "app.chamilo_version: \"1.11.26' OR '1'='1\" refused"),
    ("proxy.proxysql_image", "Mycorp/ProxySQL", "expected a Docker image reference"),
    ("galera.official_image", "mariadb:10.11\nRUN id", r"galera.official_image: 'mariadb:10.11\nRUN id' refused"),
    ("galera.provider_options", {"evs.suspect_timeout": "5s"}, "evs.suspect_timeout: '5s' refused: expected an ISO 8601"),
    ("galera.provider_options", ["gcache.size=1G"], "galera.provider_options: ['gcache.size=1G'] refused: input should be a valid dictionary"),
    ("project", "x" * 500, "project: 'xxxxxxxxx"),
])
def test_known_holes_are_refused_in_one_line(key: str, value: Any, expected: str) -> None:
    with pytest.raises(SpecError) as exc:
        load_spec(None, [(key, value)])
    msg = str(exc.value)
    assert expected in msg and "\n" not in msg and "should match pattern" not in msg and len(msg) < 400


def test_values_of_the_grammars_render_as_given(tmp_path: Path) -> None:
    """The other side: odd but valid values pass and reach the files unchanged."""
    spec = load_spec(None, [("galera.provider_options", {"gcache.dir": "/var/lib/mysql/gc", "pc.ignore_sb": True,
                                                          "gmcast.listen_addr": "tcp://0.0.0.0:4567"}),
                            ("galera.innodb_buffer_pool_size", 134217728), ("project", "a_b-1")])
    assert spec.galera.provider_options["pc.ignore_sb"] == "true" and spec.galera.innodb_buffer_pool_size == "134217728"
    for kind in ("haproxy", "proxysql"):
        plan = make_plan(spec, kind, "chamilo")
        check_rendered(rendered_files(plan, SECRETS), plan, tmp_path)


COMMANDS = ["generate", "up", "down", "status", "images", "report", "stale-reads", "secrets rotate"]
BAD_INPUTS = {
    "bad value": ["--set", "proxy.proxysql_version=2.7.3; rm -rf /"],
    "newline in a size": ["--set", "galera.innodb_buffer_pool_size=\"64M\\nskip-grant-tables\""],
    "rich markup in a key": ["--set", "[/bold]x=1"],
    "not a number": ["--nodes", "three"],
    "unparseable --set": ["--set", "galera.nodes=[1"],
    "a spec that is a folder": ["--spec", "."],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_refuses_bad_input_in_one_line(command: str, tmp_path: Path) -> None:
    """`python -m lab.cli CMD` with bad input: one line on stderr, exit code 2, nothing created.

    `generate` gets every bad input; the other commands two each (one run costs ~0.6 s of CPU).
    """
    index = COMMANDS.index(command)
    chosen = list(BAD_INPUTS.items()) if command == "generate" else \
        [list(BAD_INPUTS.items())[i % len(BAD_INPUTS)] for i in (index, index + 3)]
    for what, args in chosen:
        proc = subprocess.run([sys.executable, "-m", "lab.cli", *command.split(), "--project", "input-cli", *args],
                              capture_output=True, text=True, cwd=tmp_path, timeout=60,
                              env={**os.environ, "LAB_HOME": str(tmp_path / "home"),
                                   "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
        lines = proc.stderr.strip().split("\n")
        assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, (what, proc.stderr)
        assert lines[0].startswith(("error: ", "galera-lab")), (what, proc.stderr)
        assert not (tmp_path / "home").exists() and list(tmp_path.iterdir()) == [], (what, "nothing is created")


def test_no_secret_outside_the_secret_files() -> None:
    """Passwords live only in files rendered 0600 (never compose.yaml, labels, env or commands)."""
    for kind, app in (("haproxy", "probe"), ("proxysql", "chamilo")):
        plan = make_plan(load_spec(None, [("galera.sst_method", "mariabackup")]), kind, app)
        files = rendered_files(plan, SECRETS)
        public = {rel: text for rel, (text, secret) in files.items() if not secret}
        assert "compose.yaml" in public and all(rel.startswith("secrets/") for rel in files if files[rel][1])
        for name, value in SECRETS.items():
            stem = value.split("'")[0]
            assert not [rel for rel, text in public.items() if stem in text], name


def test_no_secret_outside_the_secret_files_after_a_rotation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """`galera-lab secrets rotate` (here on a stopped lab: files only) prints no value, old or new,
    and leaves the new values only in the 0600 files: secrets.env and secrets/ (never compose.yaml,
    labels, env or commands). The running-lab rotation's own checks (process lists, container
    labels, environment and command lines) are in tests/test_secrets_rotate.py."""
    from lab import cli
    from lab import rotate as rot
    from lab.render import SECRET_NAMES, read_secrets_file

    monkeypatch.setenv("LAB_HOME", str(tmp_path))
    monkeypatch.setattr(rot, "_running_services", lambda lab: set())
    assert cli.main(["generate", "--project", "rotated", "--proxy", "proxysql", "--app", "chamilo",
                     "--set", "galera.sst_method=mariabackup"]) == 0
    stack = tmp_path / "rotated"
    old = read_secrets_file(stack / "secrets.env")
    capsys.readouterr()
    assert cli.main(["secrets", "rotate", "--project", "rotated"]) == 0
    out = capsys.readouterr()
    new = read_secrets_file(stack / "secrets.env")
    values = [v for n in SECRET_NAMES for v in (old[n], new[n])]
    assert all(new[n] != old[n] for n in SECRET_NAMES)
    assert not [v for v in values if v in out.out + out.err], "a secret was printed"
    for path in (p for p in stack.rglob("*") if p.is_file()):
        text = path.read_text()
        if path.name == "secrets.env" or path.parent.name == "secrets":
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        else:
            assert not [n for n in SECRET_NAMES if new[n] in text or old[n] in text], path
