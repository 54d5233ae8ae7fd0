"""Consistency models as the anomaly classes they forbid (after Adya and Elle).

Why a table: a history is never "correct" in the abstract, only under a model. Galera promises
roughly snapshot isolation per node with first-committer-wins certification, MariaDB calls its
default REPEATABLE READ, and applications often assume serializable; the same anomalies judged
against each model tell which promise broke.

- read-committed (Adya PL-2): G0, G1a, G1b, G1c, plus what no model allows and this checker sees
  directly: internal inconsistency, duplicate elements, incompatible orders, garbage reads.
- repeatable-read (Adya PL-2.99, as Elle defines it): read committed plus G2-item and P4 lost
  update. On items (no predicate reads, as in list-append) every G-single and G-nonadjacent
  cycle is a G2-item cycle in Adya's sense, so those are forbidden too. Note: MariaDB's own
  REPEATABLE READ allows lost updates; Adya's does not, and this table is Adya's.
- snapshot-isolation: read committed plus G-single, G-nonadjacent (Cerone and Gotsman; Elle)
  and P4 lost update; write skew (G2-item with adjacent rw edges) is allowed.
- serializable (Adya PL-3, conflict serializability): all of the above. On item histories it
  forbids exactly what repeatable-read forbids: Adya separates the two only by predicate
  anti-dependencies, which list-append has none of.
- strict-serializable: serializable, and real-time order holds too: no cycle needing a realtime
  (or process) edge, no stale read.

Every model forbids losing an acknowledged append ("lost-append"): no isolation level excuses
it. Asking for real-time order (`realtime=True`) adds to any model the realtime and process
variants of the cycles it forbids and the stale reads; asking for process order adds the
process variants (a client's own transactions must stay in its order).
"""

from __future__ import annotations

from collections.abc import Iterable

MODELS: tuple[str, ...] = ("read-committed", "repeatable-read", "snapshot-isolation", "serializable",
                           "strict-serializable")
"""Weakest first. Implication: strict-serializable => serializable => repeatable-read and
snapshot-isolation => read-committed."""

CYCLES: frozenset[str] = frozenset({"G0", "G1c", "G-single", "G-nonadjacent", "G2-item"})

_READ_COMMITTED = frozenset({"G0", "G1a", "G1b", "G1c", "internal", "duplicate-elements", "incompatible-order",
                             "garbage-read"})
_SNAPSHOT_ISOLATION = _READ_COMMITTED | {"G-single", "G-nonadjacent", "lost-update"}
_REPEATABLE_READ = _SNAPSHOT_ISOLATION | {"G2-item"}
_BASE: dict[str, frozenset[str]] = {
    "read-committed": _READ_COMMITTED,
    "repeatable-read": _REPEATABLE_READ,
    "snapshot-isolation": _SNAPSHOT_ISOLATION,
    "serializable": _REPEATABLE_READ | _SNAPSHOT_ISOLATION,
    "strict-serializable": _REPEATABLE_READ | _SNAPSHOT_ISOLATION,
}
ALWAYS: frozenset[str] = frozenset({"lost-append"})


def check_model(model: str) -> str:
    """The model's name, or a ValueError listing the known ones."""
    if model not in _BASE:
        raise ValueError(f"unknown consistency model {model!r}; expected one of {', '.join(MODELS)}")
    return model


def forbidden(model: str, realtime: bool = False, process_order: bool = False) -> frozenset[str]:
    """Every anomaly class `model` forbids, given which orders were asked for."""
    base = _BASE[check_model(model)]
    if model == "strict-serializable":
        realtime = True
    out = set(base | ALWAYS)
    cycles = base & CYCLES
    if realtime:
        out |= {c + "-realtime" for c in cycles} | {c + "-process" for c in cycles} | {"stale-read"}
    if process_order:
        out |= {c + "-process" for c in cycles}
    return frozenset(out)


def satisfied(found: Iterable[str], realtime_checked: bool) -> tuple[list[str], list[str]]:
    """(satisfied, not satisfied) models among MODELS, weakest first, given the classes found.

    strict-serializable is in neither list unless real-time order was checked: without realtime
    edges and stale-read judgement nothing was learned about it.
    """
    present = set(found)
    yes, no = [], []
    for model in MODELS:
        if model == "strict-serializable" and not realtime_checked:
            continue
        (no if present & forbidden(model) else yes).append(model)
    return yes, no


def strongest(satisfied_models: Iterable[str]) -> str | None:
    """The strongest satisfied model: the one that implies every other satisfied one.

    "Strongest" is by implication (MODELS' docstring). repeatable-read and snapshot-isolation do
    not imply each other, but on item histories repeatable-read forbids what serializable does,
    so whenever repeatable-read holds serializable holds too and the answer is still unique.
    None when even read-committed fails.
    """
    holds = set(satisfied_models)
    chosen = None
    for model in MODELS:
        if model in holds:
            chosen = model
    return chosen


def forbidding(name: str) -> list[str]:
    """Which of MODELS forbid an anomaly class (for explanations); a realtime or process
    variant is forbidden by strict-serializable, and by any model checked with that order."""
    return [model for model in MODELS if name in forbidden(model)]
