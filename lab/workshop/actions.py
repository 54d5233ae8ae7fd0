"""The actions an exercise's setup and solutions may name: what the teacher (and the test) runs.

Why a registry, like the checks: a YAML file names an action and its parameters, validated on
load. Faults come from the chaos catalog (chaos/faults.py through the dashboard's buttons,
lab/dashboard/catalog.py) plus two the workshop needs (every node cut from every other; a
backup's read lock on a reader). A fault the workshop injects outlives the command that
injected it (the student looks at it afterwards), so it is detached from the process's heal
registry; `heal` (and `galera-lab up` for a stopped or crashed part) undoes it.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import docker.errors
import pymysql
from pydantic import Field, field_validator

from chaos import faults
from chaos import stale_reads as sr
from lab import db
from lab.dashboard import catalog
from lab.workshop import heartbeat
from lab.workshop.checks import NoParams, Params, Registered, backup_sessions, measured_pause
from lab.workshop.context import (ANSWER_FACTS, BACKUP_MARK, REMEMBER_FACTS, Ctx, backend_of, error_text, remember,
                                  truths)
from lab.workshop import ledger
from lab.workshop.model import ExerciseError
from lab.workshop.progress import Progress

WORKSHOP_FAULTS = ("partition-all", "backup-lock")


def fault_keys() -> tuple[str, ...]:
    """Every fault `workshop fault KEY` and the `fault` action take: the dashboard's, then ours."""
    return tuple(catalog.BY_KEY) + WORKSHOP_FAULTS


class FaultParams(Params):
    key: str

    @field_validator("key")
    @classmethod
    def _known(cls, key: str) -> str:
        if key not in fault_keys():
            raise ValueError(f"unknown fault {key!r}; known: {', '.join(fault_keys())}")
        return key


class RememberParams(Params):
    fact: Literal[REMEMBER_FACTS]  # type: ignore[valid-type]


class AnswerParams(Params):
    fact: Literal[ANSWER_FACTS + ("write_pause",)]  # type: ignore[valid-type, operator]
    wrong: bool = Field(False, description="answer something the lab contradicts (to show a refusal)")


class CountParams(Params):
    count: int = Field(10, ge=1, le=1000)


class StartParams(Params):
    fact: Literal[REMEMBER_FACTS]  # type: ignore[valid-type]


class SyncWaitParams(Params):
    value: int = Field(ge=0, le=15)


ActionDef = Registered[str]  # an action returns what it did, in words


# ---- the actions -----------------------------------------------------------------------------


def do_remember(ctx: Ctx, p: RememberParams) -> str:
    return f"remembered the {p.fact}: {remember(ctx, p.fact)}"


def do_write_rows(ctx: Ctx, p: CountParams) -> str:
    for _ in range(p.count):
        ok, why = ctx.write_through_vip()
        if not ok:
            raise ExerciseError(why)
    return f"{p.count} acknowledged writes through the VIP ({len(ctx.facts['acked'])} remembered)"


def inject(ctx: Ctx, key: str) -> str:
    """Inject one fault by key and leave it in place after this process ends, recorded in the
    lab's fault ledger (lab/workshop/ledger.py) so that the dashboard's "heal all" heals it too."""
    if key == "partition-all":
        fault: faults.Fault = faults.Partition(ctx.lab, [[n] for n in ctx.lab.spec.node_names])
    elif key == "backup-lock":
        node = ctx.facts.get("locked") or remember(ctx, "reader")
        ctx.facts["locked"] = node
        if backup_sessions(ctx, node):
            return f"{node} is already locked by a backup session"
        fault = BackupLock(ctx.lab, node)
    else:
        try:
            fault = catalog.button(key).build(ctx.lab, ctx.status())
        except faults.FaultError as exc:
            raise ExerciseError(f"fault {key} can't be injected now: {str(exc)[:200]}") from None
    try:
        fault.apply()
    except faults.FaultError as exc:
        raise ExerciseError(f"fault {key}: {exc}") from None
    faults.detach(fault)
    ledger.add(ctx.lab.stack, key, fault, "terminal")
    return f"injected {key} on {fault.target}"


def do_fault(ctx: Ctx, p: FaultParams) -> str:
    return inject(ctx, p.key)


