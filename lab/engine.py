"""The Docker engine's own failures, worded for the user: one clear message, never a traceback.

Why a module: `up` talks to the engine through two libraries (python-on-whales for Compose,
the Docker SDK for inspection, logs and builds), and each fails in its own way: a
DockerException carrying a command's stderr, an APIError with the daemon's explanation, or a
bare requests ConnectionError when the engine stops mid-way. These helpers turn each into a
message that names the part and what to do, and tell a container that died or keeps
restarting while `up` waits for it, with its last log lines.
"""

from __future__ import annotations

import re

import docker
import docker.errors
import requests.exceptions
from python_on_whales.exceptions import DockerException as ComposeError

from lab.grammar import printable

# what the engine (or the libraries talking to it) may raise during up/down/status
ENGINE_ERRORS: tuple[type[BaseException], ...] = (
    docker.errors.DockerException, ComposeError, requests.exceptions.ConnectionError,
)
LOG_LINES = 10
RESUME = "`galera-lab up` resumes after a fix; `galera-lab down` removes what was started"
# Compose's progress lines, which say nothing about the failure
_PROGRESS = re.compile(r"^\s*(?:Container|Network|Volume|Image)\s+\S+\s+(?:Creat|Start|Stop|Remov|Wait|Heal|Running|Built)")


def _lines(text: str | bytes | None, limit: int) -> list[str]:
    """The last `limit` non-empty lines of some output, each printable, ids shortened as
    `docker ps` does, and at most 400 characters."""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    text = re.sub(r"\b([0-9a-f]{12})[0-9a-f]{52}\b", r"\1", text or "")
    lines = [printable(ln.rstrip())[:400] for ln in text.splitlines() if ln.strip()]
    return lines[-limit:]


def describe(exc: BaseException, part: str) -> str:
    """One clear message for an engine failure during `part` (e.g. "starting app")."""
    if isinstance(exc, requests.exceptions.ConnectionError) or (
            isinstance(exc, docker.errors.DockerException) and "Connection aborted" in str(exc)):
        return (f"{part}: the Docker engine stopped answering ({exc.__class__.__name__}); start it again "
                f"(`systemctl start docker`, or `dockerd &` as root); {RESUME}")
    if isinstance(exc, ComposeError):
        lines = [ln for ln in _lines(exc.stderr, 40) if not _PROGRESS.match(ln)][-5:] or [f"exit code {exc.return_code}"]
        detail = "\n  ".join(lines)
    elif isinstance(exc, docker.errors.APIError):
        detail = printable(str(exc.explanation or exc))
    else:
        detail = printable(str(exc))
    hint = ""
    if re.search(r"port is already allocated|address already in use", str(getattr(exc, "stderr", "")) + detail):
        hint = "; a host port was taken after the preflight check: free it or choose another (app.http_port)"
    return f"{part} failed: {detail}{hint}\n{RESUME}"


RESTARTS_FORGIVEN = 2
"""Restarts by an on-failure policy that `up` waits through before calling a container broken."""


def _policy(container: docker.models.containers.Container) -> str:
    return str(container.attrs.get("HostConfig", {}).get("RestartPolicy", {}).get("Name", ""))


def container_trouble(container: docker.models.containers.Container) -> str | None:
    """Why a container `up` started can no longer become ready (exited, dead, restarting), or None."""
    state = container.attrs.get("State", {})
    status = state.get("Status", "")
    restarts = int(container.attrs.get("RestartCount", 0) or 0)
    if state.get("Restarting") or status == "restarting":
        if restarts < RESTARTS_FORGIVEN and _policy(container) == "on-failure":
            return None  # one crash at start, restarted by its policy (ProxySQL's, tiers/proxysql.py)
        how = f"keeps restarting (exit code {state.get('ExitCode')}, {restarts} restarts)"
    elif status in ("exited", "dead"):
        how = f"{status} with code {state.get('ExitCode')}" + (f" ({state['Error']})" if state.get("Error") else "")
    else:
        return None
    try:
        tail = _lines(container.logs(tail=LOG_LINES * 3), LOG_LINES)
    except docker.errors.APIError:
        tail = []
    shown_tail = "".join(f"\n  | {ln}" for ln in tail) or "\n  (no log output)"
    return f"{container.name} {how}; its last log lines:{shown_tail}"
