"""Chamilo as the lab's application: its rendered files, and the hand-supplied release archive.

Chamilo can't be downloaded on every machine, so the image build takes a release archive from
the build context when one is there (`prepare_archive`), and the stack gets the two files the
container's entrypoint needs for an unattended first install (`chamilo_files`):

- `secrets/chamilo-configuration.php` → `/etc/lab-app/configuration.php.in`: Chamilo's
  `app/config/configuration.php`, pointing at VIP:sql_port, so every query crosses the proxy tier;
- `secrets/chamilo-install.json` → `/etc/lab-app/chamilo-install.json`: the installer's answers
  (admin account, campus name).

Both hold secrets (0600); the entrypoint copies them for www-data. Values derived from the
stack's secrets (security key, admin password) are HMACs of APP_PASSWORD, so renders stay
byte-identical and no new secret has to be stored.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import shutil
from pathlib import Path

import jinja2

from lab import escape, templating
from lab.errors import LabError
from lab.paths import CHAMILO
from lab.plan import Plan
from lab.spec import LabSpec

TEMPLATES = CHAMILO / "templates"
ROOT_SYS = "/var/www/chamilo/"  # where the Dockerfile unpacks the release
CONFIG_FILE = "secrets/chamilo-configuration.php"  # stack-relative paths render() writes
INSTALL_FILE = "secrets/chamilo-install.json"
ARCHIVE_SUFFIXES = {".tar.gz": ".tar.gz", ".tgz": ".tar.gz", ".zip": ".zip"}


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
        "database": "chamilo",
        "db_user": "chamilo",
        "db_password": app_password,
        "root_web": root_web(spec),
        "root_sys": ROOT_SYS,
        "security_key": _derive(app_password, "chamilo security_key"),
        "password_encryption": "bcrypt",
        "admin_password": _derive(app_password, "chamilo admin password", 20),
        "campus_name": f"{spec.project} (galera-ha-lab)",
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
