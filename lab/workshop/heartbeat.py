"""A heartbeat through the VIP: what measures "did SQL pause, and for how long" in exercise 2.

Why a process of its own: the pause happens while the student kills the VIP holder (from the
terminal or the dashboard) and the step that asks about it is checked afterwards, so something
must have been writing during the failover. `galera-lab workshop start vip-failover` starts
this process (the `heartbeat` action), detached from the command; every `interval` it opens a
connection through the VIP if it has none and INSERTs the client's clock into
`workshop.heartbeat`. The longest gap between two committed heartbeats is how long writes
through the VIP paused, as an application saw it (check `write_pause`).

It ends by itself: when the student's progress file shows another exercise (or none), when
the lab's stack folder is gone, or after `--seconds`; one per lab (the pid file).

    python -m lab.workshop.heartbeat --project ws-lab --stack .lab/ws-lab --exercise vip-failover
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pymysql

from lab import db
from lab.workshop.progress import load_progress

TABLE = "workshop.heartbeat"
PID_FILE = "workshop-heartbeat.pid"
LOG_FILE = "workshop-heartbeat.log"
MODULE = "lab.workshop.heartbeat"


def ensure_table(conn: pymysql.connections.Connection) -> None:
    db.query(conn, "CREATE DATABASE IF NOT EXISTS workshop")
    db.query(conn, f"CREATE TABLE IF NOT EXISTS {TABLE} "
                   "(id BIGINT AUTO_INCREMENT PRIMARY KEY, at DOUBLE NOT NULL, KEY (at)) ENGINE=InnoDB")


def _ours(pid: int) -> bool:
    """Whether `pid` is a heartbeat process (not a recycled pid of something else)."""
    try:
        return MODULE in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False


def stop(stack: Path) -> bool:
    """Stop the lab's heartbeat, if one runs; True when one was stopped."""
    try:
        pid = int((stack / PID_FILE).read_text().strip())
    except (FileNotFoundError, ValueError):
        return False
    (stack / PID_FILE).unlink(missing_ok=True)
    if not _ours(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    return True


def start(stack: Path, project: str, exercise: str, seconds: float, interval: float = 0.2) -> int:
    """Start the heartbeat detached (its own session, output to the stack's log); its pid."""
    stack = stack.resolve()  # the process may outlive the caller's working directory
    stop(stack)
    log = (stack / LOG_FILE).open("ab")
    proc = subprocess.Popen([sys.executable, "-m", MODULE, "--project", project, "--stack", str(stack),
                             "--exercise", exercise, "--seconds", str(seconds), "--interval", str(interval)],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    (stack / PID_FILE).write_text(f"{proc.pid}\n")
    return proc.pid


def run(stack: Path, project: str, exercise: str, seconds: float, interval: float) -> int:
    from lab.runtime import Lab

    lab = Lab.existing(project, stack)
    host, port = str(lab.spec.keepalived.vip), lab.plan.tier.write_port
    password = lab.secrets["LAB_ADMIN_PASSWORD"]
    deadline = time.monotonic() + seconds
    conn: pymysql.connections.Connection | None = None
    next_look = 0.0
    while time.monotonic() < deadline:
        if time.monotonic() >= next_look:  # is the exercise still under way?
            next_look = time.monotonic() + 1.0
            if not stack.is_dir() or load_progress(stack).exercise != exercise:
                break
        began = time.monotonic()
        try:
            if conn is None:
                conn = db.connect(host, port, "lab_admin", password, timeout=1.0)
            db.query(conn, f"INSERT INTO {TABLE} (at) VALUES (%s)", (time.time(),))
        except (pymysql.MySQLError, OSError):
            if conn is not None:
                try:
                    conn.close()
                except Exception:  # noqa: BLE001 - already broken
                    pass
            conn = None
        time.sleep(max(0.0, interval - (time.monotonic() - began)))
    if conn is not None:
        conn.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.splitlines()[0])
    p.add_argument("--project", required=True)
    p.add_argument("--stack", required=True, type=Path)
    p.add_argument("--exercise", required=True)
    p.add_argument("--seconds", type=float, default=900.0)
    p.add_argument("--interval", type=float, default=0.2)
    a = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    return run(a.stack, a.project, a.exercise, a.seconds, a.interval)


if __name__ == "__main__":
    sys.exit(main())
