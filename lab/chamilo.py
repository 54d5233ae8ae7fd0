"""Chamilo as the lab's application: its rendered files, and the hand-supplied release archive.

Chamilo can't be downloaded on every machine, so the image build takes a release archive from
the build context when one is there (`prepare_archive`), and the stack gets the two files the
container's entrypoint needs for an unattended first install (`chamilo_files`):

- `secrets/chamilo-configuration.php` → `/etc/lab-app/configuration.php.in`: Chamilo's
  `app/config/configuration.php`, pointing at VIP:sql_port, so every query crosses the proxy tier;
- `secrets/chamilo-install.json` → `/etc/lab-app/chamilo-install.json`: the installer's answers
  (admin account, campus name) and the Galera node the install writes to directly.

The install itself needs sequential auto-increment ids, which Galera's
wsrep_auto_increment_control denies (chamilo/chamilo-lms#2010): `install_window` switches it
off on that one node for the install and restores it, with the lab's admin account, so the
application's own database user never needs SUPER (chamilo/README.md says why this holds).

Both hold secrets (0600); the entrypoint copies them for www-data. Values derived from the
stack's secrets (security key, admin password) are HMACs of APP_PASSWORD, so renders stay
byte-identical and no new secret has to be stored.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import jinja2
import pymysql

from lab import db, escape, templating
from lab.errors import LabError
from lab.paths import CHAMILO
from lab.plan import Plan
from lab.spec import LabSpec

TEMPLATES = CHAMILO / "templates"
ROOT_SYS = "/var/www/chamilo/"  # where the Dockerfile unpacks the release
CONFIG_FILE = "secrets/chamilo-configuration.php"  # stack-relative paths render() writes
INSTALL_FILE = "secrets/chamilo-install.json"
ARCHIVE_SUFFIXES = {".tar.gz": ".tar.gz", ".tgz": ".tar.gz", ".zip": ".zip"}
INSTALL_NODE = "node1"  # the node the installer writes to, directly on the backend network
NODE_SQL_PORT = 3306
DATABASE = "chamilo"
MARKER_TABLE = "lab_install_state"  # lab-install.php writes it last
# where the running container keeps its copies of CONFIG_FILE (chamilo-entrypoint installs them
# for www-data): what `secrets rotate` rewrites in place
RUNNING_CONFIG_COPIES = ("/run/lab-app/configuration.php", ROOT_SYS + "app/config/configuration.php")


def _environment() -> jinja2.Environment:
    return templating.environment(TEMPLATES, {"php_string": escape.php_str}, trim=False)


def _derive(secret: str, purpose: str, length: int = 32) -> str:
    """A stable value for `purpose` that reveals nothing about `secret` (HMAC-SHA256, hex)."""
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).hexdigest()[:length]


def root_web(spec: LabSpec) -> str:
    """Chamilo's root URL as the host's browser reaches it; 0.0.0.0 binds are reached on loopback."""
    host = spec.app.bind
    if host == ipaddress.IPv4Address("0.0.0.0"):
        host = ipaddress.IPv4Address("127.0.0.1")
    return f"http://{host}:{spec.app.http_port}/"


def chamilo_files(plan: Plan, secrets: dict[str, str]) -> dict[str, tuple[str, bool]]:
    """Stack-relative path → (content, is_secret) for the Chamilo app container; pure."""
    spec = plan.spec
    env = _environment()
    app_password = secrets["APP_PASSWORD"]
    ctx = {
        "version": spec.app.chamilo_version,
        "db_host": str(spec.keepalived.vip),
        "db_port": spec.proxy.sql_port,
        "database": DATABASE,
        "db_user": "chamilo",
        "db_password": app_password,
        "root_web": root_web(spec),
        "root_sys": ROOT_SYS,
        "security_key": security_key(secrets),
        "password_encryption": "bcrypt",
        "admin_password": admin_password(secrets),
        "campus_name": f"{spec.project} (galera-ha-lab)",
        "install_db_host": str(spec.node_address(INSTALL_NODE)),
        "install_db_port": NODE_SQL_PORT,
    }
    return {
        CONFIG_FILE: (env.get_template("configuration.php.j2").render(ctx), True),
        INSTALL_FILE: (env.get_template("install.json.j2").render(ctx), True),
    }


def prepare_archive(spec: LabSpec, context_dir: Path) -> Path | None:
    """Copy `app.chamilo_archive` into the build context's archive/ folder, named as the build expects.

    Returns the copy's path, or None when the spec names no archive (the build then downloads).
    """
    source = spec.app.chamilo_archive
    if source is None:
        return None
    source = source.expanduser()
    if not source.is_file():
        raise LabError(
            f"app.chamilo_archive {source}: no such file; download chamilo-{spec.app.chamilo_version}.tar.gz "
            "from https://github.com/chamilo/chamilo-lms/releases and point app.chamilo_archive at it"
        )
    suffix = next((s for s in ARCHIVE_SUFFIXES if source.name.endswith(s)), None)
    if suffix is None:
        raise LabError(f"app.chamilo_archive {source}: expected a .tar.gz or .zip Chamilo release archive")
    target = context_dir / "archive" / f"chamilo-{spec.app.chamilo_version}{ARCHIVE_SUFFIXES[suffix]}"
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists() or target.read_bytes() != source.read_bytes():
        shutil.copyfile(source, target)
    return target


def admin_password(secrets: dict[str, str]) -> str:
    """The Chamilo admin's password (also in the stack's secrets/chamilo-install.json).

    Chamilo stores it (hashed) in its database at install; once `secrets rotate` has replaced
    the APP_PASSWORD it was derived from, the value pinned in secrets.env is the one that holds."""
    return secrets.get("CHAMILO_ADMIN_PASSWORD") or _derive(secrets["APP_PASSWORD"], "chamilo admin password", 20)


def security_key(secrets: dict[str, str]) -> str:
    """Chamilo's `security_key` (it signs tokens the running app hands out), pinned like the admin password."""
    return secrets.get("CHAMILO_SECURITY_KEY") or _derive(secrets["APP_PASSWORD"], "chamilo security_key")


