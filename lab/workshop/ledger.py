"""The faults left in place on one lab, whichever process injected them: one small file.

Why a file: `galera-lab workshop fault` injects a fault and exits (the fault stays for the
student to look at, chaos/faults.py `detach`), while the dashboard injects from its own
process. "heal all" on the page and `galera-lab workshop heal` must each undo *every* such
fault, so both record what they inject here (`<stack>/workshop-faults.json`, mode 0600: it
names containers and host pids of the student's lab) and heal from here. A record is the
fault's `to_record()`; `faults.revive` rebuilds it in the healing process, so a fault is
undone by its own `heal()`, not by a second copy of that logic.

Writers take an flock on `<stack>/.workshop-faults.lock` around read-modify-write, and write
by rename, so two processes never lose each other's records and a reader never sees half a file.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import docker.errors

from chaos import faults

FILE = "workshop-faults.json"
LOCK = ".workshop-faults.lock"
# kinds undone by starting their targets again: already undone when every target runs since
RESTARTED_BY_UP = ("Kill", "Stop", "Restart", "CrashAll")


def ledger_path(stack: Path) -> Path:
    return stack / FILE


@contextmanager
def _locked(stack: Path) -> Iterator[None]:
    stack.mkdir(parents=True, exist_ok=True)
    fd = os.open(stack / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def read(stack: Path) -> list[dict[str, Any]]:
    """The records, oldest first ([] when none; a damaged file counts as none and is replaced
    at the next write: the sweep in `workshop heal` still removes what it listed)."""
    try:
        raw = json.loads(ledger_path(stack).read_text())
    except (FileNotFoundError, ValueError):
        return []
    return [r for r in raw if isinstance(r, dict) and "id" in r] if isinstance(raw, list) else []


def _write(stack: Path, records: list[dict[str, Any]]) -> None:
    fd, tmp = tempfile.mkstemp(dir=stack, prefix=".faults-")  # mkstemp: mode 0600
    with os.fdopen(fd, "w") as fh:
        json.dump(records, fh, indent=2)
    os.replace(tmp, ledger_path(stack))


def add(stack: Path, key: str, fault: faults.Fault, origin: str) -> str:
    """Record an applied fault (`key`: its button or workshop key; `origin`: terminal or
    dashboard); returns the record's id, unique across processes."""
    rec = fault.to_record()
    rec.update(id=secrets.token_hex(4), key=key, origin=origin, pid=os.getpid(), recorded=time.time())
    with _locked(stack):
        _write(stack, [*read(stack), rec])
    return str(rec["id"])


def remove(stack: Path, record_id: str) -> bool:
    """Drop one record; False when it was not there (healed by another process meanwhile)."""
    with _locked(stack):
        records = read(stack)
        kept = [r for r in records if r["id"] != record_id]
        if len(kept) != len(records):
            _write(stack, kept)
        return len(kept) != len(records)


def ids(stack: Path) -> set[str]:
    return {str(r["id"]) for r in read(stack)}


def _undone_already(lab: Any, record: dict[str, Any]) -> bool:
    """A kill, stop or crash whose targets all run again, started after the fault (by `up` or
    `docker start`): nothing to undo, and restarting a proxy's sidecar again would move the VIP."""
    if record.get("kind") not in RESTARTED_BY_UP:
        return False
    targets = record.get("detail", {}).get("nodes") or [record["target"]]
    for service in targets:
        try:
            c = lab.docker.containers.get(lab.spec.container(service))
        except docker.errors.NotFound:
            return False
        started = c.attrs["State"].get("StartedAt", "")
        if c.status != "running" or _rfc3339(started) < float(record["start"]):
            return False
    return True


def _rfc3339(text: str) -> float:
    from datetime import UTC, datetime

    try:
        return datetime.fromisoformat(text[:26].rstrip("Z")).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return 0.0


def heal(lab: Any, record: dict[str, Any]) -> str:
    """Undo one recorded fault with its own heal (rebuilt by `faults.revive`) and drop its
    record; what was done, in words. Raises what the heal raises (the record then stays)."""
    from lab.workshop import actions  # noqa: F401 - registers the workshop's own kinds (BackupLock)

    what = f"{record.get('name')} {record.get('target')}"
    if _undone_already(lab, record):
        remove(lab.stack, str(record["id"]))
        return f"{what}: already back"
    faults.revive(lab, record).heal()
    remove(lab.stack, str(record["id"]))
    return f"healed {what} (injected from the {record.get('origin', '?')})"


def heal_all(lab: Any, skip: set[str] | None = None) -> tuple[list[str], list[str]]:
    """Heal every recorded fault but `skip` (ids the caller heals itself), newest first;
    (what was done, errors)."""
    done, errors = [], []
    for rec in reversed(read(lab.stack)):
        if skip and rec["id"] in skip:
            continue
        try:
            done.append(heal(lab, rec))
        except Exception as exc:  # noqa: BLE001 - heal the others too
            errors.append(f"{rec.get('name')} {rec.get('target')}: {exc}")
    return done, errors


def prune(lab: Any) -> list[str]:
    """Drop the records of kills, stops and crashes already undone (every target runs again,
    started after the fault: `galera-lab up` or `docker start`); their ids."""
    dropped = []
    for rec in read(lab.stack):
        if _undone_already(lab, rec):
            remove(lab.stack, str(rec["id"]))
            dropped.append(str(rec["id"]))
    return dropped
