"""The checks an exercise step may name: each decides from the real lab whether the step is done.

Why a registry: an exercise file names a check and its parameters, and the loader validates
both against this table, so a typo in a YAML file is refused at load time, not in class. Every
check returns a `Verdict` with a reason a student can act on ("node2 is still Synced"), and
reads the lab itself (status, SQL, Docker events, a stale-read measurement): an answer counts
only when the lab agrees with it.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import docker.errors
import pymysql
from pydantic import BaseModel, ConfigDict, Field

from chaos import faults
from chaos import stale_reads as sr
from lab import db
from lab.workshop import heartbeat
from lab.workshop.context import (ANSWER_FACTS, BACKUP_MARK, DATABASE, REMEMBER_FACTS, Ctx, backend_of, error_text,
                                  normalise, routing_to, serving_reads, truths)


IST_MARKS = ("IST received", "Receiving IST")  # MariaDB's words when a joiner takes an IST


@dataclass(frozen=True)
class Verdict:
    done: bool
    reason: str


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(Params):
    pass


class FactParams(Params):
    fact: Literal[REMEMBER_FACTS]  # type: ignore[valid-type]


class HealthyParams(Params):
    acked_writes: bool = Field(False, description="also: every remembered acknowledged write is on every node")


class AnswerParams(Params):
    fact: Literal[ANSWER_FACTS]  # type: ignore[valid-type]


class SyncedParams(Params):
    fact: Literal[REMEMBER_FACTS + ("locked",)]  # type: ignore[valid-type, operator]
    via_ist: bool = Field(False, description="the node's log since its start shows an incremental state transfer")
    in_read_path: bool = Field(False, description="every running proxy sends reads to it again")


class ReadsWaitParams(Params):
    seconds: float = Field(2.0, gt=0, le=30)


R = TypeVar("R")


@dataclass(frozen=True)
class Registered(Generic[R]):
    """An entry of a registry that exercise files name (a check here, an action in actions.py):
    the model its parameters are validated with, what it runs on the lab, a line for `list`."""

    params: type[Params]
    run: Callable[[Ctx, Any], R]
    doc: str


CheckDef = Registered[Verdict]


# ---- the checks ------------------------------------------------------------------------------


def lab_healthy(ctx: Ctx, p: HealthyParams) -> Verdict:
    status = ctx.status()
    if not status.healthy:
        n = len(status.galera)
        bad = [f"{g.name} {g.state}" + (f" (size {g.cluster_size})" if g.ready else "")
               for g in status.galera if not (g.ready and g.cluster_size == n)]
        bad += [f"{x.name} {x.container}{'' if x.container != 'running' else ' without a backend UP'}"
                for x in status.proxies if not x.ready]
        if not status.vip.sql_ok:
            bad.append(f"no SQL through the VIP ({status.vip.error})")
        if not status.app.ok:
            bad.append(f"app: {status.app.error or status.app.http_status}")
        return Verdict(False, "not healthy yet: " + "; ".join(bad))
    tier = ctx.lab.plan.tier
    unsettled = [x.name for x in status.proxies if not tier.settled([backend_of(b) for b in x.backends])]
    if unsettled:
        return Verdict(False, f"{', '.join(unsettled)} still see a node down (failback under way)")
    if p.acked_writes:
        lost = lost_writes(ctx)
        if lost:
            return Verdict(False, lost)
    return Verdict(True, f"all {len(status.galera)} nodes Synced, proxies and VIP ({status.vip.holder}) serving"
                   + (f", all {len(ctx.facts.get('acked', []))} acknowledged writes on every node" if p.acked_writes else ""))


def lost_writes(ctx: Ctx) -> str:
    """'' when every remembered acknowledged write is on every node, else what is missing where."""
    acked = set(ctx.facts.get("acked", []))
    if not acked:
        return ""
    for node in ctx.lab.spec.node_names:
        try:
            with ctx.admin(node) as conn:
                have = {int(r[0]) for r in db.query(conn, f"SELECT id FROM {DATABASE}.acked")}
        except pymysql.MySQLError as exc:
            return f"can't read {node}'s acknowledged writes: {error_text(exc)}"
        missing = acked - have
        if missing:
            return f"{len(missing)} acknowledged write(s) missing on {node}: ids {sorted(missing)[:10]}"
    return ""


def node_down(ctx: Ctx, p: FactParams) -> Verdict:
    node = ctx.fact(p.fact)
    state = ctx.container_state(node)
    if state == "running":
        return Verdict(False, f"{node} (the {p.fact} at the start) is still running")
    return Verdict(True, f"{node} is {state}")


def writer_failed_over(ctx: Ctx, p: FactParams) -> Verdict:
    old = ctx.fact(p.fact)
    if ctx.container_state(old) == "running":
        return Verdict(False, f"{old}, the writer at the start, is still running")
    new = faults.writer_of(ctx.status())
    if new is None or new == old:
        return Verdict(False, f"the proxies have no new writer yet (writer: {new})")
    ok, why = ctx.write_through_vip()
    if not ok:
        return Verdict(False, why)
    return Verdict(True, f"{old} is down, writes go to {new}, and a write through the VIP was acknowledged")


def vip_moved(ctx: Ctx, p: FactParams) -> Verdict:
    old = ctx.fact(p.fact)
    status = ctx.status()
    if ctx.container_state(old) == "running":
        return Verdict(False, f"{old}, the VIP holder at the start, is still running")
    holder = faults.vip_holder(status)
    if holder is None or holder == old:
        return Verdict(False, f"the VIP has not moved to another proxy yet (holder: {status.vip.holder})")
    if not status.vip.sql_ok:
        return Verdict(False, f"the VIP is on {holder} but SQL through it fails: {status.vip.error}")
    return Verdict(True, f"{old} is down, the VIP is on {holder}, SQL through it works")


def answer(ctx: Ctx, p: AnswerParams) -> Verdict:
    given = ctx.progress.answer
    if given is None:
        return Verdict(False, "no answer yet: `galera-lab workshop answer TEXT`")
    right = truths(ctx, p.fact)
    if normalise(given, ctx.lab.spec.project) in right:
        return Verdict(True, f"{given!r} is right: the lab agrees")
    return Verdict(False, f"{given!r} is not what the lab shows; look again (`galera-lab status`, the dashboard)")


class PauseParams(Params):
    tolerance_s: float = Field(1.5, gt=0, le=30, description="an answer this close to the measured pause is right")
    share: float = Field(0.4, ge=0, le=1, description="… or this share of the pause, when that is more")


def measured_pause(ctx: Ctx) -> tuple[float, float, int]:
    """(longest gap in seconds between two committed heartbeats since the exercise started,
    when that gap began, heartbeats counted) from `workshop.heartbeat` (lab/workshop/heartbeat.py)."""
    since = float(ctx.fact("heartbeat")["since"])
    with ctx.vip() as conn:
        rows = [float(r[0]) for r in db.query(conn, f"SELECT at FROM {heartbeat.TABLE} WHERE at >= %s ORDER BY at",
                                                (since,))]
    gaps = [(b - a, a) for a, b in zip(rows, rows[1:])]
    gap, at = max(gaps) if gaps else (0.0, since)
    return gap, at, len(rows)


def seconds_in(text: str) -> float | None:
    """The first number of an answer, in seconds: `4`, `about 4.5 s`, `3,8s` and `4000 ms` are
    answers; None when there is no number."""
    m = re.search(r"(\d+(?:[.,]\d+)?)\s*(ms|milli)?", text.lower())
    if m is None:
        return None
    value = float(m.group(1).replace(",", "."))
    return value / 1000 if m.group(2) else value


def write_pause(ctx: Ctx, p: PauseParams) -> Verdict:
    """The student's "how long did writes pause?" against the heartbeat's longest gap: right
    within max(tolerance_s, share × pause). The measured figure is said only once answered right."""
    given = ctx.progress.answer
    if given is None:
        return Verdict(False, "no answer yet: `galera-lab workshop answer SECONDS`")
    gap, at, count = measured_pause(ctx)
    if count < 10:
        return Verdict(False, f"the heartbeat wrote {count} row(s) since the exercise started: it is not running "
                              "(`galera-lab workshop start vip-failover` starts the exercise and it again)")
    if gap < 1.0:
        return Verdict(False, f"the heartbeat saw no pause (longest gap {gap:.1f} s): it was not writing while "
                              "the proxy died; start the exercise again")
    said = seconds_in(given)
    if said is None:
        return Verdict(False, f"{given!r} has no number: answer a number of seconds, e.g. 5")
    if abs(said - gap) <= max(p.tolerance_s, p.share * gap):
        return Verdict(True, f"{said:g} s is right: the heartbeat through the VIP could not commit for {gap:.1f} s "
                             f"(from {time.strftime('%H:%M:%S', time.localtime(at))})")
    return Verdict(False, f"{said:g} s is not what the heartbeat measured; look at the write availability chart, "
                          "or ask the heartbeat table (`workshop hint`)")


def node_synced(ctx: Ctx, p: SyncedParams) -> Verdict:
    node = ctx.fact(p.fact)
    status = ctx.status()
    n = len(status.galera)
    g = next(x for x in status.galera if x.name == node)
    if not (g.ready and g.cluster_size == n):
        return Verdict(False, f"{node} is {g.container}, {g.state}, cluster size {g.cluster_size}")
    if p.via_ist:
        log = _logs_since_start(ctx.container(node))
        if not any(mark in log for mark in IST_MARKS):
            return Verdict(False, f"{node} is Synced, but its log since its start shows no incremental state transfer")
    if p.in_read_path:
        running = [x.name for x in status.proxies if x.container == "running"]
        serving = serving_reads(status, node)
        if set(serving) != set(running):
            return Verdict(False, f"{node} is Synced, but not back in the read path of "
                                  f"{', '.join(sorted(set(running) - set(serving)))} yet")
        locks = backup_sessions(ctx, node)
        if locks:
            return Verdict(False, f"{node} still has a backup session holding its lock (ids {locks})")
    return Verdict(True, f"{node} is Synced in a cluster of {n}" + (" after an IST" if p.via_ist else "")
                   + (", and every proxy reads from it" if p.in_read_path else ""))


def _logs_since_start(container: Any) -> str:
    """The container's log since its current start (a restarted container keeps older lines)."""
    started = container.attrs["State"]["StartedAt"][:26].rstrip("Z")  # RFC 3339 with nanoseconds
    since = datetime.fromisoformat(started).replace(tzinfo=UTC).timestamp()
    return container.logs(since=int(since)).decode(errors="replace")


