"""Transactions on a healthy lab: list-append, bank and read-modify-write counters, run as the
session's policy says (`--txn-isolation`, `--txn-locking-reads`, `--txn-route`) and judged by
the isolation checker (`--txn-model` for list-append; the bank's total and the counters'
increments for the others).

Why a healthy scenario: Jepsen found lost updates (P4) and stale reads in a healthy Galera
cluster. With the defaults (SERIALIZABLE sessions through the VIP: one writer) nothing may be
found; with the sessions weakened on purpose (e.g. `--txn-isolation repeatable-read`, MariaDB's
default) the scenario fails and its message explains the anomaly. The fault scenarios run
list-append beside their faults (`Scenario.clients(txn=True)`).
"""

from __future__ import annotations

import time

import pytest

from chaos.scenario import Scenario
from chaos.transactional import runner

pytestmark = pytest.mark.chaos

SECONDS = 12.0


@pytest.mark.parametrize("workload", runner.WORKLOADS)
def test_transactions_on_a_healthy_lab(scenario: Scenario, workload: str) -> None:
    policy = scenario.chaos.policy.with_seed(int(scenario.started))
    with runner.running(scenario.lab, workload, policy.settings, scenario.history, model=policy.model) as run:
        time.sleep(SECONDS)
    verdict = run.check()
    scenario.verdicts["consistency"] = verdict
    scenario.figure(workload=workload, consistency=runner.figures(verdict, policy.describe(), scenario.history.ops()))
    done = sum(1 for op in scenario.history.ops("txn") if op.outcome == "ok" and not op.process.startswith("final-"))
    assert done >= 10 * SECONDS, f"only {done} {workload} transactions committed in {SECONDS:.0f} s"
    assert verdict.ok, verdict.text()
