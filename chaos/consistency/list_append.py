"""The list-append checker: a history of transactions in, a verdict under a consistency model out.

Why list-append (Elle's workload, the one that found lost updates, stale reads and lost
transactions in Jepsen's 2026 analysis of MariaDB Galera): reads return whole lists, so the
version order of every key is observed rather than guessed, and the dependency graph between
transactions can be inferred soundly (chaos/consistency/version_order.py). The checker then
looks for anomalies that need no cycle (item_anomalies.py) and for cycles (cycles.py), and
judges them against the model asked (models.py).

The history contract (docs/ARCHITECTURE.md, "Consistency checkers"): one `Op` of kind "txn"
per transaction, key None, value a list of micro-ops `["append", k, v]` / `["r", k, observed]`
(observed None when not known); outcome ok / fail / unknown as everywhere in chaos/.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from chaos.consistency.anomaly import Anomaly, Edge, Found, TxnRef, _Verdict
from chaos.consistency.cycles import Cycle, components, search, specs
from chaos.consistency.dependency_graph import EDGE_NAMES, build, why
from chaos.consistency.item_anomalies import check_items
from chaos.consistency.models import check_model, forbidden, forbidding, satisfied, strongest
from chaos.consistency.txn import parse
from chaos.consistency.version_order import Inferred, infer
from chaos.history import History, Op

MAX_EXAMPLES = 5
"""Anomalies kept, with their explanation, per class; every one is counted."""

_CYCLE_SUMMARIES = {
    "G0": "a cycle of ww edges only: the transactions' appends interleave, so no order of them explains the "
          "version orders (dirty write)",
    "G1c": "a cycle of ww and wr edges with at least one wr: each transaction saw or overwrote the other's "
           "writes (circular information flow)",
    "G-single": "a cycle with exactly one rw edge: one transaction missed a write that, through the other edges, "
                "had to come before it (read skew; a lost update is the two-transaction case)",
    "G-nonadjacent": "a cycle with several rw edges, no two of them consecutive: snapshot isolation forbids it as "
                     "it forbids G-single",
    "G2-item": "a cycle with two or more rw edges, some consecutive: each transaction missed another's write "
               "(write skew: snapshot isolation allows it, serializability does not)",
}
_SUFFIX_SUMMARIES = {
    "-realtime": "; it needs a realtime edge: the order the clients' clocks saw is part of the contradiction",
    "-process": "; it needs a process edge: one client's transactions did not take effect in its own order",
}


@dataclass(frozen=True)
class ListAppendVerdict(_Verdict):
    """Verdict of `check`.

    ok: no anomaly that `model` (with the orders asked) forbids, and no lost append.
    txns / committed / failed / unknown / unknown_committed: list-append transactions by fate
    (committed = ok plus the unknown ones whose appends were observed).
    edges: dependency edges by kind. counts: every anomaly class found and how often;
    anomalies: up to MAX_EXAMPLES explained examples per class. violations: the found classes
    the model forbids. satisfied / not_satisfied: the models of `models.MODELS` the history
    does / does not satisfy (strict-serializable only when real-time order was checked);
    strongest_model: the strongest satisfied one (`models.strongest`), None if none.
    lost_appends / stale_reads: those counts again, always reported (stale reads count against
    `ok` only with real-time order). truncated_searches: cycle classes whose search hit its
    budget in some component without finding a cycle (0: the search was exhaustive).
    """

    ok: bool
    model: str
    realtime: bool
    process_order: bool
    txns: int
    committed: int
    failed: int
    unknown: int
    unknown_committed: int
    keys: int
    edges: dict[str, int]
    counts: dict[str, int]
    anomalies: dict[str, tuple[Anomaly, ...]]
    violations: tuple[str, ...]
    strongest_model: str | None
    satisfied: tuple[str, ...]
    not_satisfied: tuple[str, ...]
    lost_appends: int
    stale_reads: int
    truncated_searches: int

    def orders_broken_by_loss(self) -> bool:
        """Whether every incompatible order in the history is a read of values later lost (see
        `item_anomalies._read_lost_values`), so that a crash allowed to lose acknowledged appends
        explains it; False when not every one was kept to be looked at."""
        examples = self.anomalies.get("incompatible-order", ())
        return (len(examples) == self.counts.get("incompatible-order", 0)
                and all(a.details.get("read_lost_values") for a in examples))

    def text(self) -> str:
        """The verdict and every kept explanation, for a terminal or a report."""
        orders = " + ".join(x for x, on in (("real-time order", self.realtime), ("process order", self.process_order))
                            if on)
        lines = [
            f"list-append under {self.model}{' with ' + orders if orders else ''}: "
            f"{'OK' if self.ok else 'FAILED (' + ', '.join(self.violations) + ')'}",
            f"  {self.txns} transactions: {self.committed} committed ({self.unknown_committed} of them unknown "
            f"but observed), {self.failed} failed, {self.unknown - self.unknown_committed} unknown and never "
            f"observed; {self.keys} key(s)",
            "  edges: " + (", ".join(f"{kind} {n}" for kind, n in self.edges.items()) or "none"),
            f"  strongest model satisfied: {self.strongest_model or 'none'}"
            + (f"; not satisfied: {', '.join(self.not_satisfied)}" if self.not_satisfied else ""),
        ]
        if self.counts:
            lines.append("  anomalies: " + ", ".join(f"{name} {n}" for name, n in self.counts.items()))
        if self.truncated_searches:
            lines.append(f"  {self.truncated_searches} cycle search(es) stopped at their budget without a cycle")
        for examples in self.anomalies.values():
            lines += [example.text() for example in examples]
        return "\n".join(lines)


def check(ops: Iterable[Op] | History, model: str = "serializable", realtime: bool = False,
          process_order: bool = False, max_examples: int = MAX_EXAMPLES) -> ListAppendVerdict:
    """Judge a list-append history under `model` (one of `models.MODELS`).

    realtime: add realtime edges (T1 ended before T2 started) and count stale reads against the
    verdict; implied by model="strict-serializable". process_order: add process edges (a
    client's transactions in its order). Transactions of other workloads in `ops` are skipped.
    Raises ValueError for an unknown model or a history that breaks the contract.
    """
    check_model(model)
    realtime = realtime or model == "strict-serializable"
    inferred = infer(parse(ops, "list-append"))
    found = Found(max_examples)
    check_items(inferred, found)
    graph = build(inferred, realtime, process_order)
    committed = [t for t, yes in enumerate(inferred.committed) if yes]
    truncated = 0
    todo = specs(realtime, process_order)
    for component in components(graph, committed):
        cycles, cut = search(graph, component, todo)
        truncated += cut
        for cycle in cycles:
            found.add(cycle.name, lambda cycle=cycle: _explain(inferred, cycle))
    return _verdict(inferred, found, graph.counts, model, realtime, process_order, truncated)


def _verdict(inferred: Inferred, found: Found, edges: dict[str, int], model: str, realtime: bool,
             process_order: bool, truncated: int) -> ListAppendVerdict:
    outcomes = [txn.outcome for txn in inferred.txns]
    unknown_committed = sum(1 for t, outcome in enumerate(outcomes) if outcome == "unknown" and inferred.committed[t])
    counts = {name: n for name, n in sorted(found.counts.items()) if n}
    violations = tuple(name for name in counts if name in forbidden(model, realtime, process_order))
    yes, no = satisfied(counts, realtime)
    return ListAppendVerdict(
        ok=not violations,
        model=model,
        realtime=realtime,
        process_order=process_order,
        txns=len(outcomes),
        committed=sum(inferred.committed),
        failed=outcomes.count("fail"),
        unknown=outcomes.count("unknown"),
        unknown_committed=unknown_committed,
        keys=len(set(inferred.writer) | set(inferred.keys)),
        edges={kind: edges[kind] for kind in EDGE_NAMES.values() if edges.get(kind)},
        counts=counts,
        anomalies={name: tuple(found.examples[name]) for name in counts},
        violations=violations,
        strongest_model=strongest(yes),
        satisfied=tuple(yes),
        not_satisfied=tuple(no),
        lost_appends=counts.get("lost-append", 0),
        stale_reads=counts.get("stale-read", 0),
        truncated_searches=truncated,
    )


def _explain(inferred: Inferred, cycle: Cycle) -> Anomaly:
    """A cycle as an anomaly: its transactions in order and every edge with its reason."""
    steps = cycle.steps
    txns = inferred.txns
    edges = []
    for i, (t, kind) in enumerate(steps):
        nxt = steps[(i + 1) % len(steps)][0]
        edges.append(Edge(txns[t].index, txns[nxt].index, EDGE_NAMES[kind], why(inferred, t, nxt, kind)))
    base = cycle.name.removesuffix("-realtime").removesuffix("-process")
    suffix = cycle.name[len(base):]
    models = forbidding(cycle.name)
    summary = (f"{_CYCLE_SUMMARIES[base]}{_SUFFIX_SUMMARIES.get(suffix, '')}. "
               f"{len(steps)} transactions: " + " -> ".join(txns[t].label for t, _ in steps)
               + f" -> {txns[steps[0][0]].label}. Forbidden by: {', '.join(models) or 'none of the models'}"
               + (" (and by any model checked with that order)" if suffix else ""))
    return Anomaly(cycle.name, summary, tuple(TxnRef.of(txns[t]) for t, _ in steps), tuple(edges),
                   details={"kinds": [EDGE_NAMES[kind] for _, kind in steps]})