def pinned_values(secrets: dict[str, str]) -> dict[str, str]:
    """The install-time values to keep across a rotation of APP_PASSWORD (lab/rotate.py)."""
    return {"CHAMILO_SECURITY_KEY": security_key(secrets), "CHAMILO_ADMIN_PASSWORD": admin_password(secrets)}


def installed(conn: pymysql.connections.Connection) -> bool:
    """Whether lab-install.php finished an install into this cluster (its marker row)."""
    rows = db.query(conn, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
                    (DATABASE, MARKER_TABLE))
    return bool(rows[0][0]) and bool(db.query(conn, f"SELECT COUNT(*) FROM {DATABASE}.{MARKER_TABLE}")[0][0])


@contextmanager
def install_window(conn: pymysql.connections.Connection, say: Callable[[str], None]) -> Iterator[bool]:
    """Sequential auto-increment ids on the install node while the body runs, unless already installed.

    `conn` is an admin session on INSTALL_NODE. wsrep_auto_increment_control is global only and
    overrides every session's increment, so it is switched off and increment/offset set to 1/1
    globally: the installer's new connections start with them. On exit, switching the control on
    again makes the node recompute increment = cluster size and its offset at once; the
    values are read back, and a node restart restores the control from my.cnf anyway.
    Yields whether an install is expected.
    """
    if installed(conn):
        yield False
        return
    say(f"chamilo: sequential auto-increment ids on {INSTALL_NODE} for the install")
    db.query(conn, "SET GLOBAL wsrep_auto_increment_control = OFF")
    db.query(conn, "SET GLOBAL auto_increment_increment = 1, auto_increment_offset = 1")
    try:
        yield True
    finally:
        db.query(conn, "SET GLOBAL wsrep_auto_increment_control = ON")
        inc, off, ctl = db.query(conn, "SELECT @@GLOBAL.auto_increment_increment, @@GLOBAL.auto_increment_offset, "
                                       "@@GLOBAL.wsrep_auto_increment_control")[0]
        say(f"chamilo: {INSTALL_NODE} back to Galera's auto-increment control (increment {inc}, offset {off})")
        if not ctl:
            raise LabError(f"could not switch wsrep_auto_increment_control back on on {INSTALL_NODE}")
