"""`galera-lab secrets rotate` without Docker: the pure parts, the rotation of a stopped lab's
files, and the ProxySQL tier's admin statements against a recording fake (the running-lab
rotation under a writer is tests/test_secrets_rotate.py)."""

from __future__ import annotations

import io
import re
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import libconf
import pytest

from lab import chamilo
from lab import rotate as rot
from lab.errors import LabError
from lab.render import PINNED_NAMES, SECRET_NAMES, SECRET_VALUE, read_secrets_file, render, rendered_files
from lab.runtime import Lab
from lab.spec import load_spec
from lab.tiers import proxysql
from lab.tiers.haproxy import HAProxyTier
from tests.conftest import make_plan

SECRETS = {name: f"{name.lower().replace('_', '-')}-0123456789" for name in SECRET_NAMES}


def test_native_hash_is_mariadbs() -> None:
    # SELECT PASSWORD('oldpassword1234') on the lab's MariaDB 10.11
    assert rot.native_hash("oldpassword1234") == "*66E593A55DFEC7659B896AFC53DB5B313512BF7B"


def test_alter_user_statements_carry_hashes_not_passwords() -> None:
    account = rot.Account("chamilo", "%", "APP_PASSWORD")
    both = rot.both_passwords_sql(account, "old-password-0001", "new-password-0002")
    assert both == ("ALTER USER 'chamilo'@'%' IDENTIFIED VIA mysql_native_password USING "
                    f"'{rot.native_hash('old-password-0001')}' OR mysql_native_password USING "
                    f"'{rot.native_hash('new-password-0002')}'")
    only = rot.new_password_sql(account, "new-password-0002")
    assert only == f"ALTER USER 'chamilo'@'%' IDENTIFIED BY PASSWORD '{rot.native_hash('new-password-0002')}'"
    for text in (both, only):
        assert "password-000" not in text  # what Galera replicates and SHOW PROCESSLIST shows


def test_accounts_are_init_sqls_users() -> None:
    """Every account init.sql creates is rotated, with the secret init.sql gives it."""
    init = rendered_files(make_plan(load_spec()), SECRETS)["secrets/init.sql"][0]
    created = dict(re.findall(r"CREATE USER IF NOT EXISTS ('[^']+'@'[^']+') IDENTIFIED BY '([^']+)'", init))
    assert created == {a.name: SECRETS[a.secret] for a in rot.ACCOUNTS}
    assert rot.ACCOUNTS[-1].user == "lab_admin", "lab_admin last: its new password proves the others applied"


def test_next_secrets_all_new_in_the_grammar() -> None:
    new = rot.next_secrets(SECRETS, "probe")
    assert set(new) == set(SECRET_NAMES)
    assert all(SECRET_VALUE.fullmatch(v) and v != SECRETS[k] for k, v in new.items())
    assert len(set(new.values())) == len(new)


def test_next_secrets_pins_chamilos_install_values() -> None:
    new = rot.next_secrets(SECRETS, "chamilo")
    assert new["CHAMILO_SECURITY_KEY"] == chamilo.security_key(SECRETS)
    assert new["CHAMILO_ADMIN_PASSWORD"] == chamilo.admin_password(SECRETS)
    assert chamilo.admin_password(new) == chamilo.admin_password(SECRETS) and new["APP_PASSWORD"] != SECRETS["APP_PASSWORD"]
    # a second rotation keeps the pins of the first
    assert {k: rot.next_secrets(new, "chamilo")[k] for k in PINNED_NAMES} == {k: new[k] for k in PINNED_NAMES}


def test_only_a_tier_that_checks_client_passwords_restarts_the_app() -> None:
    """ProxySQL wants the app's new password at once; behind HAProxy MariaDB takes both meanwhile."""
    assert proxysql.ProxySQLTier.checks_client_passwords and not HAProxyTier.checks_client_passwords


def test_replace_credentials() -> None:
    creds = "admin:admin;radmin:old-a;cluster:old-c"
    assert proxysql.replace_credentials(creds, {"radmin": "new-a", "cluster": "new-c"}) == "admin:admin;radmin:new-a;cluster:new-c"
    assert proxysql.replace_credentials("admin:admin", {"radmin": "x"}) == "admin:admin;radmin:x"


def test_in_container_tar_keeps_owner_and_mode() -> None:
    with tarfile.open(fileobj=io.BytesIO(rot.in_container_tar(".config.php.rotating", "<?php x", 0, 33, 0o640))) as tar:
        (member,) = tar.getmembers()
        assert (member.name, member.uid, member.gid, member.mode, member.size) == (".config.php.rotating", 0, 33, 0o640, 7)
        assert member.mtime > 0


# ---- a stopped lab: new files only ----

def _stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rot, "_running_services", lambda lab: set())