def backup_sessions(ctx: Ctx, node: str) -> list[int]:
    """Ids of the workshop's backup sessions holding a read lock on `node`."""
    try:
        with ctx.admin(node) as conn:
            rows = db.query(conn, "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE %s "
                                  "AND ID <> CONNECTION_ID()", (f"%{BACKUP_MARK}%",))
    except pymysql.MySQLError:
        return []
    return [int(r[0]) for r in rows]


def node_isolated(ctx: Ctx, p: NoParams) -> Verdict:
    status = ctx.status()
    cut = [g for g in status.galera if g.container == "running" and g.cluster_status != "Primary"]
    if not cut:
        return Verdict(False, "every running node is still in the Primary component")
    node = cut[0].name
    serving = routing_to(status, node)
    if serving:
        return Verdict(False, f"{node} is out of the Primary component, but {', '.join(serving)} still route to it")
    ok, why = ctx.write_through_vip()
    if not ok:
        return Verdict(False, why)
    return Verdict(True, f"{node} is {cut[0].cluster_status}, no proxy routes to it, and writes go on")


def no_primary(ctx: Ctx, p: NoParams) -> Verdict:
    status = ctx.status()
    primary = [g.name for g in status.galera if g.cluster_status == "Primary"]
    if primary:
        return Verdict(False, f"{', '.join(primary)} still in a Primary component")
    down = [g.name for g in status.galera if g.container != "running"]
    if down:
        return Verdict(False, f"{', '.join(down)} not running: this exercise cuts the network, it kills nothing")
    for g in status.galera:
        try:
            with ctx.admin(g.name) as conn:
                db.query(conn, f"INSERT INTO {DATABASE}.acked (at) VALUES (%s)", (time.time(),))
        except pymysql.MySQLError:
            continue
        return Verdict(False, f"{g.name} accepted a write although it is {g.cluster_status}")
    return Verdict(True, f"no node is in a Primary component ({', '.join(g.cluster_status for g in status.galera)}), "
                         "and every node refused a write")


