"""Isolation checkers for transactional histories, after Jepsen's Elle: pure functions, no database.

- `check` (list-append): infers each key's version order from the reads, builds the dependency
  graph between committed transactions, and reports cycle anomalies (G0, G1c, G-single,
  G-nonadjacent, G2-item and their realtime/process variants), non-cycle ones (G1a, G1b,
  internal, duplicates, incompatible orders, garbage, P4 lost update, lost appends, stale reads)
  and the strongest consistency model the history satisfies.
- `check_bank`: every whole-table read of a bank (transfers between accounts) sums to the total.
- `check_counter`: read-modify-write increments: none lost, no P4.
- `check_workload`: one of them by workload name, for callers that record the name.

All take `Op`s of kind "txn" (or a `History`) and skip the transactions of other workloads, so
one history may carry several. The history contract and the models are in
docs/ARCHITECTURE.md ("Consistency checkers").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from chaos.consistency.anomaly import Anomaly, Edge, TxnRef
from chaos.consistency.bank import BankVerdict, check_bank
from chaos.consistency.counter import CounterVerdict, check_counter
from chaos.consistency.list_append import ListAppendVerdict, check
from chaos.consistency.models import MODELS
from chaos.history import History, Op

__all__ = ["MODELS", "WORKLOADS", "Anomaly", "BankVerdict", "CounterVerdict", "Edge", "ListAppendVerdict", "TxnRef",
           "check", "check_bank", "check_counter", "check_workload"]

_CHECKERS: dict[str, Callable[..., Any]] = {"list-append": check, "bank": check_bank, "counter": check_counter}
WORKLOADS: tuple[str, ...] = tuple(_CHECKERS)


def check_workload(workload: str, ops: Iterable[Op] | History, **options: Any) -> Any:
    """The verdict of `workload`'s checker (one of WORKLOADS) with its own keyword options
    (list-append: model, realtime, process_order; bank: total, accounts, negative_allowed;
    counter: initial)."""
    if workload not in _CHECKERS:
        raise ValueError(f"unknown workload {workload!r}; expected one of {', '.join(WORKLOADS)}")
    return _CHECKERS[workload](ops, **options)