@pytest.mark.parametrize("kind,app", [("haproxy", "probe"), ("proxysql", "chamilo")])
def test_rotate_a_stopped_lab_rewrites_every_file(kind: str, app: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _stopped(monkeypatch)
    plan = make_plan(load_spec(None, [("galera.sst_method", "mariabackup")]), kind, app)
    stack = tmp_path / "stack"
    render(plan, stack)
    old = read_secrets_file(stack / "secrets.env")
    done = rot.rotate(Lab(plan, stack))
    assert not done.online and sorted(done.secrets) == sorted(SECRET_NAMES)
    new = read_secrets_file(stack / "secrets.env")
    assert all(new[n] != old[n] for n in SECRET_NAMES)
    assert not (stack / rot.PENDING).exists() and not (stack / rot.PREVIOUS).exists()
    # the stack is exactly what a render with the new secrets makes (byte-identical)
    for rel, (text, secret) in rendered_files(plan, new).items():
        assert (stack / rel).read_text() == text, rel
        if secret:
            assert stat.S_IMODE((stack / rel).stat().st_mode) == 0o600, rel
    assert stat.S_IMODE((stack / "secrets.env").stat().st_mode) == 0o600
    assert render(plan, stack) == [], "a render after the rotation changes nothing"
    old_values = {v for k, v in old.items() if k in SECRET_NAMES}
    for path in stack.rglob("*"):
        if path.is_file():
            assert not [v for v in old_values if v in path.read_text()], f"an old secret left in {path}"
    if app == "chamilo":
        conf = (stack / chamilo.CONFIG_FILE).read_text()
        assert chamilo.security_key(old) in conf and new["APP_PASSWORD"] in conf
        assert chamilo.admin_password(new) == chamilo.admin_password(old)
    else:
        assert not set(PINNED_NAMES) & set(new)


def test_rotate_resumes_with_the_pending_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An interrupted rotation left secrets.next.env and secrets.prev.env (and perhaps already the
    new secrets.env): the next run uses those values, not new ones."""
    _stopped(monkeypatch)
    plan = make_plan(load_spec())
    stack = tmp_path / "stack"
    render(plan, stack)
    previous = read_secrets_file(stack / "secrets.env")
    pending = rot.next_secrets(previous, "probe")
    rot.write_secrets(stack / rot.PREVIOUS, previous)
    rot.write_secrets(stack / rot.PENDING, pending)
    rot.write_secrets(stack / "secrets.env", pending)
    says: list[str] = []
    assert rot.rotate(Lab(plan, stack), say=says.append).resumed
    assert read_secrets_file(stack / "secrets.env") == pending and any("resuming" in s for s in says)
    assert not (stack / rot.PENDING).exists() and not (stack / rot.PREVIOUS).exists()


def test_rotate_refuses_a_broken_pending_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _stopped(monkeypatch)
    plan = make_plan(load_spec())
    render(plan, tmp_path)
    (tmp_path / rot.PENDING).write_text("APP_PASSWORD=short\n")
    with pytest.raises(LabError, match="APP_PASSWORD refused") as info:
        rot.rotate(Lab(plan, tmp_path))
    assert "short" not in str(info.value)


# ---- the app's config reaches the container through the archive API, never a command line ----

class FakeContainer:
    """Records what a rotation asks of a container."""

    name = "fake-app"

    def __init__(self) -> None:
        self.argv: list[list[str]] = []
        self.archives: list[tuple[str, bytes]] = []

    def exec_run(self, argv: list[str]) -> tuple[int, bytes]:
        self.argv.append(list(argv))
        return (0, b"")

    def get_archive(self, path: str) -> tuple[list[bytes], dict[str, Any]]:
        return [rot.in_container_tar(path.rsplit("/", 1)[1], "<?php old", 0, 33, 0o640)], {}

    def put_archive(self, folder: str, data: bytes) -> bool:
        self.archives.append((folder, data))
        return True


def test_app_config_is_staged_beside_then_swapped_in_one_exec() -> None:
    c = FakeContainer()
    temp = rot.stage_in_container(c, "/etc/lab-app/config.php", "<?php return ['password' => 'topsecret-000000'];")
    assert temp == "/etc/lab-app/.config.php.rotating"
    assert c.argv == [], "owner and mode come from the archive API, the content goes in through it"
    (folder, data), = c.archives
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.getmember(".config.php.rotating")
        assert folder == "/etc/lab-app" and (member.uid, member.gid, member.mode) == (0, 33, 0o640)
        assert b"topsecret-000000" in tar.extractfile(member).read()  # type: ignore[union-attr]
    argv = rot.swap_command(rot.AppSwitch.SWAP_SCRIPT, [(temp, "/etc/lab-app/config.php"), ("/a/.b.rotating", "/a/b")])
    assert argv[:2] == ["sh", "-c"] and argv[3:] == ["sh", temp, "/etc/lab-app/config.php", "/a/.b.rotating", "/a/b"]
    assert not [a for a in c.argv + [argv] if any("topsecret" in x for x in a)]


@pytest.mark.skipif(not shutil.which("sh"), reason="needs a POSIX sh")
def test_swap_script_renames_every_pair_then_runs_the_restart(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).write_text("old")
        (tmp_path / f".{name}.rotating").write_text("new")
    script = rot.AppSwitch.SWAP_SCRIPT + rot.AppSwitch.RESTART.replace("exec apache2ctl graceful", "echo restarted")
    assert rot.AppSwitch.RESTART == "; exec apache2ctl graceful"
    argv = rot.swap_command(script, [(str(tmp_path / f".{n}.rotating"), str(tmp_path / n)) for n in ("a", "b")])
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    assert out == "restarted\n" and sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]
    assert (tmp_path / "a").read_text() == (tmp_path / "b").read_text() == "new"


# ---- ProxySQL: what rotate_credentials sends to each proxy's admin interface ----

class FakeAdmin:
    """A pymysql-like admin session on one proxy, recording statements (with arguments interpolated)."""

    def __init__(self, log: list[tuple[str, str]], proxy: str):
        self.log, self.proxy = log, proxy

    def cursor(self) -> Any:
        admin = self

        class Cursor:
            rows: list[tuple[str, str]] = []

            def __enter__(self) -> Any:
                return self

            def __exit__(self, *exc: object) -> None:
                pass

            def execute(self, sql: str, args: Any = None) -> None:
                text = sql % tuple(f"'{a}'" for a in args) if args else sql
                admin.log.append((admin.proxy, text))
                self.rows = [("admin-admin_credentials", "admin:admin;radmin:old-radmin;cluster:old-cluster"),
                             ("admin-cluster_username", "cluster")] if sql.startswith("SELECT") else []

            def fetchall(self) -> list[tuple[str, str]]:
                return self.rows

        return Cursor()

    def close(self) -> None:
        pass


def test_proxysql_rotation_statements(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = load_spec()
    tier = proxysql.ProxySQLTier(spec)
    log: list[tuple[str, str]] = []
    logins: list[tuple[str, str]] = []
    by_address = {str(spec.proxy_backend_address(p)): p for p in spec.proxy_names}

    def connect(host: str, port: int, user: str, password: str, *a: Any, **k: Any) -> FakeAdmin:
        logins.append((by_address[host], password))
        return FakeAdmin(log, by_address[host])

    monkeypatch.setattr(proxysql.db, "connect", connect)
    new = {n: f"new-{n.lower()}" for n in SECRET_NAMES}
    old = {n: f"old-{n.lower()}" for n in SECRET_NAMES}
    tier.rotate_credentials(["proxy2", "proxy1"], old, new, say=lambda _: None)
    sent = [(p, s) for p, s in log if not s.startswith("SELECT")]
    assert sent[-2:] == [("proxy2", "LOAD MYSQL USERS TO RUNTIME"), ("proxy1", "LOAD MYSQL USERS TO RUNTIME")], \
        "the clients' switch last, back to back, the VIP holder (last in the list) last"
    admins = [i for i, (p, s) in enumerate(sent) if s in ("LOAD ADMIN VARIABLES TO RUNTIME", "LOAD MYSQL VARIABLES TO RUNTIME")]
    assert len(admins) == 4 and max(admins) < len(sent) - 2, "monitor and admin credentials before mysql_users"
    for proxy in ("proxy1", "proxy2"):
        mine = [s for p, s in sent if p == proxy]
        assert f"UPDATE mysql_users SET password = '{new['APP_PASSWORD']}' WHERE username = 'chamilo'" in mine
        assert f"UPDATE mysql_users SET password = '{new['LAB_ADMIN_PASSWORD']}' WHERE username = 'lab_admin'" in mine
        assert any("mysql-monitor_password" in s and new["MONITOR_PASSWORD"] in s for s in mine)
        creds = f"admin:admin;radmin:{new['PROXYSQL_ADMIN_PASSWORD']};cluster:{new['PROXYSQL_CLUSTER_PASSWORD']}"
        assert any("admin-admin_credentials" in s and f"'{creds}'" in s for s in mine)
        assert any("admin-cluster_password" in s and new["PROXYSQL_CLUSTER_PASSWORD"] in s for s in mine)
        for statement in ("SAVE MYSQL USERS TO DISK", "LOAD MYSQL VARIABLES TO RUNTIME", "SAVE MYSQL VARIABLES TO DISK",
                          "SAVE ADMIN VARIABLES TO DISK"):
            assert statement in mine, (proxy, statement)
    # one admin session per proxy, opened with the old radmin password before anything changed
    assert logins == [("proxy2", old["PROXYSQL_ADMIN_PASSWORD"]), ("proxy1", old["PROXYSQL_ADMIN_PASSWORD"])]


def test_the_rendered_proxysql_cnf_is_what_rotation_sets() -> None:
    """The names rotate_credentials updates are the ones proxysql.cnf.j2 renders."""
    plan = make_plan(load_spec(), "proxysql")
    cfg = libconf.loads(rendered_files(plan, SECRETS)["secrets/proxysql.cnf"][0])
    assert {u["username"]: u["password"] for u in cfg["mysql_users"]} == {
        user: SECRETS[name] for user, name in proxysql.MYSQL_USERS.items()}
    creds = dict(item.split(":", 1) for item in cfg["admin_variables"]["admin_credentials"].split(";"))
    assert creds[proxysql.ADMIN_USER] == SECRETS["PROXYSQL_ADMIN_PASSWORD"]
    assert creds[cfg["admin_variables"]["cluster_username"]] == SECRETS["PROXYSQL_CLUSTER_PASSWORD"]