def reads_wait(ctx: Ctx, p: ReadsWaitParams) -> Verdict:
    """A short stale-read measurement through the proxy tier's read path at the lab's current
    settings: done when no read was stale and the nodes counted a causal read for every answered
    read (the wsrep_causal_reads counters are the proof; @@wsrep_sync_wait can lie, galera#613)."""
    paths = sr.Paths.of(ctx.lab)
    sr.ensure_schema(paths)
    with sr.Prober(paths, workers=2, processes=1) as prober:
        before = sr.read_counters(paths)
        parts = prober.run(paths.proxy_read, None, p.seconds, None, 5.0)
        cell = sr.aggregate(-1, "idle", "global", paths.proxy_read.label, parts,
                            counters=sr.counter_delta(before, sr.read_counters(paths)))
    ctx.facts["last_measurement"] = {"answered": cell.answered, "stale": cell.stale, "errors": cell.errors,
                                     "causal_reads": cell.causal_reads_total, "served_by": cell.served_by}
    figures = (f"{cell.answered} reads through {paths.proxy_read.label}: {cell.stale} stale, "
               f"{cell.causal_reads_total} causal reads counted by the nodes, {cell.errors} errors")
    if cell.answered == 0:
        return Verdict(False, f"no read answered ({figures})")
    if cell.stale or not cell.every_read_waited:
        return Verdict(False, f"reads do not wait for the writes before them: {figures}")
    return Verdict(True, f"read-your-writes proven: {figures}")


