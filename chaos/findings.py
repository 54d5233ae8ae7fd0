"""The findings study: Jepsen's 2026 MariaDB Galera findings, tried on this lab's own stack.

Jepsen (MariaDB Galera Cluster 12.1.2, March 2026) ran clients straight against every node and
found lost updates (P4) and stale reads in a healthy cluster, and lost committed transactions
when nodes crash in quick succession. This study asks the same questions of the architecture
the Chamilo HA guide recommends (one writer behind the proxies, a VIP, reads split to readers),
beside Jepsen's own shape (every client on its own node), and measures what prevents each:

- `p4`: read-modify-write counters and list-append on a healthy cluster, through the VIP and
  straight to every node, at REPEATABLE READ (MariaDB's default), SERIALIZABLE, and REPEATABLE
  READ with `SELECT … FOR UPDATE`: lost increments, P4 pairs, G-single cycles;
- `stale`: list-append straight to every node with real-time order checked, session
  `wsrep_sync_wait` 0 vs 1 (stale reads: a read missing a write acknowledged before it began);
- `crash`: every node SIGKILLed at once under writes, then recovered, per
  `innodb_flush_log_at_trx_commit` (0, 1, 2): acknowledged appends and writes lost;
- `crash-partition`: at flush 1, one node cut off, then the others killed in quick succession,
  then every node: lost acknowledged appends and writes, with the number of runs.

Each row names its upstream reference; a finding that does not reproduce says so with the runs
and seconds it was given. Results: `results/findings-<time>/findings.json` and `findings.md`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chaos import checkers, faults
from chaos.faults import CrashAll, Fault, Isolate, Kill, resolve_target
from chaos.history import History
from chaos.transactional import runner
from chaos.transactional.client import TxnSettings
from chaos.workloads import Endpoint, Writer, ensure_tables, final_keys, running
from lab import db

JEPSEN = "https://jepsen.io/analyses/mariadb-galera-cluster-12.1.2"
REFERENCES = {
    "p4": f"Jepsen 2026 ({JEPSEN}): P4 Lost Update in a healthy cluster, MDEV-38977",
    "stale": f"Jepsen 2026 ({JEPSEN}): Stale Read in a healthy cluster, MDEV-38999",
    "crash": f"Jepsen 2026 ({JEPSEN}): committed transactions lost on coordinated crashes with "
             "innodb_flush_log_at_trx_commit=0, MDEV-38974 / MDEV-38976",
    "crash-partition": f"Jepsen 2026 ({JEPSEN}): committed transactions lost with process crashes and "
                       "partitions even at innodb_flush_log_at_trx_commit=1, MDEV-38974 / MDEV-38976",
}
PARTS: tuple[str, ...] = ("p4", "stale", "crash", "crash-partition")
SESSIONS: tuple[tuple[str, bool], ...] = (("repeatable-read", False), ("serializable", False),
                                          ("repeatable-read", True))
"""(isolation, locking reads) of the P4 rows: MariaDB's default, SERIALIZABLE, and the
application-side cure (SELECT … FOR UPDATE)."""

Say = Callable[[str], None]


@dataclass(frozen=True)
class StudyConfig:
    parts: tuple[str, ...] = PARTS
    routes: tuple[str, ...] = ("vip", "nodes")
    seconds: float = 10.0
    stale_seconds: float = 30.0
    runs: int = 1
    clients: int = 4
    flush_values: tuple[int, ...] = (0, 1, 2)
    crash_runs: int = 2
    partition_runs: int = 2

    def __post_init__(self) -> None:
        unknown = [p for p in self.parts if p not in PARTS]
        if unknown:
            raise ValueError(f"unknown part(s) {', '.join(unknown)}: use {', '.join(PARTS)}")
        if any(r not in ("vip", "nodes") for r in self.routes):
            raise ValueError(f"routes {self.routes}: use vip and/or nodes")
        if not 1 <= self.runs <= 100 or not 0 <= self.crash_runs <= 100 or not 0 <= self.partition_runs <= 100:
            raise ValueError("runs, crash runs and partition runs: 1-100, 0-100, 0-100")
        if not 1 <= self.seconds <= 3600 or not 1 <= self.stale_seconds <= 3600:
            raise ValueError(f"seconds {self.seconds}, stale seconds {self.stale_seconds}: use 1 to 3600")
        if any(v not in (0, 1, 2) for v in self.flush_values):
            raise ValueError(f"flush values {self.flush_values}: use 0, 1, 2")


@dataclass
class Row:
    """One line of the table: a finding under one setting, over `runs` runs."""

    part: str
    setting: str
    route: str
    runs: int
    seconds: float
    figure: str
    observed: int
    verdict: str  # "reproduced" | "not reproduced" | "prevented"
    reference: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Study:
    project: str
    tier: str
    versions: dict[str, str]
    config: dict[str, Any]
    started: float
    finished: float | None = None
    rows: list[Row] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _verdict(observed: int, expected_cure: bool) -> str:
    """A setting meant to cure the finding that shows none says "prevented"."""
    if observed:
        return "reproduced"
    return "prevented" if expected_cure else "not reproduced"


# ---- healthy cluster: P4 and stale reads --------------------------------------------------------


def p4_rows(lab: Any, config: StudyConfig, say: Say) -> list[Row]:
    rows = []
    for route in config.routes:
        for isolation, locking in SESSIONS:
            setting = isolation.replace("-", " ").upper() + (" + FOR UPDATE" if locking else "")
            lost = p4 = increments = g_single = txns = 0
            for run_no in range(config.runs):
                settings = TxnSettings(route=route, isolation=isolation, locking_reads=locking,  # type: ignore[arg-type]
                                       clients=config.clients, interval=0.0, seed=run_no)
                say(f"p4: counter, {setting} via {route}, run {run_no + 1}/{config.runs}")
                with runner.running(lab, "counter", settings) as run:
                    time.sleep(config.seconds)
                c = run.check()
                lost += c.lost_increments
                p4 += c.counts.get("lost-update", 0)
                increments += c.increments
                say(f"p4: list-append, {setting} via {route}")
                with runner.running(lab, "list-append", settings) as run:
                    time.sleep(config.seconds)
                la = run.check("snapshot-isolation")
                g_single += la.counts.get("G-single", 0) + la.counts.get("lost-update", 0)
                txns += la.committed
            cure = isolation == "serializable" or locking
            rows.append(Row("p4", setting, route, config.runs, config.seconds,
                            f"{lost} of {increments} increments lost ({p4} P4 pairs); list-append: "
                            f"{g_single} G-single/lost-update in {txns} txns",
                            lost + g_single, _verdict(lost + g_single, cure), REFERENCES["p4"],
                            {"lost_increments": lost, "increments": increments, "p4_pairs": p4,
                             "g_single": g_single, "list_append_txns": txns}))
    return rows


def stale_rows(lab: Any, config: StudyConfig, say: Say) -> list[Row]:
    """Jepsen's shape (list-append on every node, real-time order checked) at session
    wsrep_sync_wait 0 and 1, then the lab's own: a token written through the tier's write path
    and read at once on its read path under write load (chaos/stale_reads.py), at 0 and 1 set
    globally as the Chamilo guide does."""
    from chaos import stale_reads

    rows = []
    for sync_wait in (0, 1):
        stale = txns = 0
        for run_no in range(config.runs):
            settings = TxnSettings(route="nodes", isolation="serializable", clients=max(config.clients, 3),
                                   interval=0.0, seed=run_no, sync_wait=sync_wait)
            say(f"stale: list-append on every node, wsrep_sync_wait={sync_wait}, run {run_no + 1}/{config.runs}")
            with runner.running(lab, "list-append", settings) as run:
                time.sleep(config.stale_seconds)
            v = run.check("strict-serializable")
            stale += v.stale_reads
            txns += v.committed
        rows.append(Row("stale", f"wsrep_sync_wait={sync_wait}", "nodes", config.runs, config.stale_seconds,
                        f"{stale} stale reads in {txns} txns (real-time order checked)", stale,
                        _verdict(stale, sync_wait == 1), REFERENCES["stale"],
                        {"stale_reads": stale, "txns": txns}))
    say("stale: token written through the tier, read on its read path, under write load")
    study = stale_reads.run_study(lab, stale_reads.StudyConfig(values=(0, 1), conditions=("load",),
                                                                modes=("global",), seconds=config.stale_seconds / 2))
    for cell in study.cells:
        rows.append(Row("stale", f"wsrep_sync_wait={cell.sync_wait} (global), write load", "read path",
                        config.runs, cell.seconds,
                        f"{cell.stale} stale of {cell.answered} reads through {cell.read_via}", cell.stale,
                        _verdict(cell.stale, cell.sync_wait == 1), REFERENCES["stale"],
                        {"stale_reads": cell.stale, "reads": cell.answered, "read_via": cell.read_via}))
    return rows


# ---- crashes ------------------------------------------------------------------------------------


def set_flush(lab: Any, value: int) -> None:
    """innodb_flush_log_at_trx_commit on every running node (dynamic; a restart restores the
    configured value)."""
    for node in lab.spec.node_names:
        with Endpoint.node(lab, node).connect(timeout=5) as conn:
            db.query(conn, f"SET GLOBAL innodb_flush_log_at_trx_commit = {int(value)}")


def _crash_run(lab: Any, nemesis: Callable[[], list[Fault]], seconds: float, say: Say) -> dict[str, int]:
    """Writes (single rows and list-append) through the VIP for `seconds`, then `nemesis` (which
    kills what it kills and returns the faults it applied), then `up` (which recovers the cluster
    from the most advanced node), then final reads: what was acknowledged and is gone."""
    history = History()
    ensure_tables(Endpoint.vip(lab))
    settings = TxnSettings(route="vip", isolation="serializable", clients=2, interval=0.01)
    run, txn_clients = runner.start(lab, "list-append", settings, history)
    writer = Writer(lab, history, duration=600, interval=0.01)
    with running(writer, *txn_clients.clients):
        time.sleep(seconds)
        applied = nemesis()
    for fault in applied:
        faults.detach(fault)  # `up` below undoes every one of them at once
    say("recovering with `up`")
    lab.up()
    run.final_reads()
    la = run.check("read-committed")
    rows = final_keys(lab)
    acked = checkers.check_acknowledged_writes(history, {n: set(k) for n, k in rows.items()})
    return {"lost_appends": la.lost_appends, "lost_writes": len(acked.lost), "acked_writes": acked.acknowledged,
            "txns": la.committed}


def _sum(results: Sequence[dict[str, int]]) -> dict[str, int]:
    return {k: sum(r[k] for r in results) for k in ("lost_appends", "lost_writes", "acked_writes", "txns")}


def _loss_figure(totals: dict[str, int]) -> str:
    return (f"{totals['lost_writes']} of {totals['acked_writes']} acked writes and {totals['lost_appends']} acked "
            f"appends (of {totals['txns']} txns) lost")


def crash_rows(lab: Any, config: StudyConfig, say: Say) -> list[Row]:
    rows = []
    configured = lab.spec.galera.innodb_flush_log_at_trx_commit
    for flush in config.flush_values:
        results = []
        for run_no in range(config.crash_runs):
            say(f"crash: flush={flush}, run {run_no + 1}/{config.crash_runs}")
            set_flush(lab, flush)
            results.append(_crash_run(lab, lambda: _crash_all(lab), config.seconds, say))
        totals = _sum(results)
        lost = totals["lost_appends"] + totals["lost_writes"]
        rows.append(Row("crash", f"innodb_flush_log_at_trx_commit={flush}", "vip", config.crash_runs,
                        config.seconds, _loss_figure(totals), lost, _verdict(lost, flush == 1), REFERENCES["crash"],
                        {**totals, "per_run": results}))
    set_flush(lab, configured)
    return rows


def _crash_all(lab: Any) -> list[Fault]:
    """Every node SIGKILLed at the same instant (a power cut)."""
    crash = CrashAll(lab)
    crash.apply()
    return [crash]


def _cut_then_kill(lab: Any) -> list[Fault]:
    """One reader cut off from its peers, the other nodes killed 0.5 s apart, then the cut one
    killed too and its cut healed: crashes and a partition overlapping."""
    cut = Isolate(lab, resolve_target("reader", lab.status()))
    cut.apply()
    applied: list[Fault] = []
    try:
        time.sleep(2)
        for node in [n for n in lab.spec.node_names if n != cut.target]:
            applied.append(Kill(lab, node))
            applied[-1].apply()
            time.sleep(0.5)
        applied.append(CrashAll(lab, [cut.target]))
        applied[-1].apply()
    finally:
        cut.heal()
    return applied


def partition_rows(lab: Any, config: StudyConfig, say: Say) -> list[Row]:
    configured = lab.spec.galera.innodb_flush_log_at_trx_commit
    results = []
    for run_no in range(config.partition_runs):
        say(f"crash-partition: flush=1, run {run_no + 1}/{config.partition_runs}")
        set_flush(lab, 1)
        results.append(_crash_run(lab, lambda: _cut_then_kill(lab), config.seconds, say))
    set_flush(lab, configured)
    totals = _sum(results)
    lost = totals["lost_appends"] + totals["lost_writes"]
    return [Row("crash-partition", "innodb_flush_log_at_trx_commit=1, one node cut off, the others killed "
                "0.5 s apart, then the cut one", "vip", config.partition_runs, config.seconds, _loss_figure(totals),
                lost, _verdict(lost, False), REFERENCES["crash-partition"], {**totals, "per_run": results})]


# ---- the study ----------------------------------------------------------------------------------


def run_study(lab: Any, config: StudyConfig = StudyConfig(), say: Say = lambda _: None) -> Study:
    from chaos.scenario import read_versions

    study = Study(lab.spec.project, lab.plan.proxy_kind, read_versions(lab), asdict(config), time.time())
    parts: dict[str, Callable[[Any, StudyConfig, Say], list[Row]]] = {
        "p4": p4_rows, "stale": stale_rows, "crash": crash_rows, "crash-partition": partition_rows}
    for part in config.parts:
        study.rows += parts[part](lab, config, say)
    study.finished = time.time()
    return study


ROUTES = {"vip": "VIP (one writer)", "nodes": "every node", "read path": "the tier's read path"}
TABLE_HEADERS: tuple[str, ...] = ("finding", "setting", "clients via", "runs × s", "what was measured", "verdict")


def table_rows(study: Study) -> list[list[str]]:
    return [[r.part, r.setting, ROUTES.get(r.route, r.route), f"{r.runs} × {r.seconds:.0f}",
             r.figure, r.verdict] for r in study.rows]


def markdown(study: Study, command: str) -> str:
    """The table for people, with the command that made it and every row's reference."""
    lines = [f"# Jepsen's Galera findings on lab {study.project} ({study.tier})", "",
             f"Made with `{command}`; MariaDB {study.versions.get('mariadb', '?')}, Galera "
             f"{study.versions.get('galera', '?')}; {time.strftime('%Y-%m-%d %H:%M', time.localtime(study.started))}, "
             f"{(study.finished or study.started) - study.started:.0f} s.", "",
             "| " + " | ".join(TABLE_HEADERS) + " |", "|" + "---|" * len(TABLE_HEADERS)]
    lines += ["| " + " | ".join(cells) + " |" for cells in table_rows(study)]
    lines += ["", "References:", ""]
    lines += [f"- {part}: {ref}" for part, ref in REFERENCES.items() if any(r.part == part for r in study.rows)]
    return "\n".join(lines) + "\n"


def save(study: Study, folder: Path, command: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "findings.json").write_text(json.dumps(study.to_dict(), indent=2) + "\n")
    (folder / "findings.md").write_text(markdown(study, command))
    return folder / "findings.json"


def problems(study: Study) -> list[str]:
    """Rows whose cure did not cure: a setting meant to prevent a finding that showed it."""
    cures = {"p4": lambda r: "SERIALIZABLE" in r.setting or "FOR UPDATE" in r.setting,
             "stale": lambda r: r.setting.startswith("wsrep_sync_wait=1"), "crash": lambda r: r.setting.endswith("=1")}
    return [f"{r.part} with {r.setting} via {r.route}: {r.figure}" for r in study.rows
            if r.observed and cures.get(r.part, lambda _: False)(r)]
