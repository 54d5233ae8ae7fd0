"""Write conflicts with more than one writer: three read-modify-write clients on one hot row,
first one straight to each node (multi-writer), then all three through the VIP (the proxies
send every write to one node), for the same time each, while the scenario's clients (writer,
SQL and HTTP probes, Chamilo's user when the app is Chamilo) go on.

With more than one writer Galera's certification aborts one of two concurrent transactions on
the row: the clients get error 1213 and the nodes count certification failures and brute-force
aborts (chaos/conflicts.py). Through the single writer InnoDB's row lock queues them instead,
and none may be aborted: that is the mitigation, and the scenario fails if a conflict shows
through the VIP (or if the multi-writer load shows none, which would prove nothing). Each load
must also keep every increment (the counter checker).
"""

from __future__ import annotations

import time

import pytest

from chaos import conflicts
from chaos.checkers import write_impact
from chaos.report import mitigation_figure
from chaos.scenario import Scenario

pytestmark = pytest.mark.chaos

SECONDS = 8.0


def test_write_conflicts(scenario: Scenario) -> None:
    lab = scenario.lab
    seed = int(scenario.started)
    with scenario.clients():
        scenario.wait_for_ok("write", 20)
        multi = conflicts.measure(lab, "nodes", SECONDS, seed)
        single = conflicts.measure(lab, "vip", SECONDS, seed)
        scenario.wait_for_ok("write", 10, since=time.time())
    writes = scenario.history.ops("write")
    writer = {load.rates.route: write_impact(writes, load.started, load.ended) for load in (multi, single)}
    verdict = conflicts.check_single_writer(
        multi.rates, single.rates,
        {load.rates.route: load.counter.text() for load in (multi, single) if not load.counter.ok})
    scenario.verdicts["write_conflicts"] = verdict
    m, s = multi.rates, single.rates
    scenario.figure(
        hot_rows=conflicts.HOT_ROW.keys, clients=conflicts.settings("nodes", seed).describe(),
        multi_writer=m.to_dict(), single_writer=s.to_dict(),
        multi_writer_deadlocks_per_s=m.deadlocks_per_s, single_writer_deadlocks_per_s=s.deadlocks_per_s,
        writer_multi=writer["nodes"].to_dict(), writer_single=writer["vip"].to_dict(),
        mitigation=mitigation_figure(
            f"single-writer routing (the {lab.plan.proxy_kind} VIP)",
            "one client straight to each node", "the same three clients through the VIP",
            {"transactions": (m.txns, s.txns),
             "committed a second": (round(m.committed / m.seconds, 1), round(s.committed / s.seconds, 1)),
             "1213 deadlocks a second": (m.deadlocks_per_s, s.deadlocks_per_s),
             "1213 deadlocks per transaction": (m.deadlocks_per_txn, s.deadlocks_per_txn),
             "certification failures a second (wsrep_local_cert_failures)": (m.cert_failures_per_s,
                                                                             s.cert_failures_per_s),
             "brute-force aborts a second (wsrep_local_bf_aborts)": (m.bf_aborts_per_s, s.bf_aborts_per_s),
             "writer p99 ms": (writer["nodes"].p99_ms, writer["vip"].p99_ms)}))
    scenario.check_writes()
    scenario.check_downtime("write", None, "downtime_ms")
    assert verdict.ok, "; ".join(verdict.problems)
