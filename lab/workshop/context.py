"""What checks and actions share: the lab, the student's progress, and facts read from the lab.

Why one place for the facts: an answer step ("which node writes now?") and the action that
answers it for the teacher must agree on the truth, and both must read it from the real lab
(status, SQL, Docker), never from what someone typed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import docker.errors
import pymysql

from chaos import faults
from lab import db
from lab.runtime import Lab
from lab.status import LabStatus
from lab.tiers.base import Backend
from lab.workshop.model import ExerciseError
from lab.workshop.progress import Progress

DATABASE = "workshop"
BACKUP_MARK = "workshop-backup"  # in the held session's statement, so it can be found and killed


def _quiet(_: str) -> None:
    """Default progress sink."""


@dataclass
class Ctx:
    """One run of a check or an action: the lab, the progress it may read and change, output."""

    lab: Lab
    progress: Progress
    say: Callable[[str], None] = _quiet

    @property
    def facts(self) -> dict[str, Any]:
        return self.progress.facts

    def status(self) -> LabStatus:
        return self.lab.status()

    def fact(self, name: str) -> Any:
        """A remembered fact; ExerciseError when the exercise's setup did not remember it."""
        if name not in self.facts:
            raise ExerciseError(f"the exercise remembered no {name!r}; run `galera-lab workshop start` again")
        return self.facts[name]

    # ---- SQL ----

    def admin(self, node: str, timeout: float = 3.0) -> pymysql.connections.Connection:
        """A session straight to one node that never waits on causality itself."""
        conn = db.connect(str(self.lab.spec.node_address(node)), 3306, "lab_admin",
                          self.lab.secrets["LAB_ADMIN_PASSWORD"], timeout=timeout)
        db.query(conn, "SET SESSION wsrep_sync_wait=0")
        return conn

    def vip(self, timeout: float = 3.0) -> pymysql.connections.Connection:
        """A session through the VIP's write port, as an application would open one."""
        return db.connect(str(self.lab.spec.keepalived.vip), self.lab.plan.tier.write_port, "lab_admin",
                          self.lab.secrets["LAB_ADMIN_PASSWORD"], timeout=timeout)

    def write_through_vip(self) -> tuple[bool, str]:
        """One acknowledged write through the VIP, remembered; (ok, why not)."""
        try:
            with self.vip() as conn:
                ensure_table(conn)
                db.query(conn, f"INSERT INTO {DATABASE}.acked (at) VALUES (%s)", (time.time(),))
                new_id = int(db.query(conn, "SELECT LAST_INSERT_ID()")[0][0])
        except pymysql.MySQLError as exc:
            return False, f"a write through the VIP failed: {error_text(exc)}"
        self.facts.setdefault("acked", []).append(new_id)
        return True, ""

    def container_state(self, service: str) -> str:
        return self.lab.probe.container_state(service)

    def container(self, service: str):  # -> docker.models.containers.Container
        try:
            return self.lab.docker.containers.get(self.lab.spec.container(service))
        except docker.errors.NotFound:
            raise ExerciseError(f"container {self.lab.spec.container(service)} does not exist") from None


def error_text(exc: BaseException) -> str:
    """A MySQL error as one short line: `1047 WSREP has not yet prepared node …`."""
    args = getattr(exc, "args", ())
    if len(args) >= 2:
        return f"{args[0]} {args[1]}"[:160]
    return str(exc)[:160]


def ensure_table(conn: pymysql.connections.Connection) -> None:
    """The table of acknowledged writes (an id the client saw committed)."""
    db.query(conn, f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
    db.query(conn, f"CREATE TABLE IF NOT EXISTS {DATABASE}.acked "
                   "(id BIGINT AUTO_INCREMENT PRIMARY KEY, at DOUBLE NOT NULL) ENGINE=InnoDB")


def normalise(answer: str, project: str) -> str:
    """`ws-lab-node2`, ` Node2 ` and `node2` are one answer."""
    text = answer.strip().lower()
    return text.removeprefix(f"{project}-")


# ---- facts: the truth, read from the lab -----------------------------------------------------


def most_advanced(ctx: Ctx) -> set[str]:
    """Nodes with the highest last committed seqno: read by `galera-recover` on a stopped node's
    volume (as `up` does), from `wsrep_last_committed` on a running one."""
    status = ctx.status()
    seqnos = {g.name: g.last_committed for g in status.galera if g.container == "running" and g.last_committed >= 0}
    stopped = [g.name for g in status.galera if g.container != "running"]
    for pos in ctx.lab.positions(stopped) if stopped else []:
        seqnos[pos.node] = pos.seqno
    if not seqnos:
        raise ExerciseError("no node has a position to compare")
    best = max(seqnos.values())
    return {n for n, s in seqnos.items() if s == best}


def backend_of(b: dict[str, str]) -> Backend:
    """A backend row of `ProxyStatus.backends` as the tier's `Backend` (for `tier.settled`)."""
    return Backend(b["name"], b["role"], b["status"])


def routing_to(status: LabStatus, node: str, roles: tuple[str, ...] | None = None) -> list[str]:
    """The running proxies that would send traffic to `node` now: in one of `roles` (writer,
    backup-writer, reader), or in any role when None."""
    return [p.name for p in status.proxies if p.container == "running"
            and any(b["name"] == node and b["status"] == "UP" and (roles is None or b["role"] in roles)
                    for b in p.backends)]


def serving_reads(status: LabStatus, node: str) -> list[str]:
    """The running proxies that would send reads to `node` now."""
    return routing_to(status, node, ("reader",))


def truths(ctx: Ctx, fact: str) -> set[str]:
    """Every answer that is right for `fact` now (a tie of most advanced nodes has several)."""
    status = ctx.status()
    if fact == "writer":
        found = faults.writer_of(status)
        return {found} if found else set()
    if fact == "vip_holder":
        found = faults.vip_holder(status)
        return {found} if found else set()
    if fact == "most_advanced":
        return most_advanced(ctx)
    if fact == "locked_in_read_path":
        return {"yes" if serving_reads(status, ctx.fact("locked")) else "no"}
    raise ExerciseError(f"no fact {fact!r}")


ANSWER_FACTS = ("writer", "vip_holder", "most_advanced", "locked_in_read_path")
REMEMBER_FACTS = ("writer", "vip_holder", "reader", "node")


def remember(ctx: Ctx, fact: str) -> str:
    """Pick and keep a role's holder now (the writer, a reader, …) for later checks."""
    status = ctx.status()
    try:
        value = faults.resolve_target(fact.replace("_", "-"), status)
    except faults.FaultError:
        raise ExerciseError(f"no {fact} in the lab right now; is it healthy? (`galera-lab status`)") from None
    ctx.facts[fact] = value
    return value
