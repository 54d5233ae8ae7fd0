"""The dashboard's live side: polls the lab, runs the clients, injects and heals faults.

Why a class apart from the web app: everything here blocks (Docker API, SQL with timeouts,
a heal that runs `up`), so it lives in threads, and the async web app (app.py) only reads
`snapshot()` and calls `inject`/`heal` in a worker thread. Tests of the web app use a fake
with the same three methods.

    dash = Dashboard(Lab.existing("galera-lab"))
    dash.start()                    # poller + Writer, AvailabilityProbe, StaleReadProbe
    dash.inject("kill-writer", auto_heal_s=30)
    dash.snapshot()                 # what the page draws
    dash.stop()                     # clients stopped, every fault healed
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pymysql

from chaos import faults
from chaos.workloads import AvailabilityProbe, Endpoint, Workload, Writer, ensure_tables, error_text
from lab.dashboard import catalog, state
from lab.dashboard.probes import StaleReadProbe
from lab.errors import LabError
from lab.status import LabStatus
from lab.workshop import ledger

Say = Callable[[str], None]


@dataclass
class Injected:
    """A fault injected from the page, with what the page needs to show about it."""

    key: str
    fault: faults.Fault
    auto_heal_at: float | None = None
    healing: bool = False
    error: str | None = None
    record: str | None = None  # its id in the lab's fault ledger (lab/workshop/ledger.py)

    def to_json(self) -> dict[str, Any]:
        out = catalog.fault_json(self.key, self.fault, self.auto_heal_at, self.error)
        out["healing"] = self.healing and self.fault.active
        out["origin"] = "dashboard"
        return out


class Dashboard:
    """One running lab seen live; thread-safe."""

    def __init__(self, lab: Any, window_s: float = state.WINDOW_S, poll_s: float = 1.0,
                 clients: bool = True, say: Say = lambda _msg: None):
        self.lab = lab
        self.window_s = window_s
        self.poll_s = poll_s
        self.clients = clients
        self.say = say
        self.history = state.BoundedHistory(window_s)
        self.events: deque[dict[str, Any]] = deque(maxlen=100)
        self.topology: dict[str, Any] | None = None
        self.error: str | None = None
        self.injected: list[Injected] = []
        self.version = 0
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="dash-probe")
        self._workloads: dict[str, Workload] = {}
        self._tables_ready = False
        self._exercises: list[Any] | None = None
        self.foreign: list[dict[str, Any]] = []  # ledger records of faults another process injected
        self._foreign_healing: set[str] = set()
        self._pruned_at = 0.0
        self._poller = threading.Thread(target=self._poll_loop, name="dash-poller", daemon=True)

    # ---- lifecycle ----

    def start(self) -> None:
        self._poller.start()

    def stop(self, timeout: float = 120.0) -> list[str]:
        """Stop polling and clients; heal every fault still on (returns heal errors)."""
        self._stop.set()
        self._poller.join(10)
        for w in self._workloads.values():
            w._stop_event.set()
        for w in self._workloads.values():
            w.stop(5)
        errors = []
        for inj in list(self.injected):
            if inj.fault.active:
                try:
                    inj.fault.heal()
                    self._unrecord(inj)
                except Exception as exc:  # noqa: BLE001 - heal the others too
                    errors.append(f"{inj.fault.name} {inj.fault.target}: {exc}")
        self._pool.shutdown(wait=False, cancel_futures=True)
        return errors

    # ---- reading the lab ----

    def read_status(self) -> LabStatus:
        """`Probe.all(details=True)`, but every part read at once: a paused node's 2 s SQL
        timeout must not delay the rest of the picture."""
        probe, spec = self.lab.probe, self.lab.spec
        nodes = [self._pool.submit(probe.node, n) for n in spec.node_names]
        proxies = [self._pool.submit(probe.proxy, p) for p in spec.proxy_names]
        details = [self._pool.submit(probe.proxy_details, p) for p in spec.proxy_names]
        vip = self._pool.submit(probe.vip, None)
        app = self._pool.submit(probe.app)
        forward = self._pool.submit(probe.forward) if self.lab.plan.bridge else None
        proxy_list = [f.result() for f in proxies]
        for p, d in zip(proxy_list, details):
            p.details = d.result()
        holders = [p.name for p in proxy_list if p.holds_vip]
        v = vip.result()
        v.holder = holders[0] if len(holders) == 1 else (",".join(holders) if holders else None)
        return LabStatus(spec.project, [f.result() for f in nodes], proxy_list, v, app.result(),
                         forward.result() if forward else None, self.lab.plan.frontend_driver)

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            self.poll_once()
            self._stop.wait(max(0.05, self.poll_s - (time.monotonic() - began)))

    def poll_once(self) -> None:
        """Read the lab, note failover events, run due auto-heals, keep the clients alive."""
        try:
            topo = state.topology(self.read_status())
            err = None
        except Exception as exc:  # noqa: BLE001 - shown on the page; the next poll tries again
            topo, err = None, f"reading the lab failed: {exc}"
        now = time.time()
        with self._lock:
            if topo is not None:
                for e in state.transitions(self.topology, topo, now):
                    self._event(e["kind"], e["text"], now)
                self.topology = topo
            self.error = err
            self.version += 1
        self._sync_ledger(now)
        with self._lock:
            due = [i for i in self.injected if i.fault.active and not i.healing
                   and i.auto_heal_at is not None and i.auto_heal_at <= now]
        for inj in due:
            self._heal_in_background(inj, "auto-heal")
        if self.clients:
            self._keep_clients()

    def _keep_clients(self) -> None:
        """Start the clients once the VIP answers, and again if one died."""
        if not self._tables_ready:
            try:
                ensure_tables(Endpoint.vip(self.lab))
                self._tables_ready = True
            except (pymysql.MySQLError, OSError) as exc:
                self.error = self.error or f"clients not started yet: {error_text(exc)}"
                return
        makers: dict[str, Callable[[], Workload]] = {
            "writer": lambda: Writer(self.lab, self.history, duration=float("inf"), interval=0.1),
            "avail": lambda: AvailabilityProbe(self.lab, self.history, duration=float("inf"), interval=0.2),
            "stale": lambda: StaleReadProbe(self.lab, self.history, interval=0.25),
        }
        for name, make in makers.items():
            w = self._workloads.get(name)
            if w is None or not w.is_alive():
                if w is not None and w.error is not None:
                    self.say(f"client {name} ended ({w.error!r}); restarting it")
                w = make()
                w.start()
                self._workloads[name] = w

    # ---- faults ----

    def _event(self, kind: str, text: str, at: float | None = None) -> None:
        with self._lock:
            self.events.append({"at": at or time.time(), "kind": kind, "text": text})
            self.version += 1
        self.say(text)

    def inject(self, key: str, auto_heal_s: float | None = None) -> dict[str, Any]:
        """Build the button's fault on the lab as it is now and apply it; the fault stays in
        chaos/faults.py's registry until healed. Raises KeyError (unknown key) or FaultError."""
        button = catalog.button(key)
        fault = button.build(self.lab, self.read_status())
        fault.apply()
        at = time.time() + auto_heal_s if auto_heal_s else None
        inj = Injected(key, fault, at, record=ledger.add(self.lab.stack, key, fault, "dashboard"))
        with self._lock:
            self.injected.append(inj)
            self.injected = self.injected[-50:]
        self._event("fault", f"{fault.name} {fault.target}" + (f" (auto-heal in {auto_heal_s:g} s)" if at else ""),
                    fault.start)
        return inj.to_json()

    def heal(self, fault_id: str | None = None) -> list[dict[str, Any]]:
        """Heal one fault (by id) or every active one, in background threads: a crash-all heal
        runs `up`, which takes a minute; the page shows "healing" until it is done. "Every" is
        every fault in the lab's ledger: those injected from the terminal (`galera-lab workshop
        fault`) or by another dashboard too."""
        with self._lock:
            chosen = [i for i in self.injected if i.fault.active and not i.healing
                      and (fault_id is None or str(i.fault.id) == fault_id)]
            mine = {i.record for i in self.injected if i.record}
            others = [r for r in ledger.read(self.lab.stack) if r["id"] not in mine
                      and r["id"] not in self._foreign_healing and (fault_id is None or r["id"] == fault_id)]
        for inj in chosen:
            self._heal_in_background(inj, "heal")
        for rec in others:
            self._heal_record_in_background(rec)
        return [i.to_json() for i in chosen] + [self._record_json(r) for r in others]

    def _unrecord(self, inj: Injected) -> None:
        if inj.record:
            ledger.remove(self.lab.stack, inj.record)

    def _heal_record_in_background(self, rec: dict[str, Any]) -> None:
        with self._lock:
            self._foreign_healing.add(rec["id"])

        def run() -> None:
            try:
                self._event("heal", f"heal: {ledger.heal(self.lab, rec)}")
            except Exception as exc:  # noqa: BLE001 - shown on the page
                self._event("error", f"heal of {rec.get('name')} {rec.get('target')} failed: {exc}")
            finally:
                with self._lock:
                    self._foreign_healing.discard(rec["id"])

        threading.Thread(target=run, name=f"dash-heal-{rec['id']}", daemon=True).start()

    def _sync_ledger(self, now: float) -> None:
        """Follow the lab's fault ledger: a fault of ours healed by another process (`workshop
        heal`, another dashboard) is healed here too; faults others injected are listed. Every
        few seconds, kills and stops undone by `galera-lab up` are dropped from it."""
        stack = self.lab.stack
        try:
            if now - self._pruned_at > 5 and ledger.read(stack):
                self._pruned_at = now
                ledger.prune(self.lab)
            records = ledger.read(stack)
        except Exception as exc:  # noqa: BLE001 - shown on the page; the poller must go on
            self.error = self.error or f"reading the fault ledger failed: {exc}"
            return
        present = {r["id"] for r in records}
        with self._lock:
            gone = [i for i in self.injected if i.record and i.record not in present and i.fault.active
                    and not i.healing]
            mine = {i.record for i in self.injected if i.record}
            self.foreign = [r for r in records if r["id"] not in mine]
        for inj in gone:
            inj.fault.healed_elsewhere()
            self._event("heal", f"{inj.fault.name} {inj.fault.target}: healed from another process")

    def _heal_in_background(self, inj: Injected, why: str) -> None:
        with self._lock:
            if inj.healing:
                return
            inj.healing = True

        def run() -> None:
            try:
                inj.fault.heal()
                self._unrecord(inj)
                self._event("heal", f"{why}: {inj.fault.name} {inj.fault.target}")
            except Exception as exc:  # noqa: BLE001 - shown on the page
                inj.error = str(exc)
                self._event("error", f"{why} of {inj.fault.name} {inj.fault.target} failed: {exc}")
            finally:
                inj.healing = False

        threading.Thread(target=run, name=f"dash-heal-{inj.fault.id}", daemon=True).start()

    def _record_json(self, rec: dict[str, Any]) -> dict[str, Any]:
        """A fault another process injected, listed like ours (its id is its ledger id)."""
        return {"id": rec["id"], "key": rec.get("key"), "name": rec.get("name"), "target": rec.get("target"),
                "active": True, "start": rec.get("start"), "healed": None, "auto_heal_at": None, "error": None,
                "detail": {}, "healing": rec["id"] in self._foreign_healing, "origin": rec.get("origin")}

    # ---- what the page gets ----

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            topo, events, error = self.topology, list(self.events), self.error
            injected = [i.to_json() for i in self.injected] + [self._record_json(r) for r in self.foreign]
        snap = state.snapshot(topo, self.history, events, injected, time.time(), error, self.window_s)
        snap["version"] = self.version
        snap["tier"] = getattr(self.lab.plan, "proxy_kind", None)
        snap["app_kind"] = getattr(self.lab.plan, "app_kind", None)
        snap["workshop"] = self.workshop_state()
        return snap

    # ---- the workshop's current step (lab/workshop/session.py) ----

    def _workshop(self) -> Any:
        from lab.workshop.session import Workshop

        if self._exercises is None:
            from lab.workshop.model import load_exercises
            self._exercises = load_exercises()
        return Workshop(self.lab, self._exercises)

    def workshop_state(self) -> dict[str, Any] | None:
        """The student's exercise and step, read from the progress file the terminal writes too."""
        try:
            return self._workshop().state_json()
        except LabError as exc:
            return {"error": str(exc)}

    def workshop_check(self) -> dict[str, Any]:
        """The Check button: the same check `galera-lab workshop check` runs; moves on when done."""
        try:
            verdict = self._workshop().check()
        except LabError as exc:
            return {"done": False, "reason": str(exc), "workshop": self.workshop_state()}
        return {"done": verdict.done, "reason": verdict.reason, "workshop": self.workshop_state()}

    def workshop_answer(self, text: str) -> dict[str, Any]:
        """The answer box: `Workshop.answer`, as `galera-lab workshop answer TEXT`; moves on when right."""
        try:
            verdict = self._workshop().answer(text)
        except LabError as exc:
            return {"done": False, "reason": str(exc), "workshop": self.workshop_state()}
        return {"done": verdict.done, "reason": verdict.reason, "workshop": self.workshop_state()}

    def catalog(self) -> list[dict[str, str]]:
        return catalog.catalog_json()