def downtimes(events: list[dict[str, Any]], names: dict[str, str], since: float) -> dict[str, list[tuple[float, float]]]:
    """Per node, each (died, started again) span since `since`, from Docker events (a pure
    function of the events, so that its overlap rule is unit-tested); inf while still down."""
    down: dict[str, list[list[float]]] = {n: [] for n in names.values()}
    for ev in sorted(events, key=lambda e: e.get("timeNano", 0)):
        node = names.get(ev.get("Actor", {}).get("Attributes", {}).get("name", ""))
        at = ev.get("timeNano", 0) / 1e9
        if node is None or at < since:
            continue
        action = ev.get("Action") or ev.get("status")
        if action == "die" and not (down[node] and down[node][-1][1] == float("inf")):
            down[node].append([at, float("inf")])
        elif action == "start" and down[node] and down[node][-1][1] == float("inf"):
            down[node][-1][1] = at
    return {n: [(a, b) for a, b in spans] for n, spans in down.items()}


def docker_time(stamp: str) -> float:
    """Epoch seconds of a Docker state time (`2026-12-02T08:26:08.123456789Z`; nanoseconds cut
    to microseconds); 0 for Docker's zero time."""
    if not stamp or stamp.startswith("0001-"):
        return 0.0
    head, _, frac = stamp.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac or '0')[:6]:0<6}+00:00").timestamp()


def with_last_restarts(spans: dict[str, list[tuple[float, float]]], states: dict[str, dict[str, Any]],
                       since: float) -> dict[str, list[tuple[float, float]]]:
    """The spans from Docker's events, plus each node's last stop and start from its container
    state (`FinishedAt`, `StartedAt`) when the events lack it. Why: the engine keeps only its
    last 256 events, and every `docker exec` (the lab's status reads make two a second while the
    exercise waits) adds three, so on a busy engine a node's die/start can be gone by the time
    the student asks for the check (seen in CI's ProxySQL run)."""
    out = {n: list(ss) for n, ss in spans.items()}
    for node, state in states.items():
        died, started = docker_time(state.get("FinishedAt", "")), docker_time(state.get("StartedAt", ""))
        if died >= since and started >= died and not any(abs(a - died) < 1.0 for a, _ in out.get(node, [])):
            out.setdefault(node, []).append((died, started))
    return out


