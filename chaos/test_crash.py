"""Crash every Galera node at once (SIGKILL all), then `galera-lab up`: recovery from the most
advanced node. With innodb_flush_log_at_trx_commit=1 nothing acknowledged may be lost; with 2
or 0 the lab is re-created with that setting and losses are recorded as a finding, not a
failure (Jepsen found such losses with 0)."""

from __future__ import annotations

import time

import pytest

from chaos.faults import CrashAll
from chaos.scenario import ChaosLab, Scenario

pytestmark = pytest.mark.chaos


@pytest.mark.parametrize("flush", [1, 2, 0])
def test_crash_all(chaos_lab: ChaosLab, scenario: Scenario, flush: int) -> None:
    extra = [] if flush == 1 else [("galera.innodb_flush_log_at_trx_commit", flush)]
    lab = chaos_lab.use(extra)
    assert lab.spec.galera.innodb_flush_log_at_trx_commit == flush
    scenario.figure(innodb_flush_log_at_trx_commit=flush,
                    spec_changes={"galera.innodb_flush_log_at_trx_commit": flush} if extra else {})
    with scenario.clients(http=False):
        scenario.wait_for_ok("write", 50)
        crash = scenario.inject(CrashAll(lab))
        t0 = crash.event.start
        scenario.heal(crash)  # galera-lab up: recover from the most advanced node
        recovery = time.time() - t0
        scenario.wait_healthy()
        scenario.wait_for_ok("write", 20, since=time.time())
    scenario.figure(recovery_s=round(recovery, 2), recovery_log=crash.detail.get("recovery", []))
    acked = scenario.check_writes(allow_loss=flush != 1)
    scenario.check_downtime("write", None, "downtime_ms", since=t0 - 1)
    if acked.lost:
        scenario.note("finding", lost=len(acked.lost), innodb_flush_log_at_trx_commit=flush,
                      text=f"{len(acked.lost)} acknowledged write(s) lost after a crash of every node "
                           f"with innodb_flush_log_at_trx_commit={flush}")
    if flush == 1:
        assert acked.ok, f"acknowledged writes lost with innodb_flush_log_at_trx_commit=1: {len(acked.lost)}"
