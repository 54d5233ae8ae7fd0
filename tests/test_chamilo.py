"""Chamilo around the release it can't download here: rendered config, archive fetch, entrypoint.

The configuration is parsed by PHP itself (php-cli), the fetch script and the entrypoint run
under bash with fakes (a hand-made archive, a file:// URL, a stub installer), so no network,
no Docker and no Chamilo release are needed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from lab.chamilo import CONFIG_FILE, INSTALL_FILE, chamilo_files, install_window, prepare_archive, root_web
from lab.errors import LabError
from lab.paths import CHAMILO
from lab.spec import LabSpec, load_spec
from tests.conftest import make_plan

SECRETS = {"APP_PASSWORD": "app-pw'with\\quote", "LAB_ADMIN_PASSWORD": "x"}
VERSION = "1.11.28"
PHP = shutil.which("php")
needs_php = pytest.mark.skipif(PHP is None, reason="php-cli is not installed (apt-get install php-cli)")


def _php_configuration(path: Path) -> dict[str, object]:
    """Include the file the way Chamilo does and return its $_configuration."""
    code = f"$_configuration = []; require {json.dumps(str(path))}; echo json_encode($_configuration);"
    out = subprocess.run([PHP, "-r", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@needs_php
def test_configuration_points_at_the_vip(tmp_path: Path) -> None:
    spec = load_spec(overrides=[("proxy.sql_port", 7033), ("app.http_port", 8181)])
    files = chamilo_files(make_plan(spec, "haproxy", "chamilo"), SECRETS)
    text, secret = files[CONFIG_FILE]
    assert secret
    (tmp_path / "configuration.php").write_text(text)
    conf = _php_configuration(tmp_path / "configuration.php")
    assert conf["db_host"] == "198.18.1.100"
    assert conf["db_port"] == "7033"
    assert conf["main_database"] == "chamilo"
    assert conf["db_user"] == "chamilo"
    assert conf["db_password"] == SECRETS["APP_PASSWORD"]  # quote and backslash survive PHP parsing
    assert conf["root_web"] == "http://127.0.0.1:8181/"
    assert conf["system_version"] == VERSION
    assert conf["session_stored_in_db"] is False


def test_render_is_stable_and_secret_free_of_raw_derivations() -> None:
    plan = make_plan(load_spec(), "proxysql", "chamilo")
    first, second = chamilo_files(plan, SECRETS), chamilo_files(plan, SECRETS)
    assert first == second
    answers = json.loads(first[INSTALL_FILE][0])
    assert first[INSTALL_FILE][1]
    assert answers["admin_login"] == "admin"
    assert len(answers["admin_password"]) == 20 and SECRETS["APP_PASSWORD"] not in answers["admin_password"]
    other = chamilo_files(plan, {"APP_PASSWORD": "another"})
    assert json.loads(other[INSTALL_FILE][0])["admin_password"] != answers["admin_password"]


def test_install_answers_name_node1_and_the_installer_form_values() -> None:
    answers = json.loads(chamilo_files(make_plan(load_spec(), "haproxy", "chamilo"), SECRETS)[INSTALL_FILE][0])
    assert (answers["install_db_host"], answers["install_db_port"]) == ("198.18.0.11", 3306)
    # the web installer's form values, not booleans: allowSelfReg is true|false|approval, allowSelfRegProf 1|0
    assert (answers["allow_self_registration"], answers["allow_teacher_self_registration"]) == ("true", "1")


class FakeConn:
    """Records the SQL install_window sends; answers its two SELECTs like a 3-node cluster."""

    def __init__(self, installed: bool):
        self.sent: list[str] = []
        self.installed = installed

    def cursor(self) -> FakeConn:
        return self

    def __enter__(self) -> FakeConn:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute(self, sql: str, args: object = None) -> None:
        self.sent.append(sql)
        self.rows = [(1,)] if "COUNT(*)" in sql else [(3, 2, 1)]
        if "COUNT(*)" in sql and not self.installed:
            self.rows = [(0,)]

    def fetchall(self) -> list[tuple[int, ...]]:
        return self.rows


def test_install_window_restores_the_control_even_when_the_install_fails() -> None:
    conn, said = FakeConn(installed=False), []
    with pytest.raises(RuntimeError), install_window(conn, said.append) as installing:  # type: ignore[arg-type]
        assert installing
        assert any("wsrep_auto_increment_control = OFF" in s for s in conn.sent)
        assert any("auto_increment_increment = 1, auto_increment_offset = 1" in s for s in conn.sent)
        raise RuntimeError("the app container exited")
    assert "wsrep_auto_increment_control = ON" in [s for s in conn.sent if "SET GLOBAL" in s][-1]
    assert "increment 3, offset 2" in said[-1]


def test_install_window_leaves_an_installed_cluster_alone() -> None:
    conn = FakeConn(installed=True)
    with install_window(conn, print) as installing:  # type: ignore[arg-type]
        assert not installing
    assert not [s for s in conn.sent if "SET" in s]


def test_root_web_for_a_wildcard_bind() -> None:
    assert root_web(load_spec(overrides=[("app.bind", "0.0.0.0")])) == "http://127.0.0.1:8080/"


# ---- prepare_archive ----


def test_prepare_archive_copies_under_the_expected_name(tmp_path: Path) -> None:
    src = tmp_path / "downloaded.tgz"
    src.write_bytes(b"release")
    spec = load_spec(overrides=[("app.chamilo_archive", str(src))])
    copied = prepare_archive(spec, tmp_path / "ctx")
    assert copied == tmp_path / "ctx" / "archive" / f"chamilo-{VERSION}.tar.gz"
    assert copied.read_bytes() == b"release"


def test_prepare_archive_without_archive_and_with_a_missing_one(tmp_path: Path) -> None:
    assert prepare_archive(load_spec(), tmp_path) is None
    spec = load_spec(overrides=[("app.chamilo_archive", str(tmp_path / "nope.tar.gz"))])
    with pytest.raises(LabError, match="no such file"):
        prepare_archive(spec, tmp_path)


def test_prepare_archive_refuses_other_formats(tmp_path: Path) -> None:
    (tmp_path / "chamilo.rar").write_bytes(b"x")
    spec = LabSpec.model_validate({"app": {"chamilo_archive": str(tmp_path / "chamilo.rar")}})
    with pytest.raises(LabError, match=r"\.tar\.gz or \.zip"):
        prepare_archive(spec, tmp_path / "ctx")


# ---- fetch-chamilo ----


def _release(path: Path) -> str:
    """A tiny fake release with the files fetch-chamilo checks for; returns its sha256."""
    top = path.parent / f"chamilo-{VERSION}"
    for rel in ("main/inc/lib/api.lib.php", "vendor/autoload.php", "index.php"):
        (top / rel).parent.mkdir(parents=True, exist_ok=True)
        (top / rel).write_text("<?php\n")
    with tarfile.open(path, "w:gz") as tar:
        tar.add(top, arcname=top.name)
    shutil.rmtree(top)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fetch(tmp_path: Path, sha: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHAMILO_URL": url}
    return subprocess.run(["bash", str(CHAMILO / "fetch-chamilo"), VERSION, sha, str(tmp_path / "archive"),
                           str(tmp_path / "www")], capture_output=True, text=True, env=env)


def test_fetch_uses_the_local_archive_and_verifies_it(tmp_path: Path) -> None:
    (tmp_path / "archive").mkdir()
    sha = _release(tmp_path / "archive" / f"chamilo-{VERSION}.tar.gz")
    proc = _fetch(tmp_path, sha, "file:///nonexistent/never-used.tar.gz")
    assert proc.returncode == 0, proc.stderr
    assert "hand-supplied" in proc.stdout and "(verified)" in proc.stdout
    assert (tmp_path / "www" / "main" / "inc" / "lib" / "api.lib.php").is_file()


def test_fetch_refuses_a_checksum_mismatch(tmp_path: Path) -> None:
    (tmp_path / "archive").mkdir()
    sha = _release(tmp_path / "archive" / f"chamilo-{VERSION}.tar.gz")
    proc = _fetch(tmp_path, "0" * 64, "file:///nonexistent.tar.gz")
    assert proc.returncode == 1
    assert "checksum mismatch" in proc.stderr and sha in proc.stderr and "CHAMILO_SHA256" in proc.stderr
    assert not (tmp_path / "www").exists()


def test_fetch_names_the_archive_path_when_the_download_fails(tmp_path: Path) -> None:
    (tmp_path / "archive").mkdir()
    proc = _fetch(tmp_path, "", f"file://{tmp_path}/missing.tar.gz")
    assert proc.returncode == 1
    assert f"chamilo/archive/chamilo-{VERSION}.tar.gz" in proc.stderr and "app.chamilo_archive" in proc.stderr


def test_fetch_downloads_but_refuses_without_a_pinned_checksum(tmp_path: Path) -> None:
    (tmp_path / "archive").mkdir()
    sha = _release(tmp_path / "served.tar.gz")
    refused = _fetch(tmp_path, "", f"file://{tmp_path}/served.tar.gz")
    assert refused.returncode == 1 and sha in refused.stderr and "CHAMILO_SHA256" in refused.stderr
    pinned = _fetch(tmp_path, sha, f"file://{tmp_path}/served.tar.gz")
    assert pinned.returncode == 0, pinned.stderr
    assert (tmp_path / "www" / "vendor" / "autoload.php").is_file()


def test_fetch_rejects_an_archive_that_is_not_a_release(tmp_path: Path) -> None:
    (tmp_path / "archive").mkdir()
    with tarfile.open(tmp_path / "archive" / f"chamilo-{VERSION}.tar.gz", "w:gz") as tar:
        (tmp_path / "README").write_text("hi")
        tar.add(tmp_path / "README", arcname="README")
    proc = _fetch(tmp_path, "", "file:///unused")
    assert proc.returncode == 1 and "does not look like a Chamilo 1.11 release" in proc.stderr


# ---- chamilo-entrypoint: idempotent first-start install ----


def _entrypoint(tmp_path: Path, status: str, install_rc: int = 0) -> subprocess.CompletedProcess[str]:
    """Run the entrypoint with a stub installer that answers `status` and records each call."""
    (tmp_path / "etc").mkdir(exist_ok=True)
    (tmp_path / "etc" / "configuration.php.in").write_text("<?php // rendered\n")
    (tmp_path / "etc" / "install.json").write_text("{}")
    (tmp_path / "www" / "app" / "config").mkdir(parents=True, exist_ok=True)
    stub = tmp_path / "installer"
    stub.write_text(
        "#!/bin/bash\n"
        f'echo "$1 $LAB_CHAMILO_CONFIG" >> {tmp_path}/calls\n'
        f'if [ "$1" = status ]; then {status}; else exit {install_rc}; fi\n'
    )
    stub.chmod(0o755)
    env = {**os.environ, "CHAMILO_ROOT": str(tmp_path / "www"), "CHAMILO_RUN_DIR": str(tmp_path / "run"),
           "CHAMILO_CONFIG_IN": str(tmp_path / "etc" / "configuration.php.in"),
           "CHAMILO_INSTALL_IN": str(tmp_path / "etc" / "install.json"),
           "CHAMILO_INSTALLER": str(stub), "CHAMILO_PHP": "bash", "CHAMILO_AS_WWW": "env",
           "CHAMILO_GROUP": str(os.getgid()), "CHAMILO_DB_WAIT_S": "1"}
    return subprocess.run(["bash", str(CHAMILO / "chamilo-entrypoint"), "echo", "web-server-started"],
                          capture_output=True, text=True, env=env)


def _calls(tmp_path: Path) -> list[str]:
    return [line.split()[0] for line in (tmp_path / "calls").read_text().splitlines()]


def test_entrypoint_installs_on_first_start_then_serves(tmp_path: Path) -> None:
    proc = _entrypoint(tmp_path, "echo not-installed")
    assert proc.returncode == 0, proc.stderr
    assert _calls(tmp_path) == ["status", "install"]
    assert proc.stdout.strip() == "web-server-started"
    config = tmp_path / "www" / "app" / "config" / "configuration.php"
    assert config.read_text() == "<?php // rendered\n"
    assert config.stat().st_mode & 0o777 == 0o640


def test_entrypoint_skips_the_install_when_already_installed(tmp_path: Path) -> None:
    proc = _entrypoint(tmp_path, "echo installed")
    assert proc.returncode == 0, proc.stderr
    assert _calls(tmp_path) == ["status"]
    assert "skipping the install" in proc.stderr


def test_entrypoint_stops_when_the_install_fails(tmp_path: Path) -> None:
    proc = _entrypoint(tmp_path, "echo not-installed", install_rc=1)
    assert proc.returncode == 1
    assert "install failed" in proc.stderr and "web-server-started" not in proc.stdout
    assert not (tmp_path / "www" / "app" / "config" / "configuration.php").exists()


def test_entrypoint_waits_for_the_database_then_gives_up(tmp_path: Path) -> None:
    proc = _entrypoint(tmp_path, "echo 'database 198.18.1.100:6033 not usable' >&2; exit 3")
    assert proc.returncode == 1
    assert "no database after 1s" in proc.stderr and "198.18.1.100:6033" in proc.stderr
    assert set(_calls(tmp_path)) == {"status"}


@needs_php
def test_installer_status_reports_an_unreachable_database(tmp_path: Path) -> None:
    conf = tmp_path / "configuration.php"
    keys = {"db_host": "127.0.0.1", "db_port": "9", "main_database": "chamilo", "db_user": "chamilo",
            "db_password": "x", "root_web": "http://127.0.0.1:8080/"}
    conf.write_text("<?php\n" + "".join(f"$_configuration['{k}'] = '{v}';\n" for k, v in keys.items()))
    proc = subprocess.run([PHP, str(CHAMILO / "lab-install.php"), "status"], capture_output=True, text=True,
                          env={**os.environ, "LAB_CHAMILO_CONFIG": str(conf)})
    if "could not find driver" in proc.stderr:
        pytest.skip("php-mysql (pdo_mysql) is not installed for the CLI")
    assert proc.returncode == 3, proc.stderr
    assert "127.0.0.1:9 not usable" in proc.stderr
