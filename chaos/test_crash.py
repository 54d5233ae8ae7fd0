"""Crash every Galera node at once (SIGKILL all), then `galera-lab up`: recovery from the most
advanced node. With innodb_flush_log_at_trx_commit=1 nothing acknowledged may be lost; with 2
or 0 losses are recorded as a finding, not a failure (Jepsen found such losses with 0).

The 2 and 0 variants set the value at run time on every node (it is a dynamic variable) just
before the writer starts, on the session's lab, instead of re-creating the lab with it: every
write the crash can lose was made under that value, and the recovery restarts each node with its
configured value, which the scenario checks is back. Why: re-creating the lab twice cost more
than a minute of every run.
"""

from __future__ import annotations

import time

import pytest

from chaos.faults import CrashAll
from chaos.scenario import ChaosLab, Scenario
from chaos.workloads import Endpoint
from lab import db
from lab.runtime import Lab

pytestmark = pytest.mark.chaos

FLUSH = "innodb_flush_log_at_trx_commit"


def flush_values(lab: Lab) -> dict[str, int]:
    """@@global.innodb_flush_log_at_trx_commit as each node runs it."""
    out = {}
    for node in lab.spec.node_names:
        with Endpoint.node(lab, node).connect(timeout=5) as conn:
            out[node] = int(db.query(conn, f"SELECT @@global.{FLUSH}")[0][0])
    return out


def set_flush(lab: Lab, value: int) -> None:
    for node in lab.spec.node_names:
        with Endpoint.node(lab, node).connect(timeout=5) as conn:
            db.query(conn, f"SET GLOBAL {FLUSH} = {int(value)}")


@pytest.mark.parametrize("flush", [1, 2, 0])
def test_crash_all(chaos_lab: ChaosLab, scenario: Scenario, flush: int) -> None:
    lab = chaos_lab.lab
    configured = lab.spec.galera.innodb_flush_log_at_trx_commit
    if flush != configured:
        set_flush(lab, flush)
    running = flush_values(lab)
    assert set(running.values()) == {flush}, f"{FLUSH} is not {flush} on every node: {running}"
    scenario.figure(innodb_flush_log_at_trx_commit=flush,
                    spec_changes={f"galera.{FLUSH}": flush} if flush != configured else {})
    with scenario.clients(http=False, txn=True):
        scenario.wait_for_ok("write", 50)
        crash = scenario.inject(CrashAll(lab))
        t0 = crash.event.start
        scenario.heal(crash)  # galera-lab up: recover from the most advanced node
        recovery = time.time() - t0
        scenario.wait_healthy()
        scenario.wait_for_ok("write", 20, since=time.time())
    scenario.figure(recovery_s=round(recovery, 2), recovery_log=crash.detail.get("recovery", []))
    after = flush_values(lab)
    assert set(after.values()) == {configured}, f"after recovery {FLUSH} is {after}, configured {configured}"
    acked = scenario.check_writes(allow_loss=flush != 1)
    scenario.check_consistency(allow_loss=flush != 1)
    scenario.check_downtime("write", None, "downtime_ms", since=t0 - 1)
    if acked.lost:
        scenario.note("finding", lost=len(acked.lost), innodb_flush_log_at_trx_commit=flush,
                      text=f"{len(acked.lost)} acknowledged write(s) lost after a crash of every node "
                           f"with innodb_flush_log_at_trx_commit={flush}")
    if flush == 1:
        assert acked.ok, f"acknowledged writes lost with innodb_flush_log_at_trx_commit=1: {len(acked.lost)}"
