"""Running a chaos scenario: the lab it runs on, its clients, its faults, its figures.

`ChaosLab` owns the one lab of a chaos session (isolated project, subnets, VIP and ports so
that it can run beside other labs) and can re-create it with different settings. `Scenario`
is what a test uses: start the clients, inject faults (registered, so always healed), wait on
real conditions, heal, wait until healthy, read the final tables, run the checkers, and keep
verdicts and figures for the results file.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import docker.errors
import pymysql

from chaos import chamilo_probe, checkers, faults
from chaos.chamilo_probe import ChamiloSessionProbe, ChamiloWriteProbe
from chaos.history import FaultEvent, History, Op
from chaos.report import ResultsFile
from chaos.transactional import runner
from chaos.transactional.client import TxnSettings
from chaos.transactional.policy import ConsistencyPolicy
from chaos.workloads import (AvailabilityProbe, Endpoint, HttpProbe, RoutingProbe, Sampler, Workload, Writer,
                             ensure_tables, final_keys, running)
from lab.errors import LabError
from lab.isolation import SUITES, suite_spec
from lab.paths import stack_dir
from lab.plan import resolve
from lab.runtime import Lab, leftover_resources
from lab.spec import LabSpec
from lab.tiers.base import Backend

PROJECT = SUITES["chaos"].project


def chaos_spec(extra: list[tuple[str, Any]] | None = None) -> LabSpec:
    """The user's spec (`make chaos SPEC=…`, `--lab-spec`) on the chaos lab's own project,
    subnets, VIP, router id and HTTP port; `extra` for scenarios that need other settings."""
    return suite_spec("chaos", extra)


def say(msg: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class ChaosLab:
    """The session's lab, shared by every scenario (a scenario that needs another setting sets
    it at run time and the heal restores it, e.g. crash-all with innodb_flush_log_at_trx_commit=0)."""

    def __init__(self, stack: Path | None = None, policy: ConsistencyPolicy | None = None):
        self.stack = stack or stack_dir(PROJECT)
        self._drop_stale(chaos_spec())
        self.lab = Lab.create(chaos_spec(), self.stack)
        self.policy = policy or ConsistencyPolicy(TxnSettings())

    def _drop_stale(self, spec: LabSpec) -> None:
        """A lab of this project left with other settings (an interrupted variant run) is
        removed first: `up` would keep its running containers and their old config."""
        if not (self.stack / "plan.json").exists():
            return
        try:
            old = Lab.existing(PROJECT, self.stack)
        except (LabError, ValueError, KeyError):
            return
        if old.plan.to_json() != resolve(spec)[0].to_json() and any(leftover_resources(old.spec).values()):
            say(f"{PROJECT} is up with other settings: removing it first")
            old.down(volumes=True)

    @property
    def spec(self) -> LabSpec:
        return self.lab.spec

    def ensure_up(self, timeout: float = 300.0) -> None:
        """Heal leftovers and make sure the lab is whole and healthy: `up`, unless the lab is
        already whole (`not_whole` finds nothing), as it is after a scenario that waited until
        healthy. Why not always `up`: on a healthy lab it changes nothing, yet its compose calls
        cost 5-10 s on this machine before every scenario."""
        errors = faults.heal_all()
        if errors:
            say(f"healing leftovers: {errors}")
        removed = faults.sweep(self.lab)
        if removed:
            say(f"removed leftover chains {removed}")
        started = time.monotonic()
        reason = not_whole(self.lab)
        if reason is not None:
            say(f"running `up`: {reason}")
            self.lab.up(timeout=timeout)
        ensure_tables(Endpoint.vip(self.lab))
        if time.monotonic() - started > 5:
            say(f"lab healthy again after {time.monotonic() - started:.1f} s")

    def down(self) -> None:
        faults.heal_all()
        self.lab.down(volumes=True)


def not_whole(lab: Lab) -> str | None:
    """Why the lab is not whole and settled right now (what `up` would fix), or None.

    Whole: the rendered files are those of the spec (nothing to recreate); every container of
    the plan runs and none is paused; each keepalived sidecar started after its proxy (else it
    sits in the proxy's old, dead namespace); every node Synced in a full Primary component;
    every proxy sees every backend in its role; one VIP holder; SQL through the VIP and the
    application answer. Every part is read from the lab itself, never assumed."""
    changed = lab.render()
    if changed:
        return f"rendered files changed: {', '.join(changed)}"
    spec = lab.spec
    services = [*spec.node_names, *spec.proxy_names, *(faults.sidecar_of(p) for p in spec.proxy_names), "app"]
    found = {c.name: c for c in lab.docker.containers.list(
        all=True, filters={"label": f"galera-lab.project={spec.project}"})}
    for service in services:
        c = found.get(spec.container(service))
        if c is None or c.status != "running":
            return f"{service} is {'missing' if c is None else c.status}"
    for proxy in spec.proxy_names:
        started = found[spec.container(proxy)].attrs["State"]["StartedAt"]
        if found[spec.container(faults.sidecar_of(proxy))].attrs["State"]["StartedAt"] < started:
            return f"{faults.sidecar_of(proxy)} started before {proxy}"
    status = lab.status()
    if not status.healthy:
        return "not healthy"
    tier = lab.plan.tier
    unsettled = [p.name for p in status.proxies if not tier.settled([Backend(**b) for b in p.backends])]
    if unsettled:
        return f"{', '.join(unsettled)} not settled"
    holders = [p.name for p in status.proxies if p.holds_vip]
    if len(holders) != 1:
        return f"VIP held by {holders or 'nobody'}"
    return None


def read_versions(lab: Lab) -> dict[str, str]:
    """Versions of what runs, read from the running lab (not from what we meant to build)."""
    out: dict[str, str] = {"proxy_tier": lab.plan.proxy_kind, "app": lab.plan.app_kind}
    try:
        with Endpoint.node(lab, lab.spec.node_names[0]).connect(timeout=5) as conn:
            with conn.cursor() as cur:
                cur.execute("SELECT VERSION()")
                out["mariadb"] = str(cur.fetchone()[0])
                cur.execute("SHOW GLOBAL STATUS LIKE 'wsrep_provider_version'")
                row = cur.fetchone()
                out["galera"] = str(row[1]) if row else "unknown"
    except pymysql.MySQLError as exc:
        out["mariadb"] = f"unknown ({exc})"

    def exec_first_line(service: str, cmd: list[str]) -> str:
        try:
            code, text = lab.docker.containers.get(lab.spec.container(service)).exec_run(cmd)
        except (docker.errors.NotFound, docker.errors.APIError) as exc:
            return f"unknown ({exc})"
        lines = text.decode(errors="replace").strip().splitlines()
        # the line naming the version (ProxySQL logs a line about its allocator first)
        named = [line for line in lines if "version" in line.lower()]
        return (named or lines or [f"unknown (exit {code})"])[0]

    proxy = lab.spec.proxy_names[0]
    out[lab.plan.proxy_kind] = exec_first_line(proxy, lab.plan.tier.version_command)
    out["keepalived"] = exec_first_line(faults.sidecar_of(proxy), ["keepalived", "--version"])
    return out


def vip_on(lab: Lab, proxy: str) -> bool:
    """Whether the VIP is on the proxy's interfaces, read with `ip addr` in its namespace from
    the host (cheaper than docker exec, so it can be sampled every 100 ms)."""
    try:
        pid = faults.container_pid(lab, proxy)
    except faults.FaultError:
        return False
    proc = subprocess.run(faults.nsenter(pid, "ip", "-o", "-4", "addr", "show"), capture_output=True, text=True,
                          timeout=5)
    return f" {lab.spec.keepalived.vip}/" in proc.stdout


def vip_holders(lab: Lab) -> tuple[str, ...]:
    return tuple(p for p in lab.spec.proxy_names if vip_on(lab, p))


class Scenario:
    """One scenario's clients, faults, verdicts and figures (see the module docstring)."""

    def __init__(self, chaos: ChaosLab, name: str):
        self.chaos = chaos
        self.name = name
        self.history = History()
        self.faults: list[faults.Fault] = []
        self.extra_events: list[FaultEvent] = []
        self.verdicts: dict[str, Any] = {}
        self.figures: dict[str, Any] = {}
        self.samplers: list[Sampler] = []
        self.workloads: list[Workload] = []
        self.txn_run: runner.Run | None = None
        self.started = time.time()

    @property
    def lab(self) -> Lab:
        return self.chaos.lab

    @property
    def spec(self) -> LabSpec:
        return self.chaos.lab.spec

    # ---- clients ----

    @contextmanager
    def clients(self, writer: bool = True, avail: bool = True, http: bool = True, route: bool = False,
                txn: bool = False, duration: float = 240.0) -> Iterator[Scenario]:
        """Run the scenario's clients for the body of the `with` (bounded by `duration`); `txn`
        adds list-append clients as the session's policy says (`check_consistency` judges them)."""
        lab = self.lab
        ws: list[Workload] = []
        if txn:
            policy = self.chaos.policy.with_seed(int(self.started))
            self.txn_run, txn_clients = runner.start(lab, "list-append", policy.settings, self.history, duration,
                                                     policy.model)
            ws += txn_clients.clients
        if writer:
            ws.append(Writer(lab, self.history, duration=duration))
        if avail:
            ws.append(AvailabilityProbe(lab, self.history, duration=duration))
        chamilo_app = http and lab.plan.app_kind == "chamilo"
        if http and not chamilo_app:
            ws.append(HttpProbe(lab, self.history, duration=duration))
        if chamilo_app:
            # Chamilo's home page costs a PHP request with queries: 4 a second, not 10
            ws += [HttpProbe(lab, self.history, duration=duration, interval=0.25, marker=chamilo_probe.LOGIN_FORM),
                   ChamiloSessionProbe(lab, self.history, duration=duration),
                   ChamiloWriteProbe(lab, self.history, duration=duration)]
        if route:
            ws.append(RoutingProbe(lab, self.history, duration=duration))
        self.workloads += ws
        with running(*ws):
            yield self
            if chamilo_app:
                _raise_crashed(ws)
                self.await_chamilo()
        _raise_crashed(ws)
        if chamilo_app:
            self.check_chamilo()

    def await_chamilo(self, timeout: float = 60.0) -> None:
        """Once the lab is healthy again, every Chamilo client must get through again: each of
        them once more, so that the checks below judge the end state, not a request in flight."""
        now = time.time()
        for kind in ("http", "chamilo_session", "chamilo_write", "chamilo_read_own_write"):
            self.wait_for_ok(kind, 1, since=now, timeout=timeout)

    def check_chamilo(self) -> None:
        """What a Chamilo user saw: per page or action, its longest outage, how many requests
        failed and with which errors; lost sessions and stale reads after a write.

        Verdicts: every page and action works again by the end; no session is lost (PHP
        sessions are files in the app's volume, so no database fault may log a user out); and
        where the lab promises causal reads (`galera.wsrep_sync_wait` with bit 1), no saved
        event is missing from the calendar read straight after. Without that promise a stale
        read is a finding, counted, not a failure."""
        seen: dict[str, Any] = {}
        for kind in chamilo_probe.KINDS:
            ops = self.history.ops(kind)
            if kind == "chamilo_login" and len(ops) <= len({op.process for op in ops}):
                continue  # each client's first login is setup, not an outage
            d = checkers.downtime(ops)
            errors: dict[str, int] = {}
            for op in ops:
                if op.outcome != "ok":
                    errors[op.error or "?"] = errors.get(op.error or "?", 0) + 1
            seen[kind] = {"downtime_ms": round(d.longest_ms, 1), "requests": d.probes, "failed": d.failures,
                          "errors": dict(sorted(errors.items(), key=lambda e: -e[1])[:4])}
            self.verdicts[f"chamilo_{kind.removeprefix('chamilo_')}_downtime"] = d
        reads = self.history.ops("chamilo_read_own_write")
        stale = sum(1 for op in reads if op.error and op.error.startswith("stale"))
        lost = sum(1 for kind in ("chamilo_session", "chamilo_write") for op in self.history.ops(kind)
                   if op.error and op.error.startswith("session lost"))
        self.figures.update(chamilo=seen, chamilo_stale_reads=stale, chamilo_reads=len(reads),
                            chamilo_sessions_lost=lost,
                            http_downtime_ms=seen.get("http", {}).get("downtime_ms"),
                            chamilo_session_downtime_ms=seen.get("chamilo_session", {}).get("downtime_ms"),
                            chamilo_write_downtime_ms=seen.get("chamilo_write", {}).get("downtime_ms"))
        for kind, fig in seen.items():
            assert fig["requests"] > 0, f"no Chamilo {kind} request ran"
        assert lost == 0, f"Chamilo sessions lost {lost} times: a database fault logged the user out"
        if self.spec.galera.wsrep_sync_wait & 1:
            assert stale == 0, f"{stale} of {len(reads)} Chamilo calendar reads missed the event just saved, " \
                               f"though wsrep_sync_wait={self.spec.galera.wsrep_sync_wait} promises causal reads"

    def sample(self, fn: Callable[[], Any], interval: float = 0.2, name: str = "sampler",
               duration: float = 300.0) -> Sampler:
        """Start a poller of `fn`; stopped when the scenario finishes."""
        s = Sampler(fn, interval=interval, duration=duration, name=name)
        s.start()
        self.samplers.append(s)
        return s

    def stop_samplers(self) -> None:
        for s in self.samplers:
            s.stop()

    def ok_count(self, kind: str, since: float = 0.0) -> int:
        return sum(1 for op in self.history.ops(kind) if op.outcome == "ok" and op.start >= since)

    def wait_for_ok(self, kind: str, count: int = 10, since: float | None = None, timeout: float = 60.0) -> float:
        """Wait until `count` ops of `kind` succeeded since `since` (a baseline, or service back)."""
        t0 = time.time() if since is None else since
        return self.wait(lambda: self.ok_count(kind, t0) >= count, f"{count} ok {kind} ops", timeout, interval=0.05)

    # ---- faults ----

    def inject(self, fault: faults.Fault) -> faults.Fault:
        say(f"{self.name}: {fault.name} {fault.target}")
        self.faults.append(fault)
        fault.apply()
        return fault

    def heal(self, fault: faults.Fault) -> FaultEvent:
        event = fault.heal()
        say(f"{self.name}: healed {fault.name} {fault.target}")
        return event

    def fault_events(self) -> list[FaultEvent]:
        return [f.event for f in self.faults if f.start is not None] + self.extra_events

    # ---- waiting ----

    def wait(self, condition: Callable[[], bool], what: str, timeout: float, interval: float = 0.2) -> float:
        """Poll a real condition; return seconds waited; AssertionError naming it on timeout."""
        started = time.monotonic()
        while True:
            try:
                if condition():
                    return time.monotonic() - started
            except (pymysql.MySQLError, OSError, LabError, docker.errors.APIError):
                pass
            if time.monotonic() - started > timeout:
                raise AssertionError(f"{self.name}: timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(interval)

    def wait_event(self, sampler: Sampler, since: float, predicate: Callable[[Any], bool], what: str,
                   timeout: float) -> float:
        """Wait until the sampler has seen `predicate` hold at or after `since`; return the
        seconds from `since` to that sample (the measure and the wait agree by construction)."""
        found: list[float] = []

        def seen() -> bool:
            at = checkers.time_to_event(sampler.snapshot(), since, predicate)
            if at is not None:
                found.append(at)
            return at is not None
        self.wait(seen, what, timeout, interval=0.05)
        return found[-1]

    def wait_healthy(self, timeout: float = 180.0) -> float:
        """Every node Synced in a Primary component of full size, proxies, VIP and app OK, and
        every proxy settled (each node back in its role). Why settled: HAProxy fails back to
        node1 once its checks rise and then closes the sessions on the backup writer; a
        scenario that ended before that saw its last write cut (rolling_restart, once)."""
        tier = self.lab.plan.tier

        def settled() -> bool:
            status = self.lab.status()
            return status.healthy and all(tier.settled([Backend(**b) for b in p.backends]) for p in status.proxies)
        return self.wait(settled, "the whole lab healthy and every proxy settled", timeout, interval=0.5)

    # ---- verdicts ----

    def check_writes(self, allow_loss: bool = False) -> checkers.AcknowledgedWrites:
        """Final tables on every node against the writer's history: lost, duplicates, convergence."""
        rows = final_keys(self.lab)
        acked = checkers.check_acknowledged_writes(self.history, {n: set(k) for n, k in rows.items()})
        dups = checkers.check_no_duplicates(rows)
        conv = checkers.check_convergence(rows)
        self.verdicts.update(acknowledged_writes=acked, no_duplicates=dups, convergence=conv)
        self.figures.update(writes_attempted=acked.attempted, writes_acknowledged=acked.acknowledged,
                            writes_failed=acked.failed, writes_unknown=acked.unknown,
                            writes_unknown_present=acked.unknown_present, writes_lost=len(acked.lost))
        assert dups.ok, f"duplicate keys: {dups.duplicates}"
        assert conv.ok, f"nodes diverge: missing {conv.missing_by_node}"
        if not allow_loss:
            assert acked.ok, f"acknowledged writes lost: {len(acked.lost)} (e.g. {list(acked.lost.items())[:3]}); " \
                             f"failed yet present: {acked.failed_present[:3]}"
        assert acked.acknowledged > 0, "the writer got no write acknowledged at all"
        return acked

    def check_downtime(self, kind: str, deadline_s: float | None, figure: str | None = None,
                       since: float | None = None) -> checkers.Downtime:
        """Longest failing window of `kind` probes (from `since`), within the deadline if given.

        For writes, `figure` gets the longest span without an acknowledged write (see
        `longest_ack_gap`) and `write_fail_window_ms` the checker's failing window."""
        d = checkers.downtime(self.history.ops(kind), window_start=since)
        self.verdicts[f"{kind}_downtime"] = d
        if figure:
            self.figures[figure] = round(d.longest_ms, 1)
        if kind == "write":
            # what a writer feels: the longest span without an acknowledgement (a stalled commit
            # that ends ok closes the checker's failure window at its start, not its end)
            writes = self.history.ops("write")
            first = writes[0].start if writes else self.started
            gap = longest_ack_gap(writes, since if since is not None else first)
            self.figures["write_fail_window_ms"] = round(d.longest_ms, 1)
            if figure:
                self.figures[figure] = round(gap * 1000, 1)
            else:
                self.figures["write_ack_gap_ms"] = round(gap * 1000, 1)
            if deadline_s is not None:
                assert gap <= deadline_s, f"no write acknowledged for {gap:.1f} s (deadline {deadline_s:.1f} s)"
        else:
            ops = self.history.ops(kind)
            first = ops[0].start if ops else self.started
            self.figures[f"{kind}_ack_gap_ms"] = round(longest_ack_gap(ops, since if since is not None else first)
                                                       * 1000, 1)
        assert d.probes > 0, f"no {kind} probe ran"
        assert d.ok, f"{kind} still failing at the end: {d.windows[-1] if d.windows else '?'}"
        if deadline_s is not None:
            assert d.longest_ms <= deadline_s * 1000, \
                f"{kind} downtime {d.longest_ms:.0f} ms exceeds the deadline {deadline_s:.1f} s"
        return d

    def check_consistency(self, allow_loss: bool = False) -> Any:
        """The list-append clients' history under the session's consistency model (after final
        reads on every node): anomalies by class with one explanation each, lost acknowledged
        appends, stale reads, the strongest model the history satisfies.

        Fails on any anomaly the model forbids. With `allow_loss` (a crash of every node with
        settings that do not flush each commit), once appends were lost (lost appends, or reads
        before the crash of a tail the crash then lost) what the checker finds is the scenario's finding,
        recorded, not a failure: once committed appends are lost, later appends
        continue the lists from an older state, so reads taken before the crash and after it
        disagree (incompatible orders) and cycles run through the lost versions; all of it is
        the one loss seen from different sides."""
        assert self.txn_run is not None, "check_consistency needs clients(txn=True)"
        policy = self.chaos.policy
        self.txn_run.final_reads()
        verdict = self.txn_run.check()
        self.verdicts["consistency"] = verdict
        self.figures["consistency"] = runner.figures(verdict, policy.describe(), self.history.ops())
        assert verdict.committed > 0, "no list-append transaction committed"
        lost = verdict.lost_appends or verdict.orders_broken_by_loss()
        if allow_loss and lost:
            self.figures["consistency"]["finding"] = True
            found = ", ".join(f"{name} {n}" for name, n in verdict.counts.items())
            self.note("consistency_finding", lost_appends=verdict.lost_appends, anomalies=dict(verdict.counts),
                      text=f"list-append after the crash: {found}")
            return verdict
        assert verdict.ok, verdict.text()
        return verdict

    def figure(self, **values: Any) -> None:
        self.figures.update(values)

    def note(self, name: str, **fields: Any) -> None:
        """A finding or known issue, kept with the verdicts so that the report shows it."""
        self.verdicts[name] = fields
        self.figures[name] = fields.get("text", "")

    def finish(self) -> None:
        """Stop whatever still runs (also after a failed assertion)."""
        for w in self.workloads:
            w.stop()
        self.stop_samplers()

    def record(self, results: ResultsFile, outcome: str, history_dir: Path | None = None) -> None:
        self.figures.setdefault("duration_s", round(time.time() - self.started, 1))
        results.add_scenario(self.name, outcome, self.verdicts, self.figures, self.fault_events(), self.history)
        if history_dir is not None and len(self.history):
            history_dir.mkdir(parents=True, exist_ok=True)
            (history_dir / f"{self.name}.json").write_text(json.dumps(self.history.to_json()))


# ---- small readings shared by the scenarios --------------------------------------------------


def _raise_crashed(workloads: list[Workload]) -> None:
    for w in workloads:
        if w.error is not None:
            raise RuntimeError(f"workload {w.process} crashed: {w.error!r}") from w.error


def summary(lab: Lab, node: str) -> dict[str, Any]:
    from chaos.workloads import node_summary
    return node_summary(lab, node)


def sizes(lab: Lab, nodes: list[str]) -> dict[str, int]:
    """wsrep_cluster_size as each node sees it (0 when unreachable)."""
    return {n: summary(lab, n)["size"] for n in nodes}


def rejoined(lab: Lab, node: str) -> bool:
    """`node` is back: Synced in a Primary component AND every other node counts it again.

    The others' view matters: a paused node, once thawed, still reports its stale "Synced,
    size 3" for a moment before it learns it was evicted."""
    full = lab.spec.galera.nodes
    if not synced_in_full_cluster(lab, node):
        return False
    return all(summary(lab, n)["size"] == full for n in lab.spec.node_names if n != node)


def longest_ack_gap(ops: list[Op], since: float) -> float:
    """Longest time (s) without an acknowledged op, measured between completions from `since`.

    Why beside `checkers.downtime`: a write that stalls (commit held while Galera evicts a
    node) and then succeeds ends a failure window at its start, yet the client waited until
    its end; what a user of the writer feels is the gap between acknowledgements."""
    ends = sorted(op.end for op in ops if op.outcome == "ok" and op.end >= since)
    if not ends:
        return float("inf")
    points = [since, *ends]
    return max(b - a for a, b in zip(points, points[1:])) if len(points) > 1 else 0.0


def synced_in_full_cluster(lab: Lab, node: str) -> bool:
    s = summary(lab, node)
    return s["state"] == "Synced" and s["status"] == "Primary" and s["size"] == lab.spec.galera.nodes


def backend_status(lab: Lab, node: str) -> dict[str, set[str]]:
    """How every running proxy sees `node`: proxy → set of statuses over its listeners/hostgroups."""
    out = {}
    for p in lab.spec.proxy_names:
        st = lab.probe.proxy(p)
        if st.container == "running":
            out[p] = {b["status"] for b in st.backends if b["name"] == node}
    return out


def state_path(samples: list[tuple[float, Any]]) -> list[str]:
    """Distinct consecutive states from a sampler (e.g. unreachable → Joined → Synced)."""
    path: list[str] = []
    for _, value in samples:
        text = str(value)
        text = "unreachable" if text.startswith("unreachable") or text.startswith("error") else text
        if not path or path[-1] != text:
            path.append(text)
    return path



def node_log(lab: Lab, node: str, since: float) -> str:
    c = lab.docker.containers.get(lab.spec.container(node))
    return c.logs(since=int(since) - 1, stdout=True, stderr=True).decode(errors="replace")


def state_transfer_in_log(text: str) -> str:
    """How a joiner got its state, from its log: SST (full copy), IST (missing writesets) or none.

    MariaDB runs the SST script even for an IST (it then copies nothing) and logs "SST
    received"/"SST succeeded" either way; the script's own line says which it was ("rsync SST
    completed on joiner" vs "rsync IST completed on joiner"), as does "Receiving IST: N writesets".
    """
    if re.search(r"SST completed on joiner|Proceeding with SST", text):
        return "SST"
    if re.search(r"IST completed on joiner|Receiving IST: \d+ writesets|IST received", text):
        return "IST"
    if "SST received" in text:
        return "SST"
    return "none"