@faults.revivable
class BackupLock(faults.Fault):
    """A reader held the way a backup tool holds it: FLUSH TABLES WITH READ LOCK in a session
    left open (a `docker exec -d` client inside the node, so it outlives this command). Heal:
    KILL that session."""

    name = "backup-lock"

    def _ctx(self) -> Ctx:
        return Ctx(self.lab, Progress())  # type: ignore[arg-type]

    def _inject(self) -> None:
        ctx, node = self._ctx(), self.target
        ctx.container(node).exec_run(
            ["mariadb", "-h", "127.0.0.1", "-u", "lab_admin", "-e",
             f"FLUSH TABLES WITH READ LOCK; SELECT '{BACKUP_MARK}', SLEEP(3600)"],
            environment={"MYSQL_PWD": ctx.lab.secrets["LAB_ADMIN_PASSWORD"]}, detach=True)
        deadline = time.monotonic() + 15
        while not backup_sessions(ctx, node):
            if time.monotonic() > deadline:
                raise faults.FaultError(f"the backup session on {node} did not start")
            time.sleep(0.3)

    def _restore(self) -> None:
        release_backups(self._ctx(), [self.target])


def release_backups(ctx: Ctx, nodes: list[str] | None = None) -> list[str]:
    """KILL every workshop backup session on every running node (or on `nodes`)."""
    released = []
    for node in nodes or ctx.lab.spec.node_names:
        for thread in backup_sessions(ctx, node):
            try:
                with ctx.admin(node) as conn:
                    db.query(conn, f"KILL CONNECTION {int(thread)}")
                released.append(node)
            except pymysql.MySQLError:
                pass  # ended meanwhile
    return released


def do_heal(ctx: Ctx, p: NoParams) -> str:
    """Undo every fault in the lab's ledger, whoever injected it (the terminal or the
    dashboard: a killed part is started again, a crashed cluster recovered with `up`); then,
    for what a process killed hard left unrecorded: network cuts (every LABCHAOS chain), paused
    containers, backup locks."""
    done, errors = ledger.heal_all(ctx.lab)
    done += [f"removed {c}" for c in faults.sweep(ctx.lab)]
    for service in [*ctx.lab.spec.node_names, *ctx.lab.spec.proxy_names]:
        try:
            c = ctx.lab.docker.containers.get(ctx.lab.spec.container(service))
        except docker.errors.NotFound:
            continue
        if c.status == "paused":
            c.unpause()
            done.append(f"unpaused {service}")
    done += [f"released the backup lock on {n}" for n in release_backups(ctx)]
    if errors:
        raise ExerciseError("heal failed: " + "; ".join(errors) + (f" (done: {'; '.join(done)})" if done else ""))
    return "; ".join(done) or "nothing to heal"


def do_up(ctx: Ctx, p: NoParams) -> str:
    ctx.lab.up(say=ctx.say)
    return "galera-lab up: the lab is healthy"


def do_answer(ctx: Ctx, p: AnswerParams) -> str:
    if p.fact == "write_pause":
        gap, _, _ = measured_pause(ctx)
        ctx.progress.answer = f"{gap * 5 + 30:.0f} s" if p.wrong else f"{gap:.1f} s"
        return f"answered {ctx.progress.answer}"
    right = sorted(truths(ctx, p.fact))
    if not right:
        raise ExerciseError(f"the lab shows no {p.fact} now")
    ctx.progress.answer = "node99" if p.wrong else right[0]
    return f"answered {ctx.progress.answer}"


def do_start(ctx: Ctx, p: StartParams) -> str:
    node = ctx.fact(p.fact)
    ctx.container(node).start()
    return f"docker start {ctx.lab.spec.container(node)}"


def do_sync_wait(ctx: Ctx, p: SyncWaitParams) -> str:
    """SET GLOBAL wsrep_sync_wait on every node; on a tier that pools backend connections, also
    close the pooled ones (they keep the value of their opening), so new reads get the value."""
    paths = sr.Paths.of(ctx.lab)
    sr.set_global_sync_wait(paths, p.value)
    tier = ctx.lab.plan.tier
    note = ""
    if tier.pools_connections:
        killed = sr.renew_proxy_pool(paths, [str(ctx.lab.spec.proxy_backend_address(x)) for x in ctx.lab.spec.proxy_names])
        note = f"; closed {killed} pooled backend connection(s) of the {tier.title} tier"
    return f"SET GLOBAL wsrep_sync_wait={p.value} on every node{note}"


def do_rolling_restart(ctx: Ctx, p: NoParams) -> str:
    """Restart one node at a time, waiting until it is Synced and every proxy routes to it
    again before the next; one acknowledged write through the VIP after each."""
    lab = ctx.lab
    tier = lab.plan.tier
    for node in lab.spec.node_names:
        ctx.say(f"restarting {node}")
        ctx.container(node).restart(timeout=30)
        deadline = time.monotonic() + 180

        def back() -> bool:
            st = lab.status()
            g = next(x for x in st.galera if x.name == node)
            return g.ready and g.cluster_size == len(st.galera) and all(
                tier.settled([backend_of(b) for b in x.backends]) for x in st.proxies)
        lab.wait(back, f"{node} Synced and back in every proxy", deadline, ctx.say)
        ok, why = ctx.write_through_vip()
        if not ok:
            raise ExerciseError(f"after restarting {node}: {why}")
    return f"restarted {', '.join(lab.spec.node_names)} one at a time"


