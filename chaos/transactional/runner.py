"""Run one transactional workload on a lab and judge its history: the one entry point the chaos
scenarios, the pytest plugin's `lab_transactions` fixture and `galera-lab consistency` share.

    with runner.running(lab, "counter", TxnSettings(isolation="repeatable-read")) as run:
        time.sleep(10)                       # or: with lab_faults.kill("writer"): …
    verdict = run.check("serializable")      # after the with: final reads taken on every node
    assert verdict.ok, verdict.text()
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from chaos.history import History, Op
from chaos.transactional import bank, counter, list_append
from chaos.transactional.client import Clients, TxnSettings
from chaos.workloads import Endpoint

WORKLOADS: tuple[str, ...] = ("list-append", "bank", "counter")


@dataclass
class Run:
    """One workload's run: its settings, its history (shared with other clients if given), and
    what the final reads need."""

    lab: Any
    workload: str
    settings: TxnSettings
    history: History
    model: str = "serializable"
    keyspace: list_append.KeySpace | None = None
    bank_params: bank.BankParams = field(default_factory=bank.BankParams)
    counter_params: counter.CounterParams = field(default_factory=counter.CounterParams)

    def final_reads(self) -> None:
        """The workload's whole state on every node, once the lab is healed."""
        if self.workload == "list-append":
            assert self.keyspace is not None
            list_append.final_reads(self.lab, self.history, self.keyspace.written)
        elif self.workload == "bank":
            bank.final_reads(self.lab, self.history)
        else:
            counter.final_reads(self.lab, self.history, self.counter_params)

    def check(self, model: str | None = None) -> Any:
        """The checker of this workload (chaos/consistency/) on the history; `model` (default:
        the run's) is the consistency model list-append is held to (bank and counter check
        their invariants)."""
        from chaos import consistency

        ops = self.history.ops("txn")
        if self.workload == "list-append":
            return consistency.check(ops, model=model or self.model)
        if self.workload == "bank":
            return consistency.check_bank(ops, total=self.bank_params.total,
                                          accounts=range(self.bank_params.accounts))
        return consistency.check_counter(ops)


def start(lab: Any, workload: str, settings: TxnSettings, history: History | None = None,
          duration: float = 600.0, model: str = "serializable") -> tuple[Run, Clients]:
    """A fresh table and the workload's clients, not started yet."""
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload {workload!r}: use one of {', '.join(WORKLOADS)}")
    run = Run(lab, workload, settings, history if history is not None else History(), model)
    vip = Endpoint.vip(lab)
    if workload == "list-append":
        list_append.setup(vip)
        clients, run.keyspace = list_append.clients(lab, run.history, settings, duration=duration)
    elif workload == "bank":
        bank.setup(vip, run.bank_params)
        clients = bank.clients(lab, run.history, settings, run.bank_params, duration=duration)
    else:
        counter.setup(vip, run.counter_params)
        clients = counter.clients(lab, run.history, settings, run.counter_params, duration=duration)
    return run, clients


@contextmanager
def running(lab: Any, workload: str, settings: TxnSettings, history: History | None = None,
            duration: float = 600.0, model: str = "serializable", final_reads: bool = True) -> Iterator[Run]:
    """The workload's clients run for the body of the `with`; then the final reads (unless
    `final_reads` is False: a caller that heals after the block reads them itself)."""
    run, clients = start(lab, workload, settings, history, duration, model)
    with clients:
        yield run
    if final_reads:
        run.final_reads()


def figures(verdict: Any, settings: dict[str, Any], ops: Iterable[Op]) -> dict[str, Any]:
    """What the results file and the report keep of a verdict: the settings, the clients'
    transactions by outcome (from the history, the final reads left out, so every workload
    counts alike), anomalies by class, the workload's own figures, and the first explanation of
    each class."""
    fates = Counter(op.outcome for op in ops if op.kind == "txn" and not op.process.startswith("final-"))
    own = {name: getattr(verdict, name) for name in (
        "lost_appends", "stale_reads", "strongest_model", "reads", "transfers", "increments", "lost_increments",
        "unexplained_increments") if hasattr(verdict, name)}
    return {**settings, **own, "ok": verdict.ok, "committed": fates["ok"], "failed": fates["fail"],
            "unknown": fates["unknown"], "anomalies": dict(verdict.counts),
            "violations": list(getattr(verdict, "violations", [c for c in verdict.counts if not verdict.ok])),
            "examples": {name: examples[0].text() for name, examples in verdict.anomalies.items() if examples}}
