"""Write conflicts with more than one writer: read-modify-write clients on one hot row, run
straight to every node (multi-writer) and then through the VIP (the proxies' single writer),
with the certification failures each way counted.

Why the counter workload with locking reads (`SELECT … FOR UPDATE`, then `UPDATE`): it is how
applications update a hot row correctly on one server. On one node InnoDB's row lock queues
the clients; across nodes that lock is local only, so two nodes' transactions on the row both
run, and Galera's certification lets the first-ordered win: the other is aborted, either at
its own certification (`wsrep_local_cert_failures` on its node) or while running, by the
applier of the winner (`wsrep_local_bf_aborts`), and its client gets error 1213 (deadlock).

`measure` runs one load on the lab; `conflict_rates` and `check_single_writer` are pure
functions of what it recorded, so unit tests can feed them by hand (the mutation check).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from chaos import consistency
from chaos.history import History, Op
from chaos.transactional import counter
from chaos.transactional.client import Route, TxnSettings
from chaos.workloads import Endpoint, node_vars

STATUS = ("wsrep_local_cert_failures", "wsrep_local_bf_aborts")
DEADLOCK = 1213
HOT_ROW = counter.CounterParams(keys=1)
"""One counter: every transaction of every client updates the same row."""


def conflict_counters(lab: Any) -> dict[str, dict[str, int]]:
    """Each node's certification failures and brute-force aborts of local transactions so far."""
    out = {}
    for node in lab.spec.node_names:
        values = node_vars(lab, node, timeout=5, like="wsrep_local_%")
        out[node] = {name: int(values.get(name) or 0) for name in STATUS}
    return out


@dataclass(frozen=True)
class ConflictRates:
    """Verdict of `conflict_rates`: one load's transactions by fate, the 1213 deadlocks its
    clients got (per second, per transaction), and the nodes' conflict counters' deltas."""

    route: str
    seconds: float
    txns: int
    committed: int
    deadlocks: int
    deadlocks_per_s: float
    deadlocks_per_txn: float
    cert_failures: dict[str, int]
    bf_aborts: dict[str, int]
    cert_failures_per_s: float
    bf_aborts_per_s: float
    other_errors: dict[str, int] = field(default_factory=dict)

    @property
    def conflicts(self) -> int:
        """Every sign of a conflict: deadlocks the clients got and the nodes' counters."""
        return self.deadlocks + sum(self.cert_failures.values()) + sum(self.bf_aborts.values())

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "conflicts": self.conflicts}


def is_deadlock(op: Op) -> bool:
    return op.outcome != "ok" and (op.error or "").startswith(f"{DEADLOCK}:")


def conflict_rates(route: str, ops: Iterable[Op], seconds: float, before: Mapping[str, Mapping[str, int]],
                   after: Mapping[str, Mapping[str, int]]) -> ConflictRates:
    """Rates of one load from its `txn` ops (final reads, process `final-…`, left out) and the
    conflict counters read before and after it (deltas per node)."""
    if seconds <= 0:
        raise ValueError(f"a load of {seconds} s has no rate")
    txns = [op for op in ops if op.kind == "txn" and not op.process.startswith("final-")]
    deadlocks = sum(1 for op in txns if is_deadlock(op))
    others = Counter((op.error or op.outcome)[:80] for op in txns if op.outcome != "ok" and not is_deadlock(op))
    delta = {name: {node: int(after[node][name]) - int(before[node][name]) for node in sorted(after)}
             for name in STATUS}
    cert, bf = delta["wsrep_local_cert_failures"], delta["wsrep_local_bf_aborts"]
    return ConflictRates(
        route=route, seconds=round(seconds, 2), txns=len(txns),
        committed=sum(1 for op in txns if op.outcome == "ok"), deadlocks=deadlocks,
        deadlocks_per_s=round(deadlocks / seconds, 2),
        deadlocks_per_txn=round(deadlocks / len(txns), 4) if txns else 0.0,
        cert_failures=cert, bf_aborts=bf,
        cert_failures_per_s=round(sum(cert.values()) / seconds, 2),
        bf_aborts_per_s=round(sum(bf.values()) / seconds, 2),
        other_errors=dict(others.most_common(4)))


@dataclass(frozen=True)
class SingleWriter:
    """Verdict of `check_single_writer`: the multi-writer load conflicted, the same load through
    the single writer did not, and each kept every increment (no lost update)."""

    ok: bool
    multi: ConflictRates
    single: ConflictRates
    problems: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "multi": self.multi.to_dict(), "single": self.single.to_dict(),
                "problems": self.problems}


def check_single_writer(multi: ConflictRates, single: ConflictRates,
                        anomalies: Mapping[str, str] | None = None) -> SingleWriter:
    """Judge the two loads. The failure mode must show (conflicts with more than one writer:
    else the load was too light to prove anything) and the mitigation must remove it (no 1213
    and no certification failure or brute-force abort through the single writer). `anomalies`:
    route → what the counter checker found wrong in that load (a lost increment, P4)."""
    problems = []
    if multi.conflicts == 0:
        problems.append(f"no conflict with more than one writer ({multi.txns} transactions): the failure mode "
                        "was not reproduced")
    if single.conflicts:
        problems.append(f"{single.conflicts} conflict(s) through the single writer ({single.deadlocks} deadlocks, "
                        f"certification failures {single.cert_failures}, brute-force aborts {single.bf_aborts})")
    for rates in (multi, single):
        if rates.committed == 0:
            problems.append(f"no transaction committed via {rates.route}")
    for route, text in sorted((anomalies or {}).items()):
        problems.append(f"via {route}: {text}")
    return SingleWriter(ok=not problems, multi=multi, single=single, problems=problems)


# ---- one load on the lab ------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    """One load's rates, its counter checker's verdict, and when it ran."""

    rates: ConflictRates
    counter: consistency.CounterVerdict
    started: float
    ended: float


def settings(route: Route, seed: int) -> TxnSettings:
    """Three clients (one per node on route `nodes`), a transaction every 50 ms each, locking
    reads at MariaDB's default isolation level."""
    return TxnSettings(route=route, clients=3, isolation="repeatable-read", locking_reads=True, interval=0.05,
                       seed=seed)


def measure(lab: Any, route: Route, seconds: float, seed: int = 0) -> Load:
    """Run the hot-row load via `route` for `seconds` on a fresh counter table; then the final
    reads on every node and the counter checker."""
    history = History()
    counter.setup(Endpoint.vip(lab), HOT_ROW)
    before = conflict_counters(lab)
    started = time.time()
    with counter.clients(lab, history, settings(route, seed), HOT_ROW, duration=seconds + 30):
        time.sleep(seconds)
    ended = time.time()
    counter.final_reads(lab, history, HOT_ROW)
    after = conflict_counters(lab)
    verdict = consistency.check_counter(history.ops("txn"))
    rates = conflict_rates(route, history.ops("txn"), ended - started, before, after)
    return Load(rates, verdict, started, ended)