class HeartbeatParams(Params):
    seconds: float = Field(900, gt=0, le=3600, description="the longest it runs (it ends with the exercise)")


def do_heartbeat(ctx: Ctx, p: HeartbeatParams) -> str:
    """Start the heartbeat through the VIP (lab/workshop/heartbeat.py) for the exercise under way,
    once a first heartbeat committed (so a later "no rows" means it died, not a slow start)."""
    exercise = ctx.progress.exercise
    if exercise is None:
        raise ExerciseError("the heartbeat runs for an exercise: start one first")
    with ctx.vip() as conn:
        heartbeat.ensure_table(conn)
    since = time.time()
    pid = heartbeat.start(ctx.lab.stack, ctx.lab.spec.project, exercise, p.seconds)
    ctx.facts["heartbeat"] = {"since": since, "pid": pid}
    deadline = time.monotonic() + 30
    while measured_pause(ctx)[2] < 2:
        if time.monotonic() > deadline:
            raise ExerciseError(f"the heartbeat wrote nothing through the VIP in 30 s (its log: "
                                f"{ctx.lab.stack / heartbeat.LOG_FILE})")
        time.sleep(0.5)
    return f"a heartbeat writes through the VIP every 0.2 s (pid {pid}) until the exercise ends"


class WaitParams(Params):
    seconds: float = Field(gt=0, le=120)


def do_wait(ctx: Ctx, p: WaitParams) -> str:
    time.sleep(p.seconds)
    return f"waited {p.seconds:g} s"


def do_settle(ctx: Ctx, p: NoParams) -> str:
    """Until every proxy's view of the nodes has stayed the same for a whole detection window.
    Why: a question about the read path asked right after a fault races the health checks (in
    CI the answer was taken while HAProxy still read from the freshly locked node, then checked
    after it had taken it out)."""
    window = ctx.lab.spec.proxy_detection_s()
    end = time.monotonic() + max(30.0, 3 * window)

    def view() -> tuple[tuple[str, str, str, str], ...]:
        return tuple(sorted((px.name, b["name"], b["role"], b["status"]) for px in ctx.status().proxies
                            for b in px.backends))

    last, since = view(), time.monotonic()
    while time.monotonic() - since < window:
        if time.monotonic() > end:
            return f"the proxies' view still changed after {end - since:.0f} s; going on"
        time.sleep(0.2)
        now = view()
        if now != last:
            last, since = now, time.monotonic()
    return f"the proxies' view held for {window:g} s"


ACTIONS: dict[str, ActionDef] = {
    "remember": ActionDef(RememberParams, do_remember, "remember who plays a role now (writer, reader, …)"),
    "write_rows": ActionDef(CountParams, do_write_rows, "acknowledged writes through the VIP, remembered"),
    "fault": ActionDef(FaultParams, do_fault, "inject a fault of the catalog (left in place)"),
    "heal": ActionDef(NoParams, do_heal, "heal every fault in the lab's ledger, then sweep cuts, pauses, backup locks"),
    "up": ActionDef(NoParams, do_up, "`galera-lab up`: start what is stopped, recover a crashed cluster"),
    "answer": ActionDef(AnswerParams, do_answer, "answer the step's question with the lab's truth"),
    "start": ActionDef(StartParams, do_start, "docker start a remembered node"),
    "sync_wait": ActionDef(SyncWaitParams, do_sync_wait, "SET GLOBAL wsrep_sync_wait on every node"),
    "rolling_restart": ActionDef(NoParams, do_rolling_restart, "restart every node, one at a time"),
    "wait": ActionDef(WaitParams, do_wait, "sleep a few seconds"),
    "settle": ActionDef(NoParams, do_settle, "wait until the proxies' view of the nodes stops changing"),
    "heartbeat": ActionDef(HeartbeatParams, do_heartbeat, "start a heartbeat writing through the VIP (until the "
                                                          "exercise ends)"),
}


def run_action(ctx: Ctx, name: str, params: dict[str, Any]) -> str:
    entry = ACTIONS[name]
    try:
        return entry.run(ctx, entry.params.model_validate(params))
    except pymysql.MySQLError as exc:
        raise ExerciseError(f"{name}: {error_text(exc)}") from None