def rolling_verdict(spans: dict[str, list[tuple[float, float]]]) -> Verdict:
    """Done when every node went down and came back, and no two were down at the same time."""
    not_yet = [n for n, ss in spans.items() if not any(b != float("inf") for _, b in ss)]
    if not_yet:
        return Verdict(False, f"not restarted since the exercise began: {', '.join(not_yet)}")
    ordered = sorted((a, b, n) for n, ss in spans.items() for a, b in ss)
    for (_, a1, an), (b0, _, bn) in zip(ordered, ordered[1:]):
        if b0 < a1:
            return Verdict(False, f"{bn} went down while {an} was still down: not one at a time")
    return Verdict(True, f"{', '.join(spans)} restarted one at a time")


def rolling_restart(ctx: Ctx, p: NoParams) -> Verdict:
    """Every node was stopped and started again since the exercise began, never two at once
    (Docker's own events say when each died and started), and the cluster is whole again with
    every acknowledged write."""
    since = ctx.progress.started
    spec = ctx.lab.spec
    events = list(ctx.lab.docker.events(since=int(since), until=int(time.time()) + 1, decode=True,
                                        filters={"type": "container", "label": f"galera-lab.project={spec.project}"}))
    spans = downtimes(events, {spec.container(n): n for n in spec.node_names}, since)
    states = {n: ctx.lab.docker.containers.get(spec.container(n)).attrs["State"] for n in spec.node_names}
    verdict = rolling_verdict(with_last_restarts(spans, states, since))
    if not verdict.done:
        return verdict
    healthy = lab_healthy(ctx, HealthyParams(acked_writes=True))
    if not healthy.done:
        return Verdict(False, healthy.reason)
    return Verdict(True, f"{verdict.reason}; {healthy.reason}")


CHECKS: dict[str, CheckDef] = {
    "lab_healthy": CheckDef(HealthyParams, lab_healthy, "every part healthy (and no acknowledged write lost)"),
    "node_down": CheckDef(FactParams, node_down, "the remembered node's container is not running"),
    "writer_failed_over": CheckDef(FactParams, writer_failed_over,
                                   "the remembered writer is down, another node writes, a write through the VIP works"),
    "vip_moved": CheckDef(FactParams, vip_moved, "the remembered VIP holder is down, another proxy holds the VIP"),
    "answer": CheckDef(AnswerParams, answer, "the student's answer matches the lab's real state"),
    "write_pause": CheckDef(PauseParams, write_pause, "the student's answer is close to how long the heartbeat "
                                                      "through the VIP could not commit"),
    "node_synced": CheckDef(SyncedParams, node_synced, "the remembered node is Synced again (after an IST, "
                                                       "back in every proxy's read path)"),
    "node_isolated": CheckDef(NoParams, node_isolated, "a node is out of the Primary component, no proxy routes "
                                                       "to it, writes go on"),
    "no_primary": CheckDef(NoParams, no_primary, "no node in a Primary component and every node refuses writes"),
    "reads_wait": CheckDef(ReadsWaitParams, reads_wait, "a stale-read measurement through the proxy: every read "
                                                        "waited (causal) and none was stale"),
    "rolling_restart": CheckDef(NoParams, rolling_restart, "every node restarted one at a time, cluster whole, "
                                                           "no acknowledged write lost"),
}


def run_check(ctx: Ctx, name: str, params: dict[str, Any]) -> Verdict:
    """Run one check; a part that can't be reached right now (SQL, Docker) means not done, and says why."""
    entry = CHECKS[name]
    try:
        return entry.run(ctx, entry.params.model_validate(params))
    except pymysql.MySQLError as exc:
        return Verdict(False, f"SQL: {error_text(exc)}")
    except (docker.errors.APIError, OSError) as exc:
        return Verdict(False, f"{exc.__class__.__name__}: {str(exc)[:160]}")
