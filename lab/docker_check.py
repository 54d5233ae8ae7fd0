"""Why a test that needs a real lab can't run here, or None when it can (never a silent skip)."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess


@functools.cache
def docker_skip_reason() -> str | None:
    if shutil.which("docker") is None:
        return "needs Docker Engine: the `docker` CLI is not installed"
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        return "needs Docker Engine: `docker info` fails (engine not running?)"
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0:
        return "needs the Docker Compose v2 plugin (`docker compose`)"
    if os.geteuid() != 0:
        return "needs root (or CAP_NET_ADMIN) for the macvlan host links"
    return None
